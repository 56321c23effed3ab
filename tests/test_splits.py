"""Where a region splits and how big it is (regionserver.splits, regionserver.data.middle), on real LMDB
stores: the middle row by size, a given key checked, each refusal with its reason, RegionSizes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from meta import ServerName, references
from meta.references import Reference
from meta.types import ColumnFamily
from regionserver.data.environments import Claim, region_dir
from regionserver.data.middle import middle_row
from regionserver.data.mutations import Put, RowMutation
from regionserver.data.region_store import PROCESS_ENVIRONMENTS, RegionStore
from regionserver.hosting import HostedRegion, Hosting
from regionserver.splits import SplitRefused, region_sizes, split_point
from regionserver.store import Stores

FAMILIES = {b"f": ColumnFamily("f")}
SERVER = ServerName("127.0.0.1", 7000, 1000)


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    PROCESS_ENVIRONMENTS.close_all()


def serving(
    tmp_path: Path, region_id: int = 1, start: bytes = b"", end: bytes = b""
) -> tuple[Hosting, Stores]:
    hosting, stores = Hosting(), Stores(tmp_path, SERVER)
    hosting.online[region_id] = HostedRegion(region_id, "t", start, end, 5, 1, FAMILIES)
    return hosting, stores


def write(stores: Stores, hosting: Hosting, rows: dict[bytes, bytes], region_id: int = 1) -> RegionStore:
    store = stores.of(hosting.online[region_id]).store
    store.mutate([RowMutation(r, (Put(b"f", b"q", v),)) for r, v in rows.items()])
    return store


def test_the_middle_row_is_where_the_running_sum_of_cell_bytes_passes_half(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path)
    # Rows a..j of 100 bytes each, then row k of 2,000 bytes: half of ~3,000 bytes lies in row k.
    rows = {bytes([c]): b"x" * 100 for c in b"abcdefghij"} | {b"k": b"y" * 2000}
    store = write(stores, hosting, rows)
    middle, total = asyncio.run(middle_row(store, budget=3))  # tiny chunks: resumed walks
    assert middle == b"k" and total > 3000


def test_split_point_of_evenly_sized_rows_is_the_middle_one(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path)
    write(stores, hosting, {b"row%03d" % i: b"v" * 50 for i in range(100)})
    key, size = asyncio.run(split_point(hosting, stores, SERVER, 1, None))
    assert b"row045" <= key <= b"row055" and size > 5000


def test_a_big_first_row_splits_after_it(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path)
    write(stores, hosting, {b"a": b"x" * 10_000, b"b": b"1", b"c": b"2"})
    key, _ = asyncio.run(split_point(hosting, stores, SERVER, 1, None))
    assert key == b"b"


@pytest.mark.parametrize(
    ("rows", "reason"),
    [({}, "no row to split at: it is empty"), ({b"only": b"v"}, "all its cells are in one row")],
)
def test_split_point_refuses_a_region_without_a_row_to_split_at(
    tmp_path: Path, rows: dict[bytes, bytes], reason: str
) -> None:
    hosting, stores = serving(tmp_path)
    if rows:
        write(stores, hosting, rows)
    with pytest.raises(SplitRefused, match=reason):
        asyncio.run(split_point(hosting, stores, SERVER, 1, None))


def test_a_given_split_key_must_be_strictly_inside_the_region(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path, start=b"d", end=b"p")
    assert asyncio.run(split_point(hosting, stores, SERVER, 1, b"h"))[0] == b"h"
    for bad in (b"", b"d", b"a", b"p", b"z"):
        with pytest.raises(SplitRefused, match="not strictly inside region 1"):
            asyncio.run(split_point(hosting, stores, SERVER, 1, bad))


def test_split_point_refuses_a_region_not_served_or_with_references(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path)
    with pytest.raises(SplitRefused, match="region 2 is not served by"):
        asyncio.run(split_point(hosting, stores, SERVER, 2, None))
    parent = RegionStore(region_dir(tmp_path, "t", 9), Claim(SERVER, 1), FAMILIES)
    parent.mutate([RowMutation(b"a", (Put(b"f", b"q", b"v"),)), RowMutation(b"b", (Put(b"f", b"q", b"v"),))])
    parent.close()
    references.write(region_dir(tmp_path, "t", 1), [Reference(9, b"", b"")])

    async def main() -> None:
        region = hosting.online[1]
        assert stores.claim_existing(region) is None
        with pytest.raises(SplitRefused, match="still references the store of region"):
            await split_point(hosting, stores, SERVER, 1, None)
        sizes = region_sizes(hosting, tmp_path)
        assert list(sizes.region_ids) == [1] and list(sizes.has_references) == [True]
        assert sizes.bytes[0] > 0  # the parent's estimate: the child has no store of its own yet
        await stores.of(region).folded()
        assert (await split_point(hosting, stores, SERVER, 1, None))[0] == b"b"
        assert list(region_sizes(hosting, tmp_path).has_references) == [False]

    asyncio.run(main())


def test_region_sizes_lists_every_served_region_with_its_store_bytes(tmp_path: Path) -> None:
    hosting, stores = serving(tmp_path)
    hosting.online[2] = HostedRegion(2, "t", b"", b"", 5, 1, FAMILIES)
    write(stores, hosting, {b"r%d" % i: b"v" * 1000 for i in range(50)})
    sizes = region_sizes(hosting, tmp_path)
    by_id = dict(zip(sizes.region_ids, sizes.bytes, strict=True))
    assert by_id[1] >= 50_000 and by_id[2] == 0
    assert list(sizes.has_references) == [False, False]
