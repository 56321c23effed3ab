"""Sending orders to RegionServers: one sender task per server, batching whatever is queued for it into
one ExecuteProcedures call (columnar, chunked), never one RPC per region."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
import structlog

from master.assignment import CloseOrders, OpenOrders
from meta import ColumnFamily, ServerName, TableSettings
from meta.codec import family_to_proto, server_to_proto, settings_to_proto
from regent.proto import common_pb2, regionserver_pb2, regionserver_pb2_grpc
from regent.transport import INSECURE, Transport

log = structlog.get_logger("master.dispatch")

CHUNK = 20_000  # orders per RPC: about 1 MB of columns
RETRIES = 5  # deliveries tried before the orders are given back as failed
CALL_TIMEOUT_S = 10.0

OnFailed = Callable[[ServerName, OpenOrders, CloseOrders, str], None]
#: The families of a table as its descriptor has them now (empty for a table that is gone): read when the
#: orders are sent, so a reopen after a modify delivers the new ones.
FamiliesOf = Callable[[str], Sequence[ColumnFamily]]


#: The table's settings as an open carries them (max_region_size resolved with the master's default).
SettingsOf = Callable[[str], TableSettings]


def _no_families(table: str) -> Sequence[ColumnFamily]:
    return ()


def _default_settings(table: str) -> TableSettings:
    return TableSettings()


@dataclass(slots=True)
class _Queue:
    opens: OpenOrders = field(default_factory=OpenOrders)
    closes: CloseOrders = field(default_factory=CloseOrders)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(
        self,
        epoch: int,
        on_failed: OnFailed,
        is_live: Callable[[ServerName], bool],
        transport: Transport = INSECURE,
        families_of: FamiliesOf = _no_families,
        settings_of: SettingsOf = _default_settings,
    ) -> None:
        self._epoch = epoch
        self._families_of = families_of
        self._settings_of = settings_of
        self._transport = transport
        self._on_failed = on_failed
        self._is_live = is_live
        self._queues: dict[ServerName, _Queue] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def send(
        self, server: ServerName, opens: OpenOrders | None = None, closes: CloseOrders | None = None
    ) -> None:
        queue = self._queues.get(server)
        if queue is None:
            queue = self._queues[server] = _Queue()
            queue.task = asyncio.get_running_loop().create_task(
                self._sender(server, queue), name=f"dispatch-{server}"
            )
        if opens:
            queue.opens.extend(opens)
        if closes:
            queue.closes.extend(closes)
        queue.ready.set()

    def forget(self, server: ServerName) -> None:
        """Stop sending to a dead incarnation; what was queued is dropped (its crash procedure owns it)."""
        queue = self._queues.pop(server, None)
        if queue and queue.task:
            queue.task.cancel()

    async def close(self) -> None:
        for queue in self._queues.values():
            if queue.task:
                queue.task.cancel()
        for channel in self._channels.values():
            await channel.close()

    async def online_regions(
        self, server: ServerName, within_s: float = CALL_TIMEOUT_S
    ) -> dict[int, int] | None:
        """What `server` says it serves now (region id -> open sequence number); None if it did not answer
        (hbck: master.chores.hbck)."""
        request = regionserver_pb2.GetOnlineRegionsRequest()
        try:
            answer = await self._stub(server).GetOnlineRegions(request, timeout=within_s)
        except grpc.aio.AioRpcError:
            return None
        return dict(zip(answer.region_ids, answer.open_seq_nums, strict=True))

    async def split_point(
        self, server: ServerName, region_id: int, split_key: bytes | None, within_s: float = CALL_TIMEOUT_S
    ) -> bytes:
        """Where `server` would split region `region_id` (its middle row by size, or `split_key` checked).
        Raises grpc.aio.AioRpcError as the server answered (FAILED_PRECONDITION with its reason when it
        cannot: not served there, references, no row to split at)."""
        request = regionserver_pb2.SplitPointRequest(region_id=region_id)
        if split_key is not None:
            request.split_key = split_key
        answer = await self._stub(server).SplitPoint(request, timeout=within_s)
        return bytes(answer.split_key)

    def _stub(self, server: ServerName) -> regionserver_pb2_grpc.RegionServerAdminStub:
        channel = self._channels.get(server.address)
        if channel is None:
            channel = self._channels[server.address] = self._transport.aio_channel(server.address)
        return regionserver_pb2_grpc.RegionServerAdminStub(channel)

    async def _sender(self, server: ServerName, queue: _Queue) -> None:
        stub = self._stub(server)
        while True:
            await queue.ready.wait()
            queue.ready.clear()
            opens, closes = queue.opens, queue.closes
            queue.opens, queue.closes = OpenOrders(), CloseOrders()
            for request, part_opens, part_closes in _requests(
                server, self._epoch, opens, closes, self._families_of, self._settings_of
            ):
                error = await self._deliver(stub, server, request)
                if error is not None:
                    if self._is_live(server):
                        self._on_failed(server, part_opens, part_closes, error)
                    else:
                        log.info(
                            "orders_dropped_for_dead_server",
                            server=str(server),
                            orders=len(part_opens.region_ids),
                        )

    async def _deliver(
        self,
        stub: regionserver_pb2_grpc.RegionServerAdminStub,
        server: ServerName,
        request: regionserver_pb2.ExecuteProceduresRequest,
    ) -> str | None:
        """Send one request; None once delivered, else why it could not be."""
        delay = 0.05
        for attempt in range(RETRIES):
            try:
                await stub.ExecuteProcedures(request, timeout=CALL_TIMEOUT_S)
                return None
            except grpc.aio.AioRpcError as exc:
                # Refused for its content (wrong startcode, old epoch, bad field): retrying will not help.
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    return f"{exc.code().name}: {exc.details()}"
                if attempt == RETRIES - 1 or not self._is_live(server):
                    return f"{exc.code().name}: {exc.details()}"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        return "undeliverable"


def _requests(
    server: ServerName,
    epoch: int,
    opens: OpenOrders,
    closes: CloseOrders,
    families_of: FamiliesOf = _no_families,
    settings_of: SettingsOf = _default_settings,
) -> list[tuple[regionserver_pb2.ExecuteProceduresRequest, OpenOrders, CloseOrders]]:
    target = server_to_proto(server)
    out = []
    for s in range(0, max(len(opens.region_ids), 1), CHUNK):
        part = OpenOrders(
            opens.region_ids[s : s + CHUNK],
            opens.proc_ids[s : s + CHUNK],
            opens.open_seq_nums[s : s + CHUNK],
            opens.infos[s : s + CHUNK],
        )
        part_closes = closes if s == 0 else CloseOrders()
        request = regionserver_pb2.ExecuteProceduresRequest(
            target=target,
            master_epoch=epoch,
            opens=_table_opens(part, families_of, settings_of),
            closes=_closes(part_closes),
        )
        if part.region_ids or part_closes.region_ids:
            out.append((request, part, part_closes))
    return out


def _closes(closes: CloseOrders) -> regionserver_pb2.Closes:
    """Columnar closes; destinations only when some close has one (a ServerName with an empty host where
    one is unknown)."""
    msg = regionserver_pb2.Closes(region_ids=closes.region_ids, proc_ids=closes.proc_ids)
    if len(closes.destinations) == len(closes.region_ids) and any(d is not None for d in closes.destinations):
        unknown = common_pb2.ServerName()
        msg.destinations.extend(server_to_proto(d) if d is not None else unknown for d in closes.destinations)
    return msg


def _table_opens(
    orders: OpenOrders,
    families_of: FamiliesOf = _no_families,
    settings_of: SettingsOf = _default_settings,
) -> list[regionserver_pb2.TableOpens]:
    """Columnar opens, one group per table (startup orders are nearly always one table), each with the
    table's families and settings."""
    if len({info.table for info in orders.infos}) == 1:
        infos = orders.infos
        return [
            regionserver_pb2.TableOpens(
                table=infos[0].table,
                families=[family_to_proto(f) for f in families_of(infos[0].table)],
                settings=settings_to_proto(settings_of(infos[0].table)),
                region_ids=orders.region_ids,
                proc_ids=orders.proc_ids,
                open_seq_nums=orders.open_seq_nums,
                start_keys=[i.start_key for i in infos],
                end_keys=[i.end_key for i in infos],
            )
        ]
    by_table: dict[str, list[int]] = {}
    for i, info in enumerate(orders.infos):
        by_table.setdefault(info.table, []).append(i)
    groups = []
    for table, index in by_table.items():
        infos = [orders.infos[i] for i in index]
        groups.append(
            regionserver_pb2.TableOpens(
                table=table,
                families=[family_to_proto(f) for f in families_of(table)],
                settings=settings_to_proto(settings_of(table)),
                region_ids=[orders.region_ids[i] for i in index],
                proc_ids=[orders.proc_ids[i] for i in index],
                open_seq_nums=[orders.open_seq_nums[i] for i in index],
                start_keys=[i.start_key for i in infos],
                end_keys=[i.end_key for i in infos],
            )
        )
    return groups
