"""The Hbase service's scanners: scannerOpen* open one, scannerGet/scannerGetList read it, scannerClose.

A gateway scanner is one SDK scan (`Table.scan`: region by region, reopened across moves and failures)
registered under a random id in the ScannerRegistry. Opening reads the first row at once, so that a table
that does not exist or a filter that does not parse fails the open (as in HBase), not the first read.
TScan's fields map onto the scan: startRow/stopRow, timestamp (versions strictly older), columns, caching
(rows per round trip to a RegionServer), filterString (HBase's filter language), batchSize (cells per
piece of a wide row), sortColumns (TRowResult.sortedColumns instead of the columns map) and reversed.
An unknown or expired id is IllegalArgument("scanner ID is invalid: ..."), as HBase answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from client.table_args import bytes_increment
from gateway.thrift import convert
from gateway.thrift.calls import Calls
from gateway.thrift.errors import BadArgument
from gateway.thrift.scanners import UnknownScanner

#: Rows per round trip when the client does not say (TScan.caching unset): HBase's default scanner caching.
DEFAULT_CACHING = 100
_END = object()


class ScannerCalls(Calls):
    # ---- opening ----

    def scannerOpenWithScan(self, tableName: Any, scan: Any, attributes: Any = None) -> int:
        if scan is None or not hasattr(scan, "startRow"):
            raise BadArgument("scan must be a TScan")
        caching = _optional_int(scan.caching, "TScan.caching")
        batching = _optional_int(scan.batchSize, "TScan.batchSize")
        timestamp = None if scan.timestamp is None else convert.read_timestamp(scan.timestamp)
        filter_text = scan.filterString
        if filter_text is not None:
            convert.need(filter_text, "TScan.filterString")
        return self._open(
            tableName,
            start=scan.startRow or b"",
            stop=scan.stopRow or b"",
            columns=scan.columns,
            timestamp=timestamp,
            filter_text=filter_text or None,
            caching=caching if caching and caching > 0 else DEFAULT_CACHING,
            batching=batching if batching and batching > 0 else None,
            sort_columns=bool(scan.sortColumns),
            reverse=bool(scan.reversed),
        )

    def scannerOpen(self, tableName: Any, startRow: Any, columns: Any, attributes: Any = None) -> int:
        return self._open(tableName, start=_row(startRow, "startRow"), columns=columns)

    def scannerOpenWithStop(
        self, tableName: Any, startRow: Any, stopRow: Any, columns: Any, attributes: Any = None
    ) -> int:
        return self._open(
            tableName, start=_row(startRow, "startRow"), stop=_row(stopRow, "stopRow"), columns=columns
        )

    def scannerOpenWithPrefix(
        self, tableName: Any, startAndPrefix: Any, columns: Any, attributes: Any = None
    ) -> int:
        prefix = convert.need(startAndPrefix, "startAndPrefix")
        return self._open(tableName, start=prefix, stop=bytes_increment(prefix) or b"", columns=columns)

    def scannerOpenTs(
        self, tableName: Any, startRow: Any, columns: Any, timestamp: Any, attributes: Any = None
    ) -> int:
        return self._open(
            tableName,
            start=_row(startRow, "startRow"),
            columns=columns,
            timestamp=convert.read_timestamp(timestamp),
        )

    def scannerOpenWithStopTs(
        self,
        tableName: Any,
        startRow: Any,
        stopRow: Any,
        columns: Any,
        timestamp: Any,
        attributes: Any = None,
    ) -> int:
        return self._open(
            tableName,
            start=_row(startRow, "startRow"),
            stop=_row(stopRow, "stopRow"),
            columns=columns,
            timestamp=convert.read_timestamp(timestamp),
        )

    def _open(
        self,
        table_name: Any,
        *,
        start: bytes,
        stop: bytes = b"",
        columns: Any = None,
        timestamp: int | None = None,
        filter_text: bytes | None = None,
        caching: int = DEFAULT_CACHING,
        batching: int | None = None,
        sort_columns: bool = False,
        reverse: bool = False,
    ) -> int:
        table = self.gateway.table(table_name)
        scan = table.scan(
            row_start=start or None,
            row_stop=stop or None,
            columns=convert.columns_of(columns),
            filter=filter_text,
            timestamp=timestamp,
            include_timestamp=True,
            batch_size=caching,
            scan_batching=batching,
            reverse=reverse,
        )
        first = next(scan, _END)  # a missing table or a bad filter fails the open, not the first read
        rows: Iterator[tuple[bytes, dict[bytes, Any]]] = (
            iter(()) if first is _END else itertools.chain([first], scan)  # type: ignore[list-item]
        )
        results = (convert.row_result(key, data, sort_columns) for key, data in rows)
        return self.gateway.scanners.open(self.owner, table.table_name, results, scan.close)  # type: ignore[attr-defined]

    # ---- reading and closing ----

    def scannerGet(self, id: Any) -> list[Any]:
        return self._read(id, 1)

    def scannerGetList(self, id: Any, nbRows: Any) -> list[Any]:
        wanted = convert.need(nbRows, "nbRows", int)
        if wanted < 1:
            return []  # HBase: scanner.next(n) for n < 1 returns nothing
        return self._read(id, min(wanted, self.gateway.max_rows_per_call))

    def _read(self, scanner_id: Any, count: int) -> list[Any]:
        registry = self.gateway.scanners
        try:
            scanner = registry.acquire(convert.need(scanner_id, "id", int))
        except UnknownScanner as exc:
            raise BadArgument(f"scanner ID is invalid: {exc}") from None
        try:
            with scanner.lock:
                return list(itertools.islice(scanner.rows, count))
        finally:
            registry.release(scanner)

    def scannerClose(self, id: Any) -> None:
        try:
            self.gateway.scanners.close(convert.need(id, "id", int))
        except UnknownScanner as exc:
            raise BadArgument(f"scanner ID is invalid: {exc}") from None


def _row(value: Any, what: str) -> bytes:
    """A start or stop row: b"" (the table's start or end) when absent."""
    return b"" if value is None else convert.need(value, what)


def _optional_int(value: Any, what: str) -> int | None:
    return None if value is None else convert.need(value, what, int)


__all__ = ["DEFAULT_CACHING", "ScannerCalls"]
