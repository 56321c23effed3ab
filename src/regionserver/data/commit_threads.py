"""The threads that small group commits run in (regionserver.data.writer), one set per process.

A commit's cost is its fsync, during which the GIL is free, so commits of different regions overlap in
these threads while the event loop goes on serving. The hand-off is the cheapest asyncio allows: a job on
a SimpleQueue and, when it is done, one call_soon_threadsafe that settles the caller's asyncio future.
concurrent.futures (the loop's default executor) costs about twice as much per job in CPU: a Future of its
own, a work item, and a second future chained to the first through another callback (docs/decisions.md,
"Handing a commit to a thread").
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

#: Commits in flight at once, at most (one per thread): fsyncs of that many regions overlap.
THREADS = 4

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class CommitThreads:
    """Runs a callable in one of `threads` threads and answers through an asyncio future."""

    def __init__(self, threads: int = THREADS) -> None:
        self._count = threads
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """A future (of the running loop) of what `fn()` returns or raises in a commit thread. Cancelling
        the future does not stop `fn`: it runs to its end, and its outcome is dropped."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for i in range(self._count):
                # Daemon threads: a process that exits with a commit in flight loses only that commit,
                # which LMDB leaves unwritten, and whose callers were not answered.
                threading.Thread(target=self._work, name=f"region-commit-{i}", daemon=True).start()
            self._started = True

    def _work(self) -> None:
        get = self._jobs.get
        while True:
            fn, loop, future = get()
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the caller, whatever it is
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


#: The process's commit threads.
COMMIT_THREADS = CommitThreads()
