"""The filter contract (HBase's Filter, simplified) and `apply`, the one loop that runs a scan through it.

regionserver.data.filters documents what each filter does; this module is the machinery they share.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator
from typing import ClassVar, Self

from regionserver.data.cells import Cell
from regionserver.data.comparators import Comparator, CompareOp


class Reach(enum.IntEnum):
    """How far past the current cell a return code skips: nothing, the column's other versions, the row."""

    CELL = 0
    COLUMN = 1
    ROW = 2


class ReturnCode(enum.Enum):
    """What a filter says about one cell: whether to include it, and what the scan may skip after it.

    HBase's SEEK_NEXT_USING_HINT has no counterpart: the filters that return it in HBase return SKIP here,
    which gives the same results with less skipping. NEXT_ROW (and INCLUDE_AND_SEEK_NEXT_ROW) skip the rest
    of the row *in the current family*: in HBase each family is its own store, scanned by its own scanner,
    and a NEXT_ROW from the filter ends the row in that store only; the filter is asked again at the next
    family's first cell (and, keeping its state, usually says NEXT_ROW again).
    """

    INCLUDE = (True, Reach.CELL)
    INCLUDE_AND_NEXT_COL = (True, Reach.COLUMN)
    INCLUDE_AND_SEEK_NEXT_ROW = (True, Reach.ROW)
    SKIP = (False, Reach.CELL)
    NEXT_COL = (False, Reach.COLUMN)
    NEXT_ROW = (False, Reach.ROW)

    @property
    def include(self) -> bool:
        return self.value[0]

    @property
    def reach(self) -> Reach:
        return self.value[1]

    @classmethod
    def of(cls, include: bool, reach: Reach) -> ReturnCode:
        return cls((include, reach))

    def both(self, other: ReturnCode) -> ReturnCode:
        """The code of an AND of two filters: included only if both include, skipping as far as either.
        (This is HBase's FilterListWithAND.mergeReturnCode table, in two lines.)"""
        return ReturnCode.of(self.include and other.include, max(self.reach, other.reach))

    def either(self, other: ReturnCode) -> ReturnCode:
        """The code of an OR: included if either includes, skipping only as far as both would
        (HBase's FilterListWithOR.mergeReturnCode table)."""
        return ReturnCode.of(self.include or other.include, min(self.reach, other.reach))


@dataclasses.dataclass(eq=False)
class Filter:
    """A parsed filter: its arguments (compared by `==`, printed by `str()` in the filter language) and the
    per-scan state of HBase's Filter contract. `apply` works on a `fresh` copy, so one parsed filter can be
    shared by any number of scans. The defaults here are those of HBase's FilterBase: pass everything.

    Per row, `apply` calls: `reset()`; `filter_row_key(row)`; `filter_cell(cell)` for each cell in order
    (and `transform_cell` on each included one); `filter_row_cells(cells)`; `filter_row()` if cells remain.
    `filter_all_remaining()` is asked before each row and each cell: once true, the scan ends.
    """

    #: The name the language registers for the filter ("" for the abstract ones).
    NAME: ClassVar[str] = ""
    reversed: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def fresh(self, reversed: bool = False) -> Self:
        """A copy with the same arguments and a new scan's state, for a scan in the given direction."""
        copy = dataclasses.replace(self)
        copy.reversed = reversed
        return copy

    def reset(self) -> None:
        """Forget the state of the previous row (called before each row)."""

    def filter_row_key(self, row: bytes) -> bool:
        """True to exclude the whole row, from its key alone (its cells are not looked at)."""
        return False

    def filter_cell(self, cell: Cell) -> ReturnCode:
        return ReturnCode.INCLUDE

    def transform_cell(self, cell: Cell) -> Cell:
        """The cell as returned, once included (KeyOnlyFilter empties the value)."""
        return cell

    def filter_row_cells(self, cells: list[Cell]) -> list[Cell]:
        """The row's included cells, possibly changed as a whole (SingleColumnValueExcludeFilter)."""
        return cells

    def filter_row(self) -> bool:
        """True to exclude the row, once all its cells have been seen."""
        return False

    def filter_all_remaining(self) -> bool:
        """True once the scan should end (PageFilter, InclusiveStopFilter, WHILE, ...)."""
        return False

    def __str__(self) -> str:
        """The canonical string: `Name(arg, ...)`, every argument written out, in the declared order."""
        args = [getattr(self, f.name) for f in dataclasses.fields(self) if f.init]
        return f"{self.NAME}({', '.join(_argument(a) for a in args)})"


def _argument(value: object) -> str:
    """One argument (or a tuple of them, spread) in the language's notation."""
    if isinstance(value, tuple):
        return ", ".join(_argument(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | CompareOp):
        return str(value)
    if isinstance(value, Comparator):
        return quote(str(value).encode("utf-8", "surrogateescape"))
    if isinstance(value, bytes) or value is None:
        return quote(value or b"")  # None: ColumnRangeFilter's unbounded side, written ''
    raise TypeError(f"no notation for the argument {value!r}")


Row = tuple[bytes, list[Cell]]


def apply(filter: Filter | None, rows: Iterable[Row], *, reversed: bool = False) -> Iterator[Row]:
    """The rows of one region scan that pass `filter`, with their cells as the filter leaves them.

    `rows` are in scan order, each a row key with its cells in HBase's order (family, qualifier, newest
    first), already limited to the scan's columns, time range and versions, with deletes and ttl applied
    (see regionserver.data.filters). The filter's state lives in the returned iterator: a scanner keeps it
    across round trips, and a scan of several regions calls apply once per region, as HBase does.
    Stops reading `rows` as soon as the filter ends the scan.
    """
    if filter is None:
        yield from rows
        return
    f = filter.fresh(reversed)
    if f.filter_all_remaining():
        return
    for row, cells in rows:
        f.reset()
        if not f.filter_row_key(row):
            kept = f.filter_row_cells(_filter_cells(f, cells))
            if kept and not f.filter_row():
                yield row, kept
        if f.filter_all_remaining():
            return  # before reading another row: the store may stop its scan here


def _filter_cells(f: Filter, cells: list[Cell]) -> list[Cell]:
    """One row's cells through `filter_cell`, honouring how far each return code skips."""
    kept: list[Cell] = []
    skip_column: tuple[bytes, bytes] | None = None
    skip_family: bytes | None = None
    for cell in cells:
        if f.filter_all_remaining():
            break  # HBase's scan-query matcher ends the scan here; the row so far is still finished
        if cell.family == skip_family or (cell.family, cell.qualifier) == skip_column:
            continue
        code = f.filter_cell(cell)
        if code.include:
            kept.append(f.transform_cell(cell))
        if code.reach is Reach.COLUMN:
            skip_column = (cell.family, cell.qualifier)
        elif code.reach is Reach.ROW:
            skip_family = cell.family
    return kept


def quote(value: bytes) -> str:
    """`value` as a quoted argument of the language: in single quotes, each `'` doubled."""
    return "'" + value.decode("utf-8", "surrogateescape").replace("'", "''") + "'"
