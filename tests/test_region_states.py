"""The code's region state table (meta.states) against the answer key (tests/transition_key.py), both ways,
and transition() / transition_many() against the key on every pair of states."""

from __future__ import annotations

import itertools

import pytest

from meta import IllegalTransition
from meta.states import TRANSITIONS, RegionState, transition, transition_many
from tests.transition_key import LEGAL

S = RegionState
PAIRS = list(itertools.product(S, S))


class Region:
    def __init__(self, region_id: int, state: RegionState) -> None:
        self.region_id = region_id
        self.state = state


def _code_edges() -> set[tuple[RegionState, RegionState]]:
    return {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}


def test_every_edge_of_the_code_is_in_the_answer_key() -> None:
    extra = sorted(_code_edges() - LEGAL)
    assert not extra, "legal in meta.states, not in DESIGN's table: " + ", ".join(
        f"{a.name} -> {b.name}" for a, b in extra
    )


def test_every_edge_of_the_answer_key_is_in_the_code() -> None:
    missing = sorted(LEGAL - _code_edges())
    assert not missing, "in DESIGN's table, missing from meta.states: " + ", ".join(
        f"{a.name} -> {b.name}" for a, b in missing
    )


def test_the_code_table_names_every_state() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a.name}->{b.name}" for a, b in PAIRS])
def test_transition_accepts_exactly_the_edges_of_the_answer_key(current: S, target: S) -> None:
    region, batch = Region(7, current), [Region(8, current), Region(9, current)]
    if (current, target) in LEGAL:
        transition(region, target)
        assert transition_many(batch, target) == {current: 2}
        assert [r.state for r in (region, *batch)] == [target] * 3
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(region, target)
        assert (raised.value.region_id, raised.value.current, raised.value.target) == (7, current, target)
        with pytest.raises(IllegalTransition):
            transition_many(batch, target)
        assert [r.state for r in (region, *batch)] == [current] * 3, "a refused transition changed a state"
