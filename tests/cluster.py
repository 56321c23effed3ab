"""Helpers for process-level tests: Regent daemons as real child processes on loopback.

Every cluster is mutual TLS unless a test asks for plain text: tests/conftest.py makes one CA and its
certificates for the session (`make_test_certs`) and sets $REGENT_CERTS_DIR, which every daemon and the SDK
read; the probes here present the `admin` certificate. A daemon started with --insecure is remembered, and
the probes talk plain text to it.

Every daemon runs in its own session (so its process group holds it and whatever it starts), writes its
stdout/stderr to files (so a failing test can show the log tail), and is killed with its whole group when the
test ends. Waiting is always on a condition with a deadline (`wait_until`), never a bare sleep.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from regent import tls
from regent.certs import ensure_local
from regent.proto import data_pb2_grpc, master_pb2, master_pb2_grpc, regionserver_pb2, regionserver_pb2_grpc
from regent.supervise import free_ports
from regent.transport import INSECURE, Transport
from regent.verify import serving
from tests import data_calls
from tests.processes import group_members, stopped

LOOPBACK = "127.0.0.1"
#: How long a daemon gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
#: How long a probe RPC may take: a paused or dead daemon must not hold a polling loop up.
PROBE_TIMEOUT_S = 1.0

T = TypeVar("T")


#: Addresses of the daemons started with --insecure: the probes talk plain text to these.
_INSECURE: set[str] = set()


def make_test_certs(certs_dir: Path) -> Path:
    """A CA, a node certificate for loopback, and clients `admin` (role admin) and `app` (role client)."""
    ensure_local(certs_dir, [LOOPBACK, "localhost"])
    return certs_dir


def secure_transport(who: str = "admin", certs_dir: Path | str | None = None) -> Transport:
    """Mutual TLS as `who` with the session's certificates (or those of `certs_dir`)."""
    chosen = certs_dir or os.environ.get(tls.CERTS_ENV)
    assert chosen, f"${tls.CERTS_ENV} is not set: tests/conftest.py sets it for the session"
    return Transport(tls.load(chosen, who))


def open_channel(address: str, options: Sequence[tuple[str, Any]] = (), *, who: str = "admin") -> Any:
    """A blocking channel to `address`: plain text to a daemon started with --insecure, else mutual TLS
    with the session's `who` certificate."""
    if address in _INSECURE:
        return INSECURE.channel(address, options)
    return secure_transport(who).channel(address, options)


def add_test_port(server: Any, address: str) -> int:
    """Bind a test's own gRPC server (a fake master) the way daemons do: TLS with the session's node
    certificate, requiring client certificates of the session's CA."""
    return secure_transport(tls.NODE).add_port(server, address)


