"""merge_regions: two or more adjacent regions of one table become one, as HBase's
MergeTableRegionsProcedure.

The steps and the point of no return are region_change's. The child spans the first parent's start to the
last parent's end; its REFERENCES file names every parent's store, each with the parent's full range, and
its RegionInfo records the parents until the catalog janitor removes them. Non-adjacent regions merge only
with `force`, and only across a hole (no region between them), never across another region.
"""

from __future__ import annotations

import itertools

from master.errors import InvalidArgument
from master.procedures.base import Env
from master.procedures.region_change import RegionChange
from master.regions import RegionNode
from meta import TransitKind
from meta.references import Reference
from regent.proto import meta_pb2


class MergeRegions(RegionChange):
    KIND = "merge_regions"
    TRANSIT = TransitKind.MERGE

    @classmethod
    def new(cls, proc_id: int, table: str, region_ids: list[int], force: bool, cause: str) -> MergeRegions:
        data = meta_pb2.RegionProcedureData(table=table, parents=region_ids, force=force, cause=cause)
        return cls(proc_id, "", data)

    def check_request(self, env: Env, parents: list[RegionNode]) -> None:
        if len(parents) < 2:
            raise InvalidArgument(f"a merge needs at least two regions, got {len(parents)}")
        if len({n.region_id for n in parents}) != len(parents):
            raise InvalidArgument(f"a merge needs distinct regions, got {list(self.data.parents)}")
        ordered = sorted(parents, key=lambda n: n.info.start_key)
        if [n.region_id for n in ordered] != list(self.data.parents):
            raise InvalidArgument("the regions of a merge are given in key order (the master sorts them)")
        online = [n for n in env.catalog.regions.table(self.data.table) if not n.info.offline]
        for a, b in itertools.pairwise(ordered):
            if a.info.end_key == b.info.start_key:
                continue
            if not a.info.end_key or a.info.end_key > b.info.start_key:
                raise InvalidArgument(f"regions {a.region_id} and {b.region_id} overlap: they cannot merge")
            between = [
                n.region_id
                for n in online
                if n.info.start_key < b.info.start_key
                and (not n.info.end_key or n.info.end_key > a.info.end_key)
                and n.region_id not in (a.region_id, b.region_id)
            ]
            if between:
                raise InvalidArgument(
                    f"regions {a.region_id} and {b.region_id} are not adjacent: region {between[0]} lies "
                    "between them (merge it too, or merge neighbours only)"
                )
            if not self.data.force:
                raise InvalidArgument(
                    f"regions {a.region_id} and {b.region_id} are not adjacent: a hole "
                    f"[{a.info.end_key!r}, {b.info.start_key!r}) lies between them; force merges across it"
                )

    def child_ranges(self, parents: list[RegionNode]) -> list[tuple[bytes, bytes, list[Reference]]]:
        refs = [Reference(n.region_id, n.info.start_key, n.info.end_key) for n in parents]
        return [(parents[0].info.start_key, parents[-1].info.end_key, refs)]

    def child_parents(self, parents: list[RegionNode]) -> tuple[int, ...]:
        return tuple(n.region_id for n in parents)
