"""The same operations through happybase + the Thrift gateway and through Regent's own Table give the same
answers (hypothesis): writes go through either path at random, and every read is asked of both."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regent
from tests.cluster import Cluster, module_cluster
from tests.hypothesis_profiles import examples
from tests.thrift_gateway import gateway_for

pytestmark = pytest.mark.timeout(300)

TABLE = "equivalence"
COLUMNS = [b"a:x", b"a:y", b"b:x"]
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(happybase Table through a gateway, the SDK's Table) on one table of a real cluster."""
    with module_cluster(tmp_path_factory, servers=2) as cluster:
        yield from _open(cluster)


def _open(cluster: Cluster) -> Iterator[tuple[Any, Any]]:
    gateway = gateway_for(cluster, transport="framed", protocol="compact")
    thrift = gateway.connect()
    thrift.create_table(TABLE, {"a": {"max_versions": 3}, "b": {"max_versions": 1}})
    native = regent.connect(cluster.master_addresses, timeout=30.0)
    try:
        yield thrift.table(TABLE), native.table(TABLE)
    finally:
        thrift.close()
        native.close()


rows = st.sampled_from([b"r0", b"r1", b"r1\x00", b"r2", b"r\xff"])
timestamps = st.one_of(st.none(), st.integers(1, 50))
values = st.binary(max_size=4)
puts = st.tuples(
    st.just("put"), rows, st.dictionaries(st.sampled_from(COLUMNS), values, min_size=1), timestamps
)
deletes = st.tuples(
    st.just("delete"),
    rows,
    st.one_of(st.none(), st.lists(st.sampled_from([*COLUMNS, b"a", b"b"]), min_size=1, max_size=2)),
    timestamps,
)
operations = st.lists(st.tuples(st.booleans(), st.one_of(puts, deletes)), min_size=1, max_size=12)


def _apply(table: Any, prefix: bytes, op: tuple[Any, ...]) -> None:
    kind, row, arg, ts = op
    if kind == "put":
        table.put(prefix + row, arg, timestamp=ts)
    else:
        table.delete(prefix + row, arg, timestamp=ts)


@settings(
    max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=operations,
    read_ts=timestamps,
    versions=st.integers(1, 4),
    columns=st.one_of(st.none(), st.lists(st.sampled_from([*COLUMNS, b"a"]), min_size=1, max_size=2)),
    reverse=st.booleans(),
    limit=st.one_of(st.none(), st.integers(1, 4)),
)
def test_happybase_through_the_gateway_answers_as_the_sdk_does(
    paths: tuple[Any, Any],
    ops: list[tuple[bool, tuple[Any, ...]]],
    read_ts: int | None,
    versions: int,
    columns: list[bytes] | None,
    reverse: bool,
    limit: int | None,
) -> None:
    thrift, native = paths
    prefix = b"p%05d-" % next(_prefixes)
    for through_thrift, op in ops:
        _apply(thrift if through_thrift else native, prefix, op)
    keys = [prefix + r for r in (b"r0", b"r1", b"r1\x00", b"r2", b"r\xff", b"absent")]

    def both(call: str, *args: Any, **kw: Any) -> Any:
        via_thrift = getattr(thrift, call)(*args, **kw)
        via_sdk = getattr(native, call)(*args, **kw)
        if call == "scan":
            via_thrift, via_sdk = list(via_thrift), list(via_sdk)
        assert via_thrift == via_sdk, f"{call}{args}{kw}"
        return via_thrift

    for key in keys:
        both("row", key, columns=columns, timestamp=read_ts, include_timestamp=True)
        for column in COLUMNS:
            both("cells", key, column, versions=versions, timestamp=read_ts, include_timestamp=True)
    assert dict(both("rows", keys, columns=columns, timestamp=read_ts)) == dict(
        native.rows(keys, columns=columns, timestamp=read_ts)
    )
    both(
        "scan",
        row_prefix=prefix,
        columns=columns,
        timestamp=read_ts,
        include_timestamp=True,
        reverse=reverse,
        limit=limit,
        batch_size=2,
    )
    both("scan", row_start=prefix + b"r1", row_stop=prefix + b"r2", columns=columns, sorted_columns=True)
