"""split_region: one region becomes two daughters at a split key, as HBase's SplitTableRegionProcedure.

The steps and the point of no return are region_change's. The daughters are [start, split_key) and
[split_key, end); each starts with a REFERENCES file naming the parent's store, clipped to its own range,
so that nothing is copied while the parent is closed (DESIGN.md §11).
"""

from __future__ import annotations

from master.catalog import check_split_keys
from master.errors import InvalidArgument
from master.procedures.base import Env
from master.procedures.region_change import RegionChange
from master.regions import RegionNode
from meta import TransitKind
from meta.references import Reference
from regent.proto import meta_pb2


class SplitRegion(RegionChange):
    KIND = "split_region"
    TRANSIT = TransitKind.SPLIT

    @classmethod
    def new(cls, proc_id: int, table: str, region_id: int, split_key: bytes, cause: str) -> SplitRegion:
        data = meta_pb2.RegionProcedureData(
            table=table, parents=[region_id], split_key=split_key, cause=cause
        )
        return cls(proc_id, "", data)

    def check_request(self, env: Env, parents: list[RegionNode]) -> None:
        (node,) = parents
        key, info = self.data.split_key, node.info
        try:
            check_split_keys([key], info.table)
        except ValueError as exc:
            raise InvalidArgument(f"region {node.region_id}: {exc}") from None
        if not (info.start_key < key and (not info.end_key or key < info.end_key)):
            raise InvalidArgument(
                f"split key {key!r} is not strictly inside region {node.region_id} "
                f"[{info.start_key!r}, {info.end_key!r}): a daughter would be empty"
            )

    def child_ranges(self, parents: list[RegionNode]) -> list[tuple[bytes, bytes, list[Reference]]]:
        (node,) = parents
        info, key = node.info, self.data.split_key
        return [
            (info.start_key, key, [Reference(node.region_id, info.start_key, key)]),
            (key, info.end_key, [Reference(node.region_id, key, info.end_key)]),
        ]
