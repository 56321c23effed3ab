"""`regent local`: the supervisor starts its children, reports deaths, stops them in order, and never leaves
an orphan, not even when it is killed with SIGKILL.

Two ways to start it: through the real CLI (`python -m regent.cli local`, real daemons as children), and
through the module with stand-in children (`python -c` building the parser itself) so that these tests
depend on processes existing, not on the master or RegionServer working. Children are found by scanning /proc
for processes whose parent is the supervisor (Linux only, as PR_SET_PDEATHSIG is).

Cleanup does not rely on what is tested here: every supervisor runs in a session of its own, the children
each test saw are noted, and the `processes` fixture SIGKILLs all of them from the test side at teardown.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from regent import local, local_state, supervise
from regent.supervise import free_ports
from tests.cluster import wait_until
from tests.processes import Proc, ProcessGroups, alive, children_of

# ---- starting the supervisor ----

#: A stand-in daemon: touches ROOTDIR/ready-<port> once its signal disposition is set, then waits.
_STUB = (
    "import pathlib, signal, sys\n"
    "a = sys.argv\n"
    "{prologue}\n"
    "pathlib.Path(a[a.index('--rootdir') + 1], 'ready-' + a[a.index('--port') + 1]).touch()\n"
    "signal.pause()\n"
)

#: Runs the supervisor from the module with stand-in children, then checks it never imported gRPC.
_LAUNCHER = f"""
import argparse, sys
from regent import local
prologue, grace, *argv = sys.argv[1:]
local.CHILD_PROGRAM = [sys.executable, "-c", {_STUB!r}.replace("{{prologue}}", prologue)]
local.GRACE_S = float(grace)
parser = argparse.ArgumentParser(prog="regent local")
local.add_arguments(parser)
code = local.main(parser.parse_args(argv))
if "grpc" in sys.modules:
    sys.exit("the supervisor imported grpc")  # exit code 1 plus this line: no test expects the line
