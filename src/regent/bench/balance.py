"""`regent bench balance`: empty RegionServers join a loaded cluster; how long until it is balanced.

A master and K RegionServers start on a fresh ROOTDIR; a table of N regions is created through the SDK (every
region OPEN, about N/K on each). Then J more RegionServers start. From the moment the master counts all of
them live (`seconds` starts there: `join_seconds` is how long their processes took to register), the
balancer is run (`admin.balance()`, as its period would) and the figure ends when its moves are done, no
region is in transition, and every server holds a number of regions within the slop of the average.

Output: `moves` (moves the balancer carried out), `minimum_moves` (the fewest that give every server floor
or ceil of the average: an even spread), `max_over_average` (the most regions on one server over the
average, at the end), `plan_ms` (the planner's share), `join_seconds`.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import regent
from client import Admin
from master.chores.balance_plan import minimum_moves
from regent.bench import security
from regent.bench.assign import _regent, _stub, _wait_active, start_master, start_regionservers
from regent.supervise import Children, free_ports

POLL_S = 0.01
SLOP = 0.2  # the master's default (--balancer-slop)
TIMEOUT_S = 600.0


def run(regions: int, servers: int, joining: int, *, quiet: bool = False) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-balance-"))
    rootdir = root / "cluster"
    try:
        ports = free_ports(servers + joining + 1)
        with Children(root / "logs") as children:
            address = f"127.0.0.1:{ports[0]}"
            start_regionservers(children, rootdir, address, ports[1 : servers + 1])
            # The joining servers are spawned now, each stopped before it execs: this process must not
            # fork once it has gRPC channels (gRPC's poller does not survive a fork: regent.supervise).
            waiting = [
                children.start(f"joining{i}", _stopped(_regionserver(rootdir, address, port)))
                for i, port in enumerate(ports[servers + 1 :])
            ]
            start_master(children, rootdir, ports[0], servers)
            _wait_active(_stub(address), children, 60)
            with regent.connect(address, timeout=600, **security.connect_options()) as connection:
                admin = connection.admin()
                _wait_servers(admin, servers, children)
                _say(quiet, f"creating table 'bench' with {regions:,} regions on {servers} RegionServers ...")
                admin.create_table("bench", {"cf": None}, num_regions=regions, timeout=TIMEOUT_S)
                _wait_settled(admin, children, regions)
                before = [s.region_count for s in admin.cluster_status().servers]
                _say(quiet, f"{joining} empty RegionServers join ...")
                started = time.perf_counter()
                for child in waiting:
                    os.kill(child.pid, signal.SIGCONT)
                _wait_servers(admin, servers + joining, children)
                joined = time.perf_counter()
                _say(quiet, "balancing ...")
                run = admin.balance()
                if not run.ran:
                    raise RuntimeError(f"the balancer did not run: {run.reason}")
                last = _wait_balanced(admin, children, regions, run.started_ms)
                seconds = time.perf_counter() - joined
                counts = [s.region_count for s in admin.cluster_status().servers]
            children.stop()
        average = regions / (servers + joining)
        return {
            "benchmark": "balance",
            "regions": regions,
            "servers": servers,
            "joining": joining,
            "seconds": round(seconds, 3),
            "moves": last.moves_done,
            "minimum_moves": minimum_moves(before + [0] * joining),
            "max_over_average": round(max(counts) / average, 4),
            "plan_ms": last.plan_ms,
            "moves_failed": last.moves_failed,
            "join_seconds": round(joined - started, 3),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _regionserver(rootdir: Path, master: str, port: int) -> list[str]:
    return _regent("regionserver", "--rootdir", str(rootdir), "--master", master, "--port", str(port))


def _stopped(argv: list[str]) -> list[str]:
    """`argv` behind a shell that stops itself (SIGSTOP) and execs it once continued (SIGCONT)."""
    return ["sh", "-c", 'kill -STOP $$; exec "$@"', "sh", *argv]


def _within_slop(counts: list[int], regions: int) -> bool:
    average = regions / len(counts)
    return max(counts) <= math.ceil(average * (1 + SLOP)) and min(counts) >= math.floor(average * (1 - SLOP))


def _wait_balanced(admin: Admin, children: Children, regions: int, started_ms: int) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        children.check()
        last = admin.balancer_status().last_run
        if last is not None and last.started_ms == started_ms and last.finished:
            status = admin.cluster_status()
            counts = [s.region_count for s in status.servers]
            if not status.regions_in_transition and _within_slop(counts, regions):
                return last
        time.sleep(POLL_S)
    raise RuntimeError(f"the cluster was not balanced within {TIMEOUT_S:g} s")


def _wait_settled(admin: Admin, children: Children, regions: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        children.check()
        status = admin.cluster_status()
        if status.regions_by_state.get("OPEN", 0) == regions and not status.regions_in_transition:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the {regions:,} regions were not all OPEN within {TIMEOUT_S:g} s")


def _wait_servers(admin: Admin, count: int, children: Children) -> None:
    deadline = time.monotonic() + 60
    while len(admin.cluster_status().servers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} RegionServers registered within 60 s")
        children.check()
        time.sleep(POLL_S)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)
