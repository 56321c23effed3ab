"""`regent bench rolling-restart`: the ZK-less assignment post's test, every daemon restarted in turn under
a client load that must see no call fail.

1. Two masters (an active one and a backup) and K RegionServers start on a fresh ROOTDIR; the balancer is
   switched off; table `rolling` is created with R regions, split so that each holds an equal share of N
   rows, which client processes then load (regent.bench.rolling_load).
2. Client processes start a read/write load through the SDK (each call with its deadline) that runs until
   the end.
3. For each RegionServer in turn (HBase's graceful_stop.sh with its region mover, in one batch each way):
   `admin.decommission([server], offload=True)` moves its regions off, spread evenly over the others by
   the master's planner in throttled batches (one RPC from the bench); once it holds none it is stopped
   with SIGTERM and started again, and when its new incarnation is registered
   `admin.recommission(server, regions=the same ids)` moves them back (one RPC again).
4. The master: a failover. The active master is stopped with SIGTERM, the backup takes over (the step
   ends when it is active with every server live and every region OPEN, nothing in transition), then the
   old master is started again and becomes the new backup (a step of its own).

Output, one JSON line: `seconds` (steps 3 and 4), `steps` (each with its seconds), `client_calls`,
`client_failures` (calls that raised: failed past their deadline; must be 0), `client_missing` (reads of
a loaded row that came back empty; must be 0), `client_max_ms` (the longest call), `load_seconds`,
`lease_ms` (the masters' RegionServer lease: `--lease-ms` gives a longer one on a machine too loaded for
the default), and from the RegionServers' logs `lease_lapses` (during the restarts; must be 0),
`lease_lapses_loading` (before them), `claimed_regions` and `claim_max_s` (the opens of regions with a
store, claimed off the event loop: regionserver.claims).

Restarted daemons are spawned at the start, each stopped before it execs (as in regent.bench.balance):
this process must not fork with a pre-exec hook once it has gRPC channels (regent.supervise).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

import regent
from client import Admin
from client.errors import RegentError
from meta import ServerName
from regent.bench import rolling_load, security
from regent.bench.assign import _regent, _stub
from regent.bench.balance import _stopped
from regent.proto import master_pb2
from regent.supervise import Child, Children, free_ports

POLL_S = 0.02
DEFAULT_LEASE_MS = 3000  # the master's (--lease-ms)
#: Bounds of the bench's waits: creating and loading the table, and each step.
SETUP_S = 900.0
STEP_S = 300.0


def run(
    regions: int = 10_000,
    rows: int = 1_000_000,
    servers: int = 5,
    *,
    clients: int = 2,
    threads: int = 4,
    client_timeout_s: float = 10.0,
    lease_ms: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    if servers < 2:
        raise ValueError(
            f"a rolling restart needs at least 2 RegionServers (regions move off), got {servers}"
        )
    root = Path(tempfile.mkdtemp(prefix="regent-bench-rolling-"))
    try:
        with Children(root / "logs") as children:
            bench = _Bench(children, root / "cluster", regions, rows, servers, lease_ms, quiet)
            result = bench.run(clients, threads, client_timeout_s)
            children.stop()
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _Bench:
    def __init__(
        self,
        children: Children,
        rootdir: Path,
        regions: int,
        rows: int,
        servers: int,
        lease_ms: int | None,
        quiet: bool,
    ) -> None:
        self.lease_ms = lease_ms
        self.children = children
        self.rootdir = rootdir
        self.regions = regions
        self.rows = rows
        self.servers = servers
        self.quiet = quiet
        ports = free_ports(servers + 2)
        self.masters = [f"127.0.0.1:{p}" for p in ports[:2]]
        self.master_list = ",".join(self.masters)
        self.rs_ports = ports[2:]
        self.steps: list[dict[str, Any]] = []
        self.rolling_since: datetime | None = None  # when the restarts began (the logs' clock: UTC)

    # ---- the daemons ----

    def _rs_argv(self, port: int) -> list[str]:
        return _regent(
            "regionserver", "--rootdir", str(self.rootdir), "--master", self.master_list, "--port", str(port)
        )

    def _master_argv(self, index: int) -> list[str]:
        port = self.masters[index].rsplit(":", 1)[1]
        lease = [] if self.lease_ms is None else ["--lease-ms", str(self.lease_ms)]
        return _regent(
            "master",
            "--rootdir",
            str(self.rootdir),
            "--port",
            port,
            "--min-servers",
            str(self.servers),
            *lease,
        )

    def _start_daemons(self) -> tuple[list[Child], list[Child], list[Child], list[Child]]:
        """The RegionServers, both masters (whichever wins the election is the active one), and, stopped,
        the second incarnation of each: all before this process opens a gRPC channel."""
        rs = [self.children.start(f"rs{i}", self._rs_argv(p)) for i, p in enumerate(self.rs_ports)]
        rs_again = [
            self.children.start(f"rs{i}.restarted", _stopped(self._rs_argv(p)))
            for i, p in enumerate(self.rs_ports)
        ]
        masters = [self.children.start(f"master{i}", self._master_argv(i)) for i in range(2)]
        masters_again = [
            self.children.start(f"master{i}.restarted", _stopped(self._master_argv(i))) for i in range(2)
        ]
        return rs, rs_again, masters, masters_again

    def _stop(self, child: Child) -> None:
        """SIGTERM `child` and wait for its exit; it is no longer expected to run."""
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(STEP_S)
        except Exception:
            child.process.kill()
            child.process.wait()
            raise RuntimeError(f"{child.name} did not stop within {STEP_S:g} s of SIGTERM") from None
        self.children.children.remove(child)

    # ---- waiting ----

    def _wait(self, what: str, predicate: Callable[[], bool], timeout: float = STEP_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.children.check()
            try:
                if predicate():
                    return
            except RegentError:
                pass  # a master between two incarnations: ask again
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not within {timeout:g} s")
            time.sleep(POLL_S)

    def _settled(self, admin: Admin, expect: Callable[[dict[str, int]], bool] = lambda _: True) -> bool:
        """Every server live, every region OPEN, none in transition, and `expect(regions by address)`."""
        status = admin.cluster_status(timeout=10)
        counts = {s.server.address: s.region_count for s in status.servers}
        return (
            len(counts) == self.servers
            and status.regions_by_state.get("OPEN", 0) == self.regions
            and not status.regions_in_transition
            and expect(counts)
        )

    def _step(self, name: str, started: float) -> None:
        seconds = round(time.perf_counter() - started, 3)
        self.steps.append({"step": name, "seconds": seconds})
        self._say(f"  {name}: {seconds:.2f} s")

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    # ---- the run ----

    def run(self, clients: int, threads: int, client_timeout_s: float) -> dict[str, Any]:
        rs, again, masters, masters_again = self._start_daemons()
        self._wait("a master active", lambda: self._active() is not None, 60)
        options = security.connect_options()
        with regent.connect(self.master_list, timeout=SETUP_S, **options) as connection:
            admin = connection.admin()
            self._wait(f"{self.servers} RegionServers live", lambda: self._settled_servers(admin))
            admin.balancer_switch(False)
            self._say(f"creating table {rolling_load.TABLE!r} with {self.regions:,} regions ...")
            admin.create_table(
                rolling_load.TABLE,
                {rolling_load.FAMILY: {"max_versions": 1}},
                split_keys=rolling_load.split_keys(self.rows, self.regions),
                timeout=SETUP_S,
            )
            self._wait("every region OPEN", lambda: self._settled(admin), SETUP_S)
            job = rolling_load.Job(
                "load",
                self.master_list,
                security.insecure(),
                None if security.insecure() else str(security.certs_dir()),
                self.rows,
                threads,
                0,
                clients,
                max(client_timeout_s, 120.0),
                1,
            )
            self._say(f"loading {self.rows:,} rows ...")
            load_started = time.perf_counter()
            with rolling_load.Clients(job, clients, self.children.check) as loaders:
                loaders.start()
                loaded = loaders.results(SETUP_S, stop=False)
            load_seconds = time.perf_counter() - load_started
            if loaded.writes != self.rows:
                raise RuntimeError(f"the load wrote {loaded.writes:,} rows of {self.rows:,}")
            run_job = rolling_load.Job(**{**job.__dict__, "mode": "run", "timeout_s": client_timeout_s})
            with rolling_load.Clients(run_job, clients, self.children.check) as load:
                load.start()
                self._say("rolling restart under the client load ...")
                started = time.perf_counter()
                self.rolling_since = datetime.now(UTC)
                for i, (old, new) in enumerate(zip(rs, again, strict=True)):
                    self._restart_regionserver(admin, i, old, new)
                self._fail_over(admin, masters, masters_again)
                seconds = time.perf_counter() - started
                tally = load.results(60.0, stop=True)
        return {
            "benchmark": "rolling-restart",
            "regions": self.regions,
            "rows": self.rows,
            "servers": self.servers,
            "seconds": round(seconds, 3),
            "steps": self.steps,
            "master_restart": "failover: SIGTERM of the active master, the backup takes over; the old one "
            "restarts as the new backup",
            "client_calls": tally.calls,
            "client_failures": tally.failures,
            "client_missing": tally.missing,
            "client_max_ms": round(tally.max_ms, 1),
            "client_timeout_s": client_timeout_s,
            "lease_ms": self.lease_ms or DEFAULT_LEASE_MS,
            "client_errors": tally.errors,
            "load_seconds": round(load_seconds, 3),
            **self._regionserver_events(),
        }

    def _regionserver_events(self) -> dict[str, Any]:
        """From the RegionServers' logs (every incarnation's): `lease_lapses` (times one stopped serving
        for want of an acknowledged heartbeat during the restarts; must be 0), `lease_lapses_loading`
        (the same while the table was created and loaded), and the orders' store claims
        (`claimed_regions`, `claim_max_s`: the longest an order's claims took, regionserver.claims)."""
        lapses = loading = claimed = 0
        longest = 0.0
        for log in sorted(self.children.logdir.glob("rs*.log")):
            for line in log.read_text(errors="replace").splitlines():
                lapsed = '"lease_lapsed_serving_stopped"' in line
                if not lapsed and '"region_stores_claimed"' not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if lapsed:
                    at = datetime.fromisoformat(str(event.get("timestamp", "")))
                    if self.rolling_since is not None and at >= self.rolling_since:
                        lapses += 1
                    else:
                        loading += 1
                else:
                    claimed += int(event.get("regions", 0))
                    longest = max(longest, float(event.get("seconds", 0.0)))
        return {
            "lease_lapses": lapses,
            "lease_lapses_loading": loading,
            "claimed_regions": claimed,
            "claim_max_s": round(longest, 3),
        }

    def _settled_servers(self, admin: Admin) -> bool:
        return len(admin.cluster_status(timeout=10).servers) == self.servers

    def _restart_regionserver(self, admin: Admin, i: int, old: Child, new: Child) -> None:
        address = f"127.0.0.1:{self.rs_ports[i]}"
        status = admin.cluster_status(timeout=10)
        server = next(s.server for s in status.servers if s.server.address == address)
        ids = [
            loc.region_id
            for loc in admin.table_regions(rolling_load.TABLE, timeout=60)
            if loc.server is not None and loc.server.address == address
        ]
        self._say(f"regionserver {i} ({address}, {len(ids):,} regions):")

        started = time.perf_counter()
        admin.decommission([server], offload=True, timeout=60)
        self._wait(f"{address} emptied", lambda: self._settled(admin, lambda c: c.get(address) == 0))
        self._step(f"regionserver {i}: move {len(ids)} regions off", started)

        started = time.perf_counter()
        self._stop(old)
        os.kill(new.pid, signal.SIGCONT)
        reborn: list[ServerName] = []

        def registered() -> bool:
            live = [s.server for s in admin.cluster_status(timeout=10).servers]
            reborn[:] = [s for s in live if s.address == address and s.startcode != server.startcode]
            return bool(reborn) and server not in live

        self._wait(f"{address} registered again", registered)
        self._step(f"regionserver {i}: restart", started)

        started = time.perf_counter()
        admin.recommission(reborn[0], ids, timeout=60)
        self._wait(
            f"{len(ids)} regions back on {address}",
            lambda: self._settled(admin, lambda c: c.get(address) == len(ids)),
        )
        self._step(f"regionserver {i}: move {len(ids)} regions back", started)

    def _active(self) -> int | None:
        """The index of the active master (None: neither says it is)."""
        for i, address in enumerate(self.masters):
            try:
                if _stub(address).GetClusterInfo(master_pb2.GetClusterInfoRequest(), timeout=2).active:
                    return i
            except grpc.RpcError:
                pass
        return None

    def _fail_over(self, admin: Admin, masters: list[Child], again: list[Child]) -> None:
        active = self._active()
        if active is None:
            raise RuntimeError("no master is active before the failover")
        backup = 1 - active
        self._say(f"master: {self.masters[active]} active, {self.masters[backup]} the backup")
        started = time.perf_counter()
        self._stop(masters[active])
        self._wait("the backup master active", lambda: self._active() == backup)
        self._wait("the cluster settled after the failover", lambda: self._settled(admin))
        self._step("master: failover to the backup", started)

        started = time.perf_counter()
        os.kill(again[active].pid, signal.SIGCONT)
        stub = _stub(self.masters[active])

        def standby() -> bool:
            try:
                info = stub.GetClusterInfo(master_pb2.GetClusterInfoRequest(), timeout=2)
            except grpc.RpcError:
                return False
            return not info.active and info.standby_regions >= self.regions

        self._wait("the old active master back as the backup", standby)
        self._step("master: the old active one restarted as the backup", started)
        unused = again[backup]  # never continued: it goes now, not after Children's grace period
        unused.process.kill()
        unused.process.wait()
        self.children.children.remove(unused)
