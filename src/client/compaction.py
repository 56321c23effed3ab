"""Admin's compaction: rewrite a table's or one region's stores without expired and deleted cells.

The master is asked where the regions are; each RegionServer holding some of them gets one Compact call
with all of its regions, all servers in parallel. A region refused by its server (it moved or is opening)
is looked up again and retried there, with backoff, until the call's deadline; the regions still not
compacted then raise DataTimeout. Compaction runs while the regions serve (DESIGN.md §11).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc  # type: ignore[import-untyped, unused-ignore]

from client.errors import DataTimeout, from_rpc_error, status_name
from client.regions import RegionAdmin
from client.retry import is_transport_failure
from client.routing import refusal_from_proto
from client.tables import TableAdmin
from client.types import RegionLocation
from regent.proto import data_pb2


@dataclass(frozen=True, slots=True)
class RegionCompaction:
    """What compacting one region did: cells and bytes of its store before and after."""

    region_id: int
    server: str
    cells_before: int
    cells_after: int
    bytes_before: int
    bytes_after: int


class CompactionAdmin(RegionAdmin, TableAdmin):
    """Compacting regions' stores (RegionData.Compact on the servers holding them)."""

    def compact(self, target: str | int, *, timeout: float | None = None) -> list[RegionCompaction]:
        """Compact every region of table `target` (a name), or region `target` (an id); one result per
        region, in key order for a table. TableNotFound / RegionNotFound for an unknown one."""
        if isinstance(target, bool) or not isinstance(target, str | int):
            raise ValueError(f"compact takes a table name or a region id, got {target!r}")
        deadline = self._deadline(timeout)
        wanted = self._locations(target, deadline)
        order = [loc.region_id for loc in wanted]
        done: dict[int, RegionCompaction] = {}
        router = self._conn.router()
        attempt = 0
        cause = ""
        while True:
            pending = [loc for loc in wanted if loc.region_id not in done]
            by_server: dict[str, list[int]] = {}
            for loc in pending:
                if loc.server is None:
                    cause = f"region {loc.region_id} is on no server ({loc.state.name})"
                else:
                    by_server.setdefault(loc.server.address, []).append(loc.region_id)
            remaining = max(0.001, deadline - time.monotonic())
            calls = [
                (
                    server,
                    router.stub(server).Compact.future(
                        data_pb2.CompactRequest(region_ids=ids), timeout=remaining
                    ),
                )
                for server, ids in by_server.items()
            ]
            for server, future in calls:
                try:
                    response: data_pb2.CompactResponse = future.result()
                except grpc.RpcError as exc:
                    if not is_transport_failure(status_name(exc)):
                        raise from_rpc_error(exc) from None
                    cause = f"server {server}: {status_name(exc)}"
                    continue
                for region in response.regions:
                    if region.HasField("error"):
                        cause = refusal_from_proto(region.error, region.region_id).describe(server)
                        continue
                    done[region.region_id] = RegionCompaction(
                        region.region_id,
                        server,
                        region.cells_before,
                        region.cells_after,
                        region.bytes_before,
                        region.bytes_after,
                    )
            if len(done) == len(wanted):
                return [done[rid] for rid in order]
            if time.monotonic() >= deadline:
                missing = [rid for rid in order if rid not in done]
                raise DataTimeout(
                    f"compaction of {target!r}: region(s) {missing[:10]} not compacted within the deadline; "
                    f"last cause: {cause or 'none recorded'}",
                    table=target if isinstance(target, str) else "",
                    cause=cause,
                )
            router.pause(attempt, deadline)
            attempt += 1
            refreshed = {loc.region_id: loc for loc in self._locations(target, deadline)}
            wanted = [refreshed.get(loc.region_id, loc) for loc in wanted]

    def _locations(self, target: str | int, deadline: float) -> list[RegionLocation]:
        remaining = self._remaining(deadline)
        if isinstance(target, int):
            return [self.get_region(target, timeout=remaining)]
        return [loc for loc in self.table_regions(target, timeout=remaining) if not loc.info.offline]


__all__ = ["CompactionAdmin", "RegionCompaction"]
