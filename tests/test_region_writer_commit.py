"""Where a region's writer commits (regionserver.data.writer): a small group on the event loop while the
placement allows it (regionserver.data.commit_place) and in a thread otherwise, a medium one in a thread
with its environment pinned against the LRU, a large one on the loop; a full map met in the thread is
grown on the loop, nothing lost or written twice."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data.commit_place import CommitPlacement
from regionserver.data.environments import Claim, Environments
from regionserver.data.mutations import Get, Outcome, Put, RowMutation, Write
from regionserver.data.region_store import RegionStore
from regionserver.data.writer import LOOP_MAX_CELLS, THREAD_MAX_CELLS, RegionWriter, WriterClosed
from tests.clocks import Clock

FAMILIES = {b"f": ColumnFamily("f")}
CLAIM = Claim(ServerName("h", 1, 1000), 5)
#: A placement with no budget for the loop: every small group goes to a thread.
IN_THREADS = CommitPlacement(share=0.0)


@pytest.fixture
def envs() -> Iterator[Environments]:
    environments = Environments(capacity=1)
    yield environments
    environments.close_all()


class WatchedStore(RegionStore):
    """A real store that notes which thread ran each commit."""

    threads: list[int]

    def apply(self, writes: Sequence[Write], *, grow: bool = True) -> list[Outcome]:
        self.threads.append(threading.get_ident())
        return super().apply(writes, grow=grow)


def watched(envs: Environments, path: Path) -> WatchedStore:
    store = WatchedStore(path, CLAIM, FAMILIES, environments=envs)
    store.threads = []
    store.mutate([row(b"first", 1)])  # the store exists: the writer may commit off the loop
    store.threads.clear()
    return store


def started(store: RegionStore, placement: CommitPlacement = IN_THREADS) -> RegionWriter:
    """A writer of `store`, started on the running loop (small groups in threads, unless `placement`
    says otherwise)."""
    writer = RegionWriter(store, placement=placement)
    writer.start()
    return writer


def row(key: bytes, cells: int, value: bytes = b"v") -> RowMutation:
    return RowMutation(key, tuple(Put(b"f", b"q%d" % i, value) for i in range(cells)))


def read(store: RegionStore, key: bytes) -> int:
    (cells,) = store.get([Get(key)])
    return len(cells)


def test_a_small_group_commits_in_a_thread_and_a_large_one_on_the_loop(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")

    async def main() -> int:
        writer = started(store)
        assert await writer.mutate([row(b"small", THREAD_MAX_CELLS)]) == [None]
        assert await writer.mutate([row(b"large", THREAD_MAX_CELLS + 1)]) == [None]
        await writer.stop()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    small, large = store.threads
    assert small != loop_thread and large == loop_thread
    assert read(store, b"small") == THREAD_MAX_CELLS and read(store, b"large") == THREAD_MAX_CELLS + 1


def test_a_small_group_commits_on_the_loop_until_a_slow_commit_sends_the_next_to_a_thread(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")
    clock = Clock(0.0)
    placement = CommitPlacement(slow_s=0.0, stall_s=0.0, clock=clock)  # any real commit is a stall

    async def main() -> int:
        writer = started(store, placement)
        assert await writer.mutate([row(b"a", 1)]) == [None]  # on the loop: slow, so ...
        assert await writer.mutate([row(b"b", 1)]) == [None]  # ... in a thread during the back-off
        clock.now += 1.0
        assert await writer.mutate([row(b"c", 1)]) == [None]  # the back-off is over: the loop again
        await writer.stop()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    a, b, c = store.threads
    assert a == loop_thread and b != loop_thread and c == loop_thread
    assert read(store, b"a") == read(store, b"b") == read(store, b"c") == 1


def test_only_a_group_of_at_most_loop_max_cells_commits_on_the_loop(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")
    placement = CommitPlacement(slow_s=60.0, stall_s=60.0, share=1.0)  # the loop may commit anything

    async def main() -> int:
        writer = started(store, placement)
        assert await writer.mutate([row(b"small", LOOP_MAX_CELLS)]) == [None]
        assert await writer.mutate([row(b"medium", LOOP_MAX_CELLS + 1)]) == [None]
        await writer.stop()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    small, medium = store.threads
    assert small == loop_thread and medium != loop_thread
    assert read(store, b"small") == LOOP_MAX_CELLS and read(store, b"medium") == LOOP_MAX_CELLS + 1


def test_the_loop_keeps_serving_reads_while_a_small_commit_is_in_its_thread(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")

    async def main() -> int:
        writer = started(store)
        write = asyncio.ensure_future(writer.mutate([row(b"a", 1)]))
        turns = 0
        while not write.done():  # the loop turns while the commit (its fsync) runs elsewhere
            read(store, b"first")
            turns += 1
            await asyncio.sleep(0)
        await writer.stop()
        return turns

    assert asyncio.run(main()) > 1
    assert read(store, b"a") == 1


def test_a_pinned_environment_outlives_the_lru_until_unpinned(envs: Environments, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    first = envs.get(one, create=True)
    envs.pin(one)
    envs.get(two, create=True)  # over capacity 1: the pinned one stays open
    assert envs.is_open(one) and envs.is_open(two) and not first.closed
    envs.close(one)  # in use by a commit: left open
    assert envs.is_open(one) and not first.closed
    envs.unpin(one)
    assert envs.is_open(one)  # nothing is closed by unpin itself (it may run off the loop)
    envs.get(two, create=True)
    envs.get(tmp_path / "three", create=True)  # the next open catches up: one and two closed
    assert not envs.is_open(one) and first.closed and len(envs) == 1


def test_a_full_map_in_the_thread_is_grown_on_the_loop_and_the_group_written_once(
    tmp_path: Path,
) -> None:
    envs = Environments(capacity=4, map_size=1 << 20)
    try:
        store = watched(envs, tmp_path / "r")
        big = row(b"big", 40, bytes(50_000))  # 2 MB in a 1 MB map, within THREAD_MAX_CELLS

        async def main() -> list[object]:
            writer = started(store)
            outcome = await writer.mutate([big])
            await writer.stop()
            return list(outcome)

        assert asyncio.run(main()) == [None]
        off_loop, on_loop = store.threads  # refused in the thread, then committed on the loop
        assert off_loop != on_loop
        assert read(store, b"big") == 40
        assert store.environment().env.info()["map_size"] > 1 << 20
    finally:
        envs.close_all()


class FailingOnce(WatchedStore):
    """A store whose next commit raises an error that is not a StoreError (a bug, say)."""

    fail_next = False

    def apply(self, writes: Sequence[Write], *, grow: bool = True) -> list[Outcome]:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        return super().apply(writes, grow=grow)


def test_writes_that_come_while_a_commit_is_in_its_thread_form_the_next_group(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")

    async def main() -> list[list[object]]:
        writer = started(store)
        first = asyncio.ensure_future(writer.mutate([row(b"a", 1)]))
        for _ in range(100_000):  # until the first group is in its thread (bounded)
            if store.threads:
                break
            await asyncio.sleep(0)
        assert store.threads, "the first group never reached its thread"
        later = [asyncio.ensure_future(writer.mutate([row(b"b%d" % i, 1)])) for i in range(20)]
        outcomes = [await first, *[await f for f in later]]
        await writer.stop()
        return outcomes

    commits = store.commits
    assert asyncio.run(main()) == [[None]] * 21
    assert store.commits - commits == 2, "the 20 later writes were meant to share one commit"
    assert all(read(store, b"b%d" % i) == 1 for i in range(20))


def test_stop_waits_for_the_commit_in_flight_and_the_queued_writes_then_refuses(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")

    async def main() -> list[object]:
        writer = started(store)
        writes = [asyncio.ensure_future(writer.mutate([row(b"r%d" % i, 1)])) for i in range(5)]
        await asyncio.sleep(0)
        await writer.stop()
        assert all(w.done() for w in writes), "stop returned before its writes were answered"
        with pytest.raises(WriterClosed):
            await writer.mutate([row(b"late", 1)])
        await writer.stop()  # stopping again: nothing to wait for
        return [w.result() for w in writes]

    assert asyncio.run(main()) == [[None]] * 5
    assert all(read(store, b"r%d" % i) == 1 for i in range(5)) and read(store, b"late") == 0


def test_a_cancelled_caller_does_not_stop_its_write_nor_the_others(
    envs: Environments, tmp_path: Path
) -> None:
    store = watched(envs, tmp_path / "r")

    async def main() -> list[object]:
        writer = started(store)
        gone = asyncio.ensure_future(writer.mutate([row(b"gone", 1)]))
        kept = asyncio.ensure_future(writer.mutate([row(b"kept", 1)]))
        await asyncio.sleep(0)
        gone.cancel()
        outcome = await kept
        await writer.stop()
        return list(outcome)

    assert asyncio.run(main()) == [None]
    assert read(store, b"kept") == 1 and read(store, b"gone") == 1  # in the group when it was cancelled


def test_an_unexpected_error_in_a_commit_fails_its_group_and_the_writer_goes_on(
    envs: Environments, tmp_path: Path
) -> None:
    store = FailingOnce(tmp_path / "r", CLAIM, FAMILIES, environments=envs)
    store.threads = []
    store.mutate([row(b"first", 1)])
    store.fail_next = True

    async def main() -> list[object]:
        writer = started(store)
        failed = await asyncio.gather(writer.mutate([row(b"x", 1)]), return_exceptions=True)
        after = await writer.mutate([row(b"y", 1)])
        await writer.stop()
        return [*failed, after]

    failed, after = asyncio.run(main())
    assert isinstance(failed, RuntimeError) and after == [None]
    assert read(store, b"x") == 0 and read(store, b"y") == 1
