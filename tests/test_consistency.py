"""The pure checks of the catalog janitor and hbck (master.chores.consistency)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from master.chores.consistency import Kind, RegionView, hbck_findings, holes_and_overlaps, janitor_report
from meta import RegionState, ServerName

A = ServerName("10.0.0.1", 16100, 1)
B = ServerName("10.0.0.2", 16100, 1)
GONE = ServerName("10.0.0.3", 16100, 1)


def _tiling(bounds: list[bytes], table: str = "t", first_id: int = 1) -> list[RegionView]:
    keys = [b"", *bounds, b""]
    return [
        RegionView(first_id + i, table, keys[i], keys[i + 1], False, RegionState.OPEN, A, 0)
        for i in range(len(keys) - 1)
    ]


splits = st.lists(st.binary(min_size=1, max_size=3), unique=True, max_size=10).map(sorted)


@given(splits)
def test_a_tiling_has_no_hole_and_no_overlap(bounds: list[bytes]) -> None:
    assert holes_and_overlaps(_tiling(bounds)) == []


@given(splits.filter(lambda b: len(b) >= 1), st.data())
def test_a_missing_region_is_one_hole(bounds: list[bytes], data: st.DataObject) -> None:
    regions = _tiling(bounds)
    gone = data.draw(st.integers(0, len(regions) - 1))
    found = holes_and_overlaps(regions[:gone] + regions[gone + 1 :])
    assert [f.kind for f in found] == [Kind.HOLE]


@given(splits, st.data())
def test_a_second_region_over_the_same_keys_is_an_overlap(bounds: list[bytes], data: st.DataObject) -> None:
    regions = _tiling(bounds)
    twin = data.draw(st.sampled_from(regions))
    extra = RegionView(999, "t", twin.start_key, twin.end_key, False, RegionState.OPEN, B, 0)
    kinds = {f.kind for f in holes_and_overlaps([*regions, extra])}
    assert kinds == {Kind.OVERLAP}


def test_offline_split_parents_are_left_out_and_tables_apart() -> None:
    regions = _tiling([b"m"]) + _tiling([], table="u", first_id=10)
    parent = RegionView(50, "t", b"", b"", True, RegionState.SPLIT, None, 0)
    assert holes_and_overlaps([*regions, parent]) == []


def test_the_janitor_reports_unknown_servers_and_stuck_regions() -> None:
    regions = [
        RegionView(1, "t", b"", b"g", False, RegionState.OPEN, GONE, 0),
        RegionView(2, "t", b"g", b"", False, RegionState.OPENING, A, 7, idle_s=120.0),
        RegionView(3, "u", b"", b"", False, RegionState.OPEN, B, 0),
    ]
    found = janitor_report(regions, live=[A], dead=[B], stuck_after_s=60)
    assert [(f.kind, f.region_id) for f in found] == [(Kind.UNKNOWN_SERVER, 1), (Kind.STUCK, 2)]
    assert "bypass 7" in found[1].detail


def test_hbck_compares_meta_memory_servers_and_directories() -> None:
    regions = [
        RegionView(1, "t", b"", b"g", False, RegionState.OPEN, A, 0),  # A does not serve it
        RegionView(2, "t", b"g", b"p", False, RegionState.OPEN, A, 0),  # B serves it too
        RegionView(3, "t", b"p", b"", False, RegionState.CLOSED, None, 0),  # B serves it
        RegionView(4, "u", b"", b"", False, RegionState.OPENING, B, 9),  # in transition: not compared
    ]
    served = {A: {2: 5}, B: {2: 6, 3: 1, 4: 2, 77: 1}}
    meta = {
        1: (RegionState.OPEN, A),
        2: (RegionState.OPEN, A),
        3: (RegionState.OPEN, B),  # meta disagrees with memory
        4: (RegionState.OPENING, B),
    }
    dirs = [("t", 2, "/d/t/2"), ("t", 42, "/d/t/42"), ("gone", 1, "/d/gone/1"), ("busy", 5, "/d/busy/5")]
    found = hbck_findings(regions, served, meta, dirs, busy_tables=["busy"])
    assert sorted((f.kind.value, f.region_id) for f in found) == [
        ("meta_mismatch", 3),
        ("not_served", 1),
        ("orphan_dir", 1),
        ("orphan_dir", 42),
        ("orphan_on_server", 77),
        ("served_elsewhere", 2),
        ("served_elsewhere", 3),
    ]
    assert all(f.fix for f in found if f.kind is not Kind.META_MISMATCH)