sys.exit(code)
"""


def free_base_port(servers: int, backups: int = 0) -> int:
    """A --port whose master and RegionServer ports (and their status pages' ports) are all free now and
    in the range free_ports chooses from (regent.supervise says why)."""
    for _ in range(100):
        port = free_ports(1)[0]
        try:
            masters, regionservers = local.ports_for(port, backups, servers)
        except local.LocalError:
            continue
        ports = local.every_port(masters, regionservers)
        bounds = supervise.port_range()
        if (bounds is None or max(ports) <= bounds[1]) and not local.busy_ports(ports):
            return port
    raise AssertionError("no free port range found")


@dataclass
class Cluster:
    supervisor: subprocess.Popen[bytes]
    rootdir: Path | None
    output: Path
    expected_children: int
    processes: ProcessGroups

    def children(self) -> list[Proc]:
        """The supervisor's children now; each is noted for the fixture's cleanup."""
        found = children_of(self.supervisor.pid)
        self.processes.note(found)
        return found

    def wait_for_children(self) -> list[Proc]:
        """Wait until the supervisor has all its children, each already running its own program: a child
        caught between fork and exec still shows the supervisor's command line (and its --port)."""

        def started() -> bool:
            found = self.children()
            return len(found) == self.expected_children and all(
                _execed(p, self.supervisor.pid) for p in found
            )

        wait_until(
            lambda: started() or self.supervisor.poll() is not None,
            30,
            f"{self.expected_children} children",
        )
        assert self.supervisor.poll() is None, f"the supervisor exited early:\n{self.text()}"
        return self.children()

    def wait_for_stubs(self) -> None:
        assert self.rootdir is not None
        rootdir = self.rootdir
        wait_until(
            lambda: len(list(rootdir.glob("ready-*"))) == self.expected_children,
            30,
            "stand-in children to be ready",
        )

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture
def start(tmp_path: Path, processes: ProcessGroups) -> Callable[..., Cluster]:
    """Start a supervisor in a session of its own; at teardown the `processes` fixture SIGKILLs it, every
    child it has and every child it was seen with, from the test side."""
    started: list[Cluster] = []

    def _start(
        how: str,
        *,
        servers: int = 2,
        backups: int = 0,
        rootdir: Path | None = None,
        prologue: str = "pass",
        grace: float = 5.0,
        extra: tuple[str, ...] = (),
    ) -> Cluster:
        args = ["--servers", str(servers), "--backup-masters", str(backups), "--no-thrift"]
        args += ["--port", str(free_base_port(servers, backups)), *extra]
        if rootdir is not None:
            args += ["--rootdir", str(rootdir)]
        if how == "cli":
            argv = [sys.executable, "-m", "regent.cli", "local", *args]
        else:
            argv = [sys.executable, "-c", _LAUNCHER, prologue, str(grace), *args]
        output = tmp_path / f"supervisor-{len(started)}.out"
        with open(output, "wb") as sink:
            process = processes.popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
        cluster = Cluster(process, rootdir, output, servers + backups + 1, processes)
        started.append(cluster)
        return cluster

    return _start


HOW = ["cli", "module"]


@pytest.mark.parametrize("how", HOW)
def test_sigkill_of_the_supervisor_kills_every_child(
    start: Callable[..., Cluster], tmp_path: Path, how: str
) -> None:
    cluster = start(how, rootdir=tmp_path / "root")
    children = cluster.wait_for_children()
    assert all(alive(c) for c in children)

    os.kill(cluster.supervisor.pid, signal.SIGKILL)
    cluster.supervisor.wait()

    wait_until(lambda: not any(alive(c) for c in children), 10, "every child to die with the supervisor")


@pytest.mark.parametrize("how", HOW)
def test_sigint_stops_every_child_and_exits_0(
    start: Callable[..., Cluster], tmp_path: Path, how: str
) -> None:
    cluster = start(how, rootdir=tmp_path / "root")
    children = cluster.wait_for_children()
    if how == "module":
        cluster.wait_for_stubs()

    cluster.supervisor.send_signal(signal.SIGINT)

    assert cluster.supervisor.wait(timeout=30) == 0, cluster.text()
    assert not any(alive(c) for c in children)  # the supervisor waited for them: not even zombies
    assert "SIGINT received, stopping" in cluster.text()


def test_the_banner_says_how_to_connect_and_where_the_logs_are(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    cluster = start("module", rootdir=rootdir, backups=1)
    cluster.wait_for_children()
    wait_until(lambda: "Ctrl-C to stop" in cluster.text(), 10, "the banner")
    text = cluster.text()
    logs = rootdir.resolve() / "logs"
    assert str(logs) in text
    masters = [line for line in text.splitlines() if "regent.connect(" in line]
    assert len(masters) == 1 and masters[0].count("127.0.0.1:") == 2, text
    names = sorted(p.name for p in logs.iterdir())
    assert [n.split("-")[0] for n in names] == ["master", "master", "regionserver", "regionserver"]


def test_a_temporary_rootdir_is_removed_at_exit_and_kept_with_keep(start: Callable[..., Cluster]) -> None:
    for keep in (False, True):
        cluster = start("module", servers=1, extra=("--keep",) if keep else ())
        cluster.wait_for_children()
        wait_until(lambda c=cluster: "Ctrl-C to stop" in c.text(), 10, "the banner")
        [line] = [line for line in cluster.text().splitlines() if line.strip().startswith("rootdir")]
        rootdir = Path(line.split()[1])
        assert rootdir.is_dir()
        cluster.supervisor.send_signal(signal.SIGTERM)
        assert cluster.supervisor.wait(timeout=30) == 0, cluster.text()
        assert rootdir.exists() == keep
        if keep:
            assert (rootdir / "logs").is_dir()
            assert f"kept {rootdir}" in cluster.text()
            shutil.rmtree(rootdir)


def test_a_dead_regionserver_is_reported_and_the_others_keep_running(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = start("module", rootdir=tmp_path / "root", servers=2, backups=1)
    children = cluster.wait_for_children()
    cluster.wait_for_stubs()
    victim = max(children, key=lambda c: _port_of(c))  # the highest port: a RegionServer
    os.kill(victim.pid, signal.SIGKILL)

    wait_until(lambda: "was killed by signal SIGKILL" in cluster.text(), 10, "the death to be reported")
    assert "regionserver-" in cluster.text()
    assert cluster.supervisor.poll() is None
    assert all(alive(c) for c in children if c != victim)


def test_the_state_file_lists_every_daemon_and_a_requested_restart_starts_it_again(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    cluster = start("module", rootdir=rootdir, servers=2, backups=1)
    children = cluster.wait_for_children()
    cluster.wait_for_stubs()
    state = local_state.read_state(rootdir.resolve())
    assert state.supervisor_pid == cluster.supervisor.pid and state.certs_dir is not None
    assert {d.pid for d in state.daemons} == {c.pid for c in children}
    assert [d.role for d in state.daemons] == ["master", "master", "regionserver", "regionserver"]
    victim = state.of_role("regionserver")[1]
    assert victim.running and victim.incarnation == 1 and victim.address.endswith(victim.name.split("-")[1])
    assert "--rootdir" in victim.argv and Path(victim.log).name == f"{victim.name}.log"

    local_state.request_restart(rootdir, victim.name)  # running: dropped
    requests = rootdir / local_state.REQUESTS_DIR
    wait_until(lambda: not list(requests.iterdir()), 10, "the request to be taken")
    assert local_state.read_state(rootdir).daemon(victim.name).pid == victim.pid
    os.kill(victim.pid, signal.SIGKILL)
    exited = wait_until(
        lambda: not (r := local_state.read_state(rootdir).daemon(victim.name)).running and r,
        10,
        "the exit in the state file",
    )
    assert exited.exit_code == -signal.SIGKILL and exited.pid == victim.pid
    local_state.request_restart(rootdir, victim.name)
    local_state.request_restart(rootdir, "regionserver-1")  # no such daemon: said, and nothing else

    again = wait_until(
        lambda: (
            (r := local_state.read_state(rootdir).daemon(victim.name)).running and r.pid != victim.pid and r
        ),
        10,
        "the restarted daemon in the state file",
    )
    assert again.incarnation == 2 and again.argv == victim.argv
    cluster.processes.note([p for p in cluster.children() if p.pid == again.pid])
    wait_until(lambda: f"restarted {victim.name}" in cluster.text(), 10, "the restart to be reported")
    assert "'regionserver-1', which is no daemon of ours" in cluster.text()
    assert not list(requests.iterdir())

    cluster.supervisor.send_signal(signal.SIGTERM)
    assert cluster.supervisor.wait(timeout=30) == 0, cluster.text()
    assert not local_state.state_path(rootdir).exists()  # no tool acts on a stopped cluster
    assert not any(alive(c) for c in cluster.children())


def test_when_every_master_is_gone_everything_stops_with_exit_1(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = start("module", rootdir=tmp_path / "root", servers=2, backups=1)
    children = cluster.wait_for_children()
    cluster.wait_for_stubs()
    masters = sorted(children, key=_port_of)[:2]
    os.kill(masters[0].pid, signal.SIGKILL)
    wait_until(lambda: "was killed by signal SIGKILL" in cluster.text(), 10, "the first master's death")
    assert cluster.supervisor.poll() is None  # a backup is left: keep going

    os.kill(masters[1].pid, signal.SIGKILL)

    assert cluster.supervisor.wait(timeout=30) == 1, cluster.text()
    assert "no master is left" in cluster.text()
    assert "imported grpc" not in cluster.text()
    assert not any(alive(c) for c in children)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    cluster = start("module", rootdir=tmp_path / "root", servers=1, prologue=ignore, grace=0.3)
    children = cluster.wait_for_children()
    cluster.wait_for_stubs()

    cluster.supervisor.send_signal(signal.SIGINT)

    assert cluster.supervisor.wait(timeout=30) == 0, cluster.text()
    assert cluster.text().count("did not stop in time, killing it") == 2
    assert not any(alive(c) for c in children)


def _execed(proc: Proc, parent: int) -> bool:
    """Whether `proc` runs a program of its own, not (still) its parent's: its command line differs."""
    try:
        mine = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        theirs = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return False
    return mine != theirs


def _port_of(proc: Proc) -> int:
    """The --port a child daemon was started with. A child whose command line has none yet (read while it
    is between two execs, or before its interpreter has set argv) is waited for, up to a deadline."""

    def port() -> int | None:
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        return int(argv[argv.index(b"--port") + 1]) if b"--port" in argv else None

    return wait_until(port, 30, f"the --port of child {proc.pid}")


# ---- in process: arguments and ports, no children ----


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    local.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = _args()
    assert (args.rootdir, args.servers, args.backup_masters, args.port, args.keep) == (
        None,
        3,
        0,
        16000,
        False,
    )


def test_ports_follow_the_first_master_port() -> None:
    assert local.ports_for(16000, 2, 3) == ((16000, 16001, 16002), (16100, 16101, 16102))


@pytest.mark.parametrize(("port", "backups", "servers"), [(65500, 0, 1), (65535, 1, 1), (1000, 100, 1)])
def test_ports_out_of_range_or_overlapping_are_refused(port: int, backups: int, servers: int) -> None:
    with pytest.raises(local.LocalError):
        local.ports_for(port, backups, servers)


def test_a_busy_port_fails_with_one_clear_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    port = free_base_port(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + local.SERVER_PORT_OFFSET))
        holder.listen()
        code = local.main(_args("--servers", "1", "--port", str(port), "--rootdir", str(tmp_path / "r")))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert f"{port + local.SERVER_PORT_OFFSET}" in err and "in use" in err
    assert not (tmp_path / "r").exists()


def test_the_cli_and_supervisor_modules_do_not_import_grpc() -> None:
    code = "import sys, regent.cli, regent.local, regent.logs; assert 'grpc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("bad", [["--servers", "0"], ["--backup-masters", "-1"], ["--port", "x"]])
def test_bad_counts_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args(*bad)
    assert "expected a whole number" in capsys.readouterr().err


def _active_reports(text: str) -> list[tuple[str, int]]:
    """(address, pid) of every "the active master is ..." line, in order."""
    return [
        (m[1], int(m[2])) for m in re.finditer(r"the active master is (?:now )?(\S+) \(\S+, pid (\d+),", text)
    ]


def test_the_active_master_is_reported_once_elected_and_again_after_a_failover(
    start: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = start("cli", rootdir=tmp_path / "root", servers=1, backups=1)
    masters = {c.pid for c in sorted(cluster.wait_for_children(), key=_port_of)[:2]}
    (first,) = wait_until(lambda: _active_reports(cluster.text()), 60, "the active master to be reported")
    assert first[1] in masters, cluster.text()

    os.kill(first[1], signal.SIGKILL)

    reports = wait_until(
        lambda: _active_reports(cluster.text())[1:], 60, "the new active master to be reported"
    )
    assert reports == [(reports[0][0], (masters - {first[1]}).pop())], cluster.text()
    assert reports[0][0] != first[0] and "the active master is now" in cluster.text()


def test_regent_local_whose_output_is_gone_stops_the_cluster_quietly(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # as `regent local | head -1` once head has exited
    port = free_base_port(1)
    argv = [sys.executable, "-m", "regent.cli", "local", "--servers", "1", "--port", str(port), "--no-thrift"]
    try:
        result = subprocess.run(
            [*argv, "--rootdir", str(tmp_path / "root")], stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    assert result.returncode == 141, result.stderr
    assert b"Traceback" not in result.stderr, result.stderr
    assert not local.busy_ports([port, port + local.SERVER_PORT_OFFSET])  # its children are gone
