"""Table end to end against a real local cluster: every method and argument, with HBase's (happybase's)
semantics for versions, timestamps, TTL and deletes, across region boundaries.

Each test gets its own table of four regions ([, d), [d, h), [h, p), [p, )) spread over two RegionServers,
so multi-row calls and scans cross regions and servers. Timestamps are given explicitly where a test is
about them, so nothing waits on the clock.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Iterator

import pytest

import regent
from client.errors import (
    FilterSyntax,
    NoSuchFamily,
    NotACounter,
    RowsFailed,
    RowTooLong,
    TableNotEnabled,
    TableNotFound,
)
from client.table import Table
from tests.cluster import Cluster, module_cluster

SPLITS = [b"d", b"h", b"p"]
_names = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=2) as made:
        yield made


@pytest.fixture(scope="module")
def conn(cluster: Cluster) -> Iterator[regent.Connection]:  # type: ignore[name-defined]
    with regent.connect(cluster.master_addresses, timeout=30.0) as connection:
        yield connection


@pytest.fixture
def table(cluster: Cluster, conn: object) -> Table:
    name = f"t{next(_names)}"
    cluster.admin.create_table(
        name, {"f": {"max_versions": 3}, "g": None, "ttl": {"ttl": 10}}, split_keys=SPLITS
    )
    return conn.table(name)  # type: ignore[attr-defined, no-any-return]


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- put, row, rows, cells ----


def test_put_then_row_returns_the_newest_version_of_every_column(table: Table) -> None:
    table.put(b"a", {b"f:x": b"1", b"f:y": b"2", b"g:z": b"3"})
    table.put("a", {"f:x": "4"})  # str is UTF-8, as happybase's Thrift layer does
    assert table.row(b"a") == {b"f:x": b"4", b"f:y": b"2", b"g:z": b"3"}
    assert table.row(b"a", columns=[b"f"]) == {b"f:x": b"4", b"f:y": b"2"}
    assert table.row(b"a", columns=(b"f:y", b"g")) == {b"f:y": b"2", b"g:z": b"3"}
    assert table.row(b"nothing") == {}


def test_a_read_with_a_timestamp_returns_versions_strictly_older(table: Table) -> None:
    table.put(b"r", {b"f:x": b"old"}, timestamp=1000)
    table.put(b"r", {b"f:x": b"new"}, timestamp=2000)
    assert table.row(b"r", timestamp=2000) == {b"f:x": b"old"}
    assert table.row(b"r", timestamp=2001) == {b"f:x": b"new"}
    assert table.row(b"r", timestamp=1000) == {}
    assert table.row(b"r", timestamp=0) == {}
    assert table.row(b"r", include_timestamp=True) == {b"f:x": (b"new", 2000)}
    assert table.rows([b"r"], timestamp=2000, include_timestamp=True) == [(b"r", {b"f:x": (b"old", 1000)})]


def test_rows_come_back_in_the_order_asked_across_regions_without_missing_ones(table: Table) -> None:
    keys = [b"zz", b"a", b"e", b"i", b"q", b"b"]
    with table.batch() as batch:
        for key in keys:
            batch.put(key, {b"f:k": key, b"g:k": key.upper()})
    asked = [b"q", b"missing", b"a", b"zz", b"e", b"a", b"i"]
    assert table.rows(asked) == [(k, {b"f:k": k, b"g:k": k.upper()}) for k in asked if k != b"missing"]
    assert table.rows([b"a", b"e"], columns=[b"g:k"]) == [(b"a", {b"g:k": b"A"}), (b"e", {b"g:k": b"E"})]
    assert table.rows([]) == []


def test_cells_returns_versions_newest_first_up_to_the_family_maximum(table: Table) -> None:
    for ts in (10, 20, 30, 40):
        table.put(b"c", {b"f:v": b"v%d" % ts, b"g:v": b"g%d" % ts}, timestamp=ts)
    assert table.cells(b"c", b"f:v") == [b"v40", b"v30", b"v20"]  # max_versions 3
    assert table.cells(b"c", b"f:v", versions=2, include_timestamp=True) == [(b"v40", 40), (b"v30", 30)]
    assert table.cells(b"c", b"f:v", timestamp=30) == [b"v20"]  # v10 is past the 3 newest
    assert table.cells(b"c", b"g:v") == [b"g40"]  # max_versions 1
    assert table.cells(b"c", b"f:none") == []


def test_a_family_ttl_hides_cells_older_than_it(table: Table) -> None:
    table.put(b"t", {b"ttl:old": b"1"}, timestamp=now_ms() - 60_000)
    table.put(b"t", {b"ttl:new": b"2"})
    assert table.row(b"t") == {b"ttl:new": b"2"}
    assert table.cells(b"t", b"ttl:old") == []


# ---- deletes ----


def test_deletes_of_a_row_a_family_and_a_column(table: Table) -> None:
    data = {b"f:a": b"1", b"f:b": b"2", b"g:c": b"3"}
    for key in (b"r1", b"r2", b"r3"):
        table.put(key, data)
    table.delete(b"r1")
    table.delete(b"r2", columns=[b"f"])
    table.delete(b"r3", columns=[b"f:a", b"g:c"])
    assert table.row(b"r1") == {}
    assert table.row(b"r2") == {b"g:c": b"3"}
    assert table.row(b"r3") == {b"f:b": b"2"}
    table.delete(b"r3", columns=[])  # nothing to delete: nothing sent
    assert table.row(b"r3") == {b"f:b": b"2"}


def test_a_delete_with_a_timestamp_removes_only_versions_at_or_below_it(table: Table) -> None:
    for ts in (100, 200, 300):
        table.put(b"d", {b"f:x": b"%d" % ts, b"g:y": b"%d" % ts}, timestamp=ts)
    table.delete(b"d", columns=[b"f:x"], timestamp=200)
    assert table.cells(b"d", b"f:x", include_timestamp=True) == [(b"300", 300)]
    table.delete(b"d", timestamp=300)
    assert table.row(b"d") == {}
    table.put(b"d", {b"f:x": b"later"}, timestamp=400)
    assert table.row(b"d") == {b"f:x": b"later"}


# ---- batches ----


def test_a_batch_sends_on_leaving_and_with_batch_size_as_it_fills(table: Table) -> None:
    with table.batch(batch_size=7) as batch:
        for i in range(20):
            batch.put(b"b%02d" % i, {b"f:i": b"%d" % i})
        assert len(table.rows([b"b%02d" % i for i in range(20)])) == 14  # two full sends so far
        batch.delete(b"b00")
    assert len(list(table.scan(row_prefix=b"b"))) == 19


def test_a_transaction_batch_sends_nothing_when_its_block_raises(table: Table) -> None:
    with pytest.raises(KeyError), table.batch(transaction=True) as batch:
        batch.put(b"tx", {b"f:a": b"1"})
        raise KeyError("boom")
    assert table.row(b"tx") == {}
    with pytest.raises(KeyError), table.batch() as batch:  # without transaction, happybase sends
        batch.put(b"tx", {b"f:a": b"1"})
        raise KeyError("boom")
    assert table.row(b"tx") == {b"f:a": b"1"}


def test_a_batch_reports_the_refused_rows_and_each_row_is_all_or_nothing(table: Table) -> None:
    with pytest.raises(RowsFailed) as info, table.batch(timestamp=5) as batch:
        batch.put(b"ok1", {b"f:a": b"1"})
        batch.put(b"bad", {b"f:a": b"1", b"nope:a": b"2"})  # one unknown family: none of the row
        batch.put(b"x" * 40_000, {b"f:a": b"1"})
        batch.put(b"ok2", {b"g:b": b"2"})
    failed = info.value.failed
    assert set(failed) == {b"bad", b"x" * 40_000}
    assert isinstance(failed[b"bad"], NoSuchFamily) and isinstance(failed[b"x" * 40_000], RowTooLong)
    assert table.row(b"bad") == {}
    assert table.row(b"ok1", include_timestamp=True) == {b"f:a": (b"1", 5)}
    assert table.row(b"ok2") == {b"g:b": b"2"}


def test_single_row_refusals_raise_the_rows_error(table: Table) -> None:
    with pytest.raises(NoSuchFamily, match="nope"):
        table.put(b"r", {b"nope:a": b"1"})
    with pytest.raises(RowTooLong):
        table.put(b"k" * 32_768, {b"f:a": b"1"})
    with pytest.raises(NoSuchFamily):
        table.row(b"r", columns=[b"nope"])
    with pytest.raises(FilterSyntax, match="offset"):
        list(table.scan(filter="PrefixFilter('a'"))
    with pytest.raises(TableNotFound):
        table.connection.table("no_such_table").row(b"r")


def test_a_disabled_table_refuses_reads_and_writes_at_once(table: Table, cluster: Cluster) -> None:
    table.put(b"r", {b"f:a": b"1"})
    cluster.admin.disable_table(table.table_name)
    started = time.monotonic()
    with pytest.raises(TableNotEnabled, match="DISABLED"):
        table.row(b"r")
    with pytest.raises(TableNotEnabled):
        table.put(b"r", {b"f:a": b"2"})
    with pytest.raises(TableNotEnabled):
        list(table.scan())
    assert time.monotonic() - started < 10  # not after the 30 s deadline
    cluster.admin.enable_table(table.table_name)
    assert table.row(b"r") == {b"f:a": b"1"}


# ---- counters ----


def test_counters(table: Table) -> None:
    assert table.counter_get(b"n", b"f:c") == 0
    assert table.counter_inc(b"n", b"f:c") == 1
    assert table.counter_inc(b"n", b"f:c", 10) == 11
    assert table.counter_dec(b"n", b"f:c") == 10
    assert table.counter_dec(b"n", b"f:c", 20) == -10
    table.counter_set(b"n", b"f:c", 42)
    assert table.counter_get(b"n", b"f:c") == 42
    assert table.row(b"n") == {b"f:c": struct.pack(">q", 42)}
    table.put(b"n", {b"f:text": b"abc"})
    with pytest.raises(NotACounter):
        table.counter_inc(b"n", b"f:text")


# ---- scans ----


def _fill(table: Table) -> list[bytes]:
    keys = [bytes([c]) + b"%02d" % i for c in b"abcdefghijklmnopqrstuvwxyz" for i in range(3)]
    with table.batch() as batch:
        for key in keys:
            batch.put(key, {b"f:a": key, b"f:b": b"B", b"g:c": b"C"})
    return keys


def test_a_scan_returns_every_row_in_order_across_regions_with_any_page_size(table: Table) -> None:
    keys = _fill(table)
    for batch_size in (1, 2, 5, 1000):
        assert [k for k, _ in table.scan(batch_size=batch_size)] == keys
    row = dict(table.scan(row_start=b"a00", row_stop=b"a01"))
    assert row == {b"a00": {b"f:a": b"a00", b"f:b": b"B", b"g:c": b"C"}}


def test_scan_bounds_prefix_limit_and_reverse(table: Table) -> None:
    keys = _fill(table)
    assert [k for k, _ in table.scan(row_start=b"c", row_stop=b"j")] == [k for k in keys if b"c" <= k < b"j"]
    assert [k for k, _ in table.scan(row_prefix=b"h")] == [b"h00", b"h01", b"h02"]
    assert [k for k, _ in table.scan(limit=10, batch_size=3)] == keys[:10]
    assert [k for k, _ in table.scan(row_start=b"c", limit=8)] == [k for k in keys if k >= b"c"][:8]
    assert [k for k, _ in table.scan(reverse=True)] == keys[::-1]
    assert [k for k, _ in table.scan(reverse=True, batch_size=2, limit=7)] == keys[::-1][:7]
    assert [k for k, _ in table.scan(row_start=b"j", row_stop=b"c", reverse=True)] == [
        k for k in reversed(keys) if b"c" < k <= b"j"
    ]
    assert [k for k, _ in table.scan(row_prefix=b"h", reverse=True)] == [b"h02", b"h01", b"h00"]
    assert [k for k, _ in table.scan(row_prefix=b"d", reverse=True)] == [b"d02", b"d01", b"d00"]


def test_scan_columns_timestamp_include_timestamp_and_sorted_columns(table: Table) -> None:
    table.put(b"s", {b"g:c": b"1", b"f:b": b"2", b"f:a": b"3"}, timestamp=50)
    table.put(b"s", {b"f:a": b"4"}, timestamp=60)
    assert dict(table.scan(columns=[b"f:a"])) == {b"s": {b"f:a": b"4"}}
    assert dict(table.scan(timestamp=60)) == {b"s": {b"g:c": b"1", b"f:b": b"2", b"f:a": b"3"}}
    assert dict(table.scan(columns=[b"g"], include_timestamp=True)) == {b"s": {b"g:c": (b"1", 50)}}
    ((_, row),) = table.scan(sorted_columns=True)
    assert list(row) == [b"f:a", b"f:b", b"g:c"]
    assert list(table.scan(timestamp=0)) == []


def test_scan_batching_cuts_wide_rows_into_pieces(table: Table) -> None:
    table.put(b"wide", {b"f:%02d" % i: b"v" for i in range(7)})
    table.put(b"wider", {b"g:%02d" % i: b"w" for i in range(3)})
    pieces = list(table.scan(scan_batching=3))
    assert [(k, len(r)) for k, r in pieces] == [(b"wide", 3), (b"wide", 3), (b"wide", 1), (b"wider", 3)]


def test_scan_with_filters(table: Table) -> None:
    keys = _fill(table)
    assert [k for k, _ in table.scan(filter="PrefixFilter('q')")] == [b"q00", b"q01", b"q02"]
    only_keys = dict(table.scan(row_prefix=b"a", filter=b"KeyOnlyFilter()"))
    assert only_keys[b"a00"] == {b"f:a": b"", b"f:b": b"", b"g:c": b""}
    firsts = dict(table.scan(filter="FirstKeyOnlyFilter()"))
    assert set(firsts) == set(keys) and all(len(r) == 1 for r in firsts.values())
    matched = [k for k, _ in table.scan(filter="SingleColumnValueFilter('f', 'a', =, 'binary:m01')")]
    assert matched == [b"m01"]


def test_a_scan_left_early_closes_its_scanner(table: Table) -> None:
    _fill(table)
    scan = table.scan(batch_size=2)
    assert next(scan)[0] == b"a00"
    scan.close()  # the generator's finally closes the server-side scanner
    assert next(iter(table.scan()))[0] == b"a00"


# ---- what the table is ----


def test_families_and_regions(table: Table) -> None:
    families = table.families()
    assert set(families) == {b"f", b"g", b"ttl"}
    assert families[b"f"]["max_versions"] == 3 and families[b"f"]["name"] == b"f:"
    assert families[b"ttl"]["time_to_live"] == 10
    assert families[b"g"]["time_to_live"] == 2**31 - 1
    regions = table.regions()
    assert [(r["start_key"], r["end_key"]) for r in regions] == [
        (b"", b"d"),
        (b"d", b"h"),
        (b"h", b"p"),
        (b"p", b""),
    ]
    assert all(r["server_name"] == b"127.0.0.1" and r["port"] for r in regions)


def test_compaction_drops_deleted_and_overwritten_versions(table: Table, cluster: Cluster) -> None:
    for ts in range(1, 6):
        table.put(b"e", {b"g:x": b"%d" % ts}, timestamp=ts)  # g keeps 1 version
    table.delete(b"e", columns=[b"g:x"], timestamp=3)
    before = table.cells(b"e", b"g:x", include_timestamp=True)
    done = cluster.admin.compact(table.table_name)
    assert len(done) == 4
    (region,) = [c for c in done if c.cells_before]
    assert region.cells_after < region.cells_before
    assert table.cells(b"e", b"g:x", include_timestamp=True) == before == [(b"5", 5)]
    (only,) = cluster.admin.compact(region.region_id)
    assert only.region_id == region.region_id and only.cells_after == only.cells_before
