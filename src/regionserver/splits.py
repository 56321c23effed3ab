"""RegionServerAdmin.SplitPoint and RegionSizes: what the master's split procedures and normalizer ask a
RegionServer about the regions it serves (docs/split_merge_contract.md).

SplitPoint gives the region's middle row by size (regionserver.data.middle), or checks the key the caller
gave: strictly inside the region's rows and not empty. It refuses (FAILED_PRECONDITION, SplitRefused)
a region not served here, one that still references its parents' stores (it can split once its fold is
done), and one with no row to split at (empty, or a single row).

RegionSizes gives every served region's store bytes, columnar: the own store's file (one stat, no
environment opened: a server may serve 100,000 regions) plus, for a region that still references parent
stores, half of each parent's file (an estimate: a split daughter reads about half of its parent, the split
point being the middle by size), and whether it still references any.
"""

from __future__ import annotations

from pathlib import Path

from meta import ServerName
from regent.proto import regionserver_pb2
from regionserver.data.environments import region_dir
from regionserver.data.errors import StoreError
from regionserver.data.middle import cells_bytes, middle_row
from regionserver.data_proto import quote
from regionserver.hosting import Hosting
from regionserver.store import Stores


class SplitRefused(Exception):
    """The region cannot be split here now; the message says why."""


async def split_point(
    hosting: Hosting, stores: Stores, server: ServerName, region_id: int, split_key: bytes | None
) -> tuple[bytes, int]:
    """(where region `region_id` splits, its cells' bytes). Raises SplitRefused saying why not."""
    region = hosting.online.get(region_id)
    if region is None:
        raise SplitRefused(f"region {region_id} is not served by {server}: ask the server that serves it")
    store = stores.of(region).store
    if store.has_references:
        parents = ", ".join(str(p.reference.region_id) for p in store.parents)
        raise SplitRefused(
            f"region {region_id} still references the store of region(s) {parents}: it can split once its "
            "background fold has copied their cells (admin compact folds it now)"
        )
    end = quote(region.end_key) if region.end_key else "the table's end"
    rows = f"[{quote(region.start_key)}, {end})"
    try:
        store.flush()  # the middle row and the size count what the write-ahead log holds in memory
        if split_key is not None:
            if not split_key or not _inside(split_key, region.start_key, region.end_key):
                raise SplitRefused(
                    f"split key {quote(split_key)} is not strictly inside region {region_id} {rows}: "
                    "the key must be after its start key and before its end"
                )
            return split_key, cells_bytes(store)
        middle, total = await middle_row(store)
    except StoreError as exc:
        raise SplitRefused(f"region {region_id}: {exc}") from None
    if middle is None:
        what = "it is empty" if total == 0 else "all its cells are in one row"
        raise SplitRefused(f"region {region_id} has no row to split at: {what}")
    if not _inside(middle, region.start_key, region.end_key):
        raise SplitRefused(f"region {region_id}: its middle row {quote(middle)} is outside {rows}")
    return middle, total


def _inside(key: bytes, start: bytes, end: bytes) -> bool:
    return start < key and (not end or key < end)


def _file_bytes(store_dir: Path) -> int:
    try:
        return (store_dir / "data.mdb").stat().st_blocks * 512
    except OSError:
        return 0


def region_sizes(hosting: Hosting, rootdir: Path) -> regionserver_pb2.RegionSizesResponse:
    """Every served region's store bytes (own plus an estimate of the referenced), columnar."""
    response = regionserver_pb2.RegionSizesResponse()
    ids, sizes, referencing = [], [], []
    for region in hosting.online.values():
        data = region.store
        store = data.store if data is not None else None
        path = store.path if store is not None else region_dir(rootdir, region.table, region.region_id)
        size = _file_bytes(path)
        if store is not None and store.memory is not None:
            size += store.memory.size_bytes  # logged, not flushed yet
        parents = store.parents if store is not None else ()
        size += sum(_file_bytes(p.path) // 2 for p in parents)
        ids.append(region.region_id)
        sizes.append(size)
        referencing.append(bool(parents))
    response.region_ids.extend(ids)
    response.bytes.extend(sizes)
    response.has_references.extend(referencing)
    return response
