"""Automatic split requests: after writes, a region that outgrew its table's threshold asks the master to
split it (docs/split_merge_contract.md, "Automatic splits are requested by the RegionServer").

The data path calls `written(region)` after each write it committed to a region. That is a dict look-up
and a clock read; at most once per region per RATE_S it measures the store (one LMDB stat of the cells
database: pages x page size) and asks regionserver.split_policy whether the threshold is passed. Then, in a
task of its own, it finds the middle row (regionserver.data.middle) and calls RegionServerStatus.
RequestSplit through the RegionServer's master link. At most once per region open: an accepted request is
not repeated until the region is opened again (as daughters, normally); a refused one (or a failed call) is
logged at info and not repeated for RETRY_S. No request for a table whose settings say no automatic split,
or for a region that still references its parents' stores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import structlog

from meta import ServerName
from meta.codec import server_to_proto
from regent.proto import master_pb2
from regionserver import split_policy
from regionserver.data.errors import StoreError
from regionserver.data.middle import cells_bytes
from regionserver.hosting import HostedRegion, Hosting
from regionserver.splits import SplitRefused, split_point
from regionserver.store import Stores

log = structlog.get_logger("regionserver.auto_split")

RATE_S = 1.0  # a region's size is measured at most this often
RETRY_S = 60.0  # a refused request is not repeated for this long (within one open)
Request = Callable[[master_pb2.RequestSplitRequest], Awaitable[master_pb2.RequestSplitResponse]]


@dataclass(slots=True)
class _Watch:
    """One region open's split state."""

    open_seq_num: int
    next_check: float = 0.0
    busy: bool = False  # a request is being prepared or sent
    requested: bool = False  # the master accepted one for this open


class AutoSplits:
    def __init__(
        self,
        hosting: Hosting,
        stores: Stores,
        server: ServerName,
        request: Request,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hosting = hosting
        self.stores = stores
        self.server = server
        self.request = request
        self.clock = clock
        self._watch: dict[int, _Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests_sent = 0

    def written(self, region: HostedRegion) -> None:
        """A write to `region` was committed: measure it if due, and ask for a split if it outgrew."""
        settings = region.split_settings
        if settings is None or not settings.automatic:
            return
        watch = self._watch.get(region.region_id)
        if watch is None or watch.open_seq_num != region.open_seq_num:
            if len(self._watch) > 2 * max(len(self.hosting.online), 1_000):
                self._forget_closed()
            watch = self._watch[region.region_id] = _Watch(region.open_seq_num)
        now = self.clock()
        if watch.requested or watch.busy or now < watch.next_check:
            return
        watch.next_check = now + RATE_S
        data = region.store
        if data is None or data.store.has_references:
            return
        try:
            size = cells_bytes(data.store)
        except StoreError:
            return  # the write path reports the store's trouble
        rid = region.region_id
        if size < split_policy.threshold(settings.max_region_size, 1, rid):  # the lowest it can be
            return
        limit = split_policy.due(settings, size, self._table_regions(region.table), rid)
        if limit is None:
            return
        watch.busy = True
        task = asyncio.get_running_loop().create_task(
            self._ask(region, watch, size, limit), name=f"split-{rid}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _table_regions(self, table: str) -> int:
        return sum(1 for r in self.hosting.online.values() if r.table == table)

    def _forget_closed(self) -> None:
        online = self.hosting.online
        for rid in [rid for rid in self._watch if rid not in online]:
            del self._watch[rid]

    async def _ask(self, region: HostedRegion, watch: _Watch, size: int, limit: int) -> None:
        rid = region.region_id
        try:
            try:
                key, _ = await split_point(self.hosting, self.stores, self.server, rid, None)
            except SplitRefused as exc:
                watch.next_check = self.clock() + RETRY_S
                log.info("split_not_requested", region=rid, region_bytes=size, reason=str(exc))
                return
            self.requests_sent += 1
            try:
                answer = await self.request(
                    master_pb2.RequestSplitRequest(
                        server=server_to_proto(self.server),
                        region_id=rid,
                        split_key=key,
                        region_bytes=size,
                        threshold_bytes=limit,
                    )
                )
            except grpc.aio.AioRpcError as exc:
                answer = master_pb2.RequestSplitResponse(reason=f"{exc.code().name}: {exc.details()}")
            if answer.accepted:
                watch.requested = True
                log.info(
                    "split_requested",
                    region=rid,
                    region_bytes=size,
                    threshold_bytes=limit,
                    proc_id=answer.proc_id,
                )
            else:
                watch.next_check = self.clock() + RETRY_S
                log.info(
                    "split_request_refused",
                    region=rid,
                    region_bytes=size,
                    threshold_bytes=limit,
                    reason=answer.reason,
                    retry_in_s=RETRY_S,
                )
        finally:
            watch.busy = False

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
