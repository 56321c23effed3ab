"""What callers ask of a region store: writes (row mutations, increments, check-and-puts) and reads
(gets, scans), as plain frozen dataclasses. The RPC layer converts protobuf into these.

A timestamp of None means "now" (the store's clock, read once per commit), as HBase's LATEST_TIMESTAMP.
Deletes follow HBase's four kinds; a delete with a timestamp removes only versions at or below it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from regionserver.data.cells import Cell
from regionserver.data.keys import TS_MAX


@dataclass(frozen=True, slots=True)
class Put:
    family: bytes
    qualifier: bytes
    value: bytes
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteRow:
    """Every version of every column of the row at or below `timestamp`."""

    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteFamily:
    """Every version of every column of `family` in the row at or below `timestamp`."""

    family: bytes
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteColumn:
    """The versions of one column at or below `timestamp` (HBase's Delete.addColumns)."""

    family: bytes
    qualifier: bytes
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteVersion:
    """Exactly the version at `timestamp`, or the newest version when None (HBase's Delete.addColumn)."""

    family: bytes
    qualifier: bytes
    timestamp: int | None = None


Operation = Put | DeleteRow | DeleteFamily | DeleteColumn | DeleteVersion


@dataclass(frozen=True, slots=True)
class RowMutation:
    """Puts and deletes of one row, applied in order, all or nothing."""

    row: bytes
    operations: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class Increment:
    """Add `amount` to each (family, qualifier) counter of the row, atomically; absent counters are 0."""

    row: bytes
    amounts: tuple[tuple[bytes, bytes, int], ...]
    #: (nonce group, nonce) naming it across its attempts: applied once (regionserver.data.nonces)
    nonce: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class CheckAndPut:
    """Apply `mutation` if the newest value of (family, qualifier) is `expected` (None: no value)."""

    row: bytes
    family: bytes
    qualifier: bytes
    expected: bytes | None
    mutation: RowMutation


Write = RowMutation | Increment | CheckAndPut
#: What a write answers: None for a row mutation, the new counter values for an increment, whether a
#: check-and-put applied, or the RowError that refused the row (nothing of it written).
Counters = dict[tuple[bytes, bytes], int]
Outcome = None | bool | Counters | Exception


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Timestamps in [min, max): HBase's TimeRange."""

    min: int = 0
    max: int = TS_MAX + 1

    def __contains__(self, timestamp: int) -> bool:
        return self.min <= timestamp < self.max


ALL_TIME = TimeRange()

#: A column selection: a family (all its qualifiers) or one (family, qualifier) column.
Column = bytes | tuple[bytes, bytes]
Row = tuple[bytes, list[Cell]]


@dataclass(frozen=True, slots=True)
class Get:
    row: bytes
    columns: tuple[Column, ...] = ()  # () means every family of the table
    max_versions: int = 1
    time_range: TimeRange = ALL_TIME

    def __post_init__(self) -> None:
        _check_read(self.max_versions)


def _check_read(max_versions: int) -> None:
    if max_versions < 1:
        raise ValueError(f"a read returns at least 1 version per column, asked for {max_versions}")


class ScanFilter(Protocol):
    """The hook for server-side filters (regionserver.data.filters): a stream of rows in, a stream out.

    `apply` must be lazy, yielding each row it keeps before pulling the next one, so that the scanner
    can stop after a batch and resume later from the last row it read. Ending its output early ends the
    scan (as HBase's filterAllRemaining)."""

    def apply(self, rows: Iterator[Row]) -> Iterator[Row]: ...


@dataclass(frozen=True, slots=True)
class Scan:
    start_row: bytes = b""  # inclusive; for a reverse scan the highest row
    stop_row: bytes = b""  # exclusive; b"" means no bound
    prefix: bytes | None = None
    columns: tuple[Column, ...] = ()
    max_versions: int = 1
    time_range: TimeRange = ALL_TIME
    limit: int | None = None  # rows returned in all, over every batch
    reverse: bool = False
    filter: ScanFilter | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_read(self.max_versions)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"a scan's limit is at least 1 row (None for no limit), got {self.limit}")
