"""The master daemon's I/O shell: gRPC server, election, meta, signals. What it decides lives elsewhere."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from master import catalog, metrics
from master import http as http_side
from master.access import POLICY
from master.active import ActiveMaster, AssignmentConfig
from master.election import ElectionLock
from master.errors import MasterStartError
from master.registry import MasterRegistry
from master.services import MasterService, RegionServerStatusService
from master.watch import watch_active
from meta import MetaError, MetaNotInitialised, MetaStore, MetaWriter, ServerName, WriteBatch, keys
from meta.codec import intern_server, server_from_proto
from regent.authz import Authorizer
from regent.config import GRPC_OPTIONS, port_problem
from regent.lifecycle import run_until_signalled
from regent.proto import master_pb2_grpc, meta_pb2
from regent.rpc_metrics import RpcMetrics
from regent.transport import INSECURE, Transport, announce_transport

log = structlog.get_logger("master")

STANDBY_REFRESH_S = 3.0
GC_THRESHOLD = (50_000, 20, 20)  # the cyclic GC's thresholds in an active master (see _run_active)


@dataclass(frozen=True, slots=True)
class MasterConfig:
    rootdir: Path
    port: int
    host: str = "127.0.0.1"
    shutdown_grace_s: float = 2.0
    hung_master_s: float = 10.0  # a backup kills an active master of this host that is silent this long
    assignment: AssignmentConfig = field(default_factory=AssignmentConfig)
    transport: Transport = INSECURE  # --insecure; regent.cli resolves --certs-dir into mutual TLS
    http_host: str = "127.0.0.1"  # the status pages and /metrics (master.http)
    http_port: int = 0  # 0: a free port, logged in http_started

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Master:
    """What the services see: the active master's state once elected (None while a backup)."""

    def __init__(self, config: MasterConfig, election: ElectionLock, registry: MasterRegistry) -> None:
        self.config = config
        self.election = election
        self.registry = registry
        self.active: ActiveMaster | None = None
        self.epoch = 0
        self.store: MetaStore | None = None
        self.writer: MetaWriter | None = None
        self.standby: catalog.Catalog | None = None  # what a backup loaded while it waited
        self.standby_at = 0.0  # monotonic time of the standby's last refresh

    @property
    def cluster_id(self) -> str:
        return self.store.cluster_id if self.store else ""

    def active_master(self) -> str:
        """The address of the master that holds the election lock, as far as this one can tell; "" if none.

        Its own while it holds the lock. Otherwise the address the holder announced in master.lock, but
        only if a master of that address and pid is registered alive: a holder that died leaves its
        announcement in the file until the next holder writes its own.
        """
        if self.election.held:
            return self.config.address
        holder = self.election.holder()
        if not holder.announced or holder.address == self.config.address:
            return ""
        for registered in self.registry.live():
            if registered.address == holder.address and registered.pid in (None, holder.announced_pid):
                return holder.address
        return ""

    def masters(self) -> list[str]:
        """Every running master's address, this one included."""
        return [m.address for m in self.registry.live()]


def prepare_rootdir(rootdir: Path) -> Path:
    """Create ROOTDIR if needed and check this user may write it; raise MasterStartError otherwise."""
    rootdir = rootdir.expanduser().absolute()
    if rootdir.exists() and not rootdir.is_dir():
        raise MasterStartError(f"ROOTDIR {rootdir} exists and is not a directory")
    try:
        rootdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MasterStartError(f"cannot create ROOTDIR {rootdir}: {exc.strerror}") from None
    if not os.access(rootdir, os.R_OK | os.W_OK | os.X_OK):
        raise MasterStartError(f"ROOTDIR {rootdir} is not readable and writable by this user")
    return rootdir


def bump_epoch(store: MetaStore) -> int:
    """Increment the master epoch in meta (one durable write) and return the new value."""
    batch = WriteBatch().update(
        "info", b"master_epoch", lambda raw: keys.u64((keys.from_u64(raw) if raw else 0) + 1)
    )
    store.bootstrap_write(batch)
    return store.epoch


