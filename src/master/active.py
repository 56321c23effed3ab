"""The active master: everything a master does once elected, composed around the assignment core.

Services call these methods; they decide through AssignmentManager and carry the Effects out: rows made
durable through the single writer first, orders dispatched after.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from master import catalog as catalog_mod
from master import metrics, split_assign, story
from master.admin import TableAdmin
from master.assignment import AssignmentManager, CloseOrders, Effects, OpenOrders
from master.catalog import Catalog
from master.chores.balancer import BalancerConfig
from master.chores.runner import Chores
from master.dispatch import Dispatcher
from master.errors import (
    InvalidArgument,
    ProcedureNotFound,
    ServerNotFound,
    ServerNotRegistered,
    TableNotFound,
    YouAreDead,
)
from master.procedures import KINDS, Env, Executor, ProcedureView, ServerCrash
from master.procedures.executor import RETAIN_S
from master.reconcile import HeldDigest, Reconciler, Verdict
from master.regions import RegionNode
from master.servers import ServerManager
from meta import (
    ColumnFamily,
    MetaStore,
    MetaWriteError,
    MetaWriter,
    ServerName,
    TableSettings,
    TableState,
    WriteBatch,
)
from meta.codec import server_to_proto
from regent.proto import meta_pb2
from regent.transport import INSECURE, Transport

log = structlog.get_logger("master")

STARTUP_CHUNK = 5_000  # regions per startup order: small enough to pipeline, large enough to batch
SLICE = 50_000  # regions handled between two turns of the event loop in long operations (about 50 ms)
REPAIRS_LOGGED = 100  # region_repaired lines per heartbeat; the rest in one regions_repaired line


@dataclass(frozen=True, slots=True)
class AssignmentConfig:
    min_servers: int = 1
    startup_grace_s: float = 3.0
    max_attempts: int = 10
    heartbeat_ms: int = 1000
    lease_ms: int = 3000
    stuck_after_ms: int = 10_000
    reopen_share: float = 0.2  # modify_table: at most this share of a table's regions closed at once
    balancer: BalancerConfig = field(default_factory=BalancerConfig)
    catalog_janitor_period_s: float = 300.0
    #: max_region_size for a table that sets none, sent with every open (TableOpens.settings): 10 GiB
    default_max_region_size: int = 10 << 30


class ActiveMaster:
    def __init__(
        self,
        config: AssignmentConfig,
        store: MetaStore,
        writer: MetaWriter,
        epoch: int,
        catalog: Catalog,
        known_servers: Sequence[ServerName],
        transport: Transport = INSECURE,
    ) -> None:
        self.config = config
        self.store = store
        self.writer = writer
        self.epoch = epoch
        self.catalog = catalog
        self.servers = ServerManager(lease_s=config.lease_ms / 1000)
        self.am = AssignmentManager(
            catalog.regions,
            self.servers,
            max_attempts=config.max_attempts,
            next_proc_id=catalog.counters[b"next_proc_id"],
            next_open_seq_num=catalog.counters[b"next_open_seq_num"],
            stuck_after_s=config.stuck_after_ms / 1000,
            table_enabled=self._table_enabled,
        )
        env = Env(catalog, self.am, store.path.parent, config.reopen_share)
        self.procedures = Executor(env, self.apply, KINDS)
        self.tables = TableAdmin(self.procedures)
        self.dispatcher = Dispatcher(
            epoch,
            self._dispatch_failed,
            self.servers.is_live,
            transport,
            families_of=self._families_of,
            settings_of=self._settings_of,
        )
        self.reconciler = Reconciler(self.am, epoch)
        self.known_servers = list(known_servers)
        self.active_since_ms = int(time.time() * 1000)
        self.startup_assignment_ms = 0
        self.failed = asyncio.Event()  # set when meta cannot be written: the master must step down
        self._server_arrived = asyncio.Event()
        self._startup_started = time.monotonic()
        self._startup_done = False
        self._planned = asyncio.Event()  # set once the takeover is decided: reports wait for it
        self._tasks: list[asyncio.Task[None]] = []
        self.chores = Chores(self, config.balancer, self._persist)  # balancer, decommission, janitor, hbck
        self.tables.split_merge_on = self._split_merge_on
        self.story = story.Story()  # every region's recent transitions (master.story)

    async def start(self, procedures: Sequence[meta_pb2.ProcedureRecord] = ()) -> None:
        """Resume the procedures meta holds, then take over the regions and start the chores."""
        with self.store.snapshot() as snap:  # the stories a previous master kept in meta
            self.story.load(snap.scan("info", story.PREFIX, story.PREFIX_END))
        self.procedures.resume(procedures)
        self._spawn(self._startup(), "startup-assignment")
        self._spawn(self._chores(), "chores")
        self._spawn(self.chores.run(), "background-chores")

    def _families_of(self, table: str) -> tuple[ColumnFamily, ...]:
        descriptor = self.catalog.tables.get(table)
        return descriptor.families if descriptor is not None else ()

    def _settings_of(self, table: str) -> TableSettings:
        """The table's settings as its opens carry them: max_region_size resolved with the default."""
        descriptor = self.catalog.tables.get(table)
        settings = descriptor.settings if descriptor is not None else TableSettings()
        if settings.max_region_size is None:
            settings = replace(settings, max_region_size=self.config.default_max_region_size)
        return settings

    def _table_enabled(self, table: str) -> bool:
        descriptor = self.catalog.tables.get(table)
        return descriptor is not None and descriptor.state in (TableState.ENABLED, TableState.ENABLING)

    def _split_merge_on(self) -> tuple[bool, bool]:
        switches = self.chores.switches.now
        return switches.split_on, switches.merge_on

    async def stop(self) -> None:
        await self.chores.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()

    # ---- carrying out decisions ----

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Start a task of this master's, kept (to be cancelled at stop) until it is done."""
        self._tasks = [task for task in self._tasks if not task.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(self._vital(work), name=name))

    async def _vital(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a task this master cannot do without (startup, leases, retries of undelivered orders): if
        it fails, the master steps down rather than carry on without it (a backup takes over)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("master_task_failed_stepping_down")
            self.failed.set()

    async def _persist(self, batch: WriteBatch) -> None:
        """Write through the single writer. A write that fails leaves this master's memory ahead of meta
        (or meta belongs to a newer master): it steps down, whichever task wrote."""
        try:
            await self.writer.write(batch)
        except MetaWriteError as exc:
            log.error("meta_write_failed_stepping_down", error=str(exc))
            self.failed.set()
            raise

    async def apply(self, effects: Effects, extra: WriteBatch | None = None, *, cause: str = "") -> None:
        """Persist the effects' rows and `extra` (a procedure's step and the other rows it changes) in one
        group-committed batch, then send their orders. `cause` (master.story) defaults to the task's."""
        ordered = [*effects.opens, *effects.closes]
        self.reconciler.changed(ordered)  # their digests are not compared until these orders are out
        if effects.rows or extra is not None:
            cause = cause or story.current_cause()
            batch = (extra or WriteBatch()).put_many("region_state", effects.rows)
            kept = self.story.persist(effects.rows, batch, cause)
            catalog_mod.counter_updates(
                batch,
                {
                    b"next_proc_id": self.am.next_proc_id,
                    b"next_open_seq_num": self.am.next_open_seq_num,
                },
            )
            await self._persist(batch)
            if effects.rows:
                self.story.record(effects.rows, cause, persisted=kept)
                metrics.transitions_committed(len(effects.rows))
                self.procedures.regions_changed()
                self.chores.regions_changed()
        for server, opens in effects.opens.items():
            self.dispatcher.send(server, opens=opens)
        for server, closes in effects.closes.items():
            self.dispatcher.send(server, closes=closes)
        if ordered:
            self.reconciler.changed(ordered)
        if not self._startup_done and self._planned.is_set() and self.am.settled():
            self._startup_done = True
            self.startup_assignment_ms = max(1, int((time.monotonic() - self._startup_started) * 1000))
            log.info(
                "startup_assignment_finished", regions=len(self.am.regions), ms=self.startup_assignment_ms
            )

    def _dispatch_failed(
        self, server: ServerName, opens: OpenOrders, closes: CloseOrders, error: str
    ) -> None:
        log.warning(
            "orders_undeliverable",
            server=str(server),
            opens=len(opens.region_ids),
            closes=len(closes.region_ids),
            error=error,
        )
        effects = self.am.dispatch_failed(server, opens, closes)
        if effects:
            self._spawn(self.apply(effects, cause=story.RETRY), "retry-undelivered")

    # ---- startup ----

    async def _startup(self) -> None:
        story.caused_by(story.STARTUP)
        await self._wait_for_servers()
        for crash in self.procedures.running(ServerCrash):  # a previous master died in these: finish them
            assert isinstance(crash, ServerCrash)
            self.servers.dead.add(crash.server)
        for server in self.known_servers:
            if not self.servers.is_live(server) and server not in self.servers.dead:
                await self._record_crash(server, "did not come back after the master changed")
        # The takeover recovers the regions of every server that is not live: the crash procedures known
        # now end in its first batch. One declared while it runs is carried out by the executor.
        finished = self.procedures.complete(self.procedures.running(ServerCrash))
        # Cut into slices with a turn of the loop between them: heartbeats must be answered well within
        # a RegionServer's self-fencing margin, even while a million regions are taken over.
        nodes = list(self.am.regions)
        effects, to_assign = Effects(), []
        for start in range(0, len(nodes), SLICE):
            part_effects, part = self.am.take_over(nodes[start : start + SLICE])
            effects += part_effects
            to_assign += part
            await asyncio.sleep(0)
        to_assign.sort(key=lambda n: n.region_id)
        plan = self.am.plan(to_assign)
        self._planned.set()
        self._spawn(self.procedures.run(), "procedures")
        log.info(
            "startup_assignment_started",
            regions=len(to_assign),
            servers=len(plan),
            waited_ms=int((time.monotonic() - self._startup_started) * 1000),
        )
        pending = [asyncio.ensure_future(self.apply(effects, finished))]
        rounds = max((len(nodes) for nodes in plan.values()), default=0)
        for start in range(0, rounds, STARTUP_CHUNK):
            for server, nodes in plan.items():
                chunk = nodes[start : start + STARTUP_CHUNK]
                if chunk and self.servers.is_live(server):
                    metrics.region_op("assign", len(chunk))
                    pending.append(asyncio.ensure_future(self.apply(self.am.open_chunk(server, chunk))))
            await asyncio.sleep(0)  # let reports and commits in between chunks
        await asyncio.gather(*pending)
        await self.apply(self.am.assign_waiting())

    async def wait_planned(self) -> None:
        """Until the takeover is decided (which regions stay, which are assigned where)."""
        await self._planned.wait()

    async def _wait_for_servers(self) -> None:
        """Until min_servers are live and every server meta knew is back, or the grace ran out and at
        least one is live."""
        known = {s.address for s in self.known_servers}
        # Never shorter than the part of a lease a RegionServer may still serve on without this master's
        # word (2/3 of it: regionserver.daemon): one that does not come back is declared dead, and its
        # regions given to others, only once it has certainly stopped serving them.
        grace = max(self.config.startup_grace_s, self.config.lease_ms / 1000 * 2 / 3)
        deadline = time.monotonic() + grace
        while True:
            live = self.servers.live()
            back = {s.address for s in live}
            if len(live) >= self.config.min_servers and known <= back:
                return
            if live and time.monotonic() >= deadline:
                return
            self._server_arrived.clear()
            timeout = max(0.01, deadline - time.monotonic()) if live else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server_arrived.wait(), timeout)

    # ---- RegionServers ----

    async def server_startup(self, name: ServerName) -> None:
        if name in self.servers.dead:
            raise YouAreDead(f"server {name} was declared dead: stop serving and exit")
        record = meta_pb2.ServerRecord(server=server_to_proto(name), registered_ms=int(time.time() * 1000))
        # Built before the registration: a name meta cannot hold must not be live without its record.
        batch = WriteBatch().put("servers", name.address.encode(), record.SerializeToString())
        try:
            replaced = self.servers.register(name)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        await self._persist(batch)
        log.info("server_registered", server=str(name), replaced=[str(s) for s in replaced])
        self.reconciler.changed([name])
        self._server_arrived.set()
        for old in replaced:
            await self.server_died(old, f"a new incarnation {name} started on its address")
        if self._planned.is_set():  # not _startup_done: that waits for every region to settle
            await self.apply(self.am.assign_waiting(), cause=story.STARTUP)

    async def server_died(self, server: ServerName, reason: str) -> None:
        """Start a server crash procedure for `server` (once): its record is durable when this returns,
        and the executor recovers the regions (DESIGN §6; master.procedures.server_crash)."""
        running = self.procedures.running(ServerCrash)
        if any(isinstance(c, ServerCrash) and c.server == server for c in running):
            return  # already being recovered
        await self._record_crash(server, reason)

    async def _record_crash(self, server: ServerName, reason: str) -> None:
        self.servers.expire(server)
        self.servers.dead.add(server)
        self.dispatcher.forget(server)
        self.reconciler.forget(server)
        crash = ServerCrash.new(self.procedures.env.new_proc_id(), server)
        dead = meta_pb2.ServerRecord(server=server_to_proto(server), dead=True)
        batch = WriteBatch()
        if self.servers.by_address(server.address) is None:  # never over a newer incarnation's record
            batch.put("servers", server.address.encode(), dead.SerializeToString())
        await self.procedures.submit(crash, batch)
        log.warning("server_declared_dead", server=str(server), reason=reason, proc_id=crash.proc_id)

    async def _chores(self) -> None:
        """Leases and stuck procedures, checked ten times per heartbeat interval."""
        interval = max(0.02, self.config.heartbeat_ms / 1000 / 10)
        story.caused_by(story.RETRY)
        while True:
            expected = time.monotonic() + interval
            await asyncio.sleep(interval)
            late = time.monotonic() - expected
            if late > interval:  # this master's loop was stalled: nobody could be heard meanwhile
                self.servers.forgive(late)
            if not self._planned.is_set():
                continue
            for server in self.servers.expired():
                await self.server_died(server, f"no heartbeat for {self.config.lease_ms} ms")
            effects = self.am.stuck(time.monotonic())
            if effects:
                log.warning("stuck_procedures_retried", servers=len(effects.opens) + len(effects.closes))
                await self.apply(effects)

    def list_procedures(self, limit: int = 1000) -> list[ProcedureView]:
        """The executor's procedures (unfinished first, then those finished recently), then at most
        `limit` region transitions."""
        views = self.procedures.views()[:limit]
        repairs = self.reconciler.views()
        views += repairs[: max(0, limit - len(views))]
        repaired = {v.proc_id for v in repairs}
        now = time.monotonic()
        for node in self.am.regions_in_transition(max(0, limit - len(views))):
            if node.proc_id not in repaired:
                views.append(self._region_view(node, now))
        return views

    def get_procedure(self, proc_id: int) -> ProcedureView:
        view = self.procedures.get(proc_id)
        if view is not None:
            return view
        view = next((v for v in self.reconciler.views() if v.proc_id == proc_id), None)
        if view is not None:
            return view
        node = next((n for n in self.am.in_transition.values() if n.proc_id == proc_id), None)
        if node is None:
            raise ProcedureNotFound(
                f"no procedure {proc_id} is running: it never existed, finished (region transitions are "
                f"not kept once done) or finished more than {RETAIN_S:g}s ago"
            )
        return self._region_view(node, time.monotonic())

    def _region_view(self, node: RegionNode, now: float) -> ProcedureView:
        stamp = self.am.stamps.get(node.region_id, now)
        step = f"{node.state.name} on {node.server}" if node.server else node.state.name
        return ProcedureView(
            node.proc_id, node.kind.name.lower(), step, now - stamp, node.region_id, table=node.info.table
        )

    async def bypass(self, proc_id: int) -> None:
        if await self.procedures.bypass(proc_id):
            log.warning("procedure_bypassed", proc_id=proc_id, kind="table_or_server")
            released = split_assign.release(self.am, proc_id)  # a split's or merge's regions
            if released:
                await self.apply(released)
            return
        await self.apply(self.am.bypass(proc_id))
        log.warning("procedure_bypassed", proc_id=proc_id, kind="region_transition")

    async def heartbeat(
        self,
        name: ServerName,
        region_count: int,
        requests: int,
        store_bytes: int = 0,
        digest: HeldDigest | None = None,
        held: Sequence[tuple[int, int]] | None = None,
    ) -> Verdict:
        """Renew the lease; reconcile what the server holds with meta (master.reconcile) once the takeover
        is decided, carrying out the repairs."""
        metrics.HEARTBEATS.inc()
        if not self.servers.heartbeat(name, region_count, requests, store_bytes):
            self._not_live(name)
        server = self.servers.by_address(name.address)
        assert server is not None
        if not self._planned.is_set():
            digest = held = None
        verdict = self.reconciler.heartbeat(server, digest, held)
        if verdict.repairs:
            self._log_repairs(server, verdict)
            await self.apply(verdict.effects)
            verdict.token = self.reconciler.token()
        return verdict

    def _log_repairs(self, server: ServerName, verdict: Verdict) -> None:
        for repair in verdict.repairs[:REPAIRS_LOGGED]:
            log.warning(
                "region_repaired",
                region=repair.region_id,
                server=str(server),
                cause=repair.cause.value,
                proc_id=repair.proc_id,
                detail=repair.detail,
            )
        if len(verdict.repairs) > REPAIRS_LOGGED:
            log.warning(
                "regions_repaired",
                server=str(server),
                regions=len(verdict.repairs),
                not_logged=len(verdict.repairs) - REPAIRS_LOGGED,
            )

    def _not_live(self, name: ServerName) -> None:
        if name in self.servers.dead:
            raise YouAreDead(f"server {name} was declared dead: stop serving and exit")
        raise ServerNotRegistered(f"server {name} is not registered with master epoch {self.epoch}: register")

    async def report(
        self, name: ServerName, batches: Sequence[tuple[int, Sequence[int], Sequence[int], Sequence[int]]]
    ) -> list[list[tuple[int, str]]]:
        if not self.servers.is_live(name):
            self._not_live(name)
        self.reconciler.changed([name])  # its digests are not compared until this report is answered
        if not self._planned.is_set():
            # Until the takeover is decided, the master does not know which servers come back: an outcome
            # handled now would place what follows (a move's open, a retry) on whichever came back first.
            await self._planned.wait()
            if not self.servers.is_live(name):
                self._not_live(name)
        server = self.servers.by_address(name.address)
        assert server is not None
        results, effects = [], Effects()
        for code, region_ids, proc_ids, seqs in batches:
            metrics.reported(code, len(region_ids), self.am.stamps.get(region_ids[0]))
            rejected, batch_effects = self.am.report(server, code, region_ids, proc_ids, seqs)
            results.append(rejected)
            effects += batch_effects
        await self.apply(effects)
        self.reconciler.changed([server])
        if any(results):
            log.warning(
                "reports_rejected",
                server=str(name),
                rejected=sum(len(r) for r in results),
                first=next(r for r in results if r)[0][1],
            )
        return results

    # ---- admin ----

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
            # The registered object, not the parsed one: the assignment core compares servers by identity
            # (a region moved to a parsed name was left out of its server's crash recovery).
            return self.servers.by_address(name.address) or name
        found = self.servers.by_address(text)
        if found is None:
            raise ServerNotFound(f"no live RegionServer at {text!r}")
        return found

    def resolve_target(self, text: str) -> ServerName | None:
        """resolve_server, for a server to place a region on: a decommissioned one is refused."""
        target = self.resolve_server(text)
        if target is not None and target.address in self.servers.decommissioned:
            raise InvalidArgument(
                f"server {target} is decommissioned: no region is placed there (recommission it first)"
            )
        return target
