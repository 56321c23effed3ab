"""gRPC services of the master: they check and translate protobuf to domain calls and back, nothing more.

Every refusal is a gRPC status with a clear message and the error's name in the trailing metadata key
"regent-error", which the client turns back into the same named exception.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet

from master import catalog, metrics, split_rpcs, story
from master.active import ActiveMaster
from master.admin import MAX_REGIONS_PER_CREATE, TableView
from master.chores import rpcs as chore_rpcs
from master.errors import (
    FamilyExists,
    FamilyNotFound,
    InvalidArgument,
    MergeDisabled,
    NotActiveMaster,
    ProcedureNotFound,
    RegionInTransition,
    RegionNotFound,
    RequestError,
    ServerNotFound,
    ServerNotRegistered,
    SplitDisabled,
    TableExists,
    TableLocked,
    TableNotDisabled,
    TableNotEnabled,
    TableNotFound,
    YouAreDead,
)
from master.procedures import ProcedureView
from master.reconcile import HeldDigest
from master.regions import RegionNode
from meta import ColumnFamily, MetaWriteError, ServerName, TableDescriptor
from meta.codec import (
    family_from_proto,
    family_to_proto,
    region_info_to_proto,
    server_to_proto,
    settings_from_proto,
    settings_to_proto,
)
from meta.types import validate_host, validate_name, validate_table_name
from regent.proto import common_pb2, master_pb2, master_pb2_grpc
from regent.status import clip

if TYPE_CHECKING:
    from master.daemon import Master

MAX_TRANSITIONS_PER_REPORT = 200_000
MAX_LOCATE = 1000  # regions per LocateRegions

_STATUS: dict[type[RequestError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    TableExists: grpc.StatusCode.ALREADY_EXISTS,
    TableNotFound: grpc.StatusCode.NOT_FOUND,
    RegionNotFound: grpc.StatusCode.NOT_FOUND,
    ProcedureNotFound: grpc.StatusCode.NOT_FOUND,
    ServerNotFound: grpc.StatusCode.NOT_FOUND,
    RegionInTransition: grpc.StatusCode.FAILED_PRECONDITION,
    TableNotDisabled: grpc.StatusCode.FAILED_PRECONDITION,
    TableNotEnabled: grpc.StatusCode.FAILED_PRECONDITION,
    TableLocked: grpc.StatusCode.FAILED_PRECONDITION,
    FamilyExists: grpc.StatusCode.ALREADY_EXISTS,
    FamilyNotFound: grpc.StatusCode.NOT_FOUND,
    NotActiveMaster: grpc.StatusCode.UNAVAILABLE,
    YouAreDead: grpc.StatusCode.FAILED_PRECONDITION,
    ServerNotRegistered: grpc.StatusCode.FAILED_PRECONDITION,
    SplitDisabled: grpc.StatusCode.FAILED_PRECONDITION,
    MergeDisabled: grpc.StatusCode.FAILED_PRECONDITION,
}

R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def rpc(handler: Handler[R]) -> Handler[R]:
    """Turn the master's errors into gRPC statuses with the error's name in "regent-error"."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except RequestError as exc:
            code = _STATUS.get(type(exc), grpc.StatusCode.FAILED_PRECONDITION)
            await _abort(context, code, exc.code, str(exc), exc.trailers())
        except MetaWriteError as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "MetaUnavailable", f"meta write failed: {exc}")
        raise AssertionError("unreachable")

    return wrapper


async def _abort(
    context: grpc.aio.ServicerContext,
    code: grpc.StatusCode,
    name: str,
    message: str,
    trailers: tuple[tuple[str, str], ...] = (),
) -> None:
    context.set_trailing_metadata((("regent-error", name), *trailers))
    await context.abort(code, clip(message))


def _active(master: Master) -> ActiveMaster:
    if master.active is None:
        active = master.active_master()
        if active == master.config.address:  # elected, still loading meta
            raise NotActiveMaster(f"master {active} is becoming the active master: try again shortly")
        where = f"; the active master is {active}" if active else "; no master is active (an election)"
        raise NotActiveMaster(f"master {master.config.address} is not the active master{where}", active)
    return master.active


