"""`regent local`: a whole cluster on this machine, masters and RegionServers as child processes.

For trying Regent out and for tests. The supervisor only starts, watches and stops processes; it never
imports gRPC (gRPC does not survive fork, and a supervisor that never initialises it can spawn at any time).

No orphans, ever:
- Every child asks the kernel (prctl PR_SET_PDEATHSIG = SIGKILL) to kill it when the supervisor dies, even
  by SIGKILL. The kernel ties this to the *thread* that forked the child, so children are spawned from the
  main thread only, and the supervisor starts no threads.
- Children run in process groups of their own: a Ctrl-C in the terminal reaches the supervisor alone, which
  then stops the RegionServers first (so the master does not see them as crashed servers to recover from),
  then the masters, each with SIGTERM and a grace period before SIGKILL.

The supervisor waits with signals blocked and collected by sigtimedwait (SIGINT, SIGTERM, SIGHUP to stop,
SIGCHLD for a child's death), so no handler can interrupt it halfway through starting or stopping a child.
A child that dies on its own is reported in one line and the others keep running (an operator may be
testing failover); when no master is left, everything stops and the exit code is 1. Which master is active
is said once it is, and again after each failover, from what the holder of ROOTDIR/master.lock writes there.
When the reader of its output goes away (`regent local | head`), the cluster stops as if told to.

Tools that act on the daemons (`regent chaos`) find them in ROOTDIR/local.json and ask for a restart by
a file in ROOTDIR/local.requests (regent.local_state): a restarted daemon is this supervisor's child, with
the same argv, like the first one.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from master.election import Announcement, read_announcement
from regent import certs, local_state, tls

DEFAULT_PORT = 16000
DEFAULT_SERVERS = 3
#: The Thrift gateway's port: HBase's (`hbase thrift start`), which happybase connects to by default.
DEFAULT_THRIFT_PORT = 9090
#: RegionServer i listens on --port + SERVER_PORT_OFFSET + i; masters on --port, --port + 1, ...
SERVER_PORT_OFFSET = 100
#: Each daemon's status pages and /metrics listen on its gRPC port + HTTP_PORT_OFFSET (16000 -> 17000).
HTTP_PORT_OFFSET = 1000
#: How long a group of children (RegionServers, then masters) gets to exit after SIGTERM.
GRACE_S = 5.0
HOST = "127.0.0.1"
#: How often the supervisor looks at ROOTDIR/master.lock for a new active master (and at its children).
WATCH_INTERVAL_S = 0.2

#: The command that runs a daemon: `<CHILD_PROGRAM> master ...`. Tests replace it with a stand-in process
#: to check the supervision without depending on the daemons.
CHILD_PROGRAM: list[str] = [sys.executable, "-m", "regent.cli"]

_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
_WATCHED = _STOP_SIGNALS | {signal.SIGCHLD}
_PR_SET_PDEATHSIG = 1


class LocalError(Exception):
    """The local cluster cannot start: the message is one line for the operator."""


# ---- arguments ----


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `regent local`."""
    parser.add_argument(
        "--rootdir",
        type=Path,
        default=None,
        help="the cluster's root directory (default: a fresh temporary directory, removed at exit)",
    )
    parser.add_argument(
        "--servers", type=_count(1), default=DEFAULT_SERVERS, help="RegionServers (default 3)"
    )
    parser.add_argument(
        "--backup-masters", type=_count(0), default=0, help="masters besides the first one (default 0)"
    )
    parser.add_argument(
        "--port",
        type=_count(1),
        default=DEFAULT_PORT,
        help=f"first master port; masters use P, P+1, ...; RegionServers P+{SERVER_PORT_OFFSET}+i; "
        f"each daemon's status pages its port + {HTTP_PORT_OFFSET} (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--thrift-port",
        type=_count(1),
        default=DEFAULT_THRIFT_PORT,
        help="port of the Thrift gateway, HBase's Thrift1 service for happybase "
        f"(default {DEFAULT_THRIFT_PORT})",
    )
    parser.add_argument(
        "--no-thrift", action="store_true", help="start no Thrift gateway (by default one is started)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary root directory at exit (with its logs)"
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="plain text: no certificates, no TLS, no authorization (by default the cluster makes a CA and "
        "certificates in ROOTDIR/certs on first start and every connection is mutual TLS)",
    )


