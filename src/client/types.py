"""What the SDK hands back to callers: plain dataclasses built from the master's answers.

Protobuf stops here: each `*_from_proto` converts one message at the RPC boundary, so callers and tests
see domain types (meta's RegionInfo, ServerName, RegionState) and never a generated class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meta.codec import family_from_proto, region_info_from_proto, server_from_proto, settings_from_proto
from meta.states import RegionState
from meta.types import ColumnFamily, RegionInfo, ServerName, TableDescriptor, TableSettings, TableState
from regent.proto import master_pb2

#: The states of a procedure that has ended (GetProcedure's `state`); WAITING and RUNNABLE are the others.
FINISHED_STATES = frozenset({"SUCCESS", "FAILED", "ROLLED_BACK"})


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
    requests_per_s: float = 0.0
    store_bytes: int = 0
    decommissioned: bool = False


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """The active master's view of the cluster. `regions_in_transition` is capped by the master (it lists
    at most the first thousand); `regions_by_state` counts all of them. `startup_assignment_ms` is 0 while
    the startup assignment is still running. `repairs_by_cause` counts reconciliation's repairs since the
    master became active (not_served, served_elsewhere, served_nowhere: docs/failure-model.md)."""

    servers: list[LiveServer]
    regions_in_transition: list[RegionLocation]
    master_epoch: int
    regions: int
    regions_by_state: dict[str, int]
    active_since_ms: int
    startup_assignment_ms: int
    repairs_by_cause: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure as the master last recorded it.

    `kind` is assign, unassign, move, reopen, server_crash, create_table, disable_table, ...; `step` says
    what it does or waits for now; `age_s` is the time since its last step (a large one means stuck);
    `region_id` is None for procedures that are not about one region. `state` is WAITING (queued for its
    table's lock) or RUNNABLE while unfinished, then SUCCESS, FAILED or ROLLED_BACK, the last two with
    `error_code` (an error name such as TableNotFound) and `error_message`. `done` of `total` is its
    progress, in regions; `lock` says which table lock it holds or waits for; `abortable` is whether an
    abort now would roll it back.
    """

    proc_id: int
    kind: str
    step: str
    age_s: float
    region_id: int | None
    state: str = "RUNNABLE"
    done: int = 0
    total: int = 0
    table: str | None = None
    lock: str = ""
    submitted_age_s: float = 0.0
    error_code: str = ""
    error_message: str = ""
    abortable: bool = False

    @property
    def finished(self) -> bool:
        """Whether it has ended (SUCCESS, FAILED or ROLLED_BACK)."""
        return self.state in FINISHED_STATES

    @property
    def fraction(self) -> float | None:
        """done/total in 0..1, None while the total is not known yet."""
        return min(1.0, self.done / self.total) if self.total else None


@dataclass(frozen=True, slots=True)
class AbortResult:
    """What AbortProcedure answered. `rolled_back` True: the procedure will end ROLLED_BACK (wait for it
    to see it done); False: it had passed its point of no return, or had finished, and `message` says
    which."""

    proc_id: int
    rolled_back: bool
    message: str


@dataclass(frozen=True, slots=True)
class TableDescription:
    """A table as the master describes it: its descriptor (families, settings), its state, how many
    regions it has and in which states, and the table procedure holding its lock (0 for none)."""

    name: str
    families: tuple[ColumnFamily, ...]
    settings: TableSettings
    state: TableState
    regions: int
    regions_by_state: dict[str, int]
    locked_by: int

    @property
    def enabled(self) -> bool:
        return self.state is TableState.ENABLED

    @property
    def disabled(self) -> bool:
        return self.state is TableState.DISABLED

    @property
    def descriptor(self) -> TableDescriptor:
        return TableDescriptor(self.name, self.families, self.state, self.settings)

    def family(self, name: str) -> ColumnFamily | None:
        return next((f for f in self.families if f.name == name), None)


def procedure_from_proto(msg: master_pb2.ProcedureInfo) -> Procedure:
    return Procedure(
        proc_id=msg.proc_id,
        kind=msg.kind,
        step=msg.step,
        age_s=msg.age_s,
        region_id=msg.region_id or None,
        state=msg.state or "RUNNABLE",
        done=msg.done,
        total=msg.total,
        table=msg.table or None,
        lock=msg.lock,
        submitted_age_s=msg.submitted_age_s,
        error_code=msg.error_code,
        error_message=msg.error_message,
        abortable=msg.abortable,
    )


def table_description_from_proto(msg: master_pb2.TableDescription) -> TableDescription:
    return TableDescription(
        name=msg.name,
        families=tuple(family_from_proto(f) for f in msg.families),
        settings=settings_from_proto(msg.settings),
        state=TableState(msg.state),
        regions=msg.regions,
        regions_by_state=dict(msg.regions_by_state),
        locked_by=msg.locked_by,
    )


@dataclass(frozen=True, slots=True)
class StoryStep:
    """One transition of a region, as the master committed it: when (wall clock ms), the state it reached,
    on which server ("" for none), under which procedure, and why (startup, operator, move, crash
    recovery, table ddl, retry, balancer, split...). `persisted`: kept in meta across a master failover."""

    time_ms: int
    state: RegionState
    server: str
    proc_id: int
    procedure: str
    cause: str
    persisted: bool


@dataclass(frozen=True, slots=True)
class RegionStory:
    """A region's place now and its recent steps, oldest first."""

    location: RegionLocation
    steps: list[StoryStep]


def story_from_proto(msg: master_pb2.RegionStoryResponse) -> RegionStory:
    return RegionStory(
        location_from_proto(msg.region),
        [
            StoryStep(s.time_ms, RegionState(s.state), s.server, s.proc_id, s.procedure, s.cause, s.persisted)
            for s in msg.steps
        ],
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
            LiveServer(
                server_from_proto(s.server),
                s.region_count,
                s.requests,
                s.last_heartbeat_age_ms,
                s.requests_per_s,
                s.store_bytes,
                s.decommissioned,
            )
            for s in msg.servers
        ],
        regions_in_transition=[location_from_proto(loc) for loc in msg.regions_in_transition],
        master_epoch=msg.master_epoch,
        regions=msg.regions,
        regions_by_state=dict(msg.regions_by_state),
        active_since_ms=msg.active_since_ms,
        startup_assignment_ms=msg.startup_assignment_ms,
        repairs_by_cause=dict(msg.repairs_by_cause),
    )


__all__ = [
    "FINISHED_STATES",
    "AbortResult",
    "ClusterStatus",
    "LiveServer",
    "Procedure",
    "RegionLocation",
    "TableDescription",
    "cluster_status_from_proto",
    "location_from_proto",
    "procedure_from_proto",
    "table_description_from_proto",
]