def _server(msg: Any, what: str = "server") -> ServerName:
    if not msg.host or not 0 < msg.port < 65536 or msg.startcode <= 0:
        raise InvalidArgument(
            f"{what} must have a host, a port in 1..65535 and a positive startcode, got "
            f"{msg.host[:80]!r}:{msg.port}:{msg.startcode}"
        )
    try:
        validate_host(msg.host)
    except ValueError as exc:
        raise InvalidArgument(f"{what}: {exc}") from None
    return ServerName(msg.host, msg.port, msg.startcode)


def location(node: RegionNode) -> master_pb2.RegionLocation:
    loc = master_pb2.RegionLocation(
        info=region_info_to_proto(node.info),
        state=int(node.state),  # type: ignore[arg-type]
        proc_id=node.proc_id,
    )
    if node.server is not None:
        loc.server.CopyFrom(server_to_proto(node.server))
    return loc


class RegionServerStatusService(master_pb2_grpc.RegionServerStatusServicer):
    """What RegionServers call: startup, heartbeats, transition reports."""

    def __init__(self, master: Master) -> None:
        self._master = master

    @rpc
    async def RegionServerStartup(
        self, request: master_pb2.RegionServerStartupRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RegionServerStartupResponse:
        active = _active(self._master)
        name = _server(request)
        await active.server_startup(name)
        return master_pb2.RegionServerStartupResponse(
            master_epoch=active.epoch,
            cluster_id=active.store.cluster_id,
            heartbeat_interval_ms=active.config.heartbeat_ms,
            lease_ms=active.config.lease_ms,
        )

    @rpc
    async def RegionServerReport(
        self, request: master_pb2.RegionServerReportRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RegionServerReportResponse:
        active = _active(self._master)
        name = _server(request.server)
        digest = held = None
        if request.HasField("digest"):
            d = request.digest
            digest = HeldDigest(d.count, d.hash, d.master_epoch, d.token)
        if request.HasField("regions"):
            ids, seqs = request.regions.region_ids, request.regions.open_seq_nums
            if len(ids) != len(seqs):
                raise InvalidArgument(
                    f"server {name}: held regions need one open sequence number per region, got "
                    f"{len(ids)} regions and {len(seqs)} numbers"
                )
            held = list(zip(ids, seqs, strict=True))
        load = request.load
        verdict = await active.heartbeat(
            name, load.region_count, load.requests, load.store_bytes, digest, held
        )
        return master_pb2.RegionServerReportResponse(
            master_epoch=active.epoch, token=verdict.token, send_regions=verdict.send_regions
        )

    @rpc
    async def ReportRegionStateTransition(
        self, request: master_pb2.ReportRegionStateTransitionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ReportRegionStateTransitionResponse:
        active = _active(self._master)
        name = _server(request.server)
        if not request.transitions:
            raise InvalidArgument("a transition report must carry at least one batch")
        batches = []
        total = 0
        for i, batch in enumerate(request.transitions):
            code = int(batch.code)
            if code not in (master_pb2.OPENED, master_pb2.FAILED_OPEN_REPORT, master_pb2.CLOSED_REPORT):
                raise InvalidArgument(f"batch #{i}: unknown transition code {code}")
            region_ids, proc_ids, seqs = (
                list(batch.region_ids),
                list(batch.proc_ids),
                list(batch.open_seq_nums),
            )
            if not region_ids or len(proc_ids) != len(region_ids):
                raise InvalidArgument(
                    f"batch #{i}: needs one procedure id per region, got {len(region_ids)} regions and "
                    f"{len(proc_ids)} procedure ids"
                )
            if code == master_pb2.OPENED and len(seqs) != len(region_ids):
                raise InvalidArgument(f"batch #{i}: OPENED needs one open sequence number per region")
            total += len(region_ids)
            batches.append((code, region_ids, proc_ids, seqs))
        if total > MAX_TRANSITIONS_PER_REPORT:
            raise InvalidArgument(
                f"a report may carry at most {MAX_TRANSITIONS_PER_REPORT} transitions, got {total}"
            )
        results = await active.report(name, batches)
        return master_pb2.ReportRegionStateTransitionResponse(
            results=[
                master_pb2.TransitionResult(rejected=[i for i, _ in r], reasons=[why for _, why in r])
                for r in results
            ]
        )

    @rpc
    async def RequestSplit(
        self, request: master_pb2.RequestSplitRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RequestSplitResponse:
        active = _active(self._master)
        name = _server(request.server)
        if not active.servers.is_live(name):
            active._not_live(name)
        return await split_rpcs.request_split(active, request, str(name))


class MasterService(master_pb2_grpc.MasterServicer):
    """What clients and operators call."""

    def __init__(self, master: Master) -> None:
        self._master = master

    async def GetClusterInfo(
        self, request: master_pb2.GetClusterInfoRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ClusterInfo:
        m = self._master
        return master_pb2.ClusterInfo(
            active=m.active is not None,
            master_epoch=m.epoch,
            cluster_id=m.cluster_id,
            master=m.config.address,
            pid=os.getpid(),
            standby_regions=len(m.standby.regions) if m.standby is not None else 0,
            standby_age_ms=int((time.monotonic() - m.standby_at) * 1000) if m.standby is not None else 0,
            active_master=m.active_master(),
            masters=m.masters(),
        )

    @rpc
    async def CreateTable(
        self, request: master_pb2.CreateTableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.CreateTableResponse:
        active = _active(self._master)
        table = _descriptor(request.name, request.families, request.settings)
        try:
            if request.split_keys and request.num_regions:
                raise ValueError("give split_keys or num_regions, not both")
            if (
                request.num_regions > MAX_REGIONS_PER_CREATE
                or len(request.split_keys) >= MAX_REGIONS_PER_CREATE
            ):
                raise ValueError(
                    f"one create_table makes at most {MAX_REGIONS_PER_CREATE} regions, asked for "
                    f"{request.num_regions or len(request.split_keys) + 1}"
                )
            split_keys = list(request.split_keys) or catalog.uniform_split_keys(request.num_regions)
            catalog.check_split_keys(split_keys, table.name)
        except ValueError as exc:
            raise InvalidArgument(f"table {request.name!r}: {exc}") from None
        proc_id = await active.tables.create(table, split_keys, _nonce(context))
        return master_pb2.CreateTableResponse(regions=len(split_keys) + 1, proc_id=proc_id)

    @rpc
    async def DeleteTable(
        self, request: master_pb2.TableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        proc_id = await _active(self._master).tables.delete(_table_name(request.name), _nonce(context))
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def TruncateTable(
        self, request: master_pb2.TruncateTableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        tables = _active(self._master).tables
        proc_id = await tables.truncate(_table_name(request.name), request.preserve_splits, _nonce(context))
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def EnableTable(
        self, request: master_pb2.TableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        proc_id = await _active(self._master).tables.enable(_table_name(request.name), _nonce(context))
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def DisableTable(
        self, request: master_pb2.TableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        proc_id = await _active(self._master).tables.disable(_table_name(request.name), _nonce(context))
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def ModifyTable(
        self, request: master_pb2.ModifyTableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        active = _active(self._master)
        descriptor = _descriptor(request.name, request.families, request.settings)
        proc_id = await active.tables.modify(descriptor, _nonce(context))
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def AddFamily(
        self, request: master_pb2.FamilyRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        return await self._change_family(request, "add", context)

    @rpc
    async def ModifyFamily(
        self, request: master_pb2.FamilyRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        return await self._change_family(request, "modify", context)

    async def _change_family(
        self, request: master_pb2.FamilyRequest, op: str, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        tables = _active(self._master).tables
        proc_id = await tables.change_family(
            _table_name(request.table), op, _family(request.family), _nonce(context)
        )
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def DeleteFamily(
        self, request: master_pb2.DeleteFamilyRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        tables = _active(self._master).tables
        try:
            validate_name(request.family, "column family")
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        proc_id = await tables.change_family(
            _table_name(request.table), "delete", request.family, _nonce(context)
        )
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def DescribeTable(
        self, request: master_pb2.TableRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.TableDescription:
        return _description(_active(self._master).tables.describe(request.name))

    @rpc
    async def ListTables(
        self, request: master_pb2.ListTablesRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ListTablesResponse:
        views = _active(self._master).tables.list()
        return master_pb2.ListTablesResponse(tables=[_description(v) for v in views])

    @rpc
    async def TableRegions(
        self, request: master_pb2.TableRegionsRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.TableRegionsResponse:
        nodes = _active(self._master).table(request.name)
        return master_pb2.TableRegionsResponse(regions=[location(n) for n in nodes])

    @rpc
    async def GetRegion(
        self, request: master_pb2.RegionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RegionLocation:
        node = _active(self._master).am.regions.get(request.region_id)
        if node is None:
            raise RegionNotFound(f"region {request.region_id} does not exist")
        return location(node)

    @rpc
    async def LocateRegions(
        self, request: master_pb2.LocateRegionsRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.LocateRegionsResponse:
        active = _active(self._master)
        active.table(request.table)  # TableNotFound
        if request.count > MAX_LOCATE:
            raise InvalidArgument(
                f"LocateRegions returns at most {MAX_LOCATE} regions, asked for {request.count}"
            )
        nodes = active.catalog.regions.locate_run(
            request.table, request.row, max(1, request.count), backwards=request.backwards
        )
        return master_pb2.LocateRegionsResponse(regions=[location(n) for n in nodes])

    @rpc
    async def Assign(
        self, request: master_pb2.RegionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        active = _active(self._master)
        with metrics.region_request("assign"):
            _unlocked(active, request.region_id, "assign")
            proc_id, effects = active.am.assign(request.region_id, active.resolve_target(request.server))
            await active.apply(effects, cause=story.OPERATOR)
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def Unassign(
        self, request: master_pb2.RegionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        active = _active(self._master)
        with metrics.region_request("unassign"):
            _unlocked(active, request.region_id, "unassign")
            proc_id, effects = active.am.unassign(request.region_id)
            await active.apply(effects, cause=story.OPERATOR)
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def Move(
        self, request: master_pb2.RegionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        active = _active(self._master)
        with metrics.region_request("move"):
            _unlocked(active, request.region_id, "move")
            proc_id, effects = active.am.move(request.region_id, active.resolve_target(request.server))
            await active.apply(effects, cause=story.MOVE)
        return master_pb2.ProcedureResponse(proc_id=proc_id)

    @rpc
    async def ClusterStatus(
        self, request: master_pb2.ClusterStatusRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ClusterStatusResponse:
        active = _active(self._master)
        servers = [
            master_pb2.LiveServer(
                server=server_to_proto(info.name),
                region_count=active.am.load[info.name],
                requests=info.requests,
                last_heartbeat_age_ms=active.servers.age_ms(info),
                requests_per_s=info.requests_per_s,
                store_bytes=info.store_bytes,
                decommissioned=info.name.address in active.servers.decommissioned,
            )
            for info in active.servers.infos()
        ]
        rit = active.am.regions_in_transition(limit=1000)
        return master_pb2.ClusterStatusResponse(
            servers=servers,
            regions_in_transition=[location(n) for n in rit],
            master_epoch=active.epoch,
            regions=len(active.am.regions),
            regions_by_state={s.name: c for s, c in active.am.by_state.items() if c},
            active_since_ms=active.active_since_ms,
            startup_assignment_ms=active.startup_assignment_ms,
            repairs_by_cause=dict(active.reconciler.counts),
        )

    @rpc
    async def ListProcedures(
        self, request: master_pb2.ListProceduresRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ListProceduresResponse:
        views = _active(self._master).list_procedures(request.limit or 1000)
        return master_pb2.ListProceduresResponse(procedures=[_procedure(v) for v in views])

    @rpc
    async def GetProcedure(
        self, request: master_pb2.ProcedureRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureInfo:
        return _procedure(_active(self._master).get_procedure(request.proc_id))

    @rpc
    async def AbortProcedure(
        self, request: master_pb2.ProcedureRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.AbortProcedureResponse:
        active = _active(self._master)
        if active.procedures.get(request.proc_id) is None:
            active.get_procedure(request.proc_id)  # ProcedureNotFound unless it is a region transition
            return master_pb2.AbortProcedureResponse(
                rolled_back=False,
                message=f"procedure {request.proc_id} is a region transition: those are not rolled back "
                "(HBase's neither); bypass it if it is stuck",
            )
        rolled_back, message = await active.procedures.abort(request.proc_id)
        return master_pb2.AbortProcedureResponse(rolled_back=rolled_back, message=message)

    @rpc
    async def RegionStory(
        self, request: master_pb2.RegionStoryRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RegionStoryResponse:
        active = _active(self._master)
        node = active.am.regions.get(request.region_id)
        if node is None:
            raise RegionNotFound(f"region {request.region_id} does not exist")
        if request.limit > MAX_STORY_STEPS:
            raise InvalidArgument(
                f"RegionStory returns at most {MAX_STORY_STEPS} steps, asked for {request.limit}"
            )
        steps = active.story.of(node.region_id, request.limit or 100)
        return master_pb2.RegionStoryResponse(
            region=location(node),
            steps=[
                master_pb2.RegionStoryStep(
                    time_ms=s.time_ms,
                    state=int(s.state),  # type: ignore[arg-type]
                    server=s.server,
                    proc_id=s.proc_id,
                    procedure=s.procedure,
                    cause=s.cause,
                    persisted=s.persisted,
                )
                for s in steps
            ],
        )

    @rpc
    async def Bypass(
        self, request: master_pb2.BypassRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.BypassResponse:
        await _active(self._master).bypass(request.proc_id)
        return master_pb2.BypassResponse()

    # ---- the balancer, decommissioned servers, the catalog janitor, hbck (master.chores.rpcs) ----

    @rpc
    async def Balance(
        self, request: master_pb2.BalanceRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.BalancerRun:
        return await chore_rpcs.balance(_active(self._master), request)

    @rpc
    async def BalancerSwitch(
        self, request: master_pb2.BalancerSwitchRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.BalancerSwitchResponse:
        return await chore_rpcs.balancer_switch(_active(self._master), request)

    @rpc
    async def BalancerStatus(
        self, request: master_pb2.BalancerStatusRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.BalancerStatusResponse:
        return chore_rpcs.balancer_status(_active(self._master))

    @rpc
    async def Decommission(
        self, request: master_pb2.DecommissionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.DecommissionResponse:
        return await chore_rpcs.decommission(_active(self._master), request)

    @rpc
    async def Recommission(
        self, request: master_pb2.RecommissionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RecommissionResponse:
        return await chore_rpcs.recommission(_active(self._master), request)

    @rpc
    async def ListDecommissioned(
        self, request: master_pb2.ListDecommissionedRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ListDecommissionedResponse:
        return chore_rpcs.list_decommissioned(_active(self._master))

    @rpc
    async def CatalogJanitorRun(
        self, request: master_pb2.CatalogJanitorRunRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.CheckReport:
        return chore_rpcs.catalog_janitor_run(_active(self._master))

    @rpc
    async def CatalogJanitorSwitch(
        self, request: master_pb2.CatalogJanitorSwitchRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.CatalogJanitorSwitchResponse:
        return await chore_rpcs.catalog_janitor_switch(_active(self._master), request)

    @rpc
    async def CatalogJanitorStatus(
        self, request: master_pb2.CatalogJanitorStatusRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.CatalogJanitorStatusResponse:
        return chore_rpcs.catalog_janitor_status(_active(self._master))

    @rpc
    async def Hbck(
        self, request: master_pb2.HbckRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.CheckReport:
        return await chore_rpcs.hbck(_active(self._master), request)

    # ---- split, merge and their switches (master.split_rpcs) ----

    @rpc
    async def Split(
        self, request: master_pb2.SplitRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.SplitResponse:
        return await split_rpcs.split(_active(self._master), request, _nonce(context))

    @rpc
    async def Merge(
        self, request: master_pb2.MergeRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ProcedureResponse:
        return await split_rpcs.merge(_active(self._master), request, _nonce(context))

    @rpc
    async def SplitMergeSwitch(
        self, request: master_pb2.SplitMergeSwitchRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.SplitMergeSwitchResponse:
        return await split_rpcs.split_merge_switch(_active(self._master), request)

    @rpc
    async def SplitMergeStatus(
        self, request: master_pb2.SplitMergeStatusRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.SplitMergeStatusResponse:
        return split_rpcs.split_merge_status(_active(self._master))


def _unlocked(active: ActiveMaster, region_id: int, what: str) -> None:
    node = active.am.regions.get(region_id)
    if node is not None:
        active.tables.check_region_procedure(node, what)


MAX_STORY_STEPS = 1000

#: The invocation metadata key of a DDL request's nonce (client.base sends one per request, the same on
#: every retry of it), and the longest one accepted.
NONCE_KEY = "regent-nonce"
MAX_NONCE = 128


def _nonce(context: grpc.aio.ServicerContext) -> str:
    """The request's nonce, "" if it carries none: a retry with the same nonce gets the same procedure."""
    for key, value in context.invocation_metadata() or ():
        if key == NONCE_KEY:
            text = value if isinstance(value, str) else value.decode(errors="replace")
            if not 0 < len(text) <= MAX_NONCE:
                raise InvalidArgument(f"{NONCE_KEY} must be 1..{MAX_NONCE} characters, got {len(text)}")
            return text
    return ""


def _table_name(name: str) -> str:
    try:
        validate_table_name(name)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    return name


def _no_unknown_fields(msg: Any, what: str) -> None:
    """A setting this master does not know (a newer client's) is refused, not silently dropped."""
    unknown = [UnknownFieldSet(msg)[i].field_number for i in range(len(UnknownFieldSet(msg)))]
    if unknown:
        raise InvalidArgument(f"{what}: unknown settings (field numbers {unknown}) for this master")


def _family(msg: common_pb2.ColumnFamily) -> ColumnFamily:
    _no_unknown_fields(msg, f"column family {msg.name!r}")
    try:
        return family_from_proto(msg)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def _descriptor(name: str, families: Any, settings: common_pb2.TableSettings) -> TableDescriptor:
    _table_name(name)
    _no_unknown_fields(settings, f"table {name!r}")
    parsed = tuple(_family(f) for f in families)
    try:
        return TableDescriptor(name, parsed, settings=settings_from_proto(settings))
    except ValueError as exc:
        raise InvalidArgument(f"table {name!r}: {exc}" if name not in str(exc) else str(exc)) from None


def _description(view: TableView) -> master_pb2.TableDescription:
    d = view.descriptor
    return master_pb2.TableDescription(
        name=d.name,
        families=[family_to_proto(f) for f in d.families],
        settings=settings_to_proto(d.settings),
        state=int(d.state),  # type: ignore[arg-type]
        regions=view.regions,
        regions_by_state=view.regions_by_state,
        locked_by=view.locked_by,
    )


def _procedure(v: ProcedureView) -> master_pb2.ProcedureInfo:
    return master_pb2.ProcedureInfo(
        proc_id=v.proc_id,
        kind=v.kind,
        step=v.step,
        age_s=v.age_s,
        region_id=v.region_id or 0,
        state=v.state,
        done=v.done,
        total=v.total,
        table=v.table,
        lock=v.lock,
        submitted_age_s=v.submitted_age_s,
        error_code=v.error_code,
        error_message=v.error_message,
        abortable=v.abortable,
    )
