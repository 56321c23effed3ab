"""enable_table: ENABLING persisted, every region assigned (retained on its last server where that server is
live), then ENABLED. An abort while regions are being opened rolls back by disabling the table again."""

from __future__ import annotations

from collections.abc import Collection

from master.procedures import table_steps
from master.procedures.base import Env, Outcome, Procedure
from meta import TableState, WriteBatch
from regent.proto import meta_pb2


class EnableTable(Procedure):
    KIND = "enable_table"
    ROLLBACK = {"assign": "rb_disable", "finish": "rb_disable"}
    STEPS = {
        "prepare": "mark the table ENABLING",
        "assign": "assign the regions",
        "finish": "wait for every region to open",
        "rb_disable": "mark the table DISABLING again",
        "rb_close": "close every region again",
    }

    @classmethod
    def new(cls, proc_id: int, table: str) -> EnableTable:
        return cls(proc_id, table, meta_pb2.TableProcedureData())

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        table_steps.precondition(env, self.table, ahead, TableState.DISABLED)

    def step_prepare(self, env: Env) -> Outcome:
        batch = WriteBatch()
        table_steps.set_state(env, self.table, TableState.ENABLING, batch)
        return Outcome(next="assign", batch=batch, total=len(env.catalog.regions.table(self.table)), done=0)

    def step_assign(self, env: Env) -> Outcome:
        return Outcome(next="finish", effects=table_steps.assign_regions(env, self.table))

    def step_finish(self, env: Env) -> Outcome:
        return table_steps.open_regions(env, self.table, "finish")

    def step_rb_disable(self, env: Env) -> Outcome:
        batch = WriteBatch()
        table_steps.set_state(env, self.table, TableState.DISABLING, batch)
        return Outcome(next="rb_close", batch=batch)

    def step_rb_close(self, env: Env) -> Outcome:
        return table_steps.close_regions(env, self.table, "rb_close")
