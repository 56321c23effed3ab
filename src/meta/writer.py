"""The single writer of meta: callers hand it WriteBatches and await their durability; it group-commits.

It runs as one asyncio task on the event loop's own thread. That is deliberate: py-lmdb releases the GIL
around every put, so a writer *thread* that competes with a busy event loop waits for the GIL once per row
(measured: 1M rows took 93 s instead of 0.4 s). On the loop's thread the puts run at full speed, and a commit
blocks the loop only for the commit itself (docs/architecture.md, "The single writer").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from meta.batch import WriteBatch
from meta.errors import MetaClosedError, MetaWriteError
from meta.store import MetaStore

log = structlog.get_logger("meta.writer")

#: A group stops growing past this many rows (a batch is never split): bounds how long one commit
#: holds the event loop.
MAX_GROUP_ROWS = 100_000


@dataclass(slots=True)
class WriterStats:
    commits: int = 0
    batches: int = 0
    rows: int = 0
    commit_seconds: float = 0.0


class MetaWriter:
    """Group-commits WriteBatches on the event loop. `await write(batch)` returns once it is durable."""

    def __init__(
        self,
        store: MetaStore,
        *,
        epoch: int | None = None,
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self._store = store
        self._on_commit = on_commit  # (seconds, rows) after each group commit: the master's metrics
        self._epoch = epoch
        self._queue: list[tuple[WriteBatch, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: MetaWriteError | None = None
        self.stats = WriterStats()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="meta-writer")

    async def write(self, batch: WriteBatch) -> None:
        """Wait until `batch` is durable in meta. Raises MetaWriteError if it cannot be made durable."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise MetaClosedError("the meta writer is stopped: nothing written")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((batch, future))
        self._wakeup.set()
        await future

    async def stop(self) -> None:
        """Commit what is queued, then refuse further writes."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    @property
    def failure(self) -> MetaWriteError | None:
        """Set once a commit failed: the master must step down (its memory is ahead of meta)."""
        return self._failure

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            # One more turn of the loop lets every caller that is ready now join this group.
            await asyncio.sleep(0)
            self._wakeup.clear()
            while self._queue:
                self._commit(self._take_group())
                if self._queue:
                    await asyncio.sleep(0)  # one group per turn: other tasks (heartbeats) run in between
            if self._closed:
                return

    def _take_group(self) -> list[tuple[WriteBatch, asyncio.Future[None]]]:
        rows = 0
        for n, (batch, _) in enumerate(self._queue):
            rows += len(batch)
            if rows >= MAX_GROUP_ROWS:
                group, self._queue = self._queue[: n + 1], self._queue[n + 1 :]
                return group
        group, self._queue = self._queue, []
        return group

    def _commit(self, group: list[tuple[WriteBatch, asyncio.Future[None]]]) -> None:
        started = time.perf_counter()
        try:
            outcomes = self._store.apply([batch for batch, _ in group], epoch=self._epoch)
        except MetaWriteError as exc:
            self._failure = exc
            log.error("meta_commit_failed", batches=len(group), error=str(exc))
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        stats = self.stats
        stats.commits += 1
        stats.batches += len(group)
        stats.commit_seconds += elapsed
        rows_before = stats.rows
        for (batch, future), outcome in zip(group, outcomes, strict=True):
            if outcome is None:
                stats.rows += len(batch)
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                error = (
                    outcome
                    if isinstance(outcome, MetaWriteError)
                    else MetaWriteError(
                        f"meta write refused, nothing of it applied: {type(outcome).__name__}: {outcome}"
                    )
                )
                future.set_exception(error)
        if self._on_commit is not None:
            self._on_commit(elapsed, stats.rows - rows_before)
