"""`regent bench data`: YCSB's load and core workloads A, B, C and E through the SDK against a real cluster,
beside their two floors (regent/bench/data_floor.py), one JSON line each.

A master and K RegionServers start on a fresh ROOTDIR (mutual TLS unless --insecure); a table of R regions
split evenly over YCSB's key space is loaded with N records (10 fields of 100 bytes) by C client processes
in batches of 1,000 rows; then each workload runs for S seconds from C client processes, each with its own
connection, zipfian keys and one operation at a time (YCSB's threads). The same operations then run on the
transport floor (a gRPC server that does nothing, same request and reply sizes, same client processes) and
on the LMDB floor (one process, straight on LMDB). Figures: ops/s in all, p50 and p99 latency in ms.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import regent
from regent.bench import data_floor, security, ycsb
from regent.bench.assign import _regent, _stub, _wait_active, start_regionservers
from regent.supervise import Children, free_ports

TABLE = "usertable"
LOAD_BATCH_ROWS = 1000


def run(
    rows: int,
    regions: int,
    servers: int,
    clients: int,
    seconds: float,
    *,
    workloads: tuple[str, ...] = ("A", "B", "C", "E"),
    skip_floor: bool = False,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-data-"))
    try:
        ports = free_ports(servers + 2)
        with Children(root / "logs") as children:
            address = f"127.0.0.1:{ports[0]}"
            start_regionservers(children, root / "cluster", address, ports[1 : servers + 1])
            children.start(
                "master",
                _regent(
                    "master",
                    "--rootdir",
                    str(root / "cluster"),
                    "--port",
                    str(ports[0]),
                    "--min-servers",
                    str(servers),
                ),
            )
            _wait_active(_stub(address), children, 60)
            options = security.connect_options()
            with regent.connect(address, timeout=600, **options) as connection:
                _wait_servers(connection, servers, children)
                connection.admin().create_table(
                    TABLE, {ycsb.FAMILY: None}, split_keys=ycsb.split_keys(regions)
                )
            target = ("cluster", address, options)
            _say(quiet, f"loading {rows} rows into {regions} regions on {servers} RegionServers ...")
            lines: list[dict[str, Any]] = [_load(target, rows, clients, regions, servers)]
            floor_target = None
            if not skip_floor:
                floor_address = f"127.0.0.1:{ports[-1]}"
                floor_args = [sys.executable, "-m", "regent.bench.data_floor", "--port", str(ports[-1])]
                children.start("transport-floor", floor_args + security.daemon_args())
                floor_target = ("transport", floor_address, options)
            for name in workloads:
                _say(quiet, f"workload {name} ...")
                line = _workload_line(name, target, rows, clients, seconds)
                if floor_target is not None:
                    floor = _workload_line(name, floor_target, rows, clients, seconds)
                    line["transport_floor_ops_per_s"] = floor["ops_per_s"]
                    line["transport_floor_p50_ms"] = floor["p50_ms"]
                lines.append(line)
            children.stop()
        if not skip_floor:
            _say(quiet, "the LMDB floor ...")
            floors = data_floor.lmdb_floor(rows, seconds, list(workloads))
            for line in lines[1:]:
                line["floor_ops_per_s"] = floors[line["workload"]]
        return lines
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _wait_servers(connection: Any, servers: int, children: Children) -> None:
    deadline = time.monotonic() + 60
    while len(connection.admin().cluster_status().servers) < servers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {servers} RegionServers registered within 60 s")
        children.check()
        time.sleep(0.05)


#: ("cluster" or "transport", address, regent.connect's security options): where a client sends.
Target = tuple[str, str, dict[str, Any]]


def _parallel(role: str, args: list[list[Any]]) -> list[Any]:
    """Run `role` (load_client or workload_client) in one process per argument list, all at once, as
    YCSB's client processes; return what each printed (JSON). Fresh processes: gRPC does not survive
    fork, and the clients must not share one interpreter lock."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "regent.bench.data", role, json.dumps(a)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for a in args
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"a bench client ({role}) exited with {proc.returncode}")
        out.append(json.loads(stdout))
    return out


