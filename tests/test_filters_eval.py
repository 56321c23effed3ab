"""Filters evaluated over rows, as the store will call them (`apply`): each filter's HBase semantics on
hand-made rows, and, over random rows, the simpler filters against a small independent model."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionserver.data.cells import Cell
from regionserver.data.filters import Row, apply, parse_filter
from tests.hypothesis_profiles import examples


def c(row: str, column: str, ts: int = 1, value: str = "v") -> Cell:
    family, _, qualifier = column.partition(":")
    return Cell(row.encode(), family.encode(), qualifier.encode(), ts, value.encode())


def rows_of(*cells: Cell) -> list[Row]:
    """Cells grouped into rows, in the store's order (row, family, qualifier, newest first)."""
    rows: dict[bytes, list[Cell]] = {}
    for cell in sorted(cells, key=Cell.sort_key):
        rows.setdefault(cell.row, []).append(cell)
    return list(rows.items())


def run(text: str, rows: Iterable[Row], reversed: bool = False) -> list[Row]:
    return list(apply(parse_filter(text), rows, reversed=reversed))


def shown(rows: list[Row]) -> list[tuple[str, list[str]]]:
    """Rows as `(row, ['f:q@ts=value', ...])`, to compare readably."""
    return [
        (
            row.decode(),
            [f"{x.family.decode()}:{x.qualifier.decode()}@{x.timestamp}={x.value.decode()}" for x in cells],
        )
        for row, cells in rows
    ]


def valued(*cells: str) -> list[Row]:
    """Rows of one-version cells, each written `row family:qualifier value`."""
    return rows_of(*(c(row, column, value=value) for row, column, value in (x.split() for x in cells)))


def keys(rows: list[Row]) -> list[str]:
    return [row.decode() for row, _ in rows]


