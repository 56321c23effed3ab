"""A resumable scan of a region: a cursor that continues after the last row it read.

A server-side scanner lives between RPCs (HBase's scanner lease), so it must not hold an LMDB read
transaction while suspended: long read transactions stop LMDB from reusing pages, use a reader slot, and
would pin an environment the LRU wants to close. The scanner therefore reads a chunk of rows per short
read transaction and remembers only the key to continue from. Each row is read whole in one
transaction (rows are atomic, as in HBase); successive chunks are separate snapshots.

A filter (regionserver.data.filters, written separately) plugs in through `Scan.filter`: a lazy stream
of rows in, a stream out, applied over the whole scan, so that a stateful filter (a page filter, a
"while match" filter) sees the rows in order across batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from regionserver.data import keys
from regionserver.data.errors import StoreError
from regionserver.data.mutations import Row, Scan
from regionserver.data.region_store import RegionStore

CHUNK_ROWS = 100  # rows per read transaction


def bounds(scan: Scan, region: tuple[bytes, bytes] = (b"", b"")) -> tuple[bytes, bytes | None]:
    """The key range [low, high) of the scan's rows, whatever its direction, within the rows
    [region start, region end) (b"" for no bound) of the region scanned."""
    first, last = scan.start_row, scan.stop_row
    if scan.reverse:
        # HBase's reverse scan: start_row is the highest row (inclusive), stop_row the lower (exclusive).
        high = keys.row_end(first) if first else None
        low = keys.row_end(last) if last else b""
    else:
        low = keys.row_start(first) if first else b""
        high = keys.row_start(last) if last else None
    if scan.prefix is not None:
        after = keys.next_prefix(scan.prefix)
        low = max(low, keys.row_start(scan.prefix))
        if after is not None:
            end = keys.row_start(after)
            high = end if high is None else min(high, end)
    region_start, region_end = region
    if region_start:
        low = max(low, keys.row_start(region_start))
    if region_end:
        end = keys.row_start(region_end)
        high = end if high is None else min(high, end)
    return low, high


class Scanner:
    """Rows of a scan, `next(n)` at a time, resumable between calls."""

    def __init__(
        self,
        store: RegionStore,
        scan: Scan,
        *,
        chunk_rows: int = CHUNK_ROWS,
        region: tuple[bytes, bytes] = (b"", b""),
    ) -> None:
        self.store = store
        self.scan = scan
        self.chunk_rows = chunk_rows
        self._chunk = chunk_rows  # rows of the next read: at most what the caller still wants
        self._low, self._high = bounds(scan, region)
        self.last_row: bytes | None = None  # the last row returned
        self.returned = 0
        self.done = False
        source = self._source()
        self._rows: Iterator[Row] = scan.filter.apply(source) if scan.filter is not None else source

    def _source(self) -> Iterator[Row]:
        while self._high is None or self._low < self._high:
            rows, resume = self.store.read_rows(
                self._low,
                self._high,
                reverse=self.scan.reverse,
                rows=self._chunk,
                columns_=self.scan.columns,
                max_versions=self.scan.max_versions,
                time_range=self.scan.time_range,
            )
            if resume is None:
                yield from rows
                return
            forward_moved = resume > self._low
            moved = (self._high is None or resume < self._high) if self.scan.reverse else forward_moved
            if not moved:  # a cursor that does not move would repeat rows forever: refuse loudly
                raise StoreError(f"scanner of {self.store.path} did not move past key {resume!r}")
            if self.scan.reverse:
                self._high = resume
            else:
                self._low = resume
            yield from rows

    def next(self, rows: int) -> list[Row]:
        """Up to `rows` more rows; fewer (maybe none) once the scan is done (then `done` is set)."""
        if rows < 1:
            raise ValueError(f"a scanner batch needs at least 1 row, got {rows}")
        if self.scan.limit is not None:
            rows = min(rows, self.scan.limit - self.returned)
        if self.scan.filter is None:  # a short scan (YCSB's E) reads no rows it will not return
            self._chunk = max(1, min(self.chunk_rows, rows))
        batch = list(islice(self._rows, rows)) if rows > 0 else []
        self.returned += len(batch)
        if batch:
            self.last_row = batch[-1][0]
        if len(batch) < rows or (self.scan.limit is not None and self.returned >= self.scan.limit):
            self.done = True
        return batch

    def __iter__(self) -> Iterator[Row]:
        while not self.done:
            yield from self.next(self.chunk_rows)
