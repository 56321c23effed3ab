"""Thrift values <-> the SDK's: table names, column descriptors, rows, cells, regions, mutations.

Thrift's Text and Bytes are both `binary` on the wire, so everything arrives as bytes (or None when a
client left a field out or sent it with the wrong type: Thrift skips such a field). `need()` turns a
missing argument into a BadArgument naming it, so no None travels into the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from client.operations import Kind, Mutation, RowChange
from client.table_args import split_column
from client.types import RegionLocation, TableDescription
from gateway.thrift.errors import BadArgument
from gateway.thrift.idl import ColumnDescriptor, TCell, TColumn, TRegionInfo, TRowResult
from meta.types import ColumnFamily

#: HBase's "forever" time to live (HConstants.FOREVER, Integer.MAX_VALUE seconds).
FOREVER = 2**31 - 1
#: HBase's LATEST_TIMESTAMP (Long.MAX_VALUE): a read "as of now".
LATEST_TIMESTAMP = 2**63 - 1


def need(value: Any, what: str, kind: type | tuple[type, ...] = bytes) -> Any:
    """`value` if it is of `kind`; BadArgument naming `what` if it is missing or of another type."""
    if value is None:
        raise BadArgument(f"{what} is missing (a Thrift field left out or sent with another type)")
    if isinstance(value, bool) and kind is int:
        raise BadArgument(f"{what} must be an integer, got a bool")
    if not isinstance(value, kind):
        raise BadArgument(f"{what} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def table_name(value: Any) -> str:
    raw = need(value, "tableName")
    try:
        return str(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadArgument(f"a table name is UTF-8 text, got {raw!r}") from None


def columns_of(value: Any) -> list[bytes] | None:
    """A list<Text> of columns: None when absent or empty (every column, as HBase reads it)."""
    if not value:
        return None
    if not isinstance(value, list):
        raise BadArgument(f"columns must be a list of column names, got {type(value).__name__}")
    return [need(c, "a column") for c in value]


def rows_of(value: Any) -> list[bytes]:
    if value is None:
        raise BadArgument("rows is missing")
    if not isinstance(value, list):
        raise BadArgument(f"rows must be a list of row keys, got {type(value).__name__}")
    return [need(r, "a row key") for r in value]


def read_timestamp(value: Any) -> int | None:
    """A read's timestamp (versions strictly older than it); LATEST_TIMESTAMP means every version."""
    ts = need(value, "timestamp", int)
    if ts < 0:
        raise BadArgument(f"timestamp must be 0..{LATEST_TIMESTAMP} (milliseconds since the epoch), got {ts}")
    return None if ts == LATEST_TIMESTAMP else ts


def write_timestamp(value: Any) -> int:
    ts = need(value, "timestamp", int)
    if ts < 0:
        raise BadArgument(f"timestamp must be 0..{LATEST_TIMESTAMP} (milliseconds since the epoch), got {ts}")
    return int(ts)


# ---- results ----


def cells(values: Iterable[tuple[bytes, int]]) -> list[Any]:
    """[(value, timestamp)] -> list<TCell>."""
    return [TCell(value=v, timestamp=ts) for v, ts in values]


def row_result(row: bytes, columns: Mapping[bytes, tuple[bytes, int]], sort_columns: bool = False) -> Any:
    """One TRowResult: `columns` as a map, or (sort_columns) as sortedColumns in column order."""
    if sort_columns:
        ordered = [
            TColumn(columnName=c, cell=TCell(value=v, timestamp=ts)) for c, (v, ts) in sorted(columns.items())
        ]
        return TRowResult(row=row, sortedColumns=ordered)
    return TRowResult(row=row, columns={c: TCell(value=v, timestamp=ts) for c, (v, ts) in columns.items()})


def row_results(rows: Iterable[tuple[bytes, Mapping[bytes, tuple[bytes, int]]]]) -> list[Any]:
    return [row_result(key, data) for key, data in rows if data]


def column_descriptors(description: TableDescription) -> dict[bytes, Any]:
    """getColumnDescriptors: family "name:" -> ColumnDescriptor, with HBase's values for the settings
    Regent does not have (compression NONE, no bloom filter, block cache on)."""
    out = {}
    for family in description.families:
        name = family.name.encode() + b":"
        out[name] = ColumnDescriptor(
            name=name,
            maxVersions=family.max_versions,
            compression="NONE",
            inMemory=False,
            bloomFilterType="NONE",
            bloomFilterVectorSize=0,
            bloomFilterNbHashes=0,
            blockCacheEnabled=True,
            timeToLive=family.ttl if family.ttl else FOREVER,
        )
    return out


