"""modify_table (and add_family, modify_family, delete_family, which are modify_table underneath): the new
descriptor written, then the table's regions reopened in a rolling way so that it stays available.

The new descriptor is computed when the procedure takes its lock, from the table as it is then, so that two
clients adding different families one after the other both get theirs. Writing it is the point of no
return. A region needs a reopen if it was opened before that write: its open sequence number is lower than
the master's next one at the time (`reopen_below_seq`), which survives a failover in the record. At most
`Env.reopen_share` of the table's regions are out of service at any moment (at least one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from master.errors import FamilyExists, FamilyNotFound, InvalidArgument
from master.procedures import table_steps
from master.procedures.base import Env, Outcome, Procedure
from meta import ColumnFamily, RegionState, TableDescriptor, TableState, TransitKind, WriteBatch
from meta.codec import encode_table, family_from_proto, family_to_proto, table_from_proto, table_to_proto
from regent.proto import meta_pb2

S = RegionState


class ModifyTable(Procedure):
    KIND = "modify_table"
    STEPS = {
        "prepare": "write the new descriptor",
        "reopen": "reopen the regions, a share at a time",
    }

    @classmethod
    def new(cls, proc_id: int, descriptor: TableDescriptor) -> ModifyTable:
        data = meta_pb2.TableProcedureData(descriptor=table_to_proto(descriptor))
        return cls(proc_id, descriptor.name, data)

    @classmethod
    def family_change(cls, proc_id: int, table: str, op: str, family: ColumnFamily | str) -> ModifyTable:
        """add_family / modify_family (a ColumnFamily) or delete_family (a name)."""
        data = meta_pb2.TableProcedureData(family_op=op)
        if isinstance(family, ColumnFamily):
            data.family.CopyFrom(family_to_proto(family))
        else:
            data.family.name = family
        return cls(proc_id, table, data)

    def describe_step(self) -> str:
        what = super().describe_step()
        op = self.data.family_op
        return f"{what} ({op} family {self.data.family.name})" if op else what

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        if ahead:  # what it changes is computed from the table as it will be when its turn comes
            table_steps.precondition(env, self.table, ahead, None)
        else:
            self._new_descriptor(env)

    def _new_descriptor(self, env: Env) -> TableDescriptor:
        current = table_steps.existing(env, self.table)
        op, family = self.data.family_op, self.data.family
        if not op:
            wanted = table_from_proto(self.data.descriptor)
            return dataclasses.replace(wanted, state=current.state)
        families = list(current.families)
        names = [f.name for f in families]
        if op == "add":
            if family.name in names:
                raise FamilyExists(f"table {self.table!r} already has a column family {family.name!r}")
            families.append(family_from_proto(family))
        elif family.name not in names:
            raise FamilyNotFound(f"table {self.table!r} has no column family {family.name!r}")
        elif op == "modify":
            families[names.index(family.name)] = family_from_proto(family)
        elif op == "delete":
            if len(families) == 1:
                raise InvalidArgument(
                    f"column family {family.name!r} is the last of table {self.table!r}: a table needs one; "
                    "delete the table instead"
                )
            del families[names.index(family.name)]
        else:
            raise InvalidArgument(f"unknown family change {op!r}")
        return dataclasses.replace(current, families=tuple(families))

    def step_prepare(self, env: Env) -> Outcome:
        descriptor = self._new_descriptor(env)
        env.catalog.tables[self.table] = descriptor
        self.data.descriptor.CopyFrom(table_to_proto(descriptor))
        self.data.reopen_below_seq = env.am.next_open_seq_num
        batch = WriteBatch().put("tables", self.table.encode(), encode_table(descriptor))
        if descriptor.state is not TableState.ENABLED:  # nothing is open: the new descriptor is all
            return Outcome(next=None, batch=batch)
        total = len(self._stale(env))
        return Outcome(next="reopen", batch=batch, total=total, done=0)

    def _stale(self, env: Env) -> list[int]:
        below = self.data.reopen_below_seq
        return [
            n.region_id
            for n in env.catalog.regions.table(self.table)
            if n.state is S.OPEN and n.open_seq_num < below
        ]

    def step_reopen(self, env: Env) -> Outcome:
        table_nodes = env.catalog.regions.table(self.table)
        below = self.data.reopen_below_seq
        limit = max(1, int(len(table_nodes) * env.reopen_share))
        busy = [n.region_id for n in table_nodes if not env.settled(n.region_id)]
        stale = [n for n in table_nodes if n.state is S.OPEN and n.open_seq_num < below and not n.proc_id]
        start = stale[: max(0, limit - len(busy))]
        if not stale and not busy:
            return Outcome(next=None, done=self.total)
        outcome = Outcome(next="reopen", wait=busy + [n.region_id for n in start], wake_on_any=True)
        if start:
            outcome.effects = env.am.close_many(start, TransitKind.REOPEN)
        outcome.done = max(0, self.total - len(stale) - len(busy))
        return outcome
