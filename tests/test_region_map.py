"""RegionMap.locate_run: the master's answer to a client's LocateRegions, against a plain scan of ranges."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from master.regions import RegionMap, RegionNode, initial_row
from meta.types import RegionInfo


def _map(bounds: list[bytes], parents: set[int]) -> tuple[RegionMap, list[RegionInfo]]:
    """Regions cut at `bounds`; for each index in `parents`, an offline split parent spanning two regions."""
    keys = [b"", *bounds, b""]
    infos = [RegionInfo(i + 1, "t", keys[i], keys[i + 1]) for i in range(len(keys) - 1)]
    extra = [
        RegionInfo(1000 + i, "t", infos[i].start_key, infos[i + 1].end_key, split=True, offline=True)
        for i in sorted(parents)
        if i + 1 < len(infos)
    ]
    regions = RegionMap()
    regions.add(RegionNode(info, initial_row()) for info in [*infos, *extra])
    return regions, infos


@given(
    bounds=st.lists(st.binary(min_size=1, max_size=3), unique=True, max_size=12).map(sorted),
    parents=st.sets(st.integers(0, 12)),
    row=st.binary(max_size=3),
    count=st.integers(1, 15),
    backwards=st.booleans(),
)
def test_locate_run_is_the_holding_region_then_its_neighbours(
    bounds: list[bytes], parents: set[int], row: bytes, count: int, backwards: bool
) -> None:
    regions, infos = _map(bounds, parents)
    holder = next(i for i, info in enumerate(infos) if info.contains(row))
    expected = infos[holder::-1] if backwards else infos[holder:]
    got = regions.locate_run("t", row, count, backwards=backwards)
    assert [n.info for n in got] == expected[:count]
    assert regions.locate("t", row).info == infos[holder]  # type: ignore[union-attr]


def test_locate_in_an_unknown_table_or_a_hole_finds_nothing() -> None:
    regions = RegionMap()
    regions.add([RegionNode(RegionInfo(1, "t", b"b", b"c"), initial_row())])
    assert regions.locate_run("other", b"b", 3) == []
    assert regions.locate_run("t", b"a", 3) == []
    assert regions.locate_run("t", b"c", 3) == []
