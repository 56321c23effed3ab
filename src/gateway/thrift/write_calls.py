"""The Hbase service's writes: mutateRow*, mutateRows*, atomicIncrement, increment*, deleteAll*.

Every row's mutations travel as one RowChange (applied in order, all or nothing); mutateRows sends all its
rows in one batched call (one parallel RPC per RegionServer). A row the cluster refuses (an unknown family,
a cell too large, ...) fails the call with IOError naming every refused row; the other rows are written, as
with HBase's batched puts. `writeToWAL` and `attributes` are accepted and ignored: every write is durable
before it is acknowledged.
"""

from __future__ import annotations

from typing import Any

from client.errors import RowRefused, RowsFailed
from client.operations import RowChange
from gateway.thrift import convert
from gateway.thrift.calls import Calls
from gateway.thrift.errors import BadArgument, java_name

#: How many refused rows an error message quotes.
QUOTED_ROWS = 5


class WriteCalls(Calls):
    # ---- mutations ----

    def mutateRow(self, tableName: Any, row: Any, mutations: Any, attributes: Any = None) -> None:
        self._mutate(tableName, [convert.row_change(convert.need(row, "row"), mutations, None)])

    def mutateRowTs(
        self, tableName: Any, row: Any, mutations: Any, timestamp: Any, attributes: Any = None
    ) -> None:
        ts = convert.write_timestamp(timestamp)
        self._mutate(tableName, [convert.row_change(convert.need(row, "row"), mutations, ts)])

    def mutateRows(self, tableName: Any, rowBatches: Any, attributes: Any = None) -> None:
        self._mutate(tableName, convert.batch_changes(rowBatches, None))

    def mutateRowsTs(self, tableName: Any, rowBatches: Any, timestamp: Any, attributes: Any = None) -> None:
        self._mutate(tableName, convert.batch_changes(rowBatches, convert.write_timestamp(timestamp)))

    def _mutate(self, table: Any, changes: list[RowChange]) -> None:
        handle = self.gateway.table(table)
        changes = [c for c in changes if c.mutations]
        if not changes:
            return
        outcomes = handle.mutate(changes)
        failed = {c.row: e for c, e in zip(changes, outcomes, strict=True) if e is not None}
        if len(failed) == 1 and len(changes) == 1:
            raise next(iter(failed.values()))
        if failed:
            raise RowsFailed(_refused(handle.table_name, failed, len(changes)), failed=failed)

    # ---- deletes ----

    def deleteAll(self, tableName: Any, row: Any, column: Any, attributes: Any = None) -> None:
        self.gateway.table(tableName).delete(convert.need(row, "row"), [convert.need(column, "column")])

    def deleteAllTs(
        self, tableName: Any, row: Any, column: Any, timestamp: Any, attributes: Any = None
    ) -> None:
        self.gateway.table(tableName).delete(
            convert.need(row, "row"),
            [convert.need(column, "column")],
            timestamp=convert.write_timestamp(timestamp),
        )

    def deleteAllRow(self, tableName: Any, row: Any, attributes: Any = None) -> None:
        self.gateway.table(tableName).delete(convert.need(row, "row"))

    def deleteAllRowTs(self, tableName: Any, row: Any, timestamp: Any, attributes: Any = None) -> None:
        self.gateway.table(tableName).delete(
            convert.need(row, "row"), timestamp=convert.write_timestamp(timestamp)
        )

    # ---- counters ----

    def atomicIncrement(self, tableName: Any, row: Any, column: Any, value: Any) -> int:
        return self.gateway.table(tableName).counter_inc(
            convert.need(row, "row"), convert.need(column, "column"), convert.need(value, "value", int)
        )

    def increment(self, increment: Any) -> None:
        if increment is None or not hasattr(increment, "ammount"):
            raise BadArgument("increment must be a TIncrement")
        self.atomicIncrement(increment.table, increment.row, increment.column, increment.ammount)

    def incrementRows(self, increments: Any) -> None:
        if not isinstance(increments, list):
            raise BadArgument("increments must be a list of TIncrement")
        for item in increments:
            self.increment(item)


def _refused(table: str, failed: dict[bytes, RowRefused], total: int) -> str:
    quoted = "; ".join(f"{row!r}: {java_name(e)}: {e}" for row, e in list(failed.items())[:QUOTED_ROWS])
    more = f"; and {len(failed) - QUOTED_ROWS} more" if len(failed) > QUOTED_ROWS else ""
    return f"table {table!r}: {len(failed)} of {total} rows refused, nothing of them written: {quoted}{more}"


__all__ = ["WriteCalls"]
