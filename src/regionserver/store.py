"""A hosted region's store as the data RPCs use it: the region store (regionserver.data) and its writer.

The store itself (its environment under ROOTDIR/data/<table>/<region id>/, the owner claim, the fence
checked inside every write) is regionserver.data's. This module pairs it with the region's RegionWriter
(group commit), made on the region's first write, and closes the two in order when the region closes:
the writer commits what it was handed, then the environment is closed.

`Stores` makes them for the regions of this server: an open of a region whose store exists claims it at
once (the open fails if a newer open owns it); a region without data gets a RegionData that touches no
file until its first write creates and claims the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from meta import ServerName
from regionserver.data import MAX_CELL_BYTES, RegionStore, RegionWriter, parents
from regionserver.data.environments import MAP_SIZE, Claim, region_dir, regions_with_store
from regionserver.data.errors import Fenced, StoreError
from regionserver.data.fold import STEP_CELLS, FoldStats, fold_while_serving
from regionserver.data.region_memory import RegionMemory
from regionserver.data.region_store import PROCESS_ENVIRONMENTS
from regionserver.data.server_wal import ServerWal
from regionserver.data.takeover import TakeOver, region_key
from regionserver.hosting import HostedRegion, OpenFailed

log = structlog.get_logger("regionserver.store")

#: A child's fold starts this long after its open and takes at most this share of the event loop: its
#: OPENED report and the clients that waited through the split go first (bench split: with the fold
#: started at once and unthrottled, the first calls to the daughters waited 300-600 ms behind it).
FOLD_START_S = 1.0
FOLD_SHARE = 0.5

__all__ = [
    "MAP_SIZE",
    "Claim",
    "Fenced",
    "RegionData",
    "StoreError",
    "Stores",
    "region_dir",
    "regions_with_store",
]


class RegionData:
    """One hosted region's store and (from its first write on) its writer."""

    def __init__(self, store: RegionStore, wal: ServerWal | None = None) -> None:
        self.store = store
        self.wal = wal
        self._writer: RegionWriter | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._fold: asyncio.Task[FoldStats | StoreError] | None = None
        self.fold_budget = STEP_CELLS  # referenced cells per fold step

    def start_fold(self) -> None:
        """Fold the referenced cells into the own store in the background (regionserver.data.fold)."""
        if self._fold is None and self.store.has_references:
            self._fold = asyncio.get_running_loop().create_task(
                self._folding(), name=f"fold-{self.store.path.name}"
            )

    async def _folding(self) -> FoldStats | StoreError:
        started = time.monotonic()
        try:
            stats = await fold_while_serving(
                self.store, budget=self.fold_budget, start_after_s=FOLD_START_S, share=FOLD_SHARE
            )
        except StoreError as exc:  # Fenced included: a newer open owns the region and folds there
            log.warning("region_fold_stopped", store=str(self.store.path), reason=str(exc))
            return exc
        log.info(
            "region_folded",
            store=str(self.store.path),
            copied=stats.copied,
            examined=stats.examined,
            steps=stats.steps,
            seconds=round(time.monotonic() - started, 3),
        )
        return stats

    async def folded(self) -> None:
        """Return once the region references no parent (folding it now if no fold runs). Raises the
        StoreError that stopped the fold."""
        if not self.store.has_references:
            return
        if self._fold is not None and self._fold.done():
            self._fold = None  # a fold that stopped on an error: try again
        self.start_fold()
        task = self._fold
        assert task is not None
        try:
            outcome = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this caller was cancelled, not the fold
            raise StoreError(f"the fold of {self.store.path} stopped: the region is closing") from None
        if isinstance(outcome, StoreError):
            raise outcome

    def _stop_fold(self) -> None:
        if self._fold is not None and not self._fold.done():
            self._fold.cancel()  # between two steps: REFERENCES stays, the next open folds again

    @property
    def writer(self) -> RegionWriter:
        """The region's writer, started on first use (on the event loop)."""
        if self._writer is None:
            self._writer = RegionWriter(self.store, wal=self.wal)
            self._writer.start()
        return self._writer

    def disk_bytes(self) -> int:
        """Bytes of the store's file on disk (0 before the first write): one stat, no environment opened.
        LMDB reuses freed pages without shrinking the file, so this is the high-water mark."""
        try:
            return (self.store.path / "data.mdb").stat().st_size
        except FileNotFoundError:
            return 0

    def close(self, on_closed: Callable[[], None] | None = None) -> None:
        """Stop the writer (it commits what it was handed first), then close the environment; call
        `on_closed` once both are done."""
        self._stop_fold()
        writer = self._writer
        if writer is None:
            self.store.close()
            if on_closed is not None:
                on_closed()
            return

        async def stop() -> None:
            try:
                await writer.stop()
            except Exception as exc:  # the writer answered its callers; nothing is left to do but say so
                log.error("region_writer_stop_failed", store=str(self.store.path), error=str(exc))
            finally:
                self.store.close()
                if on_closed is not None:
                    on_closed()

        task = asyncio.get_running_loop().create_task(stop(), name=f"close-{self.store.path.name}")
        self._closing.add(task)  # a reference until it is done: the loop keeps only weak ones
        task.add_done_callback(self._closing.discard)


