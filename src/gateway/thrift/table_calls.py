"""The Hbase service's table operations: listing, creating, deleting, enabling, describing, compacting.

DDL goes to the master through the SDK's Admin and waits for the procedure to end, as HBase's Thrift
gateway waits for its Admin calls. The gateway's certificate decides whether DDL is allowed at all: with a
`client` role the master refuses it, and the caller gets IOError AccessDeniedException (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from client.errors import TableExists, TableNotFound
from gateway.thrift import convert
from gateway.thrift.calls import Calls
from gateway.thrift.errors import BadArgument


class TableCalls(Calls):
    def getTableNames(self) -> list[bytes]:
        return [t.name.encode() for t in self.gateway.admin().list_tables()]

    def isTableEnabled(self, tableName: Any) -> bool:
        return self.gateway.admin().is_table_enabled(convert.table_name(tableName))

    def enableTable(self, tableName: Any) -> None:
        self.gateway.admin().enable_table(convert.table_name(tableName))

    def disableTable(self, tableName: Any) -> None:
        self.gateway.admin().disable_table(convert.table_name(tableName))

    def deleteTable(self, tableName: Any) -> None:
        self.gateway.admin().delete_table(convert.table_name(tableName))

    def createTable(self, tableName: Any, columnFamilies: Any) -> None:
        name = convert.table_name(tableName)
        if not isinstance(columnFamilies, list) or not columnFamilies:
            raise BadArgument(f"table {name!r}: createTable needs at least one ColumnDescriptor")
        families = [convert.family_of(d) for d in columnFamilies]
        admin = self.gateway.admin()
        if admin.table_exists(name):  # HBase's check, so that the answer is AlreadyExists at once
            raise TableExists(f"table {name!r} already exists")
        admin.create_table(name, families)

    def getColumnDescriptors(self, tableName: Any) -> dict[bytes, Any]:
        description = self.gateway.admin().describe_table(convert.table_name(tableName))
        return convert.column_descriptors(description)

    def getTableRegions(self, tableName: Any) -> list[Any]:
        """The table's regions in key order; [] for a table that does not exist, as in HBase."""
        name = convert.table_name(tableName)
        try:
            locations = self.gateway.admin().table_regions(name)
        except TableNotFound:
            return []
        return [convert.region_info(name, loc) for loc in locations if not loc.info.offline]

    def getRegionInfo(self, row: Any) -> Any:
        """The region holding a meta row "table,row,...": HBase's closest-row-before lookup in meta."""
        table, key = convert.split_region_name(convert.need(row, "row"))
        for loc in self.gateway.admin().table_regions(table):
            info = loc.info
            if not info.offline and info.start_key <= key and (not info.end_key or key < info.end_key):
                return convert.region_info(table, loc)
        raise TableNotFound(f"no region of table {table!r} holds row {key!r}")

    def compact(self, tableNameOrRegionName: Any) -> None:
        self._compact(tableNameOrRegionName)

    def majorCompact(self, tableNameOrRegionName: Any) -> None:
        """The same as compact: Regent's compaction always rewrites a region's whole store."""
        self._compact(tableNameOrRegionName)

    def _compact(self, target: Any) -> None:
        raw = convert.need(target, "tableNameOrRegionName")
        if b"," in raw:  # a region name, "table,startKey,regionId"
            _, _, region_id = raw.rpartition(b",")
            if not region_id.isdigit():
                raise BadArgument(f"a region name ends with ',<region id>', got {raw!r}")
            self.gateway.admin().compact(int(region_id))
        else:
            self.gateway.admin().compact(convert.table_name(raw))


__all__ = ["TableCalls"]
