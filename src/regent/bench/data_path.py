"""`regent bench data-path`: the RegionServer's CPU per YCSB scan and per update, in process.

No cluster and no gRPC: one region store on a real LMDB environment, filled with YCSB records (10 fields
of 100 bytes), then

- scans as workload E sends them (a start row chosen by YCSB's zipfian distribution, 1 to 100 rows),
  through the code the RegionServer runs for OpenScanner: the request's ScanSpec converted
  (regionserver.data_proto), a Scanner registered with the Scanners, one reply's pieces read and turned
  into a serialized ScanResponse;
- updates as workload A sends them (one field of one record), from a serialized MutateRequest through
  the conversion and the region's RegionWriter (group commit, fsync'd), one caller at a time.

It prints the CPU time of each (process time: the fsyncs' waiting is not counted), so it measures what
bounds a loaded RegionServer on a shared machine, and `--profile DIR` writes a pyinstrument profile of
each part. `regent bench data` measures the same operations end to end on a real cluster.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meta import ServerName
from meta.types import ColumnFamily
from regent.bench import ycsb
from regent.proto import data_pb2
from regionserver import data_proto as convert
from regionserver.data import Scanner
from regionserver.data.environments import Claim, Environments
from regionserver.data.mutations import Put, RowMutation
from regionserver.data.region_store import RegionStore
from regionserver.data.writer import RegionWriter
from regionserver.data_service import scan_reply
from regionserver.scanners import Scanners

FAMILIES = {ycsb.FAMILY: ColumnFamily(ycsb.FAMILY.decode())}
LOAD_BATCH = 2000  # rows per load commit


def _fill(store: RegionStore, records: int, rng: random.Random) -> None:
    qualifiers = [c.split(b":", 1)[1] for c in ycsb.COLUMNS]
    for first in range(0, records, LOAD_BATCH):
        store.mutate(
            [
                RowMutation(
                    ycsb.key(n),
                    tuple(Put(ycsb.FAMILY, q, rng.randbytes(ycsb.FIELD_BYTES)) for q in qualifiers),
                )
                for n in range(first, min(records, first + LOAD_BATCH))
            ]
        )


def scan_once(
    store: RegionStore, scanners: Scanners, request: data_pb2.OpenScannerRequest
) -> tuple[bytes, int]:
    """What OpenScanner does for a scan without a filter, less the RPC: (the reply, its cells)."""
    spec = request.scan
    scan = convert.scan_of(spec, None)
    entry = scanners.add(1, 1, Scanner(store, scan), spec.batching, None)
    pieces = entry.next(convert.rows_per_reply(request.rows), convert.MAX_REPLY_BYTES)
    reply = scan_reply(entry, pieces)
    scanners.close(entry.scanner_id)
    return reply.SerializeToString(), sum(len(p.cells) for p in pieces)


def _scan_requests(records: int, scans: int, rng: random.Random) -> list[data_pb2.OpenScannerRequest]:
    chooser = ycsb.ScrambledZipfian(records)
    out = []
    for _ in range(scans):
        length = rng.randint(1, ycsb.MAX_SCAN_LENGTH)
        spec = data_pb2.ScanSpec(start_row=ycsb.key(chooser.next(rng)), limit=length)
        out.append(data_pb2.OpenScannerRequest(region_id=1, scan=spec, rows=length))
    return out


def _update_requests(records: int, updates: int, rng: random.Random) -> list[bytes]:
    chooser = ycsb.ScrambledZipfian(records)
    out = []
    for _ in range(updates):
        field = rng.randrange(ycsb.FIELDS)
        request = data_pb2.MutateRequest()
        part = request.regions.add(region_id=1)
        part.rows.add(
            row=ycsb.key(chooser.next(rng)),
            mutations=[
                data_pb2.Mutation(
                    kind=data_pb2.Mutation.PUT,
                    family=ycsb.FAMILY,
                    qualifier=b"field%d" % field,
                    value=rng.randbytes(ycsb.FIELD_BYTES),
                )
            ],
        )
        out.append(request.SerializeToString())
    return out


async def _updates(store: RegionStore, requests: list[bytes]) -> None:
    writer = RegionWriter(store)
    writer.start()
    for raw in requests:
        request = data_pb2.MutateRequest.FromString(raw)
        for part in request.regions:
            writes = [convert.row_mutation_of(r.row, r.mutations) for r in part.rows]
            await writer.mutate(writes)
        data_pb2.MutateResponse(regions=[data_pb2.RegionOutcome(region_id=1)]).SerializeToString()
    await writer.stop()


def _timed(body: Callable[[], Any], profile: Path | None, name: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `body`, profiled into `profile`/`name`.html if asked."""
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    cpu, wall = time.process_time(), time.perf_counter()
    body()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.mkdir(parents=True, exist_ok=True)
        (profile / f"{name}.html").write_text(profiler.output_html())
        (profile / f"{name}.txt").write_text(profiler.output_text(unicode=False, color=False))
    return cpu, wall


def run(
    records: int = 20_000,
    scans: int = 1000,
    updates: int = 1000,
    *,
    seed: int = 1,
    rounds: int = 3,
    directory: Path | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Measure; one JSON-able dict."""
    rng = random.Random(seed)
    scan_requests = _scan_requests(records, scans, rng)
    update_requests = _update_requests(records, updates, rng)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        store = RegionStore(
            Path(tmp) / "region",
            Claim(ServerName("bench", 1, 1), 1),
            FAMILIES,
            environments=Environments(4),
        )
        _fill(store, records, rng)
        scanners = Scanners()
        cells = 0

        def scan_all() -> None:
            nonlocal cells
            cells = 0
            for request in scan_requests:
                cells += scan_once(store, scanners, request)[1]

        # The fastest of `rounds` rounds of the same scans: the machine is shared, and what others run
        # only ever adds to a round's CPU time (caches, the scheduler), never takes from it.
        scan_cpu, scan_wall = min(_timed(scan_all, profile, "scans") for _ in range(rounds))
        update_cpu, update_wall = _timed(
            lambda: asyncio.run(_updates(store, update_requests)), profile, "updates"
        )
        store.environments.close_all()
    return {
        "benchmark": "data-path",
        "records": records,
        "scans": scans,
        "scans_per_cpu_s": round(scans / scan_cpu),
        "scan_cpu_ms": round(scan_cpu / scans * 1000, 3),
        "scan_cpu_us_per_cell": round(scan_cpu / max(1, cells) * 1e6, 3),
        "cells_per_scan": round(cells / scans, 1),
        "scans_wall_s": round(scan_wall, 3),
        "updates": updates,
        "update_cpu_ms": round(update_cpu / updates * 1000, 3),
        "updates_per_s": round(updates / update_wall),
    }
