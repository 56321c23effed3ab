"""The balancer with real processes: empty servers that join a loaded cluster get an even share with the
fewest moves; a dry run moves nothing; nothing runs while a region is stuck in transition unless forced;
the switch survives a master failover."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from client.balance import BalancerRun
from master.chores.balance_plan import minimum_moves
from tests.cluster import Cluster, Daemons, wait_until
from tests.data_client import DataClient
from tests.failure_helpers import settled

TABLE = "bal"
REGIONS = 40
TIMEOUT_S = 60.0


def _counts(cluster: Cluster) -> Counter[str]:
    return Counter(r.server.address for r in cluster.admin.table_regions(TABLE) if r.server is not None)


def _finished(cluster: Cluster) -> BalancerRun:
    def done() -> BalancerRun | None:
        last = cluster.admin.balancer_status().last_run
        return last if last is not None and last.finished else None

    return wait_until(done, TIMEOUT_S, "the balancer run's moves finished", context=cluster.daemons.log_tails)


def _start(daemons: Daemons, rootdir: Path, servers: int, master_args: list[str] | None = None) -> Cluster:
    cluster = Cluster(daemons, rootdir, master_args=master_args or [])
    cluster.start(servers=servers)
    assert cluster.admin.create_table(TABLE, ["f"], num_regions=REGIONS, timeout=TIMEOUT_S) == REGIONS
    cluster.wait_open(TABLE, REGIONS)
    return cluster


def test_servers_that_join_get_an_even_share_with_the_fewest_moves_and_a_dry_run_moves_nothing(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = _start(daemons, tmp_path, servers=2)
    try:
        admin = cluster.admin
        idle = admin.balance()
        assert idle.ran is False and "within the slop" in idle.reason  # 20 and 20: nothing to do
        for _ in range(2):
            cluster.start_server()
        cluster.wait_live(4)
        before = {r.region_id: r.server for r in admin.table_regions(TABLE)}
        expected = minimum_moves([20, 20, 0, 0])

        dry = admin.balance(dry_run=True)
        assert dry.ran and dry.dry_run and dry.planned == expected == 20
        assert dry.cost_after < dry.cost_before
        assert {r.region_id: r.server for r in admin.table_regions(TABLE)} == before
        assert admin.balancer_status().last_run == idle  # a dry run is not kept as the last run

        run = admin.balance()
        assert run.ran and run.planned == expected and "more than" in run.reason
        last = _finished(cluster)
        assert last.moves_done == expected and last.moves_failed == 0
        settled(cluster, {TABLE: REGIONS})
        assert sorted(_counts(cluster).values()) == [10, 10, 10, 10]
        moved = sum(1 for r in admin.table_regions(TABLE) if r.server != before[r.region_id])
        assert moved == expected
        assert admin.balance().ran is False  # balanced now
    finally:
        cluster.close()


def test_nothing_runs_while_a_region_is_stuck_in_transition_unless_forced(
    daemons: Daemons, tmp_path: Path
) -> None:
    # A long lease: the paused server stays live in the master's eyes, its region stuck CLOSING.
    cluster = _start(daemons, tmp_path, servers=2, master_args=["--lease-ms", "120000"])
    paused = None
    try:
        admin = cluster.admin
        cluster.start_server()
        cluster.wait_live(3)
        paused = cluster.servers[0]
        stuck = next(r for r in admin.table_regions(TABLE) if r.server.address == paused.address)
        paused.pause()
        admin.unassign(stuck.region_id, wait=False)
        assert admin.get_region(stuck.region_id).proc_id  # in transition, and it stays so

        skipped = admin.balance()
        assert not skipped.ran and "in transition" in skipped.reason
        assert admin.balancer_status().last_run == skipped
        assert admin.get_region(stuck.region_id).proc_id

        forced = admin.balance(force=True)
        assert forced.ran and forced.forced and forced.planned > 0
        assert stuck.region_id not in {m.region_id for m in forced.moves}
        paused.resume()
        paused = None
        _finished(cluster)
        wait_until(lambda: not admin.get_region(stuck.region_id).proc_id, TIMEOUT_S, "the unassign finished")
        assert admin.get_region(stuck.region_id).state.name == "CLOSED"
        counts = _counts(cluster)
        assert max(counts.values()) - min(counts.values()) <= 2, counts
    finally:
        if paused is not None:
            paused.resume()
        cluster.close()


def test_the_switch_is_kept_in_meta_across_a_failover(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path, masters=2)
    cluster.start(servers=1)
    try:
        admin = cluster.admin
        assert admin.balancer_switch(False) is True
        off = admin.balance()
        assert not off.ran and "switched off" in off.reason
        assert admin.balance(dry_run=True).reason  # a dry run still plans
        active = cluster.active_master()
        assert active is not None
        active.kill()
        cluster.wait_live(1)
        status = admin.balancer_status()
        assert status.on is False and status.last_run is None  # a new master, the same switch
        assert admin.balancer_switch(True) is False
        assert admin.balancer_status().on is True
    finally:
        cluster.close()


def test_the_period_balances_on_its_own(daemons: Daemons, tmp_path: Path) -> None:
    cluster = _start(daemons, tmp_path, servers=1, master_args=["--balancer-period-ms", "300"])
    try:
        cluster.start_server()
        cluster.wait_live(2)
        wait_until(
            lambda: sorted(_counts(cluster).values()) == [20, 20], TIMEOUT_S, "the periodic run's moves"
        )
        last = _finished(cluster)
        assert last.trigger and last.moves_done == 20
        settled(cluster, {TABLE: REGIONS})
    finally:
        cluster.close()


def test_heartbeats_carry_requests_and_store_size(daemons: Daemons, tmp_path: Path) -> None:
    cluster = _start(daemons, tmp_path, servers=1)
    try:
        with DataClient(cluster.admin, TABLE) as client:
            for i in range(200):
                client.put(i.to_bytes(4, "big"), b"f:q", b"v" * 100)

        def loaded() -> Any:
            (server,) = cluster.status().servers
            return server if server.requests >= 200 and server.store_bytes > 0 else None

        server = wait_until(loaded, TIMEOUT_S, "the writes in the heartbeats")
        assert server.requests_per_s >= 0
    finally:
        cluster.close()
