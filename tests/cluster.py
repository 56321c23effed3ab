"""Helpers for process-level tests: Regent daemons as real child processes on loopback.

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
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from regent.proto import master_pb2, master_pb2_grpc

LOOPBACK = "127.0.0.1"
#: How long a daemon gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
#: How long a probe RPC may take: a paused or dead daemon must not hold a polling loop up.
PROBE_TIMEOUT_S = 1.0

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


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
        """SIGSTOP: the process stays, holds its locks and sockets, but answers nothing."""
        self.send_signal(signal.SIGSTOP, group=group)

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


class Master(Daemon):
    """A `regent master` daemon and the address it listens on."""

    def __init__(
        self, args: Sequence[str], *, port: int, host: str, name: str, log_dir: Path, **kw: Any
    ) -> None:
        self.port = port
        self.address = f"{host}:{port}"
        super().__init__(args, name=name, log_dir=log_dir, **kw)

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
    with grpc.insecure_channel(address) as channel:
        stub = master_pb2_grpc.MasterStub(channel)
        try:
            return stub.GetClusterInfo(master_pb2.GetClusterInfoRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            if _unreachable(exc):
                return None
            raise


def health_status(address: str, timeout: float = PROBE_TIMEOUT_S, service: str = "") -> str | None:
    """The gRPC health status name ("SERVING", "NOT_SERVING", ...) of `address`, None when unreachable."""
    with grpc.insecure_channel(address) as channel:
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
