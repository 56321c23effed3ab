"""happybase through the gateway while the cluster fails: a scan loop and a write loop keep working while a
RegionServer is SIGKILLed and while the active master fails over; nothing acknowledged is lost and every
scan returns its rows once, in order."""

from __future__ import annotations

import signal
import threading

import pytest

from tests.background import CheckedThread
from tests.cluster import Cluster, wait_until
from tests.failure_helpers import SHORT_LEASE, Clusters, active_master, backup_master
from tests.thrift_gateway import Gateway, gateway_for

pytestmark = pytest.mark.timeout(240)
REGIONS = 6


class Load:
    """A happybase writer and a happybase scanner on connections of their own, until `stop()`."""

    def __init__(self, gateway: Gateway, table: bytes) -> None:
        self.gateway = gateway
        self.table = table
        self.acknowledged: list[bytes] = []
        self.scans = 0
        self._stop = threading.Event()
        self.writer = CheckedThread(self._write, name="thrift-writer").start()
        self.scanner = CheckedThread(self._scan, name="thrift-scanner").start()

    def _write(self) -> None:
        conn = self.gateway.connect()
        try:
            table, i = conn.table(self.table), 0
            while not self._stop.is_set():
                key = b"%08d" % (i * 2654435761 % 10**8)  # spread over the regions
                table.put(key, {b"f:v": b"%d" % i})
                self.acknowledged.append(key)
                i += 1
        finally:
            conn.close()

    def _scan(self) -> None:
        conn = self.gateway.connect()
        try:
            table = conn.table(self.table)
            while not self._stop.is_set():
                floor = len(self.acknowledged)  # written before the scan began: it must see them all
                before = set(self.acknowledged[:floor])
                keys = [k for k, _ in table.scan(batch_size=50)]
                assert keys == sorted(set(keys)), "a scan returned a row twice or out of order"
                missing = before - set(keys)
                assert not missing, (
                    f"a scan missed {len(missing)} acknowledged rows, e.g. {sorted(missing)[:3]}"
                )
                self.scans += 1
        finally:
            conn.close()

    def progressed(self, writes: int, scans: int) -> bool:
        return len(self.acknowledged) >= writes and self.scans >= scans

    def stop(self) -> None:
        self._stop.set()
        self.writer.finish(timeout=90)
        self.scanner.finish(timeout=90)


def _table(cluster: Cluster, gateway: Gateway) -> bytes:
    cluster.admin.create_table("load", {"f": None}, num_regions=REGIONS)
    cluster.wait_open("load", REGIONS)
    return b"load"


def _all_readable(gateway: Gateway, load: Load) -> None:
    conn = gateway.connect()
    try:
        found = dict(conn.table(load.table).rows(load.acknowledged))
        missing = [k for k in load.acknowledged if k not in found]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    finally:
        conn.close()


def test_happybase_keeps_working_while_a_regionserver_is_killed(clusters: Clusters) -> None:
    cluster = clusters.start(servers=3, master_args=SHORT_LEASE)
    gateway = gateway_for(cluster, extra_args=["--timeout", "60", "--rpc-timeout", "2"])
    load = Load(gateway, _table(cluster, gateway))
    try:
        wait_until(lambda: load.progressed(30, 2), 60, "writes and scans before the kill")
        assert cluster.servers[0].kill() == -signal.SIGKILL
        at_kill = (len(load.acknowledged), load.scans)
        cluster.wait_open("load", REGIONS, timeout=60)
        wait_until(lambda: load.progressed(at_kill[0] + 30, at_kill[1] + 2), 60, "writes and scans after it")
    finally:
        load.stop()
    _all_readable(gateway, load)
    assert gateway.daemon.alive


def test_happybase_keeps_working_while_the_master_fails_over(clusters: Clusters) -> None:
    cluster = clusters.start(masters=2, servers=2)
    gateway = gateway_for(cluster, extra_args=["--timeout", "60"])
    load = Load(gateway, _table(cluster, gateway))
    try:
        wait_until(lambda: load.progressed(30, 2), 60, "writes and scans before the failover")
        old = active_master(cluster)
        backup = backup_master(cluster, old)
        assert old.kill() == -signal.SIGKILL
        wait_until(lambda: backup.info() is not None and backup.info().active, 60, "the backup to take over")
        at_failover = (len(load.acknowledged), load.scans)
        wait_until(lambda: load.progressed(at_failover[0] + 30, at_failover[1] + 2), 60, "load after it")
        conn = gateway.connect()  # DDL through the gateway reaches the new active master
        try:
            conn.create_table("after_failover", {"f": {}})
            assert b"after_failover" in conn.tables()
        finally:
            conn.close()
    finally:
        load.stop()
    _all_readable(gateway, load)
