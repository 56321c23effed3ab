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
from collections.abc import Callable
from pathlib import Path

import structlog

from meta import ServerName
from regionserver.data import MAX_CELL_BYTES, RegionStore, RegionWriter
from regionserver.data.environments import MAP_SIZE, Claim, region_dir, regions_with_store
from regionserver.data.errors import Fenced, StoreError
from regionserver.hosting import HostedRegion, OpenFailed

log = structlog.get_logger("regionserver.store")

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

    def __init__(self, store: RegionStore) -> None:
        self.store = store
        self._writer: RegionWriter | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def writer(self) -> RegionWriter:
        """The region's writer, started on first use (on the event loop)."""
        if self._writer is None:
            self._writer = RegionWriter(self.store)
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

    def __init__(self, rootdir: Path, server: ServerName, *, max_cell_bytes: int = MAX_CELL_BYTES) -> None:
        self.rootdir = rootdir
        self.server = server
        self.max_cell_bytes = max_cell_bytes

    def _store(self, region: HostedRegion) -> RegionStore:
        return RegionStore(
            region_dir(self.rootdir, region.table, region.region_id),
            Claim(self.server, region.open_seq_num),
            region.families,
            max_cell_bytes=self.max_cell_bytes,
        )

    def claim_existing(self, region: HostedRegion) -> OpenFailed | None:
        """At the open of a region that has a store: claim it now. None on success, else why the open
        failed (a newer open owns it: with its number; or it cannot be opened)."""
        store = self._store(region)
        try:
            if not store.claim_existing():
                # A directory with no store in it: a split daughter or merged child that holds only the
                # REFERENCES file its procedure wrote (meta.references). It has no cells of its own yet:
                # opened as a region without a store, which its first write creates.
                store.close()
                return None
        except Fenced as exc:
            store.close()
            log.warning("open_fenced", region=region.region_id, reason=str(exc))
            return OpenFailed(str(exc), exc.owner_seq)
        except StoreError as exc:
            store.close()
            log.warning("open_failed", region=region.region_id, reason=str(exc))
            return OpenFailed(str(exc))
        region.store = RegionData(store)
        return None

    def of(self, region: HostedRegion) -> RegionData:
        """The region's RegionData, made if need be (touching no file: the first write creates the
        store and claims it)."""
        data = region.store
        if data is None:
            data = region.store = RegionData(self._store(region))
        assert isinstance(data, RegionData)
        return data
