"""`regent chaos --start N`: a `regent local` cluster of the monkey's own, in a temporary ROOTDIR, as a
child process that dies with the monkey (PR_SET_PDEATHSIG, regent.supervise), stopped at the end."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from regent import connect_options, local_state

#: How long a cluster started with --start may take to have every RegionServer live.
START_TIMEOUT_S = 90.0


class StartFailed(Exception):
    """The cluster of --start did not come up."""


@contextlib.contextmanager
def started_cluster(args: argparse.Namespace) -> Iterator[Path]:
    """A `regent local` in a temporary ROOTDIR, as a child that dies with this process; stopped (SIGTERM,
    then SIGKILL after its grace) and its ROOTDIR removed (unless --keep) on leaving."""
    from regent import local
    from regent.supervise import Children

    rootdir = Path(tempfile.mkdtemp(prefix="regent-chaos-"))
    port = free_base_port(args.start, args.backup_masters)
    argv = [
        sys.executable,
        "-m",
        "regent.cli",
        "local",
        "--rootdir",
        str(rootdir),
        "--servers",
        str(args.start),
        "--backup-masters",
        str(args.backup_masters),
        "--port",
        str(port),
        "--no-thrift",  # chaos acts on masters and RegionServers; a gateway would only hold port 9090
    ]
    if args.insecure:
        argv.append("--insecure")
    children = Children(rootdir / "chaos-logs", grace_s=local.GRACE_S * 2 + 5)
    try:
        child = children.start("regent-local", argv)
        print(
            f"regent chaos: started regent local in {rootdir} (pid {child.pid}, masters on port {port}..)",
            file=sys.stderr,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not local_state.state_path(rootdir).exists():
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise StartFailed(f"regent local did not start:\n{child.tail(10)}")
            time.sleep(0.05)
        wait_live(args, rootdir, deadline)
        yield rootdir
    finally:
        children.stop()
        if args.keep:
            print(f"regent chaos: kept {rootdir}", file=sys.stderr)
        else:
            shutil.rmtree(rootdir, ignore_errors=True)


def wait_live(args: argparse.Namespace, rootdir: Path, deadline: float) -> None:
    from client.errors import RegentError

    state = local_state.read_state(rootdir)
    options = argparse.Namespace(certs_dir=state.certs_dir, user=args.user, insecure=state.insecure)
    with connect_options.connect(options, state.masters, timeout=10.0) as connection:
        while True:
            try:
                if len(connection.admin().cluster_status(timeout=5.0).servers) == args.start:
                    return
            except RegentError:
                pass
            if time.monotonic() > deadline:
                raise StartFailed(f"the {args.start} RegionServers of {rootdir} did not all register")
            time.sleep(0.1)


def free_base_port(servers: int, backups: int) -> int:
    """A --port for regent local whose master and RegionServer ports are all free now."""
    import socket

    from regent import local

    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            masters, regionservers = local.ports_for(port, backups, servers)
        except local.LocalError:
            continue
        if not local.busy_ports(masters + regionservers):
            return port
    raise StartFailed("no free range of ports found for the cluster")


__all__ = ["StartFailed", "free_base_port", "started_cluster", "wait_live"]
