"""The catalog janitor's decision on split and merged parents (master.chores.parent_plan), by property:
nothing is removed while a child is still new or still names the parent, or while a procedure holds it;
everything that may go goes (up to the cap); a merged child loses exactly the parents removed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from master.chores.parent_plan import NEW_STATES, PARENT_STATES, Named, Region, children_to_read, decide
from meta import RegionState

STATES = list(RegionState)


@st.composite
def snapshots(draw: Any) -> tuple[dict[int, Region], dict[int, Named], int]:
    """Regions 1..n: some parents (SPLIT/MERGED, with children among the others or missing ones), what
    some children's REFERENCES name, and a cap."""
    n = draw(st.integers(1, 12))
    ids = list(range(1, n + 1))
    regions: dict[int, Region] = {}
    for region_id in ids:
        state = draw(st.sampled_from(STATES))
        children: tuple[int, ...] = ()
        if state in PARENT_STATES:
            children = tuple(draw(st.lists(st.integers(1, n + 3), max_size=3, unique=True)))
        regions[region_id] = Region(
            region_id,
            draw(st.sampled_from(["a", "b"])),
            state,
            proc_id=draw(st.sampled_from([0, 0, 0, 7])),
            children=children,
            parents=tuple(draw(st.lists(st.sampled_from(ids), max_size=3, unique=True))),
        )
    named: dict[int, Named] = {}
    for region_id in ids:
        choice = draw(st.sampled_from(["unread", "none", "file", "file", "unreadable"]))
        if choice == "none":
            named[region_id] = frozenset()
        elif choice == "file":
            named[region_id] = frozenset(draw(st.lists(st.sampled_from(ids), max_size=3)))
        elif choice == "unreadable":
            named[region_id] = None
    return regions, named, draw(st.integers(0, 5))


def _eligible(parent: Region, regions: dict[int, Region], named: dict[int, Named]) -> bool:
    if parent.proc_id or not parent.children or not any(c in regions for c in parent.children):
        return False
    for child_id in parent.children:
        child = regions.get(child_id)
        if child is None:
            continue
        if child.state in NEW_STATES or child_id not in named:
            return False
        names = named[child_id]
        if names is None or parent.region_id in names:
            return False
    return True


@given(snapshots())
def test_only_unreferenced_parents_go_and_all_of_them_up_to_the_cap(
    snapshot: tuple[dict[int, Region], dict[int, Named], int],
) -> None:
    regions, named, limit = snapshot
    decision = decide(regions, named, limit)
    removed = {r.parent for r in decision.removals}
    kept = {k.parent for k in decision.kept}
    parents = {r.region_id for r in regions.values() if r.state in PARENT_STATES}
    assert removed | kept == parents and not removed & kept
    assert len(removed) <= limit
    for region_id in removed:
        assert _eligible(regions[region_id], regions, named)
    eligible = {p for p in parents if _eligible(regions[p], regions, named)}
    assert len(removed) == min(limit, len(eligible))
    assert all(k.reason for k in decision.kept)
    for removal in decision.removals:
        parent = regions[removal.parent]
        assert removal.kind == ("split" if parent.state is RegionState.SPLIT else "merge")
        assert removal.children == parent.children


@given(snapshots())
def test_a_child_loses_exactly_the_parents_removed(
    snapshot: tuple[dict[int, Region], dict[int, Named], int],
) -> None:
    regions, named, limit = snapshot
    decision = decide(regions, named, limit)
    removed = {r.parent for r in decision.removals}
    for child_id, left in decision.new_parents.items():
        child = regions[child_id]
        assert child_id not in removed
        assert left == tuple(p for p in child.parents if p not in removed) != child.parents
    for removal in decision.removals:
        for child_id in removal.children:
            child = regions.get(child_id)
            if child is not None and child_id not in removed and set(child.parents) & removed:
                assert child_id in decision.new_parents


@given(snapshots())
def test_the_children_to_read_are_those_of_parents_no_procedure_holds(
    snapshot: tuple[dict[int, Region], dict[int, Named], int],
) -> None:
    regions, _, limit = snapshot
    wanted = children_to_read(regions, limit)
    for child_id, table in wanted.items():
        assert regions[child_id].table == table
        assert any(
            child_id in r.children and not r.proc_id for r in regions.values() if r.state in PARENT_STATES
        )


def test_a_split_parent_goes_once_its_daughters_no_longer_name_it() -> None:
    parent = Region(1, "t", RegionState.SPLIT, children=(2, 3))
    daughters = {
        2: Region(2, "t", RegionState.OPEN),
        3: Region(3, "t", RegionState.SPLITTING_NEW),
    }
    regions = {1: parent, **daughters}
    first = decide(regions, {2: frozenset(), 3: frozenset()}, 10)
    assert not first.removals and "child 3 is still SPLITTING_NEW" in first.kept[0].reason
    regions[3] = Region(3, "t", RegionState.OPEN)
    second = decide(regions, {2: frozenset(), 3: frozenset({1})}, 10)
    assert not second.removals and "child 3 still references its store" in second.kept[0].reason
    third = decide(regions, {2: frozenset(), 3: frozenset()}, 10)
    assert [r.parent for r in third.removals] == [1] and third.new_parents == {}


def test_merged_parents_go_together_and_the_child_forgets_them() -> None:
    child = Region(3, "t", RegionState.OPEN, parents=(1, 2))
    regions = {
        1: Region(1, "t", RegionState.MERGED, children=(3,)),
        2: Region(2, "t", RegionState.MERGED, children=(3,)),
        3: child,
    }
    decision = decide(regions, {3: frozenset()}, 10)
    assert sorted(r.parent for r in decision.removals) == [1, 2]
    assert decision.new_parents == {3: ()}
    capped = decide(regions, {3: frozenset()}, 1)
    assert [r.parent for r in capped.removals] == [1] and capped.new_parents == {3: (2,)}
    assert "at most 1 parents" in capped.kept[0].reason
