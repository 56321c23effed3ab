"""A disabled table stays closed: no startup, crash recovery or operator's assign reopens its regions, and
only enable_table brings them back (on the servers they were on)."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument, TableLocked, TableNotEnabled
from meta import RegionState
from tests.cluster import wait_until
from tests.failure_helpers import SHORT_LEASE, Clusters, active_master, procedures

FAMILY = "f"


def _states(cluster: object, table: str) -> set[RegionState]:
    return {r.state for r in cluster.admin.table_regions(table)}  # type: ignore[attr-defined]


def test_a_disabled_table_is_not_reopened_by_an_operator_a_master_restart_or_a_server_crash(
    clusters: Clusters,
) -> None:
    cluster = clusters.start(servers=2, master_args=SHORT_LEASE)
    admin = cluster.admin
    admin.create_table("t", [FAMILY], num_regions=6)
    before = {r.region_id: r.server.address for r in admin.table_regions("t") if r.server is not None}
    admin.disable_table("t")
    regions = admin.table_regions("t")
    assert {r.state for r in regions} == {RegionState.CLOSED} and not any(r.proc_id for r in regions)
    rid = regions[0].region_id

    with pytest.raises(TableNotEnabled, match=rf"region {rid} belongs to table 't', which is not enabled"):
        admin.assign(rid)
    with pytest.raises(InvalidArgument, match=rf"region {rid} is CLOSED"):
        admin.move(rid)

    # A new master takes over: nothing of the disabled table is assigned.
    active = active_master(cluster)
    active.kill()
    cluster.masters.remove(active)
    cluster.start_master(0).wait_active(30)
    wait_until(lambda: cluster.status().startup_assignment_ms > 0, 30, "the takeover to finish")
    assert _states(cluster, "t") == {RegionState.CLOSED}
    assert not procedures(cluster)

    # A RegionServer dies and is replaced: its crash procedure has nothing of the table to recover.
    cluster.servers[0].kill()
    cluster.start_server()
    wait_until(
        lambda: len(cluster.status().servers) == 2 and not procedures(cluster), 30, "the crash recovered"
    )
    assert _states(cluster, "t") == {RegionState.CLOSED}
    assert admin.describe_table("t").state.name == "DISABLED"

    admin.enable_table("t")
    after = admin.table_regions("t")
    assert {r.state for r in after} == {RegionState.OPEN}
    survivor = cluster.servers[1].address
    kept = [r.region_id for r in after if before[r.region_id] == survivor]
    assert kept and all(
        r.server is not None and r.server.address == survivor for r in after if r.region_id in kept
    )


def test_region_procedures_of_a_table_are_refused_while_a_table_procedure_holds_it(
    clusters: Clusters,
) -> None:
    cluster = clusters.start(servers=2)
    admin = cluster.admin
    admin.create_table("t", [FAMILY], num_regions=20)
    rid = admin.table_regions("t")[0].region_id
    for server in cluster.servers:  # the closes cannot complete: the disable holds the table meanwhile
        server.pause()
    try:
        handle = admin.disable_table("t", wait=False)
        with pytest.raises(TableLocked, match=rf"locked by procedure {handle.proc_id} \(disable_table"):
            admin.move(rid)
        assert admin.describe_table("t").locked_by == handle.proc_id
    finally:
        for server in cluster.servers:
            server.resume()
    handle.wait(timeout=60)
    assert admin.describe_table("t").locked_by == 0
