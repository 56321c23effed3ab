"""Thrift scanners' lifetime in a real gateway process: they expire when idle (and a read of an expired one
is HBase's IllegalArgument), a connection may hold only so many, and scannerClose frees one."""

from __future__ import annotations

from collections.abc import Iterator

import happybase  # noqa: F401  # loads the IDL as the module Hbase_thrift
import Hbase_thrift as hb
import pytest

from tests.cluster import Cluster, module_cluster, wait_until
from tests.thrift_gateway import Gateway, gateway_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=1) as made:
        yield made


@pytest.fixture(scope="module")
def gateway(cluster: Cluster) -> Gateway:
    made = gateway_for(cluster, extra_args=["--scanner-timeout", "1", "--max-scanners-per-connection", "3"])
    conn = made.connect()
    conn.create_table("scanned", {"cf": {}})
    with conn.table("scanned").batch() as b:
        for i in range(10):
            b.put(b"r%d" % i, {b"cf:c": b"%d" % i})
    conn.close()
    return made


def test_an_idle_scanner_expires(gateway: Gateway) -> None:
    conn = gateway.connect()
    try:
        kept = conn.client.scannerOpen(b"scanned", b"", [], {})
        left = conn.client.scannerOpen(b"scanned", b"", [], {})
        assert [r.row for r in conn.client.scannerGetList(left, 2)] == [b"r0", b"r1"]

        def read_kept() -> bool:
            conn.client.scannerGet(kept)  # read often: never idle for the timeout
            return gateway.daemon.has_event("scanners_expired")

        wait_until(read_kept, 20, "the gateway to expire the idle scanner", context=gateway.daemon.log_tail)
        with pytest.raises(hb.IllegalArgument, match="scanner ID is invalid"):
            conn.client.scannerGet(left)
        assert conn.client.scannerGetList(kept, 100) == []  # read to its end by the polling
        conn.client.scannerClose(kept)
    finally:
        conn.close()


def test_a_connection_holds_a_bounded_number_of_scanners(gateway: Gateway) -> None:
    first, second = gateway.connect(), gateway.connect()
    try:
        ids = [first.client.scannerOpen(b"scanned", b"", [], {}) for _ in range(3)]
        with pytest.raises(hb.IOError, match="holds 3 open scanners"):
            first.client.scannerOpen(b"scanned", b"", [], {})
        other = second.client.scannerOpen(b"scanned", b"r5", [], {})  # another connection may
        assert second.client.scannerGet(other)[0].row == b"r5"
        first.client.scannerClose(ids[0])
        again = first.client.scannerOpen(b"scanned", b"r8", [], {})
        assert [r.row for r in first.client.scannerGetList(again, 10)] == [b"r8", b"r9"]
        assert first.client.scannerGetList(again, 10) == []  # exhausted: empty, still open
        first.client.scannerClose(again)
    finally:
        first.close()
        second.close()


def test_opening_a_scanner_on_a_missing_table_fails_at_once(gateway: Gateway) -> None:
    conn = gateway.connect()
    try:
        with pytest.raises(hb.IOError, match="TableNotFoundException"):
            conn.client.scannerOpen(b"no_such_table", b"", [], {})
        with pytest.raises(hb.IOError, match="IllegalArgumentException"):
            conn.client.scannerOpenWithScan(b"scanned", hb.TScan(filterString=b"Nonsense((("), {})
        scan = hb.TScan(startRow=b"r7", stopRow=b"r2", reversed=True, caching=2, sortColumns=True)
        sid = conn.client.scannerOpenWithScan(b"scanned", scan, {})
        rows = conn.client.scannerGetList(sid, 100)
        assert [r.row for r in rows] == [b"r7", b"r6", b"r5", b"r4", b"r3"]
        assert rows[0].sortedColumns[0].columnName == b"cf:c" and rows[0].columns is None
        conn.client.scannerClose(sid)
        sid = conn.client.scannerOpenWithPrefix(b"scanned", b"r1", [b"cf:c"], {})
        assert [r.row for r in conn.client.scannerGetList(sid, 100)] == [b"r1"]
        sid = conn.client.scannerOpenWithStopTs(b"scanned", b"r1", b"r3", [], 2**63 - 1, {})
        assert [r.row for r in conn.client.scannerGetList(sid, 100)] == [b"r1", b"r2"]
        sid = conn.client.scannerOpenTs(b"scanned", b"r8", [], 1, {})
        assert conn.client.scannerGetList(sid, 100) == []
    finally:
        conn.close()
