"""The fold: copying a child's referenced cells into its own store while it serves (DESIGN §11).

A split daughter or merged child reads its parents' stores through regionserver.data.layered until its
own store holds every cell it needs. The fold walks the referenced cells (each parent clipped to its
reference, minus the masked keys: the child's deletes) and copies those the own store does not hold yet,
in bounded write transactions fenced by the claim like any write, yielding to the event loop between
steps (as compaction does). It changes no read: the layered view shows an own cell first on an equal key,
and a copied cell is the parent's cell itself. Writes, deletes and scans go on between steps: a delete of
a cell not copied yet masks it (the fold skips it), one of a copied cell removes it from the own store and
masks it too.

When every cell is copied, the REFERENCES file is removed (atomically and durably: from then on nothing
names the parents, and the janitor may remove them), the store stops reading the parents, and the masked
keys are forgotten. In that order: a crash before the removal leaves REFERENCES and the masked keys, and
the next open folds again from the start (copies are idempotent); a crash after it leaves masked keys that
nothing reads.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from meta import references
from regionserver.data.layered import LayeredCells
from regionserver.data.region_store import RegionStore

STEP_CELLS = 10_000  # referenced cells examined per write transaction: bounds how long a step holds the loop
#: ... and bytes of them: a step of 10,000 cells of 1 KB wrote 10 MB and held the loop ~300 ms (measured in
#: bench split: the daughters' OPENED reports waited behind the first steps, and so did every client).
STEP_BYTES = 1 << 20


@dataclass(slots=True)
class FoldStats:
    steps: int = 0
    examined: int = 0
    copied: int = 0
    done: bool = False


def step(store: RegionStore, start: bytes, stats: FoldStats, *, budget: int = STEP_CELLS) -> bytes | None:
    """Copy up to `budget` referenced cells from key `start` on, in one write transaction. The key to
    continue from, or None when every referenced cell was examined."""

    def body(cells: LayeredCells) -> bytes | None:
        own = cells.own
        assert own is not None, "fold_in gives the own store"
        missing: list[tuple[bytes, bytes]] = []
        resume: bytes | None = None
        examined = size = 0
        for key, value in cells.parent_items(start):
            if examined >= budget or size >= STEP_BYTES:
                resume = key
                break
            examined += 1
            size += len(key) + len(value)
            if own.get(key) is None:
                missing.append((key, value))
        for key, value in missing:  # written after the walk: never through a transaction being iterated
            own.put(key, value)
        stats.examined += examined
        stats.copied += len(missing)
        return resume

    resume = store.fold_in(body)
    stats.steps += 1
    return resume


def finish(store: RegionStore) -> None:
    """Every referenced cell is in the own store: remove REFERENCES, stop reading the parents, forget the
    masked keys. The parents' nonce records of the child's rows are copied first (data.nonces)."""
    store.adopt_parent_nonces()
    references.remove(store.path)
    parents, store.parents = store.parents, ()
    store.clear_masked()
    for parent in parents:  # its map is not needed here any more (a sibling that still reads it reopens it)
        store.environments.close(parent.path)


def fold(store: RegionStore, *, budget: int = STEP_CELLS) -> FoldStats:
    """Fold the whole region now, step after step (no other task runs meanwhile)."""
    stats = FoldStats()
    at: bytes | None = b""
    while store.parents and at is not None:
        at = step(store, at, stats, budget=budget)
    if store.parents:
        finish(store)
    stats.done = True
    return stats


async def fold_while_serving(
    store: RegionStore, *, budget: int = STEP_CELLS, start_after_s: float = 0.0, share: float = 1.0
) -> FoldStats:
    """Fold the region step by step, yielding to the event loop (writers, readers) between steps. A
    cancelled fold (the region closes) leaves REFERENCES: the next open folds again.

    Background work gives way to serving: the fold starts `start_after_s` after the open (the OPENED report
    and the clients that waited for the region go first) and takes at most `share` of the loop's time (after
    a step it rests for as long as the step took, times (1 - share) / share)."""
    stats = FoldStats()
    at: bytes | None = b""
    rest = (1.0 - share) / share if 0 < share < 1 else 0.0
    if start_after_s > 0:
        await asyncio.sleep(start_after_s)
    clock = time.monotonic
    while store.parents and at is not None:
        began = clock()
        at = step(store, at, stats, budget=budget)
        await asyncio.sleep((clock() - began) * rest)
    if store.parents:
        finish(store)
    stats.done = True
    return stats