class Stores:
    """Makes the RegionData of this server's regions (one server incarnation, one ROOTDIR)."""

    def __init__(
        self,
        rootdir: Path,
        server: ServerName,
        *,
        max_cell_bytes: int = MAX_CELL_BYTES,
        wal: ServerWal | None = None,
    ) -> None:
        self.rootdir = rootdir
        self.server = server
        self.max_cell_bytes = max_cell_bytes
        #: The server's write-ahead log (None: every write goes straight to its region's store).
        self.wal = wal
        #: Claims replay what earlier owners logged, whether or not this server logs.
        self.takeover = TakeOver(rootdir, str(server))

    def _store(self, region: HostedRegion) -> RegionStore:
        path = region_dir(self.rootdir, region.table, region.region_id)
        return RegionStore(
            path,
            Claim(self.server, region.open_seq_num),
            region.families,
            max_cell_bytes=self.max_cell_bytes,
            memory=RegionMemory(region_key(path, region.open_seq_num)) if self.wal is not None else None,
            takeover=self.takeover,
        )

    def claim_existing(self, region: HostedRegion) -> OpenFailed | None:
        """At the open of a region that has a store, on the event loop: `claim` then `opened`."""
        failed = self.claim(region)
        if failed is None:
            self.opened(region)
        else:
            self.close_failed(region)
        return failed

    def claim(self, region: HostedRegion) -> OpenFailed | None:
        """Claim the store of a region being opened: None on success (`region.store` set), else why the
        open failed (a newer open owns it: with its number; or it cannot be opened). Safe in a thread
        (regionserver.claims): the environments it opens are pinned while it uses them, and nothing else
        touches the region until the claim's result is taken on the event loop."""
        store = self._store(region)
        try:
            refs = parents.read(store)  # a malformed REFERENCES fails the open before anything changes
            store.claim_existing()  # False: no store of its own yet (reads its parents, or nothing)
            if refs is not None:
                parents.attach(store, refs)
        except Fenced as exc:  # the environment stays open: only the event loop closes (close_failed)
            log.warning("open_fenced", region=region.region_id, reason=str(exc))
            return OpenFailed(str(exc), exc.owner_seq)
        except StoreError as exc:
            log.warning("open_failed", region=region.region_id, reason=str(exc))
            return OpenFailed(str(exc))
        region.store = RegionData(store, self.wal)
        return None

    def close_failed(self, region: HostedRegion) -> None:
        """On the event loop, after `claim` failed: close the environment it may have left open (a later
        use of the path, by a newer open, reopens it and checks its own claim)."""
        self._store(region).close()

    def opened(self, region: HostedRegion) -> None:
        """On the event loop, once a claimed region counts as opening: a child starts folding its parents'
        cells in (the fold is a task of the loop)."""
        data = region.store
        assert isinstance(data, RegionData), f"region {region.region_id} opened without a claimed store"
        if data.store.has_references:
            data.start_fold()
            log.info(
                "region_references_opened",
                region=region.region_id,
                parents=[p.reference.region_id for p in data.store.parents],
            )

    def trim_environments(self) -> None:
        """On the event loop: close the environments `claim`s in threads left open beyond the LRU's bound."""
        PROCESS_ENVIRONMENTS.trim()

    def of(self, region: HostedRegion) -> RegionData:
        """The region's RegionData, made if need be (touching no file: the first write creates the
        store and claims it)."""
        data = region.store
        if data is None:
            data = region.store = RegionData(self._store(region), self.wal)
        assert isinstance(data, RegionData)
        return data
