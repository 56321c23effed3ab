"""The filters that take no other filter: row-key, column, paging, timestamp, compare and value filters.

Each follows its HBase class (named in its docstring); regionserver.data.filters says what they mean to a
client. `NAME` is the name the language registers; `str()` prints the filter back in the language.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from regionserver.data.cells import Cell
from regionserver.data.comparators import Comparator, CompareOp
from regionserver.data.filters_base import Filter, ReturnCode

_INT32_BYTES = 4


def _sign(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


@dataclasses.dataclass(eq=True)
class KeyOnlyFilter(Filter):
    """Every cell, with its value emptied, or replaced by its length as a 4-byte big-endian int."""

    NAME: ClassVar[str] = "KeyOnlyFilter"
    len_as_value: bool = False

    def transform_cell(self, cell: Cell) -> Cell:
        value = len(cell.value).to_bytes(_INT32_BYTES, "big") if self.len_as_value else b""
        return cell._replace(value=value)


@dataclasses.dataclass(eq=True)
class FirstKeyOnlyFilter(Filter):
    """The first cell of each row only."""

    NAME: ClassVar[str] = "FirstKeyOnlyFilter"
    _found: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self._found = False

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if self._found:
            return ReturnCode.NEXT_ROW
        self._found = True
        return ReturnCode.INCLUDE


@dataclasses.dataclass(eq=True)
class _RowKeyFilter(Filter):
    """A filter that judges rows by their key alone (`excludes`): the row's cells follow the verdict.
    `_done` is set by filters that also end the scan."""

    _excluded: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)
    _done: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def excludes(self, row: bytes) -> bool:
        raise NotImplementedError

    def reset(self) -> None:
        self._excluded = False

    def filter_row_key(self, row: bytes) -> bool:
        self._excluded = self.excludes(row)
        return self._excluded

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return ReturnCode.NEXT_ROW if self._excluded else ReturnCode.INCLUDE

    def filter_row(self) -> bool:
        return self._excluded  # in an OR list, the row key is not the last word

    def filter_all_remaining(self) -> bool:
        return self._done


@dataclasses.dataclass(eq=True)
class PrefixFilter(_RowKeyFilter):
    """Rows whose key starts with `prefix`; the scan ends once the keys have passed it."""

    NAME: ClassVar[str] = "PrefixFilter"
    prefix: bytes

    def excludes(self, row: bytes) -> bool:
        sign = _sign(row[: len(self.prefix)], self.prefix)
        self._done |= (sign < 0) if self.reversed else (sign > 0)
        return sign != 0


@dataclasses.dataclass(eq=True)
class InclusiveStopFilter(_RowKeyFilter):
    """Rows up to and including `stop_row`; then the scan ends."""

    NAME: ClassVar[str] = "InclusiveStopFilter"
    stop_row: bytes

    def excludes(self, row: bytes) -> bool:
        sign = _sign(row, self.stop_row)
        self._done = (sign < 0) if self.reversed else (sign > 0)
        return self._done


@dataclasses.dataclass(eq=True)
class ColumnPrefixFilter(Filter):
    """Cells whose qualifier starts with `prefix` (the family is not looked at)."""

    NAME: ClassVar[str] = "ColumnPrefixFilter"
    prefix: bytes

    def filter_cell(self, cell: Cell) -> ReturnCode:
        sign = _sign(cell.qualifier[: len(self.prefix)], self.prefix)
        if sign == 0:
            return ReturnCode.INCLUDE
        # Qualifiers are sorted: past the prefix, nothing more of this family can match.
        return ReturnCode.SKIP if sign < 0 else ReturnCode.NEXT_ROW


@dataclasses.dataclass(eq=True)
class MultipleColumnPrefixFilter(Filter):
    """Cells whose qualifier starts with any of `prefixes` (kept sorted; no prefixes: every cell)."""

    NAME: ClassVar[str] = "MultipleColumnPrefixFilter"
    prefixes: tuple[bytes, ...]

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if not self.prefixes or any(cell.qualifier.startswith(p) for p in self.prefixes):
            return ReturnCode.INCLUDE
        return ReturnCode.NEXT_ROW if cell.qualifier > self.prefixes[-1] else ReturnCode.SKIP


@dataclasses.dataclass(eq=True)
class ColumnRangeFilter(Filter):
    """Cells whose qualifier lies between `min_column` and `max_column` (None: unbounded on that side)."""

    NAME: ClassVar[str] = "ColumnRangeFilter"
    min_column: bytes | None
    min_inclusive: bool
    max_column: bytes | None
    max_inclusive: bool

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if self.min_column is not None:
            low = _sign(cell.qualifier, self.min_column)
            if low < 0:
                return ReturnCode.SKIP
            if low == 0 and not self.min_inclusive:
                return ReturnCode.NEXT_COL
        if self.max_column is None:
            return ReturnCode.INCLUDE
        high = _sign(cell.qualifier, self.max_column)
        if high < 0 or (high == 0 and self.max_inclusive):
            return ReturnCode.INCLUDE
        return ReturnCode.NEXT_ROW


@dataclasses.dataclass(eq=True)
class ColumnCountGetFilter(Filter):
    """The first `limit` columns of a row (one version each); the scan ends in the first row that has
    more, after that row's first `limit` columns (HBase: "unsuitable for Scan", meant for Get)."""

    NAME: ClassVar[str] = "ColumnCountGetFilter"
    limit: int
    _count: int = dataclasses.field(default=0, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self._count = 0

    def filter_cell(self, cell: Cell) -> ReturnCode:
        self._count += 1
        return ReturnCode.NEXT_COL if self.filter_all_remaining() else ReturnCode.INCLUDE_AND_NEXT_COL

    def filter_all_remaining(self) -> bool:
        return self._count > self.limit


@dataclasses.dataclass(eq=True)
class ColumnPaginationFilter(Filter):
    """Per row, skip `offset` columns, then return the next `limit` columns, one version each."""

    NAME: ClassVar[str] = "ColumnPaginationFilter"
    limit: int
    offset: int
    _count: int = dataclasses.field(default=0, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self._count = 0

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if self._count >= self.offset + self.limit:
            return ReturnCode.NEXT_ROW
        code = ReturnCode.NEXT_COL if self._count < self.offset else ReturnCode.INCLUDE_AND_NEXT_COL
        self._count += 1
        return code


@dataclasses.dataclass(eq=True)
class PageFilter(Filter):
    """At most `page_size` rows per call of `apply` (per region scan: HBase counts per RegionServer
    scanner); the row count is of rows that reach this filter's `filter_row`."""

    NAME: ClassVar[str] = "PageFilter"
    page_size: int
    _accepted: int = dataclasses.field(default=0, init=False, compare=False, repr=False)

    def filter_row_key(self, row: bytes) -> bool:
        return self.filter_all_remaining()

    def filter_row(self) -> bool:
        self._accepted += 1
        return self._accepted > self.page_size

    def filter_all_remaining(self) -> bool:
        return self._accepted >= self.page_size


@dataclasses.dataclass(eq=True)
class TimestampsFilter(Filter):
    """Cells whose timestamp is one of `timestamps` (kept sorted, without duplicates)."""

    NAME: ClassVar[str] = "TimestampsFilter"
    timestamps: tuple[int, ...]

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if cell.timestamp in self.timestamps:
            return ReturnCode.INCLUDE
        if not self.timestamps or cell.timestamp < self.timestamps[0]:
            return ReturnCode.NEXT_COL  # versions come newest first: no older one can be listed
        return ReturnCode.SKIP


@dataclasses.dataclass(eq=True)
class CompareFilter(Filter):
    """The four filters `Name(op, 'comparator')`: keep what satisfies `FIELD op VALUE`."""

    op: CompareOp
    comparator: Comparator

    def passes(self, field: bytes) -> bool:
        return self.op.holds(self.comparator.compare(field))


@dataclasses.dataclass(eq=True)
class RowFilter(_RowKeyFilter, CompareFilter):
    """Whole rows, by their key."""

    NAME: ClassVar[str] = "RowFilter"

    def excludes(self, row: bytes) -> bool:
        return not self.passes(row)


@dataclasses.dataclass(eq=True)
class FamilyFilter(CompareFilter):
    """Cells, by their family."""

    NAME: ClassVar[str] = "FamilyFilter"

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return ReturnCode.INCLUDE if self.passes(cell.family) else ReturnCode.NEXT_ROW


@dataclasses.dataclass(eq=True)
class QualifierFilter(CompareFilter):
    """Cells, by their qualifier."""

    NAME: ClassVar[str] = "QualifierFilter"

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return ReturnCode.INCLUDE if self.passes(cell.qualifier) else ReturnCode.SKIP


@dataclasses.dataclass(eq=True)
class ValueFilter(CompareFilter):
    """Cells, by their value (only the matching cells, not their row)."""

    NAME: ClassVar[str] = "ValueFilter"

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return ReturnCode.INCLUDE if self.passes(cell.value) else ReturnCode.SKIP


@dataclasses.dataclass(eq=True)
class SingleColumnValueFilter(Filter):
    """Whole rows, by the value of one column `family:qualifier`: kept if the value passes. A row without
    the column is kept unless `filter_if_missing`; with `latest_version_only` only the newest version
    the scan returns is tested, otherwise any version that passes keeps the row."""

    NAME: ClassVar[str] = "SingleColumnValueFilter"
    family: bytes
    qualifier: bytes
    op: CompareOp
    comparator: Comparator
    filter_if_missing: bool = False
    latest_version_only: bool = True
    _found: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)
    _matched: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self._found = self._matched = False

    def filter_cell(self, cell: Cell) -> ReturnCode:
        if self._matched:
            return ReturnCode.INCLUDE
        if self.latest_version_only and self._found:
            return ReturnCode.NEXT_ROW  # the newest version failed: the row is lost anyway
        if cell.family != self.family or cell.qualifier != self.qualifier:
            return ReturnCode.INCLUDE
        self._found = True
        if self.op.holds(self.comparator.compare(cell.value)):
            self._matched = True
            return ReturnCode.INCLUDE
        return ReturnCode.NEXT_ROW if self.latest_version_only else ReturnCode.INCLUDE

    def filter_row(self) -> bool:
        return not self._matched if self._found else self.filter_if_missing


@dataclasses.dataclass(eq=True)
class SingleColumnValueExcludeFilter(SingleColumnValueFilter):
    """SingleColumnValueFilter, with the tested column removed from the rows it returns."""

    NAME: ClassVar[str] = "SingleColumnValueExcludeFilter"

    def filter_row_cells(self, cells: list[Cell]) -> list[Cell]:
        return [c for c in cells if c.family != self.family or c.qualifier != self.qualifier]
