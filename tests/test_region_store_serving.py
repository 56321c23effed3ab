"""The region store while a RegionServer serves it: group commit, fencing (also across evictions), the
LRU of open environments, map growth, and compaction while reads and writes go on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data import compaction
from regionserver.data.environments import Claim, Environments
from regionserver.data.errors import Fenced, NoSuchFamily
from regionserver.data.mutations import Get, Increment, Put, RowMutation, Scan
from regionserver.data.ordered import OrderedCells
from regionserver.data.region_store import RegionStore
from regionserver.data.scanner import Scanner
from regionserver.data.writer import RegionWriter, WriterClosed

FAMILIES = {b"f": ColumnFamily("f", max_versions=2), b"t": ColumnFamily("t", ttl=1)}
OLD, NEW = Claim(ServerName("h", 1, 1000), 5), Claim(ServerName("h", 2, 2000), 6)


@pytest.fixture
def envs() -> Iterator[Environments]:
    environments = Environments(capacity=2)
    yield environments
    environments.close_all()


def region(envs: Environments, path: Path, claim: Claim = OLD, **options: object) -> RegionStore:
    return RegionStore(path, claim, FAMILIES, environments=envs, **options)  # type: ignore[arg-type]


def put(row: bytes, value: bytes, family: bytes = b"f") -> RowMutation:
    return RowMutation(row, (Put(family, b"q", value),))


def stored(store: RegionStore) -> int:
    env = store.environment()
    with env.env.begin() as txn:
        return sum(1 for _ in OrderedCells(txn, env.cells_db).items(b""))


def test_concurrent_writers_share_commits_and_each_learns_its_own_outcome(
    envs: Environments, tmp_path: Path
) -> None:
    store = region(envs, tmp_path / "r")

    async def main() -> list[object]:
        writer = RegionWriter(store)
        writer.start()
        calls = [writer.mutate([put(b"row-%03d" % n, b"v")]) for n in range(100)]
        calls.append(writer.mutate([RowMutation(b"bad", (Put(b"nope", b"q", b"v"),))]))
        calls.append(writer.increment(Increment(b"counter", ((b"f", b"n", 7),))))
        outcomes = await asyncio.gather(*calls)
        await writer.stop()
        with pytest.raises(WriterClosed):
            await writer.mutate([put(b"late", b"v")])
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes[:100] == [[None]] * 100
    assert isinstance(outcomes[100][0], NoSuchFamily)  # type: ignore[index]
    assert outcomes[101] == {(b"f", b"n"): 7}
    assert store.commits <= 2, f"102 concurrent writes took {store.commits} commits"
    assert len(Scanner(store, Scan()).next(1000)) == 101


def test_a_newer_claim_fences_the_older_store_writes_and_writer(envs: Environments, tmp_path: Path) -> None:
    old = region(envs, tmp_path / "r")
    old.mutate([put(b"a", b"old")])
    new = region(envs, tmp_path / "r", NEW)
    assert new.claim_existing()
    with pytest.raises(Fenced, match="owned by h:2:2000"):
        old.mutate([put(b"a", b"stale")])

    async def through_writer() -> None:
        writer = RegionWriter(old)
        writer.start()
        results = await asyncio.gather(
            writer.mutate([put(b"a", b"x")]), writer.mutate([put(b"b", b"y")]), return_exceptions=True
        )
        await writer.stop()
        assert all(isinstance(r, Fenced) for r in results), results

    asyncio.run(through_writer())
    with pytest.raises(Fenced):
        compaction.compact(old)
    with pytest.raises(Fenced):  # an older open cannot take the store back
        region(envs, tmp_path / "r", Claim(ServerName("h", 3, 3000), 4)).claim_existing()
    assert [c.value for c in new.get([Get(b"a")])[0]] == [b"old"]


def test_a_stale_owner_cannot_write_after_its_environment_was_evicted_and_reopened(
    envs: Environments, tmp_path: Path
) -> None:
    old = region(envs, tmp_path / "r")
    old.mutate([put(b"a", b"old")])
    for n in range(2):  # two other regions push this one out (capacity 2)
        region(envs, tmp_path / f"other{n}").mutate([put(b"x", b"v")])
    assert not envs.is_open(old.path)
    region(envs, tmp_path / "r", NEW).claim_existing()  # reopened by the new owner...
    for n in range(2):
        region(envs, tmp_path / f"other{n}").get([Get(b"x")])  # ...and evicted again
    assert not envs.is_open(old.path)
    with pytest.raises(Fenced):  # the old owner's reopen re-checks the claim
        old.get([Get(b"a")])
    with pytest.raises(Fenced):
        old.mutate([put(b"a", b"stale")])


def test_at_most_capacity_environments_are_open_and_evicted_ones_reopen_transparently(tmp_path: Path) -> None:
    envs = Environments(capacity=3)
    try:
        stores = [region(envs, tmp_path / str(n)) for n in range(10)]
        for round_ in range(3):
            for n, store in enumerate(stores):
                store.mutate([put(b"row", b"%d-%d" % (n, round_))])
                assert len(envs) <= 3
        assert [s.get([Get(b"row")])[0][0].value for s in stores] == [b"%d-2" % n for n in range(10)]
        assert envs.evictions >= 27 and envs.opens >= 30
    finally:
        envs.close_all()


def test_a_full_map_grows_and_the_commit_is_retried(tmp_path: Path) -> None:
    envs = Environments(capacity=1, map_size=1 << 20)
    try:
        store = region(envs, tmp_path / "r")
        rows = [put(b"row-%04d" % n, bytes(2000)) for n in range(1500)]  # ~3 MB into a 1 MB map
        assert store.mutate(rows) == [None] * len(rows)
        assert len(Scanner(store, Scan()).next(2000)) == 1500
    finally:
        envs.close_all()


def test_compaction_removes_what_reads_no_longer_see_and_changes_no_read(
    envs: Environments, tmp_path: Path
) -> None:
    now = [10_000_000]
    store = region(envs, tmp_path / "r", clock=lambda: now[0])
    for ts in range(1, 6):  # f keeps 2 versions of 5
        store.mutate([RowMutation(b"r%d" % n, (Put(b"f", b"q", b"v%d" % ts, ts),)) for n in range(50)])
    store.mutate([RowMutation(b"r%d" % n, (Put(b"t", b"q", b"short-lived"),)) for n in range(50)])
    now[0] += 5_000  # ttl 1 s: t's cells expire
    before = list(Scanner(store, Scan(max_versions=10)))
    stats = compaction.compact(store, budget=7)
    assert stats.removed == 50 * 3 + 50 and stats.steps > 10
    assert stored(store) == 50 * 2
    assert list(Scanner(store, Scan(max_versions=10))) == before


def test_compaction_while_serving_loses_no_write_and_reads_stay_consistent(
    envs: Environments, tmp_path: Path
) -> None:
    store = region(envs, tmp_path / "r")
    store.mutate(
        [
            RowMutation(
                b"r%03d" % n, (Put(b"f", b"q", b"0", 1), Put(b"f", b"q", b"1", 2), Put(b"f", b"q", b"2", 3))
            )
            for n in range(300)
        ]
    )
    expected = {b"r%03d" % n: [b"2", b"1"] for n in range(300)}

    async def main() -> None:
        writer = RegionWriter(store)
        writer.start()
        done = asyncio.Event()

        async def write() -> None:
            for n in range(0, 300, 7):
                row = b"r%03d" % n
                await writer.mutate([RowMutation(row, (Put(b"f", b"q", b"new", 10),))])
                expected[row] = [b"new", b"2"]

        async def read() -> None:
            while not done.is_set():
                for row, cells in Scanner(store, Scan(max_versions=5)):
                    assert [c.value for c in cells] in ([b"2", b"1"], [b"new", b"2"]), (row, cells)
                await asyncio.sleep(0)

        reader = asyncio.create_task(read())
        stats, _ = await asyncio.gather(compaction.compact_while_serving(store, budget=50), write())
        done.set()
        await reader
        await writer.stop()
        assert stats.steps > 5

    asyncio.run(main())
    got = {row: [c.value for c in cells] for row, cells in Scanner(store, Scan(max_versions=5))}
    assert got == expected
    compaction.compact(store)
    assert stored(store) == 600


def test_the_region_store_benchmark_measures_both_writers(tmp_path: Path) -> None:
    from regent.bench import region_store

    result = region_store.run(tmp_path, callers=4, rounds=3, cells=2, batch_rows=50, single=5)
    for writer in ("writer_on_event_loop", "writer_thread"):
        assert result[writer]["writes_per_commit"] > 1, result
    assert result["batched_put_cells_per_second"] > 0