def _load(target: Target, rows: int, clients: int, regions: int, servers: int) -> dict[str, Any]:
    spans = _parallel("load", [[target, rows, i, clients] for i in range(clients)])
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    return {
        "benchmark": "data",
        "workload": "load",
        "rows": rows,
        "regions": regions,
        "servers": servers,
        "clients": clients,
        "seconds": round(seconds, 3),
        "cells_per_s": round(rows * ycsb.FIELDS / seconds, 1),
    }


def load_client(target: Target, rows: int, index: int, clients: int) -> tuple[float, float]:
    """Load every `clients`-th record from `index`, in batches; (wall clock start, end)."""
    _, address, options = target
    rng = random.Random(index)
    with regent.connect(address, timeout=600, **options) as connection:
        table = connection.table(TABLE)
        started = time.time()
        with table.batch(batch_size=LOAD_BATCH_ROWS * ycsb.FIELDS) as batch:
            for n in range(index, rows, clients):
                batch.put(ycsb.key(n), ycsb.record(rng))
        return started, time.time()


def _workload_line(name: str, target: Target, rows: int, clients: int, seconds: float) -> dict[str, Any]:
    results = _parallel("workload", [[name, target, rows, i, clients, seconds] for i in range(clients)])
    latencies = [ms for _, run in results for ms in run]
    elapsed = max(e for e, _ in results)
    return {"benchmark": "data", "workload": name, "clients": clients, **ycsb.summary(latencies, elapsed)}


def workload_client(
    name: str, target: Target, rows: int, index: int, clients: int, seconds: float
) -> tuple[float, list[float]]:
    """Run workload `name` for `seconds`, one operation at a time; (seconds it ran, latencies in ms)."""
    kind, address, options = target
    workload = ycsb.WORKLOADS[name]
    rng = random.Random(1000 + index)
    zipf = ycsb.ScrambledZipfian(rows, rng)
    inserted = rows + index
    latencies: list[float] = []
    if kind == "transport":
        client: Any = data_floor.FloorClient(address, security.transport_of(options))
        read, write, scan, close = client.read, client.write, client.scan, client.close
    else:
        connection = regent.connect(address, timeout=600, **options)
        table = connection.table(TABLE)
        read, write, close = table.row, table.put, connection.close

        def scan(row: bytes, length: int) -> None:
            for _ in table.scan(row_start=row, limit=length, batch_size=length):
                pass

    try:
        read(ycsb.key(0))  # connect, and fill the location cache, before the clock starts
        started = time.perf_counter()
        end = started + seconds
        while (now := time.perf_counter()) < end:
            op = workload.choose(rng)
            if op == "read":
                read(ycsb.key(zipf.next()))
            elif op == "update":
                field = ycsb.FIELD_NAMES[rng.randrange(ycsb.FIELDS)]
                write(ycsb.key(zipf.next()), {field: rng.randbytes(ycsb.FIELD_BYTES)})
            elif op == "scan":
                scan(ycsb.key(zipf.next()), rng.randint(1, ycsb.MAX_SCAN))
            else:
                write(ycsb.key(inserted), ycsb.record(rng))
                inserted += clients
            latencies.append((time.perf_counter() - now) * 1000)
        return time.perf_counter() - started, latencies
    finally:
        close()


def main() -> None:
    """`python -m regent.bench.data load|workload '<json arguments>'`: one client process; prints JSON."""
    role, arguments = sys.argv[1], json.loads(sys.argv[2])
    function: Any = {"load": load_client, "workload": workload_client}[role]
    print(json.dumps(function(*arguments)))


if __name__ == "__main__":
    main()


__all__ = ["load_client", "run", "workload_client"]