async def serve(config: MasterConfig, stop: asyncio.Event) -> None:
    """Run a master until `stop` is set: bind, wait to be elected, open meta, serve."""
    rootdir = prepare_rootdir(config.rootdir)
    election = ElectionLock(rootdir)
    registry = MasterRegistry(rootdir)
    master = Master(config, election, registry)
    health_servicer = health.aio.HealthServicer()
    if (problem := port_problem(config.host, config.port)) is not None:
        election.close()
        raise MasterStartError(problem)
    transport = config.transport
    interceptors = [
        RpcMetrics(metrics.REGISTRY, "master"),
        *([Authorizer(POLICY)] if transport.secure else []),
    ]
    server = grpc.aio.server(options=GRPC_OPTIONS, interceptors=interceptors)
    # The normalizer RPCs (issue 10) come with the chores branch: until then the class is abstract
    master_pb2_grpc.add_MasterServicer_to_server(MasterService(master), server)  # type: ignore[abstract]
    master_pb2_grpc.add_RegionServerStatusServicer_to_server(RegionServerStatusService(master), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        bound = transport.add_port(server, config.address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        election.close()
        raise MasterStartError(
            f"cannot listen on {config.address}: the port is in use or the address is not local"
        )
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    log.info(
        "master_started",
        address=config.address,
        rootdir=str(rootdir),
        pid=os.getpid(),
        transport=transport.describe(),
    )
    announce_transport(transport, log)
    http = None
    try:
        http = await http_side.start(master)
        registry.register(config.address, os.getpid())  # the port is this master's: so is the name
        if await _until_elected(election, stop, master, rootdir):
            await _run_active(master, election, health_servicer, rootdir, stop)
    finally:
        if http is not None:
            await http.stop()
        await server.stop(config.shutdown_grace_s)
        if master.active is not None:
            await master.active.stop()
        if master.writer is not None:
            await master.writer.stop()
        if master.store is not None:
            master.store.close()
        election.close()
        registry.close()
        log.info("master_stopped", address=config.address)


async def _until_elected(election: ElectionLock, stop: asyncio.Event, master: Master, rootdir: Path) -> bool:
    """Wait for the election lock or for `stop`; True if elected. A backup loads meta while it waits (a
    warm standby), so that taking over costs a refresh, not a full load."""
    acquire = asyncio.ensure_future(election.acquire())
    await asyncio.sleep(0)
    if not acquire.done():
        log.info("master_waiting_as_backup", lock=str(election.path))
        await _load_standby(master, rootdir / "meta")
    stopping = asyncio.ensure_future(stop.wait())
    refreshing = asyncio.ensure_future(_refresh_standby(master, rootdir / "meta", acquire))
    watching = asyncio.ensure_future(
        watch_active(election, master.config.hung_master_s, acquire, master.config.transport)
    )
    await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    refreshing.cancel()
    watching.cancel()
    if not acquire.done():
        acquire.cancel()
        return False
    return True


async def _load_standby(master: Master, meta_dir: Path) -> None:
    try:
        if master.store is None:
            master.store = MetaStore.open(meta_dir, create=False)  # a backup never makes meta
        started = time.monotonic()
        master.standby = catalog.load(master.store, keep_raw=True)
        gc.freeze()  # as an active master does (_run_active): the catalog stays out of the GC's walks
    except MetaNotInitialised as exc:
        log.info("standby_waits_for_meta", meta=str(meta_dir), reason=str(exc))
        return  # the first active master creates it; the refresh tries again
    except MetaError as exc:
        log.warning("standby_load_failed", error=str(exc))
        return
    master.standby_at = time.monotonic()
    log.info(
        "master_standby_ready",
        regions=len(master.standby.regions),
        ms=int((time.monotonic() - started) * 1000),
    )


async def _refresh_standby(master: Master, meta_dir: Path, elected: asyncio.Future[None]) -> None:
    """Keep a backup's catalog close to meta, so that taking over re-reads little: every few seconds, and
    only when meta changed (LMDB's last transaction id moved)."""
    seen = -1
    while not elected.done():
        await asyncio.sleep(STANDBY_REFRESH_S)
        if master.store is None or master.standby is None:
            await _load_standby(master, meta_dir)
            continue
        txnid = master.store.last_txnid()
        if txnid != seen and not elected.done():
            seen = txnid
            master.standby = catalog.refresh(master.store, master.standby)
            master.standby_at = time.monotonic()


async def _run_active(
    master: Master,
    election: ElectionLock,
    health_servicer: health.aio.HealthServicer,
    rootdir: Path,
    stop: asyncio.Event,
) -> None:
    started = time.monotonic()
    # Backups watch the announced holder (master.watch): say who holds the lock before the long load.
    election.announce(f"{master.config.address} pid={os.getpid()}")
    try:
        if master.store is None:
            master.store = MetaStore.open(rootdir / "meta")
        master.epoch = bump_epoch(master.store)
        warm = master.standby is not None
        if master.standby is not None:  # a refresh: a fraction of a second, faster on this thread
            loaded = catalog.refresh(master.store, master.standby)
            loaded.raw_states = {}  # an active master has no use for them
            master.standby = None
        else:  # a full load takes seconds: in a thread, so that this master answers probes meanwhile
            loaded = await asyncio.to_thread(catalog.load, master.store)
        known, dead, procedures = _servers_and_procedures(master.store)
    except MetaError as exc:
        raise MasterStartError(str(exc)) from None
    # The catalog (millions of long-lived objects) leaves the cyclic GC's generations: otherwise every full
    # collection during assignment walks all of it, for nothing (region nodes never form garbage cycles).
    # Collections start every 50,000 allocations rather than 700: assignment allocates rows and orders by
    # the million, and young collections of them cost 1.5 s of a million-region startup (docs/benchmarks.md).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD[0], GC_THRESHOLD[1], GC_THRESHOLD[2])
    master.writer = MetaWriter(master.store, epoch=master.epoch, on_commit=metrics.meta_committed)
    master.writer.start()
    active = ActiveMaster(
        master.config.assignment,
        master.store,
        master.writer,
        master.epoch,
        loaded,
        known,
        master.config.transport,
    )
    active.servers.dead.update(dead)
    election.announce(f"{master.config.address} pid={os.getpid()} epoch={master.epoch}")
    master.active = active
    await active.start(procedures)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "master_active",
        epoch=master.epoch,
        cluster_id=master.cluster_id,
        regions=len(loaded.regions),
        tables=len(loaded.tables),
        known_servers=len(known),
        warm=warm,
        ms=int((time.monotonic() - started) * 1000),
    )
    stopping = asyncio.ensure_future(stop.wait())
    failing = asyncio.ensure_future(active.failed.wait())
    await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    failing.cancel()
    await health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    if active.failed.is_set():
        raise MasterStartError("meta could not be written: this master stepped down")


def _servers_and_procedures(
    store: MetaStore,
) -> tuple[list[ServerName], list[ServerName], list[meta_pb2.ProcedureRecord]]:
    """The incarnations meta knew alive and dead, and the procedure records (unfinished, and finished ones
    still retained for their outcome)."""
    alive: list[ServerName] = []
    dead: list[ServerName] = []
    with store.snapshot() as snap:
        for _, raw in snap.scan("servers"):
            record = meta_pb2.ServerRecord.FromString(raw)
            (dead if record.dead else alive).append(intern_server(server_from_proto(record.server)))
        procedures = [meta_pb2.ProcedureRecord.FromString(raw) for _, raw in snap.scan("procedures")]
    return alive, dead, procedures


def run(config: MasterConfig) -> None:
    """Run a master in this process until SIGTERM or SIGINT."""
    run_until_signalled(lambda stop: serve(config, stop))
