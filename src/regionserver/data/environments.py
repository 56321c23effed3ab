"""The LMDB environments of region stores: one per region, opened on demand, a bounded number at once.

A RegionServer may host tens of thousands of regions; an open environment costs a file descriptor, a
memory map and a slot in LMDB's lock table, so `Environments` keeps at most `capacity` of them open and
closes the least recently used. A store whose environment was closed gets it back transparently on its
next use, and the reopen re-checks the claim (a newer open may have taken the region meanwhile).

Ownership is the storage-level fence of DESIGN.md §5: opening a region whose store exists claims it with
the open's sequence number; creating the store claims it; every write checks, inside its write
transaction, that the claim is still the recorded one. LMDB serialises writers across processes, so an
old owner that was paused (SIGSTOP, GC, swap) cannot write once a newer open claimed the store.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import lmdb

from meta import ServerName
from meta.codec import server_from_proto, server_to_proto
from regent.durable import missing_parents, sync_new_entries
from regent.proto import meta_pb2
from regionserver.data.errors import Fenced, StoreError
from regionserver.data.takeover import LOGGED, TakeOver, decode_logged, encode_logged, must_replay

MAP_SIZE = 1 << 30  # address space, grown on MapFullError; the file grows with the data
DEFAULT_CAPACITY = 256  # open environments per RegionServer
_OWNER = b"owner"
#: owner: the claim; cells: the region's cells; masked: a child's deletes of its parents' cells
#: (regionserver.data.layered), empty in every other store; nonces: the increments applied
#: (regionserver.data.nonces).
_DBS = (b"owner", b"cells", b"masked", b"nonces")


@dataclass(frozen=True, slots=True)
class Claim:
    """Who owns a region's store: the server incarnation and the open's sequence number."""

    server: ServerName
    open_seq_num: int

    def encode(self) -> bytes:
        return meta_pb2.RegionOwner(
            server=server_to_proto(self.server), open_seq_num=self.open_seq_num
        ).SerializeToString()

    @classmethod
    def decode(cls, raw: bytes) -> Claim:
        msg = meta_pb2.RegionOwner.FromString(raw)
        return cls(server_from_proto(msg.server), msg.open_seq_num)


def region_dir(rootdir: Path, table: str, region_id: int) -> Path:
    return rootdir / "data" / table / str(region_id)


#: Up to this many regions, `regions_with_store` looks each one up rather than listing the table's directory.
LOOKUPS_MAX = 256


def regions_with_store(rootdir: Path, table: str, region_ids: Collection[int] | None = None) -> set[int]:
    """Region ids of `table` (of `region_ids` if given) that have a store directory: one listing of the
    table's directory for a big batch of opens (a million-region startup), one lookup per region for a small
    one (a mover's order of a few dozen regions of a table of 10,000 would otherwise list 10,000 names)."""
    table_dir = rootdir / "data" / table
    if region_ids is not None and len(region_ids) <= LOOKUPS_MAX:
        return {rid for rid in region_ids if os.path.isdir(table_dir / str(rid))}
    try:
        return {int(name) for name in os.listdir(table_dir) if name.isdigit()}
    except FileNotFoundError:
        return set()


def exists(path: Path) -> bool:
    return (path / "data.mdb").exists()


class RegionEnvironment:
    """One open LMDB environment of a region store, with its named databases."""

    def __init__(self, path: Path, env: Any) -> None:
        self.path = path
        self.env = env
        # One write transaction opens (or creates) the named databases. py-lmdb's open_db without a
        # transaction begins its own write transaction while holding the GIL: if another process holds
        # the store's writer lock (an old owner paused in a commit), every thread of this process would
        # wait with it, heartbeats included. `begin(write=True)` waits with the GIL released, so only
        # the thread that opens the store waits (docs/decisions.md, "Opening a store whose writer lock
        # another process holds").
        with env.begin(write=True) as txn:
            self.owner_db = env.open_db(b"owner", txn=txn)
            self.cells_db = env.open_db(b"cells", txn=txn)
            self.masked_db = env.open_db(b"masked", txn=txn)
            self.nonces_db = env.open_db(b"nonces", txn=txn)
        self.closed = False

    @classmethod
    def open(cls, path: Path, *, create: bool, map_size: int = MAP_SIZE) -> RegionEnvironment:
        """Open the environment at `path`; with `create`, make it (and sync its new directory entries)."""
        if not create and not exists(path):
            raise StoreError(f"region store {path} does not exist")
        try:
            created = missing_parents(path)
            new = not exists(path)
            path.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(str(path), map_size=map_size, max_dbs=len(_DBS) + 1, sync=True, readahead=False)
            if new:  # the store's file and directories must survive a power cut, not only its commits
                sync_new_entries(path, created)
        except (OSError, lmdb.Error) as exc:
            raise StoreError(f"cannot open region store {path}: {exc}") from None
        try:
            return cls(path, env)
        except lmdb.Error as exc:
            env.close()
            raise StoreError(f"cannot open the databases of region store {path}: {exc}") from None

    def claim(self, claim: Claim, takeover: TakeOver | None = None) -> None:
        """Record `claim` as the owner, unless a newer open owns the store already (then Fenced); with
        `takeover`, first seal and replay the previous owner's log (regionserver.data.takeover)."""

        def fence(owner: Claim | None) -> bool:
            if owner is not None and owner.open_seq_num > claim.open_seq_num:
                raise Fenced(
                    f"region store {self.path} is owned by {owner.server} with open sequence number "
                    f"{owner.open_seq_num}, newer than this open's {claim.open_seq_num}",
                    owner_seq=owner.open_seq_num,
                )
            return True

        self._take_over(claim, takeover, fence)

    def _take_over(
        self, claim: Claim, takeover: TakeOver | None, replace: Callable[[Claim | None], bool]
    ) -> bool:
        """Make `claim` the owner if `replace(owner)` says so (it may raise instead): the one transaction
        of takeover's step 2, after its step 1 sealed the owner it found. Whether the record changed."""
        sealed: Claim | None = None
        while True:
            if takeover is not None:
                with self.env.begin() as txn:
                    owner, logged = self.owner_in(txn), self.logged(txn)
                if owner != claim and owner != sealed and must_replay(logged) and replace(owner):
                    assert owner is not None
                    takeover.seal(self.path, owner)
                    sealed = owner
            txn = self.env.begin(write=True)
            try:
                owner = self.owner_in(txn)
                if not replace(owner):
                    txn.abort()
                    return False
                logged = self.logged(txn)
                if owner != claim and must_replay(logged):
                    if takeover is None:
                        raise StoreError(
                            f"region store {self.path} holds writes of {owner} in its log: only a server "
                            "that replays logs may claim it"
                        )
                    if owner != sealed:
                        txn.abort()  # it changed since step 1: seal the owner found now
                        continue
                    assert owner is not None and logged is not None
                    takeover.replay(txn, self.cells_db, self.path, owner, logged)
                txn.put(_OWNER, claim.encode(), db=self.owner_db)
                if owner != claim:
                    txn.delete(LOGGED, db=self.owner_db)
                txn.commit()
                return True
            except BaseException:
                txn.abort()
                raise

    def logged(self, txn: Any) -> int | None:
        """The store's LOGGED record (regionserver.data.takeover), None when there is none."""
        return decode_logged(txn.get(LOGGED, db=self.owner_db))

    def set_logged(self, txn: Any, seq: int) -> None:
        """Record in the owner's write transaction `txn` that its log's edits up to `seq` are in the store."""
        txn.put(LOGGED, encode_logged(seq), db=self.owner_db)

    def check_owner(self, txn: Any, claim: Claim) -> None:
        """Raise Fenced unless `claim` is the recorded owner, as seen by `txn` (call it inside every
        write transaction: the check and the write then commit together or not at all)."""
        owner = self.owner_in(txn)
        if owner != claim:
            raise Fenced(
                f"write refused: region store {self.path} is owned by "
                f"{owner.server if owner else 'nobody'} (open sequence number "
                f"{owner.open_seq_num if owner else 0}), not by {claim.server} "
                f"(open sequence number {claim.open_seq_num})"
            )

    def owner(self) -> Claim | None:
        with self.env.begin() as txn:
            return self.owner_in(txn)

    def seal(self, claim: Claim, takeover: TakeOver | None = None) -> bool:
        """Raise the owner record to `claim` if its open sequence number is lower (a parent store, at the
        open of a child that references it): an old owner of the parent can no longer write it; with
        `takeover`, what it logged is replayed first. Never Fenced: a newer record is left as it is.
        Whether the record changed."""
        return self._take_over(
            claim, takeover, lambda owner: owner is None or owner.open_seq_num < claim.open_seq_num
        )

    def owner_in(self, txn: Any) -> Claim | None:
        """The owner record as transaction `txn` sees it."""
        raw = txn.get(_OWNER, db=self.owner_db)
        return Claim.decode(raw) if raw is not None else None

    def grow(self) -> None:
        """Double the map after a MapFullError (no transaction may be open: py-lmdb refuses)."""
        self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.env.close()


class Environments:
    """The open environments of one process, least recently used closed beyond `capacity`.

    LMDB forbids opening one path twice in a process, so every store of a path shares its entry here.
    Operations on the event loop are synchronous and never hold a transaction across an await, so an
    environment can be closed whenever another one is needed: nothing of it is in use at that moment.
    Threads use environments too: a small group commit (regionserver.data.writer) and the claims of an
    open order (regionserver.claims). Their environments are *pinned* meanwhile, and the LRU closes only
    unpinned ones (exceeding `capacity` for as long as every open environment is pinned).

    The rules that make threads safe: only the event loop closes environments (`get`'s eviction, `close`,
    `trim`); a thread takes an environment with `pinned`, which opens it if need be but never evicts
    another (one the loop may be reading at that very moment); and opening, closing and the index change
    together under one lock, so that a path is never open twice, not even while one of its environments
    is being closed (closing an LMDB environment drops the process's locks on its lock file, those of
    another environment of the same path with them). The open itself runs without the lock (`_opened`),
    since it may have to wait for another process; the path is marked as being opened meanwhile.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, map_size: int = MAP_SIZE) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 open environment, got {capacity}")
        self.capacity = capacity
        self.map_size = map_size
        self._open: OrderedDict[Path, RegionEnvironment] = OrderedDict()
        self._pinned: dict[Path, int] = {}  # path -> how many users outside the event loop
        self._lock = threading.Lock()
        self._opening: set[Path] = set()  # paths a thread is opening, the lock released meanwhile
        self._opened_one = threading.Condition(self._lock)  # notified when an open ends
        self.opens = 0  # environments opened (first opens and reopens): for tests and metrics
        self.evictions = 0

    def get(self, path: Path, *, create: bool, keep: Collection[Path] = ()) -> RegionEnvironment:
        """The open environment of `path`, opened (or created) if need be. The environments of `keep`
        are not closed to make room (a child reads its own and its parents' together), nor are pinned
        ones: if they fill the capacity, it is exceeded until they are released."""
        with self._lock:
            env = self._open.get(path)
            if env is None:
                self._evict(self.capacity - 1, keep)
                env = self._opened(path, create)
            self._open.move_to_end(path)
            if len(self._open) > self.capacity:  # threads opened some (`pinned`): back to the bound
                self._evict(self.capacity, [*keep, path])
            return env

    def _opened(self, path: Path, create: bool) -> RegionEnvironment:
        """`path`'s environment, opened if need be. Called, and returns, with the lock held; the open
        itself runs without it: it may wait for another process that holds the store's writer lock
        (RegionEnvironment), and the other paths' users must not wait with it. A path being opened by
        one thread is waited for by the others, so it is never open twice."""
        while path in self._opening:
            self._opened_one.wait()
        env = self._open.get(path)
        if env is not None:
            return env
        self._opening.add(path)
        self._lock.release()
        try:
            env = RegionEnvironment.open(path, create=create, map_size=self.map_size)
        finally:
            self._lock.acquire()
            self._opening.discard(path)
            self._opened_one.notify_all()
        self._open[path] = env
        self.opens += 1
        return env

    @contextmanager
    def pinned(self, path: Path, *, create: bool = False) -> Iterator[RegionEnvironment]:
        """`path`'s environment, opened if need be (never closing another: safe in a thread), pinned
        until the block ends. Left open afterwards, most recently used: the event loop's next `get` or
        `trim` brings the number open back to `capacity`."""
        with self._lock:
            env = self._opened(path, create)
            self._open.move_to_end(path)
            self._pinned[path] = self._pinned.get(path, 0) + 1
        try:
            yield env
        finally:
            self.unpin(path)

    def trim(self) -> None:
        """Close the least recently used unpinned environments beyond `capacity` (on the event loop:
        after threads opened some with `pinned`)."""
        with self._lock:
            self._evict(self.capacity)

    def _evict(self, keep: int, spare: Collection[Path] = ()) -> None:
        """Close the least recently used environments, neither pinned nor in `spare`, until at most
        `keep` are open."""
        excess = len(self._open) - keep
        if excess <= 0:
            return
        victims = list(islice((p for p in self._open if p not in self._pinned and p not in spare), excess))
        for victim in victims:
            self._open.pop(victim).close()
            self.evictions += 1

    def pin(self, path: Path) -> None:
        """Keep `path`'s (open) environment open until `unpin`: it is in use outside the event loop."""
        with self._lock:
            self._pinned[path] = self._pinned.get(path, 0) + 1

    def unpin(self, path: Path) -> None:
        with self._lock:
            left = self._pinned.pop(path, 1) - 1
            if left > 0:
                self._pinned[path] = left
            # Nothing is closed here (the caller may not be on the event loop): the next `get` catches up.

    def is_open(self, path: Path) -> bool:
        return path in self._open

    def make_least_recent(self, path: Path) -> None:
        """Make `path`'s environment, if open, the first the LRU closes (a look at a store that serves
        nothing here, such as the log cleaner's: regionserver.data.log_cleaner)."""
        with self._lock:
            if path in self._open:
                self._open.move_to_end(path, last=False)

    def close(self, path: Path) -> None:
        """Close `path`'s environment; a pinned one is left open (a commit in a thread is using it),
        for the LRU to close once it is unpinned, as is one a thread is opening at this moment."""
        with self._lock:
            if path in self._pinned:
                return
            env = self._open.pop(path, None)
            if env is not None:
                env.close()

    def close_all(self) -> None:
        with self._lock:
            while self._open:
                _, env = self._open.popitem()
                env.close()

    def __len__(self) -> int:
        return len(self._open)
