"""Masters failing, with real processes (DESIGN.md §6-§7): the active master SIGKILLed in the middle of a
large assignment, a move, a server crash procedure, or together with a RegionServer; the whole cluster
restarted on its ROOTDIR; clients following the new active master.
"""

from __future__ import annotations

import fcntl
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import lmdb
import pytest

import regent
from meta import MetaStore, RegionState
from tests.cluster import Daemons, get_cell, wait_until
from tests.failure_helpers import (
    FAMILY,
    SHORT_LEASE,
    Clusters,
    DoubleServingWatch,
    active_master,
    backup_master,
    declared_dead,
    events,
    incarnation,
    procedures,
    read_meta,
    row_in,
    serving,
    settled,
)


def test_backup_master_finishes_a_large_assignment_the_killed_master_left_half_done(
    clusters: Clusters,
) -> None:
    cluster = clusters.start(masters=2, master_args=SHORT_LEASE)
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    tables: dict[str, int] = {}
    with DoubleServingWatch(cluster) as watch:
        # Catch the master with some regions of the new table OPEN in meta and others not: pause it as
        # soon as the table is created, then let it run in short slices until meta shows some opens. An
        # assignment that finished within one slice is tried again with another table.
        for attempt in range(5):
            name = f"big{attempt}"
            cluster.admin.create_table(name, [FAMILY], num_regions=20_000, wait=False)
            tables[name] = 20_000
            active.pause()
            opened, total, slice_s, unreadable = 0, sum(tables.values()), 0.002, 0
            while True:
                try:
                    rows, _ = read_meta(clusters.rootdir)
                except lmdb.PageNotFoundError:
                    # Seen twice under load, the second time with every thread of the master stopped
                    # (Daemon.pause waits for that), and not explained (docs/decisions.md, "The test
                    # suite's time and its flakes"): read again after the master's next slice, a few
                    # times at most.
                    unreadable += 1
                    assert unreadable <= 3, "meta unreadable without locks after three slices in a row"
                    rows = {}
                else:
                    unreadable = 0
                opened = sum(r.state is RegionState.OPEN for r in rows.values())
                if len(rows) == total and opened > total - tables[name]:
                    break
                active.resume()
                time.sleep(slice_s)
                active.pause()
                if len(rows) == total:  # the table's regions are being assigned: widen the slices
                    slice_s = min(slice_s * 1.5, 0.05)
            if opened < total:
                break
            active.resume()
            settled(cluster, tables)
        else:
            raise AssertionError("the assignment always finished within one slice of the master's time")
        assert len(rows) == total
        assert any(r.state is RegionState.OPENING for r in rows.values())
        active.kill()

        info = backup.wait_active(30)
        assert info.master_epoch >= 2
        settled(cluster, tables)
    watch.check()


def test_backup_master_finishes_a_move_the_killed_master_left_in_the_middle(clusters: Clusters) -> None:
    # Default heartbeat and lease; a startup grace long enough for the target to come back however late.
    cluster = clusters.start(masters=2, master_args=("--startup-grace-ms", "60000"))
    cluster.admin.create_table("t", [FAMILY], num_regions=12)
    settled(cluster, {"t": 12})
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    source, target, other = cluster.servers
    region_id = serving(cluster, source)[0]
    destination = incarnation(target)
    came_back = {str(incarnation(source)), str(incarnation(other))}

    with DoubleServingWatch(cluster) as watch:
        # The source cannot close the region while paused: the move stays between its steps.
        source.pause()
        target.pause()
        proc_id = cluster.admin.move(region_id, destination, wait=False)
        active.pause()
        rows, _ = read_meta(clusters.rootdir)
        assert rows[region_id].state is RegionState.CLOSING and rows[region_id].proc_id == proc_id
        assert rows[region_id].target == destination
        active.kill()
        source.resume()

        backup.wait_active(30)
        wait_until(
            lambda: came_back <= {e["server"] for e in events(backup, "server_registered")},
            30,
            "the source and the third server to register with the new master",
            context=backup.log_tail,
        )
        # The source closes the region and reports it; the move's target has not come back yet. The new
        # master must not carry the move on (to another server) before it knows who came back.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            location = cluster.admin.get_region(region_id)
            assert location.state is RegionState.CLOSING and location.proc_id == proc_id, location
            time.sleep(0.05)
        target.resume()

        regions = settled(cluster, {"t": 12})
    watch.check()
    assert regions[region_id].server == destination