class Reader:
    """Rows handed out one at a time, counting how many the filter made the store read."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.read = 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.read += 1
            yield row


TEN_ROWS = rows_of(*(c(f"r{i}", "f:q", value=str(i)) for i in range(10)))
WIDE = rows_of(
    c("r1", "a:x", 3, "ax3"), c("r1", "a:x", 2, "ax2"), c("r1", "a:y", 1, "ay"), c("r1", "b:x", 1, "bx"),
    c("r1", "b:z", 1, "bz"), c("r2", "a:y", 5, "2ay"), c("r2", "b:x", 5, "2bx"),
)  # fmt: skip


# -- each filter ----------------------------------------------------------------------------------------


def test_no_filter_passes_the_rows_through() -> None:
    assert list(apply(None, WIDE)) == WIDE


def test_key_only_filter_empties_values_or_gives_their_length() -> None:
    assert [x.value for _, cells in run("KeyOnlyFilter()", WIDE) for x in cells] == [b""] * 7
    rows = run("KeyOnlyFilter(true)", rows_of(c("r", "f:q", value="abcde")))
    assert rows[0][1][0].value == (5).to_bytes(4, "big")
    assert rows[0][1][0].qualifier == b"q"


def test_first_key_only_filter_returns_each_rows_first_cell_across_families() -> None:
    assert shown(run("FirstKeyOnlyFilter()", WIDE)) == [("r1", ["a:x@3=ax3"]), ("r2", ["a:y@5=2ay"])]


def test_prefix_filter_keeps_matching_rows_and_stops_reading_past_the_prefix() -> None:
    reader = Reader(rows_of(*(c(k, "f:q") for k in ["a1", "b1", "b2", "c1", "c2", "d"])))
    assert keys(run("PrefixFilter('b')", reader)) == ["b1", "b2"]
    assert reader.read == 4  # c1 ends the scan


def test_prefix_filter_in_a_reversed_scan_stops_below_the_prefix() -> None:
    reader = Reader(list(reversed(rows_of(*(c(k, "f:q") for k in ["a1", "a2", "b1", "b2", "c1"])))))
    assert keys(run("PrefixFilter('b')", reader, reversed=True)) == ["b2", "b1"]
    assert reader.read == 4


def test_column_prefix_filter_tests_the_qualifier_in_every_family() -> None:
    assert shown(run("ColumnPrefixFilter('x')", WIDE)) == [
        ("r1", ["a:x@3=ax3", "a:x@2=ax2", "b:x@1=bx"]),
        ("r2", ["b:x@5=2bx"]),
    ]


def test_multiple_column_prefix_filter_matches_any_prefix_even_a_shorter_one() -> None:
    rows = rows_of(c("r", "f:a"), c("r", "f:ab"), c("r", "f:ac"), c("r", "f:b"), c("r", "f:c"))
    assert [x.qualifier for x in run("MultipleColumnPrefixFilter('ab', 'a')", rows)[0][1]] == [
        b"a",
        b"ab",
        b"ac",
    ]
    assert run("MultipleColumnPrefixFilter()", rows) == rows


@pytest.mark.parametrize(
    ("text", "qualifiers"),
    [
        ("ColumnRangeFilter('b', true, 'd', true)", ["b", "c", "d"]),
        ("ColumnRangeFilter('b', false, 'd', false)", ["c"]),
        ("ColumnRangeFilter('', true, 'b', true)", ["a", "b"]),
        ("ColumnRangeFilter('d', true, '', false)", ["d", "e"]),
    ],
)
def test_column_range_filter_bounds(text: str, qualifiers: list[str]) -> None:
    rows = rows_of(*(c("r", f"f:{q}") for q in "abcde"), *(c("r", f"g:{q}") for q in "ae"))
    got = [x.qualifier.decode() for x in run(text, rows)[0][1] if x.family == b"f"]
    assert got == qualifiers


def test_column_count_get_filter_ends_the_scan_in_the_first_row_with_too_many_columns() -> None:
    rows = rows_of(
        c("r1", "f:a", 2), c("r1", "f:a", 1), c("r2", "f:a"), c("r2", "f:b"), c("r2", "f:c"), c("r3", "f:a")
    )
    assert shown(run("ColumnCountGetFilter(2)", rows)) == [
        ("r1", ["f:a@2=v"]),
        ("r2", ["f:a@1=v", "f:b@1=v"]),
    ]


def test_column_pagination_filter_skips_offset_columns_and_returns_limit_one_version_each() -> None:
    assert shown(run("ColumnPaginationFilter(2, 1)", WIDE)) == [
        ("r1", ["a:y@1=ay", "b:x@1=bx"]),
        ("r2", ["b:x@5=2bx"]),
    ]
    assert run("ColumnPaginationFilter(0, 0)", WIDE) == []


def test_page_filter_counts_rows_per_call_of_apply() -> None:
    f = parse_filter("PageFilter(3)")
    reader = Reader(TEN_ROWS)
    assert keys(list(apply(f, reader))) == ["r0", "r1", "r2"]
    assert reader.read == 3  # the next row is not read
    assert keys(list(apply(f, TEN_ROWS[5:]))) == ["r5", "r6", "r7"]  # the next region counts afresh
    assert run("PageFilter(0)", TEN_ROWS) == []


def test_page_filter_counts_only_the_rows_that_reach_it() -> None:
    scvf = "SingleColumnValueFilter('f', 'q', >=, 'binary:5')"
    rows = rows_of(*(c(f"r{i}", "e:a") for i in range(10)), *(cells[0] for _, cells in TEN_ROWS))
    assert keys(run(f"{scvf} AND PageFilter(2)", rows)) == ["r5", "r6"]
    # HBase's lists ask in order: here PageFilter counts r0 and r1, which the value filter then drops.
    assert keys(run(f"PageFilter(2) AND {scvf}", rows)) == []
    assert keys(run("ValueFilter(>=, 'binary:5') AND PageFilter(2)", TEN_ROWS)) == ["r5", "r6"]  # empty rows


def test_inclusive_stop_filter_includes_the_stop_row_then_ends_the_scan() -> None:
    reader = Reader(TEN_ROWS)
    assert keys(run("InclusiveStopFilter('r3')", reader)) == ["r0", "r1", "r2", "r3"]
    assert reader.read == 5
    assert keys(run("InclusiveStopFilter('r7')", reversed(TEN_ROWS), reversed=True)) == ["r9", "r8", "r7"]


def test_timestamps_filter_keeps_the_listed_versions() -> None:
    assert shown(run("TimestampsFilter(2, 5)", WIDE)) == [
        ("r1", ["a:x@2=ax2"]),
        ("r2", ["a:y@5=2ay", "b:x@5=2bx"]),
    ]
    assert run("TimestampsFilter()", WIDE) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RowFilter(<, 'binary:r3')", ["r0", "r1", "r2"]),
        ("RowFilter(>=, 'binary:r8')", ["r8", "r9"]),
        ("RowFilter(!=, 'binary:r5')", ["r0", "r1", "r2", "r3", "r4", "r6", "r7", "r8", "r9"]),
        ("RowFilter(=, 'binaryprefix:r')", [f"r{i}" for i in range(10)]),
        ("RowFilter(>, 'binaryprefix:r5x')", ["r6", "r7", "r8", "r9"]),
        ("RowFilter(=, 'regexstring:[27]$')", ["r2", "r7"]),
        ("RowFilter(=, 'substring:R4')", ["r4"]),
        ("RowFilter(!=, 'substring:r')", []),
        ("ValueFilter(<=, 'binary:1')", ["r0", "r1"]),
        ("ValueFilter(=, 'regexstring:4|6')", ["r4", "r6"]),
    ],
)
def test_compare_filters_keep_what_field_op_value_holds_for(text: str, expected: list[str]) -> None:
    assert keys(run(text, TEN_ROWS)) == expected


def test_regex_is_found_anywhere_with_dotall_and_substring_ignores_case() -> None:
    rows = rows_of(c("r1", "f:q", value="a\nB"), c("r2", "f:q", value="xAbx"), c("r3", "f:q", value="ab"))
    assert keys(run("ValueFilter(=, 'regexstring:a.B')", rows)) == ["r1"]
    assert keys(run("ValueFilter(=, 'regexstring:b')", rows)) == ["r2", "r3"]
    assert keys(run("ValueFilter(=, 'substring:AB')", rows)) == ["r2", "r3"]


def test_family_and_qualifier_filters_keep_cells_not_rows() -> None:
    assert shown(run("FamilyFilter(=, 'binary:b')", WIDE)) == [
        ("r1", ["b:x@1=bx", "b:z@1=bz"]),
        ("r2", ["b:x@5=2bx"]),
    ]
    assert shown(run("QualifierFilter(>, 'binary:x')", WIDE)) == [
        ("r1", ["a:y@1=ay", "b:z@1=bz"]),
        ("r2", ["a:y@5=2ay"]),
    ]


SCV_ROWS = rows_of(
    c("hit", "f:q", 2, "yes"), c("hit", "g:o", 1, "other"),
    c("old", "f:q", 2, "no"), c("old", "f:q", 1, "yes"),
    c("miss", "g:o", 1, "other"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", ["hit", "miss"]),
        (", false, true", ["hit", "miss"]),
        (", true, true", ["hit"]),
        (", false, false", ["hit", "miss", "old"]),
        (", true, false", ["hit", "old"]),
    ],
)
def test_single_column_value_filter_if_missing_and_latest_version_only(
    args: str, expected: list[str]
) -> None:
    got = run(f"SingleColumnValueFilter('f', 'q', =, 'binary:yes'{args})", SCV_ROWS)
    assert sorted(keys(got)) == expected
    assert all(len(cells) == len(dict(SCV_ROWS)[row]) for row, cells in got)  # whole rows


def test_single_column_value_exclude_filter_drops_the_tested_column() -> None:
    got = run("SingleColumnValueExcludeFilter('f', 'q', =, 'binary:yes', false, false)", SCV_ROWS)
    assert shown(got) == [("hit", ["g:o@1=other"]), ("miss", ["g:o@1=other"])]


# -- combinations ---------------------------------------------------------------------------------------


def test_and_needs_every_filter_and_or_any() -> None:
    both = run("FamilyFilter(=, 'binary:a') AND QualifierFilter(=, 'binary:y')", WIDE)
    assert shown(both) == [("r1", ["a:y@1=ay"]), ("r2", ["a:y@5=2ay"])]
    either = run("FamilyFilter(=, 'binary:b') OR QualifierFilter(=, 'binary:y')", WIDE)
    assert shown(either) == [
        ("r1", ["a:y@1=ay", "b:x@1=bx", "b:z@1=bz"]),
        ("r2", ["a:y@5=2ay", "b:x@5=2bx"]),
    ]


def test_an_and_skips_as_far_as_its_most_skipping_filter() -> None:
    got = run("ColumnPaginationFilter(2, 0) AND KeyOnlyFilter()", WIDE)
    assert shown(got) == [("r1", ["a:x@3=", "a:y@1="]), ("r2", ["a:y@5=", "b:x@5="])]


def test_a_cell_included_by_an_or_is_transformed_only_by_the_filters_that_included_it() -> None:
    got = run("QualifierFilter(=, 'binary:x') OR (KeyOnlyFilter() AND QualifierFilter(=, 'binary:z'))", WIDE)
    assert shown(got) == [("r1", ["a:x@3=ax3", "a:x@2=ax2", "b:x@1=bx", "b:z@1="]), ("r2", ["b:x@5=2bx"])]


def test_or_with_a_stateful_filter_asks_it_once_per_column() -> None:
    got = run("ColumnPaginationFilter(1, 0) OR ValueFilter(=, 'binary:ax2')", WIDE)
    assert shown(got)[0] == ("r1", ["a:x@3=ax3", "a:x@2=ax2"])


def test_skip_drops_rows_with_any_rejected_cell() -> None:
    rows = valued("r1 f:a 0", "r1 f:b 0", "r2 f:a 0", "r2 f:b 1")
    assert keys(run("SKIP ValueFilter(=, 'binary:0')", rows)) == ["r1"]
    assert keys(run("ValueFilter(=, 'binary:0')", rows)) == ["r1", "r2"]


def test_while_ends_the_scan_at_the_first_rejected_row() -> None:
    reader = Reader(TEN_ROWS)
    assert keys(run("WHILE RowFilter(<, 'binary:r3')", reader)) == ["r0", "r1", "r2"]
    assert reader.read == 4
    assert keys(run("RowFilter(!=, 'binary:r1')", TEN_ROWS))[:2] == ["r0", "r2"]
    assert keys(run("WHILE RowFilter(!=, 'binary:r1')", TEN_ROWS)) == ["r0"]


def test_while_keeps_the_cells_before_the_first_rejected_cell() -> None:
    rows = valued("r1 f:a 0", "r2 f:a 0", "r2 f:b 1", "r3 f:a 0")
    assert shown(run("WHILE ValueFilter(=, 'binary:0')", rows)) == [("r1", ["f:a@1=0"]), ("r2", ["f:a@1=0"])]


def test_while_ends_at_a_filter_that_answers_include_and_next_col() -> None:
    assert keys(run("WHILE ColumnPaginationFilter(5, 0)", WIDE)) == ["r1"]
    assert len(run("WHILE ColumnPaginationFilter(5, 0)", WIDE)[0][1]) == 1


def test_one_parsed_filter_serves_several_scans() -> None:
    f = parse_filter("FirstKeyOnlyFilter() AND PageFilter(1)")
    assert list(apply(f, WIDE)) == list(apply(f, WIDE)) != []


# -- against a model, over random rows ------------------------------------------------------------------

KEYS = st.text(alphabet="abc", min_size=1, max_size=3)
NAMES = st.sampled_from(["", "x", "xy", "y", "z"])
FAMILIES = st.sampled_from(["a", "b"])
VALUES = st.text(alphabet="01", max_size=2)


@st.composite
def scans(draw: st.DrawFn) -> list[Row]:
    """Random rows as a store would hand them over: sorted, unique versions per column."""
    cells = []
    for row in draw(st.sets(KEYS, max_size=5)):
        for family, qualifier in draw(st.sets(st.tuples(FAMILIES, NAMES), min_size=1, max_size=4)):
            for ts in draw(st.sets(st.integers(1, 4), min_size=1, max_size=3)):
                cells.append(
                    Cell(row.encode(), family.encode(), qualifier.encode(), ts, draw(VALUES).encode())
                )
    return rows_of(*cells)


CellTest = Callable[[Cell], bool]
Model = Callable[[list[Row]], list[Row]]
OPS = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


def cells_where(test: CellTest) -> Model:
    def model(rows: list[Row]) -> list[Row]:
        kept = [(row, [x for x in cells if test(x)]) for row, cells in rows]
        return [(row, cells) for row, cells in kept if cells]

    return model


def q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


#: Cell filters that can end a row's family early (NEXT_ROW past their prefix or range, or for a family that
#: does not pass): the cells they skip are not seen by the filters beside them in an AND either.
_ENDS_FAMILIES = frozenset({"colprefix", "multi", "range"})


@st.composite
def cell_filters(draw: st.DrawFn, *, ending_families: bool = True) -> tuple[str, CellTest]:
    """A filter that judges each cell alone, with the test it stands for. `ending_families=False`: only
    filters that never skip the rest of a family, so that an AND's other filters see every column."""
    kinds = ["colprefix", "multi", "timestamps", "compare", "range"]
    kind = draw(st.sampled_from([k for k in kinds if ending_families or k not in _ENDS_FAMILIES]))
    if kind == "colprefix":
        p = draw(NAMES)
        return f"ColumnPrefixFilter({q(p)})", lambda x: x.qualifier.startswith(p.encode())
    if kind == "multi":
        ps = draw(st.sets(NAMES.filter(bool), max_size=3))
        text = f"MultipleColumnPrefixFilter({', '.join(map(q, ps))})"
        return text, lambda x: not ps or any(x.qualifier.startswith(p.encode()) for p in ps)
    if kind == "timestamps":
        ts = draw(st.sets(st.integers(0, 5), max_size=3))
        return f"TimestampsFilter({', '.join(map(str, ts))})", lambda x: x.timestamp in ts
    if kind == "compare":
        compared = [("FamilyFilter", "family"), ("QualifierFilter", "qualifier"), ("ValueFilter", "value")]
        name, field = draw(st.sampled_from(compared if ending_families else compared[1:]))
        op = draw(st.sampled_from(sorted(OPS)))
        value = draw(st.one_of(NAMES, VALUES, FAMILIES))
        return f"{name}({op}, {q('binary:' + value)})", lambda x: OPS[op](getattr(x, field), value.encode())
    low, high = draw(NAMES), draw(NAMES)
    low_in, high_in = draw(st.booleans()), draw(st.booleans())

    def in_range(x: Cell) -> bool:
        above = not low or x.qualifier > low.encode() or (low_in and x.qualifier == low.encode())
        below = not high or x.qualifier < high.encode() or (high_in and x.qualifier == high.encode())
        return above and below

    return f"ColumnRangeFilter({q(low)}, {str(low_in).lower()}, {q(high)}, {str(high_in).lower()})", in_range


