"""`regent verify linked-list`'s I/O: writing the lists of regent.verify.linked_list through the SDK's
Table, scanning them back in parallel across regions, and walking one list.

A node is the row `key` with one cell, `ll:prev` (its predecessor's key; empty for a first-batch node
before the circles close) and `ll:writer` (`writer:count`, for reports). A writer sends each batch of
`width` nodes in one batched put (one parallel call per RegionServer) and only starts the next once it is
acknowledged, so a node is never written before the node it names. A batch the cluster could not take
within the call's deadline (a DataTimeout while regions move or servers die) is sent again: the same
values, so repeating it is harmless; each repeat is counted as a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from regent.verify.linked_list import Node, Tally, Walk, walk, writer_batches

if TYPE_CHECKING:
    from client.connection import Connection
    from client.table import Table

FAMILY = "ll"
PREV = b"ll:prev"
WRITER = b"ll:writer"


@dataclass(slots=True)
class WriteStats:
    """What the writers did, shared between their threads (under `lock`)."""

    nodes: int = 0
    batches: int = 0
    retries: int = 0
    longest_batch_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set when a writer failed or the run was interrupted: the other writers stop at their next batch.
    stop: threading.Event = field(default_factory=threading.Event)

    def batch_done(self, nodes: int, retries: int, took: float) -> None:
        with self.lock:
            self.nodes += nodes
            self.batches += 1
            self.retries += retries
            self.longest_batch_s = max(self.longest_batch_s, took)


def ensure_table(connection: Connection, name: str, regions: int) -> bool:
    """Create table `name` with family `ll` and `regions` regions spread over the key space if it does
    not exist; True if it was created. An existing table must have the family."""
    from client.errors import TableExists, TableNotFound

    admin = connection.admin()
    try:
        description = admin.describe_table(name)
    except TableNotFound:
        pass
    else:
        families = {f.name for f in description.families}
        if FAMILY not in families:
            raise ValueError(f"table {name!r} exists without family {FAMILY!r} (it has {sorted(families)})")
        return False
    try:
        admin.create_table(name, [FAMILY], num_regions=regions)
    except TableExists:
        return False  # another generator created it meanwhile
    return True


def write_list(
    table: Table,
    seed: int,
    writer: int,
    width: int,
    batches: int,
    stats: WriteStats,
    attempts: int,
    on_batch: Callable[[int], None] = lambda n: None,
) -> None:
    """Writer `writer`'s lists, batch after batch; a batch that timed out is sent again, up to
    `attempts` times in all (then its DataTimeout is raised)."""
    from client.errors import DataTimeout

    try:
        for nodes in writer_batches(seed, writer, width, batches):
            if stats.stop.is_set():
                return
            started = time.monotonic()
            for attempt in range(attempts):
                try:
                    _put_nodes(table, nodes)
                except DataTimeout:
                    if attempt + 1 == attempts:
                        raise
                    continue
                stats.batch_done(len(nodes), attempt, time.monotonic() - started)
                break
            on_batch(len(nodes))
    except BaseException:
        stats.stop.set()
        raise


def _put_nodes(table: Table, nodes: list[Node]) -> None:
    with table.batch() as batch:
        for node in nodes:
            batch.put(
                node.key,
                {PREV: node.prev or b"", WRITER: f"{node.writer}:{node.count}".encode()},
            )


def generate(
    table: Table,
    seed: int,
    writers: int,
    width: int,
    batches: int,
    attempts: int,
    on_batch: Callable[[int], None] = lambda n: None,
) -> WriteStats:
    """Run `writers` writers in threads (the work is the RPCs, which release the GIL) until each has
    written and closed its lists. A writer's error stops the others at their next batch and is raised
    once all have stopped; so does Ctrl-C."""
    stats = WriteStats()
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="ll-writer") as pool:
        futures = [
            pool.submit(write_list, table, seed, w, width, batches, stats, attempts, on_batch)
            for w in range(writers)
        ]
        try:
            for future in futures:
                future.exception()  # wait, interruptibly (Ctrl-C)
        except BaseException:
            stats.stop.set()  # the writers end at their next batch, and the pool's exit waits for them
            raise
    for future in futures:
        future.result()
    return stats


@dataclass(frozen=True, slots=True)
class ScanResult:
    tally: Tally
    regions: int
    rows: int


def scan_all(table: Table, parallel: int, on_rows: Callable[[int], None] = lambda n: None) -> ScanResult:
    """Every node of the table, one scan per region's key range (table.regions()), `parallel` at a
    time, each feeding its own Tally; merged at the end. A range whose region splits, merges or moves
    during the scan is still read whole: the Scanner follows the range across regions."""
    ranges = [(r["start_key"], r["end_key"]) for r in table.regions()]

    def scan_range(bounds: tuple[bytes, bytes]) -> tuple[Tally, int]:
        tally = Tally()
        rows = 0
        start, stop = bounds
        for key, data in table.scan(row_start=start, row_stop=stop or None, columns=[PREV]):
            tally.add(key, data.get(PREV) or None)
            rows += 1
            if rows % 1000 == 0:
                on_rows(1000)
        on_rows(rows % 1000)
        return tally, rows

    total = Tally()
    rows = 0
    with ThreadPoolExecutor(
        max_workers=max(1, min(parallel, len(ranges))), thread_name_prefix="ll-scan"
    ) as pool:
        for part, n in pool.map(scan_range, ranges):
            total.merge(part)
            rows += n
    return ScanResult(total, len(ranges), rows)


def first_key(table: Table) -> bytes | None:
    """The table's first row: a node to start a walk from when none is given."""
    for key, _ in table.scan(columns=[PREV], limit=1):
        return key
    return None


def walk_from(table: Table, start: bytes, limit: int, on_step: Callable[[], None] = lambda: None) -> Walk:
    """Follow predecessors from `start`, one row read per step."""

    def prev_of(key: bytes) -> bytes | None:
        on_step()
        row = table.row(key, columns=[PREV])
        if not row:
            raise KeyError(key)
        return row.get(PREV) or None

    return walk(prev_of, start, limit)


__all__ = [
    "FAMILY",
    "PREV",
    "WRITER",
    "ScanResult",
    "WriteStats",
    "ensure_table",
    "first_key",
    "generate",
    "scan_all",
    "walk_from",
    "write_list",
]
