"""The answer key of the region state machine: every legal transition, written out from DESIGN.md §4 (its
table and its split/merge rules), §6 (rollback before a point of no return) and the decisions recorded in
docs/ (decisions.md, architecture.md's table, failure-model.md), each with its cause.

It is deliberately *not* derived from meta.states.TRANSITIONS: tests/test_region_states.py compares the two
both ways, and the lifecycle state machine (tests/test_region_lifecycle.py) draws legal and illegal
transitions from this key, so a wrong extra edge in the code (CLOSED -> OPEN, say) or a missing one fails.
"""

from __future__ import annotations

from meta.states import RegionState

S = RegionState

LEGAL: frozenset[tuple[RegionState, RegionState]] = frozenset(
    {
        # ---- DESIGN §4, the core table ----
        # assign: a server is chosen, OPENING persisted before the open is sent
        (S.OFFLINE, S.OPENING),
        (S.CLOSED, S.OPENING),
        (S.ABNORMALLY_CLOSED, S.OPENING),
        (S.FAILED_OPEN, S.OPENING),
        # the chosen server reports OPENED for this procedure
        (S.OPENING, S.OPEN),
        # the open failed or could not be sent: retried on another server, attempts + 1
        (S.OPENING, S.OPENING),
        # attempts exhausted
        (S.OPENING, S.FAILED_OPEN),
        # unassign, move, disable, reopen, split, merge: the close is persisted before it is sent
        (S.OPEN, S.CLOSING),
        # the server reports CLOSED
        (S.CLOSING, S.CLOSED),
        # the hosting server died
        (S.OPENING, S.ABNORMALLY_CLOSED),
        (S.OPEN, S.ABNORMALLY_CLOSED),
        (S.CLOSING, S.ABNORMALLY_CLOSED),
        # ---- DESIGN §4, split: the parent OPEN -> SPLITTING -> CLOSING -> CLOSED -> SPLIT ----
        (S.OPEN, S.SPLITTING),
        (S.SPLITTING, S.CLOSING),
        # the point of no return: the parent's SPLIT mark and the daughters' rows in one transaction
        (S.CLOSED, S.SPLIT),
        # the daughters are born SPLITTING_NEW, then assigned
        (S.SPLITTING_NEW, S.OPENING),
        # ---- DESIGN §4, merge, the mirror image: parents MERGING -> CLOSING -> CLOSED -> MERGED ----
        (S.OPEN, S.MERGING),
        (S.MERGING, S.CLOSING),
        (S.CLOSED, S.MERGED),
        # the child is born MERGING_NEW, then assigned
        (S.MERGING_NEW, S.OPENING),
        # ---- DESIGN §6: before the point of no return a failure or an abort rolls the procedure back; the
        # parent has not been closed yet and stays open where it is ----
        (S.SPLITTING, S.OPEN),
        (S.MERGING, S.OPEN),
        # ---- DESIGN §4's "the hosting server died", for the other states in which a server hosts the
        # region: a split or merge parent that has not been closed yet ----
        (S.SPLITTING, S.ABNORMALLY_CLOSED),
        (S.MERGING, S.ABNORMALLY_CLOSED),
        # ---- DESIGN §4 "(then reassigned unless the table is disabling)", failure-model.md "What happens
        # when a RegionServer dies": the server died during an unassign, or the table is not enabled, so
        # the region is not reassigned and ends CLOSED ----
        (S.ABNORMALLY_CLOSED, S.CLOSED),
        # ---- decisions recorded in docs/architecture.md's table ("legal, not produced yet") ----
        # a region that is open nowhere, unassigned or its table disabled: CLOSED without a close order
        (S.FAILED_OPEN, S.CLOSED),
        # ---- not legal, on purpose ----
        # CLOSED -> SPLITTING / MERGING: removed (commit 3fcbd98); a split or merge starts from OPEN.
        # SPLIT, MERGED: final, nothing leaves them.
        # CLOSED -> OFFLINE: removed; DESIGN gives it no cause, nothing produced it, and a closed region
        # turned OFFLINE would be reassigned by the next master's takeover against the operator's close.
    }
)

#: The states a region's row is born in: a new table's regions (no row: OFFLINE, decisions.md) and the
#: daughters of a split or the child of a merge (DESIGN §4).
BORN: frozenset[RegionState] = frozenset({S.OFFLINE, S.SPLITTING_NEW, S.MERGING_NEW})


def targets(state: RegionState) -> frozenset[RegionState]:
    """The states `state` may go to, by the key."""
    return frozenset(dst for src, dst in LEGAL if src is state)
