"""`regent bench split`: a region of at least 1 GB of cells split under a read/write load.

1. A master and RegionServers start on a fresh ROOTDIR (mutual TLS unless --insecure); table `splitbench`
   is created with one region and one family.
2. The region's store is filled straight through LMDB while its table is disabled (a gigabyte through the
   data RPCs would take minutes and measure the load, not the split), then the table is enabled again: the
   region opens with the data, claimed by its RegionServer as any store is.
3. Client threads read and write random rows of the region through the SDK, closed loop, for the whole run.
   After a warm-up, `admin.split(region)` splits it at its middle row; the call returns when both daughters
   are open. A few seconds of load follow.
4. Printed: the region's size, the split's seconds, and how long client calls waited because of the split:
   the latencies of the calls that overlapped the split (p99 and max), beside the same figures of the calls
   before it. A split serves from references (DESIGN §11), so what a client waits for is a close, one meta
   transaction and two opens, whatever the region's size. The fold of each daughter (copying its half in the
   background) is timed too, until no REFERENCES file is left.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meta import ServerName, references
from meta.types import ColumnFamily
from regent.bench import security, ycsb
from regent.bench.assign import _stub, _wait_active, start_master, start_regionservers
from regent.supervise import Children, free_ports
from regionserver.data.environments import Claim, Environments, region_dir
from regionserver.data.mutations import Put, RowMutation
from regionserver.data.region_store import RegionStore

TABLE = "splitbench"
FAMILY = b"cf"
VALUE_BYTES = 1000
ROWS_PER_TXN = 5_000
WARMUP_S = 2.0
AFTER_S = 3.0


def row_key(i: int) -> bytes:
    return b"row%010d" % i


def fill(path: Path, target_bytes: int, seed: int) -> tuple[int, int]:
    """Write rows of one VALUE_BYTES cell into the store at `path` until it holds `target_bytes` of cells.
    Returns (rows, bytes of cells written)."""
    rng = random.Random(seed)
    value = rng.randbytes(VALUE_BYTES)
    families = {FAMILY: ColumnFamily("cf")}
    environments = Environments(capacity=1)
    store = RegionStore.open(
        path, Claim(ServerName("bench-loader", 1, 1), 1), families, create=True, environments=environments
    )
    rows = written = 0
    try:
        while written < target_bytes:
            batch = [RowMutation(row_key(rows + i), (Put(FAMILY, b"q", value),)) for i in range(ROWS_PER_TXN)]
            store.mutate(batch)
            rows += ROWS_PER_TXN
            written += ROWS_PER_TXN * (len(row_key(0)) + len(FAMILY) + 1 + VALUE_BYTES)
    finally:
        store.close()
        environments.close_all()
    return rows, written


@dataclass
class Calls:
    """Every client call: when it started (monotonic) and how long it took (ms)."""

    started: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client_loop(table: Any, rows: int, seed: int, stop: threading.Event, calls: Calls) -> None:
    rng = random.Random(seed)
    value = rng.randbytes(VALUE_BYTES)
    clock = time.monotonic
    while not stop.is_set():
        row = row_key(rng.randrange(rows))
        started = clock()
        try:
            if rng.random() < 0.5:
                table.row(row)
            else:
                table.put(row, {b"cf:q": value})
        except Exception as exc:  # reported: a call that failed is what the bench must not hide
            with calls.lock:
                calls.errors.append(repr(exc)[:300])
            continue
        elapsed = (clock() - started) * 1000
        with calls.lock:
            calls.started.append(started)
            calls.ms.append(elapsed)


def _summary(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    if not ordered:
        return 0.0, 0.0
    return round(ycsb.percentile(ordered, 0.99), 1), round(ordered[-1], 1)


def run(
    *, region_bytes: int = 1 << 30, servers: int = 2, threads: int = 4, seed: int = 1, quiet: bool = False
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-split-"))
    cluster_root = root / "cluster"
    try:
        ports = free_ports(servers + 2)
        master = f"127.0.0.1:{ports[0]}"
        with Children(root / "logs") as children:
            start_regionservers(children, cluster_root, master, ports[2 : 2 + servers])
            start_master(children, cluster_root, ports[0], servers)
            _wait_active(_stub(master), children, 60)
            import regent

            with regent.connect(master, **security.connect_options()) as connection:
                admin = connection.admin()
                # A threshold far above the region: the split measured is the bench's, not an automatic one.
                admin.create_table(
                    TABLE, {"cf": {"max_versions": 1}}, max_region_size=64 * region_bytes, timeout=60
                )
                (region,) = admin.table_regions(TABLE)
                admin.disable_table(TABLE, timeout=60)
                _say(quiet, f"filling region {region.region_id} with {region_bytes:,} bytes of cells ...")
                began = time.monotonic()
                rows, written = fill(region_dir(cluster_root, TABLE, region.region_id), region_bytes, seed)
                fill_s = time.monotonic() - began
                admin.enable_table(TABLE, timeout=120)
                table = connection.table(TABLE)
                calls, stop = Calls(), threading.Event()
                workers = [
                    threading.Thread(
                        target=_client_loop, args=(table, rows, seed + i, stop, calls), daemon=True
                    )
                    for i in range(threads)
                ]
                for w in workers:
                    w.start()
                time.sleep(WARMUP_S)  # a measured warm-up of the load, not a wait for a condition
                _say(quiet, "splitting ...")
                split_start = time.monotonic()
                proc_ids = admin.split(region.region_id, timeout=120)
                split_end = time.monotonic()
                daughters = [r for r in admin.table_regions(TABLE) if r.region_id != region.region_id]
                folds: list[float | None] = []
                watcher = threading.Thread(
                    target=lambda: folds.append(
                        _wait_folds(cluster_root, [d.region_id for d in daughters], split_end)
                    ),
                    daemon=True,
                )
                watcher.start()
                time.sleep(AFTER_S)  # load after the split, measured
                stop.set()
                for w in workers:
                    w.join(timeout=60)
                _say(quiet, "waiting for the daughters' folds ...")
                watcher.join(timeout=600)
                fold_s = folds[0] if folds else None
                children.check()
        with calls.lock:
            pairs = list(zip(calls.started, calls.ms, strict=True))
        during = [ms for s, ms in pairs if s <= split_end and s + ms / 1000 >= split_start]
        before = [ms for s, ms in pairs if s + ms / 1000 < split_start]
        p99, worst = _summary(during)
        before_p99, before_max = _summary(before)
        return {
            "benchmark": "split",
            "region_bytes": written,
            "rows": rows,
            "unavailable_ms_p99": p99,
            "unavailable_ms_max": worst,
            "calls_during_split": len(during),
            "before_ms_p99": before_p99,
            "before_ms_max": before_max,
            "split_seconds": round(split_end - split_start, 3),
            "fold_seconds": fold_s,
            "fill_seconds": round(fill_s, 1),
            "client_calls": len(pairs),
            "client_errors": len(calls.errors),
            "first_error": calls.errors[0] if calls.errors else None,
            "procedures": proc_ids,
            "daughters": len(daughters),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_folds(rootdir: Path, daughters: list[int], since: float) -> float | None:
    """Seconds from the split's end until no daughter has a REFERENCES file (None past 600 s)."""
    deadline = since + 600
    while time.monotonic() < deadline:
        if all(references.read(region_dir(rootdir, TABLE, d)) is None for d in daughters):
            return round(time.monotonic() - since, 2)
        time.sleep(0.05)
    return None


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)
