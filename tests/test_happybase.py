"""regent.happybase end to end against a real local cluster: happybase code that runs unchanged apart from
its import, every Connection method and argument, table prefixes, family options, the pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import regent.happybase as happybase
from client.errors import TableNotDisabled, TableNotFound
from tests.background import CheckedThread
from tests.cluster import Cluster, module_cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=2) as made:
        yield made


@pytest.fixture
def host_port(cluster: Cluster) -> tuple[str, int]:
    host, port = cluster.master_addresses.split(",")[0].rsplit(":", 1)
    return host, int(port)


def test_happybase_code_runs_unchanged(host_port: tuple[str, int]) -> None:
    # What a happybase user has written, as the happybase tutorial writes it.
    connection = happybase.Connection(host_port[0], host_port[1])
    connection.create_table("mytable", {"cf1": dict(max_versions=10), "cf2": dict(), "cf3": dict()})
    table = connection.table("mytable")
    table.put(b"row-key", {b"cf1:col1": b"value1", b"cf1:col2": b"value2"})
    row = table.row(b"row-key")
    assert row[b"cf1:col1"] == b"value1"
    for key, data in table.rows([b"row-key", b"other"]):
        assert key == b"row-key" and data[b"cf1:col2"] == b"value2"
    for key, _data in table.scan(row_prefix=b"row"):
        assert key == b"row-key"
    b = table.batch()
    b.put(b"row-key-1", {b"cf2:col1": b"value1", b"cf2:col2": b"value2"})
    b.put(b"row-key-2", {b"cf2:col2": b"value2", b"cf2:col3": b"value3"})
    b.delete(b"row-key")
    b.send()
    with table.batch() as b:
        b.put(b"row-key-3", {b"cf3:col1": b"value3"})
    assert [k for k, _ in table.scan()] == [b"row-key-1", b"row-key-2", b"row-key-3"]
    assert table.counter_inc(b"row-key", b"cf1:counter") == 1
    assert table.name == b"mytable"
    assert b"mytable" in connection.tables()
    connection.disable_table("mytable")
    assert not connection.is_table_enabled("mytable")
    connection.delete_table("mytable")
    connection.close()


def test_create_table_maps_happybase_family_options(host_port: tuple[str, int]) -> None:
    connection = happybase.Connection(*host_port)
    connection.create_table(
        "opts",
        {
            "a": {},  # Thrift's ColumnDescriptor default: 3 versions
            "b": {"max_versions": 1, "time_to_live": 3600, "compression": "GZ", "in_memory": True},
            "c:": {"bloom_filter_type": "ROW", "bloom_filter_vector_size": 0, "bloom_filter_nb_hashes": 0},
            "d": {"block_cache_enabled": False, "time_to_live": -1},
        },
    )
    families = connection.table("opts").families()
    assert families[b"a"]["max_versions"] == 3
    assert families[b"b"]["max_versions"] == 1 and families[b"b"]["time_to_live"] == 3600
    assert families[b"c"]["max_versions"] == 3
    assert families[b"d"]["time_to_live"] == 2**31 - 1
    with pytest.raises(TypeError, match="unknown option"):
        connection.create_table("opts2", {"a": {"max_version": 2}})
    connection.delete_table("opts", disable=True)
    assert b"opts" not in connection.tables()


def test_table_prefix_names_tables_and_lists_only_its_own(host_port: tuple[str, int]) -> None:
    plain = happybase.Connection(*host_port)
    prefixed = happybase.Connection(*host_port, table_prefix="app", table_prefix_separator=b"_")
    prefixed.create_table("users", {"f": None})
    assert b"app_users" in plain.tables()
    assert prefixed.tables() == [b"users"]
    prefixed.table("users").put(b"r", {b"f:a": b"1"})
    assert plain.table("app_users").row(b"r") == {b"f:a": b"1"}
    assert prefixed.table("app_users", use_prefix=False).row(b"r") == {b"f:a": b"1"}
    prefixed.delete_table("users", disable=True)


def test_enable_disable_delete_and_their_refusals(host_port: tuple[str, int]) -> None:
    connection = happybase.Connection(*host_port)
    connection.create_table("switch", {"f": None})
    assert connection.is_table_enabled("switch")
    with pytest.raises(TableNotDisabled):
        connection.delete_table("switch")  # disable=False: HBase refuses an enabled table
    connection.disable_table("switch")
    connection.enable_table(b"switch")
    connection.table("switch").put(b"r", {b"f:a": b"1"})
    connection.compact_table("switch")
    connection.compact_table("switch", major=True)
    assert connection.table("switch").row(b"r") == {b"f:a": b"1"}
    connection.delete_table("switch", disable=True)
    with pytest.raises(TableNotFound):
        connection.is_table_enabled("switch")


def test_open_close_autoconnect_timeout_and_addresses(cluster: Cluster, host_port: tuple[str, int]) -> None:
    lazy = happybase.Connection(*host_port, autoconnect=False, timeout=20_000)
    assert lazy.timeout == 20_000
    lazy.open()
    lazy.open()  # idempotent
    lazy.create_table("life", {"f": None})
    lazy.close()
    lazy.close()
    assert b"life" in lazy.tables()  # a closed connection opens again when used, as happybase's does
    several = happybase.Connection(cluster.master_addresses + ",127.0.0.1:1")
    assert several.table("life").row(b"r") == {}
    lazy.delete_table("life", disable=True)
    with pytest.raises(ValueError, match="timeout"):
        happybase.Connection(*host_port, timeout=0)


def test_the_pool_hands_out_connections_and_says_when_none_is_free(host_port: tuple[str, int]) -> None:
    pool = happybase.ConnectionPool(size=2, host=host_port[0], port=host_port[1])
    with pool.connection() as first:
        with pool.connection() as again:
            assert again is first  # the same thread gets its own connection back
        first.create_table("pooled", {"f": None})
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with pool.connection() as other:
                assert other is not first
                held.set()
                release.wait(10)

        holder = CheckedThread(hold, name="pool-holder").start()
        wait_until(held.is_set, 10, "the other thread holding the second connection")
        failures: list[BaseException] = []

        def starved() -> None:
            try:
                with pool.connection(timeout=0.05):
                    pass
            except happybase.NoConnectionsAvailable as exc:
                failures.append(exc)

        CheckedThread(starved, name="pool-starved").start().finish()
        release.set()
        holder.finish()
        assert len(failures) == 1
        first.table("pooled").put(b"r", {b"f:a": b"1"})
        first.delete_table("pooled", disable=True)
