"""A split daughter or merged child at its open and while it folds, on real LMDB stores in this process:
REFERENCES read (malformed: FAILED_OPEN, nothing changed), pruned of parents without a store, parents
sealed; the fold under concurrent writes, deletes and scans; the fold stopped by a close and resumed at the
next open; a compaction that folds first (regionserver.store, regionserver.data.fold)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meta import ServerName, references
from meta.references import Reference
from meta.types import ColumnFamily
from regent.proto import data_pb2
from regionserver.data.compaction import compact
from regionserver.data.environments import Claim, region_dir
from regionserver.data.errors import Fenced
from regionserver.data.fold import fold_while_serving
from regionserver.data.mutations import DeleteRow, Get, Put, RowMutation, Scan
from regionserver.data.ordered import OrderedCells
from regionserver.data.region_store import PROCESS_ENVIRONMENTS, RegionStore
from regionserver.data.scanner import Scanner
from regionserver.data_service import RegionDataService
from regionserver.hosting import HostedRegion, Hosting
from regionserver.load import LoadCounters
from regionserver.scanners import Scanners
from regionserver.store import RegionData, Stores

FAMILIES = {b"f": ColumnFamily("f")}
SERVER = ServerName("127.0.0.1", 7000, 1000)
TABLE = "t"
PARENT, CHILD = 10, 20


def put(row: bytes, value: bytes) -> RowMutation:
    return RowMutation(row, (Put(b"f", b"q", value),))


def parent_with(rootdir: Path, rows: dict[bytes, bytes], region_id: int = PARENT, seq: int = 1) -> Path:
    store = RegionStore(region_dir(rootdir, TABLE, region_id), Claim(SERVER, seq), FAMILIES)
    store.mutate([put(r, v) for r, v in rows.items()])
    store.close()
    return store.path


def child(start: bytes = b"", end: bytes = b"", seq: int = 5) -> HostedRegion:
    return HostedRegion(CHILD, TABLE, start, end, seq, proc_id=1, families=FAMILIES)


def rows_of(store: RegionStore) -> dict[bytes, bytes]:
    return {row: cells[0].value for row, cells in Scanner(store, Scan())}


def own_cells(store: RegionStore) -> int:
    env = store.environment()
    with env.env.begin() as txn:
        return sum(1 for _ in OrderedCells(txn, env.cells_db).items(b""))


def masked(store: RegionStore) -> int:
    env = store.environment()
    with env.env.begin() as txn:
        return int(txn.stat(env.masked_db)["entries"])


def close(data: RegionData | None) -> None:
    if data is not None:
        data.store.close()
    PROCESS_ENVIRONMENTS.close_all()


def test_a_malformed_references_file_fails_the_open_and_changes_nothing(tmp_path: Path) -> None:
    parent_with(tmp_path, {b"a": b"1"})
    child_dir = region_dir(tmp_path, TABLE, CHILD)
    child_dir.mkdir(parents=True)
    (child_dir / "REFERENCES").write_bytes(b'{"version": 1, "references": [{"region_id": "x"}]}')
    before = {p.name: p.read_bytes() for p in child_dir.iterdir()}
    region = child()
    failed = Stores(tmp_path, SERVER).claim_existing(region)
    assert failed is not None and "REFERENCES" in failed.reason and "entry 0 is malformed" in failed.reason
    assert {p.name: p.read_bytes() for p in child_dir.iterdir()} == before
    assert region.store is None
    close(None)


def test_the_open_drops_parents_without_a_store_and_seals_the_others(tmp_path: Path) -> None:
    parent_with(tmp_path, {b"a": b"1", b"m": b"2"}, seq=3)
    child_dir = region_dir(tmp_path, TABLE, CHILD)
    references.write(child_dir, [Reference(PARENT, b"", b"k"), Reference(99, b"k", b"")])  # 99: never written

    async def main() -> None:
        region = child()
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        try:
            assert references.read(child_dir) == [Reference(PARENT, b"", b"k")]
            assert [p.reference.region_id for p in data.store.parents] == [PARENT]
            parent_env = PROCESS_ENVIRONMENTS.get(region_dir(tmp_path, TABLE, PARENT), create=False)
            assert parent_env.owner() == Claim(SERVER, 5)  # raised from 3 to the child's open
            old_owner = RegionStore(parent_env.path, Claim(SERVER, 3), FAMILIES)
            with pytest.raises(Fenced):
                old_owner.mutate([put(b"b", b"stale")])
            assert rows_of(data.store) == {b"a": b"1"}  # the parent's rows of [, k) only
            await data.folded()
            assert references.read(child_dir) is None
        finally:
            close(data)

    asyncio.run(main())


def test_a_seal_never_lowers_a_newer_owner_and_is_not_fenced(tmp_path: Path) -> None:
    parent_with(tmp_path, {b"a": b"1"}, seq=9)
    references.write(region_dir(tmp_path, TABLE, CHILD), [Reference(PARENT, b"", b"")])

    async def main() -> None:
        region = child(seq=5)
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        assert PROCESS_ENVIRONMENTS.get(region_dir(tmp_path, TABLE, PARENT), create=False).owner() == Claim(
            SERVER, 9
        )
        close(region.store)

    asyncio.run(main())


def test_references_to_no_existing_parent_are_removed_and_the_child_is_a_plain_empty_region(
    tmp_path: Path,
) -> None:
    child_dir = region_dir(tmp_path, TABLE, CHILD)
    references.write(child_dir, [Reference(98, b"", b"k"), Reference(99, b"k", b"")])
    region = child()
    assert Stores(tmp_path, SERVER).claim_existing(region) is None
    assert not (child_dir / "REFERENCES").exists()
    data = region.store
    assert isinstance(data, RegionData) and not data.store.has_references and not data.store.exists
    close(data)


def test_the_fold_under_concurrent_writes_deletes_and_scans_loses_and_resurrects_nothing(
    tmp_path: Path,
) -> None:
    parent_rows = {b"r%04d" % i: b"p%d" % i for i in range(600)}
    parent_with(tmp_path, parent_rows)
    references.write(region_dir(tmp_path, TABLE, CHILD), [Reference(PARENT, b"r0100", b"r0500")])
    expected = {r: v for r, v in parent_rows.items() if b"r0100" <= r < b"r0500"}

    async def main() -> None:
        region = child(b"r0100", b"r0500")
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        store = data.store
        data._stop_fold()  # the test runs its own fold, with small steps, beside the writers
        folding = asyncio.ensure_future(fold_while_serving(store, budget=7))
        writer = data.writer
        n = 0
        while not folding.done():
            n += 1
            row = b"r%04d" % (100 + (n * 37) % 400)
            if n % 3 == 0:
                await writer.mutate([RowMutation(row, (DeleteRow(),))])
                expected.pop(row, None)
            else:
                await writer.mutate([put(row, b"c%d" % n)])
                expected[row] = b"c%d" % n
            assert rows_of(store) == expected  # a scan mid-fold sees exactly the writes so far
        stats = folding.result()
        assert stats.done and stats.steps > 10, stats
        assert not store.has_references and references.read(store.path) is None
        assert rows_of(store) == expected
        assert masked(store) == 0
        compact(store)  # versions beyond max_versions (a put over a copied cell) go
        assert own_cells(store) == len(expected)
        (cells,) = store.get([Get(b"r0000")])
        assert cells == []  # outside the reference: never read
        await writer.stop()
        close(data)

    asyncio.run(main())


def test_a_close_stops_the_fold_and_the_next_open_resumes_it(tmp_path: Path) -> None:
    parent_rows = {b"r%04d" % i: b"p" for i in range(3000)}
    parent_with(tmp_path, parent_rows)
    child_dir = region_dir(tmp_path, TABLE, CHILD)
    references.write(child_dir, [Reference(PARENT, b"", b"")])

    async def first_open() -> None:
        region = child(seq=5)
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        data.fold_budget = 100  # read when the fold task starts, at the next turn of the loop
        await data.writer.mutate([RowMutation(b"r0001", (DeleteRow(),))])
        for _ in range(3):
            await asyncio.sleep(0)  # a few turns: the fold takes a few steps
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        data.close(lambda: done.set_result(None))
        await done
        assert references.read(child_dir) is not None  # stopped before the end: still referenced

    async def second_open() -> None:
        region = child(seq=6)
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        await data.folded()
        assert references.read(child_dir) is None
        assert len(rows_of(data.store)) == 2999 and b"r0001" not in rows_of(data.store)
        close(data)

    asyncio.run(first_open())
    PROCESS_ENVIRONMENTS.close_all()
    asyncio.run(second_open())


def test_a_compaction_of_a_child_folds_it_first(tmp_path: Path) -> None:
    parent_with(tmp_path, {b"r%04d" % i: b"p" for i in range(500)})
    child_dir = region_dir(tmp_path, TABLE, CHILD)
    references.write(child_dir, [Reference(PARENT, b"", b"")])

    async def main() -> None:
        hosting, stores = Hosting(), Stores(tmp_path, SERVER)
        region = child()
        assert stores.claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        data.fold_budget = 1  # a slow background fold: the compaction has to wait for it
        hosting.online[CHILD] = region
        service = RegionDataService(hosting, stores, Scanners(), SERVER, lambda: True, LoadCounters())
        response = await service.Compact(data_pb2.CompactRequest(region_ids=[CHILD]), None)  # type: ignore[arg-type]
        (result,) = response.regions
        assert not result.HasField("error") and result.cells_after == 500
        assert references.read(child_dir) is None and not data.store.has_references
        close(data)

    asyncio.run(main())


def test_the_fold_never_overwrites_a_cell_the_child_wrote_at_the_same_key(tmp_path: Path) -> None:
    parent = RegionStore(region_dir(tmp_path, TABLE, PARENT), Claim(SERVER, 1), FAMILIES)
    parent.mutate([RowMutation(b"a", (Put(b"f", b"q", b"parent", 1000),))])
    parent.close()
    references.write(region_dir(tmp_path, TABLE, CHILD), [Reference(PARENT, b"", b"")])

    async def main() -> None:
        region = child()
        assert Stores(tmp_path, SERVER).claim_existing(region) is None
        data = region.store
        assert isinstance(data, RegionData)
        data.store.mutate([RowMutation(b"a", (Put(b"f", b"q", b"child", 1000),))])  # before the fold runs
        await data.folded()
        (cells,) = data.store.get([Get(b"a")])
        assert [c.value for c in cells] == [b"child"]
        close(data)

    asyncio.run(main())
