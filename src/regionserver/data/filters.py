"""Server-side filters: HBase's filter string language, parsed once, evaluated over a region scan's rows.

The public face of the filter modules (filters_parse, filters_base, filters_leaf, filters_lists,
comparators, errors); the store and the gateways import from here only. The module does no I/O.

Use::

    f = parse_filter("PrefixFilter('user') AND ValueFilter(=, 'substring:admin')")   # FilterSyntaxError
    for row, cells in apply(f, rows_of_one_region_scan, reversed=False):
        ...

A parsed filter is a description (compared with `==`, printed back in the language by `str()`); `apply`
works on a fresh copy of it, so one parsed filter may be shared by any number of scans and threads.

What the store must do before calling `apply`
---------------------------------------------
`rows` is the region scan as the client would see it without a filter, in scan order (reversed scans:
rows in descending order, and pass `reversed=True`, which PrefixFilter and InclusiveStopFilter need):

1. deletes applied (no deleted cell and no delete marker reaches a filter), ttl expired cells dropped;
2. only the scan's requested families/columns, only versions in the scan's time range, and at most the
   scan's `max_versions` newest versions of each column (HBase 2 counts versions before the filter: a
   filter cannot bring back a version the version limit cut off);
3. each row's cells in HBase's order, family, qualifier, newest first (`Cell.sort_key`), and whole rows:
   no row split across two items (batching within a row is the caller's job, after `apply`);
4. start and stop rows applied; rows with no cells left out.

One call of `apply` is one region's scanner: keep the iterator across the client's round trips (the
filter's state, e.g. PageFilter's count, lives in it), and call it afresh for the next region.

Per row, the evaluation is HBase's RegionScanner's: stop if `filter_all_remaining()`; `reset()`; drop the
row if `filter_row_key(row)`; `filter_cell` on each cell (stopping the scan after this row if
`filter_all_remaining()` becomes true between cells); `filter_row_cells`; drop the row if it has no cells
left or `filter_row()`. Return codes (ReturnCode) that skip say how far: the column's other versions
(NEXT_COL) or the rest of the row *in this family* (NEXT_ROW: HBase scans each family's store separately).

The filters (names exact and case-sensitive; FILTER_LANGUAGE.md §5)
-------------------------------------------------------------------
- KeyOnlyFilter([lenAsValue]): every cell, value empty (or its length, as a 4-byte big-endian int).
- FirstKeyOnlyFilter(): the first cell of each row.
- PrefixFilter('p'): rows whose key starts with p; the scan ends once keys are past p.
- ColumnPrefixFilter('p'), MultipleColumnPrefixFilter('p', ...): cells whose *qualifier* starts with p
  (with any of them; duplicates are refused; none at all passes every cell).
- ColumnRangeFilter('min', minInclusive, 'max', maxInclusive): cells whose qualifier is in the range;
  '' leaves that side unbounded.
- ColumnCountGetFilter(n): the first n columns of a row; in the first row with more, the scan *ends* after
  that row's first n (HBase calls it unsuitable for scans; it is meant for gets).
- ColumnPaginationFilter(limit, offset): per row, skip `offset` columns, return the next `limit` (one
  version each: the first version the scan returns).
- PageFilter(n): at most n rows *per region scan* (per call of `apply`), as HBase counts per RegionServer
  scanner: a scan across regions may return up to n rows from each; the client trims if it needs exactly
  n. It counts the rows that reach it: in `A AND PageFilter(n)`, rows A dropped by its `filter_row` are not
  counted, in `PageFilter(n) AND A` they are (HBase's lists ask their filters in order, stopping early).
- InclusiveStopFilter('r'): rows up to and including r; then the scan ends.
- TimestampsFilter(t, ...): cells whose timestamp is listed.
- RowFilter, FamilyFilter, QualifierFilter, ValueFilter(op, 'comparator'): rows (by key) or cells (by
  family, qualifier, value) for which `FIELD op VALUE` holds; comparators in regionserver.data.comparators.
- SingleColumnValueFilter('f', 'q', op, 'cmp'[, filterIfMissing, latestVersionOnly]): whole rows, kept when
  the value of f:q passes. The defaults are filterIfMissing=false (a row without f:q is *kept*) and
  latestVersionOnly=true (only the newest version the scan returns is tested; false: any version passing
  keeps the row). The column is tested as the scan returns it: if the scan's columns leave f:q out, every
  row is "missing" it. SingleColumnValueExcludeFilter: the same, with f:q removed from the rows returned.
- `A AND B` (every filter passes: a cell is included only if all include it; a row is dropped if any drops
  it), `A OR B` (a cell included by any is included, transformed by those that included it; a row is dropped
  only if all drop it); AND binds tighter than OR, runs of one operator make one list.
- `SKIP F`: drops the whole row as soon as F does anything but plainly INCLUDE one of its cells.
- `WHILE F`: the scan ends at F's first rejection: a row key it excludes, a cell it does not plainly INCLUDE
  (that row keeps the cells before it), or a row it drops. As in HBase, "plainly" matters: a filter that
  answers INCLUDE_AND_NEXT_COL (ColumnPaginationFilter, ColumnCountGetFilter) ends a WHILE at once.
"""

from __future__ import annotations

from regionserver.data.comparators import (
    BinaryComparator,
    BinaryPrefixComparator,
    Comparator,
    CompareOp,
    RegexStringComparator,
    SubstringComparator,
)
from regionserver.data.errors import (
    FilterArgumentError,
    FilterSyntaxError,
    UnknownComparatorError,
    UnknownFilterError,
)
from regionserver.data.filters_base import Filter, ReturnCode, Row, apply
from regionserver.data.filters_leaf import (
    ColumnCountGetFilter,
    ColumnPaginationFilter,
    ColumnPrefixFilter,
    ColumnRangeFilter,
    FamilyFilter,
    FirstKeyOnlyFilter,
    InclusiveStopFilter,
    KeyOnlyFilter,
    MultipleColumnPrefixFilter,
    PageFilter,
    PrefixFilter,
    QualifierFilter,
    RowFilter,
    SingleColumnValueExcludeFilter,
    SingleColumnValueFilter,
    TimestampsFilter,
    ValueFilter,
)
from regionserver.data.filters_lists import FilterList, Operator, SkipFilter, WhileMatchFilter
from regionserver.data.filters_parse import parse_filter

__all__ = [
    "BinaryComparator",
    "BinaryPrefixComparator",
    "ColumnCountGetFilter",
    "ColumnPaginationFilter",
    "ColumnPrefixFilter",
    "ColumnRangeFilter",
    "Comparator",
    "CompareOp",
    "FamilyFilter",
    "Filter",
    "FilterArgumentError",
    "FilterList",
    "FilterSyntaxError",
    "FirstKeyOnlyFilter",
    "InclusiveStopFilter",
    "KeyOnlyFilter",
    "MultipleColumnPrefixFilter",
    "Operator",
    "PageFilter",
    "PrefixFilter",
    "QualifierFilter",
    "RegexStringComparator",
    "ReturnCode",
    "Row",
    "RowFilter",
    "SingleColumnValueExcludeFilter",
    "SingleColumnValueFilter",
    "SkipFilter",
    "SubstringComparator",
    "TimestampsFilter",
    "UnknownComparatorError",
    "UnknownFilterError",
    "ValueFilter",
    "WhileMatchFilter",
    "apply",
    "parse_filter",
]