def test_backup_master_finishes_a_server_crash_procedure_the_killed_master_left_unfinished(
    clusters: Clusters,
) -> None:
    cluster = clusters.start(masters=2, master_args=SHORT_LEASE)
    cluster.admin.create_table("t", [FAMILY], num_regions=12_000)
    settled(cluster, {"t": 12_000})
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    victim = cluster.servers[0]
    lost = serving(cluster, victim)
    startcode = incarnation(victim).startcode

    with DoubleServingWatch(cluster) as watch:
        assert victim.kill() == -signal.SIGKILL
        wait_until(lambda: declared_dead(active, startcode), 30, "the crash to be declared", interval=0.002)
        active.pause()
        rows, kinds = read_meta(clusters.rootdir)
        unfinished = "server_crash" in kinds or any(rows[rid].state is not RegionState.OPEN for rid in lost)
        assert unfinished, "the crash was recovered before the master could be paused"
        active.kill()

        backup.wait_active(30)
        regions = settled(cluster, {"t": 12_000})
    watch.check()
    assert all(s is not None and s.port != victim.port for s in (regions[rid].server for rid in lost))
    assert not procedures(cluster)


# ---- 5. the master and a RegionServer killed at once, then the whole cluster ----


def test_master_and_regionserver_killed_at_once_then_whole_cluster_restarted_on_the_same_rootdir(
    clusters: Clusters,
) -> None:
    # Default heartbeat and lease.
    cluster = clusters.start(masters=2)
    cluster.admin.create_table("t", [FAMILY], num_regions=300)
    before = settled(cluster, {"t": 300})
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    victim = cluster.servers[1]
    startcode = incarnation(victim).startcode
    # A cell on a region of a server that survives: the data must be there after the full restart.
    keeper = cluster.servers[0]
    region = before[serving(cluster, keeper)[0]]
    row = row_in(region)
    keeper.put(region.region_id, row, b"f:q", b"kept across restarts")

    with DoubleServingWatch(cluster) as watch:
        active.send_signal(signal.SIGKILL, group=True)
        victim.send_signal(signal.SIGKILL, group=True)
        assert active.kill() == -signal.SIGKILL and victim.kill() == -signal.SIGKILL
        backup.wait_active(30)
        settled(cluster, {"t": 300})
    watch.check()
    (dead,) = declared_dead(backup, startcode)
    assert "did not come back" in dead["reason"], dead

    # Every process killed, then the whole cluster started again on the same ROOTDIR and ports.
    ports = [s.port for s in cluster.servers]
    for daemon in [*cluster.masters, *cluster.servers]:
        daemon.kill()
    cluster.close()
    cluster.masters.clear()
    cluster.servers.clear()
    for i in range(len(cluster.master_ports)):
        cluster.start_master(i)
    for port in ports:
        cluster.start_server(port)
    cluster.wait_live(len(ports), timeout=60)
    with DoubleServingWatch(cluster) as watch:
        after = settled(cluster, {"t": 300})
    watch.check()
    owner = after[region.region_id].server
    assert owner is not None
    assert get_cell(owner.address, region.region_id, row, b"f:q") == b"kept across restarts"


# ---- 7. clients follow the active master ----


def test_admin_call_right_after_the_active_master_is_killed_succeeds_on_the_new_one(
    clusters: Clusters,
) -> None:
    # Default heartbeat and lease.
    cluster = clusters.start(masters=2)
    admin = cluster.admin
    first = admin.cluster_status()
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    assert cluster._connection.active_master == active.address

    assert active.kill() == -signal.SIGKILL
    # The connection still points at the dead master: the call finds the new one within its deadline.
    assert admin.create_table("after", [FAMILY], num_regions=6, timeout=30) == 6

    assert cluster._connection.active_master == backup.address
    status = admin.cluster_status(timeout=10)
    assert status.master_epoch > first.master_epoch
    settled(cluster, {"after": 6})


