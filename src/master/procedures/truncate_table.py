"""truncate_table: a disabled table's regions and data removed, then the same boundaries (or one region)
created and assigned anew, as create_table does; the table ends ENABLED, as HBase's truncate leaves it.

Steps: prepare (boundaries recorded) -> remove_meta (region rows deleted: the point of no return) ->
remove_stores -> add_to_meta -> assign -> finish.
"""

from __future__ import annotations

from collections.abc import Collection

from master.procedures import table_steps
from master.procedures.base import Env, Outcome, Procedure
from meta import TableState
from meta.codec import table_to_proto
from regent.proto import meta_pb2


class TruncateTable(table_steps.CreatesRegions):
    KIND = "truncate_table"
    ROLLBACK = {"remove_meta": "rolled_back"}
    STEPS = {
        "prepare": "record the region boundaries",
        "remove_meta": "remove the regions from meta",
        "remove_stores": "remove the region stores",
        "add_to_meta": "write the new regions",
        "assign": "assign the regions",
        "finish": "wait for every region to open",
        "rolled_back": "nothing to undo",
    }

    @classmethod
    def new(cls, proc_id: int, table: str, preserve_splits: bool) -> TruncateTable:
        return cls(proc_id, table, meta_pb2.TableProcedureData(preserve_splits=preserve_splits))

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        table_steps.precondition(env, self.table, ahead, TableState.DISABLED)

    def step_prepare(self, env: Env) -> Outcome:
        descriptor = table_steps.existing(env, self.table)
        self.data.descriptor.CopyFrom(table_to_proto(descriptor))
        table_nodes = [n for n in env.catalog.regions.table(self.table) if not n.info.offline]
        if self.data.preserve_splits:
            self.data.split_keys.extend(n.info.start_key for n in table_nodes[1:])
        total = len(self.data.split_keys) + 1
        return Outcome(next="remove_meta", total=total, done=0)

    def step_remove_meta(self, env: Env) -> Outcome:
        return table_steps.remove_regions(env, self.table, "remove_meta", "remove_stores")

    def step_remove_stores(self, env: Env) -> Outcome:
        return Outcome(next="add_to_meta", remove=[env.rootdir / "data" / self.table])

    def step_rolled_back(self, env: Env) -> Outcome:
        return Outcome(next=None)
