"""The writer of one region: callers hand it writes and await their durability; it group-commits.

As meta's writer (src/meta/writer.py), it runs as an asyncio task on the event loop's own thread:
py-lmdb releases the GIL around every put, so a writer *thread* competing with a busy event loop waits
for the GIL once per put. regent.bench.region_store measures both on this store (docs/decisions.md,
"Region store (issue 8)"). Every caller that is ready when the writer wakes joins the group; the group
is one LMDB transaction and one fsync, and each caller is answered only after that commit returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from regionserver.data.errors import RowError, StoreError
from regionserver.data.mutations import CheckAndPut, Counters, Increment, Outcome, RowMutation, Write
from regionserver.data.region_store import RegionStore

log = structlog.get_logger("regionserver.data.writer")

#: A group stops growing past this many writes (a caller's batch is never split): bounds how long one
#: commit holds the event loop.
MAX_GROUP_WRITES = 20_000


class WriterClosed(StoreError):
    """The region's writer is stopped (the region is closing): nothing written."""


class RegionWriter:
    """Group-commits the writes of one region on the event loop."""

    def __init__(self, store: RegionStore) -> None:
        self.store = store
        self._queue: list[tuple[Sequence[Write], asyncio.Future[list[Outcome]]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"writer-{self.store.path.name}"
        )

    async def write(self, writes: Sequence[Write]) -> list[Outcome]:
        """Outcomes of `writes` once they are durable. Raises Fenced or StoreError for the region."""
        if self._closed:
            raise WriterClosed(f"the writer of region store {self.store.path} is stopped: nothing written")
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.append((writes, future))
        self._wakeup.set()
        return await future

    async def mutate(self, rows: Sequence[RowMutation]) -> list[RowError | None]:
        """Puts and deletes of many rows; for each row None, or the RowError that refused it."""
        return [o if isinstance(o, RowError) else None for o in await self.write(rows)]

    async def increment(self, increment: Increment) -> Counters:
        """The counters' new values once durable; raises the RowError that refused the row."""
        outcome = await self._one(increment)
        assert isinstance(outcome, dict), outcome
        return outcome

    async def check_and_put(self, check: CheckAndPut) -> bool:
        """Whether the check held (and the mutation is durable); raises the RowError that refused it."""
        outcome = await self._one(check)
        assert isinstance(outcome, bool), outcome
        return outcome

    async def _one(self, write: Write) -> Outcome:
        (outcome,) = await self.write([write])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def stop(self) -> None:
        """Commit what is queued, then refuse further writes."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(0)  # one more turn: every caller that is ready now joins this group
            self._wakeup.clear()
            while self._queue:
                self._commit(self._take_group())
                if self._queue:
                    await asyncio.sleep(0)  # one group per turn: other tasks run in between
            if self._closed:
                return

    def _take_group(self) -> list[tuple[Sequence[Write], asyncio.Future[list[Outcome]]]]:
        count = 0
        for n, (writes, _) in enumerate(self._queue):
            count += len(writes)
            if count >= MAX_GROUP_WRITES:
                group, self._queue = self._queue[: n + 1], self._queue[n + 1 :]
                return group
        group, self._queue = self._queue, []
        return group

    def _commit(self, group: list[tuple[Sequence[Write], asyncio.Future[list[Outcome]]]]) -> None:
        every = [w for writes, _ in group for w in writes]
        try:
            outcomes = self.store.apply(every)
        except StoreError as exc:  # Fenced included: nothing of the group is written
            log.error("region_commit_failed", store=str(self.store.path), writes=len(every), error=str(exc))
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        at = 0
        for writes, future in group:
            if not future.done():
                future.set_result(outcomes[at : at + len(writes)])
            at += len(writes)
