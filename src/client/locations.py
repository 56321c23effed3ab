"""The client's region location cache: per table, the regions it has looked up, sorted by start key.

Pure logic, no I/O (the router in client/routing.py fills it from Master.LocateRegions and tells it what
the RegionServers answered). The invariants, checked by `validate()` and by tests/test_client_locations.py:
the cached regions of a table never overlap and are sorted by start key. A lookup that returns a region
overlapping cached ones (the cache saw the parent, the master now knows its daughters, or the reverse after a
merge) replaces every cached region it overlaps: the master's answer is newer than anything cached.

Holes are allowed (regions never looked up, or dropped after an error): a row in a hole is simply a miss.
A cached region always has a server: a region on no server is not cached, so the next attempt asks again.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class CachedRegion:
    """Where the client believes a region is. `end_key` b"" is the table's end; `server` is host:port."""

    region_id: int
    start_key: bytes
    end_key: bytes
    server: str

    def contains(self, row: bytes) -> bool:
        return self.start_key <= row and (not self.end_key or row < self.end_key)

    def holds_keys_before(self, key: bytes) -> bool:
        """Whether the keys just below `key` are in this region (b"" = the table's end): the region a
        reverse scan goes to after one that starts at `key`."""
        if not key:
            return not self.end_key
        return self.start_key < key and (not self.end_key or key <= self.end_key)

    def overlaps(self, other: CachedRegion) -> bool:
        starts_before_other_ends = not other.end_key or self.start_key < other.end_key
        ends_after_other_starts = not self.end_key or other.start_key < self.end_key
        return starts_before_other_ends and ends_after_other_starts


class LocationCache:
    """The cached regions of one table. Thread-safe: every method takes the cache's lock."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._lock = threading.Lock()
        self._regions: list[CachedRegion] = []  # sorted by start_key, never overlapping
        self._starts: list[bytes] = []  # the start keys of _regions, for bisect

    def __len__(self) -> int:
        return len(self._regions)

    def regions(self) -> list[CachedRegion]:
        with self._lock:
            return list(self._regions)

    def find(self, row: bytes) -> CachedRegion | None:
        """The cached region holding `row`, or None (a miss)."""
        with self._lock:
            i = bisect.bisect_right(self._starts, row) - 1
            if i >= 0 and self._regions[i].contains(row):
                return self._regions[i]
            return None

    def find_before(self, key: bytes) -> CachedRegion | None:
        """The cached region holding the keys just below `key` (b"": the table's last region), or None."""
        with self._lock:
            if not key:
                last = self._regions[-1] if self._regions else None
                return last if last is not None and not last.end_key else None
            i = bisect.bisect_left(self._starts, key) - 1
            if i >= 0 and self._regions[i].holds_keys_before(key):
                return self._regions[i]
            return None

    def add(self, regions: Iterable[CachedRegion]) -> None:
        """Cache what a lookup answered, replacing every cached region that overlaps one of them."""
        with self._lock:
            for region in regions:
                self._insert(region)

    def _insert(self, region: CachedRegion) -> None:
        # The cached regions it overlaps are one run (they are sorted and disjoint): replace the run.
        lo = bisect.bisect_right(self._starts, region.start_key) - 1
        if lo < 0 or not self._regions[lo].overlaps(region):
            lo += 1
        hi = lo
        while hi < len(self._regions) and self._regions[hi].overlaps(region):
            hi += 1
        self._regions[lo:hi] = [region]
        self._starts[lo:hi] = [region.start_key]

    def drop(self, region_id: int) -> bool:
        """Forget region `region_id` (the next use of its rows looks them up again); whether it was cached."""
        with self._lock:
            for i, region in enumerate(self._regions):
                if region.region_id == region_id:
                    del self._regions[i]
                    del self._starts[i]
                    return True
            return False

    def moved(self, region_id: int, server: str) -> bool:
        """Region `region_id` is now on `server` (a RegionServer said so); whether it was cached."""
        with self._lock:
            for i, region in enumerate(self._regions):
                if region.region_id == region_id:
                    self._regions[i] = replace(region, server=server)
                    return True
            return False

    def drop_server(self, server: str) -> int:
        """Forget every region cached on `server` (it did not answer); how many were."""
        with self._lock:
            keep = [r for r in self._regions if r.server != server]
            dropped = len(self._regions) - len(keep)
            self._regions = keep
            self._starts = [r.start_key for r in keep]
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._regions.clear()
            self._starts.clear()

    def validate(self) -> None:
        """Raise AssertionError if the invariants do not hold (sorted, non-overlapping, starts in step)."""
        with self._lock:
            assert self._starts == [r.start_key for r in self._regions], "start keys out of step"
            for a, b in zip(self._regions, self._regions[1:], strict=False):
                assert a.start_key < b.start_key, f"not sorted: {a} before {b}"
                assert a.end_key and a.end_key <= b.start_key, f"overlap: {a} and {b}"


class Locations:
    """Every table's LocationCache, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, LocationCache] = {}

    def table(self, name: str) -> LocationCache:
        with self._lock:
            cache = self._tables.get(name)
            if cache is None:
                cache = self._tables[name] = LocationCache(name)
            return cache

    def drop_server(self, server: str) -> int:
        with self._lock:
            caches = list(self._tables.values())
        return sum(cache.drop_server(server) for cache in caches)

    def forget_table(self, name: str) -> None:
        with self._lock:
            self._tables.pop(name, None)


__all__ = ["CachedRegion", "LocationCache", "Locations"]
