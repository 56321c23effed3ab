"""The master's table administration: DDL requests turned into procedures, and what operators read about
tables. Checks that need the master's state (a table exists, is disabled, is locked) are made here at
submission, and made again by each procedure when it takes its table's lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from master.errors import (
    InvalidArgument,
    MergeDisabled,
    RegionHasReferences,
    RegionNotFound,
    SplitDisabled,
    TableLocked,
    TableNotFound,
)
from master.procedures import (
    CreateTable,
    DeleteTable,
    DisableTable,
    EnableTable,
    Executor,
    MergeRegions,
    ModifyTable,
    SplitRegion,
    TruncateTable,
)
from master.regions import RegionNode
from meta import ColumnFamily, TableDescriptor, references

#: The most regions one merge may take (HBase has no bound; a merge is one transaction and one file).
MAX_MERGE_REGIONS = 1000

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
        #: The cluster's split and merge switches now (split_on, merge_on): master.chores.switches, set by
        #: the active master once its chores exist.
        self.split_merge_on: Callable[[], tuple[bool, bool]] = lambda: (True, True)

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

    # ---- split and merge (master.procedures.split_region, merge_regions) ----

    async def split(
        self, region_id: int, split_key: bytes, *, cause: str = "operator", nonce: str = ""
    ) -> int:
        """Submit a split of region `region_id` at `split_key` (concrete: the caller asked the RegionServer
        for the middle row if it had none); return the procedure's id or raise the RequestError saying why
        not (RegionNotFound, RegionInTransition, TableLocked, TableNotEnabled, SplitDisabled,
        InvalidArgument)."""
        node = self._region(region_id)
        table = node.info.table
        if not self.split_merge_on()[0]:
            raise SplitDisabled(
                f"region {region_id}: splits are switched off on this cluster (switch them on with "
                "split_switch(True))"
            )
        if not self._descriptor(table).settings.split_enabled:
            raise SplitDisabled(f"region {region_id}: table {table!r} has split_enabled false")
        self._unlocked_table(table, f"split region {region_id}")
        self.no_references(node, "split")
        proc = SplitRegion.new(self._id(), table, region_id, bytes(split_key), cause)
        return await self._executor.submit(proc, nonce=nonce)

    async def merge(
        self, region_ids: Sequence[int], *, force: bool = False, cause: str = "operator", nonce: str = ""
    ) -> int:
        """Submit a merge of `region_ids` (two or more adjacent regions of one table; with `force`, a hole
        between them is allowed, a region never); return the procedure's id or raise the RequestError
        saying why not (as split, MergeDisabled for a switch off)."""
        ids = list(region_ids)
        if len(ids) < 2:
            raise InvalidArgument(f"a merge needs at least two regions, got {ids}")
        if len(ids) > MAX_MERGE_REGIONS:
            raise InvalidArgument(f"a merge takes at most {MAX_MERGE_REGIONS} regions, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise InvalidArgument(f"a merge needs distinct regions, got {ids}")
        nodes = [self._region(r) for r in ids]
        tables = sorted({n.info.table for n in nodes})
        if len(tables) != 1:
            raise InvalidArgument(f"regions {ids} belong to tables {tables}: a merge takes one table's")
        table = tables[0]
        if not self.split_merge_on()[1]:
            raise MergeDisabled(
                f"regions {ids}: merges are switched off on this cluster (switch them on with "
                "merge_switch(True))"
            )
        if not self._descriptor(table).settings.merge_enabled:
            raise MergeDisabled(f"regions {ids}: table {table!r} has merge_enabled false")
        self._unlocked_table(table, f"merge regions {ids}")
        for node in nodes:
            self.no_references(node, "merged")
        nodes.sort(key=lambda n: n.info.start_key)
        proc = MergeRegions.new(self._id(), table, [n.region_id for n in nodes], bool(force), cause)
        return await self._executor.submit(proc, nonce=nonce)

    def _region(self, region_id: int) -> RegionNode:
        node = self._env.am.regions.get(region_id)
        if node is None:
            raise RegionNotFound(f"region {region_id} does not exist")
        return node

    def _descriptor(self, table: str) -> TableDescriptor:
        descriptor = self._env.catalog.tables.get(table)
        if descriptor is None:
            raise TableNotFound(f"table {table!r} does not exist")
        return descriptor

    def _unlocked_table(self, table: str, what: str) -> None:
        """A split or merge takes no table lock, so it is refused while a table procedure holds the table
        or is queued for it (one submitted after waits for the split's regions to settle)."""
        queued = self._executor.queued(table)
        if queued:
            first = queued[0]
            raise TableLocked(
                f"{what}: table {table!r} is locked by procedure {first.proc_id} ({first.KIND}, "
                f"{first.describe_step()}): try again when it is done"
            )

    def no_references(self, node: RegionNode, what: str) -> None:
        """A child that still reads a parent's store (its REFERENCES file) cannot be split or merged until
        its fold has copied the cells in: one stat of its store directory."""
        store = self._env.rootdir / "data" / node.info.table / str(node.region_id)
        if references.path_of(store).exists():
            raise RegionHasReferences(
                f"region {node.region_id} still references its parent's store ({references.FILE_NAME} in "
                f"{store}): it can be {what} once its background fold has finished"
            )

    def running(self) -> tuple[int, int]:
        """Splits and merges unfinished now."""
        return len(self._executor.running(SplitRegion)), len(self._executor.running(MergeRegions))

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
