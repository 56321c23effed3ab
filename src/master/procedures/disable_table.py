"""disable_table: DISABLING persisted, every region closed with batched orders, then DISABLED.

A disabled table's regions are never reassigned: startup and crash recovery leave the regions of a table
that is not enabled closed, and an operator's assign is refused. An abort while regions are being closed
rolls back by enabling the table again (the steps of enable_table).
"""

from __future__ import annotations

from collections.abc import Collection

from master.procedures import table_steps
from master.procedures.base import Env, Outcome, Procedure
from meta import TableState, WriteBatch
from regent.proto import meta_pb2


class DisableTable(Procedure):
    KIND = "disable_table"
    ROLLBACK = {"close": "rb_enable"}
    STEPS = {
        "prepare": "mark the table DISABLING",
        "close": "close every region",
        "rb_enable": "mark the table ENABLING again",
        "rb_assign": "assign the regions again",
        "rb_finish": "wait for every region to open",
    }

    @classmethod
    def new(cls, proc_id: int, table: str) -> DisableTable:
        return cls(proc_id, table, meta_pb2.TableProcedureData())

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        table_steps.precondition(env, self.table, ahead, TableState.ENABLED)

    def step_prepare(self, env: Env) -> Outcome:
        batch = WriteBatch()
        table_steps.set_state(env, self.table, TableState.DISABLING, batch)
        return Outcome(next="close", batch=batch, total=len(env.catalog.regions.table(self.table)), done=0)

    def step_close(self, env: Env) -> Outcome:
        return table_steps.close_regions(env, self.table, "close")

    def step_rb_enable(self, env: Env) -> Outcome:
        batch = WriteBatch()
        table_steps.set_state(env, self.table, TableState.ENABLING, batch)
        return Outcome(next="rb_assign", batch=batch)

    def step_rb_assign(self, env: Env) -> Outcome:
        return Outcome(next="rb_finish", effects=table_steps.assign_regions(env, self.table))

    def step_rb_finish(self, env: Env) -> Outcome:
        return table_steps.open_regions(env, self.table, "rb_finish")
