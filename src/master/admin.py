"""The master's table administration: DDL requests turned into procedures, and what operators read about
tables. Checks that need the master's state (a table exists, is disabled, is locked) are made here at
submission, and made again by each procedure when it takes its table's lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from master.errors import TableLocked, TableNotFound
from master.procedures import (
    CreateTable,
    DeleteTable,
    DisableTable,
    EnableTable,
    Executor,
    ModifyTable,
    TruncateTable,
)
from master.regions import RegionNode
from meta import ColumnFamily, TableDescriptor

#: The most regions one create_table may make (the issue's bound: a million).
MAX_REGIONS_PER_CREATE = 1_000_000


@dataclass(frozen=True, slots=True)
class TableView:
    descriptor: TableDescriptor
    regions: int
    regions_by_state: dict[str, int]
    locked_by: int


class TableAdmin:
    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._env = executor.env

    def _id(self) -> int:
        return self._env.new_proc_id()

    async def create(self, descriptor: TableDescriptor, split_keys: Sequence[bytes], nonce: str = "") -> int:
        return await self._executor.submit(
            CreateTable.new(self._id(), descriptor, list(split_keys)), nonce=nonce
        )

    async def delete(self, table: str, nonce: str = "") -> int:
        return await self._executor.submit(DeleteTable.new(self._id(), table), nonce=nonce)

    async def truncate(self, table: str, preserve_splits: bool, nonce: str = "") -> int:
        return await self._executor.submit(TruncateTable.new(self._id(), table, preserve_splits), nonce=nonce)

    async def enable(self, table: str, nonce: str = "") -> int:
        return await self._executor.submit(EnableTable.new(self._id(), table), nonce=nonce)

    async def disable(self, table: str, nonce: str = "") -> int:
        return await self._executor.submit(DisableTable.new(self._id(), table), nonce=nonce)

    async def modify(self, descriptor: TableDescriptor, nonce: str = "") -> int:
        return await self._executor.submit(ModifyTable.new(self._id(), descriptor), nonce=nonce)

    async def change_family(self, table: str, op: str, family: ColumnFamily | str, nonce: str = "") -> int:
        return await self._executor.submit(
            ModifyTable.family_change(self._id(), table, op, family), nonce=nonce
        )

    # ---- reads ----

    def describe(self, table: str) -> TableView:
        descriptor = self._env.catalog.tables.get(table)
        if descriptor is None:
            raise TableNotFound(f"table {table!r} does not exist")
        nodes = self._env.catalog.regions.table(table)
        by_state = Counter(n.state.name for n in nodes)
        holder = self._executor.holder(table)
        return TableView(descriptor, len(nodes), dict(by_state), holder.proc_id if holder else 0)

    def list(self) -> list[TableView]:
        return [self.describe(name) for name in sorted(self._env.catalog.tables)]

    def check_region_procedure(self, node: RegionNode, what: str) -> None:
        """An operator's assign, unassign or move waits for no table procedure: refused while one holds
        the region's table (or is queued for it)."""
        holder = self._executor.holder(node.info.table)
        if holder is not None:
            raise TableLocked(
                f"region {node.region_id}: table {node.info.table!r} is locked by procedure "
                f"{holder.proc_id} ({holder.KIND}, {holder.describe_step()}): {what} it when that is done"
            )
