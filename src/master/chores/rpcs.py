"""The Master RPCs of the balancer, decommissioned servers, the catalog janitor, hbck and the normalizer:
protobuf to domain calls and back.
master.services' MasterService forwards each call here (with the active master), so that its own module
stays about tables and regions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from master.chores.balancer import BalancerRun
from master.chores.hbck import CheckReport
from master.chores.normalizer import NormalizerRun
from master.errors import InvalidArgument, ServerNotFound
from meta import ServerName
from meta.types import validate_table_name
from regent.proto import master_pb2

if TYPE_CHECKING:
    from master.active import ActiveMaster

MAX_SERVERS = 1000  # per Decommission
MAX_REGIONS = 100_000  # per Recommission
MAX_TABLES = 1000  # per Normalize


async def balance(active: ActiveMaster, request: master_pb2.BalanceRequest) -> master_pb2.BalancerRun:
    run = await active.chores.balancer.run(dry_run=request.dry_run, force=request.force)
    return run_to_proto(run)


async def balancer_switch(
    active: ActiveMaster, request: master_pb2.BalancerSwitchRequest
) -> master_pb2.BalancerSwitchResponse:
    previous = await active.chores.switches.set_balancer(request.on)
    return master_pb2.BalancerSwitchResponse(previous=previous)


def balancer_status(active: ActiveMaster) -> master_pb2.BalancerStatusResponse:
    balancer = active.chores.balancer
    response = master_pb2.BalancerStatusResponse(
        on=active.chores.switches.now.balancer_on,
        period_s=balancer.config.period_s,
        slop=balancer.config.slop,
        max_in_transition=balancer.max_in_transition(),
        running=balancer.running,
    )
    if balancer.last_run is not None:
        response.last_run.CopyFrom(run_to_proto(balancer.last_run))
    return response


async def decommission(
    active: ActiveMaster, request: master_pb2.DecommissionRequest
) -> master_pb2.DecommissionResponse:
    if not request.servers:
        raise InvalidArgument("decommission needs at least one server (host:port or host:port:startcode)")
    if len(request.servers) > MAX_SERVERS:
        raise InvalidArgument(f"at most {MAX_SERVERS} servers per decommission, got {len(request.servers)}")
    servers = [_live(active, text) for text in request.servers]
    addresses, moves = await active.chores.decommissions.decommission(servers, request.offload)
    return master_pb2.DecommissionResponse(servers=addresses, moves=moves)


async def recommission(
    active: ActiveMaster, request: master_pb2.RecommissionRequest
) -> master_pb2.RecommissionResponse:
    if len(request.region_ids) > MAX_REGIONS:
        raise InvalidArgument(
            f"at most {MAX_REGIONS} regions per recommission, got {len(request.region_ids)}"
        )
    server = _live(active, request.server)
    moves = await active.chores.decommissions.recommission(server, list(dict.fromkeys(request.region_ids)))
    return master_pb2.RecommissionResponse(moves=moves)


def list_decommissioned(active: ActiveMaster) -> master_pb2.ListDecommissionedResponse:
    return master_pb2.ListDecommissionedResponse(
        servers=[
            master_pb2.DecommissionedServerInfo(
                address=v.address, offload=v.offload, since_ms=v.since_ms, live=v.live, regions=v.regions
            )
            for v in active.chores.decommissions.views()
        ]
    )


def _live(active: ActiveMaster, text: str) -> ServerName:
    server = active.resolve_server(text.strip())
    if server is None:
        raise InvalidArgument("a server must be given: host:port or host:port:startcode")
    if not active.servers.is_live(server):
        raise ServerNotFound(f"server {server} is not a live RegionServer")
    return server


def run_to_proto(run: BalancerRun) -> master_pb2.BalancerRun:
    p = run.progress
    return master_pb2.BalancerRun(
        ran=run.ran,
        reason=run.reason,
        dry_run=run.dry_run,
        forced=run.forced,
        trigger=run.trigger,
        started_ms=run.started_ms,
        finished_ms=run.finished_ms,
        plan_ms=run.plan_ms,
        planned=run.planned,
        moves_done=p.done,
        moves_failed=p.failed + p.left,
        cost_before=run.cost_before,
        cost_after=run.cost_after,
        moves=[
            master_pb2.PlannedMove(region_id=m.region_id, source=str(m.source), target=str(m.target))
            for m in run.moves
        ],
        servers=run.servers,
        regions=run.regions,
    )


# ---- the catalog janitor and hbck ----


async def catalog_janitor_run(active: ActiveMaster) -> master_pb2.CheckReport:
    return report_to_proto(await active.chores.janitor.run())


async def catalog_janitor_switch(
    active: ActiveMaster, request: master_pb2.CatalogJanitorSwitchRequest
) -> master_pb2.CatalogJanitorSwitchResponse:
    previous = await active.chores.switches.set_catalog_janitor(request.on)
    return master_pb2.CatalogJanitorSwitchResponse(previous=previous)


def catalog_janitor_status(active: ActiveMaster) -> master_pb2.CatalogJanitorStatusResponse:
    janitor = active.chores.janitor
    response = master_pb2.CatalogJanitorStatusResponse(
        on=active.chores.switches.now.catalog_janitor_on, period_s=janitor.period_s
    )
    if janitor.last is not None:
        response.last_report.CopyFrom(report_to_proto(janitor.last))
    return response


async def hbck(active: ActiveMaster, request: master_pb2.HbckRequest) -> master_pb2.CheckReport:
    if request.remove_orphan_dirs and not request.fix:
        raise InvalidArgument("remove_orphan_dirs is a repair: it needs fix as well")
    report = await active.chores.hbck.run(fix=request.fix, remove_orphan_dirs=request.remove_orphan_dirs)
    return report_to_proto(report)


KEPT_SHOWN = 100  # kept parents listed in a report (all are counted)


def report_to_proto(report: CheckReport) -> master_pb2.CheckReport:
    cleanup = report.parents
    msg = master_pb2.CheckReport(
        started_ms=report.started_ms,
        ms=report.ms,
        findings=[
            master_pb2.Finding(
                kind=f.finding.kind.value,
                detail=f.finding.detail,
                table=f.finding.table,
                region_id=f.finding.region_id,
                server=f.finding.server,
                path=f.finding.path,
                fix=f.finding.fix,
                fixed=f.fixed,
                fix_error=f.error,
            )
            for f in report.findings
        ],
        regions=report.regions,
        servers=report.servers,
        unreachable=report.unreachable,
        fix=report.fix,
    )
    if cleanup is not None:
        msg.removed_parents.extend(
            master_pb2.SplitParent(region_id=r.parent, table=r.table, kind=r.kind, children=r.children)
            for r in cleanup.removed
        )
        msg.kept_parents.extend(
            master_pb2.SplitParent(region_id=k.parent, table=k.table, kind=k.kind, reason=k.reason)
            for k in cleanup.kept[:KEPT_SHOWN]
        )
        msg.parents_kept = len(cleanup.kept)
        msg.parents_error = cleanup.error
    return msg


# ---- the normalizer ----


async def normalize(active: ActiveMaster, request: master_pb2.NormalizeRequest) -> master_pb2.NormalizerRun:
    if len(request.tables) > MAX_TABLES:
        raise InvalidArgument(f"at most {MAX_TABLES} tables per normalize, got {len(request.tables)}")
    for name in request.tables:
        try:
            validate_table_name(name)
        except ValueError as exc:
            raise InvalidArgument(f"normalize: {exc}") from None
    run = await active.chores.normalizer.run(dry_run=request.dry_run, tables=list(request.tables))
    return normalizer_run_to_proto(run)


async def normalizer_switch(
    active: ActiveMaster, request: master_pb2.NormalizerSwitchRequest
) -> master_pb2.NormalizerSwitchResponse:
    previous = await active.chores.switches.set_normalizer(request.on)
    return master_pb2.NormalizerSwitchResponse(previous=previous)


def normalizer_status(active: ActiveMaster) -> master_pb2.NormalizerStatusResponse:
    normalizer = active.chores.normalizer
    response = master_pb2.NormalizerStatusResponse(
        on=active.chores.switches.now.normalizer_on, period_s=normalizer.config.period_s
    )
    if normalizer.last_run is not None:
        response.last_run.CopyFrom(normalizer_run_to_proto(normalizer.last_run))
    return response


def normalizer_run_to_proto(run: NormalizerRun) -> master_pb2.NormalizerRun:
    return master_pb2.NormalizerRun(
        ran=run.ran,
        reason=run.reason,
        dry_run=run.dry_run,
        started_ms=run.started_ms,
        finished_ms=run.finished_ms,
        plans=[
            master_pb2.NormalizationPlan(
                kind=p.kind,
                table=p.table,
                region_ids=p.region_ids,
                bytes=p.bytes,
                reason=p.reason,
                proc_id=p.proc_id,
                error=p.error,
            )
            for p in run.plans
        ],
        tables=run.tables,
        regions=run.regions,
        trigger=run.trigger,
    )
