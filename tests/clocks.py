"""A clock for code that takes one (`clock=`): it reads `now`, which the test sets or moves on."""

from __future__ import annotations


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
