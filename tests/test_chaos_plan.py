"""The chaos monkey's plan (regent.chaos.plan): pure, reproducible from the seed, and within its limits.

No cluster here: the plan is a function of the seed, the policy, the duration and the initial model, so
these properties are checked over many seeds in milliseconds. The real runs are in tests/test_chaos.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regent.chaos import actions
from regent.chaos.actions import REGISTRY, Action, heal, register
from regent.chaos.model import MAX_ADDED_FAMILIES, Limits, Model
from regent.chaos.plan import plan
from regent.chaos.policies import POLICIES, Policy, check_registered


def model(servers: int = 3, masters: int = 2, *, can_signal: bool = True) -> Model:
    return Model(
        regionservers=tuple(f"regionserver-{16100 + i}" for i in range(servers)),
        masters=tuple(f"master-{16000 + i}" for i in range(masters)),
        table="chaos",
        regions=8,
        families=("f",),
        can_signal=can_signal,
    )


def steps(
    seed: int, policy: str = "default", duration: float = 600.0, *, min_live: int = 1, can_signal: bool = True
) -> list[tuple[object, ...]]:
    start = model(can_signal=can_signal)
    return [
        (p.seq, p.at, p.step.kind, p.step.target, tuple(sorted(p.step.params.items())))
        for p in plan(seed, POLICIES[policy], duration, start, Limits(min_live))
    ]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert steps(7) == steps(7)
    assert steps(7) != steps(8)
    assert len(steps(7)) > 100  # 600 s at an action every 1-4 s


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    assert steps(3, duration=600.0)[: len(steps(3, duration=60.0))] == steps(3, duration=60.0)


def test_every_action_is_due_before_the_duration_in_increasing_time() -> None:
    times = [at for _, at, *_ in steps(11, duration=120.0)]
    assert times == sorted(times) and all(0 < t < 120.0 for t in times)


@given(
    seed=st.integers(0, 2**32 - 1),
    servers=st.integers(1, 6),
    masters=st.integers(1, 3),
    min_live=st.integers(0, 6),
    policy=st.sampled_from(sorted(POLICIES)),
)
def test_the_plan_never_leaves_fewer_than_min_live_servers_nor_kills_the_last_master(
    seed: int, servers: int, masters: int, min_live: int, policy: str
) -> None:
    start = model(servers, masters)
    limits = Limits(min_live)
    running = len(start.regionservers)
    for planned in plan(seed, POLICIES[policy], 300.0, start, limits):
        step, after = planned.step, planned.model
        if step.kind in ("kill_regionserver", "pause_regionserver"):
            # A pause takes the server out while it lasts: the bound counts it as down.
            assert len(after.running_regionservers) - (step.kind == "pause_regionserver") >= min_live
            assert step.target in start.regionservers
        if step.kind == "kill_active_master":
            assert after.running_masters >= 1
        if step.kind == "restart_daemon":
            assert step.target == "master" or step.target in start.regionservers
        assert len(after.running_regionservers) >= min(min_live, running)
        assert 0 <= after.masters_killed < masters
        assert len(after.added_families) <= MAX_ADDED_FAMILIES


def test_without_process_control_only_master_actions_are_planned() -> None:
    kinds = {kind for _, _, kind, *_ in steps(5, can_signal=False)}
    assert kinds and not any(REGISTRY[k].needs_signals for k in kinds), kinds


def test_the_default_policy_uses_every_kind_it_names() -> None:
    assert {kind for _, _, kind, *_ in steps(1)} == set(POLICIES["default"].kinds)


def test_a_restart_only_picks_what_was_killed_and_healing_brings_back_the_rest() -> None:
    limits = Limits(1)
    current = model()
    for planned in plan(2, POLICIES["default"], 600.0, current, limits):
        if planned.step.kind == "restart_daemon" and planned.step.target != "master":
            assert planned.step.target in current.killed
        current = planned.model
    for step in heal(current):
        current = REGISTRY[step.kind].apply(current, step)
    assert not current.killed and current.masters_killed == 0 and not current.decommissioned


def test_region_targets_are_indexes_within_the_table_and_destinations_servers_in_service() -> None:
    before = model()
    for planned in plan(9, POLICIES["default"], 600.0, before, Limits(1)):
        step = planned.step
        if step.kind in ("move_region", "split_region"):
            assert 0 <= step.params["region_index"] < before.regions
        if step.kind == "merge_regions":  # regions #k and #k+1
            assert 0 <= step.params["region_index"] < before.regions - 1
        if step.kind == "move_region":
            assert step.params["to"] in planned.model.in_service
        before = planned.model


def test_splits_and_merges_change_the_region_count_the_next_targets_are_drawn_from() -> None:
    counts = []
    current = model()
    splits_merges = Policy("t", "", (("split_region", 1), ("merge_regions", 1), ("move_region", 1)), (1, 2))
    for planned in plan(4, splits_merges, 600.0, current, Limits(1)):
        change = {"split_region": 1, "merge_regions": -1}.get(planned.step.kind, 0)
        assert planned.model.regions == current.regions + change >= 1
        counts.append(planned.model.regions)
        current = planned.model
    assert len(set(counts)) > 1


@given(seed=st.integers(0, 2**32 - 1), servers=st.integers(1, 6), min_live=st.integers(0, 6))
def test_decommissions_keep_min_live_servers_in_service_and_recommission_only_what_they_took_out(
    seed: int, servers: int, min_live: int
) -> None:
    current = model(servers)
    for planned in plan(seed, POLICIES["default"], 300.0, current, Limits(min_live)):
        step, after = planned.step, planned.model
        if step.kind == "decommission_regionserver":
            assert step.target in current.in_service and len(after.in_service) >= min_live
        if step.kind == "recommission_regionserver":
            assert step.target in current.decommissioned and step.target in current.running_regionservers
        if step.kind in ("kill_regionserver", "pause_regionserver"):
            assert len(current.in_service) - 1 >= min_live
        current = after
    for step in heal(current):
        current = REGISTRY[step.kind].apply(current, step)
    assert not current.killed and not current.decommissioned
    assert [s.kind for s in heal(current)] == []


def test_every_policy_names_registered_kinds_and_a_name_registers_once() -> None:
    check_registered()

    class Again(Action):
        name = "move_region"

    with pytest.raises(ValueError, match="move_region"):
        register(Again())
    assert set(REGISTRY) >= {"kill_regionserver", "pause_regionserver", "kill_active_master", "move_region"}
    assert actions.REGISTRY is REGISTRY


def test_docs_operations_md_lists_every_policy_as_it_is() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    for policy in POLICIES.values():
        weights = ", ".join(f"{kind} {weight}" for kind, weight in policy.weights)
        lo, hi = policy.interval_s
        assert f"| {policy.name} | {weights}" in text, policy.name
        assert f"{lo:g}-{hi:g} s |" in text, policy.name
