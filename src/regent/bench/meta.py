"""`regent bench meta`: region-state transitions through the single writer versus raw LMDB putmulti.

Many concurrent callers (as the master's report handlers are, one per RegionServer stream) each submit
batches of contiguous region_state rows and await their durability. The floor writes the very same rows in
the very same batches with bare `putmulti`, committing as many batches per transaction as the writer managed
to group, with no asyncio and no state machine. A third figure runs the whole master-side path: state
machine check, row encoding, writer.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meta import MetaStore, MetaWriter, RegionState, RegionStateRow, ServerName, TransitKind, WriteBatch, keys
from meta.codec import encode_region_state
from meta.states import transition

Rows = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class _Region:
    region_id: int
    state: RegionState


def _servers(callers: int) -> list[ServerName]:
    return [ServerName("127.0.0.1", 16020 + i, 1_700_000_000_000 + i) for i in range(callers)]


def _batches(regions: int, callers: int, batch: int) -> list[list[Rows]]:
    """Per caller, its batches of encoded OPENING rows over a contiguous id range."""
    per_caller = -(-regions // callers)
    out: list[list[Rows]] = []
    for c, server in enumerate(_servers(callers)):
        lo, hi = c * per_caller, min(regions, (c + 1) * per_caller)
        rows = [
            (
                keys.u64(i),
                encode_region_state(
                    RegionStateRow(RegionState.OPENING, server, i + 1, TransitKind.ASSIGN, i + 1)
                ),
            )
            for i in range(lo, hi)
        ]
        out.append([rows[s : s + batch] for s in range(0, len(rows), batch)])
    return out


def _fresh_store(root: Path, name: str, regions: int) -> MetaStore:
    """A meta holding `regions` OFFLINE rows: the transitions below overwrite them, as assignment does."""
    store = MetaStore.open(root / name)
    offline = encode_region_state(RegionStateRow(RegionState.OFFLINE))
    rows = [(keys.u64(i), offline) for i in range(regions)]
    for s in range(0, regions, 100_000):
        store.bootstrap_write(WriteBatch().put_many("region_state", rows[s : s + 100_000]))
    return store


async def _through_writer(store: MetaStore, per_caller: list[list[Rows]]) -> tuple[float, MetaWriter]:
    writer = MetaWriter(store)
    writer.start()

    async def caller(batches: list[Rows]) -> None:
        for rows in batches:
            await writer.write(WriteBatch().put_many("region_state", rows))

    started = time.perf_counter()
    await asyncio.gather(*(caller(b) for b in per_caller))
    elapsed = time.perf_counter() - started
    await writer.stop()
    return elapsed, writer


def _floor(store: MetaStore, per_caller: list[list[Rows]], group: int) -> float:
    """The same batches, interleaved as the callers would be, `group` batches per transaction."""
    env, db = store._env, store._dbs["region_state"]  # the floor is bare LMDB on purpose
    interleaved = [b for round_ in _rounds(per_caller) for b in round_]
    started = time.perf_counter()
    for s in range(0, len(interleaved), group):
        with env.begin(write=True) as txn:
            cursor = txn.cursor(db=db)
            for rows in interleaved[s : s + group]:
                cursor.putmulti(rows)
    return time.perf_counter() - started


def _rounds(per_caller: list[list[Rows]]) -> list[list[Rows]]:
    depth = max(len(b) for b in per_caller)
    return [[b[i] for b in per_caller if i < len(b)] for i in range(depth)]


async def _pipeline(store: MetaStore, regions: int, callers: int, batch: int) -> float:
    """State machine + encoding + writer, as the master's assignment does it."""
    writer = MetaWriter(store)
    writer.start()
    servers = _servers(callers)
    per_caller = -(-regions // callers)

    async def caller(c: int) -> None:
        server = servers[c]
        lo, hi = c * per_caller, min(regions, (c + 1) * per_caller)
        nodes = [_Region(i, RegionState.OFFLINE) for i in range(lo, hi)]
        for s in range(0, len(nodes), batch):
            rows = []
            for node in nodes[s : s + batch]:
                transition(node, RegionState.OPENING)
                row = RegionStateRow(
                    node.state, server, node.region_id + 1, TransitKind.ASSIGN, node.region_id + 1
                )
                rows.append((keys.u64(node.region_id), encode_region_state(row)))
            await writer.write(WriteBatch().put_many("region_state", rows))

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - started
    await writer.stop()
    return elapsed


def run(regions: int, callers: int, batch: int, workdir: Path | None = None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-meta-", dir=workdir))
    try:
        per_caller = _batches(regions, callers, batch)
        store = _fresh_store(root, "writer", regions)
        writer_s, writer = asyncio.run(_through_writer(store, per_caller))
        store.close()
        group = max(1, round(writer.stats.batches / max(1, writer.stats.commits)))
        store = _fresh_store(root, "floor", regions)
        floor_s = _floor(store, per_caller, group)
        store.close()
        store = _fresh_store(root, "pipeline", regions)
        pipeline_s = asyncio.run(_pipeline(store, regions, callers, batch))
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "meta",
        "regions": regions,
        "callers": callers,
        "batch": batch,
        "writer_seconds": round(writer_s, 3),
        "writer_transitions_per_s": round(regions / writer_s),
        "commits": writer.stats.commits,
        "rows_per_commit": round(writer.stats.rows / max(1, writer.stats.commits)),
        "floor_seconds": round(floor_s, 3),
        "floor_transitions_per_s": round(regions / floor_s),
        "ratio_to_floor": round(floor_s / writer_s, 3),
        "pipeline_seconds": round(pipeline_s, 3),
        "pipeline_transitions_per_s": round(regions / pipeline_s),
    }
