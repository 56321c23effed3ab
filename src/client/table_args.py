"""Table's arguments and results in happybase's shapes: the checks happybase makes (same exception types and
messages), column names, and rows as dicts.

Row keys, columns and values may be bytes or str (str is encoded as UTF-8, as happybase's Thrift layer
does); what comes back is always bytes. A column is b"family" (every qualifier of the family) or
b"family:qualifier"; a family name never contains ':', a qualifier may.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import Any

from client.operations import Cell, Kind, Mutation, TimeRange

#: A put's `data`: column -> value (bytes or str each; a Mapping, so that dict[bytes, bytes] is one).
Data = Mapping[Any, bytes | str]

#: happybase's `cells(versions=None)`: every version (Thrift's i32 maximum).
ALL_VERSIONS = 2**31 - 1
#: The largest timestamp the wire carries (uint64); a put or delete timestamp must fit.
MAX_TIMESTAMP = 2**63 - 1


def as_bytes(value: object, what: str) -> bytes:
    """`value` as bytes: bytes as they are, str as UTF-8; anything else is a TypeError naming `what`."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be a text or byte string, got {type(value).__name__}")


def check_columns(columns: object) -> list[bytes]:
    """happybase's check: None (every family) or a tuple or list of columns."""
    if columns is None:
        return []
    if not isinstance(columns, tuple | list):
        raise TypeError("'columns' must be a tuple or list")
    return [as_bytes(c, "a column") for c in columns]


def check_timestamp(timestamp: object, *, optional: bool = False) -> int | None:
    """An integer timestamp (ms since the epoch), or None when `optional`; happybase's TypeError else."""
    if timestamp is None:
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, Integral):
        raise TypeError(
            "'timestamp' must be an integer or None" if optional else "'timestamp' must be an integer"
        )
    value = int(timestamp)
    if not 0 <= value <= MAX_TIMESTAMP:
        raise ValueError(
            f"'timestamp' must be 0..{MAX_TIMESTAMP} (milliseconds since the epoch), got {value}"
        )
    return value


def read_range(timestamp: int | None) -> TimeRange | None:
    """happybase's read with a timestamp: versions strictly older than it (HBase's Thrift gateway)."""
    return None if timestamp is None else TimeRange(0, timestamp)


def split_column(column: bytes) -> tuple[bytes, bytes | None]:
    """(family, qualifier) of b"family:qualifier"; (family, None) of b"family"."""
    family, sep, qualifier = column.partition(b":")
    return family, (qualifier if sep else None)


def put_mutations(data: object, timestamp: int | None) -> list[Mutation]:
    """A put's mutations from happybase's `data`: a dict of column -> value."""
    if not isinstance(data, Mapping):
        raise TypeError(f"'data' must be a dict of column -> value, got {type(data).__name__}")
    out = []
    for column, value in data.items():
        family, qualifier = split_column(as_bytes(column, "a column"))
        out.append(Mutation(Kind.PUT, family, qualifier or b"", as_bytes(value, "a value"), timestamp))
    return out


def delete_mutations(columns: object, timestamp: int | None) -> list[Mutation]:
    """A delete's mutations: the whole row (columns None), else each family or column given; every version
    at or below `timestamp` (None: now)."""
    if columns is None:
        return [Mutation(Kind.DELETE_ROW, timestamp=timestamp)]
    if not isinstance(columns, Iterable) or isinstance(columns, str | bytes):
        raise TypeError("'columns' must be a tuple or list")
    out = []
    for column in columns:
        family, qualifier = split_column(as_bytes(column, "a column"))
        if qualifier is None:
            out.append(Mutation(Kind.DELETE_FAMILY, family, timestamp=timestamp))
        else:
            out.append(Mutation(Kind.DELETE_COLUMN, family, qualifier, timestamp=timestamp))
    return out


def make_row(
    cells: Iterable[Cell], include_timestamp: bool, sorted_columns: bool = False
) -> dict[bytes, Any]:
    """happybase's row dict: column -> value (or (value, timestamp)), the newest version of each column."""
    row: dict[bytes, Any] = {}
    for cell in cells:
        column = cell.column
        if column not in row:  # newest first: the first version of a column is the one returned
            row[column] = (cell.value, cell.timestamp) if include_timestamp else cell.value
    if sorted_columns:
        return dict(sorted(row.items()))
    return row


def bytes_increment(value: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `value` (None: there is none, all 0xff)."""
    stripped = value.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def check_positive(
    value: object, name: str, *, optional: bool = False, message: str | None = None
) -> int | None:
    """happybase's `< 1` checks: a ValueError "'name' must be >= 1" (TypeError for a non-integer)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"'{name}' must be an integer")
    if int(value) < 1:
        raise ValueError(message or f"'{name}' must be >= 1")
    return int(value)


def unique(rows: Sequence[bytes]) -> list[bytes]:
    return list(dict.fromkeys(rows))


__all__ = [
    "ALL_VERSIONS",
    "Data",
    "as_bytes",
    "bytes_increment",
    "check_columns",
    "check_positive",
    "check_timestamp",
    "delete_mutations",
    "make_row",
    "put_mutations",
    "read_range",
    "split_column",
    "unique",
]
