"""Reconciliation with real processes (master.reconcile): a RegionServer that loses a region or serves one
behind the master's back is repaired within one heartbeat plus one open, and each repair is logged, counted
and listed.

The RegionServers run with REGENT_TEST_HOOKS=1, which enables the DropRegion and AdoptRegion test hooks on
their admin service (regionserver.proto): the server changes what it holds without telling the master.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from meta import RegionState
from regent import tls
from regent.proto import common_pb2, regionserver_pb2, regionserver_pb2_grpc
from regionserver.daemon import TEST_HOOKS_ENV
from tests.cluster import Cluster, RegionServer, get_cell, open_channel, wait_until
from tests.failure_helpers import FAMILY, Clusters, active_master, events, online_of, settled

HEARTBEAT_MS = 300
ARGS = ("--heartbeat-ms", str(HEARTBEAT_MS), "--lease-ms", "3000")
REGIONS = 6


def _hook(server: RegionServer, method: str, request: Any) -> Any:
    """Call a test hook of `server`'s admin service."""
    with open_channel(server.address) as channel:
        return getattr(regionserver_pb2_grpc.RegionServerAdminStub(channel), method)(request, timeout=5.0)


def _measured_open_s(cluster: Cluster, region_id: int) -> float:
    """How long one open takes here, now (assign to OPEN and durable): the 'one open' of the deadline."""
    cluster.admin.unassign(region_id, timeout=20.0)
    started = time.monotonic()
    cluster.admin.assign(region_id, timeout=20.0)
    return time.monotonic() - started


def _deadline_s(open_s: float) -> float:
    """One heartbeat plus one open, the open counted three times over (and at least a second) for the
    jitter of a shared two-core machine."""
    return HEARTBEAT_MS / 1000 + max(1.0, 3 * open_s)


