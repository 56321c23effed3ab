"""The data RPCs (service regent.v1.RegionData, protos/regent/proto/data.proto): gets, mutations,
increments, check-and-puts, scanners and compactions of the regions this RegionServer serves.

Every multi-row call is answered per region: a region this server cannot serve gets a RegionError saying
why (opening here, moved and where to, closing, fenced by a newer open, or not here at all) and the other
regions are served. A row refused for what it is gets a RowError, and nothing of it is written. A request
that is malformed as a whole is refused with INVALID_ARGUMENT before anything is done. Writes go through
the region's RegionWriter, so concurrent calls to one region share one transaction and one fsync, and each
is answered only once durable.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import structlog

from meta import ServerName
from meta.codec import server_to_proto
from regent.proto import data_pb2, data_pb2_grpc
from regionserver import data_proto as convert
from regionserver import metrics as rs_metrics
from regionserver.data import Get, NoSuchFamily, RowError, Scanner, StoreError, WriterClosed
from regionserver.data import compact_while_serving as compact_region
from regionserver.data.errors import Fenced, FilterSyntaxError
from regionserver.data.filters import parse_filter
from regionserver.data.region_store import RegionStore
from regionserver.data_proto import InvalidRequest, quote, region_error
from regionserver.hosting import HostedRegion, Hosting
from regionserver.load import LoadCounters
from regionserver.scanners import (
    LiveScanner,
    ParsedFilter,
    Piece,
    ScannerNotFound,
    Scanners,
    TooManyScanners,
)
from regionserver.store import Stores

log = structlog.get_logger("regionserver.data")

R = data_pb2.RegionError
MAX_REFUSAL_CHARS = 1000  # a refusal's message, whatever it quotes


T = TypeVar("T")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _measured(kind: str) -> Callable[[Handler], Handler]:
    """Count a data RPC in the heartbeat's load and in the metrics (regionserver.metrics), with its
    latency, once per call whatever its rows."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def measured(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                response = await handler(self, request, context)
            except Exception as exc:
                rs_metrics.data_op_failed(kind, type(exc).__name__)
                raise
            rs_metrics.data_op(kind, time.perf_counter() - started)
            self.load.requests_served()
            return response

        return measured

    return wrap


async def _each(work: Callable[[Any], Awaitable[T]], parts: Sequence[Any]) -> list[T]:
    """`work` on every region's part of a call, concurrently; one part (a call for one region, the common
    case) is awaited as it is, without a task of its own."""
    if len(parts) == 1:
        return [await work(parts[0])]
    return list(await asyncio.gather(*(work(part) for part in parts)))


async def _refuse(context: grpc.aio.ServicerContext, code: grpc.StatusCode, name: str, message: str) -> None:
    context.set_trailing_metadata((("regent-error", name),))
    await context.abort(code, message[:MAX_REFUSAL_CHARS])


