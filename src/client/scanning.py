"""Scans: region by region with server-side scanners, continued across region boundaries and reopened after
failures without returning a row twice or skipping one.

A scan reads one region at a time: it opens a scanner on the region holding its position, pages through
it (ScannerNext, `caching` rows per reply), and when the region is exhausted moves on from the region's end
key (forward) or start key (reverse). Whatever goes wrong mid-region (the scanner expired or is unknown,
the region moved, split or closed, its server died or hangs) the scan forgets what it must, waits with
backoff, and reopens at the region now holding the row after the last one it returned: forward from
`last + b"\\x00"` (the very next possible key); reverse from `last` itself, skipping that row. A row cut
into pieces by `batching` is resumed from the same row, skipping the cells already returned.

The limit counts rows across regions (each reopen asks the server for what is left); `scan_done` (the
limit reached, or a filter that ends the scan) stops it. Each step (an open, a page, with its retries) has
the call's deadline; only running out of it raises, as DataTimeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc  # type: ignore[import-untyped, unused-ignore]

from client.errors import DataTimeout, ScannerNotFound, error_name, from_rpc_error, status_name
from client.locations import CachedRegion
from client.operations import Cell, TimeRange, cells_from_proto
from client.retry import apply_refusal, is_transport_failure
from client.routing import Router, refusal_from_proto
from regent.proto import data_pb2

#: How long closing a scanner nobody reads any more may take (best effort: it expires anyway).
CLOSE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Scan:
    """What to scan. `start_row` inclusive (reverse: the highest row, b"" = the table's end); `stop_row`
    exclusive (reverse: the lowest bound), b"" = none; `limit` rows in all (None = no limit); `caching`
    rows per round trip; `batching` cells per piece of a row (0 = whole rows)."""

    start_row: bytes = b""
    stop_row: bytes = b""
    prefix: bytes | None = None
    columns: Sequence[bytes] = ()
    max_versions: int = 1
    time_range: TimeRange | None = None
    filter: str = ""
    limit: int | None = None
    reverse: bool = False
    caching: int = 1000
    batching: int = 0


@dataclass(frozen=True, slots=True)
class RowPiece:
    """A row, or a piece of one (`partial`: more cells of it follow in the next piece)."""

    row: bytes
    cells: list[Cell]
    partial: bool = False


class _Restart(Exception):
    """The current region's scanner is gone: reopen from where the scan is."""

    def __init__(self, cause: str) -> None:
        self.cause = cause


class Scanner:
    """One scan's state: where it is, what it has returned; iterate it for RowPieces."""

    def __init__(self, router: Router, table: str, scan: Scan, timeout: float) -> None:
        self._router = router
        self._table = table
        self._scan = scan
        self._timeout = timeout
        self._returned = 0  # complete rows returned (for the limit)
        self._last: bytes | None = None  # the last row returned, or being returned in pieces
        self._last_cells = 0  # cells of _last returned so far
        self._last_complete = True
        self._skip = 0  # cells of _last to skip when a reopen returns it again
        self._scanner_id = 0
        self._server = ""

    # ---- where to (re)open ----

    def _position(self) -> tuple[bytes, bool]:
        """(key, inclusive) of where to go on: inclusive = the region holding the key; exclusive (reverse
        at a boundary, or from the end) = the region holding the keys just below it."""
        scan = self._scan
        if self._last is None:
            return scan.start_row, bool(scan.start_row) or not scan.reverse
        if scan.reverse or not self._last_complete:
            return self._last, True  # reopened at the last row, which is skipped (or its pieces are)
        return self._last + b"\x00", True

    def _spec(self, start: bytes) -> data_pb2.ScanSpec:
        scan = self._scan
        spec = data_pb2.ScanSpec(
            start_row=start,
            stop_row=scan.stop_row,
            columns=scan.columns,
            max_versions=scan.max_versions,
            reverse=scan.reverse,
            filter=scan.filter,
            batching=scan.batching,
        )
        if scan.prefix is not None:
            spec.prefix = scan.prefix
        if scan.time_range is not None:
            spec.time_range.CopyFrom(scan.time_range.to_proto())
        if scan.limit is not None:
            spec.limit = self._wanted(scan.limit - self._returned)
        return spec

    def _wanted(self, rows: int) -> int:
        """Rows to ask for: `rows`, plus the last row when the reopen will return it again to be skipped."""
        again = self._last is not None and self._scan.reverse and self._last_complete
        return rows + (1 if again else 0)

    def _caching(self) -> int:
        if self._scan.limit is None:
            return self._scan.caching
        return max(1, min(self._scan.caching, self._wanted(self._scan.limit - self._returned)))

    # ---- the loop ----

    def __iter__(self) -> Iterator[RowPiece]:
        try:
            yield from self._run()
        finally:
            self._close()

    def _run(self) -> Iterator[RowPiece]:
        key, inclusive = self._position()
        attempt = 0
        cause = ""
        # Each step (an open or a page, with every retry it takes) has the call's timeout; a step that
        # keeps failing runs out of it, whatever the number of reopens.
        deadline = time.monotonic() + self._timeout
        while True:
            region = self._region(key, inclusive, deadline, cause)
            try:
                response = self._open(region, key, deadline)
                attempt = 0
                while True:
                    yield from self._take(response)
                    if response.scan_done or self._limit_reached():
                        return
                    if not response.more_in_region:
                        break
                    deadline = time.monotonic() + self._timeout
                    response = self._next(region, deadline)
            except _Restart as restart:
                cause = restart.cause
                self._scanner_id = 0
                self._skip = 0 if self._last_complete else self._last_cells
                key, inclusive = self._position()
                if time.monotonic() >= deadline:
                    raise self._timeout_error(key, cause) from None
                self._router.pause(attempt, deadline)
                attempt += 1
                continue
            self._scanner_id = 0
            boundary = self._boundary(region)
            if boundary is None:
                return
            key, inclusive = boundary
            deadline = time.monotonic() + self._timeout

    def _boundary(self, region: CachedRegion) -> tuple[bytes, bool] | None:
        """Where the scan goes on after `region`, or None when it ends there."""
        stop = self._scan.stop_row
        if self._scan.reverse:
            stop = stop or self._scan.prefix or b""
            if not region.start_key or (stop and region.start_key <= stop):
                return None
            return region.start_key, False
        if not region.end_key or (stop and region.end_key >= stop):
            return None
        return region.end_key, True

    def _limit_reached(self) -> bool:
        return self._scan.limit is not None and self._returned >= self._scan.limit

    def _region(self, key: bytes, inclusive: bool, deadline: float, cause: str) -> CachedRegion:
        attempt = 0
        while True:
            if inclusive:
                region, why = self._router.region_for(self._table, key, deadline)
            else:
                region, why = self._router.region_before(self._table, key, deadline)
            if region is not None:
                return region
            cause = why or cause
            if time.monotonic() >= deadline:
                raise self._timeout_error(key, cause)
            self._router.pause(attempt, deadline)
            attempt += 1

    def _open(self, region: CachedRegion, key: bytes, deadline: float) -> data_pb2.ScanResponse:
        self._server = region.server
        request = data_pb2.OpenScannerRequest(
            region_id=region.region_id, scan=self._spec(key), rows=self._caching()
        )
        response = self._call(region, "OpenScanner", request, deadline)
        self._scanner_id = response.scanner_id
        return response

    def _next(self, region: CachedRegion, deadline: float) -> data_pb2.ScanResponse:
        request = data_pb2.ScannerNextRequest(scanner_id=self._scanner_id, rows=self._caching())
        response = self._call(region, "ScannerNext", request, deadline)
        self._scanner_id = response.scanner_id
        return response

    def _call(
        self, region: CachedRegion, method: str, request: object, deadline: float
    ) -> data_pb2.ScanResponse:
        stub = self._router.stub(region.server)
        try:
            response: data_pb2.ScanResponse = getattr(stub, method)(
                request, timeout=self._router.attempt_timeout(deadline) or 0.001
            )
        except grpc.RpcError as exc:
            status = status_name(exc)
            if error_name(exc) == ScannerNotFound.__name__:
                raise _Restart(f"scanner on {region.server} expired or was closed") from None
            if not is_transport_failure(status):
                raise from_rpc_error(exc) from None
            self._router.server_failed(region.server)
            if time.monotonic() >= deadline:
                raise self._timeout_error(self._position()[0], f"server {region.server}: {status}") from None
            raise _Restart(f"server {region.server}: {status}") from None
        if response.HasField("error"):
            refusal = refusal_from_proto(response.error, region.region_id)
            apply_refusal(self._router.locations.table(self._table), refusal)
            if time.monotonic() >= deadline:
                raise self._timeout_error(self._position()[0], refusal.describe(region.server))
            raise _Restart(refusal.describe(region.server))
        return response

    def _take(self, response: data_pb2.ScanResponse) -> Iterator[RowPiece]:
        """The reply's rows, less what a reopen returned again; the scan's position follows them."""
        for row in response.rows:
            cells = cells_from_proto(row)
            if row.row == self._last:
                if self._last_complete:
                    continue  # a reverse reopen's first row: returned already
                skip = min(self._skip, len(cells))  # a reopened row's cells returned already
                self._skip -= skip
                cells = cells[skip:]
            else:
                self._last, self._last_cells, self._skip = row.row, 0, 0
            self._last_complete = not row.partial
            self._last_cells += len(cells)
            if self._last_complete:
                self._returned += 1
            if cells:
                yield RowPiece(row.row, cells, row.partial)
            if self._limit_reached():
                return

    def _close(self) -> None:
        scanner_id, self._scanner_id = self._scanner_id, 0
        if not scanner_id:
            return
        # Best effort: a scanner that is not closed expires on its own after 60 s idle.
        with contextlib.suppress(Exception):
            self._router.stub(self._server).CloseScanner(
                data_pb2.CloseScannerRequest(scanner_id=scanner_id), timeout=CLOSE_TIMEOUT_S
            )

    def _timeout_error(self, key: bytes, cause: str) -> DataTimeout:
        return DataTimeout(
            f"table {self._table!r}: scan at row {key!r} not continued within {self._timeout:.3g}s; "
            f"last cause: {cause or 'none recorded'}",
            table=self._table,
            rows=(key,),
            cause=cause,
        )


__all__ = ["RowPiece", "Scan", "Scanner"]
