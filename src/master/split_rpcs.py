"""The Master RPCs of split and merge (Split, Merge, SplitMergeSwitch, SplitMergeStatus) and the
RegionServerStatus.RequestSplit handler: protobuf to domain calls (master.admin.TableAdmin.split / merge)
and back. master.services forwards each call here with the active master.

A split without a key asks the hosting RegionServer where to split (its SplitPoint: the middle row by
size); a split of a whole table is one split per online region, each at its own middle, asked of every
server at once; regions the servers cannot split (empty, one row, still referencing a parent) are skipped
and logged, and only if none can be split is the call refused.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import structlog

from master import story
from master.errors import (
    InvalidArgument,
    RegionInTransition,
    RegionNotFound,
    RequestError,
    SplitRefused,
    TableNotFound,
)
from master.regions import RegionNode
from meta import RegionState
from regent.proto import master_pb2

if TYPE_CHECKING:
    from master.active import ActiveMaster

log = structlog.get_logger("master.split")

SPLIT_POINT_TIMEOUT_S = 10.0
MAX_MERGE_REQUEST = 1000  # regions per Merge request (TableAdmin checks its own bound too)
SKIPPED_LOGGED = 20


async def split(
    active: ActiveMaster, request: master_pb2.SplitRequest, nonce: str
) -> master_pb2.SplitResponse:
    given = bytes(request.split_key) if request.HasField("split_key") else None
    if given is not None and not given:
        raise InvalidArgument(
            "a split key must not be empty: the first region already starts at the empty key"
        )
    if bool(request.region_id) == bool(request.table):
        raise InvalidArgument("a split names a region (region_id) or a table (table), exactly one of them")
    nonce = nonce or request.nonce
    if request.region_id:
        node = active.am.regions.get(request.region_id)
        if node is None:
            raise RegionNotFound(f"region {request.region_id} does not exist")
        return master_pb2.SplitResponse(proc_ids=[await _split_one(active, node, given, nonce)])
    table = request.table
    if table not in active.catalog.tables:
        raise TableNotFound(f"table {table!r} does not exist")
    if given is not None:
        node = active.catalog.regions.locate(table, given)
        if node is None:
            raise InvalidArgument(f"no online region of table {table!r} holds row {given!r} (a hole in meta)")
        return master_pb2.SplitResponse(proc_ids=[await _split_one(active, node, given, nonce)])
    return master_pb2.SplitResponse(proc_ids=await _split_table(active, table, nonce))


async def _split_one(active: ActiveMaster, node: RegionNode, given: bytes | None, nonce: str) -> int:
    key = given if given is not None else await _split_point(active, node)
    return await active.tables.split(node.region_id, key, cause="operator", nonce=nonce)


async def _split_point(active: ActiveMaster, node: RegionNode) -> bytes:
    """The hosting RegionServer's split point of an OPEN region, or the RequestError saying why none:
    RegionInTransition (not an idle OPEN region), RegionHasReferences (its fold has not finished: one stat,
    before any RPC), SplitRefused (the server's own refusal: no row to split at, ...)."""
    if node.state is not RegionState.OPEN or node.server is None or node.proc_id:
        raise RegionInTransition(
            f"region {node.region_id} is {node.state.name}"
            + (f" under procedure {node.proc_id}" if node.proc_id else "")
            + ": only an idle OPEN region can be split (its RegionServer chooses the split point)"
        )
    active.tables.no_references(node, "split")
    try:
        return await active.dispatcher.split_point(node.server, node.region_id, None, SPLIT_POINT_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        refused = ("regent-error", "SplitRefused") in tuple(exc.trailing_metadata() or ())
        if code is grpc.StatusCode.UNIMPLEMENTED:
            why = "it does not offer SplitPoint (give a split key)"
        else:
            why = f"{code.name}: {exc.details()}"
        error = SplitRefused if refused else InvalidArgument
        raise error(
            f"region {node.region_id}: its RegionServer {node.server} gave no split point: {why}"
        ) from None


async def _split_table(active: ActiveMaster, table: str, nonce: str) -> list[int]:
    nodes = [n for n in active.catalog.regions.table(table) if not n.info.offline]
    points = await asyncio.gather(*(_split_point(active, n) for n in nodes), return_exceptions=True)
    proc_ids: list[int] = []
    skipped: list[tuple[int, str]] = []
    for node, point in zip(nodes, points, strict=True):
        if isinstance(point, RequestError):
            skipped.append((node.region_id, str(point)))
            continue
        if isinstance(point, BaseException):
            raise point
        try:
            proc_ids.append(
                await active.tables.split(
                    node.region_id,
                    point,
                    cause="operator",
                    nonce=f"{nonce}/{node.region_id}" if nonce else "",
                )
            )
        except RequestError as exc:
            skipped.append((node.region_id, str(exc)))
    if skipped:
        log.info(
            "split_regions_skipped",
            table=table,
            skipped=len(skipped),
            submitted=len(proc_ids),
            first=[f"{r}: {why}" for r, why in skipped[:SKIPPED_LOGGED]],
        )
    if not proc_ids:
        first = skipped[0][1] if skipped else "it has no online region"
        raise InvalidArgument(
            f"no region of table {table!r} can be split now ({len(skipped)} skipped); the first: {first}"
        )
    return proc_ids


async def merge(
    active: ActiveMaster, request: master_pb2.MergeRequest, nonce: str
) -> master_pb2.ProcedureResponse:
    if len(request.region_ids) > MAX_MERGE_REQUEST:
        raise InvalidArgument(
            f"a merge takes at most {MAX_MERGE_REQUEST} regions, got {len(request.region_ids)}"
        )
    proc_id = await active.tables.merge(
        list(request.region_ids), force=request.force, cause="operator", nonce=nonce or request.nonce
    )
    return master_pb2.ProcedureResponse(proc_id=proc_id)


async def split_merge_switch(
    active: ActiveMaster, request: master_pb2.SplitMergeSwitchRequest
) -> master_pb2.SplitMergeSwitchResponse:
    if request.kind not in ("split", "merge"):
        raise InvalidArgument(f"the switch kind is 'split' or 'merge', got {request.kind[:40]!r}")
    previous = await active.chores.switches.set_split_merge(request.kind, request.on)
    log.info("split_merge_switched", kind=request.kind, on=request.on, previous=previous)
    return master_pb2.SplitMergeSwitchResponse(previous=previous)


def split_merge_status(active: ActiveMaster) -> master_pb2.SplitMergeStatusResponse:
    split_on, merge_on = active.tables.split_merge_on()
    splits, merges = active.tables.running()
    return master_pb2.SplitMergeStatusResponse(
        split_on=split_on, merge_on=merge_on, splits_running=splits, merges_running=merges
    )


async def request_split(
    active: ActiveMaster, request: master_pb2.RequestSplitRequest, server: str
) -> master_pb2.RequestSplitResponse:
    """A RegionServer's size policy asks for a split: submitted with cause "auto_split", or refused with
    the reason (accepted false: the server does not ask again for that region until it reopens)."""
    node = active.am.regions.get(request.region_id)
    try:
        if node is None:
            raise RegionNotFound(f"region {request.region_id} does not exist")
        if node.server is None or str(node.server) != server:
            raise InvalidArgument(
                f"region {request.region_id} is not open on {server} as far as the master knows "
                f"(it is {node.state.name} on {node.server})"
            )
        key = bytes(request.split_key) if request.split_key else await _split_point(active, node)
        proc_id = await active.tables.split(request.region_id, key, cause=story.AUTO_SPLIT)
    except RequestError as exc:
        log.info("auto_split_refused", region=request.region_id, server=server, reason=str(exc))
        return master_pb2.RequestSplitResponse(accepted=False, reason=str(exc))
    log.info(
        "auto_split_requested",
        region=request.region_id,
        server=server,
        proc_id=proc_id,
        region_bytes=request.region_bytes,
        threshold_bytes=request.threshold_bytes,
    )
    return master_pb2.RequestSplitResponse(accepted=True, proc_id=proc_id)
