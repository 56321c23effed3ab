"""The writer of one region: callers hand it writes and await their durability; it group-commits.

Every caller that comes within two turns of the event loop after the first joins the group; the group is
one LMDB transaction and one fsync, and each caller is answered only after that commit returned. Callers
that come while a commit is in flight form the next group. The writer is a few callbacks on the event loop,
not a task: a write costs the loop no task switch of its own (docs/decisions.md, "Handing a commit to a
thread").

Where a group is committed depends on its size (docs/decisions.md, "Region store (issue 8)"):

- **A small group** (at most LOOP_MAX_CELLS cells: YCSB's updates, a single put or increment) is
  committed on the event loop while the disk's commits are quick and take a small share of the loop's
  time, which spares it the two thread wake-ups of a hand-off (regionserver.data.commit_place decides);
  otherwise it goes to a thread, as a medium one does.
- **A medium group** (at most THREAD_MAX_CELLS cells: a batched load's share of one region) is committed
  in one of the process's commit threads (regionserver.data.commit_threads), its environment pinned
  meanwhile (regionserver.data.environments). The commit's cost is its fsync, during which the GIL is
  free: the event loop keeps serving reads and heartbeats, and the fsyncs of the server's regions overlap
  instead of queueing one after another on the loop.
- **A huge group** (a batched put of thousands of cells into one region) is committed on the event loop's
  own thread, as meta's writer (src/meta/writer.py): a thread would share the GIL with a busy loop for
  all of its Python work, and hold it back for as long.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import Any

import structlog

from regionserver.data.commit_place import PLACEMENT, CommitPlacement
from regionserver.data.commit_threads import COMMIT_THREADS, CommitThreads
from regionserver.data.errors import Fenced, MapFull, RowError, StoreError
from regionserver.data.memstore import MemStore
from regionserver.data.mutations import CheckAndPut, Counters, Increment, Outcome, RowMutation, Write
from regionserver.data.region_store import RegionStore
from regionserver.data.server_wal import ServerWal
from regionserver.data.wal import Edit

log = structlog.get_logger("regionserver.data.writer")

#: A group stops growing past this many writes (a caller's batch is never split): bounds how long one
#: commit holds the event loop.
MAX_GROUP_WRITES = 20_000
#: A group of at most this many cells is committed in a thread (see the module's doc; measured in
#: docs/decisions.md).
THREAD_MAX_CELLS = 1000
#: A group of at most this many cells may be committed on the loop, when the placement says so: its
#: Python is short, and its commit's time is its fsync's (see the module's doc).
LOOP_MAX_CELLS = 100

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
    """Group-commits the writes of one region (see the module's doc)."""

    def __init__(
        self,
        store: RegionStore,
        threads: CommitThreads = COMMIT_THREADS,
        placement: CommitPlacement = PLACEMENT,
        wal: ServerWal | None = None,
    ) -> None:
        self.store = store
        self._wal = wal if store.memory is not None else None
        self._threads = threads
        self._placement = placement
        self._queue: Group = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False  # a flush is on its way (call_soon)
        self._busy = False  # a group is being committed in a thread
        self._closed = False
        self._drained: asyncio.Future[None] | None = None  # what stop() waits for

    def start(self) -> None:
        """Bind the writer to the running event loop (its callers' and its commits' loop)."""
        self._loop = asyncio.get_running_loop()
        if self.store.memory is not None:
            self.store.memory.request_flush = self.request_flush

    def request_flush(self) -> None:
        """Write the region's memory into its store soon (the server's log asks: by size, age, or to free
        a segment): a group of no writes, committed as any other."""
        if self._closed or self._loop is None:
            return
        self._enqueue([]).add_done_callback(_retrieved)

    async def write(self, writes: Sequence[Write]) -> list[Outcome]:
        """Outcomes of `writes` once they are durable. Raises Fenced or StoreError for the region."""
        if self._closed:
            raise WriterClosed(f"the writer of region store {self.store.path} is stopped: nothing written")
        if self._loop is None:
            self.start()
        return await self._enqueue(writes)

    def _enqueue(self, writes: Sequence[Write]) -> asyncio.Future[list[Outcome]]:
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.append((writes, future))
        if not self._scheduled and not self._busy:
            self._scheduled = True
            loop.call_soon(self._one_more_turn)
        return future

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
        """Commit what is queued and write the region's memory into its store recording that nothing of it
        is left in the log (a new owner then replays nothing), then refuse further writes."""
        memory = self.store.memory
        if memory is not None and memory.armed and not memory.closed and self._loop is not None:
            memory.closing = True  # no more logging: what is queued is committed to the store
            self._enqueue([]).add_done_callback(_retrieved)
        self._closed = True
        if not (self._queue or self._busy or self._scheduled):
            return
        if self._drained is None:
            assert self._loop is not None  # something is queued: a write started the writer
            self._drained = self._loop.create_future()
        await asyncio.shield(self._drained)  # a cancelled stop leaves the writer to finish

    # ---- on the event loop, as callbacks ----

    def _one_more_turn(self) -> None:
        # One more turn of the loop: the calls that came in this turn (their RPCs read by the loop after
        # this callback was scheduled) join the group too.
        assert self._loop is not None
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and not self._busy:
            group = self._take_group()
            every = [w for writes, _ in group for w in writes]
            # A child that still reads its parents commits on the loop: the parents' environments are
            # not pinned, and the loop's LRU may close one at any moment no loop transaction is open
            # (regionserver.data.environments).
            store = self.store
            cells = sum(cells_of(w) for w in every)
            if self._loggable(every, cells):
                if self._log(group, every):
                    return  # busy until the log answers
                continue
            if store.exists and not store.has_references and cells <= THREAD_MAX_CELLS:
                if cells <= LOOP_MAX_CELLS and self._placement.on_loop():
                    started = time.perf_counter()
                    self._commit(group, every)
                    self._placement.took(time.perf_counter() - started)
                else:
                    self._commit_in_thread(group, every)
                    continue  # busy now, unless the store refused at once
            else:
                self._commit(group, every)
            if self._queue:  # one group per turn: other callbacks run in between
                self._schedule()
                return
        self._settled()

    def _schedule(self) -> None:
        if not self._scheduled:
            assert self._loop is not None
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _settled(self) -> None:
        """Tell a waiting stop() once nothing is queued or in flight."""
        drained = self._drained
        if drained is not None and not drained.done() and not (self._queue or self._busy or self._scheduled):
            drained.set_result(None)

    def _take_group(self) -> Group:
        count = 0
        for n, (writes, _) in enumerate(self._queue):
            count += len(writes)
            if count >= MAX_GROUP_WRITES:
                group, self._queue = self._queue[: n + 1], self._queue[n + 1 :]
                return group
        group, self._queue = self._queue, []
        return group

    def _loggable(self, every: list[Write], cells: int) -> bool:
        """Whether the group goes to the server's log rather than into a store transaction: puts and
        deletes, few cells, a store of its own that records that this claim logs (the first such group is
        committed to the store, and asks it to record so), and memory not due for a flush."""
        wal, memory, store = self._wal, self.store.memory, self.store
        if wal is None or memory is None or not wal.usable or not every or cells > LOOP_MAX_CELLS:
            return False
        if store.has_references or not all(isinstance(w, RowMutation) for w in every):
            return False
        if not memory.can_log():
            memory.arm = not memory.closing  # this group's commit arms the log for the next ones
            return False
        # A store of its own (a claim that logs has one), and memory not due for a flush (this group's
        # commit flushes it).
        return store.exists and memory.size_bytes < wal.flush_bytes

    def _log(self, group: Group, every: list[Write]) -> bool:
        """Apply the group in memory over the store, and log it; True while the log has it (busy)."""
        wal, memory = self._wal, self.store.memory
        assert wal is not None and memory is not None
        pending = MemStore()
        try:
            outcomes = self.store.apply_logged([w for w in every if isinstance(w, RowMutation)], pending)
        except StoreError as exc:
            self._failed(group, every, exc)
            return False
        if not pending:  # every row refused, or deletes of nothing
            self._answer(group, outcomes)
            return False
        self._busy = True
        edit = Edit(memory.key, tuple((0, key, value) for key, value in pending.edits()))
        wal.append(memory, edit, functools.partial(self._logged, group, every, outcomes, pending))
        return True

    def _logged(
        self, group: Group, every: list[Write], outcomes: list[Outcome], pending: MemStore, seq: Any
    ) -> None:
        """The log answered a group: merged and answered, or refused."""
        self._busy = False
        memory = self.store.memory
        assert memory is not None
        if isinstance(seq, int):
            memory.merged(pending, seq)
            self._answer(group, outcomes)
        elif seq is None:
            self._failed(
                group,
                every,
                Fenced(
                    f"write refused: region store {self.store.path} was taken over by a newer open (sealed)"
                ),
                from_log=True,
            )
        else:
            self._failed(
                group,
                every,
                StoreError(
                    f"the log of region store {self.store.path} failed ({seq}): the writes may or may "
                    "not be durable"
                ),
                from_log=True,
            )
        if self._queue:
            self._schedule()
        else:
            self._settled()

    def _commit_in_thread(self, group: Group, every: list[Write]) -> None:
        store = self.store
        try:
            store.environment()  # opened and its claim checked here, on the loop; then pinned
        except StoreError as exc:
            self._failed(group, every, exc)
            return
        store.environments.pin(store.path)
        self._busy = True
        done = self._threads.submit(functools.partial(store.apply, every, grow=False))
        done.add_done_callback(functools.partial(self._committed, group, every))

    def _committed(self, group: Group, every: list[Write], done: asyncio.Future[Any]) -> None:
        """A thread's commit returned (or raised): answer its callers, then the next group."""
        store = self.store
        store.environments.unpin(store.path)
        self._busy = False
        try:
            outcomes = done.result()
        except MapFull:
            self._commit(group, every)  # nothing was written: grow the map on the loop, and commit there
        except Exception as exc:  # StoreError (Fenced included): nothing of the group is written
            self._failed(group, every, exc)
        else:
            self._answer(group, outcomes)
        if self._queue:
            self._schedule()
        else:
            self._settled()

    def _commit(self, group: Group, every: list[Write]) -> None:
        try:
            outcomes = self.store.apply(every)
        except Exception as exc:  # StoreError (Fenced included): nothing of the group is written
            self._failed(group, every, exc)
            return
        self._answer(group, outcomes)

    def _failed(self, group: Group, every: list[Write], exc: Exception, *, from_log: bool = False) -> None:
        log.error("region_commit_failed", store=str(self.store.path), writes=len(every), error=str(exc))
        memory = self.store.memory
        if isinstance(exc, Fenced) and memory is not None and not from_log:
            # A newer open's claim committed (it replayed this claim's log): the memory is given up.
            memory.closing = memory.closed = True
        for _, future in group:
            if not future.done():
                future.set_exception(exc)

    def _answer(self, group: Group, outcomes: list[Outcome]) -> None:
        at = 0
        for writes, future in group:
            if not future.done():
                future.set_result(outcomes[at : at + len(writes)])
            at += len(writes)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A flush nobody awaits: its failure was logged by _failed; retrieve it so asyncio does not warn."""
    if not future.cancelled():
        future.exception()