@pytest.fixture
def cluster(clusters: Clusters, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")  # inherited by the daemons
    cluster = clusters.start(servers=2, master_args=ARGS)
    cluster.admin.create_table("t", [FAMILY], num_regions=REGIONS)
    settled(cluster, {"t": REGIONS})
    return cluster


def _repair_views(cluster: Cluster) -> list[Any]:
    return [p for p in cluster.admin.list_procedures() if p.step.startswith("repair (")]


def test_a_region_dropped_behind_the_masters_back_is_reopened_within_a_heartbeat_and_an_open(
    cluster: Cluster,
) -> None:
    regions = settled(cluster, {"t": REGIONS})
    region_id = min(regions)
    deadline = _deadline_s(_measured_open_s(cluster, region_id))
    before = cluster.admin.get_region(region_id)
    holder = next(s for s in cluster.servers if s.address == before.server.address)
    old_seq = (online_of(holder.address) or {})[region_id]

    response = _hook(holder, "DropRegion", regionserver_pb2.DropRegionRequest(region_id=region_id))
    dropped_at = time.monotonic()
    assert response.dropped

    def reopened() -> Any:
        loc = cluster.admin.get_region(region_id)
        if loc.state is not RegionState.OPEN or loc.proc_id or loc.server is None:
            return None
        seq = (online_of(loc.server.address) or {}).get(region_id)
        return seq if seq is not None and seq > old_seq else None

    wait_until(reopened, deadline, f"region {region_id} served again", context=cluster.daemons.log_tails)
    took = time.monotonic() - dropped_at

    master = active_master(cluster)
    (logged,) = [e for e in events(master, "region_repaired") if e["region"] == region_id]
    assert logged["cause"] == "not_served" and holder.address in logged["server"], logged
    views = [v for v in _repair_views(cluster) if v.region_id == region_id]
    assert [v.kind for v in views] == ["assign"] and "not_served" in views[0].step, views
    assert cluster.status().repairs_by_cause == {"not_served": 1}
    print(f"dropped region reopened after {took:.3f}s (deadline {deadline:.3f}s)")


def test_regions_adopted_behind_the_masters_back_are_closed_within_a_heartbeat(cluster: Cluster) -> None:
    regions = settled(cluster, {"t": REGIONS})
    deadline = _deadline_s(_measured_open_s(cluster, max(regions)))
    regions = settled(cluster, {"t": REGIONS})
    adopter = cluster.servers[0]
    elsewhere = next(r for r in regions.values() if r.server.address != adopter.address)
    owner = next(s for s in cluster.servers if s.address == elsewhere.server.address)
    info = elsewhere.info
    seq = (online_of(owner.address) or {})[info.region_id]
    _hook(
        adopter,
        "AdoptRegion",
        regionserver_pb2.AdoptRegionRequest(
            table="t",
            region_id=info.region_id,
            start_key=info.start_key,
            end_key=info.end_key,
            open_seq_num=seq,
        ),
    )
    unknown = 10**12
    _hook(
        adopter,
        "AdoptRegion",
        regionserver_pb2.AdoptRegionRequest(table="t", region_id=unknown, open_seq_num=1),
    )
    adopted_at = time.monotonic()

    def closed() -> bool:
        online = online_of(adopter.address)
        return online is not None and info.region_id not in online and unknown not in online

    wait_until(closed, deadline, "the adopted regions closed", context=cluster.daemons.log_tails)
    took = time.monotonic() - adopted_at
    after = settled(cluster, {"t": REGIONS})
    assert after[info.region_id].server == elsewhere.server, "the region's real owner keeps it"
    assert (online_of(owner.address) or {}).get(info.region_id) == seq, "and under the same open"

    master = active_master(cluster)
    causes = {e["region"]: e["cause"] for e in events(master, "region_repaired")}
    assert causes == {info.region_id: "served_elsewhere", unknown: "served_nowhere"}, causes
    listed = {v.region_id: v for v in _repair_views(cluster)}
    assert set(listed) == {info.region_id, unknown}
    assert all(v.kind == "unassign" and v.state == "SUCCESS" for v in listed.values()), listed
    assert cluster.status().repairs_by_cause == {"served_elsewhere": 1, "served_nowhere": 1}
    assert not events(master, "reports_rejected"), "a repair's CLOSED report was rejected"
    print(f"adopted regions closed after {took:.3f}s (deadline {deadline:.3f}s)")


MOVES = 30  # about 10 heartbeats' worth of moves on this cluster


def test_regions_moving_all_the_time_are_never_repaired(cluster: Cluster) -> None:
    """Opens and closes racing the heartbeats (a digest taken just before a report, compared just after)
    are never taken for a loss or a stray: after many moves, nothing was repaired."""
    regions = sorted(settled(cluster, {"t": REGIONS}))
    for i in range(MOVES):
        cluster.admin.move(regions[i % len(regions)], timeout=20.0)
    settled(cluster, {"t": REGIONS})
    master = active_master(cluster)
    assert not events(master, "region_repaired")
    assert cluster.status().repairs_by_cause == {}


def test_the_test_hooks_are_refused_without_their_environment_variable(clusters: Clusters) -> None:
    cluster = clusters.start(servers=1)
    with pytest.raises(grpc.RpcError) as raised:
        _hook(cluster.servers[0], "DropRegion", regionserver_pb2.DropRegionRequest(region_id=1))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert TEST_HOOKS_ENV in (raised.value.details() or "")  # type: ignore[attr-defined]


def test_a_forged_open_with_a_huge_sequence_number_does_not_fence_the_region_for_good(
    cluster: Cluster,
) -> None:
    """An open order the master never gave, under an open sequence number far ahead of the master's, claims
    the region's store for that number. Its OPENED is rejected and the server drops the region; the
    master's reopen is fenced by the store (FAILED_OPEN, carrying the fencing number), so the retry takes a
    newer number still: the region serves again, its cell readable, instead of staying FAILED_OPEN."""
    regions = settled(cluster, {"t": REGIONS})
    victim = regions[min(regions)]
    holder = next(s for s in cluster.servers if s.address == victim.server.address)
    row = victim.info.start_key + b"\x00"  # the region's first row (a row is never empty)
    holder.put(victim.region_id, row, FAMILY.encode() + b":q", b"kept")  # the store now exists
    forged = 10**9
    order = regionserver_pb2.ExecuteProceduresRequest(
        target=common_pb2.ServerName(
            host=victim.server.host, port=victim.server.port, startcode=victim.server.startcode
        ),
        master_epoch=int(cluster.status().master_epoch),
        opens=[
            regionserver_pb2.TableOpens(
                table="t",
                region_ids=[victim.region_id],
                proc_ids=[forged],
                open_seq_nums=[forged],
                start_keys=[victim.info.start_key],
                end_keys=[victim.info.end_key],
            )
        ],
    )
    with open_channel(holder.address, who=tls.NODE) as channel:
        regionserver_pb2_grpc.RegionServerAdminStub(channel).ExecuteProcedures(order, timeout=5.0)

    def served_newer() -> Any:
        loc = cluster.admin.get_region(victim.region_id)
        if loc.state is not RegionState.OPEN or loc.proc_id or loc.server is None:
            return None
        seq = (online_of(loc.server.address) or {}).get(victim.region_id)
        return loc if seq is not None and seq > forged else None

    loc = wait_until(
        served_newer, 30, "the region served under a newer open", context=cluster.daemons.log_tails
    )
    assert get_cell(loc.server.address, victim.region_id, row, FAMILY.encode() + b":q") == b"kept"
