"""A region's cells with HBase's data model, in the region's own LMDB environment (DESIGN §11).

The store is created on the region's first write (claiming it, DESIGN §5) and costs nothing before: a
RegionStore object for a region without data touches no file. Its environment is borrowed from the
process's `Environments` for each operation and may be closed in between (least recently used); every
reopen re-checks the claim, and every write transaction checks it again.

Writes come in groups (`apply`): one LMDB transaction, one fsync, per group; regionserver.data.writer
builds the groups from concurrent callers. Reads are synchronous and short: a get reads its rows in one
read transaction, a scanner reads a chunk of rows per transaction (regionserver.data.scanner).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from meta.types import ColumnFamily
from regionserver.data import keys, nonces
from regionserver.data.apply import Context, apply, refusal
from regionserver.data.cells import Cell
from regionserver.data.environments import Claim, Environments, RegionEnvironment, exists
from regionserver.data.errors import Fenced, MapFull, RowError, StoreError
from regionserver.data.layered import LayeredCells, ParentRange
from regionserver.data.memstore import MemCells, MemStore
from regionserver.data.mutations import (
    ALL_TIME,
    CheckAndPut,
    Column,
    Counters,
    Get,
    Increment,
    Outcome,
    Row,
    RowMutation,
    TimeRange,
    Write,
)
from regionserver.data.nonces import Nonces
from regionserver.data.ordered import Cells, OrderedCells
from regionserver.data.region_memory import RegionMemory
from regionserver.data.takeover import TakeOver
from regionserver.data.versions import RowVisibility, Selection

MAX_CELL_BYTES = 10 * 1024 * 1024  # hbase.client.keyvalue.maxsize
#: The environments of stores not given their own: LMDB forbids opening a path twice in one process,
#: so stores of one path must share one entry.
PROCESS_ENVIRONMENTS = Environments()
Clock = Callable[[], int]
T = TypeVar("T")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def families_of(families: Iterable[ColumnFamily]) -> dict[bytes, ColumnFamily]:
    """The table descriptor's families, keyed as cells name them."""
    return {f.name.encode(): f for f in families}


