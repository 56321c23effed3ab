"""What the SDK hands back to callers: plain dataclasses built from the master's answers.

Protobuf stops here: each `*_from_proto` converts one message at the RPC boundary, so callers and tests
see domain types (meta's RegionInfo, ServerName, RegionState) and never a generated class.
"""

from __future__ import annotations

from dataclasses import dataclass

from meta.codec import region_info_from_proto, server_from_proto
from meta.states import RegionState
from meta.types import RegionInfo, ServerName
from regent.proto import master_pb2


@dataclass(frozen=True, slots=True)
class RegionLocation:
    """Where a region is, as the master last recorded it. `server` is None when the region is on no server;
    `proc_id` is the procedure attached to the region, 0 if none."""

    info: RegionInfo
    state: RegionState
    server: ServerName | None
    proc_id: int

    @property
    def region_id(self) -> int:
        return self.info.region_id


@dataclass(frozen=True, slots=True)
class LiveServer:
    """A RegionServer the master considers alive, with its last reported load."""

    server: ServerName
    region_count: int
    requests: int
    last_heartbeat_age_ms: int


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """The active master's view of the cluster. `regions_in_transition` is capped by the master (it lists
    at most the first thousand); `regions_by_state` counts all of them. `startup_assignment_ms` is 0 while
    the startup assignment is still running."""

    servers: list[LiveServer]
    regions_in_transition: list[RegionLocation]
    master_epoch: int
    regions: int
    regions_by_state: dict[str, int]
    active_since_ms: int
    startup_assignment_ms: int


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure the master is running: `kind` is assign, unassign, move or server_crash; `step` says what
    it waits for now; `age_s` is the time since its last step (a large one means stuck); `region_id` is None
    for procedures that are not about one region."""

    proc_id: int
    kind: str
    step: str
    age_s: float
    region_id: int | None
    state: str = "RUNNABLE"


def procedure_from_proto(msg: master_pb2.ProcedureInfo) -> Procedure:
    return Procedure(
        msg.proc_id, msg.kind, msg.step, msg.age_s, msg.region_id or None, msg.state or "RUNNABLE"
    )


def location_from_proto(msg: master_pb2.RegionLocation) -> RegionLocation:
    return RegionLocation(
        info=region_info_from_proto(msg.info),
        state=RegionState(msg.state),
        server=server_from_proto(msg.server) if msg.HasField("server") else None,
        proc_id=msg.proc_id,
    )


def cluster_status_from_proto(msg: master_pb2.ClusterStatusResponse) -> ClusterStatus:
    return ClusterStatus(
        servers=[
            LiveServer(server_from_proto(s.server), s.region_count, s.requests, s.last_heartbeat_age_ms)
            for s in msg.servers
        ],
        regions_in_transition=[location_from_proto(loc) for loc in msg.regions_in_transition],
        master_epoch=msg.master_epoch,
        regions=msg.regions,
        regions_by_state=dict(msg.regions_by_state),
        active_since_ms=msg.active_since_ms,
        startup_assignment_ms=msg.startup_assignment_ms,
    )


__all__ = [
    "ClusterStatus",
    "LiveServer",
    "Procedure",
    "RegionLocation",
    "cluster_status_from_proto",
    "location_from_proto",
    "procedure_from_proto",
]
