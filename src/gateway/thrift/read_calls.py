"""The Hbase service's reads: get, getVer*, getRow*, getRows*, getRowOrBefore.

Each maps onto one call of the SDK's Table (getRows* onto one batched `rows`: one parallel call per
RegionServer). HBase's semantics: a read with a timestamp returns the versions strictly older than it
(`Get.setTimeRange(0, timestamp)`); empty or absent columns mean every column; rows without cells are left
out of getRows' answer; a row that has none gives [].
"""

from __future__ import annotations

from typing import Any

from gateway.thrift import convert
from gateway.thrift.calls import Calls
from gateway.thrift.convert import LATEST_TIMESTAMP


class ReadCalls(Calls):
    # ---- one column ----

    def get(self, tableName: Any, row: Any, column: Any, attributes: Any = None) -> list[Any]:
        return self._versions(tableName, row, column, 1, LATEST_TIMESTAMP)

    def getVer(
        self, tableName: Any, row: Any, column: Any, numVersions: Any, attributes: Any = None
    ) -> list[Any]:
        return self._versions(tableName, row, column, numVersions, LATEST_TIMESTAMP)

    def getVerTs(
        self,
        tableName: Any,
        row: Any,
        column: Any,
        timestamp: Any,
        numVersions: Any,
        attributes: Any = None,
    ) -> list[Any]:
        return self._versions(tableName, row, column, numVersions, timestamp)

    def _versions(self, table: Any, row: Any, column: Any, versions: Any, timestamp: Any) -> list[Any]:
        found = self.gateway.table(table).cells(
            convert.need(row, "row"),
            convert.need(column, "column"),
            versions=convert.need(versions, "numVersions", int),
            timestamp=convert.read_timestamp(timestamp),
            include_timestamp=True,
        )
        return convert.cells(found)

    # ---- one row ----

    def getRow(self, tableName: Any, row: Any, attributes: Any = None) -> list[Any]:
        return self._row(tableName, row, None, LATEST_TIMESTAMP)

    def getRowWithColumns(self, tableName: Any, row: Any, columns: Any, attributes: Any = None) -> list[Any]:
        return self._row(tableName, row, columns, LATEST_TIMESTAMP)

    def getRowTs(self, tableName: Any, row: Any, timestamp: Any, attributes: Any = None) -> list[Any]:
        return self._row(tableName, row, None, timestamp)

    def getRowWithColumnsTs(
        self, tableName: Any, row: Any, columns: Any, timestamp: Any, attributes: Any = None
    ) -> list[Any]:
        return self._row(tableName, row, columns, timestamp)

    def _row(self, table: Any, row: Any, columns: Any, timestamp: Any) -> list[Any]:
        key = convert.need(row, "row")
        data = self.gateway.table(table).row(
            key,
            convert.columns_of(columns),
            timestamp=convert.read_timestamp(timestamp),
            include_timestamp=True,
        )
        return [convert.row_result(key, data)] if data else []

    # ---- many rows ----

    def getRows(self, tableName: Any, rows: Any, attributes: Any = None) -> list[Any]:
        return self._rows(tableName, rows, None, LATEST_TIMESTAMP)

    def getRowsWithColumns(
        self, tableName: Any, rows: Any, columns: Any, attributes: Any = None
    ) -> list[Any]:
        return self._rows(tableName, rows, columns, LATEST_TIMESTAMP)

    def getRowsTs(self, tableName: Any, rows: Any, timestamp: Any, attributes: Any = None) -> list[Any]:
        return self._rows(tableName, rows, None, timestamp)

    def getRowsWithColumnsTs(
        self, tableName: Any, rows: Any, columns: Any, timestamp: Any, attributes: Any = None
    ) -> list[Any]:
        return self._rows(tableName, rows, columns, timestamp)

    def _rows(self, table: Any, rows: Any, columns: Any, timestamp: Any) -> list[Any]:
        found = self.gateway.table(table).rows(
            convert.rows_of(rows),
            convert.columns_of(columns),
            timestamp=convert.read_timestamp(timestamp),
            include_timestamp=True,
        )
        return convert.row_results(found)

    # ---- the row at or before ----

    def getRowOrBefore(self, tableName: Any, row: Any, family: Any) -> list[Any]:
        """The cells of `family` in the last row at or before `row` (HBase: a reverse scan of one row)."""
        found = self.gateway.table(tableName).scan(
            row_start=convert.need(row, "row"),
            columns=[convert.need(family, "family")],
            include_timestamp=True,
            sorted_columns=True,
            batch_size=1,
            limit=1,
            reverse=True,
        )
        try:
            for _key, data in found:
                return convert.cells(data.values())
            return []
        finally:
            found.close()  # type: ignore[attr-defined]  # a generator: closes the server's scanner


__all__ = ["ReadCalls"]