class RegionDataService(data_pb2_grpc.RegionDataServicer):
    def __init__(
        self,
        hosting: Hosting,
        stores: Stores,
        scanners: Scanners,
        name: ServerName,
        leased: Callable[[], bool],
        load: LoadCounters,
        after_write: Callable[[HostedRegion], None] | None = None,
    ) -> None:
        #: Told of each region a call wrote to (regionserver.auto_split): cheap, on the event loop.
        self.after_write = after_write
        self.hosting = hosting
        self.load = load  # what the heartbeats report: one request per call
        self.stores = stores
        self.scanners = scanners
        self.name = name
        self.leased = leased

    # ---- which region, and why not ----

    def region(self, region_id: int) -> HostedRegion | data_pb2.RegionError:
        """The region if this server serves it now; else the RegionError that says why not."""
        if not self.leased():
            return region_error(
                R.NOT_SERVING, f"server {self.name} has no current lease: it serves nothing until renewed"
            )
        hosting = self.hosting
        region = hosting.online.get(region_id)
        if region is not None:
            return region
        if region_id in hosting.opening or region_id in hosting.claiming:
            return region_error(R.OPENING, f"region {region_id} is opening on {self.name}: retry shortly")
        destination = hosting.moved.destination(region_id, time.monotonic())
        if destination is not None:
            return region_error(
                R.MOVED,
                f"region {region_id} moved from {self.name} to {destination}",
                server_to_proto(destination),
            )
        if region_id in hosting.closing:
            return region_error(R.CLOSING, f"region {region_id} is closing on {self.name}")
        return region_error(R.NOT_SERVING, f"region {region_id} is not served by {self.name}")

    def outside(self, region: HostedRegion, rows: Sequence[bytes]) -> data_pb2.RegionError | None:
        """NOT_SERVING if a row is not in the region (the client's cached location is stale)."""
        for row in rows:
            if not region.contains(row):
                end = quote(region.end_key) if region.end_key else "the table's end"
                return region_error(
                    R.NOT_SERVING,
                    f"row {quote(row)} is outside region {region.region_id} "
                    f"[{quote(region.start_key)}, {end}): look the row up again",
                )
        return None

    def store_failed(self, region: HostedRegion, exc: StoreError) -> data_pb2.RegionError:
        """The RegionError for a store that refused the region's part of a call (nothing of it done)."""
        rid = region.region_id
        if isinstance(exc, Fenced):
            if self.hosting.online.get(rid) is region:
                self.hosting.drop(rid)
                log.error("region_fenced_closed", region=rid, reason=str(exc))
            return region_error(R.FENCED, str(exc))
        if isinstance(exc, WriterClosed):
            error = self.region(rid)
            if isinstance(error, data_pb2.RegionError) and error.reason != R.NOT_SERVING:
                return error
            return region_error(R.CLOSING, f"region {rid} is closing on {self.name}: nothing written")
        log.error("region_store_failed", region=rid, error=str(exc))
        return region_error(R.NOT_SERVING, f"region {rid} cannot be served by {self.name}: {exc}")

    def _written(self, region: HostedRegion) -> None:
        if self.after_write is not None:
            self.after_write(region)

    def _store(self, region: HostedRegion) -> RegionStore:
        return self.stores.of(region).store

    # ---- reads ----

    @_measured("get")
    async def Get(
        self, request: data_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.GetResponse:
        try:
            convert.check_row_count(sum(len(r.rows) for r in request.regions), "Get")
            columns = convert.columns_of(request.columns)
            max_versions = convert.max_versions_of(request.max_versions)
            time_range = convert.time_range_of(request.time_range, request.HasField("time_range"))
            for part in request.regions:
                for row in part.rows:
                    convert.check_read_row(row)
        except InvalidRequest as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        response = data_pb2.GetResponse()
        for part in request.regions:
            result = response.regions.add(region_id=part.region_id)
            found = self.region(part.region_id)
            error = found if isinstance(found, data_pb2.RegionError) else self.outside(found, part.rows)
            if error is not None:
                result.error.CopyFrom(error)
                continue
            assert isinstance(found, HostedRegion)
            gets = [Get(row, columns, max_versions, time_range) for row in part.rows]
            try:
                cells = self._store(found).get(gets)
            except NoSuchFamily as exc:
                await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "NoSuchFamily", str(exc))
            except StoreError as exc:
                result.error.CopyFrom(self.store_failed(found, exc))
                continue
            found.reads += len(gets)
            for g, row_cells in zip(gets, cells, strict=True):
                convert.add_row(result.rows, g.row, row_cells)
        return response

    # ---- writes ----

    @_measured("mutate")
    async def Mutate(
        self, request: data_pb2.MutateRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.MutateResponse:
        try:
            convert.check_row_count(sum(len(r.rows) for r in request.regions), "Mutate")
            for part in request.regions:
                for row in part.rows:
                    convert.check_kinds(row.mutations)
        except InvalidRequest as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        return data_pb2.MutateResponse(regions=await _each(self._mutate, request.regions))

    def _writable(
        self, region_id: int, rows: Sequence[bytes], outcome: data_pb2.RegionOutcome | data_pb2.RegionCounters
    ) -> tuple[HostedRegion | None, list[int]]:
        """The region and the indexes of the rows to write; refused rows (bad keys) are answered in
        `outcome`, a region this server cannot write is answered as its error (then None)."""
        found = self.region(region_id)
        if isinstance(found, data_pb2.RegionError):
            outcome.error.CopyFrom(found)
            return None, []
        keep = []
        for i, row in enumerate(rows):
            try:
                convert.check_row(row)
            except RowError as exc:
                outcome.row_errors[i].CopyFrom(convert.row_error(exc))
            else:
                keep.append(i)
        error = self.outside(found, [rows[i] for i in keep])
        if error is not None:
            outcome.error.CopyFrom(error)
            outcome.ClearField("row_errors")
            return None, []
        return found, keep

    async def _mutate(self, part: data_pb2.RegionMutations) -> data_pb2.RegionOutcome:
        outcome = data_pb2.RegionOutcome(region_id=part.region_id)
        region, keep = self._writable(part.region_id, [r.row for r in part.rows], outcome)
        if region is None or not keep:
            return outcome
        writes = [convert.row_mutation_of(part.rows[i].row, part.rows[i].mutations) for i in keep]
        try:
            refused = await self.stores.of(region).writer.mutate(writes)
        except StoreError as exc:
            outcome.error.CopyFrom(self.store_failed(region, exc))
            outcome.ClearField("row_errors")
            return outcome
        region.writes += len(writes)
        self._written(region)
        for i, error in zip(keep, refused, strict=True):
            if error is not None:
                outcome.row_errors[i].CopyFrom(convert.row_error(error))
        return outcome

    @_measured("increment")
    async def Increment(
        self, request: data_pb2.IncrementRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.IncrementResponse:
        try:
            convert.check_row_count(sum(len(r.rows) for r in request.regions), "Increment")
            for part in request.regions:
                for row in part.rows:
                    convert.check_increment(row)
        except InvalidRequest as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        group = request.nonce_group
        counters = await _each(functools.partial(self._increment, group=group), request.regions)
        return data_pb2.IncrementResponse(regions=counters)

    async def _increment(self, part: data_pb2.RegionIncrements, group: int) -> data_pb2.RegionCounters:
        outcome = data_pb2.RegionCounters(region_id=part.region_id)
        region, keep = self._writable(part.region_id, [r.row for r in part.rows], outcome)
        if region is None:
            return outcome
        writes, written = [], []
        for i in keep:
            try:
                writes.append(convert.increment_of(part.rows[i], group))
            except RowError as exc:
                outcome.row_errors[i].CopyFrom(convert.row_error(exc))
            else:
                written.append(i)
        results: list[object] = []
        if writes:
            try:
                results = list(await self.stores.of(region).writer.write(writes))
            except StoreError as exc:
                outcome.error.CopyFrom(self.store_failed(region, exc))
                outcome.ClearField("row_errors")
                return outcome
            region.writes += len(writes)
            self._written(region)
        values: dict[int, list[int]] = {}
        for i, write, result in zip(written, writes, results, strict=True):
            if isinstance(result, RowError):
                outcome.row_errors[i].CopyFrom(convert.row_error(result))
            elif isinstance(result, dict):
                values[i] = [result[(family, qualifier)] for family, qualifier, _ in write.amounts]
        outcome.rows.extend(data_pb2.Counters(values=values.get(i, [])) for i in range(len(part.rows)))
        return outcome

    @_measured("check_and_put")
    async def CheckAndPut(
        self, request: data_pb2.CheckAndPutRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.CheckAndPutResponse:
        try:
            convert.check_kinds(request.mutations)
        except InvalidRequest as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        response = data_pb2.CheckAndPutResponse()
        found = self.region(request.region_id)
        if isinstance(found, data_pb2.RegionError):
            response.error.CopyFrom(found)
            return response
        try:
            convert.check_row(request.row)
            check = convert.check_and_put_of(request)
        except RowError as exc:
            response.row_error.CopyFrom(convert.row_error(exc))
            return response
        error = self.outside(found, [request.row])
        if error is not None:
            response.error.CopyFrom(error)
            return response
        try:
            response.applied = await self.stores.of(found).writer.check_and_put(check)
        except RowError as exc:
            response.row_error.CopyFrom(convert.row_error(exc))
        except StoreError as exc:
            response.error.CopyFrom(self.store_failed(found, exc))
        else:
            found.writes += 1
            self._written(found)
        return response

    # ---- scanners ----

    @_measured("scan")
    async def OpenScanner(
        self, request: data_pb2.OpenScannerRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.ScanResponse:
        spec = request.scan
        try:
            parsed = parse_filter(spec.filter) if spec.filter else None
        except FilterSyntaxError as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "FilterSyntax", f"filter refused: {exc}")
        scan_filter = ParsedFilter(parsed, spec.reverse) if parsed is not None else None
        try:
            scan = convert.scan_of(spec, scan_filter)
        except (InvalidRequest, ValueError) as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        found = self.region(request.region_id)
        if isinstance(found, data_pb2.RegionError):
            return data_pb2.ScanResponse(error=found)
        error = self._start_outside(found, spec)
        if error is not None:
            return data_pb2.ScanResponse(error=error)
        scanner = Scanner(self._store(found), scan, region=(found.start_key, found.end_key))
        try:
            entry = self.scanners.add(
                found.region_id, found.open_seq_num, scanner, spec.batching, scan_filter
            )
        except TooManyScanners as exc:
            await _refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "TooManyScanners", str(exc))
        try:
            return self._reply(found, entry, request.rows)
        except NoSuchFamily as exc:
            self.scanners.close(entry.scanner_id)
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "NoSuchFamily", str(exc))
        raise AssertionError("unreachable: abort raises")

    def _start_outside(self, region: HostedRegion, spec: data_pb2.ScanSpec) -> data_pb2.RegionError | None:
        """A scan starting past the region's end (forward) or before its start (reverse) is for another
        region: the client's cached location is stale."""
        start = spec.start_row
        if not start:
            return None
        beyond = (
            start < region.start_key if spec.reverse else bool(region.end_key) and start >= region.end_key
        )
        return self.outside(region, [start]) if beyond else None

    @_measured("scan")
    async def ScannerNext(
        self, request: data_pb2.ScannerNextRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.ScanResponse:
        try:
            entry = self.scanners.get(request.scanner_id)
        except ScannerNotFound as exc:
            await _refuse(context, grpc.StatusCode.NOT_FOUND, "ScannerNotFound", str(exc))
        found = self.region(entry.region_id)
        if isinstance(found, HostedRegion) and found.open_seq_num != entry.open_seq_num:
            found = region_error(
                R.NOT_SERVING,
                f"region {entry.region_id} was reopened on {self.name} since the scanner opened",
            )
        if isinstance(found, data_pb2.RegionError):
            self.scanners.close(entry.scanner_id)
            return data_pb2.ScanResponse(error=found)
        return self._reply(found, entry, request.rows)

    def _reply(self, region: HostedRegion, entry: LiveScanner, rows: int) -> data_pb2.ScanResponse:
        try:
            pieces = entry.next(convert.rows_per_reply(rows), convert.MAX_REPLY_BYTES)
        except NoSuchFamily:
            raise
        except StoreError as exc:
            self.scanners.close(entry.scanner_id)
            return data_pb2.ScanResponse(error=self.store_failed(region, exc))
        region.reads += len(pieces)
        if entry.exhausted:
            self.scanners.close(entry.scanner_id)
        return scan_reply(entry, pieces)

    @_measured("close_scanner")
    async def CloseScanner(
        self, request: data_pb2.CloseScannerRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.CloseScannerResponse:
        # Closing a scanner that is gone already (expired, exhausted) is not an error: the goal is met.
        self.scanners.close(request.scanner_id)
        return data_pb2.CloseScannerResponse()

    # ---- operators ----

    @_measured("compact")
    async def Compact(
        self, request: data_pb2.CompactRequest, context: grpc.aio.ServicerContext
    ) -> data_pb2.CompactResponse:
        try:
            convert.check_row_count(len(request.region_ids), "Compact")
        except InvalidRequest as exc:
            await _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgument", str(exc))
        response = data_pb2.CompactResponse()
        for region_id in request.region_ids:
            result = response.regions.add(region_id=region_id)
            found = self.region(region_id)
            if isinstance(found, data_pb2.RegionError):
                result.error.CopyFrom(found)
                continue
            data = self.stores.of(found)
            store = data.store
            try:
                store.flush()  # the figures count what the write-ahead log holds in memory too
                result.cells_before, result.bytes_before = _figures(store)
                await data.folded()  # a split daughter or merged child: its parents' cells first
                await compact_region(store)
                result.cells_after, result.bytes_after = _figures(store)
            except StoreError as exc:
                result.error.CopyFrom(self.store_failed(found, exc))
        log.info("regions_compacted", regions=len(request.region_ids))
        return response


def scan_reply(entry: LiveScanner, pieces: Sequence[Piece]) -> data_pb2.ScanResponse:
    """The reply to OpenScanner or ScannerNext that carries `pieces` of the scanner's rows."""
    done = entry.exhausted
    response = data_pb2.ScanResponse(
        scanner_id=0 if done else entry.scanner_id,
        more_in_region=not done,
        scan_done=done and entry.scan_done,
    )
    for p in pieces:
        convert.add_row(response.rows, p.row, p.cells, p.partial)
    return response


def _figures(store: RegionStore) -> tuple[int, int]:
    """(cells, bytes of pages in use) of the store's cells; (0, 0) for a region without a store."""
    if not store.exists:
        return 0, 0
    env = store.environment()
    with env.env.begin() as txn:
        stat = txn.stat(env.cells_db)
    pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
    return int(stat["entries"]), int(pages * stat["psize"])