def family_of(descriptor: Any) -> ColumnFamily:
    """createTable's ColumnDescriptor -> ColumnFamily: name (a trailing ':' dropped), maxVersions and
    timeToLive (-1, 0 or FOREVER: forever). The other fields are storage tuning Regent does not have and
    are accepted and ignored (docs/thrift.md)."""
    if descriptor is None or not hasattr(descriptor, "maxVersions"):
        raise BadArgument("a column family is a ColumnDescriptor")
    raw = need(descriptor.name, "ColumnDescriptor.name")
    name = raw[:-1] if raw.endswith(b":") else raw
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        raise BadArgument(f"a column family name is UTF-8 text, got {raw!r}") from None
    versions = need(descriptor.maxVersions, f"maxVersions of family {text!r}", int)
    ttl = descriptor.timeToLive
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        raise BadArgument(f"timeToLive of family {text!r} must be an integer, got {ttl!r}")
    return ColumnFamily(text, max_versions=versions, ttl=None if ttl in (None, -1, 0, FOREVER) else ttl)


def region_info(table: str, location: RegionLocation) -> Any:
    """A region as TRegionInfo: its name is HBase's "table,startKey,regionId"."""
    info = location.info
    return TRegionInfo(
        startKey=info.start_key,
        endKey=info.end_key,
        id=info.region_id,
        name=f"{table},".encode() + info.start_key + f",{info.region_id}".encode(),
        version=1,
        serverName=location.server.host.encode() if location.server else b"",
        port=location.server.port if location.server else 0,
    )


# ---- mutations ----


def row_change(row: bytes, mutations: Any, timestamp: int | None) -> RowChange:
    """A row's Thrift mutations as one RowChange: its deletes first, then its puts, as HBase's handler
    applies them (a Delete, then a Put). A delete of "family" removes the family, of "family:qualifier"
    every version of that column (at or below `timestamp` when given).

    Without a timestamp the put comes after the delete (HBase gives it a later one), so a column the call
    deletes and puts is kept. With one (mutateRowTs, mutateRowsTs: every mutation at that timestamp),
    HBase's delete marker masks the put of the same timestamp, so such a put is left out here: Regent's
    deletes remove versions rather than leave markers (docs/decisions.md), and this keeps the answer
    HBase's."""
    if not isinstance(mutations, list):
        raise BadArgument(f"mutations must be a list of Mutation, got {type(mutations).__name__}")
    deletes: list[Mutation] = []
    puts: list[Mutation] = []
    for m in mutations:
        if m is None or not hasattr(m, "isDelete"):
            raise BadArgument("a mutation must be a Mutation")
        column = need(m.column, "Mutation.column")
        family, qualifier = split_column(column)
        if m.isDelete:
            if qualifier is None:
                deletes.append(Mutation(Kind.DELETE_FAMILY, family, timestamp=timestamp))
            else:
                deletes.append(Mutation(Kind.DELETE_COLUMN, family, qualifier, timestamp=timestamp))
        else:
            value = b"" if m.value is None else need(m.value, "Mutation.value")
            puts.append(Mutation(Kind.PUT, family, qualifier or b"", value, timestamp))
    if timestamp is not None and deletes:
        puts = [p for p in puts if not _masked(p, deletes)]
    return RowChange(row, tuple(deletes + puts))


def _masked(put: Mutation, deletes: list[Mutation]) -> bool:
    for d in deletes:
        if d.family == put.family and (d.kind is Kind.DELETE_FAMILY or d.qualifier == put.qualifier):
            return True
    return False


def batch_changes(batches: Any, timestamp: int | None) -> list[RowChange]:
    """mutateRows' list<BatchMutation> -> one RowChange per row (a row given twice: both, in order)."""
    if not isinstance(batches, list):
        raise BadArgument(f"rowBatches must be a list of BatchMutation, got {type(batches).__name__}")
    changes: dict[bytes, list[Mutation]] = {}
    for batch in batches:
        if batch is None or not hasattr(batch, "mutations"):
            raise BadArgument("a row batch must be a BatchMutation")
        row = need(batch.row, "BatchMutation.row")
        change = row_change(row, batch.mutations or [], timestamp)
        changes.setdefault(row, []).extend(change.mutations)
    return [RowChange(row, tuple(ms)) for row, ms in changes.items() if ms]


def split_region_name(name: bytes) -> tuple[str, bytes]:
    """getRegionInfo's argument, a meta row "table,row,..." -> (table, row): the table is up to the first
    comma (a table name has none), the row up to the last one (a region id or "99999999999999")."""
    table, sep, rest = name.partition(b",")
    if not sep:
        raise BadArgument(f"a region row is 'table,row,...', got {name!r}")
    row, sep2, _suffix = rest.rpartition(b",")
    return table.decode("utf-8", "replace"), (row if sep2 else rest)


def sequence(value: Sequence[Any] | None) -> list[Any]:
    return list(value or [])


__all__ = [
    "FOREVER",
    "LATEST_TIMESTAMP",
    "batch_changes",
    "cells",
    "column_descriptors",
    "columns_of",
    "family_of",
    "need",
    "read_timestamp",
    "region_info",
    "row_change",
    "row_result",
    "row_results",
    "rows_of",
    "split_region_name",
    "table_name",
    "write_timestamp",
]
