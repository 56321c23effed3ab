"""`regent bench thrift`: YCSB workloads through happybase + the Thrift gateway and through the SDK's Table.

1. A master and K RegionServers start on a fresh ROOTDIR (mutual TLS unless --insecure), then a `regent
   thrift` gateway (buffered transport, binary protocol: happybase's defaults) in front of them; table
   `usertable` is created with R regions split so that each gets an equal share of the records, and N
   records (YCSB's: 10 fields of 100 bytes) are loaded in batched puts through the SDK.
2. Each workload (A: 50% reads 50% updates, C: reads, E: 95% short scans 5% inserts; regent.bench.ycsb,
   zipfian keys) runs twice on the same data, in the same run: through the SDK's Table (the native path),
   then through unmodified happybase against the gateway. T threads, each with a connection of its own
   (happybase) or sharing one Connection (the SDK, which is thread-safe), closed loop, one operation in
   flight per thread, the same operation streams for both paths (same seeds).

One JSON line per workload: {"benchmark": "thrift", "workload": "C", "native_ops_per_s", "native_p50_ms",
"native_p99_ms", "thrift_ops_per_s", "thrift_p50_ms", "thrift_p99_ms", "ratio", "target_ratio": 0.5}, the
ratio being thrift / native throughput. The client threads of both paths live in this one process; the
gateway's work (the SDK calls behind each Thrift call) runs in the gateway's process.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from regent.bench import security, ycsb
from regent.bench.assign import _regent, _stub, _wait_active, start_regionservers
from regent.supervise import Children, free_ports

TABLE = "usertable"
LOAD_BATCH = 1000
TARGET_RATIO = 0.5
#: Inserts of the second path start this far past the first's, so each inserts records of its own.
INSERT_OFFSET = 10**9


def run(
    *,
    records: int,
    servers: int,
    regions: int,
    threads: int,
    ops: int,
    workloads: tuple[str, ...] = ("A", "C", "E"),
    quiet: bool = False,
) -> Iterator[dict[str, Any]]:
    """Start the cluster and the gateway, load, and yield one result per workload."""
    root = Path(tempfile.mkdtemp(prefix="regent-bench-thrift-"))
    try:
        with Children(root / "logs") as children:
            master, gateway_port = _start(children, root, servers)
            import regent

            with regent.connect(master, timeout=120.0, **security.connect_options()) as conn:
                split = ycsb.split_keys(records, regions)
                conn.admin().create_table(TABLE, {ycsb.FAMILY.decode(): None}, split_keys=split)
                _say(quiet, f"loading {records} records into {regions} regions")
                _load(conn.table(TABLE), records)
                for name in workloads:
                    _say(quiet, f"workload {name}: native, then thrift ({threads} threads x {ops} ops)")
                    native = _measure(lambda: _NativeClient(conn), name, records, threads, ops, 0)
                    thrift = _measure(
                        lambda: _ThriftClient(gateway_port), name, records, threads, ops, INSERT_OFFSET
                    )
                    yield _result(name, records, threads, ops, native, thrift)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"bench thrift: {text}", file=sys.stderr, flush=True)


def _start(children: Children, root: Path, servers: int) -> tuple[str, int]:
    ports = free_ports(servers + 2)
    master = f"127.0.0.1:{ports[0]}"
    rootdir = root / "cluster"
    children.start(
        "master",
        _regent("master", "--rootdir", str(rootdir), "--port", str(ports[0]), "--min-servers", str(servers)),
    )
    start_regionservers(children, rootdir, master, ports[1 : servers + 1])
    _wait_active(_stub(master), children, 60)
    gateway_port = ports[-1]
    children.start("thrift", _regent("thrift", "--master", master, "--port", str(gateway_port)))
    deadline = time.monotonic() + 30
    while not _accepts(gateway_port):
        children.check()
        if time.monotonic() > deadline:
            raise RuntimeError("the Thrift gateway did not listen within 30 s")
        time.sleep(0.05)
    return master, gateway_port


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _load(table: Any, records: int) -> None:
    rng = random.Random(0)
    for start in range(0, records, LOAD_BATCH):
        with table.batch() as batch:
            for i in range(start, min(records, start + LOAD_BATCH)):
                batch.put(ycsb.key(i), ycsb.record(rng))


class _NativeClient:
    def __init__(self, conn: Any) -> None:
        self.table = conn.table(TABLE)

    def close(self) -> None:
        pass


class _ThriftClient:
    def __init__(self, port: int) -> None:
        import happybase

        self.connection = happybase.Connection("127.0.0.1", port)
        self.table = self.connection.table(TABLE)

    def close(self) -> None:
        self.connection.close()


def _do(table: Any, op: ycsb.Op, value: bytes, rng: random.Random) -> None:
    """One YCSB operation, in happybase's calls (which the SDK's Table shares)."""
    if op.kind == "read":
        table.row(op.row)
    elif op.kind == "update":
        table.put(op.row, {ycsb.column(op.field): value})
    elif op.kind == "insert":
        table.put(op.row, ycsb.record(rng))
    else:
        for _ in table.scan(row_start=op.row, limit=op.length, batch_size=op.length):
            pass


def _measure(
    client_of: Callable[[], Any], workload: str, records: int, threads: int, ops: int, insert_from: int
) -> tuple[float, list[float]]:
    """(ops/s over the run, every operation's latency in ms) of `threads` closed loops of `ops` ops."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)

    def loop(index: int) -> None:
        try:
            client = client_of()
            stream = ycsb.Stream(
                ycsb.WORKLOADS[workload],
                records,
                seed=1000 + index,
                next_insert=records + insert_from + index,
                stride=threads,
            )
            rng = random.Random(index)
            value = rng.randbytes(ycsb.FIELD_BYTES)
            ready.wait()
            mine = latencies[index]
            for _ in range(ops):
                op = stream.next()
                began = time.perf_counter()
                _do(client.table, op, value, rng)
                mine.append((time.perf_counter() - began) * 1000)
            client.close()
        except BaseException as exc:
            errors.append(exc)
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.abort()

    workers = [threading.Thread(target=loop, args=(i,), name=f"bench-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    flat = sorted(x for mine in latencies for x in mine)
    return len(flat) / elapsed, flat


def _result(
    workload: str,
    records: int,
    threads: int,
    ops: int,
    native: tuple[float, list[float]],
    thrift: tuple[float, list[float]],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "thrift",
        "workload": workload,
        "records": records,
        "threads": threads,
        "ops_per_thread": ops,
        "tls": not security.insecure(),
    }
    for name, (rate, latencies) in (("native", native), ("thrift", thrift)):
        out[f"{name}_ops_per_s"] = round(rate, 1)
        out[f"{name}_p50_ms"] = round(ycsb.percentile(latencies, 0.50), 3)
        out[f"{name}_p99_ms"] = round(ycsb.percentile(latencies, 0.99), 3)
    out["ratio"] = round(thrift[0] / native[0], 3) if native[0] else None
    out["target_ratio"] = TARGET_RATIO
    return out


__all__ = ["run"]
