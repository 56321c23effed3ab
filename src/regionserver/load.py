"""What a RegionServer tells the master about its load in every heartbeat: requests served (a counter;
the master derives the rate) and the bytes of its regions' stores. The balancer weighs both.

The data path calls `requests_served` once per RPC (with the number of rows or cells it served: a batch
counts what it did, in one call) and `store_size` when it knows a store's size (after a flush or a
compaction). Sizes of stores nobody reported are measured here, a few per heartbeat (`measure`), so that
a server with 100,000 regions spends a bounded time on it. Each call is an integer add or a dict store:
cheap on a hot path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

MEASURED_PER_HEARTBEAT = 256


class LoadCounters:
    def __init__(self) -> None:
        self.requests = 0
        self._sizes: dict[int, int] = {}  # region id -> bytes of its store
        self._store_bytes = 0
        self._cursor = 0

    def requests_served(self, count: int = 1) -> None:
        self.requests += count

    def store_size(self, region_id: int, size_bytes: int) -> None:
        """The size of region `region_id`'s store now."""
        self._store_bytes += size_bytes - self._sizes.get(region_id, 0)
        self._sizes[region_id] = size_bytes

    def region_closed(self, region_id: int) -> None:
        self._store_bytes -= self._sizes.pop(region_id, 0)

    @property
    def store_bytes(self) -> int:
        return max(0, self._store_bytes)

    def measure(self, stores: Iterable[tuple[int, Path]], served: Iterable[int]) -> None:
        """Forget the sizes of regions no longer served, and measure the next few stores of (region id,
        directory), round robin: the disk space their files take."""
        keep = set(served)
        for region_id in [r for r in self._sizes if r not in keep]:
            self.region_closed(region_id)
        stores = list(stores)
        if not stores:
            return
        start = self._cursor % len(stores)
        chosen = (stores[start:] + stores[:start])[:MEASURED_PER_HEARTBEAT]
        self._cursor = start + len(chosen)
        for region_id, path in chosen:
            self.store_size(region_id, _disk_bytes(path))


def _disk_bytes(path: Path) -> int:
    """Bytes of disk the files of a store directory take (LMDB's map is sparse: blocks, not length)."""
    total = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
    except OSError:
        return 0
    return total