# ---- the plan: which processes, on which ports ----


@dataclass(frozen=True, slots=True)
class Plan:
    rootdir: Path
    temporary: bool
    master_ports: tuple[int, ...]
    server_ports: tuple[int, ...]
    min_servers: int
    log_level: str | None = None
    insecure: bool = False
    thrift_port: int | None = DEFAULT_THRIFT_PORT  # None: no gateway

    @property
    def logdir(self) -> Path:
        return self.rootdir / "logs"

    @property
    def certs_dir(self) -> Path:
        return self.rootdir / "certs"

    @property
    def security_args(self) -> list[str]:
        return ["--insecure"] if self.insecure else ["--certs-dir", str(self.certs_dir)]

    @property
    def masters(self) -> str:
        return ",".join(f"{HOST}:{p}" for p in self.master_ports)


def ports_for(port: int, backup_masters: int, servers: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Master and RegionServer ports, or LocalError if they overlap or leave the port range."""
    if backup_masters + 1 > SERVER_PORT_OFFSET:
        raise LocalError(f"at most {SERVER_PORT_OFFSET - 1} backup masters, got {backup_masters}")
    masters = tuple(port + i for i in range(backup_masters + 1))
    servers_ = tuple(port + SERVER_PORT_OFFSET + i for i in range(servers))
    highest = max(masters + servers_) + HTTP_PORT_OFFSET
    if highest > 65535:
        raise LocalError(f"--port {port} leaves no room: the cluster needs ports up to {highest} (max 65535)")
    return masters, servers_


def every_port(master_ports: Sequence[int], server_ports: Sequence[int]) -> list[int]:
    """The gRPC ports and the HTTP ports (status pages) of the cluster's daemons."""
    grpc_ports = [*master_ports, *server_ports]
    return grpc_ports + [p + HTTP_PORT_OFFSET for p in grpc_ports]


def busy_ports(ports: Sequence[int], host: str = HOST) -> list[int]:
    """The ports among `ports` that something already listens on.

    SO_REUSEADDR as gRPC sets it, so a port held only by a closed connection in TIME_WAIT counts as free,
    exactly as it is for the daemon that will bind it.
    """
    busy = []
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                busy.append(port)
    return busy


def child_commands(plan: Plan) -> list[tuple[str, str, list[str]]]:
    """(name, role, argv) of every child, masters first: they start before the RegionServers look for them.

    Which master wins the election is whichever locks ROOTDIR/master.lock first (not necessarily the first
    started); the others wait as backups.
    """
    prefix = [*CHILD_PROGRAM, *(["--log-level", plan.log_level] if plan.log_level else [])]
    root = str(plan.rootdir)
    commands = [
        (
            f"master-{port}",
            "master",
            [
                *prefix,
                "master",
                "--rootdir",
                root,
                "--port",
                str(port),
                "--http-port",
                str(port + HTTP_PORT_OFFSET),
                "--min-servers",
                str(plan.min_servers),
                *plan.security_args,
            ],
        )
        for port in plan.master_ports
    ]
    commands += [
        (
            f"regionserver-{port}",
            "regionserver",
            [
                *prefix,
                "regionserver",
                "--rootdir",
                root,
                "--master",
                plan.masters,
                "--port",
                str(port),
                "--http-port",
                str(port + HTTP_PORT_OFFSET),
                *plan.security_args,
            ],
        )
        for port in plan.server_ports
    ]
    if plan.thrift_port is not None:
        commands.append(
            (
                f"thrift-{plan.thrift_port}",
                "thrift",
                [
                    *prefix,
                    "thrift",
                    "--master",
                    plan.masters,
                    "--port",
                    str(plan.thrift_port),
                    *plan.security_args,
                ],
            )
        )
    return commands


# ---- children ----


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _libc_prctl() -> Callable[[int, int], int] | None:
    """libc's prctl, looked up in the supervisor (not between fork and exec), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def _child_setup(
    prctl: Callable[[int, int], int] | None, supervisor: int, sigmask: Iterable[int]
) -> Callable[[], None]:
    """What runs in the child between fork and exec: die with the supervisor, take signals normally."""
    mask = set(sigmask)

    def setup() -> None:
        if prctl is not None:
            if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
            if os.getppid() != supervisor:  # the supervisor died before prctl: nobody will signal us
                os._exit(1)
        # The supervisor blocks the signals it collects with sigtimedwait; the mask is inherited across
        # exec, and a daemon with SIGTERM blocked could not be stopped. Children get the mask the
        # supervisor itself was started with.
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    return setup


@dataclass(slots=True)
class Child:
    name: str
    role: str
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    reported: bool = False
    incarnation: int = 1

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.name.rpartition('-')[2]}"

    def record(self) -> local_state.DaemonRecord:
        return local_state.DaemonRecord(
            name=self.name,
            role=self.role,
            address=self.address,
            pid=self.process.pid,
            argv=tuple(self.argv),
            log=str(self.log),
            incarnation=self.incarnation,
            exit_code=self.process.returncode,
        )


class Supervisor:
    """Starts the children, watches them, stops them. Must live on the main thread (see the module doc)."""

    def __init__(self, plan: Plan, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.plan = plan
        self.out = out
        self.err = err
        self.children: list[Child] = []
        self._prctl = _libc_prctl()
        self._sigmask: list[int] = []
        self.active: Announcement | None = None  # the active master last reported
        self.broken_pipe: BrokenPipeError | None = None  # set once the reader of our output is gone

    def say(self, line: str, *, error: bool = False) -> None:
        stream = self.err if error else self.out
        try:
            print(line, file=stream, flush=True)
        except BrokenPipeError as exc:  # stop as if told to; the CLI then ends with its broken-pipe status
            self.broken_pipe = self.broken_pipe or exc

    def start(self, sigmask: Iterable[int] = ()) -> None:
        """Spawn every child, masters first. `sigmask`: the signal mask the children start with."""
        self.plan.logdir.mkdir(parents=True, exist_ok=True)
        self._sigmask = list(sigmask)
        for name, role, argv in child_commands(self.plan):
            self.children.append(self._spawn(name, role, argv))
        self.write_state()

    def _spawn(self, name: str, role: str, argv: list[str], incarnation: int = 1) -> Child:
        log = self.plan.logdir / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        setup = _child_setup(self._prctl, os.getpid(), self._sigmask)
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                env=env,
                process_group=0,
                preexec_fn=setup,
            )
        return Child(name, role, process, log, argv, incarnation=incarnation)

    def write_state(self) -> None:
        """ROOTDIR/local.json: every daemon's pid, argv, log and exit (regent.local_state)."""
        state = local_state.LocalState(
            supervisor_pid=os.getpid(),
            rootdir=str(self.plan.rootdir),
            masters=self.plan.masters,
            certs_dir=None if self.plan.insecure else str(self.plan.certs_dir),
            daemons=tuple(c.record() for c in self.children),
        )
        try:
            local_state.write_state(self.plan.rootdir, state)
        except OSError as exc:
            self.say(f"regent local: cannot write {local_state.STATE_FILE}: {exc}", error=True)

    def _serve_requests(self) -> None:
        """Restart the daemons a tool asked for (ROOTDIR/local.requests), if they have exited."""
        names = local_state.take_requests(self.plan.rootdir)
        if not names:
            return
        for name in names:
            index = next((i for i, c in enumerate(self.children) if c.name == name), None)
            if index is None:
                self.say(f"regent local: asked to restart {name!r}, which is no daemon of ours", error=True)
                continue
            old = self.children[index]
            if old.alive:
                continue  # already running (restarted by an earlier request, or never stopped)
            old.reported = True
            try:
                new = self._spawn(old.name, old.role, old.argv, old.incarnation + 1)
            except (OSError, subprocess.SubprocessError) as exc:
                self.say(f"regent local: cannot restart {name}: {exc}", error=True)
                continue
            self.children[index] = new
            self.say(f"regent local: restarted {name} (pid {new.process.pid}, as asked); log: {new.log}")
        self.write_state()

    def watch(self) -> int:
        """Block until a stop signal (return 0) or until no master is left (return 1)."""
        while self.broken_pipe is None:
            info = signal.sigtimedwait(_WATCHED, WATCH_INTERVAL_S)
            if info is not None and info.si_signo in _STOP_SIGNALS:
                self.say(f"regent local: {_signal_name(info.si_signo)} received, stopping")
                return 0
            if self._report_deaths():
                self.write_state()
            if not any(c.alive for c in self.children if c.role == "master"):
                self.say("regent local: no master is left, stopping everything", error=True)
                return 1
            self._serve_requests()
            self._report_active()
        return 1

    def _report_active(self) -> None:
        """Say which master is active once it has taken over (its announcement carries the epoch then),
        and again after each failover. An announcement whose pid is no live master of ours is a dead
        holder's, left in the file until the next holder writes its own."""
        announced = read_announcement(self.plan.rootdir / "master.lock")
        if announced.epoch is None or announced == self.active:
            return
        masters = {c.process.pid: c for c in self.children if c.role == "master" and c.alive}
        child = masters.get(announced.pid or 0)
        if child is None:
            return
        now = "now " if self.active is not None else ""
        self.active = announced
        self.say(
            f"regent local: the active master is {now}{announced.address} "
            f"({child.name}, pid {announced.pid}, epoch {announced.epoch})"
        )

    def _report_deaths(self) -> bool:
        """Say which children have exited since the last look; return whether any had."""
        any_ = False
        for child in self.children:
            code = child.process.poll()
            if code is not None and not child.reported:
                child.reported = any_ = True
                how = (
                    f"was killed by signal {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
                )
                self.say(
                    f"regent local: {child.name} (pid {child.process.pid}) {how}; log: {child.log}",
                    error=True,
                )
        return any_

    def stop(self) -> None:
        """SIGTERM the Thrift gateway, then the RegionServers, then the masters: each group gets GRACE_S
        before its stragglers are SIGKILLed.

        A second stop signal meanwhile (an impatient Ctrl-C) skips the grace: stragglers are killed at once.
        The state file goes first: no tool should act on a cluster that is stopping.
        """
        with contextlib.suppress(OSError):
            local_state.remove_state(self.plan.rootdir)
        self._report_deaths()
        hurry = False
        for role in ("thrift", "regionserver", "master"):
            group = [c for c in self.children if c.role == role and c.alive]
            for child in group:
                child.reported = True  # an exit from here on is expected
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
                    child.process.send_signal(signal.SIGCONT)  # one paused (SIGSTOP) can act on it
            deadline = time.monotonic() + GRACE_S
            while not hurry and any(c.alive for c in group):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                info = signal.sigtimedwait(_WATCHED, min(remaining, 0.2))
                hurry = info is not None and info.si_signo in _STOP_SIGNALS
            for child in group:
                if child.alive:
                    self.say(f"regent local: {child.name} did not stop in time, killing it", error=True)
                    child.process.kill()
                child.process.wait()

    def banner(self) -> str:
        plan = self.plan
        n_masters = len(plan.master_ports)
        servers = ", ".join(f"{HOST}:{p}" for p in plan.server_ports)
        masters = ", ".join(f"{HOST}:{p}" for p in plan.master_ports)
        if plan.insecure:
            connect = f'import regent; conn = regent.connect("{plan.masters}", insecure=True)'
        else:
            connect = f'import regent; conn = regent.connect("{plan.masters}", certs_dir="{plan.certs_dir}")'
        if n_masters > 1:
            masters += "  (the first to lock ROOTDIR/master.lock is active, the others are backups)"
            connect += "  (any one of them will do)"
        where = "  (temporary: removed at exit; --keep keeps it)" if plan.temporary else ""
        thrift = (
            [
                f"  thrift         {HOST}:{plan.thrift_port}  (HBase's Thrift gateway: "
                f'happybase.Connection("{HOST}", {plan.thrift_port}))'
            ]
            if plan.thrift_port is not None
            else []
        )
        return "\n".join(
            [
                f"regent local: {n_masters} master{'s' * (n_masters > 1)} and "
                f"{len(plan.server_ports)} RegionServer{'s' * (len(plan.server_ports) > 1)} started",
                f"  masters        {masters}",
                f"  RegionServers  {servers}",
                f"  status pages   http://{HOST}:{plan.master_ports[0] + HTTP_PORT_OFFSET}/ (masters on "
                f"gRPC port + {HTTP_PORT_OFFSET}, RegionServers too: "
                f"http://{HOST}:{plan.server_ports[0] + HTTP_PORT_OFFSET}/ ...; each serves /metrics)"
                if plan.server_ports
                else f"  status pages   http://{HOST}:{plan.master_ports[0] + HTTP_PORT_OFFSET}/",
                *thrift,
                f"  rootdir        {plan.rootdir}{where}",
                f"  logs           {plan.logdir}/<name>.log  (e.g. master-{plan.master_ports[0]}.log)",
                f"  connect        {connect}",
                f"                 or: export REGENT_CERTS_DIR={plan.certs_dir}  (the SDK and `regent admin` "
                "read it: then the address is all they need)"
                if not plan.insecure
                else "  security       NONE (--insecure): whoever reaches these ports may change the cluster",
                "Ctrl-C to stop.",
            ]
        )


# ---- the command ----


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the arguments into a Plan, checking the ports; LocalError says what is wrong in one line."""
    master_ports, server_ports = ports_for(args.port, args.backup_masters, args.servers)
    thrift_port = None if getattr(args, "no_thrift", False) else getattr(args, "thrift_port", None)
    if thrift_port is not None and thrift_port in every_port(master_ports, server_ports):
        raise LocalError(f"--thrift-port {thrift_port} is one of the cluster's own ports; choose another")
    busy = busy_ports(every_port(master_ports, server_ports))
    if busy:
        raise LocalError(
            f"port{'s' * (len(busy) > 1)} {', '.join(map(str, busy))} on {HOST} "
            f"{'are' if len(busy) > 1 else 'is'} in use; choose another --port (masters use P.., "
            f"RegionServers P+{SERVER_PORT_OFFSET}.., status pages those + {HTTP_PORT_OFFSET})"
        )
    if thrift_port is not None and busy_ports([thrift_port]):
        raise LocalError(
            f"port {thrift_port} on {HOST} is in use (the Thrift gateway's); choose another --thrift-port, "
            "or --no-thrift"
        )
    temporary = args.rootdir is None
    rootdir = Path(tempfile.mkdtemp(prefix="regent-local-")) if temporary else args.rootdir.resolve()
    return Plan(
        rootdir=rootdir,
        temporary=temporary,
        master_ports=master_ports,
        server_ports=server_ports,
        min_servers=args.servers,
        log_level=getattr(args, "log_level", None),
        insecure=getattr(args, "insecure", False),
        thrift_port=thrift_port,
    )


def main(args: argparse.Namespace) -> int:
    """Run the local cluster until Ctrl-C (or SIGTERM/SIGHUP): exit code 0; 1 if it cannot start or every
    master died."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("regent local must run on the main thread (PR_SET_PDEATHSIG follows the thread)")
    try:
        plan = make_plan(args)
        plan.rootdir.mkdir(parents=True, exist_ok=True)
        made = [] if plan.insecure else certs.ensure_local(plan.certs_dir, [HOST, "localhost"])
    except (LocalError, OSError, tls.CertError) as exc:
        print(f"regent local: {exc}", file=sys.stderr, flush=True)
        return 1
    supervisor = Supervisor(plan)
    if made:
        supervisor.say(
            f"regent local: made a cluster CA and certificates in {plan.certs_dir}: "
            + ", ".join(c.file for c in made)
        )
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    code = 1
    try:
        supervisor.start(previous)
        supervisor.say(supervisor.banner())
        code = supervisor.watch()
    except (OSError, subprocess.SubprocessError) as exc:
        supervisor.say(f"regent local: cannot start a child: {exc}", error=True)
    finally:
        supervisor.stop()
        # A stop signal still pending (a second Ctrl-C after the children were gone) would otherwise be
        # delivered on unblocking and turn a clean stop into a KeyboardInterrupt.
        while signal.sigtimedwait(_WATCHED, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if plan.temporary and not getattr(args, "keep", False):
            shutil.rmtree(plan.rootdir, ignore_errors=True)
        elif plan.temporary:
            supervisor.say(f"regent local: kept {plan.rootdir}")
    supervisor.say("regent local: stopped")
    if supervisor.broken_pipe is not None:
        raise supervisor.broken_pipe  # the CLI's one way of ending on a closed pipe (regent.cli.main)
    return code


__all__ = [
    "CHILD_PROGRAM",
    "LocalError",
    "Plan",
    "Supervisor",
    "add_arguments",
    "busy_ports",
    "main",
    "ports_for",
]
