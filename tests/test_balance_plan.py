"""The balancer's pure planner (master.chores.balance_plan): properties over random clusters, and the
known cases (an even spread with the fewest moves, HBASE-24139, the slop)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from master.chores.balance_plan import (
    Plan,
    RegionLoad,
    ServerLoad,
    Weights,
    minimum_moves,
    outside_slop,
    plan,
)
from meta import ServerName


def _name(i: int) -> ServerName:
    return ServerName("10.0.0.1", 16100 + i, 1)


@dataclass
class Cluster:
    servers: list[ServerLoad]
    regions: list[RegionLoad]
    dead: list[ServerName]


@st.composite
def clusters(draw: st.DrawFn, *, loads: bool = True, tables: int = 3) -> Cluster:
    n = draw(st.integers(1, 7))
    servers = []
    for i in range(n):
        kind = draw(st.sampled_from(["target", "target", "target", "decommissioned", "drained"]))
        servers.append(
            ServerLoad(
                _name(i),
                requests_per_s=draw(st.floats(0, 1000)) if loads else 0.0,
                store_bytes=draw(st.integers(0, 10**9)) if loads else 0,
                target=kind == "target",
                drain=kind == "drained",
            )
        )
    dead = [ServerName("10.0.0.2", 16100 + i, 1) for i in range(draw(st.integers(0, 2)))]
    where = [s.name for s in servers] + dead
    counts = draw(st.lists(st.integers(0, 40), min_size=len(where), max_size=len(where)))
    regions = []
    for server, count in zip(where, counts, strict=True):
        for _ in range(count):
            own = loads and draw(st.booleans())
            regions.append(
                RegionLoad(
                    len(regions) + 1,
                    f"t{draw(st.integers(0, tables - 1))}",
                    server,
                    requests_per_s=draw(st.floats(0, 100)) if own else None,
                    store_bytes=draw(st.integers(0, 10**7)) if own else None,
                    movable=draw(st.integers(0, 9)) > 0,
                )
            )
    return Cluster(servers, regions, dead)


def _after(cluster: Cluster, result: Plan) -> dict[int, ServerName]:
    where = {r.region_id: r.server for r in cluster.regions}
    for move in result.moves:
        assert where[move.region_id] == move.source, f"region {move.region_id} is not on {move.source}"
        where[move.region_id] = move.target
    return where


@given(clusters())
def test_plans_target_only_live_servers_that_take_regions_and_move_each_region_once(cluster: Cluster) -> None:
    result = plan(cluster.servers, cluster.regions)
    targets = {s.name for s in cluster.servers if s.target}
    assert {m.target for m in result.moves} <= targets
    moved = [m.region_id for m in result.moves]
    assert len(moved) == len(set(moved))
    pinned = {r.region_id for r in cluster.regions if not r.movable}
    assert not pinned & set(moved), "a region of a locked table moved"
    assert all(m.source != m.target for m in result.moves)
    _after(cluster, result)  # every move starts where its region is


@given(clusters())
def test_drained_servers_are_left_with_nothing_when_any_server_takes_regions(cluster: Cluster) -> None:
    result = plan(cluster.servers, cluster.regions)
    if not any(s.target for s in cluster.servers):
        assert result.moves == ()
        return
    where = _after(cluster, result)
    drained = {s.name for s in cluster.servers if s.drain}
    assert not drained & {where[r.region_id] for r in cluster.regions if r.movable}


@given(clusters())
def test_plans_lower_the_cost_and_report_it_truly(cluster: Cluster) -> None:
    result = plan(cluster.servers, cluster.regions)
    if any(s.drain for s in cluster.servers):
        return  # a drain must move its regions, whatever it costs
    assert result.cost_after <= result.cost_before + 1e-9
    if result.moves:
        assert result.cost_after < result.cost_before
    # The incremental cost is the cost of the placement the plan leaves, computed afresh.
    where = _after(cluster, result)
    moved = [RegionLoad(r.region_id, r.table, where[r.region_id]) for r in cluster.regions]
    fresh = plan(cluster.servers, _with_loads_of(cluster, moved), max_moves=0)
    assert fresh.cost_before + 7 * len(result.moves) / max(1, _counted(cluster)) == pytest.approx(
        result.cost_after, rel=1e-6, abs=1e-6
    )


def _counted(cluster: Cluster) -> int:
    taking = {s.name for s in cluster.servers if s.target or s.drain}
    return sum(1 for r in cluster.regions if r.server in taking)


def _with_loads_of(cluster: Cluster, moved: list[RegionLoad]) -> list[RegionLoad]:
    """The moved regions with the loads the planner gave them (their own, or their first server's share)."""
    by_name = {s.name: s for s in cluster.servers}
    share = Counter(r.server for r in cluster.regions)
    out = []
    for original, now in zip(cluster.regions, moved, strict=True):
        server = by_name.get(original.server)
        req = original.requests_per_s
        size = original.store_bytes
        if server is not None:
            req = req if req is not None else server.requests_per_s / share[original.server]
            size = size if size is not None else server.store_bytes / share[original.server]
        out.append(RegionLoad(now.region_id, now.table, now.server, req, size))  # type: ignore[arg-type]
    return out


@given(clusters(loads=False))
def test_no_server_that_takes_regions_is_left_empty_while_another_has_two(cluster: Cluster) -> None:
    regions = _all_movable(cluster.regions)
    result = plan(cluster.servers, regions, weights=Weights(region_count=1, table_skew=500))
    if any(s.drain for s in cluster.servers):
        return
    counts = result.counts
    if counts and max(counts.values()) >= 2:
        assert min(counts.values()) > 0


@given(clusters(loads=False, tables=1))
def test_one_table_without_loads_ends_even_with_the_fewest_moves(cluster: Cluster) -> None:
    servers = [ServerLoad(s.name) for s in cluster.servers]  # every one takes regions
    result = plan(servers, _all_movable(cluster.regions), slop=0.0)
    counts = list(result.counts.values())
    assert max(counts) - min(counts) <= 1
    before = Counter(r.server for r in cluster.regions)
    assert len(result.moves) == minimum_moves([before[s.name] for s in servers])


def _all_movable(regions: list[RegionLoad]) -> list[RegionLoad]:
    return [RegionLoad(r.region_id, r.table, r.server, r.requests_per_s, r.store_bytes) for r in regions]


@given(clusters())
def test_nothing_moves_within_the_slop(cluster: Cluster) -> None:
    result = plan(cluster.servers, cluster.regions, slop=0.99)
    if not any(s.drain for s in cluster.servers) and not result.reason:
        assert result.moves == ()


def test_adding_empty_servers_spreads_evenly_with_the_minimum_of_moves() -> None:
    servers = [ServerLoad(_name(i)) for i in range(10)]
    regions = [RegionLoad(i, "t", servers[i % 5].name) for i in range(10_000)]
    result = plan(servers, regions)
    assert len(result.moves) == 5_000 == minimum_moves([2_000] * 5 + [0] * 5)
    assert set(result.counts.values()) == {1_000}
    assert "more than" in result.reason


def test_within_the_slop_nothing_moves_but_an_empty_server_is_filled() -> None:
    servers = [ServerLoad(_name(i)) for i in range(3)]
    within = [RegionLoad(i, "t", servers[i % 3].name) for i in range(29)]
    within.append(RegionLoad(99, "t", servers[0].name))
    assert plan(servers, within).moves == ()
    # 3, 3, 0 with a slop of 0.99: every count is within [0, 4], yet a server is empty: it is filled.
    six = [RegionLoad(i, "t", servers[i % 2].name) for i in range(6)]
    result = plan(servers, six, slop=0.99)
    assert "no region" in result.reason
    assert sorted(result.counts.values()) == [2, 2, 2]


def test_hot_server_gives_its_regions_away_first() -> None:
    servers = [ServerLoad(_name(0), requests_per_s=9_000), ServerLoad(_name(1)), ServerLoad(_name(2))]
    regions = [RegionLoad(i, "t", servers[i % 3].name) for i in range(30)]
    regions += [RegionLoad(100 + i, "t", servers[0].name) for i in range(4)]  # 14, 10, 10: outside 0.1
    result = plan(servers, regions, slop=0.1)
    assert result.moves and all(m.source == servers[0].name for m in result.moves)
    assert result.cost_after < result.cost_before


def test_outside_slop_says_why() -> None:
    a, b = _name(0), _name(1)
    assert outside_slop({a: 10, b: 10}, 0.2) == ""
    assert "more than 12" in outside_slop({a: 14, b: 6}, 0.2)
    assert "no region" in outside_slop({a: 2, b: 0}, 0.99)
    with pytest.raises(ValueError, match="slop"):
        plan([ServerLoad(a)], [], slop=1.5)
