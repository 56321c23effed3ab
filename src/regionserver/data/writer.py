"""The writer of one region: callers hand it writes and await their durability; it group-commits.

Every caller that is ready when the writer wakes joins the group; the group is one LMDB transaction and
one fsync, and each caller is answered only after that commit returned. Callers that come while a commit
is in flight form the next group.

Where a group is committed depends on its size (docs/decisions.md, "Region store (issue 8)"):

- **Most groups** (at most THREAD_MAX_CELLS cells: YCSB's updates and inserts, a batched load's share of
  one region) are committed in a thread of the event loop's default executor (which asyncio.run shuts down
  with the loop), their environment pinned meanwhile (regionserver.data.environments). The commit's cost
  is its fsync, during which the GIL is free: the event loop keeps serving reads and heartbeats, and the
  fsyncs of the server's regions overlap instead of queueing one after another on the loop.
- **A huge group** (a batched put of thousands of cells into one region) is committed on the event loop's
  own thread, as meta's writer (src/meta/writer.py): a thread would share the GIL with a busy loop for
  all of its Python work, and hold it back for as long.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

import structlog

from regionserver.data.errors import MapFull, RowError, StoreError
from regionserver.data.mutations import CheckAndPut, Counters, Increment, Outcome, RowMutation, Write
from regionserver.data.region_store import RegionStore

log = structlog.get_logger("regionserver.data.writer")

#: A group stops growing past this many writes (a caller's batch is never split): bounds how long one
#: commit holds the event loop.
MAX_GROUP_WRITES = 20_000
#: A group of at most this many cells is committed in a thread (see the module's doc; measured in
#: docs/decisions.md).
THREAD_MAX_CELLS = 1000

Group = list[tuple[Sequence[Write], "asyncio.Future[list[Outcome]]"]]


def cells_of(write: Write) -> int:
    """How many cells `write` writes or reads to decide (a row's operations, an increment's counters)."""
    if isinstance(write, RowMutation):
        return len(write.operations)
    if isinstance(write, Increment):
        return len(write.amounts)
    return 1 + len(write.mutation.operations)


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
                group = self._take_group()
                every = [w for writes, _ in group for w in writes]
                # A child that still reads its parents commits on the loop: the parents' environments
                # are not pinned, and the loop's LRU may close one at any moment no loop transaction is
                # open (regionserver.data.environments).
                store = self.store
                if (
                    store.exists
                    and not store.has_references
                    and sum(cells_of(w) for w in every) <= THREAD_MAX_CELLS
                ):
                    await self._commit_in_thread(group, every)
                else:
                    self._commit(group, every)
                if self._queue:
                    await asyncio.sleep(0)  # one group per turn: other tasks run in between
            if self._closed:
                return

    def _take_group(self) -> Group:
        count = 0
        for n, (writes, _) in enumerate(self._queue):
            count += len(writes)
            if count >= MAX_GROUP_WRITES:
                group, self._queue = self._queue[: n + 1], self._queue[n + 1 :]
                return group
        group, self._queue = self._queue, []
        return group

    async def _commit_in_thread(self, group: Group, every: list[Write]) -> None:
        store = self.store
        try:
            store.environment()  # opened and its claim checked here, on the loop; then pinned
        except StoreError as exc:
            self._failed(group, every, exc)
            return
        store.environments.pin(store.path)
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, functools.partial(store.apply, every, grow=False))
        try:
            # Shielded: if this task is cancelled, the thread still runs, and the environment stays
            # pinned until it is done with it.
            outcomes = await asyncio.shield(done)
        except MapFull:
            outcomes = None  # nothing was written: grow the map on the loop, and commit there
        except StoreError as exc:
            self._failed(group, every, exc)
            return
        finally:
            if done.done():
                store.environments.unpin(store.path)
            else:
                done.add_done_callback(lambda _: store.environments.unpin(store.path))
        if outcomes is None:
            self._commit(group, every)
        else:
            self._answer(group, outcomes)

    def _commit(self, group: Group, every: list[Write]) -> None:
        try:
            outcomes = self.store.apply(every)
        except StoreError as exc:  # Fenced included: nothing of the group is written
            self._failed(group, every, exc)
            return
        self._answer(group, outcomes)

    def _failed(self, group: Group, every: list[Write], exc: StoreError) -> None:
        log.error("region_commit_failed", store=str(self.store.path), writes=len(every), error=str(exc))
        for _, future in group:
            if not future.done():
                future.set_exception(exc)

    def _answer(self, group: Group, outcomes: list[Outcome]) -> None:
        at = 0
        for writes, future in group:
            if not future.done():
                future.set_result(outcomes[at : at + len(writes)])
            at += len(writes)
