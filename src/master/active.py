"""The active master: everything a master does once elected, composed around the assignment core.

Services call these methods; they decide through AssignmentManager and carry the Effects out: rows made
durable through the single writer first, orders dispatched after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from master import catalog as catalog_mod
from master.assignment import AssignmentManager, CloseOrders, Effects, OpenOrders
from master.catalog import Catalog
from master.dispatch import Dispatcher
from master.errors import (
    InvalidArgument,
    ServerNotFound,
    ServerNotRegistered,
    TableExists,
    TableNotFound,
    YouAreDead,
)
from master.regions import RegionNode
from master.servers import ServerManager
from meta import MetaStore, MetaWriteError, MetaWriter, ServerName, TableDescriptor, TableState, WriteBatch
from meta.codec import server_to_proto
from regent.proto import meta_pb2

log = structlog.get_logger("master")

STARTUP_CHUNK = 5_000  # regions per startup order: small enough to pipeline, large enough to batch


@dataclass(frozen=True, slots=True)
class AssignmentConfig:
    min_servers: int = 1
    startup_grace_s: float = 3.0
    max_attempts: int = 10
    heartbeat_ms: int = 1000
    lease_ms: int = 3000


class ActiveMaster:
    def __init__(
        self, config: AssignmentConfig, store: MetaStore, writer: MetaWriter, epoch: int, catalog: Catalog,
        known_servers: Sequence[ServerName],
    ) -> None:
        self.config = config
        self.store = store
        self.writer = writer
        self.epoch = epoch
        self.catalog = catalog
        self.servers = ServerManager(lease_s=config.lease_ms / 1000)
        self.am = AssignmentManager(
            catalog.regions, self.servers, max_attempts=config.max_attempts,
            next_proc_id=catalog.counters[b"next_proc_id"],
            next_open_seq_num=catalog.counters[b"next_open_seq_num"],
        )
        self.dispatcher = Dispatcher(epoch, self._dispatch_failed, self.servers.is_live)
        self.known_servers = list(known_servers)
        self.active_since_ms = int(time.time() * 1000)
        self.startup_assignment_ms = 0
        self.failed = asyncio.Event()  # set when meta cannot be written: the master must step down
        self._server_arrived = asyncio.Event()
        self._startup_started = time.monotonic()
        self._startup_done = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._startup(), name="startup-assignment"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()

    # ---- carrying out decisions ----

    async def apply(self, effects: Effects) -> None:
        """Persist the effects' rows (one group-committed batch), then send their orders."""
        if effects.rows:
            batch = WriteBatch().put_many("region_state", effects.rows)
            catalog_mod.counter_updates(batch, {
                b"next_proc_id": self.am.next_proc_id, b"next_open_seq_num": self.am.next_open_seq_num,
            })
            try:
                await self.writer.write(batch)
            except MetaWriteError as exc:
                log.error("meta_write_failed_stepping_down", error=str(exc))
                self.failed.set()
                raise
        for server, opens in effects.opens.items():
            self.dispatcher.send(server, opens=opens)
        for server, closes in effects.closes.items():
            self.dispatcher.send(server, closes=closes)
        if not self._startup_done and self._startup_planned and self.am.settled():
            self._startup_done = True
            self.startup_assignment_ms = max(1, int((time.monotonic() - self._startup_started) * 1000))
            log.info("startup_assignment_finished", regions=len(self.am.regions), ms=self.startup_assignment_ms)

    _startup_planned = False

    def _dispatch_failed(self, server: ServerName, opens: OpenOrders, closes: CloseOrders, error: str) -> None:
        log.warning("orders_undeliverable", server=str(server), opens=len(opens.region_ids),
                    closes=len(closes.region_ids), error=error)
        effects = self.am.dispatch_failed(server, opens, closes)
        if effects:
            asyncio.get_running_loop().create_task(self.apply(effects))

    # ---- startup ----

    async def _startup(self) -> None:
        await self._wait_for_servers()
        enabled = [n for t, d in self.catalog.tables.items() if d.state is TableState.ENABLED
                   for n in self.catalog.regions.table(t)]
        enabled.sort(key=lambda n: n.region_id)
        effects, to_assign = self.am.take_over(enabled)
        plan = self.am.plan(to_assign)
        self._startup_planned = True
        log.info("startup_assignment_started", regions=len(to_assign), servers=len(plan),
                 waited_ms=int((time.monotonic() - self._startup_started) * 1000))
        pending = [asyncio.ensure_future(self.apply(effects))]
        rounds = max((len(nodes) for nodes in plan.values()), default=0)
        for start in range(0, rounds, STARTUP_CHUNK):
            for server, nodes in plan.items():
                chunk = nodes[start : start + STARTUP_CHUNK]
                if chunk and self.servers.is_live(server):
                    pending.append(asyncio.ensure_future(self.apply(self.am.open_chunk(server, chunk))))
            await asyncio.sleep(0)  # let reports and commits in between chunks
        await asyncio.gather(*pending)
        await self.apply(self.am.assign_waiting())

    async def _wait_for_servers(self) -> None:
        """Until min_servers are live and every server meta knew is back, or the grace ran out and at
        least one is live."""
        known = {s.address for s in self.known_servers}
        deadline = time.monotonic() + self.config.startup_grace_s
        while True:
            live = self.servers.live()
            back = {s.address for s in live}
            if len(live) >= self.config.min_servers and known <= back:
                return
            if live and time.monotonic() >= deadline:
                return
            self._server_arrived.clear()
            timeout = max(0.01, deadline - time.monotonic()) if live else None
            try:
                await asyncio.wait_for(self._server_arrived.wait(), timeout)
            except TimeoutError:
                pass

    # ---- RegionServers ----

    async def server_startup(self, name: ServerName) -> None:
        try:
            replaced = self.servers.register(name)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        record = meta_pb2.ServerRecord(server=server_to_proto(name), registered_ms=int(time.time() * 1000))
        await self.writer.write(WriteBatch().put("servers", name.address.encode(), record.SerializeToString()))
        log.info("server_registered", server=str(name), replaced=[str(s) for s in replaced])
        effects = Effects()
        for old in replaced:
            self.dispatcher.forget(old)
            effects += self._server_gone(old)
        if self._startup_done:
            effects += self.am.assign_waiting()
        await self.apply(effects)
        self._server_arrived.set()

    def _server_gone(self, server: ServerName) -> Effects:
        nodes = [n for n in self.am.regions if n.server == server]
        effects, to_assign = self.am.take_over(nodes)
        if to_assign:
            effects += self.am.assign_all(to_assign)
        return effects

    def heartbeat(self, name: ServerName, region_count: int, requests: int) -> None:
        if not self.servers.heartbeat(name, region_count, requests):
            self._not_live(name)

    def _not_live(self, name: ServerName) -> None:
        if name in self.servers.dead:
            raise YouAreDead(f"server {name} was declared dead: stop serving and exit")
        raise ServerNotRegistered(f"server {name} is not registered with master epoch {self.epoch}: register")

    async def report(
        self, name: ServerName, batches: Sequence[tuple[int, Sequence[int], Sequence[int], Sequence[int]]]
    ) -> list[list[tuple[int, str]]]:
        if not self.servers.is_live(name):
            self._not_live(name)
        server = self.servers.by_address(name.address)
        assert server is not None
        results, effects = [], Effects()
        for code, region_ids, proc_ids, seqs in batches:
            rejected, batch_effects = self.am.report(server, code, region_ids, proc_ids, seqs)
            results.append(rejected)
            effects += batch_effects
        await self.apply(effects)
        if any(results):
            log.warning("reports_rejected", server=str(name), rejected=sum(len(r) for r in results),
                        first=next(r for r in results if r)[0][1])
        return results

    # ---- admin ----

    async def create_table(self, table: TableDescriptor, split_keys: Sequence[bytes]) -> tuple[int, int]:
        if table.name in self.catalog.tables:
            raise TableExists(f"table {table.name!r} already exists")
        first = self.catalog.counters[b"next_region_id"]
        batches, infos = catalog_mod.new_table_rows(table, split_keys, first)
        self.catalog.counters[b"next_region_id"] = first + len(infos)
        self.catalog.tables[table.name] = table  # reserve the name while the rows are written
        try:
            for batch in batches:
                await self.writer.write(batch)
        except BaseException:
            self.catalog.tables.pop(table.name, None)
            raise
        nodes = [RegionNode(info, catalog_mod.initial_row()) for info in infos]
        self.catalog.regions.add(nodes)
        for node in nodes:
            self.am.by_state[node.state] += 1
        log.info("table_created", table=table.name, regions=len(nodes))
        effects = self.am.assign_all(nodes)
        await self.apply(effects)
        return len(nodes), 0

    def table(self, name: str) -> list[RegionNode]:
        if name not in self.catalog.tables:
            raise TableNotFound(f"table {name!r} does not exist")
        return self.catalog.regions.table(name)

    def resolve_server(self, text: str) -> ServerName | None:
        """An operator's server: "" (master chooses), host:port, or host:port:startcode (must be live)."""
        if not text:
            return None
        if text.count(":") >= 2:
            try:
                name = ServerName.parse(text)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
            if not self.servers.is_live(name):
                raise ServerNotFound(f"server {name} is not a live RegionServer")
            return name
        found = self.servers.by_address(text)
        if found is None:
            raise ServerNotFound(f"no live RegionServer at {text!r}")
        return found
