"""The region state machine: HBase 2.x's states, the legal transitions as data, and the one function that
changes a region's state.

Nothing here does I/O. The master's assignment core and the tests call `transition()`; nothing else assigns
`.state` on a region.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Protocol

from meta.errors import IllegalTransition


class RegionState(enum.IntEnum):
    """Numbers are stored in meta and match RegionStateCode in protos/regent/proto/common.proto."""

    OFFLINE = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3
    CLOSED = 4
    FAILED_OPEN = 5
    ABNORMALLY_CLOSED = 6
    SPLITTING = 7
    SPLIT = 8
    SPLITTING_NEW = 9
    MERGING = 10
    MERGED = 11
    MERGING_NEW = 12


S = RegionState

#: Every legal transition, and nothing else. (docs/architecture.md explains each cause.)
TRANSITIONS: Mapping[RegionState, frozenset[RegionState]] = {
    # assign: a server is chosen and OPENING is persisted before the open is sent
    S.OFFLINE: frozenset({S.OPENING}),
    # CLOSED -> SPLIT / MERGED: a split or merge parent, closed by its procedure, at the point of no return
    S.CLOSED: frozenset({S.OPENING, S.SPLIT, S.MERGED}),
    S.ABNORMALLY_CLOSED: frozenset({S.OPENING, S.CLOSED}),
    S.FAILED_OPEN: frozenset({S.OPENING, S.CLOSED}),
    # OPENING -> OPENING: the open failed or could not be sent, retried on another server
    S.OPENING: frozenset({S.OPEN, S.OPENING, S.FAILED_OPEN, S.ABNORMALLY_CLOSED}),
    S.OPEN: frozenset({S.CLOSING, S.ABNORMALLY_CLOSED, S.SPLITTING, S.MERGING}),
    S.CLOSING: frozenset({S.CLOSED, S.ABNORMALLY_CLOSED}),
    # split: OPEN -> SPLITTING -> CLOSING -> CLOSED -> SPLIT; back to OPEN if abandoned before the point
    # of no return. Daughters are born SPLITTING_NEW, the merged child MERGING_NEW; both are then assigned.
    S.SPLITTING: frozenset({S.CLOSING, S.OPEN, S.ABNORMALLY_CLOSED}),
    S.MERGING: frozenset({S.CLOSING, S.OPEN, S.ABNORMALLY_CLOSED}),
    S.SPLITTING_NEW: frozenset({S.OPENING}),
    S.MERGING_NEW: frozenset({S.OPENING}),
    S.SPLIT: frozenset(),
    S.MERGED: frozenset(),
}

#: States in which a region is being moved by a procedure (a "region in transition" in HBase's words).
TRANSIENT: frozenset[RegionState] = frozenset({S.OPENING, S.CLOSING, S.SPLITTING, S.MERGING})

#: States from which an operator's (or the startup's) assign may start. OPENING itself (a retry) and the
#: daughters of a split or merge (their procedure assigns them) also lead to OPENING, but not by an assign.
ASSIGNABLE: frozenset[RegionState] = frozenset({S.OFFLINE, S.CLOSED, S.ABNORMALLY_CLOSED, S.FAILED_OPEN})

# A flat set of (from, to) pairs: the membership test on the hot path is one hash lookup.
_LEGAL: frozenset[tuple[RegionState, RegionState]] = frozenset(
    (src, dst) for src, targets in TRANSITIONS.items() for dst in targets
)


class HasRegionState(Protocol):
    """Anything that holds a region's current state: the master's region nodes, the tests' models."""

    region_id: int
    state: RegionState


def transition_many(regions: Sequence[HasRegionState], target: RegionState) -> Counter[RegionState]:
    """Move every one of `regions` to `target`, all or none, and count the states they came from.

    The batched form of transition() for the hot paths of assignment (a million regions at startup): the
    legality check runs once per distinct source state. If any region may not go to `target`, nothing is
    changed and IllegalTransition names the first such region.
    """
    came = Counter(r.state for r in regions)
    for state in came:
        if (state, target) not in _LEGAL:
            bad = next(r for r in regions if r.state is state)
            raise IllegalTransition(bad.region_id, state, target)
    for region in regions:
        region.state = target
    return came


def transition(region: HasRegionState, target: RegionState) -> None:
    """Move `region` to `target`, or raise IllegalTransition naming the region, its state and the target."""
    if (region.state, target) not in _LEGAL:
        raise IllegalTransition(region.region_id, region.state, target)
    region.state = target
