"""create_table: the table and its regions written in one transaction, then every region assigned.

Steps: add_to_meta (table ENABLING and its regions, one transaction: the point of no return) -> assign
(batched opens, retain or even spread) -> finish (every region settled: the table is ENABLED).
"""

from __future__ import annotations

from collections.abc import Collection

from master.errors import TableExists
from master.procedures import table_steps
from master.procedures.base import Env, Procedure
from meta import TableDescriptor
from meta.codec import table_to_proto
from regent.proto import meta_pb2


class CreateTable(table_steps.CreatesRegions):
    KIND = "create_table"
    FIRST = "add_to_meta"
    STEPS = {
        "add_to_meta": "write the table and its regions",
        "assign": "assign the regions",
        "finish": "wait for every region to open",
    }

    @classmethod
    def new(cls, proc_id: int, descriptor: TableDescriptor, split_keys: list[bytes]) -> CreateTable:
        data = meta_pb2.TableProcedureData(descriptor=table_to_proto(descriptor), split_keys=split_keys)
        data.total = len(split_keys) + 1
        proc = cls(proc_id, descriptor.name, data)
        proc.total = data.total
        return proc

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        if self.table in env.catalog.tables or any(isinstance(p, CreateTable) for p in ahead):
            raise TableExists(f"table {self.table!r} already exists")