def _pagination(limit: int, offset: int) -> Model:
    def model(rows: list[Row]) -> list[Row]:
        out = []
        for row, cells in rows:
            columns: dict[tuple[bytes, bytes], Cell] = {}
            for x in cells:
                columns.setdefault((x.family, x.qualifier), x)
            page = list(columns.values())[offset : offset + limit]
            if page:
                out.append((row, page))
        return out

    return model


def _single_column_value(family: str, op: str, value: str, missing: bool, latest: bool) -> Model:
    def passes(row_cells: list[Cell]) -> bool:
        versions = [x.value for x in row_cells if x.family == family.encode() and x.qualifier == b"x"]
        if not versions:
            return not missing
        tested = versions[:1] if latest else versions
        return any(OPS[op](v, value.encode()) for v in tested)

    return lambda rows: [(row, cells) for row, cells in rows if passes(cells)]


def _while_value(value: str) -> Model:
    def model(rows: list[Row]) -> list[Row]:
        out = []
        for row, cells in rows:
            kept = []
            for x in cells:
                if x.value != value.encode():
                    return out + ([(row, kept)] if kept else [])
                kept.append(x)
            out.append((row, kept))
        return out

    return model


@st.composite
def modelled_filters(draw: st.DrawFn) -> tuple[str, Model]:
    """A filter string with an independent model of what it returns."""
    kind = draw(st.sampled_from(range(13)))
    if kind == 0:
        text, test = draw(cell_filters())
        return text, cells_where(test)
    if kind == 1:
        (t1, a), (t2, b) = draw(cell_filters()), draw(cell_filters())
        return f"{t1} AND {t2}", cells_where(lambda x: a(x) and b(x))
    if kind == 2:
        (t1, a), (t2, b) = draw(cell_filters()), draw(cell_filters())
        return f"{t1} OR {t2}", cells_where(lambda x: a(x) or b(x))
    if kind == 3:
        p = draw(KEYS)
        return f"PrefixFilter({q(p)})", lambda rows: [r for r in rows if r[0].startswith(p.encode())]
    if kind == 4:
        stop = draw(KEYS)
        return f"InclusiveStopFilter({q(stop)})", lambda rows: [r for r in rows if r[0] <= stop.encode()]
    if kind == 5:
        n = draw(st.integers(0, 6))
        return f"PageFilter({n})", lambda rows: rows[:n]
    if kind == 6:
        return "FirstKeyOnlyFilter()", lambda rows: [(row, cells[:1]) for row, cells in rows]
    if kind == 7:
        limit, offset = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        return f"ColumnPaginationFilter({limit}, {offset})", _pagination(limit, offset)
    if kind == 8:
        family, op, value = draw(FAMILIES), draw(st.sampled_from(sorted(OPS))), draw(VALUES)
        missing, latest = draw(st.booleans()), draw(st.booleans())
        flags = f"{str(missing).lower()}, {str(latest).lower()}"
        text = f"SingleColumnValueFilter({q(family)}, 'x', {op}, {q('binary:' + value)}, {flags})"
        return text, _single_column_value(family, op, value, missing, latest)
    if kind == 9:
        value = draw(VALUES)
        model = cells_where(lambda x: x.value == value.encode())
        return f"SKIP ValueFilter(=, {q('binary:' + value)})", lambda rows: [
            r for r in rows if model([r]) == [r]
        ]
    if kind == 10:
        stop = draw(KEYS)
        text = f"WHILE RowFilter(<, {q('binary:' + stop)})"
        return text, lambda rows: [
            r for r in rows if r[0] < stop.encode()
        ]  # sorted keys: a prefix of the rows
    if kind == 11:
        value = draw(VALUES)
        return f"WHILE ValueFilter(=, {q('binary:' + value)})", _while_value(value)
    # An AND asks every filter about every cell it does not skip: the pagination counts columns the other
    # one refuses. (A filter that ends a family early, as ColumnPrefixFilter past its prefix, hides the
    # rest of the family from the pagination too, as in HBase: not modelled here; test_filters_eval's
    # concrete tests cover it.)
    limit, offset = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    text, test = draw(cell_filters(ending_families=False))
    model = _pagination(limit, offset)
    return f"ColumnPaginationFilter({limit}, {offset}) AND {text}", lambda rows: cells_where(test)(
        model(rows)
    )


@settings(max_examples=examples(150))
@given(modelled_filters(), scans())
def test_simple_filters_agree_with_a_model(case: tuple[str, Model], rows: list[Row]) -> None:
    text, model = case
    assert shown(run(text, rows)) == shown(model(rows))


def test_a_filter_that_ends_a_family_hides_its_remaining_columns_from_a_pagination_beside_it() -> None:
    # ColumnPrefixFilter('x') ends family a at a:y (past its prefix), so the pagination never sees a:z:
    # it skipped one column (a:y) when family b begins, and b:x is its one column, as in HBase, whose
    # stores are scanned per family. (Found by the model test, whose model had counted a:z.)
    rows = valued("b a:y v", "b a:z v", "b b:x v")
    assert shown(run("ColumnPaginationFilter(1, 1) AND ColumnPrefixFilter('x')", rows)) == [
        ("b", ["b:x@1=v"])
    ]
