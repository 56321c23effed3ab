"""The assignment core's part of split and merge: regions held by a split_region or merge_regions procedure.

A parent is attached to its procedure (`proc_id` = the procedure's id, `kind` SPLIT or MERGE) for the whole
operation, so nothing else moves it: OPEN -> SPLITTING / MERGING (`hold`) -> CLOSING with a close order
carrying the procedure's id (`close`) -> CLOSED (its report, taken by AssignmentManager._closed, which leaves
it attached) -> SPLIT / MERGED at the point of no return (`retire`). A server death on the way leaves it
ABNORMALLY_CLOSED and still attached (never reassigned by crash recovery); the procedure takes it as closed.
Those three reactions (a CLOSED report, a server death, a master's takeover) live in AssignmentManager
itself (`_held_closed`, `_held_died`, `_held_take_over`), next to the code paths that call them.
Before the point of no return a rollback opens it again (`reopen`) as an ordinary assign.

The daughters of a split and the merged child are born SPLITTING_NEW / MERGING_NEW, attached to the
procedure too (`born`: table-wide waits of other procedures see them busy), then opened as ordinary ASSIGN
transitions with ids of their own (`open_children`), on the parent's last server when it is live.

Functions here take the AssignmentManager and decide without I/O, as its own methods do.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from master.assignment import HELD_KINDS, AssignmentManager, Effects
from master.errors import InvalidArgument, RegionInTransition
from master.regions import RegionNode
from meta import RegionInfo, RegionState, ServerName, TransitKind
from meta.codec import RegionStateRow

S = RegionState
#: The state a parent goes to when its procedure takes it, and the one it ends in.
HOLD_STATE = {TransitKind.SPLIT: S.SPLITTING, TransitKind.MERGE: S.MERGING}
RETIRED_STATE = {TransitKind.SPLIT: S.SPLIT, TransitKind.MERGE: S.MERGED}
NEW_STATE = {TransitKind.SPLIT: S.SPLITTING_NEW, TransitKind.MERGE: S.MERGING_NEW}


def held(node: RegionNode, proc_id: int) -> bool:
    return node.proc_id == proc_id and node.kind in HELD_KINDS


def hold(am: AssignmentManager, nodes: Sequence[RegionNode], proc_id: int, kind: TransitKind) -> Effects:
    """Attach idle OPEN regions to procedure `proc_id`: OPEN -> SPLITTING / MERGING (each leaves its
    server's digest: master.reconcile compares only OPEN regions)."""
    for node in nodes:
        if node.proc_id or node.region_id in am.waiting:
            raise RegionInTransition(f"region {node.region_id} is under procedure {node.proc_id}")
        if node.state is not S.OPEN or node.server is None:
            raise InvalidArgument(f"region {node.region_id} is {node.state.name}: it must be OPEN")
    effects = Effects()
    for node in nodes:
        am._to(node, HOLD_STATE[kind])
        node.proc_id, node.kind, node.attempts, node.target = proc_id, kind, 0, None
        am.in_transition[node.region_id] = node
        effects.rows.append(node.row())
    return effects


def close(am: AssignmentManager, nodes: Sequence[RegionNode]) -> Effects:
    """SPLITTING / MERGING -> CLOSING, a close order with the procedure's id to each parent's server. A
    parent its server's death left ABNORMALLY_CLOSED needs none."""
    effects = Effects()
    for node in nodes:
        if node.state in (S.SPLITTING, S.MERGING) and node.server is not None:
            am._close(node, effects)
    return effects


def born(
    am: AssignmentManager, infos: Sequence[RegionInfo], proc_id: int, kind: TransitKind
) -> tuple[list[RegionNode], Effects]:
    """The daughters (or the merged child): new regions SPLITTING_NEW / MERGING_NEW, attached to the
    procedure until it opens them."""
    state = NEW_STATE[kind]
    nodes = [RegionNode(info, RegionStateRow(state, proc_id=proc_id, kind=kind)) for info in infos]
    am.add(nodes)
    effects = Effects()
    for node in nodes:
        am.in_transition[node.region_id] = node
        effects.rows.append(node.row())
    return nodes, effects


def retire(am: AssignmentManager, nodes: Sequence[RegionNode], info_of: dict[int, RegionInfo]) -> Effects:
    """The point of no return, for the parents: CLOSED -> SPLIT / MERGED, detached, with their new
    RegionInfo (split/offline flags, children). A parent left ABNORMALLY_CLOSED goes CLOSED first."""
    effects = Effects()
    for node in nodes:
        kind = node.kind
        last = node.target or node.server
        if node.state is S.ABNORMALLY_CLOSED:
            am._to(node, S.CLOSED)
        am._to(node, RETIRED_STATE[kind])
        am._set_server(node, None)
        am._detach(node)
        node.target = last  # kept in its row: the children open there if it is live
        node.info = info_of[node.region_id]
        effects.rows.append(node.row())
    return effects


def open_children(am: AssignmentManager, nodes: Sequence[RegionNode], near: ServerName | None) -> Effects:
    """Open new regions (SPLITTING_NEW / MERGING_NEW, still held) as ordinary assigns with procedure ids
    of their own: on `near` (the parent's last server) if it can take regions, else wherever the
    placement says; with no server live they wait for one."""
    effects = Effects()
    targets = am.servers.targets()
    for node in nodes:
        if node.state not in (S.SPLITTING_NEW, S.MERGING_NEW):
            continue  # opened already (this step runs again after a failover)
        am._detach(node)
        server = _place(am, near, targets)
        if server is None:
            am.waiting[node.region_id] = node
            continue
        am._attach(node, TransitKind.ASSIGN)
        am._open(node, server, effects)
    return effects


def reopen(am: AssignmentManager, nodes: Sequence[RegionNode]) -> Effects:
    """Rollback: parents that are no longer CLOSING are given back. One still SPLITTING / MERGING (its
    close was never sent) goes back to OPEN where it is; a closed one is assigned again, on its last
    server if it is live, as an ordinary assign."""
    effects = Effects()
    targets = am.servers.targets()
    for node in nodes:
        if not (node.proc_id and node.kind in HELD_KINDS):
            continue
        if node.state in (S.SPLITTING, S.MERGING):
            am._to(node, S.OPEN)
            am._detach(node)
            effects.rows.append(node.row())
            continue
        if node.state not in (S.CLOSED, S.ABNORMALLY_CLOSED):
            continue  # CLOSING: wait for its report
        last = node.target or node.server
        am._detach(node)
        if node.server is not None:
            am._set_server(node, None)
        node.server = None
        server = _place(am, last, targets)
        if server is None:
            am.waiting[node.region_id] = node
            effects.rows.append(node.row())
            continue
        am._attach(node, TransitKind.ASSIGN)
        am._open(node, server, effects)
    return effects


def release(am: AssignmentManager, proc_id: int) -> Effects:
    """Procedure `proc_id` was bypassed by an operator: the regions it held are let go, as a bypassed
    region transition leaves its region. A parent not yet closing is OPEN again where it is; one closing
    is ABNORMALLY_CLOSED (a close is sent to be sure its server serves nothing); a closed one stays closed,
    for the operator to assign; an unopened child stays SPLITTING_NEW / MERGING_NEW (hbck reports it)."""
    effects = Effects()
    for node in [n for n in am.in_transition.values() if n.proc_id == proc_id and n.kind in HELD_KINDS]:
        if node.state in (S.SPLITTING, S.MERGING):
            am._to(node, S.OPEN)
        elif node.state is S.CLOSING:
            am._to(node, S.ABNORMALLY_CLOSED)
            if node.server is not None and am.servers.is_live(node.server):
                effects.close(node.server, node)
        am._detach(node)
        effects.rows.append(node.row())
    return effects


def _place(
    am: AssignmentManager, preferred: ServerName | None, targets: Collection[ServerName]
) -> ServerName | None:
    """`preferred` if it can take regions, else where the placement says; None when no server is live."""
    if preferred is not None and preferred in targets:
        return preferred
    try:
        return am._pick()
    except InvalidArgument:
        return None
