"""Where a region splits: its middle row by size, and how big its store is.

The middle row is the row holding the byte where the running sum of cell bytes (key and value) passes
half of the total: two walks over the keys and value lengths, the second stopping at the middle. Each walk
reads a bounded chunk of entries per read transaction and yields to the event loop between chunks, as
compaction does, rather than one long transaction in a thread: an environment may be closed by the loop
(the LRU of regionserver.data.environments, a region's close) at any moment no transaction of the loop is
open, so a thread holding one would read a closed map. Successive chunks are separate snapshots: writes in
between move the middle a little, which a split point may ignore. docs/decisions.md has what a 1 GB region
costs.
"""

from __future__ import annotations

import asyncio

from regionserver.data import keys
from regionserver.data.ordered import first_key, lmdb_key
from regionserver.data.region_store import RegionStore

CHUNK_ENTRIES = 20_000  # LMDB entries per read transaction
#: ... and bytes of them: 20,000 entries of 1 KB held the loop ~300 ms on a loaded machine (bench split: the
#: clients of the region being split waited that long per chunk, while it still served).
CHUNK_BYTES = 2 << 20


def cells_bytes(store: RegionStore) -> int:
    """The size of the store's cells as LMDB accounts it (pages in use x page size; one stat, no walk);
    0 for a region without a store."""
    if not store.exists:
        return 0
    env = store.environment()
    with env.env.begin() as txn:
        stat = txn.stat(env.cells_db)
    return int((stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]) * stat["psize"])


def _walk(
    store: RegionStore, start: bytes, budget: int, half: int | None, total: int
) -> tuple[int, bytes | None, bytes | None, bytes | None]:
    """Sum entries from LMDB key `start` on, at most `budget`. Returns (running total, the LMDB key to go
    on from or None at the end, the first row seen, the middle row once `half` is passed)."""
    env = store.environment()
    first_row: bytes | None = None
    limit = total + CHUNK_BYTES
    with env.env.begin(buffers=True) as txn:
        cursor = txn.cursor(db=env.cells_db)
        if not cursor.set_range(start):
            return total, None, None, None
        for n, (stored, raw) in enumerate(cursor):
            if n >= budget or total >= limit:
                return total, bytes(stored), first_row, None
            if first_row is None:
                first_row = keys.decode(first_key(bytes(stored), bytes(raw)))[0]
            total += len(stored) + len(raw)
            if half is not None and total > half:
                return total, None, first_row, keys.decode(first_key(bytes(stored), bytes(raw)))[0]
    return total, None, first_row, None


async def middle_row(store: RegionStore, *, budget: int = CHUNK_ENTRIES) -> tuple[bytes | None, int]:
    """(the region's middle row by size, or None when it has fewer than two rows; the cells' bytes)."""
    if not store.exists:
        return None, 0
    total = 0
    at: bytes | None = b""
    first: bytes | None = None
    while at is not None:
        total, at, seen, _ = _walk(store, at, budget, None, total)
        first = first if first is not None else seen
        await asyncio.sleep(0)
    if first is None:
        return None, 0
    running, at = 0, b""
    middle: bytes | None = None
    while at is not None and middle is None:
        running, at, _, middle = _walk(store, at, budget, total // 2, running)
        await asyncio.sleep(0)
    if middle is None or middle == first:
        # The middle byte is in the first row: split after it, at the next row, if there is one.
        middle = _row_after(store, first)
    return middle, total


def _row_after(store: RegionStore, row: bytes) -> bytes | None:
    """The first row after `row` (one seek: the rows after it start at keys.row_end)."""
    env = store.environment()
    with env.env.begin(buffers=True) as txn:
        cursor = txn.cursor(db=env.cells_db)
        if not cursor.set_range(lmdb_key(keys.row_end(row))):
            return None
        for stored, raw in cursor:
            candidate = keys.decode(first_key(bytes(stored), bytes(raw)))[0]
            if candidate > row:
                return candidate
    return None
