"""Steps that several table procedures share: a table's regions created, assigned, closed, settled, removed.

Each function decides without I/O: it changes the master's in-memory state through the assignment core and
returns what must be written and sent, for the calling step's Outcome.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Collection, Sequence

from master import catalog as catalog_mod
from master.assignment import Effects
from master.errors import TableNotDisabled, TableNotEnabled, TableNotFound
from master.procedures.base import Env, Outcome, Procedure
from master.regions import RegionNode, initial_row
from meta import RegionState, TableDescriptor, TableState, TransitKind, WriteBatch, keys
from meta.codec import encode_table, table_from_proto
from meta.states import ASSIGNABLE
from regent.proto import meta_pb2

S = RegionState
_STATE = operator.attrgetter("state")


def existing(env: Env, table: str) -> TableDescriptor:
    descriptor = env.catalog.tables.get(table)
    if descriptor is None:
        raise TableNotFound(f"table {table!r} does not exist")
    return descriptor


def need_state(env: Env, table: str, state: TableState) -> TableDescriptor:
    descriptor = existing(env, table)
    if descriptor.state is not state:
        error = TableNotDisabled if state is TableState.DISABLED else TableNotEnabled
        raise error(f"table {table!r} is {descriptor.state.name}: this needs it {state.name}")
    return descriptor


def precondition(env: Env, table: str, ahead: Collection[Procedure], state: TableState | None) -> None:
    """A table procedure's check at submission: with nothing ahead of it on the table, the table must
    exist (in `state`); queued behind others, it must exist or be about to (a create ahead): its state is
    checked again when its turn comes."""
    if not ahead:
        if state is None:
            existing(env, table)
        else:
            need_state(env, table, state)
    elif table not in env.catalog.tables and not any(p.KIND == "create_table" for p in ahead):
        raise TableNotFound(f"table {table!r} does not exist")


def set_state(env: Env, table: str, state: TableState, batch: WriteBatch) -> None:
    descriptor = dataclasses.replace(existing(env, table), state=state)
    env.catalog.tables[table] = descriptor
    batch.put("tables", table.encode(), encode_table(descriptor))


def any_unsettled(env: Env, table: str) -> bool:
    """Whether any region of `table` is in transition or waits for a server."""
    table_nodes = env.catalog.regions.table(table)
    return env.first_unsettled(table_nodes) < len(table_nodes)


def add_regions(env: Env, data: meta_pb2.TableProcedureData) -> Outcome:
    """Write the table (ENABLING) and its regions in one transaction; then they are assigned."""
    descriptor = dataclasses.replace(table_from_proto(data.descriptor), state=TableState.ENABLING)
    first = env.catalog.counters[b"next_region_id"]
    batch, infos = catalog_mod.new_table_rows(descriptor, list(data.split_keys), first)
    env.catalog.counters[b"next_region_id"] = first + len(infos)
    env.catalog.tables[descriptor.name] = descriptor
    env.am.add([RegionNode(info, initial_row()) for info in infos])
    data.first_region_id = first
    del data.split_keys[:]  # written as regions now: the record need not carry them any more
    return Outcome(next="assign", batch=batch, total=len(infos), done=0)


def assign_regions(env: Env, table: str) -> Effects:
    """Assign every idle region of `table` that an assign may start from (retaining last locations)."""
    waiting = env.am.waiting
    idle = [
        n
        for n in env.catalog.regions.table(table)
        if not n.proc_id and n.state in ASSIGNABLE and n.region_id not in waiting and not n.info.offline
    ]
    idle.sort(key=lambda n: n.region_id)
    return env.am.assign_all(idle)


#: Left closed by something in flight when the table was assigned (a close that ended after the assign
#: step): assigned again. FAILED_OPEN is not: its attempts are used up, and an operator decides.
_REASSIGN = frozenset({S.OFFLINE, S.CLOSED, S.ABNORMALLY_CLOSED})


def open_regions(env: Env, table: str, step: str) -> Outcome:
    """Wait until no region of `table` is in transition, assigning any that was left closed; then the
    table is ENABLED and the step is done."""
    table_nodes = env.catalog.regions.table(table)
    total = len(table_nodes)
    if any_unsettled(env, table):
        return Outcome(next=step, settle_table=True, total=total)
    states = map(_STATE, table_nodes)
    left = (
        []
        if not any(map(_REASSIGN.__contains__, states))
        else [  # the scan at C speed first
            n for n in table_nodes if n.state in _REASSIGN and not n.info.offline
        ]
    )
    if left:
        return Outcome(next=step, effects=env.am.assign_all(left), settle_table=True, total=total)
    batch = WriteBatch()
    set_state(env, table, TableState.ENABLED, batch)
    return Outcome(next=None, batch=batch, total=total, done=total)


def close_regions(env: Env, table: str, step: str) -> Outcome:
    """Close every OPEN region of `table`, batched; wait for those in transition, then close what they
    left open; when none is open or moving, the table is DISABLED."""
    table_nodes = env.catalog.regions.table(table)
    env.am.forget_waiting(table_nodes)
    open_idle = [n for n in table_nodes if n.state is S.OPEN and not n.proc_id]
    effects = env.am.close_many(open_idle, TransitKind.UNASSIGN) if open_idle else Effects()
    total = len(table_nodes)
    if open_idle or any_unsettled(env, table):
        return Outcome(next=step, effects=effects, settle_table=True, total=total)
    batch = WriteBatch()
    set_state(env, table, TableState.DISABLED, batch)
    return Outcome(next=None, effects=effects, batch=batch, total=total, done=total)


def remove_regions(env: Env, table: str, step: str, then: str) -> Outcome:
    """Delete every region row of `table` (RegionInfo and state) in one transaction, once none is in
    transition; the region stores are removed by the next step."""
    if any_unsettled(env, table):
        return Outcome(next=step, settle_table=True)
    gone = list(env.catalog.regions.table(table))
    batch = delete_rows(gone)
    env.am.remove(gone)
    return Outcome(next=then, batch=batch)


def delete_rows(gone: Sequence[RegionNode]) -> WriteBatch:
    batch = WriteBatch()
    for node in gone:
        info = node.info
        batch.delete("regions", keys.region_key(info.table, info.start_key, info.region_id))
        batch.delete("region_state", keys.u64(info.region_id))
    return batch


class CreatesRegions(Procedure):
    """The steps that create a table's regions and open them, shared by create_table and truncate_table:
    add_to_meta (the table ENABLING and its regions, one transaction) -> assign -> finish (ENABLED)."""

    def step_add_to_meta(self, env: Env) -> Outcome:
        return add_regions(env, self.data)

    def step_assign(self, env: Env) -> Outcome:
        return Outcome(next="finish", effects=assign_regions(env, self.table))

    def step_finish(self, env: Env) -> Outcome:
        return open_regions(env, self.table, "finish")
