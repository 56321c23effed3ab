"""The region store's operations on a real LMDB store: versions, time ranges, ttl and min_versions with
an injected clock, the four deletes, increments, check-and-put, batches that report failed rows, limits,
and scans (bounds, prefix, columns, reverse, limit, batches, resuming, the filter hook)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data.cells import Cell
from regionserver.data.environments import Claim, Environments
from regionserver.data.errors import BadMutation, CellTooLarge, NoSuchFamily, NotACounter, RowTooLong
from regionserver.data.keys import MAX_ROW_BYTES
from regionserver.data.mutations import (
    CheckAndPut,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Get,
    Increment,
    Put,
    Row,
    RowMutation,
    Scan,
    TimeRange,
)
from regionserver.data.region_store import RegionStore
from regionserver.data.scanner import Scanner

FAMILIES = {
    b"f": ColumnFamily("f", max_versions=3),
    b"g": ColumnFamily("g"),
    b"t": ColumnFamily("t", max_versions=3, min_versions=1, ttl=10),
}
OWNER = Claim(ServerName("127.0.0.1", 16020, 1), 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[RegionStore]:
    envs = Environments(capacity=4)
    yield RegionStore(
        tmp_path / "data" / "t" / "1", OWNER, FAMILIES, environments=envs, clock=clock, max_cell_bytes=40_000
    )
    envs.close_all()


def put(
    store: RegionStore, row: bytes, family: bytes, qualifier: bytes, value: bytes, ts: int | None = None
) -> None:
    assert store.mutate([RowMutation(row, (Put(family, qualifier, value, ts),))]) == [None]


def values(store: RegionStore, get: Get) -> list[tuple[bytes, int, bytes]]:
    (cells,) = store.get([get])
    return [(c.column, c.timestamp, c.value) for c in cells]


def test_a_region_without_writes_has_no_files_and_reads_empty(store: RegionStore) -> None:
    assert store.get([Get(b"r")]) == [[]]
    assert Scanner(store, Scan()).next(10) == []
    assert not store.path.exists() and not store.path.parent.exists()
    put(store, b"r", b"f", b"q", b"v")
    assert (store.path / "data.mdb").exists()
    assert store.owner() == OWNER


def test_versions_newest_first_bounded_by_the_family_and_the_read(store: RegionStore) -> None:
    for ts in (10, 30, 20, 40):
        put(store, b"r", b"f", b"q", b"v%d" % ts, ts)
    assert values(store, Get(b"r")) == [(b"f:q", 40, b"v40")]
    assert values(store, Get(b"r", max_versions=10)) == [
        (b"f:q", 40, b"v40"),
        (b"f:q", 30, b"v30"),
        (b"f:q", 20, b"v20"),
    ]
    put(store, b"r", b"f", b"q", b"again", 30)  # the same timestamp: the later write wins
    assert values(store, Get(b"r", max_versions=2)) == [(b"f:q", 40, b"v40"), (b"f:q", 30, b"again")]


def test_time_range_is_half_open_and_counts_only_retained_versions(store: RegionStore) -> None:
    for ts in (10, 20, 30, 40):
        put(store, b"r", b"f", b"q", b"v", ts)
    got = values(store, Get(b"r", max_versions=5, time_range=TimeRange(20, 40)))
    assert [ts for _, ts, _ in got] == [30, 20]
    # Version 10 is beyond max_versions (3): gone for reads, whatever the time range.
    assert values(store, Get(b"r", max_versions=5, time_range=TimeRange(0, 15))) == []


def test_ttl_hides_expired_versions_but_min_versions_keeps_the_newest(
    store: RegionStore, clock: Clock
) -> None:
    now = clock.now
    put(store, b"r", b"t", b"q", b"old", now - 20_000)
    put(store, b"r", b"t", b"q", b"older", now - 30_000)
    put(store, b"r", b"t", b"q", b"fresh", now - 1_000)
    assert [v for _, _, v in values(store, Get(b"r", max_versions=3))] == [b"fresh"]
    clock.now += 60_000  # everything expired: min_versions=1 keeps the newest
    assert [v for _, _, v in values(store, Get(b"r", max_versions=3))] == [b"fresh"]


def test_column_and_family_selection(store: RegionStore) -> None:
    put(store, b"r", b"f", b"a", b"1")
    put(store, b"r", b"f", b"b", b"2")
    put(store, b"r", b"g", b"a", b"3")
    assert [c for c, _, _ in values(store, Get(b"r"))] == [b"f:a", b"f:b", b"g:a"]
    assert [c for c, _, _ in values(store, Get(b"r", (b"g",)))] == [b"g:a"]
    assert [c for c, _, _ in values(store, Get(b"r", ((b"f", b"b"), b"g")))] == [b"f:b", b"g:a"]
    with pytest.raises(NoSuchFamily):
        store.get([Get(b"r", (b"nope",))])


def test_get_of_many_rows_answers_each(store: RegionStore) -> None:
    put(store, b"a", b"f", b"q", b"1")
    put(store, b"c", b"f", b"q", b"3")
    got = store.get([Get(b"a"), Get(b"b"), Get(b"c")])
    assert [[c.value for c in row] for row in got] == [[b"1"], [], [b"3"]]


def test_delete_column_removes_versions_at_or_below_its_timestamp(store: RegionStore) -> None:
    for ts in (10, 20, 30):
        put(store, b"r", b"f", b"q", b"v", ts)
    store.mutate([RowMutation(b"r", (DeleteColumn(b"f", b"q", 20),))])
    assert [ts for _, ts, _ in values(store, Get(b"r", max_versions=3))] == [30]


def test_delete_version_removes_exactly_one_and_none_means_the_newest(store: RegionStore) -> None:
    for ts in (10, 20, 30):
        put(store, b"r", b"f", b"q", b"v", ts)
    store.mutate([RowMutation(b"r", (DeleteVersion(b"f", b"q", 20),))])
    assert [ts for _, ts, _ in values(store, Get(b"r", max_versions=3))] == [30, 10]
    store.mutate([RowMutation(b"r", (DeleteVersion(b"f", b"q"),))])
    assert [ts for _, ts, _ in values(store, Get(b"r", max_versions=3))] == [10]


def test_a_version_hidden_by_max_versions_does_not_come_back_after_a_delete(store: RegionStore) -> None:
    put(store, b"r", b"g", b"q", b"old", 10)
    put(store, b"r", b"g", b"q", b"new", 20)  # g keeps 1 version: "old" is hidden (and compaction food)
    store.mutate([RowMutation(b"r", (DeleteVersion(b"g", b"q", 20),))])
    assert values(store, Get(b"r")) == []


def test_delete_family_and_row_with_and_without_timestamp(store: RegionStore, clock: Clock) -> None:
    put(store, b"r", b"f", b"a", b"1", 10)
    put(store, b"r", b"f", b"b", b"2", 50)
    put(store, b"r", b"g", b"a", b"3", 10)
    store.mutate([RowMutation(b"r", (DeleteFamily(b"f", 20),))])
    assert [c for c, _, _ in values(store, Get(b"r"))] == [b"f:b", b"g:a"]
    put(store, b"r", b"f", b"c", b"future", clock.now + 5_000)
    store.mutate([RowMutation(b"r", (DeleteRow(),))])  # now: the version in the future stays
    assert values(store, Get(b"r")) == [(b"f:c", clock.now + 5_000, b"future")]


def test_a_batch_reports_the_rows_it_refused_and_writes_the_others(store: RegionStore) -> None:
    batch = [
        RowMutation(b"ok1", (Put(b"f", b"q", b"v"),)),
        RowMutation(b"bad", (Put(b"f", b"q", b"v"), Put(b"nope", b"q", b"v"))),
        RowMutation(b"x" * (MAX_ROW_BYTES + 1), (Put(b"f", b"q", b"v"),)),
        RowMutation(b"big", (Put(b"f", b"q", b"v"), Put(b"f", b"r", b"v" * 40_000))),
        RowMutation(b"neg", (Put(b"f", b"q", b"v", -1),)),
        RowMutation(b"ok2", (Put(b"f", b"q", b"v"),)),
    ]
    failed = store.mutate(batch)
    assert failed[0] is None and failed[5] is None
    assert isinstance(failed[1], NoSuchFamily)
    assert isinstance(failed[2], RowTooLong) and "32767" in str(failed[2])
    assert isinstance(failed[3], CellTooLarge) and "40000" in str(failed[3])
    assert isinstance(failed[4], BadMutation)
    got = store.get([Get(b"ok1"), Get(b"bad"), Get(b"big"), Get(b"ok2")])
    assert [len(row) for row in got] == [1, 0, 0, 1]  # nothing half-written


def test_row_keys_up_to_32767_bytes_are_stored_in_order(store: RegionStore) -> None:
    rows = [b"a" * MAX_ROW_BYTES, b"a" * 600, b"a" * 600 + b"\x00", b"a" * 599 + b"b", b"a"]
    for row in rows:
        put(store, row, b"f", b"q", row[-3:])
    assert [r for r, _ in Scanner(store, Scan()).next(10)] == sorted(rows)
    assert [r for r, _ in Scanner(store, Scan(reverse=True)).next(10)] == sorted(rows, reverse=True)
    assert values(store, Get(b"a" * MAX_ROW_BYTES))[0][2] == b"aaa"


def test_increment_is_atomic_on_8_byte_big_endian_counters(store: RegionStore) -> None:
    assert store.increment(Increment(b"r", ((b"f", b"n", 5), (b"f", b"m", -2)))) == {
        (b"f", b"n"): 5,
        (b"f", b"m"): -2,
    }
    assert store.increment(Increment(b"r", ((b"f", b"n", 3),))) == {(b"f", b"n"): 8}
    assert values(store, Get(b"r", ((b"f", b"n"),)))[0][2] == (8).to_bytes(8, "big", signed=True)
    put(store, b"r", b"f", b"s", b"text")
    with pytest.raises(NotACounter):  # and nothing of it written: n unchanged
        store.increment(Increment(b"r", ((b"f", b"n", 1), (b"f", b"s", 1))))
    assert store.increment(Increment(b"r", ((b"f", b"n", 0),))) == {(b"f", b"n"): 8}


def test_check_and_put_applies_only_when_the_value_matches(store: RegionStore) -> None:
    mutation = RowMutation(b"r", (Put(b"f", b"q", b"first"),))
    assert store.check_and_put(CheckAndPut(b"r", b"f", b"q", None, mutation))  # absent: applies
    assert not store.check_and_put(CheckAndPut(b"r", b"f", b"q", None, mutation))
    second = RowMutation(b"r", (Put(b"f", b"q", b"second"),))
    assert not store.check_and_put(CheckAndPut(b"r", b"f", b"q", b"other", second))
    assert store.check_and_put(CheckAndPut(b"r", b"f", b"q", b"first", second))
    assert values(store, Get(b"r"))[0][2] == b"second"
    with pytest.raises(BadMutation):
        store.check_and_put(CheckAndPut(b"other-row", b"f", b"q", None, second))


@pytest.fixture
def rows(store: RegionStore) -> list[bytes]:
    names = [b"a", b"b", b"ba", b"bb", b"c", b"d\x00", b"d\xff", b"e"]
    store.mutate([RowMutation(n, (Put(b"f", b"q", n), Put(b"g", b"q", n))) for n in names])
    return names


def scanned(store: RegionStore, scan: Scan, batch: int = 100) -> list[bytes]:
    return [r for r, _ in Scanner(store, scan).next(batch)]


def test_scan_bounds_prefix_reverse_and_limit(store: RegionStore, rows: list[bytes]) -> None:
    assert scanned(store, Scan()) == rows
    assert scanned(store, Scan(b"b", b"c")) == [b"b", b"ba", b"bb"]
    assert scanned(store, Scan(prefix=b"b")) == [b"b", b"ba", b"bb"]
    assert scanned(store, Scan(prefix=b"d")) == [b"d\x00", b"d\xff"]
    assert scanned(store, Scan(b"c", b"a", reverse=True)) == [b"c", b"bb", b"ba", b"b"]
    assert scanned(store, Scan(prefix=b"b", reverse=True)) == [b"bb", b"ba", b"b"]
    assert scanned(store, Scan(limit=3)) == [b"a", b"b", b"ba"]
    assert scanned(store, Scan(reverse=True, limit=2)) == [b"e", b"d\xff"]


def test_scan_columns_and_versions(store: RegionStore, rows: list[bytes]) -> None:
    (row,) = Scanner(store, Scan(b"a", b"b", columns=(b"g",))).next(10)
    assert row == (b"a", [Cell(b"a", b"g", b"q", row[1][0].timestamp, b"a")])


def test_scanner_resumes_after_the_last_row_in_batches_and_sees_later_writes(
    store: RegionStore, rows: list[bytes]
) -> None:
    scanner = Scanner(store, Scan(), chunk_rows=2)
    first = scanner.next(3)
    assert [r for r, _ in first] == rows[:3] and scanner.last_row == b"ba"
    put(store, b"bz", b"f", b"q", b"written between batches")  # after the cursor: seen
    put(store, b"a0", b"f", b"q", b"behind the cursor")  # before it: not seen
    rest = []
    while not scanner.done:
        rest += [r for r, _ in scanner.next(2)]
    assert rest == [b"bb", b"bz", b"c", b"d\x00", b"d\xff", b"e"]


class KeepRowsEndingWith:
    """A stand-in for the filter language: the hook takes any lazy stream-to-stream object."""

    def __init__(self, suffix: bytes) -> None:
        self.suffix = suffix
        self.seen = 0

    def apply(self, rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            self.seen += 1
            if row[0].endswith(self.suffix):
                yield row


def test_a_filter_plugs_in_as_a_stream_of_rows_across_batches(store: RegionStore, rows: list[bytes]) -> None:
    keep = KeepRowsEndingWith(b"b")
    scanner = Scanner(store, Scan(filter=keep), chunk_rows=3)
    assert [r for r, _ in scanner.next(1)] == [b"b"]
    assert [r for r, _ in scanner.next(5)] == [b"bb"]
    assert scanner.done and keep.seen == len(rows)


def test_writes_with_no_timestamp_take_the_clock(store: RegionStore, clock: Clock) -> None:
    put(store, b"r", b"f", b"q", b"v")
    assert values(store, Get(b"r")) == [(b"f:q", clock.now, b"v")]


def test_increment_of_a_counter_written_in_the_future_is_not_hidden_behind_it(
    store: RegionStore, clock: Clock
) -> None:
    put(store, b"r", b"f", b"n", (1).to_bytes(8, "big", signed=True), clock.now + 5_000)
    assert store.increment(Increment(b"r", ((b"f", b"n", 1),))) == {(b"f", b"n"): 2}
    assert values(store, Get(b"r", max_versions=3)) == [(b"f:n", clock.now + 5_000, (2).to_bytes(8, "big"))]


def test_reads_asking_for_no_versions_or_no_rows_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="at least 1 version"):
        Get(b"r", max_versions=0)
    with pytest.raises(ValueError, match="limit is at least 1 row"):
        Scan(limit=0)