class RegionStore:
    """The cells of one region; `claim` is this server's open of it."""

    def __init__(
        self,
        path: Path,
        claim: Claim,
        families: Mapping[bytes, ColumnFamily],
        *,
        environments: Environments | None = None,
        clock: Clock = wall_clock_ms,
        max_cell_bytes: int = MAX_CELL_BYTES,
        memory: RegionMemory | None = None,
        takeover: TakeOver | None = None,
    ) -> None:
        self.path = path
        self.claim = claim
        self.families = dict(families)
        self.environments = environments if environments is not None else PROCESS_ENVIRONMENTS
        self.clock = clock
        self.max_cell_bytes = max_cell_bytes
        self.commits = 0  # write transactions committed: group commit is measured by it
        self._checked: RegionEnvironment | None = None  # the environment whose owner record we checked
        #: The parents' stores this region still reads (a split daughter, a merged child: set at its open
        #: from REFERENCES, emptied once the fold copied their cells here).
        self.parents: tuple[ParentRange, ...] = ()
        self._claimed = False
        #: What this claim logged and has not flushed (None: it writes its store directly, never a log).
        self.memory = memory
        #: How a claim takes the store over from an owner that logged (None: it cannot; tests).
        self.takeover = takeover

    @classmethod
    def open(
        cls,
        path: Path,
        claim: Claim,
        families: Mapping[bytes, ColumnFamily] | None = None,
        *,
        create: bool,
        **options: Any,
    ) -> RegionStore:
        """A store claimed now: raise StoreError if it does not exist (unless `create`), Fenced if a
        newer open owns it."""
        store = cls(path, claim, families or {}, **options)
        if create or exists(path):
            store._environment(create=True)
        else:
            raise StoreError(f"region store {path} does not exist")
        return store

    @property
    def exists(self) -> bool:
        return self._claimed or exists(self.path)

    def claim_existing(self) -> bool:
        """Claim the store now if it exists (a region's open); False if the region has no store yet.
        Safe in a thread (its environment pinned meanwhile: Environments.pinned), as long as nothing else
        uses this store object until it returns."""
        if not exists(self.path):
            return False
        with self.environments.pinned(self.path) as env:
            env.claim(self.claim, self.takeover)  # refused (Fenced) if a newer open claimed it
        self._claimed = True
        self._checked = env  # a later use that finds this environment still open need not check again
        return True

    def _environment(self, *, create: bool) -> RegionEnvironment:
        env = self.environments.get(self.path, create=create, keep=[p.path for p in self.parents])
        if env is not self._checked:
            if not self._claimed:
                env.claim(self.claim, self.takeover)  # first use: claim it (refused if a newer open did)
                self._claimed = True
            else:
                with env.env.begin() as txn:  # a reopen: is the claim still the recorded one?
                    env.check_owner(txn, self.claim)
            self._checked = env
        return env

    def environment(self) -> RegionEnvironment:
        """The open environment of an existing store (StoreError if it has none), claim checked."""
        return self._environment(create=False)

    def _reader(self) -> RegionEnvironment | None:
        """The environment for a read, or None when the region has no store (no data)."""
        if not self._claimed and not exists(self.path):
            return None
        return self._environment(create=False)

    # ---- writes ----

    def apply_logged(self, writes: Sequence[RowMutation], pending: MemStore) -> list[Outcome]:
        """Apply puts and deletes to `pending`, over the memory and one read transaction of the store: the
        writes of a group that goes to the log (regionserver.data.writer), one outcome each. Nothing is
        durable yet; the caller logs `pending`, then merges it into the memory."""
        memory = self.memory
        assert memory is not None and not self.parents, "a logged group of a store that does not log"
        ctx = Context(self.families, self.clock(), self.max_cell_bytes)
        below = [memory.active]  # taken before the read transaction begins (region_memory's doc)
        env = self._environment(create=False)
        try:
            with env.env.begin() as txn:
                cells = MemCells(pending, below, OrderedCells(txn, env.cells_db))
                return [apply(cells, write, ctx) for write in writes]
        except lmdb.Error as exc:
            raise StoreError(f"cannot read region store {self.path}: {exc}") from None

    def apply(self, writes: Sequence[Write], *, grow: bool = True) -> list[Outcome]:
        """Apply `writes` in one transaction, checked against the claim inside it; one outcome each.

        Raises Fenced (nothing written) if a newer open owns the store. Writes that would all be
        refused do not create a store that does not exist yet. A full map is grown and the writes
        retried, unless `grow` is False (a commit outside the event loop: growing needs no reader in
        the process): then MapFull is raised, nothing written."""
        ctx = Context(self.families, self.clock(), self.max_cell_bytes)
        if not self.exists:
            refused = [refusal(write, ctx) for write in writes]
            if all(r is not None for r in refused):
                return list(refused)
        env = self._environment(create=True)
        while True:
            try:
                with self._transaction(env, write=True) as (cells, nonces):
                    outcomes = [apply(cells, write, ctx, nonces) for write in writes]
                self.commits += 1
                return outcomes
            except lmdb.MapFullError:
                if not grow:
                    raise MapFull(f"region store {self.path} needs a larger map: nothing written") from None
                env.grow()
            except lmdb.Error as exc:
                raise StoreError(f"cannot write region store {self.path}: {exc}") from None

    def mutate(self, rows: Sequence[RowMutation]) -> list[RowError | None]:
        """Puts and deletes of many rows in one commit: for each row, None or why it was refused."""
        return [o if isinstance(o, RowError) else None for o in self.apply(rows)]

    def increment(self, increment: Increment) -> Counters:
        """Add to counters atomically; the new values. Raises the RowError that refused it."""
        outcome = _single(self.apply([increment]))
        assert isinstance(outcome, dict), outcome
        return outcome

    def check_and_put(self, check: CheckAndPut) -> bool:
        """Whether the check held and the mutation was applied. Raises the RowError that refused it."""
        outcome = _single(self.apply([check]))
        assert isinstance(outcome, bool), outcome
        return outcome

    def write_in(self, txn_body: Callable[[Any, OrderedCells], None]) -> None:
        """Run `txn_body(txn, cells)` in a write transaction checked against the claim (compaction)."""
        env = self._environment(create=False)
        with env.env.begin(write=True) as txn:
            env.check_owner(txn, self.claim)
            flush = self._flush_memory(env, txn)
            txn_body(txn, OrderedCells(txn, env.cells_db))
        self._flushed(flush)
        self.commits += 1

    def fold_in(self, body: Callable[[LayeredCells], T]) -> T:
        """Run `body` on the layered cells in one write transaction of the own store (created if need
        be), checked against the claim: a step of the fold (regionserver.data.fold)."""
        env = self._environment(create=True)
        while True:
            try:
                with self._cells(env, write=True) as cells:
                    assert isinstance(cells, LayeredCells), "fold_in on a store without references"
                    result = body(cells)
                self.commits += 1
                return result
            except lmdb.MapFullError:
                env.grow()
            except lmdb.Error as exc:
                raise StoreError(f"cannot write region store {self.path}: {exc}") from None

    def adopt_parent_nonces(self) -> int:
        """Copy the parents' unexpired nonce records of this region's rows into its own store, in one
        transaction checked against the claim: the fold's last step before it stops reading the parents,
        so that a retried increment first applied in a parent is still recognised. How many."""
        env = self._environment(create=True)
        now = self.clock()
        copied = 0
        keep = [self.path, *(p.path for p in self.parents)]
        with ExitStack() as stack:
            txn = stack.enter_context(env.env.begin(write=True))
            env.check_owner(txn, self.claim)
            own = Nonces(txn, env.nonces_db)
            for parent in self.parents:
                penv = self.environments.get(parent.path, create=False, keep=keep)
                ptxn = stack.enter_context(penv.env.begin())
                copied += nonces.adopt(own, nonces.records(ptxn, penv.nonces_db), parent.reference, now)
        self.commits += 1
        return copied

    def clear_masked(self) -> None:
        """Forget the masked keys (the fold is done and REFERENCES removed: no parent is read any more)."""
        if not self.exists:
            return
        env = self._environment(create=False)
        with env.env.begin(write=True) as txn:
            env.check_owner(txn, self.claim)
            txn.drop(env.masked_db, delete=False)
        self.commits += 1

    # ---- the layers ----

    @property
    def has_references(self) -> bool:
        return bool(self.parents)

    @contextmanager
    def _cells(self, env: RegionEnvironment | None, *, write: bool) -> Iterator[Cells]:
        """The cells one transaction of the own store sees (`env` None: the region has no store yet),
        checked against the claim when it writes: the own store's, or while the region references
        parents, the layered cells over the parents' read transactions (regionserver.data.layered)."""
        with self._transaction(env, write=write) as (cells, _):
            yield cells

    def _flush_memory(self, env: RegionEnvironment, txn: Any) -> tuple[MemStore, int | None] | None:
        """In a write transaction of the own store, checked against the claim: the memory written into it
        and its LOGGED recorded (regionserver.data.takeover); for `_flushed` once it committed."""
        memory = self.memory
        if memory is None:
            return None
        flushing, logged = memory.flush_into(OrderedCells(txn, env.cells_db))
        if logged is not None:
            env.set_logged(txn, logged)
        return flushing, logged

    def _flushed(self, flush: tuple[MemStore, int | None] | None) -> None:
        if flush is not None:
            assert self.memory is not None
            self.memory.flushed(*flush)

    def flush(self, *, closing: bool = False) -> None:
        """Write the memory into the store in one transaction (with `closing`, record CLEAN: nothing of
        this claim is left in its log, and nothing more may be logged)."""
        memory = self.memory
        if memory is None or memory.closed or not self.exists:
            return
        if not (memory.active or (closing and memory.armed)):
            return  # nothing to write: an unarmed claim logged nothing, so a new owner replays nothing
        memory.closing = memory.closing or closing
        self.apply([])

    @contextmanager
    def _transaction(
        self, env: RegionEnvironment | None, *, write: bool
    ) -> Iterator[tuple[Cells, Nonces | None]]:
        """`_cells`, with the nonce records a write sees (None for a read, or without an own store). A
        write first writes the memory into the own store; a read sees the memory over the store."""
        memory = self.memory
        above = memory.active if memory is not None and not write else None  # before the transaction
        flush: tuple[MemStore, int | None] | None = None
        with ExitStack() as stack:
            own: OrderedCells | None = None
            masked: OrderedCells | None = None
            txn: Any = None
            if env is not None:
                txn = stack.enter_context(env.env.begin(write=write))
                if write:
                    env.check_owner(txn, self.claim)
                    flush = self._flush_memory(env, txn)
                own, masked = OrderedCells(txn, env.cells_db), OrderedCells(txn, env.masked_db)
            if not self.parents:
                assert own is not None and env is not None, "a store without references nor environment"
                yield (
                    (MemCells(above, (), own) if above else own),
                    Nonces(txn, env.nonces_db) if write else None,
                )
            else:
                yield self._layered(stack, env, own, masked, txn, write)
        self._flushed(flush)

    def _layered(
        self,
        stack: ExitStack,
        env: RegionEnvironment | None,
        own: OrderedCells | None,
        masked: OrderedCells | None,
        txn: Any,
        write: bool,
    ) -> tuple[Cells, Nonces | None]:
        """The layered cells of a store that references parents, over their read transactions."""
        keep = [self.path, *(p.path for p in self.parents)]
        layers: list[tuple[ParentRange, Cells | None]] = []
        parent_nonces: list[tuple[Any, Any]] = []
        for parent in self.parents:
            penv = self.environments.get(parent.path, create=False, keep=keep)
            ptxn = stack.enter_context(penv.env.begin())
            layers.append((parent, OrderedCells(ptxn, penv.cells_db)))
            parent_nonces.append((ptxn, penv.nonces_db))
        noted = Nonces(txn, env.nonces_db, parent_nonces) if write and env is not None else None
        return LayeredCells(own, masked, layers), noted

    # ---- reads ----

    def get(self, gets: Sequence[Get]) -> list[list[Cell]]:
        """The cells of each get's row (empty when none), from one consistent snapshot."""
        selections = [Selection.of(self.families, g.columns) for g in gets]
        env = self._reader()
        if env is None and not self.parents:
            return [[] for _ in gets]
        now = self.clock()
        views: dict[tuple[tuple[Column, ...], int, TimeRange], RowVisibility] = {}  # gets alike share one
        with self._cells(env, write=False) as cells:
            out: list[list[Cell]] = []
            for g, selection in zip(gets, selections, strict=True):
                like = (g.columns, g.max_versions, g.time_range)
                view = views.get(like)
                if view is None:
                    view = views[like] = RowVisibility(
                        selection, now, max_versions=g.max_versions, time_range=g.time_range
                    )
                row: list[Cell] = []
                for start, stop in selection.ranges(g.row):
                    row += view.cells(cells.items(start, stop))
                out.append(row)
        return out

    def read_rows(
        self,
        start: bytes,
        stop: bytes | None,
        *,
        reverse: bool,
        rows: int,
        columns_: tuple[Column, ...],
        max_versions: int = 1,
        time_range: TimeRange = ALL_TIME,
    ) -> tuple[list[Row], bytes | None]:
        """Up to `rows` non-empty rows with keys in [start, stop), in one read transaction, and the key
        to continue from (None when the range is exhausted). The scanner's one access to the store."""
        selection = Selection.of(self.families, columns_)
        env = self._reader()
        if env is None and not self.parents:
            return [], None
        view = RowVisibility(selection, self.clock(), max_versions=max_versions, time_range=time_range)
        with self._cells(env, write=False) as cells:
            items = cells.items(start, stop, reverse=reverse)
            out, last = view.rows(_rows_in_key_order(items) if reverse else items, rows)
        return out, None if last is None else _after(last, reverse)

    def owner(self) -> Claim | None:
        env = self._reader()
        return env.owner() if env is not None else None

    def close(self) -> None:
        """Close the environment (the region is closed here); a later use would reopen and re-check."""
        self.environments.close(self.path)
        self._checked = None


def _rows_in_key_order(items: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """A reverse walk's cells (rows descending, each row's cells descending) with each row's cells put
    back in key order, as versions.visible reads a row; rows are told apart by their escaped prefix."""
    row_items: list[tuple[bytes, bytes]] = []
    current: bytes | None = None  # the escaped row (keys.row_prefix) of row_items: no decoding
    for item in items:
        if current is None or not item[0].startswith(current):
            yield from reversed(row_items)
            row_items = []
            current = keys.row_prefix(item[0])
        row_items.append(item)
    yield from reversed(row_items)


def _after(prefix: bytes, reverse: bool) -> bytes:
    """Where a read resumes after the row of `prefix` (its row_start): the next row's start key
    forward, the row's own start backward."""
    return prefix if reverse else keys.row_end_of_start(prefix)


def _single(outcomes: list[Outcome]) -> Outcome:
    (outcome,) = outcomes
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


__all__ = ["MAX_CELL_BYTES", "Fenced", "RegionStore", "families_of", "wall_clock_ms"]