@pytest.mark.parametrize("given", ["backup", "active"])
def test_a_client_and_a_regionserver_given_one_master_reach_the_active_one_and_follow_its_death(
    clusters: Clusters, given: str
) -> None:
    """Any master's address will do (HBase's master registry): every master names the active one and the
    others, so the first call goes straight there, and the masters learned are asked after a failover."""
    cluster = clusters.start(masters=2, servers=0)
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    address = backup.address if given == "backup" else active.address
    both = {active.address, backup.address}

    with regent.connect(address, timeout=30) as connection:
        started = time.monotonic()
        connection.admin().cluster_status(timeout=1.0)
        reached_s = time.monotonic() - started
        assert reached_s < 1.0, reached_s  # no waiting out a timeout: the answers say where to go
        assert connection.active_master == active.address
        assert set(connection.masters) == both

        server = cluster.daemons.regionserver(clusters.rootdir, address)
        cluster.servers.append(server)
        (registered,) = wait_until(
            lambda: events(server, "server_registered"), 30, "the server to register", context=server.log_tail
        )
        (server_started,) = events(server, "regionserver_started")
        took = _at(registered) - _at(server_started)
        assert took.total_seconds() < 1.0, took
        assert [str(s.server) for s in cluster.admin.cluster_status().servers] == [registered["server"]]

        assert active.kill() == -signal.SIGKILL
        started = time.monotonic()
        status = connection.admin().cluster_status(timeout=30)
        followed_s = time.monotonic() - started
        assert connection.active_master == backup.address and status.master_epoch >= 2
        wait_until(
            lambda: len(events(server, "server_registered")) == 2,
            30,
            "the server to register with the new active master",
            context=server.log_tail,
        )
        assert [str(s.server) for s in cluster.admin.cluster_status().servers] == [registered["server"]]
        # The dead master is forgotten unless it was given.
        assert connection.masters == ((address,) if given == "backup" else (address, backup.address))
    print(
        f"given the {given}: reached the active master in {reached_s:.3f} s, followed the failover in "
        f"{followed_s:.3f} s; the RegionServer registered {took.total_seconds():.3f} s after starting"
    )


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def test_backup_started_while_meta_is_being_created_leaves_it_to_the_active_master(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    meta_dir = rootdir / "meta"
    meta_dir.mkdir(parents=True)
    # What a first active master has made at the moment a backup looks: an LMDB environment (data.mdb)
    # whose databases it has not created yet.
    lmdb.open(str(meta_dir)).close()
    with open(rootdir / "master.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # that active master holds the election lock
        backup = daemons.master(rootdir)
        wait_until(
            lambda: backup.has_event("standby_waits_for_meta") or backup.has_event("master_standby_ready"),
            30,
            "the backup to look at meta",
            context=backup.log_tail,
        )
        assert not backup.has_event("master_standby_ready"), backup.log_tail()
        env = lmdb.open(str(meta_dir), readonly=True)
        try:
            with env.begin() as txn:
                assert list(txn.cursor()) == [], "a backup wrote into meta"
        finally:
            env.close()

        # The active master creates meta; the backup's refresh then loads it as it is.
        store = MetaStore.open(meta_dir)
        cluster_id = store.cluster_id
        store.close()
        wait_until(lambda: backup.has_event("master_standby_ready"), 30, "the standby to load meta")
    info = backup.wait_active()
    assert info.cluster_id == cluster_id and info.master_epoch == 1


# ---- a hung active master ----


def test_a_hung_active_master_is_killed_by_its_backup_which_takes_over(clusters: Clusters) -> None:
    """SIGSTOP keeps the election lock held: the backup finds the active master silent, kills it (a crash to
    everyone else), takes over, and RegionServers keep their regions."""
    cluster = clusters.start(masters=2, master_args=("--hung-master-ms", "1500"))
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    cluster.admin.create_table("t", [FAMILY], num_regions=30)
    before = settled(cluster, {"t": 30})

    with DoubleServingWatch(cluster) as watch:
        active.pause()
        info = backup.wait_active(30)
        assert active.wait_exit(10) == -signal.SIGKILL, active.log_tail()
        (killed,) = events(backup, "hung_master_killed")
        assert killed["pid"] == active.pid and killed["master"] == active.address
        assert info.master_epoch >= 2
        after = settled(cluster, {"t": 30})
    watch.check()
    assert {rid: loc.server.address for rid, loc in after.items() if loc.server} == {
        rid: loc.server.address for rid, loc in before.items() if loc.server
    }
