"""`regent bench ddl`: table DDL at scale, each operation timed from the call to its procedure's end.

A master and K RegionServers start on a fresh ROOTDIR; then, through the SDK, one table of N regions is
created (every region OPEN), disabled, enabled again, modified (a family added: every region reopened, a
share at a time), disabled and deleted. Each figure is the time from the DDL call until the client sees
its procedure SUCCESS (polled every 5 ms, so the figure is at most that much late); `master_seconds` gives
the master's own view (procedure submitted to finished), without the RPCs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import regent
from client import Admin, Procedure, ProcedureHandle
from client.procedure import get_procedure
from regent.bench import security
from regent.bench.assign import _stub, _wait_active, start_master, start_regionservers
from regent.supervise import Children, free_ports

POLL_S = 0.005


def run(regions: int, servers: int, *, quiet: bool = False) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-ddl-"))
    rootdir = root / "cluster"
    try:
        ports = free_ports(servers + 1)
        with Children(root / "logs") as children:
            address = f"127.0.0.1:{ports[0]}"
            start_regionservers(children, rootdir, address, ports[1:])
            start_master(children, rootdir, ports[0], servers)
            _wait_active(_stub(address), children, 60)
            with regent.connect(address, timeout=600, **security.connect_options()) as connection:
                result = _operations(connection.admin(), children, regions, servers, quiet)
            children.stop()
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _operations(admin: Admin, children: Children, regions: int, servers: int, quiet: bool) -> dict[str, Any]:
    _wait_servers(admin, servers, children)
    result: dict[str, Any] = {"benchmark": "ddl", "regions": regions, "servers": servers}
    master: dict[str, float] = {}
    placed: dict[int, str] = {}
    steps: list[tuple[str, Callable[[], ProcedureHandle]]] = [
        ("create", lambda: admin.create_table("bench", {"cf": None}, num_regions=regions, wait=False)),
        ("disable", lambda: admin.disable_table("bench", wait=False)),
        ("enable", lambda: admin.enable_table("bench", wait=False)),
        ("modify", lambda: admin.add_family("bench", "cf2", wait=False)),
        ("disable_again", lambda: admin.disable_table("bench", wait=False)),
        ("delete", lambda: admin.delete_table("bench", wait=False)),
    ]
    for name, call in steps:
        if not quiet:
            print(f"{name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        handle = call()
        info = _until_done(admin, handle.proc_id, children)
        seconds = time.perf_counter() - started
        if info.state != "SUCCESS":
            raise RuntimeError(f"{name}: procedure {handle.proc_id} ended {info.state}: {info.error_message}")
        if name == "disable_again":
            continue  # only there so that the table can be deleted
        result[f"{name}_seconds"] = round(seconds, 3)
        master[name] = round(
            info.submitted_age_s - info.age_s, 3
        )  # submitted to finished, as the master saw it
        if name in ("create", "enable"):
            where = _servers_of(admin)
            if len(where) != regions:
                raise RuntimeError(
                    f"{name}: {len(where)} of {regions} regions OPEN after the procedure ended"
                )
            if name == "create":
                placed = where
            else:  # enable retains each region on its last server (all are still live)
                kept = sum(1 for region_id, server in where.items() if placed.get(region_id) == server)
                result["enable_retained"] = round(kept / regions, 4)
    result["master_seconds"] = master
    return result


def _servers_of(admin: Admin) -> dict[int, str]:
    """region id -> address of the server of every OPEN region of the bench table."""
    return {
        r.region_id: r.server.address
        for r in admin.table_regions("bench")
        if r.state.name == "OPEN" and r.server is not None
    }


def _until_done(admin: Admin, proc_id: int, children: Children) -> Procedure:
    connection = admin._conn
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        info = get_procedure(connection, proc_id, timeout=30)
        if info.state not in ("RUNNABLE", "WAITING"):
            return info
        children.check()
        time.sleep(POLL_S)
    raise RuntimeError(f"procedure {proc_id} did not finish within 600 s")


def _wait_servers(admin: Admin, servers: int, children: Children) -> None:
    deadline = time.monotonic() + 60
    while len(admin.cluster_status().servers) < servers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {servers} RegionServers registered within 60 s")
        children.check()
        time.sleep(0.05)
