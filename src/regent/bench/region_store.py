"""`regent bench region-store`: the region store's write path, in process, on a real LMDB environment.

It answers one design question (docs/decisions.md, "Region store (issue 8)"): should a region's writer
run on the event loop's thread, as meta's does, or in a thread of its own? Both writers group-commit the
same workload (concurrent callers, one row each, awaiting durability) while the event loop also runs
busy tasks standing in for gRPC handlers. It also measures the commit rate of a single caller and the
cell rate of one large batched put.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data.environments import Claim, Environments
from regionserver.data.mutations import Outcome, Put, RowMutation, Write
from regionserver.data.region_store import RegionStore
from regionserver.data.writer import RegionWriter

FAMILIES = {b"f": ColumnFamily("f")}
VALUE = bytes(100)  # YCSB's field size


class ThreadWriter:
    """The alternative: the same group commit, with each commit run in one dedicated thread."""

    def __init__(self, store: RegionStore) -> None:
        self.store = store
        self._queue: list[tuple[Sequence[Write], asyncio.Future[list[Outcome]]]] = []
        self._wakeup = asyncio.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def mutate(self, rows: Sequence[RowMutation]) -> list[Outcome]:
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.append((rows, future))
        self._wakeup.set()
        return await future

    async def stop(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._pool.shutdown()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group, self._queue = self._queue, []
                every = [w for writes, _ in group for w in writes]
                outcomes = await loop.run_in_executor(self._pool, self.store.apply, every)
                at = 0
                for writes, future in group:
                    future.set_result(outcomes[at : at + len(writes)])
                    at += len(writes)
            if self._closed:
                return


def _store(directory: Path, name: str) -> RegionStore:
    return RegionStore(
        directory / name, Claim(ServerName("bench", 1, 1), 1), FAMILIES, environments=Environments(4)
    )


async def _concurrent(
    store: RegionStore, writer: Any, callers: int, rounds: int, cells: int
) -> dict[str, float]:
    stop = asyncio.Event()

    async def busy() -> None:  # a gRPC handler's worth of Python between awaits
        while not stop.is_set():
            sum(range(3000))
            await asyncio.sleep(0)

    async def caller(n: int) -> None:
        for r in range(rounds):
            row = b"caller-%04d-round-%06d" % (n, r)
            await writer.mutate([RowMutation(row, tuple(Put(b"f", b"c%d" % c, VALUE) for c in range(cells)))])

    writer.start()
    handlers = [asyncio.create_task(busy()) for _ in range(4)]
    commits = store.commits
    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*handlers)
    await writer.stop()
    writes = callers * rounds
    return {
        "writes_per_second": round(writes / elapsed),
        "cells_per_second": round(writes * cells / elapsed),
        "commits_per_second": round((store.commits - commits) / elapsed),
        "writes_per_commit": round(writes / max(1, store.commits - commits), 1),
    }


def run(
    directory: Path | None = None,
    *,
    callers: int = 50,
    rounds: int = 40,
    cells: int = 10,
    batch_rows: int = 10_000,
    single: int = 500,
) -> dict[str, Any]:
    """Measure; return one JSON-able dict (the figures docs/decisions.md quotes)."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        root = Path(tmp)
        loop_store, thread_store = _store(root, "loop"), _store(root, "thread")
        on_loop = asyncio.run(_concurrent(loop_store, RegionWriter(loop_store), callers, rounds, cells))
        in_thread = asyncio.run(_concurrent(thread_store, ThreadWriter(thread_store), callers, rounds, cells))

        one = _store(root, "single")
        started = time.perf_counter()
        for n in range(single):
            one.mutate([RowMutation(b"row-%06d" % n, (Put(b"f", b"c", VALUE),))])
        single_rate = single / (time.perf_counter() - started)

        batched = _store(root, "batched")
        rows = [
            RowMutation(b"row-%08d" % n, tuple(Put(b"f", b"c%d" % c, VALUE) for c in range(cells)))
            for n in range(batch_rows)
        ]
        started = time.perf_counter()
        batched.mutate(rows)
        batch_rate = batch_rows * cells / (time.perf_counter() - started)
        for store in (loop_store, thread_store, one, batched):
            store.environments.close_all()
    return {
        "writer_on_event_loop": on_loop,
        "writer_thread": in_thread,
        "single_caller_commits_per_second": round(single_rate),
        "batched_put_cells_per_second": round(batch_rate),
        "batched_put": {"rows": batch_rows, "cells_per_row": cells, "value_bytes": len(VALUE)},
        "concurrency": {"callers": callers, "rounds": rounds, "cells_per_write": cells, "busy_tasks": 4},
    }
