"""Waiting for regions to change: a client's LocateRegions that waits until the region holding its row is
open (a move, split or merge in progress) is woken by the commits of region rows, not by polling.

The active master calls `changed()` after every commit of region rows (once per batch, never per region);
it costs nothing while no one waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RegionChanges:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._waiters = 0

    def changed(self) -> None:
        if self._waiters:
            self._event.set()
            self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until `predicate()` holds, re-checked after each commit of region rows, at most `seconds`
        seconds; whether it holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self._waiters += 1
        try:
            while not predicate():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._event.wait(), remaining)
                except TimeoutError:
                    return predicate()
            return True
        finally:
            self._waiters -= 1
