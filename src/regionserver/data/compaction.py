"""Compaction of a region: removing for good the versions reads no longer see, while the region serves.

It works in place, in bounded write transactions, rather than rewriting the environment from a
snapshot. That is enough because of the rule in regionserver.data.versions: compaction removes exactly
the versions that no read returns (beyond max_versions, expired beyond min_versions, or of a family the
table no longer has; deletes already removed what they cover), so a read sees the same cells whether it
runs before, during or after a compaction: every read is consistent without coordination. And writes
are never lost: each step is an ordinary write transaction, fenced by the claim like any other, run on
the event loop between the writer's commits, so a write made during compaction lands either before a
step (and that step judges it with the others) or after (and stays).

LMDB reuses the pages freed this way for later writes; it does not give them back to the file system.
Shrinking the file (env.copy(compact=True) and a switch to the copy) is left for when it is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from regionserver.data import keys
from regionserver.data.ordered import OrderedCells
from regionserver.data.region_store import RegionStore
from regionserver.data.versions import columns, retained_count

STEP_CELLS = 10_000  # cells examined per write transaction: bounds how long a step holds the loop


@dataclass(slots=True)
class CompactionStats:
    steps: int = 0
    examined: int = 0
    removed: int = 0


def step(
    store: RegionStore, start: bytes, stats: CompactionStats, *, budget: int = STEP_CELLS
) -> bytes | None:
    """Compact whole columns from key `start` on, about `budget` cells, in one write transaction.
    The key to continue from, or None when the region is done."""
    resume: list[bytes | None] = [None]

    def body(txn: Any, cells: OrderedCells) -> None:
        now = store.clock()
        doomed: list[bytes] = []
        examined = 0
        for versions in columns(cells.items(start)):
            if examined >= budget:
                resume[0] = versions[0][0]
                break
            examined += len(versions)
            _, family_name, _, _ = keys.decode(versions[0][0])
            family = store.families.get(family_name)
            keep = 0 if family is None else retained_count(versions, family, now)
            doomed += [key for key, _ in versions[keep:]]
        for key in doomed:
            cells.delete(key)
        stats.examined += examined
        stats.removed += len(doomed)

    store.write_in(body)
    stats.steps += 1
    return resume[0]


def _steps(store: RegionStore, stats: CompactionStats, budget: int) -> Iterator[None]:
    """Run the steps of a whole compaction, pausing (yielding) after each."""
    if not store.exists:
        return
    store.flush()  # what the write-ahead log holds in memory is compacted too
    at: bytes | None = b""
    while at is not None:
        at = step(store, at, stats, budget=budget)
        yield


def compact(store: RegionStore, *, budget: int = STEP_CELLS) -> CompactionStats:
    """Compact the whole region now, step after step (no other task runs meanwhile)."""
    stats = CompactionStats()
    for _ in _steps(store, stats, budget):
        pass
    return stats


async def compact_while_serving(store: RegionStore, *, budget: int = STEP_CELLS) -> CompactionStats:
    """Compact the region step by step, yielding to the event loop (writers, readers) between steps."""
    stats = CompactionStats()
    for _ in _steps(store, stats, budget):
        await asyncio.sleep(0)
    return stats
