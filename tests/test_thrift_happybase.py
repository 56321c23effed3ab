"""The unmodified happybase package against `regent thrift` processes on a real cluster, in every transport
and protocol happybase can select: every Connection, Table, Batch and ConnectionPool method with its
arguments, timestamps, versions, counters, filters, reverse and prefix scans, limits and batch sizes, and
HBase's errors."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import happybase
import Hbase_thrift as errors  # the IDL module happybase loads (its exception and struct classes)
import pytest

from tests.cluster import Cluster, module_cluster
from tests.thrift_gateway import COMBINATIONS, Gateway, gateway_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=2) as made:
        yield made


@pytest.fixture(scope="module")
def gateways(cluster: Cluster) -> dict[tuple[str, str], Gateway]:
    return {(t, p): gateway_for(cluster, transport=t, protocol=p) for t, p in COMBINATIONS}


@pytest.fixture(params=COMBINATIONS, ids=[f"{t}-{p}" for t, p in COMBINATIONS])
def gateway(request: pytest.FixtureRequest, gateways: dict[tuple[str, str], Gateway]) -> Gateway:
    return gateways[request.param]


@pytest.fixture
def connection(gateway: Gateway) -> Iterator[happybase.Connection]:
    conn = gateway.connect()
    yield conn
    conn.close()


def fresh_table(
    conn: happybase.Connection, name: str, families: dict[str, dict[str, object]]
) -> happybase.Table:
    if name.encode() in conn.tables():
        conn.delete_table(name, disable=True)
    conn.create_table(name, families)
    return conn.table(name)


def test_happybase_tutorial_runs_unchanged(connection: happybase.Connection, gateway: Gateway) -> None:
    name = f"tutorial_{gateway.transport}_{gateway.protocol}"
    connection.create_table(name, {"cf1": dict(max_versions=10), "cf2": dict(), "cf3": dict()})
    assert name.encode() in connection.tables()
    table = connection.table(name)
    table.put(b"row-key", {b"cf1:col1": b"value1", b"cf1:col2": b"value2"})
    assert table.row(b"row-key") == {b"cf1:col1": b"value1", b"cf1:col2": b"value2"}
    assert table.row(b"row-key", columns=[b"cf1:col1"]) == {b"cf1:col1": b"value1"}
    assert [k for k, _ in table.rows([b"row-key", b"other"])] == [b"row-key"]
    b = table.batch()
    b.put(b"row-key-1", {b"cf2:col1": b"value1", b"cf2:col2": b"value2"})
    b.put(b"row-key-2", {b"cf2:col2": b"value2", b"cf2:col3": b"value3"})
    b.delete(b"row-key")
    b.send()
    with table.batch() as b:
        b.put(b"row-key-3", {b"cf3:col1": b"value3"})
    assert [k for k, _ in table.scan()] == [b"row-key-1", b"row-key-2", b"row-key-3"]
    assert [k for k, _ in table.scan(row_prefix=b"row-key-")] == [b"row-key-1", b"row-key-2", b"row-key-3"]
    assert table.counter_inc(b"row-key", b"cf1:counter") == 1
    assert connection.is_table_enabled(name)
    connection.disable_table(name)
    assert not connection.is_table_enabled(name)
    connection.enable_table(name)
    connection.delete_table(name, disable=True)
    assert name.encode() not in connection.tables()


def test_families_and_regions_describe_the_table(connection: happybase.Connection, gateway: Gateway) -> None:
    table = fresh_table(
        connection,
        f"desc_{gateway.protocol}_{gateway.transport}",
        {"a": {}, "b": {"max_versions": 1, "time_to_live": 3600}},
    )
    families = table.families()
    assert set(families) == {b"a", b"b"}
    assert families[b"a"]["max_versions"] == 3  # Thrift's ColumnDescriptor default
    assert families[b"a"]["time_to_live"] == 2**31 - 1
    assert families[b"b"]["max_versions"] == 1 and families[b"b"]["time_to_live"] == 3600
    (region,) = table.regions()
    assert region["start_key"] == b"" and region["end_key"] == b""
    assert region["server_name"] == b"127.0.0.1" and region["port"] > 0
    assert region["name"].startswith(table.name + b",,")
    connection.compact_table(table.name)
    connection.compact_table(table.name, major=True)
    assert connection.client.getTableRegions(b"no_such_table") == []


def test_reads_with_timestamps_and_versions(connection: happybase.Connection, gateway: Gateway) -> None:
    table = fresh_table(
        connection, f"versions_{gateway.transport}_{gateway.protocol}", {"cf": {"max_versions": 5}}
    )
    for ts, value in ((100, b"v1"), (200, b"v2"), (300, b"v3")):
        table.put(b"r", {b"cf:c": value, b"cf:d": value + b"d"}, timestamp=ts)
    assert table.row(b"r") == {b"cf:c": b"v3", b"cf:d": b"v3d"}
    assert table.row(b"r", include_timestamp=True)[b"cf:c"] == (b"v3", 300)
    assert table.row(b"r", timestamp=300) == {b"cf:c": b"v2", b"cf:d": b"v2d"}  # strictly older
    assert table.row(b"r", columns=[b"cf:d"], timestamp=200, include_timestamp=True) == {
        b"cf:d": (b"v1d", 100)
    }
    assert table.row(b"r", timestamp=100) == {}
    assert table.cells(b"r", b"cf:c") == [b"v3", b"v2", b"v1"]
    assert table.cells(b"r", b"cf:c", versions=2, include_timestamp=True) == [(b"v3", 300), (b"v2", 200)]
    assert table.cells(b"r", b"cf:c", timestamp=300, include_timestamp=True) == [(b"v2", 200), (b"v1", 100)]
    assert table.cells(b"nothing", b"cf:c") == []
    assert table.rows([b"r", b"nothing", b"r"], columns=[b"cf:c"], timestamp=250) == [
        (b"r", {b"cf:c": b"v2"}),
        (b"r", {b"cf:c": b"v2"}),
    ]
    assert table.rows([]) == {}  # happybase answers rows([]) itself, with a dict
    # Deletes at or below a timestamp, of a column, a family, a row.
    table.delete(b"r", columns=[b"cf:c"], timestamp=200)
    assert table.cells(b"r", b"cf:c", include_timestamp=True) == [(b"v3", 300)]
    table.delete(b"r", columns=[b"cf:d"])
    assert table.row(b"r") == {b"cf:c": b"v3"}
    table.put(b"r2", {b"cf:x": b"1"}, timestamp=50)
    table.delete(b"r2", timestamp=10)
    assert table.row(b"r2") == {b"cf:x": b"1"}
    table.delete(b"r2")
    assert table.row(b"r2") == {}
    # The raw getVer / getVerTs / getRowTs calls happybase does not reach directly.
    client = connection.client
    assert [c.value for c in client.getVer(table.name, b"r", b"cf:c", 1, {})] == [b"v3"]
    assert [c.timestamp for c in client.getVerTs(table.name, b"r", b"cf:c", 301, 5, {})] == [300]
    assert client.getRowTs(table.name, b"r", 300, {}) == []
    assert [c.value for c in client.getRowOrBefore(table.name, b"r1", b"cf")] == [b"v3"]


def test_scans_of_every_kind(connection: happybase.Connection, gateway: Gateway) -> None:
    table = fresh_table(connection, f"scans_{gateway.transport}_{gateway.protocol}", {"a": {}, "b": {}})
    with table.batch(batch_size=7) as b:
        for i in range(30):
            b.put(b"k%02d" % i, {b"a:x": b"%d" % i, b"b:y": b"y%d" % i, b"b:z": b"z"})
    keys = [b"k%02d" % i for i in range(30)]
    assert [k for k, _ in table.scan()] == keys
    assert [k for k, _ in table.scan(row_start=b"k05", row_stop=b"k09")] == keys[5:9]
    assert [k for k, _ in table.scan(row_prefix=b"k1")] == keys[10:20]
    # happybase's reverse prefix scan stops at the prefix itself, exclusive (a row b"k1" would be left out)
    assert [k for k, _ in table.scan(row_prefix=b"k1", reverse=True)] == keys[19:9:-1]
    assert [k for k, _ in table.scan(row_start=b"k09", row_stop=b"k05", reverse=True)] == keys[9:5:-1]
    assert [k for k, _ in table.scan(reverse=True, limit=3)] == keys[:-4:-1]
    assert [k for k, _ in table.scan(limit=4, batch_size=1)] == keys[:4]
    assert [k for k, _ in table.scan(batch_size=3)] == keys
    assert dict(table.scan(columns=[b"a"], limit=1)) == {b"k00": {b"a:x": b"0"}}
    assert dict(table.scan(columns=[b"b:z"], limit=1)) == {b"k00": {b"b:z": b"z"}}
    pieces = list(table.scan(row_prefix=b"k00", scan_batching=1))
    assert [(k, len(d)) for k, d in pieces] == [(b"k00", 1)] * 3
    ((_, row),) = table.scan(row_prefix=b"k01", sorted_columns=True)
    assert list(row) == [b"a:x", b"b:y", b"b:z"]
    ((_, row),) = table.scan(row_prefix=b"k02", include_timestamp=True, columns=[b"a:x"])
    assert row[b"a:x"][0] == b"2" and row[b"a:x"][1] > 0
    assert [k for k, _ in table.scan(filter=b"SingleColumnValueFilter('a', 'x', =, 'binary:7')")] == [b"k07"]
    assert [k for k, _ in table.scan(filter="PrefixFilter('k2') AND KeyOnlyFilter()")] == keys[20:]
    assert list(table.scan(row_start=b"zz")) == []
    assert list(table.scan(timestamp=1)) == []
    with pytest.raises(errors.IOError, match="IllegalArgumentException"):
        list(table.scan(filter=b"NoSuchFilter()"))


def test_batches_counters_and_pool(gateway: Gateway) -> None:
    pool = gateway.pool(3)
    with pool.connection() as conn:
        table = fresh_table(
            conn, f"batch_{gateway.transport}_{gateway.protocol}", {"cf": {"max_versions": 3}}
        )
        with table.batch(timestamp=1000) as b:
            b.put(b"a", {b"cf:1": b"x"})
            b.put(b"b", {b"cf:1": b"y"})
            b.delete(b"a", [b"cf:1"])
            b.put(b"a", {b"cf:2": b"z"})
        assert table.row(b"a", include_timestamp=True) == {b"cf:2": (b"z", 1000)}
        assert table.row(b"b") == {b"cf:1": b"y"}
        with pytest.raises(ValueError), table.batch(transaction=True) as b:
            b.put(b"c", {b"cf:1": b"never"})
            raise ValueError("abandon the batch")
        assert table.row(b"c") == {}
        assert table.counter_get(b"n", b"cf:count") == 0
        table.counter_set(b"n", b"cf:count", 40)
        assert table.counter_inc(b"n", b"cf:count", 3) == 43
        assert table.counter_dec(b"n", b"cf:count") == 42
        assert table.counter_dec(b"n", b"cf:count", 50) == -8
        assert table.row(b"n") == {b"cf:count": struct.pack(">q", -8)}
    with pool.connection() as conn:
        assert conn.table(f"batch_{gateway.transport}_{gateway.protocol}").row(b"b") == {b"cf:1": b"y"}


def test_connection_opened_later_and_wal_arguments(gateway: Gateway) -> None:
    conn = gateway.connect(autoconnect=False, timeout=20000)
    conn.open()
    try:
        table = fresh_table(conn, f"wal_{gateway.transport}_{gateway.protocol}", {"cf": {}})
        table.put(b"r", {b"cf:a": b"1"}, wal=False)
        with table.batch(wal=False) as b:
            b.put(b"s", {b"cf:a": b"2"}, wal=False)
            b.delete(b"r", wal=False)
        table.delete(b"s", columns=[b"cf"], wal=False)
        assert list(table.scan()) == []
        conn.delete_table(table.name, disable=True)
    finally:
        conn.close()


def test_table_prefix_names_only_its_own_tables(gateway: Gateway) -> None:
    conn = gateway.connect(table_prefix=f"app_{gateway.protocol}_{gateway.transport}")
    try:
        for name in list(conn.tables()):
            conn.delete_table(name, disable=True)
        conn.create_table("users", {"cf": {}})
        assert conn.tables() == [b"users"]
        conn.table("users").put(b"u1", {b"cf:n": b"ann"})
        assert conn.table("users").row(b"u1") == {b"cf:n": b"ann"}
    finally:
        conn.close()


def test_errors_are_hbase_errors(connection: happybase.Connection, gateway: Gateway) -> None:
    name = f"errors_{gateway.transport}_{gateway.protocol}"
    table = fresh_table(connection, name, {"cf": {}})
    with pytest.raises(errors.AlreadyExists, match="TableExistsException"):
        connection.create_table(name, {"cf": {}})
    with pytest.raises(errors.IOError, match="TableNotFoundException"):
        connection.table("no_such_table").row(b"r")
    with pytest.raises(errors.IOError, match="NoSuchColumnFamilyException"):
        table.put(b"r", {b"nope:c": b"v"})
    with pytest.raises(errors.IOError, match="NoSuchColumnFamilyException"), table.batch() as b:
        b.put(b"r1", {b"cf:c": b"v"})
        b.put(b"r2", {b"nope:c": b"v"})
    assert table.row(b"r1") == {b"cf:c": b"v"}  # the good row of the batch is written, as in HBase
    with pytest.raises(errors.IOError, match="TableNotDisabledException"):
        connection.delete_table(name)
    with pytest.raises(errors.IOError, match="DoNotRetryIOException"):
        table.counter_inc(b"r1", b"cf:c")
    with pytest.raises(errors.IllegalArgument, match="scanner ID is invalid"):
        connection.client.scannerGet(123456)
    with pytest.raises(errors.IllegalArgument, match="scanner ID is invalid"):
        connection.client.scannerClose(123456)
    with pytest.raises(errors.IllegalArgument):
        connection.client.mutateRow(table.name, b"r", [errors.Mutation(column=None, value=b"v")], {})
    with pytest.raises(errors.IllegalArgument, match="ColumnDescriptor"):
        connection.client.createTable(b"nofamilies", [])
    with pytest.raises(errors.IOError, match="append is not supported"):
        connection.client.append(errors.TAppend(table=table.name, row=b"r", columns=[b"cf:c"], values=[b"x"]))
    # The connection is still good after every error.
    assert table.row(b"r1") == {b"cf:c": b"v"}
