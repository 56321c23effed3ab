"""delete_table: a disabled table's rows removed from meta in one transaction (the point of no return), then
every region store under ROOTDIR/data/<table>/ removed. A master that dies in between finds the procedure at
its last step and removes the stores then: nothing is left behind."""

from __future__ import annotations

from collections.abc import Collection

from master.procedures import table_steps
from master.procedures.base import Env, Outcome, Procedure
from meta import TableState
from regent.proto import meta_pb2


class DeleteTable(Procedure):
    KIND = "delete_table"
    ROLLBACK = {"remove_meta": "rolled_back"}
    STEPS = {
        "prepare": "check that the table is disabled",
        "remove_meta": "remove the table and its regions from meta",
        "remove_stores": "remove the region stores",
        "rolled_back": "nothing to undo",
    }

    @classmethod
    def new(cls, proc_id: int, table: str) -> DeleteTable:
        return cls(proc_id, table, meta_pb2.TableProcedureData())

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        table_steps.precondition(env, self.table, ahead, TableState.DISABLED)

    def step_prepare(self, env: Env) -> Outcome:
        return Outcome(next="remove_meta", total=len(env.catalog.regions.table(self.table)), done=0)

    def step_remove_meta(self, env: Env) -> Outcome:
        outcome = table_steps.remove_regions(env, self.table, "remove_meta", "remove_stores")
        if outcome.next == "remove_stores":
            env.catalog.tables.pop(self.table, None)
            outcome.batch.delete("tables", self.table.encode())
        return outcome

    def step_remove_stores(self, env: Env) -> Outcome:
        return Outcome(next=None, remove=[env.rootdir / "data" / self.table], done=self.total)

    def step_rolled_back(self, env: Env) -> Outcome:
        return Outcome(next=None)
