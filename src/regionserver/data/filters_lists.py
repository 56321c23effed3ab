"""The filters that wrap others: AND and OR lists (HBase's FilterList) and the unary SKIP and WHILE."""

from __future__ import annotations

import dataclasses
import enum
from typing import Self

from regionserver.data.cells import Cell
from regionserver.data.filters_base import Filter, Reach, ReturnCode


class Operator(enum.Enum):
    """FilterList's MUST_PASS_ALL and MUST_PASS_ONE, by the keyword that writes them."""

    AND = "AND"
    OR = "OR"


@dataclasses.dataclass(eq=True)
class FilterList(Filter):
    """`A AND B AND ...` (every filter must pass) or `A OR B OR ...` (one must)."""

    operator: Operator
    filters: tuple[Filter, ...]
    #: OR only: per sub-filter, the last cell it was asked about and what it said. As HBase's
    #: FilterListWithOR, a filter is not asked again about a column (the rest of a row's family) it said
    #: NEXT_COL (NEXT_ROW) to, although the list goes on for the others.
    _previous: list[tuple[Cell, ReturnCode] | None] = dataclasses.field(
        default_factory=list, init=False, compare=False, repr=False
    )
    _included: list[bool] = dataclasses.field(default_factory=list, init=False, compare=False, repr=False)

    def fresh(self, reversed: bool = False) -> Self:
        copy = dataclasses.replace(self, filters=tuple(f.fresh(reversed) for f in self.filters))
        copy.reversed = reversed
        copy._previous = [None] * len(self.filters)
        copy._included = [False] * len(self.filters)
        return copy

    @property
    def _all(self) -> bool:
        return self.operator is Operator.AND

    def reset(self) -> None:
        for f in self.filters:
            f.reset()
        self._previous = [None] * len(self.filters)

    def filter_row_key(self, row: bytes) -> bool:
        # Every filter sees the key, even once the answer is known: PrefixFilter and others keep state.
        excluded = [f.filter_all_remaining() or f.filter_row_key(row) for f in self.filters]
        return any(excluded) if self._all else all(excluded)

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return self._filter_cell_and(cell) if self._all else self._filter_cell_or(cell)

    def _filter_cell_and(self, cell: Cell) -> ReturnCode:
        code = ReturnCode.INCLUDE
        for f in self.filters:
            if f.filter_all_remaining():
                return ReturnCode.NEXT_ROW
            code = code.both(f.filter_cell(cell))
        return code

    def _filter_cell_or(self, cell: Cell) -> ReturnCode:
        code: ReturnCode | None = None
        for i, f in enumerate(self.filters):
            self._included[i] = False
            if f.filter_all_remaining() or not _asks_again(self._previous[i], cell):
                continue
            local = f.filter_cell(cell)
            self._previous[i] = (cell, local)
            self._included[i] = local.include
            code = local if code is None else code.either(local)
        return ReturnCode.SKIP if code is None else code

    def transform_cell(self, cell: Cell) -> Cell:
        for i, f in enumerate(self.filters):
            if self._all or self._included[i]:
                cell = f.transform_cell(cell)
        return cell

    def filter_row_cells(self, cells: list[Cell]) -> list[Cell]:
        for f in self.filters:
            cells = f.filter_row_cells(cells)
        return cells

    def filter_row(self) -> bool:
        # Short-circuits as HBase's lists do (PageFilter counts only the rows that reach it).
        if self._all:
            return any(f.filter_row() for f in self.filters)
        return all(f.filter_row() for f in self.filters)

    def filter_all_remaining(self) -> bool:
        done = (f.filter_all_remaining() for f in self.filters)
        return any(done) if self._all else all(done)

    def __str__(self) -> str:
        return f" {self.operator.value} ".join(_operand(f) for f in self.filters)


def _asks_again(previous: tuple[Cell, ReturnCode] | None, cell: Cell) -> bool:
    if previous is None:
        return True
    before, code = previous
    if code.reach is Reach.COLUMN:
        return (before.row, before.family, before.qualifier) != (cell.row, cell.family, cell.qualifier)
    if code.reach is Reach.ROW:
        # Per family, as NEXT_ROW means here (HBase compares rows only, and so never asks a FamilyFilter
        # that refused one family about the next: docs/decisions.md).
        return (before.row, before.family) != (cell.row, cell.family)
    return True


def _operand(f: Filter) -> str:
    """A filter as the operand of AND, OR, SKIP or WHILE: lists in parentheses, so that they print back
    as the same tree (the parser flattens only runs of one operator that are not parenthesized)."""
    return f"({f})" if isinstance(f, FilterList) else str(f)


@dataclasses.dataclass(eq=True)
class _Wrapper(Filter):
    filter: Filter

    def fresh(self, reversed: bool = False) -> Self:
        copy = dataclasses.replace(self, filter=self.filter.fresh(reversed))
        copy.reversed = reversed
        return copy

    def transform_cell(self, cell: Cell) -> Cell:
        return self.filter.transform_cell(cell)

    def filter_row_cells(self, cells: list[Cell]) -> list[Cell]:
        return self.filter.filter_row_cells(cells)

    def __str__(self) -> str:
        return f"{self.NAME} {_operand(self.filter)}"


@dataclasses.dataclass(eq=True)
class SkipFilter(_Wrapper):
    """`SKIP F`: the whole row is dropped if F does not plainly INCLUDE every cell it is asked about."""

    NAME = "SKIP"
    _rejected: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self.filter.reset()
        self._rejected = False

    def filter_cell(self, cell: Cell) -> ReturnCode:
        code = self.filter.filter_cell(cell)
        self._rejected |= code is not ReturnCode.INCLUDE
        return code

    def filter_row(self) -> bool:
        return self._rejected

    def filter_all_remaining(self) -> bool:
        return self.filter.filter_all_remaining()


@dataclasses.dataclass(eq=True)
class WhileMatchFilter(_Wrapper):
    """`WHILE F`: rows and cells while F accepts them; the first rejection (a row key F excludes, a cell it
    does not plainly INCLUDE, a row it drops) ends the scan. The row in which a cell is rejected keeps the
    cells accepted before it."""

    NAME = "WHILE"
    _done: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def reset(self) -> None:
        self.filter.reset()

    def filter_row_key(self, row: bytes) -> bool:
        excluded = self.filter.filter_row_key(row)
        self._done |= excluded
        return excluded

    def filter_cell(self, cell: Cell) -> ReturnCode:
        code = self.filter.filter_cell(cell)
        self._done |= code is not ReturnCode.INCLUDE
        return code

    def filter_row(self) -> bool:
        excluded = self.filter.filter_row()
        self._done |= excluded
        return excluded

    def filter_all_remaining(self) -> bool:
        return self._done or self.filter.filter_all_remaining()
