"""Background work in tests that cannot fail silently.

A thread that dies of an exception only prints a warning, a join with a timeout returns whether or not the
thread ended, and a sampler that took one sample "checked" nothing. Two classes close those holes:

- `CheckedThread`: a daemon thread that keeps the exception its target raised; `finish(timeout)` joins it,
  fails if it is still running, and re-raises that exception in the test's thread.
- `CheckedSampler`: a background checker (`with Watch(...) as watch: ...`). A subclass implements
  `sample()`, one round of observation returning how many observations it made (0 when nothing answered),
  and `verdict()`, the check of what was observed. Leaving the `with` normally runs `check()`: the thread
  ended, met no exception, made at least `min_samples` observations (a block that ends sooner waits for
  them, up to a deadline) and at least `min_rate` per second of its lifetime, and the verdict holds. A
  watch that saw too little fails; it never passes by accident.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

#: How long stopping a background thread may take.
JOIN_TIMEOUT_S = 30.0


class CheckedThread:
    """A daemon thread whose exception and end are the test's business: see `finish()`."""

    def __init__(self, target: Callable[..., Any], *args: Any, name: str) -> None:
        self.name = name
        self.error: BaseException | None = None
        self._target = target
        self._args = args
        # A daemon: a thread stuck past its join never keeps the test run from exiting.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._target(*self._args)
        except BaseException as exc:  # kept for finish(): it is re-raised in the test's thread
            self.error = exc

    def start(self) -> CheckedThread:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def finish(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Join; AssertionError if the thread is still running after `timeout`; re-raise its exception."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"thread {self.name} did not end within {timeout:g}s")
        if self.error is not None:
            raise AssertionError(f"thread {self.name} died of {self.error!r}") from self.error


def finish_all(threads: list[CheckedThread], timeout: float = JOIN_TIMEOUT_S) -> None:
    """finish() every thread (all of them are joined even when one fails), then raise the first failure."""
    failures: list[AssertionError] = []
    for thread in threads:
        try:
            thread.finish(timeout)
        except AssertionError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


class CheckedSampler:
    """Base class of a background checker that samples in a loop until the `with` block ends.

    `min_samples`: observations it must make at least; `min_rate`: observations per second of its lifetime
    it must make at least; `pause`: the wait between two rounds.
    """

    name = "sampler"
    min_samples = 2
    min_rate = 1.0
    pause = 0.005
    #: How long a `with` block that ended before `min_samples` waits for them.
    sample_deadline = JOIN_TIMEOUT_S

    def __init__(self) -> None:
        self.samples = 0
        self.rounds = 0
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._thread = CheckedThread(self._loop, name=self.name)
        self._started = 0.0
        self._finished = False

    # ---- what a subclass provides ----

    def sample(self) -> int:
        """One round of observation; return how many observations it made (0 if nothing answered)."""
        raise NotImplementedError

    def verdict(self) -> None:
        """Assert what the observations must show (called by check(), after the thread ended)."""

    # ---- running ----

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples += self.sample()
            self.rounds += 1
            self._stop.wait(self.pause)

    def __enter__(self) -> Any:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.wait_for_samples()
        self.stop()
        if exc_type is None:
            self.check()

    def wait_for_samples(self) -> None:
        """Let the sampler run on until it has made `min_samples` observations (a block that ended at once
        still gets a real look), or `sample_deadline` passes, or its thread died; check() judges it."""
        deadline = time.monotonic() + self.sample_deadline
        while self.samples < self.min_samples and self._thread.is_alive() and time.monotonic() < deadline:
            self._stop.wait(0.01)

    def stop(self) -> None:
        """Stop sampling and join the thread (its failures are raised by check())."""
        if not self._finished:
            self._stop.set()
            self._thread._thread.join(JOIN_TIMEOUT_S)
            self.elapsed = time.monotonic() - self._started
            self._finished = True

    def check(self) -> None:
        """The thread ended without an exception, sampled often enough, and the verdict holds."""
        self.stop()
        self._thread.finish(0)
        needed = max(self.min_samples, int(self.min_rate * self.elapsed))
        assert self.samples >= needed, (
            f"{self.name} made {self.samples} observations in {self.rounds} rounds over {self.elapsed:.1f}s, "
            f"needed at least {needed} (min {self.min_samples}, {self.min_rate:g}/s): it checked too little"
        )
        self.verdict()
