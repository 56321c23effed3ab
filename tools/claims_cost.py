"""What the opens of N existing region stores cost, as an open order claims them (docs/decisions.md, "A
RegionServer's opens off its event loop"): the parts of one claim summed over N stores (LMDB's open, the
claim's commit and fsync, the REFERENCES read), then `Stores.claim_existing` over all N with 0 (one after
another, as the event loop did), 1, 2, 4 and 8 threads. One JSON line; a measurement, not a benchmark.

    .venv/bin/python tools/claims_cost.py [N]      # N = 1000 by default
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from meta import ColumnFamily, ServerName
from regionserver.data import Claim, Put, RegionStore, RowMutation, families_of, parents
from regionserver.data.environments import Environments, RegionEnvironment, region_dir
from regionserver.data.region_store import PROCESS_ENVIRONMENTS
from regionserver.hosting import HostedRegion
from regionserver.store import Stores

FAMILIES = families_of([ColumnFamily("f")])
THREADS = (0, 1, 2, 4, 8)
RUNS = 2


def write_stores(root: Path, n: int) -> None:
    """N stores of table t, each written once (one 100-byte cell) by an earlier owner."""
    envs = Environments(capacity=n + 1)
    for rid in range(n):
        store = RegionStore(
            region_dir(root, "t", rid), Claim(ServerName("h", 1, 1), 1), FAMILIES, environments=envs
        )
        store.mutate([RowMutation(b"r%d" % rid, (Put(b"f", b"q", b"v" * 100),))])
    envs.close_all()


def parts(root: Path, n: int, seq: int) -> dict[str, float]:
    claim = Claim(ServerName("h", 2, 2), seq)
    spent = {"references_read": 0.0, "lmdb_open": 0.0, "claim_commit": 0.0}
    for rid in range(n):
        path = region_dir(root, "t", rid)
        a = time.perf_counter()
        parents.read(RegionStore(path, claim, FAMILIES))
        b = time.perf_counter()
        env = RegionEnvironment.open(path, create=False)
        c = time.perf_counter()
        env.claim(claim)
        d = time.perf_counter()
        env.close()
        spent["references_read"] += b - a
        spent["lmdb_open"] += c - b
        spent["claim_commit"] += d - c
    return {k: round(v, 3) for k, v in spent.items()}


def claims(root: Path, n: int, seq: int, threads: int) -> float:
    stores = Stores(root, ServerName("h", 3, seq))
    regions = [HostedRegion(rid, "t", b"", b"", seq, 1, FAMILIES) for rid in range(n)]
    started = time.perf_counter()
    if threads == 0:
        for region in regions:
            stores.claim_existing(region)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(stores.claim, regions))
    seconds = time.perf_counter() - started
    PROCESS_ENVIRONMENTS.close_all()
    return round(seconds, 3)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    root = Path(tempfile.mkdtemp(prefix="regent-claims-cost-"))
    try:
        write_stores(root, n)
        result: dict[str, object] = {"stores": n, "parts_seconds": parts(root, n, 2)}
        seq = 10
        for _ in range(RUNS):
            for threads in THREADS:
                seq += 1
                key = f"claims_seconds_threads_{threads}"
                runs = result.setdefault(key, [])
                assert isinstance(runs, list)
                runs.append(claims(root, n, seq, threads))
        print(json.dumps(result))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
