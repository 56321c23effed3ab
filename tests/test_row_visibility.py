"""The read path's fast visibility (versions.RowVisibility: what scans and gets use) returns exactly what
the general rule (versions.visible) returns, for random cells, versions, families, selections, ttl, time
ranges and max versions: row by row, and a stream of rows cut at a limit; and a store's reverse scan
returns the rows of its forward scan, in reverse."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data import keys
from regionserver.data.environments import Claim, Environments
from regionserver.data.mutations import Put, RowMutation, TimeRange
from regionserver.data.region_store import RegionStore
from regionserver.data.versions import MAX_REMEMBERED_COLUMNS, RowVisibility, Selection, visible
from tests.hypothesis_profiles import examples

NOW = 1_000_000
# Small alphabets make shared prefixes, 0x00 and 0xFF bytes (escaped in keys) common.
names = st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff", b"a", b"b"]), min_size=1, max_size=3).map(
    b"".join
)
qualifiers = st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff", b"q"]), max_size=3).map(b"".join)
timestamps = st.integers(NOW - 5000, NOW + 10) | st.integers(0, 3) | st.just(keys.TS_MAX)
families = st.builds(
    lambda max_v, min_v, ttl: ColumnFamily("x", max_versions=max_v, min_versions=min(min_v, max_v), ttl=ttl),
    st.integers(1, 4),
    st.integers(0, 3),
    st.none() | st.integers(1, 4),
)
cells = st.dictionaries(
    st.tuples(names, st.sampled_from([b"a", b"b", b"c"]), qualifiers, timestamps), st.binary(max_size=2)
)
time_ranges = st.builds(
    lambda lo, width: TimeRange(lo, lo + width), st.integers(0, NOW), st.integers(1, keys.TS_MAX)
) | st.just(TimeRange())


@st.composite
def reads(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], Selection, int, TimeRange]:
    # Family c is not in the table: its cells are never returned (a family dropped since they were written).
    table = {name: draw(families) for name in (b"a", b"b")}
    wanted = draw(
        st.just(())
        | st.lists(st.sampled_from([b"a", b"b"]) | st.tuples(st.sampled_from([b"a", b"b"]), qualifiers))
    )
    selection = Selection.of(table, tuple(wanted))
    content = draw(cells)
    items = sorted((keys.cell_key(*cell), value) for cell, value in content.items())
    return items, selection, draw(st.integers(1, 3)), draw(time_ranges)


def by_row(items: list[tuple[bytes, bytes]]) -> list[tuple[bytes, list[tuple[bytes, bytes]]]]:
    out: list[tuple[bytes, list[tuple[bytes, bytes]]]] = []
    for key, value in items:
        row = keys.decode(key)[0]
        if not out or out[-1][0] != row:
            out.append((row, []))
        out[-1][1].append((key, value))
    return out


@given(reads())
def test_each_row_and_each_reversed_row_sees_what_visible_sees(
    read: tuple[list[tuple[bytes, bytes]], Selection, int, TimeRange],
) -> None:
    items, selection, max_versions, time_range = read
    view = RowVisibility(selection, NOW, max_versions=max_versions, time_range=time_range)
    for _, row_items in by_row(items):
        for ordered in (row_items, row_items[::-1]):
            expected = visible(ordered, selection, NOW, max_versions=max_versions, time_range=time_range)
            assert view.cells(ordered) == expected


@given(reads(), st.integers(1, 5))
def test_a_stream_of_rows_is_cut_after_as_many_rows_with_cells_as_asked(
    read: tuple[list[tuple[bytes, bytes]], Selection, int, TimeRange], limit: int
) -> None:
    items, selection, max_versions, time_range = read
    rows = by_row(items)
    seen = [
        (row, visible(its, selection, NOW, max_versions=max_versions, time_range=time_range))
        for row, its in rows
    ]
    returned = [(row, found) for row, found in seen if found][:limit]
    # Cut after the last row returned when anything was left unread behind it.
    last_read = [row for row, _ in rows].index(returned[-1][0]) if returned else len(rows) - 1
    resume = (
        keys.row_start(returned[-1][0])
        if returned and last_read < len(rows) - 1 and len(returned) == limit
        else None
    )
    view = RowVisibility(selection, NOW, max_versions=max_versions, time_range=time_range)
    assert view.rows(iter(items), limit) == (returned, resume)


def test_columns_past_the_remembered_ones_are_still_read() -> None:
    table = {b"f": ColumnFamily("f", max_versions=2)}
    selection = Selection.of(table, ())
    row = b"r"
    items = sorted(
        (keys.cell_key(row, b"f", b"q%06d" % n, ts), b"v")
        for n in range(MAX_REMEMBERED_COLUMNS + 10)
        for ts in (1, 2, 3)
    )
    view = RowVisibility(selection, NOW)
    assert view.cells(items) == visible(items, selection, NOW)
    assert view.rows(iter(items), 1) == ([(row, visible(items, selection, NOW))], None)


@settings(max_examples=examples(40), deadline=None)
@given(
    st.dictionaries(
        st.tuples(names, st.sampled_from([b"a", b"b"]), qualifiers, st.integers(0, 5)),
        st.binary(max_size=2),
        max_size=30,
    ),
    st.integers(1, 3),
    st.integers(1, 4),
)
def test_a_reverse_scan_reads_the_rows_of_the_forward_scan_backwards(
    content: dict[tuple[bytes, bytes, bytes, int], bytes], max_versions: int, rows: int
) -> None:
    table = {b"a": ColumnFamily("a", max_versions=3), b"b": ColumnFamily("b", max_versions=2, min_versions=1)}
    with tempfile.TemporaryDirectory() as tmp:
        store = RegionStore(
            Path(tmp) / "r",
            Claim(ServerName("h", 1, 1), 1),
            table,
            environments=Environments(2),
            clock=lambda: NOW,
        )
        store.mutate(
            [RowMutation(row, (Put(f, q, value, ts),)) for (row, f, q, ts), value in content.items()]
        )

        def scan(reverse: bool) -> list[tuple[bytes, list[object]]]:
            out: list[tuple[bytes, list[object]]] = []
            low, high = b"", None
            while True:
                found, resume = store.read_rows(
                    low, high, reverse=reverse, rows=rows, columns_=(), max_versions=max_versions
                )
                out += found
                if resume is None:
                    return out
                low, high = (low, resume) if reverse else (resume, high)

        forward = scan(False)
        assert scan(True) == forward[::-1]
        assert sorted(r for r, _ in forward) == [r for r, _ in forward] == sorted({r for r, *_ in content})
        store.environments.close_all()
