"""Decommissioned RegionServers with real processes: offload under continuous writes (no region left on the
server, no acknowledged write lost), no new region placed there, the mark kept across a master failover,
recommission moving chosen regions back; refusals that say what is wrong."""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client.errors import InvalidArgument, ServerNotFound
from tests.background import CheckedThread, finish_all
from tests.cluster import Cluster, Daemons, wait_until
from tests.data_client import DataClient
from tests.failure_helpers import settled

TABLE = "dec"
REGIONS = 24
COLUMN = b"f:q"
TIMEOUT_S = 60.0
DATA_CALL_TIMEOUT_S = 20.0
WRITERS = 2
MIN_WRITES = 20


def _row(i: int) -> bytes:
    return hashlib.blake2b(i.to_bytes(4, "big"), digest_size=8).digest()


@dataclass
class Writes:
    """Writers that put new rows continuously; every acknowledged write is kept to be read back."""

    client: DataClient
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: dict[bytes, bytes] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)

    def writer(self, index: int) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            row = _row(index * 1_000_000 + n)
            value = f"w{index}:{n}".encode()
            self.client.put(row, COLUMN, value)  # raises DataCallTimeout past its deadline
            self.acknowledged[row] = value
            self.counts[index] = n + 1


def _on(cluster: Cluster, address: str) -> list[int]:
    return [
        r.region_id for r in cluster.admin.table_regions(TABLE) if r.server and r.server.address == address
    ]


def test_offload_under_writes_empties_the_server_loses_nothing_and_survives_a_failover(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path, masters=2)
    cluster.start(servers=3)
    try:
        admin = cluster.admin
        assert admin.create_table(TABLE, ["f"], num_regions=REGIONS, timeout=TIMEOUT_S) == REGIONS
        cluster.wait_open(TABLE, REGIONS)
        leaving = cluster.servers[0].address
        assert _on(cluster, leaving)
        with DataClient(admin, TABLE, call_timeout=DATA_CALL_TIMEOUT_S) as client:
            writes = Writes(client)
            threads = [CheckedThread(writes.writer, i, name=f"writer-{i}").start() for i in range(WRITERS)]
            try:
                wait_until(lambda: sum(writes.counts.values()) >= MIN_WRITES, TIMEOUT_S, "writes before")
                moves = admin.decommission([leaving], offload=True)
                assert moves > 0
                wait_until(lambda: not _on(cluster, leaving), TIMEOUT_S, f"no region left on {leaving}")
                done = sum(writes.counts.values())
                wait_until(
                    lambda: sum(writes.counts.values()) >= done + MIN_WRITES, TIMEOUT_S, "writes after"
                )
            finally:
                writes.stop.set()
                finish_all(threads, timeout=DATA_CALL_TIMEOUT_S + 10)
            regions = settled(cluster, {TABLE: REGIONS})
            assert leaving not in {r.server.address for r in regions.values() if r.server}
            assert leaving not in {a for servers in cluster.served().values() for a in servers}
            lost = {row: v for row, v in writes.acknowledged.items() if client.get(row, COLUMN) != v}
            assert not lost, f"{len(lost)} acknowledged writes are not read back"

        listed = admin.list_decommissioned()
        assert [(d.address, d.offload, d.live, d.regions) for d in listed] == [(leaving, True, True, 0)]
        status = {s.server.address: s for s in admin.cluster_status().servers}
        assert status[leaving].decommissioned
        # No new region goes there: not by the balancer, not by an assign, not by an operator's move.
        run = admin.balance(force=True)
        assert leaving not in {m.target.address for m in run.moves}
        some = admin.table_regions(TABLE)[0].region_id
        with pytest.raises(InvalidArgument, match="decommissioned"):
            admin.move(some, leaving)
        admin.unassign(some)
        admin.assign(some)
        assert admin.get_region(some).server.address != leaving

        active = cluster.active_master()
        assert active is not None
        active.kill()
        cluster.wait_live(3)
        again = admin.list_decommissioned()
        assert [(d.address, d.offload) for d in again] == [(leaving, True)]
        assert again[0].since_ms == listed[0].since_ms

        back = [r.region_id for r in admin.table_regions(TABLE)[:3]]
        assert admin.recommission(leaving, back) == 3
        assert admin.list_decommissioned() == []
        wait_until(lambda: sorted(_on(cluster, leaving)) == sorted(back), TIMEOUT_S, "regions moved back")
        settled(cluster, {TABLE: REGIONS})
    finally:
        cluster.close()


def test_refusals_say_what_is_wrong(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        admin = cluster.admin
        with pytest.raises(ServerNotFound, match=r"127\.0\.0\.1:1"):
            admin.decommission(["127.0.0.1:1"])
        with pytest.raises(ValueError, match="one or more servers"):
            admin.decommission([])
        with pytest.raises(ValueError, match="host:port"):
            admin.decommission(["not a server"])
        with pytest.raises(InvalidArgument, match="not decommissioned"):
            admin.recommission(cluster.servers[0].address)
        with pytest.raises(ValueError, match="region ids"):
            admin.recommission(cluster.servers[0].address, [0])
        with pytest.raises(ValueError, match="True or False"):
            admin.balancer_switch("on")  # type: ignore[arg-type]
        # Decommissioning the only server is allowed, and leaves nothing to move to: no move, no error.
        assert admin.decommission([cluster.servers[0].address]) == 0
        assert cluster.active_master() is not None and cluster.status().servers
    finally:
        cluster.close()


def test_a_new_master_carries_on_offloading(daemons: Daemons, tmp_path: Path) -> None:
    """Nowhere to move to when decommissioned; after a failover, a server joins: the regions go there."""
    cluster = Cluster(daemons, tmp_path, masters=2, master_args=["--balancer-period-ms", "300"])
    cluster.start(servers=1)
    try:
        admin = cluster.admin
        assert admin.create_table(TABLE, ["f"], num_regions=8, timeout=TIMEOUT_S) == 8
        cluster.wait_open(TABLE, 8)
        leaving = cluster.servers[0].address
        assert admin.decommission([leaving]) == 0  # no other server: nothing can move yet
        active = cluster.active_master()
        assert active is not None
        active.kill()
        cluster.wait_live(1)
        joined = cluster.start_server().address
        wait_until(lambda: len(_on(cluster, joined)) == 8, TIMEOUT_S, f"every region moved to {joined}")
        assert not _on(cluster, leaving)
        assert [d.address for d in admin.list_decommissioned()] == [leaving]
        settled(cluster, {TABLE: 8})
    finally:
        cluster.close()