def free_port() -> int:
    """A loopback port that nothing listens on right now, below the kernel's ephemeral range, so that no
    daemon's status page (bound to port 0) can take it before the daemon meant for it binds."""
    return free_ports(1)[0]


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = 0.02,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy and return that; raise AssertionError naming
    `what` (followed by `context()`, e.g. a daemon's log tail) when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what} (last value: {last!r})"
            if context is not None:
                message += "\n" + context()
            raise AssertionError(message)
        time.sleep(interval)


class Daemon:
    """One `regent ...` command as a child process in a session of its own.

    `popen_kwargs` go to subprocess.Popen (env, cwd, user, group, extra_groups, ...). Signals that end the
    daemon (kill) go to its whole process group by default, so children it started go with it; signals that
    only suspend it (pause/resume) go to the daemon alone unless `group=True`.
    """

    def __init__(self, args: Sequence[str], *, name: str, log_dir: Path, **popen_kwargs: Any) -> None:
        self.name = name
        self.args = [str(a) for a in args]
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        command = [sys.executable, "-m", "regent.cli", *self.args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                **popen_kwargs,
            )
        self.pid = self.proc.pid
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<Daemon {self.name} pid={self.pid} returncode={self.returncode}>"

    # ---- state ----

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait_exit(self, timeout: float) -> int:
        """Wait for the daemon to exit on its own; AssertionError with its log tail if it does not in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout:g}s\n{self.log_tail()}") from None

    # ---- signals ----

    def send_signal(self, sig: int, *, group: bool = False) -> None:
        """Send `sig` to the daemon (or its whole process group); a daemon already gone is no error."""
        if group:
            # The group outlives its leader while any member lives: kill it even after the leader exited.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
        elif self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def kill(self, *, group: bool = True) -> int:
        """SIGKILL (the whole group by default) and reap; return the exit status (-9 unless it had exited)."""
        self.send_signal(signal.SIGKILL, group=group)
        code = self.proc.wait(STOP_TIMEOUT_S)
        if group:
            self.send_signal(signal.SIGKILL, group=True)  # members that were being forked while we signalled
        _LIVE.discard(self)
        return code

    def stop(self, timeout: float = STOP_TIMEOUT_S, sig: int = signal.SIGTERM) -> int:
        """Ask the daemon to stop (SIGTERM, or `sig`) and wait `timeout`; SIGKILL its group if it does not
        stop in time. Return the exit status: 0 for a clean stop, -9 when it had to be killed."""
        if self.alive:
            self.send_signal(sig)
            self.send_signal(signal.SIGCONT)  # a paused daemon must be able to act on the signal
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL, group=True)
                self.proc.wait(STOP_TIMEOUT_S)
        _LIVE.discard(self)
        return self.proc.returncode

    def pause(self, *, group: bool = False) -> None:
        """SIGSTOP: the process stays, holds its locks and sockets, but answers nothing. Returns once it
        has stopped, not only been sent the signal: a thread in a system call (a commit's write or
        fsync) runs on until the call returns, and a test that reads the daemon's files right after
        pausing it would otherwise race that write."""
        self.send_signal(signal.SIGSTOP, group=group)
        pids = group_members(self.pid) if group else [self.pid]
        wait_until(lambda: all(stopped(p) for p in pids), STOP_TIMEOUT_S, f"{self.name} to stop (SIGSTOP)")

    def resume(self, *, group: bool = False) -> None:
        self.send_signal(signal.SIGCONT, group=group)

    # ---- output ----

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The daemon's structured log lines (JSON objects on stderr), in order; other lines are skipped."""
        found = []
        for line in self.stderr_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def has_event(self, event: str) -> bool:
        return any(record.get("event") == event for record in self.events())

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of stderr and stdout, headed by who the daemon is and how it ended."""
        parts = [f"--- {self.name} pid={self.pid} returncode={self.returncode} args={' '.join(self.args)}"]
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            text = path.read_text(errors="replace") if path.exists() else ""
            tail = text.splitlines()[-lines:]
            parts.append(f"--- {label} (last {len(tail)} lines)")
            parts.extend(tail)
        return "\n".join(parts)


class Listening(Daemon):
    """A daemon that listens on host:port (a master or a RegionServer)."""

    def __init__(
        self, args: Sequence[str], *, port: int, host: str, name: str, log_dir: Path, **kw: Any
    ) -> None:
        self.port = port
        self.address = f"{host}:{port}"
        if "--insecure" in args:
            _INSECURE.add(self.address)
        else:
            _INSECURE.discard(self.address)
        super().__init__(args, name=name, log_dir=log_dir, **kw)


class Master(Listening):
    """A `regent master` daemon and the address it listens on."""

    def info(self, timeout: float = PROBE_TIMEOUT_S) -> master_pb2.ClusterInfo | None:
        return cluster_info(self.address, timeout)

    def health(self, timeout: float = PROBE_TIMEOUT_S) -> str | None:
        return health_status(self.address, timeout)

    def wait_reachable(self, timeout: float = 20.0) -> master_pb2.ClusterInfo:
        """Wait until the master answers GetClusterInfo (as active or backup)."""
        return wait_until(self.info, timeout, f"{self.name} to answer GetClusterInfo", context=self.log_tail)

    def wait_active(self, timeout: float = 20.0) -> master_pb2.ClusterInfo:
        """Wait until the master answers as active with its health SERVING; return its ClusterInfo."""

        def active() -> master_pb2.ClusterInfo | None:
            info = self.info()
            if info is None or not info.active or self.health() != "SERVING":
                return None
            return info

        return wait_until(active, timeout, f"{self.name} to become the active master", context=self.log_tail)


class RegionServer(Listening):
    """A `regent regionserver` daemon and the address it listens on."""

    def online(self, timeout: float = PROBE_TIMEOUT_S) -> dict[int, int] | None:
        """The regions this server serves now (region id -> open sequence number), None if it does not
        answer (dead, paused, not started yet)."""
        return online_regions(self.address, timeout)

    def put(self, region_id: int, row: bytes, column: bytes, value: bytes, timeout: float = 5.0) -> None:
        """One cell (column b"family:qualifier") written with RegionData.Mutate straight to this server;
        raises tests.data_calls.RegionRefused or RowRefused when refused (grpc.RpcError if the call
        fails)."""
        with open_channel(self.address) as channel:
            data_calls.put(data_pb2_grpc.RegionDataStub(channel), region_id, row, column, value, timeout)


_names = itertools.count(1)
_LIVE: set[Daemon] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Last resort for daemons started outside a registry: never leave one running after the tests."""
    for daemon in list(_LIVE):
        with contextlib.suppress(Exception):
            daemon.kill()


def start_daemon(
    args: Sequence[str], *, name: str | None = None, log_dir: Path | None = None, **kw: Any
) -> Daemon:
    """Start `regent *args` as a Daemon; logs go to `log_dir` (a fresh temporary directory if None)."""
    return Daemon(args, name=name or f"daemon-{next(_names)}", log_dir=_log_dir(log_dir), **kw)


def start_master(
    rootdir: Path,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    host: str = LOOPBACK,
    name: str | None = None,
    log_dir: Path | None = None,
    **kw: Any,
) -> Master:
    """Start `regent master --rootdir ROOTDIR --port P --host HOST` (P free if None); do not wait for it."""
    port = free_port() if port is None else port
    args = ["master", "--rootdir", str(rootdir), "--port", str(port), "--host", host, *extra_args]
    return Master(
        args,
        port=port,
        host=host,
        name=name or f"master-{port}-{next(_names)}",
        log_dir=_log_dir(log_dir),
        **kw,
    )


def start_regionserver(
    rootdir: Path,
    masters: str,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    host: str = LOOPBACK,
    name: str | None = None,
    log_dir: Path | None = None,
    **kw: Any,
) -> RegionServer:
    """Start `regent regionserver --rootdir ROOTDIR --master MASTERS --port P` (P free if None)."""
    port = free_port() if port is None else port
    args = [
        "regionserver",
        "--rootdir",
        str(rootdir),
        "--master",
        masters,
        "--port",
        str(port),
        "--host",
        host,
    ]
    return RegionServer(
        [*args, *extra_args],
        port=port,
        host=host,
        name=name or f"rs-{port}-{next(_names)}",
        log_dir=_log_dir(log_dir),
        **kw,
    )


def _log_dir(log_dir: Path | None) -> Path:
    if log_dir is None:
        return Path(tempfile.mkdtemp(prefix="regent-daemon-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir


class Daemons:
    """The daemons one test started: `kill_all()` (run at teardown) kills each one's process group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Daemon] = []

    def track(self, daemon: T) -> T:
        assert isinstance(daemon, Daemon)
        self.started.append(daemon)
        return daemon

    def start(self, args: Sequence[str], *, name: str | None = None, **kw: Any) -> Daemon:
        return self.track(start_daemon(args, name=name, log_dir=self.log_dir, **kw))

    def master(
        self, rootdir: Path, port: int | None = None, extra_args: Sequence[str] = (), **kw: Any
    ) -> Master:
        return self.track(start_master(rootdir, port, extra_args, log_dir=self.log_dir, **kw))

    def regionserver(
        self, rootdir: Path, masters: str, port: int | None = None, extra_args: Sequence[str] = (), **kw: Any
    ) -> RegionServer:
        return self.track(start_regionserver(rootdir, masters, port, extra_args, log_dir=self.log_dir, **kw))

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(d.log_tail(lines) for d in self.started)

    def kill_all(self) -> None:
        errors: list[BaseException] = []
        for daemon in self.started:
            try:
                daemon.kill()
            except BaseException as exc:  # kill the others all the same
                errors.append(exc)
        if errors:
            raise errors[0]


def cluster_info(address: str, timeout: float = PROBE_TIMEOUT_S) -> master_pb2.ClusterInfo | None:
    """Master.GetClusterInfo on `address`, or None when nothing answers in `timeout` seconds."""
    with open_channel(address) as channel:
        stub = master_pb2_grpc.MasterStub(channel)
        try:
            return stub.GetClusterInfo(master_pb2.GetClusterInfoRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            if _unreachable(exc):
                return None
            raise


def online_regions(address: str, timeout: float = PROBE_TIMEOUT_S) -> dict[int, int] | None:
    """RegionServerAdmin.GetOnlineRegions on `address` (region id -> open sequence number), or None when
    nothing answers in `timeout` seconds."""
    with open_channel(address) as channel:
        stub = regionserver_pb2_grpc.RegionServerAdminStub(channel)
        try:
            response = stub.GetOnlineRegions(regionserver_pb2.GetOnlineRegionsRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            if _unreachable(exc):
                return None
            raise
    return dict(zip(response.region_ids, response.open_seq_nums, strict=True))


def health_status(address: str, timeout: float = PROBE_TIMEOUT_S, service: str = "") -> str | None:
    """The gRPC health status name ("SERVING", "NOT_SERVING", ...) of `address`, None when unreachable."""
    with open_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            if _unreachable(exc):
                return None
            raise
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def _unreachable(exc: grpc.RpcError) -> bool:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def snapshot_files(root: Path, ignore: Iterable[str] = ()) -> dict[str, bytes]:
    """Every regular file under `root` (relative path -> bytes), except those named in `ignore`."""
    skip = set(ignore)
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in skip
    }


class Cluster:
    """A master (and backups) and RegionServers on one ROOTDIR, as real processes tracked by `daemons`.

    Built for process-level tests: start it, drive it through the SDK (`admin`), observe every server's own
    list of regions (`served`), kill or pause processes, restart them on the same ports.
    """

    def __init__(
        self,
        daemons: Daemons,
        rootdir: Path,
        *,
        masters: int = 1,
        master_args: Sequence[str] = (),
        insecure: bool = False,
        server_args: Sequence[str] = (),
    ) -> None:
        self.daemons = daemons
        self.rootdir = rootdir
        self.insecure = insecure
        self.security_args = ["--insecure"] if insecure else []
        self.master_args = [*master_args, *self.security_args]
        self.server_args = [*server_args, *self.security_args]
        self.master_ports = [free_port() for _ in range(masters)]
        self.masters: list[Master] = []
        self.servers: list[RegionServer] = []
        self._connection: Any = None

    @property
    def master_addresses(self) -> str:
        return ",".join(f"{LOOPBACK}:{p}" for p in self.master_ports)

    def start_master(self, index: int = 0, **kw: Any) -> Master:
        """Start master `index` on its port; `kw` go to subprocess.Popen (env=..., for a test-only switch)."""
        master = self.daemons.master(self.rootdir, self.master_ports[index], self.master_args, **kw)
        self.masters.append(master)
        return master

    def start_server(self, port: int | None = None) -> RegionServer:
        server = self.daemons.regionserver(self.rootdir, self.master_addresses, port, self.server_args)
        self.servers.append(server)
        return server

    def start(self, servers: int = 3, timeout: float = 30.0) -> Cluster:
        """Start every master and `servers` RegionServers; wait until the active master sees them all."""
        for i in range(len(self.master_ports)):
            self.start_master(i)
        for _ in range(servers):
            self.start_server()
        self.wait_live(servers, timeout)
        return self

    def active_master(self) -> Master | None:
        for master in self.masters:
            if master.alive:
                info = master.info()
                if info is not None and info.active:
                    return master
        return None

    @property
    def admin(self) -> Any:
        """An SDK Admin on every master address (client.admin.Admin)."""
        if self._connection is None:
            import regent

            self._connection = regent.connect(self.master_addresses, timeout=30.0, insecure=self.insecure)
        return self._connection.admin()

    def status(self) -> Any:
        return self.admin.cluster_status()

    def wait_live(self, count: int, timeout: float = 30.0) -> Any:
        """Wait until the active master counts `count` live RegionServers; return its ClusterStatus."""

        def live() -> Any:
            try:
                status = self.admin.cluster_status(timeout=2.0)
            except Exception:
                return None
            return status if len(status.servers) == count else None

        return wait_until(live, timeout, f"{count} live RegionServers", context=self.daemons.log_tails)

    def wait_open(self, table: str, count: int, timeout: float = 60.0) -> list[Any]:
        """Wait until all `count` online regions of `table` are OPEN with no procedure; return their
        locations (split and merged parents, offline for good, are left out)."""

        def all_open() -> list[Any] | None:
            try:
                regions = [r for r in self.admin.table_regions(table, timeout=5.0) if not r.info.offline]
            except Exception:
                return None
            ok = len(regions) == count and all(r.state.name == "OPEN" and not r.proc_id for r in regions)
            return regions if ok else None

        return wait_until(all_open, timeout, f"every region of {table} OPEN", context=self.daemons.log_tails)

    def served(self) -> dict[int, list[str]]:
        """region id -> addresses of the live servers that say they serve it (one call per server). A
        server that does not answer is left out: this is no proof that it serves nothing (see
        observe_online for who answered)."""
        out: dict[int, list[str]] = {}
        for server in self.servers:
            if not server.alive:
                continue
            online = server.online()
            for region_id in online or {}:
                out.setdefault(region_id, []).append(server.address)
        return out

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@contextlib.contextmanager
def module_cluster(
    tmp_path_factory: Any,
    *,
    servers: int = 3,
    master_args: Sequence[str] = (),
    server_args: Sequence[str] = (),
) -> Iterator[Cluster]:
    """A started Cluster on a fresh ROOTDIR for a module-scoped fixture (starting one costs seconds): its
    connection closed and every daemon killed on leaving, whatever happened."""
    daemons = Daemons(tmp_path_factory.mktemp("daemon-logs"))
    try:
        made = Cluster(
            daemons, tmp_path_factory.mktemp("root"), master_args=master_args, server_args=server_args
        ).start(servers)
        try:
            yield made
        finally:
            made.close()
    finally:
        daemons.kill_all()


# ---- observing who serves what, over time ----

#: One answer of GetOnlineRegions: (server address, region id -> open sequence number).
Observation = tuple[str, dict[int, int]]


def observe_online(servers: Iterable[RegionServer]) -> list[Observation]:
    """One pass of GetOnlineRegions over the live `servers`, strictly one call after the other, in order."""
    out: list[Observation] = []
    for server in servers:
        if server.alive:
            online = server.online()
            if online is not None:
                out.append((server.address, online))
    return out


def doubly_served(observations: Sequence[Observation]) -> list[str]:
    """Regions that two servers served at the same instant, from sequential observations (oldest first),
    each said in one line: regent.verify.serving.doubly_served, with the observation's index as its time."""
    timed = [
        serving.Observation(address, index, online) for index, (address, online) in enumerate(observations)
    ]
    return [str(double) for double in serving.doubly_served(timed)]


def is_insecure(address: str) -> bool:
    """Whether the daemon at `address` was started with --insecure (the probes talk plain text to it)."""
    return address in _INSECURE


def get_cell(address: str, region_id: int, row: bytes, column: bytes, timeout: float = 5.0) -> bytes | None:
    """RegionData.Get of one cell straight to the server at `address`: the newest value, None if the cell
    is absent (raises tests.data_calls.RegionRefused when the region is refused, grpc.RpcError when the
    call fails)."""
    with open_channel(address) as channel:
        return data_calls.get(data_pb2_grpc.RegionDataStub(channel), region_id, row, column, timeout)
