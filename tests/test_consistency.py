"""The pure checks of the catalog janitor and hbck (master.chores.consistency, master.chores.store_checks)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from master.chores.consistency import (
    Kind,
    RegionView,
    hbck_findings,
    holes_and_overlaps,
    janitor_report,
    unserved,
)
from master.chores.store_checks import Read, Stores, referenced, store_findings, to_read
from meta import RegionState, ServerName
from meta.references import Reference

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


# ---- regions nothing serves and no procedure will (consistency.unserved) ----

S = RegionState


def _region(region_id: int, state: RegionState, **kw: object) -> RegionView:
    fields: dict[str, object] = {
        "table": "t",
        "start_key": b"",
        "end_key": b"",
        "offline": state in (S.SPLIT, S.MERGED),
        "server": None,
        "proc_id": 0,
    }
    fields.update(kw)
    return RegionView(region_id, state=state, **fields)  # type: ignore[arg-type]


def test_every_kind_is_known_to_the_client() -> None:
    from client.consistency import KINDS

    assert sorted(KINDS) == sorted(k.value for k in Kind)


def test_children_left_new_and_regions_left_closed_are_reported_with_their_fix() -> None:
    regions = [
        _region(1, S.SPLIT, children=(2, 3)),
        _region(2, S.SPLITTING_NEW),  # a bypass left it: reported
        _region(3, S.SPLITTING_NEW, proc_id=9),  # its procedure opens it
        _region(4, S.MERGING_NEW, waiting=True),  # waits for a server
        _region(5, S.CLOSED, server=A),
        _region(6, S.ABNORMALLY_CLOSED, server=A),
        _region(7, S.FAILED_OPEN),
        _region(8, S.CLOSED, table="off"),  # a disabled table's region is closed
        _region(9, S.OPEN, server=A),
        _region(10, S.CLOSED, table="busy"),
        _region(11, S.CLOSED),  # served somewhere: SERVED_ELSEWHERE's business
    ]
    found = unserved(regions, {"t", "busy"}, served={11}, busy_tables={"busy"})
    assert [(f.kind, f.region_id) for f in found] == [
        (Kind.UNFINISHED_CHILD, 2),
        (Kind.NOT_DEPLOYED, 5),
        (Kind.NOT_DEPLOYED, 6),
        (Kind.NOT_DEPLOYED, 7),
    ]
    assert all(f.fix for f in found)
    assert "SPLITTING_NEW with no procedure" in found[0].detail and "last on" in found[2].detail
    janitor = unserved(regions, {"t", "busy"}, served={11}, busy_tables={"busy"}, closed_too=False)
    assert [(f.kind, f.region_id) for f in janitor] == [(Kind.UNFINISHED_CHILD, 2), (Kind.NOT_DEPLOYED, 6)]


def test_a_child_of_a_table_not_enabled_says_to_enable_it_first() -> None:
    (found,) = unserved([_region(2, S.MERGING_NEW, table="off")], set())
    assert found.kind is Kind.UNFINISHED_CHILD and "enable it first" in found.detail


def test_a_parent_is_an_orphan_only_when_meta_has_none_of_its_children() -> None:
    regions = [
        _region(1, S.SPLIT, children=(2, 3)),  # 3 is gone, 2 is there: the janitor's business
        _region(2, S.OPEN, server=A),
        _region(4, S.MERGED, children=(5,)),  # its child is gone
        _region(6, S.SPLIT),  # no child recorded at all
        _region(7, S.SPLIT, children=(8,), proc_id=3),  # a procedure holds it
    ]
    found = unserved(regions, {"t"})
    assert [(f.kind, f.region_id) for f in found] == [(Kind.ORPHAN_PARENT, 4), (Kind.ORPHAN_PARENT, 6)]
    assert "none of its children 5" in found[0].detail and "no child" in found[1].detail
    assert not found[0].fix  # report only


views = st.builds(
    _region,
    st.integers(1, 30),
    st.sampled_from(list(RegionState)),
    table=st.sampled_from(["t", "u"]),
    proc_id=st.sampled_from([0, 0, 5]),
    waiting=st.booleans(),
    children=st.lists(st.integers(1, 30), max_size=2).map(tuple),
)


@given(st.lists(views, max_size=20, unique_by=lambda r: r.region_id), st.sets(st.integers(1, 30)))
def test_unserved_never_names_a_region_in_flight_waiting_or_served(
    regions: list[RegionView], served: set[int]
) -> None:
    by_id = {r.region_id: r for r in regions}
    for f in unserved(regions, {"t"}, served=served, busy_tables={"u"}):
        r = by_id[f.region_id]
        assert not r.proc_id and not r.waiting and r.region_id not in served and r.table == "t"
        if f.kind is Kind.UNFINISHED_CHILD:
            assert r.state in (S.SPLITTING_NEW, S.MERGING_NEW)
        elif f.kind is Kind.NOT_DEPLOYED:
            assert r.state in (S.OFFLINE, S.CLOSED, S.ABNORMALLY_CLOSED, S.FAILED_OPEN)
        else:
            assert f.kind is Kind.ORPHAN_PARENT and not any(c in by_id for c in r.children)


def test_an_orphan_directory_holding_references_says_so() -> None:
    regions = _tiling([])
    dirs = [("t", 42, "/d/t/42"), ("t", 43, "/d/t/43")]
    found = hbck_findings(regions, {}, {1: (S.OPEN, A)}, dirs, holding_references={"/d/t/42"})
    assert [(f.kind, f.region_id) for f in found] == [(Kind.ORPHAN_DIR, 42), (Kind.ORPHAN_DIR, 43)]
    assert "REFERENCES" in found[0].detail and "REFERENCES" not in found[1].detail


# ---- inside the stores (master.chores.store_checks) ----


def _ref(region_id: int, start: bytes = b"", end: bytes = b"") -> Reference:
    return Reference(region_id, start, end)


def _split_family(daughter: RegionState = S.OPEN) -> list[RegionView]:
    """Parent 1 split into 2 [, m) and 3 [m, ); region 4 an ordinary region; 5 merged from 6 and 7."""
    return [
        _region(1, S.SPLIT, children=(2, 3)),
        _region(2, daughter, end_key=b"m", server=A),
        _region(3, S.OPEN, start_key=b"m", end_key=b"q", server=A),
        _region(4, S.OPEN, start_key=b"q", end_key=b"x", server=A),
        _region(5, S.OPEN, start_key=b"x", server=A, parents=(6, 7)),
        _region(6, S.MERGED, children=(5,), start_key=b"x", end_key=b"y"),
        _region(7, S.MERGED, children=(5,), start_key=b"y"),
    ]


def test_references_that_name_their_parents_are_consistent() -> None:
    regions = _split_family()
    files: dict[int, Read] = {
        2: [_ref(1, b"", b"m")],
        3: [_ref(1, b"m")],
        5: [_ref(6, b"x", b"y"), _ref(7, b"y")],
    }
    present = {("t", 1), ("t", 6), ("t", 7)}
    assert store_findings(regions, Stores({2, 3, 5}, files, present)) == []
    assert referenced(regions, files) == present


def test_each_kind_of_broken_store_is_reported_with_what_is_wrong() -> None:
    regions = _split_family()
    files: dict[int, Read] = {
        2: "/d/t/2/REFERENCES: not UTF-8 JSON (Expecting value)",
        3: [_ref(1, b"m"), _ref(99, b"p")],  # 99: unknown to meta
        4: [_ref(1)],  # 4 is no child: a stray file
        5: [_ref(6, b"x", b"y"), _ref(3, b"y")],  # 3 is not a parent of 5
    }
    paths = {2: "/d/t/2/REFERENCES", 3: "/d/t/3/REFERENCES", 4: "/d/t/4/REFERENCES", 5: "/d/t/5/REFERENCES"}
    found = store_findings(regions, Stores({2, 3, 4, 5}, files, {("t", 1), ("t", 6)}, paths))
    assert [(f.kind, f.region_id) for f in found] == [
        (Kind.REFERENCES_UNREADABLE, 2),
        (Kind.BROKEN_REFERENCE, 3),
        (Kind.STRAY_REFERENCES, 4),
        (Kind.BROKEN_REFERENCE, 5),
    ]
    assert "not UTF-8 JSON" in found[0].detail and found[0].path == "/d/t/2/REFERENCES"
    assert "region 99, which meta does not know" in found[1].detail and "data loss" in found[1].detail
    assert "no split or merge child" in found[2].detail
    assert "OPEN, not a split or merge parent" in found[3].detail
    assert not any(f.fix for f in found)  # report only


def test_a_parent_store_gone_is_reported_once_the_child_has_opened() -> None:
    files: dict[int, Read] = {2: [_ref(1, b"", b"m")]}
    (gone,) = store_findings(_split_family(), Stores({2}, files, set()))
    assert gone.kind is Kind.BROKEN_REFERENCE and "store directory is gone" in gone.detail
    # Not opened yet: the parent may never have held data (the child drops the entry when it opens).
    assert store_findings(_split_family(S.SPLITTING_NEW), Stores({2}, files, set())) == []
    # In flight, or its table under a table procedure: not compared.
    in_flight = [replace(r, proc_id=8) if r.region_id == 2 else r for r in _split_family()]
    assert store_findings(in_flight, Stores({2}, files, set())) == []
    assert store_findings(_split_family(), Stores({2}, files, set()), busy_tables={"t"}) == []


@given(st.lists(views, max_size=20, unique_by=lambda r: r.region_id), st.sets(st.integers(1, 30)))
def test_only_children_merged_children_and_holders_are_read(
    regions: list[RegionView], holders: set[int]
) -> None:
    named = {c for r in regions if r.state in (S.SPLIT, S.MERGED) for c in r.children}
    for r in to_read(regions, holders):
        assert r.region_id in named or r.parents or r.region_id in holders
