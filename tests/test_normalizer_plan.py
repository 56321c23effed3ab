"""The normalizer's planner (master.chores.normalizer_plan), by property: never a region in transition, with
references or of unknown size; never a table not opted in or not enabled; merges only of adjacent regions
of one table, within the average and the cap; splits only above twice the average; caps honoured."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from master.chores.normalizer_plan import MIB, NormalizerLimits, RegionInput, TableInput, plan


@st.composite
def clusters(draw: Any) -> tuple[list[TableInput], list[RegionInput], NormalizerLimits]:
    tables: list[TableInput] = []
    regions: list[RegionInput] = []
    next_id = 1
    for name in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, unique=True)):
        tables.append(
            TableInput(
                name,
                enabled=draw(st.booleans()),
                normalization_enabled=draw(st.booleans()),
                split_enabled=draw(st.booleans()),
                merge_enabled=draw(st.booleans()),
            )
        )
        keys = sorted(set(draw(st.lists(st.binary(min_size=1, max_size=2), max_size=12))))
        bounds = [b"", *keys, b""]
        for start, end in itertools.pairwise(bounds):
            if draw(st.integers(0, 9)) == 0:
                continue  # a hole: the regions around it are not adjacent
            size = draw(st.one_of(st.none(), st.integers(0, 64 * MIB), st.sampled_from([0, MIB, 2 * MIB])))
            regions.append(
                RegionInput(
                    next_id,
                    name,
                    start,
                    end,
                    size,
                    settled=draw(st.integers(0, 5)) > 0,
                    has_references=draw(st.integers(0, 5)) == 0,
                )
            )
            next_id += 1
    limits = NormalizerLimits(
        max_plans=draw(st.integers(1, 6)),
        max_merge_regions=draw(st.integers(2, 5)),
        min_region_count=draw(st.integers(1, 4)),
        min_merge_bytes=draw(st.sampled_from([0, MIB])),
    )
    return tables, regions, limits


def _average(regions: list[RegionInput], table: str) -> float:
    known = [r.size for r in regions if r.table == table and r.size is not None]
    return sum(known) / len(known)


@given(clusters(), st.booleans(), st.booleans())
def test_plans_keep_to_the_rules(
    cluster: tuple[list[TableInput], list[RegionInput], NormalizerLimits], split_on: bool, merge_on: bool
) -> None:
    tables, regions, limits = cluster
    result = plan(tables, regions, limits, split_on=split_on, merge_on=merge_on)
    by_id = {r.region_id: r for r in regions}
    by_name = {t.name: t for t in tables}
    assert len(result.plans) <= limits.max_plans
    seen: set[int] = set()
    for p in result.plans:
        table = by_name[p.table]
        assert table.normalization_enabled and table.enabled
        members = [by_id[i] for i in p.region_ids]
        assert not seen & set(p.region_ids)
        seen.update(p.region_ids)
        for r in members:
            assert r.table == p.table and r.settled and not r.has_references and r.size is not None
        average = _average(regions, p.table)
        if p.kind == "split":
            assert split_on and table.split_enabled and len(members) == 1
            assert p.bytes == members[0].size and p.bytes > 2 * average
        else:
            assert p.kind == "merge" and merge_on and table.merge_enabled
            assert 2 <= len(members) <= limits.max_merge_regions
            assert sum(1 for r in regions if r.table == p.table) >= limits.min_region_count
            for before, after in itertools.pairwise(members):
                assert before.end_key and before.end_key == after.start_key  # adjacent, in key order
            assert p.bytes == sum(r.size or 0 for r in members) <= average
            assert all((r.size or 0) >= limits.min_merge_bytes for r in members)
    assert result.capped >= 0 and (result.capped == 0 or len(result.plans) == limits.max_plans)


def test_a_large_region_splits_and_small_neighbours_merge() -> None:
    table = TableInput("t", enabled=True, normalization_enabled=True)
    sizes = [40 * MIB, 2 * MIB, 2 * MIB, 3 * MIB, 10 * MIB, 10 * MIB]
    bounds = [b"", b"b", b"c", b"d", b"e", b"f", b""]
    regions = [
        RegionInput(i + 1, "t", bounds[i], bounds[i + 1], size) for i, size in enumerate(sizes)
    ]  # average 11 MiB
    result = plan([table], regions)
    assert [(p.kind, p.region_ids) for p in result.plans] == [("split", (1,)), ("merge", (2, 3, 4))]
    assert "more than twice" in result.plans[0].reason and result.notes["t"] == ""

    capped = plan([table], regions, NormalizerLimits(max_plans=1, max_merge_regions=2))
    assert [p.region_ids for p in capped.plans] == [(1,)] and capped.capped == 1

    off = plan([TableInput("t", enabled=True, normalization_enabled=False)], regions)
    assert off.plans == [] and "not enabled" in off.notes["t"]


def test_regions_of_unknown_size_are_left_out_and_break_merges() -> None:
    table = TableInput("t", enabled=True, normalization_enabled=True)
    bounds = [b"", b"b", b"c", b""]
    sizes = [2 * MIB, None, 2 * MIB]
    regions = [RegionInput(i + 1, "t", bounds[i], bounds[i + 1], s) for i, s in enumerate(sizes)]
    result = plan([table], regions, NormalizerLimits(min_region_count=1))
    assert result.plans == [] and "1 regions of unknown size left out" in result.notes["t"]
