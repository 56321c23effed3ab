"""Assignment with real processes (DESIGN.md §4-§5): a master and RegionServers on loopback, driven through
the SDK, observed three ways (meta through the master, the master's counters, each server's own list of
regions) and, once the master has stopped, meta read straight from disk.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from client.errors import InvalidArgument, RegionInTransition
from meta import MetaStore, ServerName, keys
from meta.codec import decode_region_info, decode_region_state
from meta.states import RegionState
from regent.proto import common_pb2, regionserver_pb2, regionserver_pb2_grpc
from tests.background import CheckedThread, finish_all
from tests.cluster import (
    STOP_TIMEOUT_S,
    Cluster,
    Daemons,
    doubly_served,
    observe_online,
    open_channel,
    wait_until,
)

TABLE = "t"
S = RegionState


# ---- what the three views say, and whether they agree ----


def _disagreements(cluster: Cluster, table: str, count: int, *, allow_closed: bool = False) -> list[str]:
    """Every way in which meta (TableRegions), the master's counters (ClusterStatus) and the servers' own
    lists (GetOnlineRegions) disagree, or a region is not settled; [] when they agree exactly.

    Settled: every region OPEN on one live server with no procedure (or CLOSED on none, if allowed), and
    `table` is the cluster's only table.
    """
    problems: list[str] = []
    regions = cluster.admin.table_regions(table, timeout=10.0)
    status = cluster.admin.cluster_status(timeout=10.0)
    observations = observe_online(cluster.servers)
    silent = sorted({s.address for s in cluster.servers if s.alive} - {a for a, _ in observations})
    if silent:  # a server that does not answer is not "serving nothing"
        problems.append(f"live RegionServers that do not answer: {silent}")
    served: dict[int, list[str]] = {}
    for address, online in observations:
        for region_id in online:
            served.setdefault(region_id, []).append(address)
    if len(regions) != count:
        problems.append(f"table {table} has {len(regions)} regions, expected {count}")
    live = {s.server for s in status.servers}
    states: Counter[str] = Counter()
    per_server: Counter[ServerName] = Counter()
    for loc in regions:
        rid = loc.region_id
        states[loc.state.name] += 1
        if loc.proc_id:
            problems.append(f"region {rid} still has procedure {loc.proc_id} ({loc.state.name})")
        if loc.state is S.OPEN:
            if loc.server not in live:
                problems.append(f"region {rid} is OPEN on {loc.server}, which is not live")
                continue
            per_server[loc.server] += 1
            if served.get(rid) != [loc.server.address]:
                problems.append(f"region {rid} is OPEN on {loc.server} in meta, served by {served.get(rid)}")
        elif loc.state is S.CLOSED and allow_closed:
            if loc.server is not None or rid in served:
                problems.append(f"region {rid} is CLOSED on {loc.server}, served by {served.get(rid)}")
        else:
            problems.append(f"region {rid} is {loc.state.name} on {loc.server}")
    strays = sorted(set(served) - {loc.region_id for loc in regions})
    if strays:
        problems.append(f"servers serve regions meta does not have: {strays[:10]}")
    if status.regions != count or status.regions_by_state != dict(states):
        problems.append(
            f"ClusterStatus counts {status.regions} regions by state {status.regions_by_state}, "
            f"meta has {len(regions)} by state {dict(states)}"
        )
    if status.regions_in_transition:
        problems.append(f"ClusterStatus lists {len(status.regions_in_transition)} regions in transition")
    for server in status.servers:
        if server.region_count != per_server[server.server]:
            problems.append(
                f"ClusterStatus says {server.server} has {server.region_count} regions, "
                f"meta says {per_server[server.server]}"
            )
    return problems


def _wait_agreement(
    cluster: Cluster, table: str, count: int, *, allow_closed: bool = False, timeout: float = 60.0
) -> list[Any]:
    """Wait until the three views agree exactly (a server adds a region to its list a moment after the
    master accepted its OPENED report); return the table's regions."""
    last: list[str] = []

    def agree() -> bool:
        nonlocal last
        last = _disagreements(cluster, table, count, allow_closed=allow_closed)
        return not last

    wait_until(
        agree,
        timeout,
        f"meta, the master and the servers to agree on {table}",
        interval=0.1,
        context=lambda: "\n".join(last[:20]) + "\n" + cluster.daemons.log_tails(10),
    )
    return list(cluster.admin.table_regions(table))


def _online_by_address(cluster: Cluster) -> dict[str, dict[int, int]]:
    return {address: online for address, online in observe_online(cluster.servers)}


def _read_meta(rootdir: Path) -> dict[int, Any]:
    """region id -> RegionStateRow of every region of meta, read from disk (the master must be stopped)."""
    store = MetaStore.open(rootdir / "meta")
    try:
        with store.snapshot() as snap:
            ids = {decode_region_info(raw).region_id for _, raw in snap.scan("regions")}
            rows = {keys.from_u64(k): decode_region_state(v) for k, v in snap.scan("region_state")}
    finally:
        store.close()
    assert set(rows) == ids, f"regions without a region_state row: {sorted(ids - set(rows))[:10]}"
    return rows


def _open_seq_counter(rootdir: Path) -> int:
    """The next open sequence number meta records (the master must be stopped)."""
    store = MetaStore.open(rootdir / "meta")
    try:
        with store.snapshot() as snap:
            raw = snap.get("info", b"next_open_seq_num")
    finally:
        store.close()
    assert raw is not None, "meta records no open sequence number counter"
    return keys.from_u64(raw)


def _stop_all(cluster: Cluster) -> None:
    """SIGTERM to every daemon at once, then wait for each: the whole cluster goes down together."""
    daemons = [d for d in [*cluster.masters, *cluster.servers] if d.alive]
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        assert daemon.wait_exit(STOP_TIMEOUT_S) == 0, daemon.log_tail()


# ---- 1: a thousand regions, three views, one answer ----


def test_thousand_regions_open_once_and_meta_master_and_servers_agree(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    cluster = Cluster(daemons, rootdir).start(servers=3)
    try:
        assert cluster.admin.create_table(TABLE, ["cf"], num_regions=1000) == 1000
        cluster.wait_open(TABLE, 1000)
        regions = _wait_agreement(cluster, TABLE, 1000)
        online = _online_by_address(cluster)
    finally:
        cluster.close()

    assert sum(len(o) for o in online.values()) == 1000, "a region is served twice, or not at all"
    counts = Counter(loc.server.address for loc in regions)
    assert len(counts) == 3 and min(counts.values()) >= 300, f"uneven spread over the servers: {counts}"
    where = {loc.region_id: loc.server for loc in regions}

    master = cluster.masters[0]
    assert master.stop() == 0, master.log_tail()
    rows = _read_meta(rootdir)

    assert len(rows) == 1000
    for rid, row in rows.items():
        assert (row.state, row.proc_id) == (S.OPEN, 0), f"region {rid} in meta: {row}"
        assert row.server == where[rid], (
            f"region {rid}: meta on disk says {row.server}, the master {where[rid]}"
        )
        seq = online[row.server.address].get(rid)
        assert seq == row.open_seq_num, (
            f"region {rid}: meta has open sequence number {row.open_seq_num}, "
            f"{row.server.address} serves {seq}"
        )
    # Every open the master orders takes the next open sequence number (a retry too). A fresh cluster
    # handing out exactly 1..1000, one per region, ordered exactly one open per region: none was opened
    # twice, and each server serves exactly that open (checked above).
    seqs = sorted(row.open_seq_num for row in rows.values())
    assert seqs == list(range(1, 1001)), f"open sequence numbers beyond one per region: {seqs[-5:]}"
    assert _open_seq_counter(rootdir) == 1001, "the master handed out more open sequence numbers than opens"


# ---- 2: the whole cluster restarts and every region goes home ----


def test_whole_cluster_restart_on_the_same_ports_retains_every_region_on_its_server(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    cluster = Cluster(daemons, rootdir).start(servers=3)
    try:
        cluster.admin.create_table(TABLE, ["cf"], num_regions=60)
        cluster.wait_open(TABLE, 60)
        before = {loc.region_id: loc.server for loc in _wait_agreement(cluster, TABLE, 60)}
        ports = [s.port for s in cluster.servers]

        _stop_all(cluster)
        cluster.masters.clear()
        cluster.servers.clear()
        cluster.start_master(0)
        for port in ports:
            cluster.start_server(port)
        cluster.wait_live(3)
        cluster.wait_open(TABLE, 60)
        after = {loc.region_id: loc.server for loc in _wait_agreement(cluster, TABLE, 60)}
    finally:
        cluster.close()

    moved = {
        rid: (before[rid].address, after[rid].address)
        for rid in before
        if before[rid].address != after[rid].address
    }
    assert not moved, f"regions not retained on their host:port (before, after): {moved}"
    old = {s.startcode for s in before.values()}
    assert not old & {s.startcode for s in after.values()}, "regions still recorded on the old incarnations"


# ---- 3: procedures under concurrent requests ----


def _busy_refusal_ok(exc: RegionInTransition, region_id: int) -> bool:
    text = str(exc)
    return f"region {region_id}" in text and ("procedure" in text or "waiting" in text)


def test_second_procedure_on_a_busy_region_is_refused_naming_the_region_and_its_procedure(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path / "root").start(servers=2)
    try:
        cluster.admin.create_table(TABLE, ["cf"], num_regions=4)
        regions = cluster.wait_open(TABLE, 4)
        region = regions[0]
        holder = next(s for s in cluster.servers if s.address == region.server.address)
        (other,) = [s for s in cluster.servers if s is not holder]
        before = cluster.admin.table_regions(TABLE)

        holder.pause()  # the close cannot be acknowledged: the move stays in flight
        try:
            proc_id = cluster.admin.move(region.region_id, other.address, wait=False)
            for attempt in (
                lambda: cluster.admin.unassign(region.region_id, wait=False),
                lambda: cluster.admin.move(region.region_id, wait=False),
                lambda: cluster.admin.assign(region.region_id, wait=False),
            ):
                with pytest.raises(RegionInTransition) as refused:
                    attempt()
                message = str(refused.value)
                assert f"region {region.region_id}" in message, message
                assert f"procedure {proc_id}" in message and "move" in message, message
                assert refused.value.status == "FAILED_PRECONDITION"
            # The refusals changed nothing: only the move's own region moved on.
            during = cluster.admin.table_regions(TABLE)
            assert [r for r in during if r.region_id != region.region_id] == before[1:]
            busy = cluster.admin.get_region(region.region_id)
            assert (busy.state, busy.proc_id, busy.server) == (S.CLOSING, proc_id, region.server)
        finally:
            holder.resume()

        cluster.wait_open(TABLE, 4)
        moved = _wait_agreement(cluster, TABLE, 4)
    finally:
        cluster.close()
    assert moved[0].server.address == other.address, "the move did not move the region to its target"


def test_move_without_a_target_moves_the_region_to_another_server(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path / "root").start(servers=2)
    try:
        cluster.admin.create_table(TABLE, ["cf"], num_regions=4)
        region = cluster.wait_open(TABLE, 4)[0]

        cluster.admin.move(region.region_id, timeout=20.0)

        after = cluster.admin.get_region(region.region_id)
        _wait_agreement(cluster, TABLE, 4)
    finally:
        cluster.close()
    assert after.state is S.OPEN
    assert after.server != region.server, f"region {region.region_id} moved back onto {region.server}"


def test_concurrent_moves_unassigns_and_assigns_never_serve_a_region_twice(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path / "root").start(servers=3)
    try:
        admin = cluster.admin
        admin.create_table(TABLE, ["cf"], num_regions=24)
        regions = cluster.wait_open(TABLE, 24)
        hot = [loc.region_id for loc in regions[:8]]  # every worker works on these: requests overlap
        addresses = [s.address for s in cluster.servers]
        stop = threading.Event()
        done: Counter[str] = Counter()
        busy: list[tuple[int, RegionInTransition]] = []
        refused: list[tuple[int, InvalidArgument]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                rid = rng.choice(hot)
                op = rng.choice(["move", "move_to", "unassign", "assign"])
                wait = rng.random() < 0.3
                try:
                    if op == "move":
                        admin.move(rid, wait=wait, timeout=20.0)
                    elif op == "move_to":
                        admin.move(rid, rng.choice(addresses), wait=wait, timeout=20.0)
                    elif op == "unassign":
                        admin.unassign(rid, wait=wait, timeout=20.0)
                    else:
                        admin.assign(rid, wait=wait, timeout=20.0)
                except RegionInTransition as exc:
                    with lock:
                        busy.append((rid, exc))
                except InvalidArgument as exc:  # e.g. assign of an OPEN region, move to where it is
                    with lock:
                        refused.append((rid, exc))
                except BaseException as exc:
                    with lock:
                        errors.append(exc)
                    return
                else:
                    with lock:
                        done[op] += 1

        threads = [CheckedThread(worker, seed, name=f"admin-worker-{seed}") for seed in range(4)]
        observations = []
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4.0
        try:
            while time.monotonic() < deadline and not errors:
                observations += observe_online(cluster.servers)
        finally:
            stop.set()
            finish_all(threads)
        assert not errors, f"unexpected errors from concurrent requests: {errors[:3]!r}"
        observations += observe_online(cluster.servers)

        twice = doubly_served(observations)
        assert not twice, "\n".join(twice[:10])
        assert len(observations) > 30, "too few observations to say anything"
        assert sum(done.values()) > 20 and done["unassign"] and done["assign"], f"few procedures ran: {done}"
        assert busy, "overlapping requests never met a busy region"
        bad = [str(exc) for rid, exc in busy if not _busy_refusal_ok(exc, rid)]
        assert not bad, (
            f"RegionInTransition messages that do not name the region and its procedure: {bad[:3]}"
        )
        vague = [str(exc) for rid, exc in refused if f"region {rid}" not in str(exc)]
        assert not vague, f"InvalidArgument messages that do not name the region: {vague[:3]}"

        wait_until(
            lambda: not [p for p in admin.list_procedures() if p.state in ("RUNNABLE", "WAITING")],
            30,
            "every procedure to finish",
            context=cluster.daemons.log_tails,
        )
        final = _wait_agreement(cluster, TABLE, 24, allow_closed=True)
        closed = [loc.region_id for loc in final if loc.state is S.CLOSED]
        for rid in closed:
            admin.assign(rid, timeout=20.0)
        _wait_agreement(cluster, TABLE, 24)
    finally:
        cluster.close()


def test_open_with_the_procedure_id_of_a_close_still_being_reported_is_not_dropped(
    daemons: Daemons, tmp_path: Path
) -> None:
    """The master sends a move's reopen with the move's procedure id as soon as it has accepted the CLOSED
    report, before the RegionServer has the answer; when the destination is the source (a move without
    target on a one-server cluster, or onto the least loaded server), the server must take that open. The
    master is paused here so that the CLOSED report stays unanswered: the order reaches the server in the
    window where it does in a busy cluster, deterministically."""
    cluster = Cluster(daemons, tmp_path / "root").start(servers=1)
    try:
        (server,) = cluster.servers
        (live,) = cluster.status().servers
        epoch = cluster.status().master_epoch
        master = cluster.masters[0]
        proc_id, region_id = 10**9, 10**9  # nothing the master knows: its answer will reject both reports
        target = common_pb2.ServerName(
            host=live.server.host, port=live.server.port, startcode=live.server.startcode
        )
        with open_channel(server.address, who="node") as channel:
            stub = regionserver_pb2_grpc.RegionServerAdminStub(channel)
            close = regionserver_pb2.ExecuteProceduresRequest(
                target=target,
                master_epoch=epoch,
                closes=regionserver_pb2.Closes(region_ids=[region_id], proc_ids=[proc_id]),
            )
            reopen = regionserver_pb2.ExecuteProceduresRequest(
                target=target,
                master_epoch=epoch,
                opens=[
                    regionserver_pb2.TableOpens(
                        table=TABLE,
                        region_ids=[region_id],
                        proc_ids=[proc_id],
                        open_seq_nums=[10**9],
                        start_keys=[b""],
                        end_keys=[b""],
                    )
                ],
            )
            master.pause()
            try:
                closed = stub.ExecuteProcedures(close, timeout=5.0)
                reopened = stub.ExecuteProcedures(reopen, timeout=5.0)
            finally:
                master.resume()
        assert (closed.accepted, closed.duplicates) == (1, 0)
        assert (reopened.accepted, reopened.duplicates) == (1, 0), "the reopen was dropped as a duplicate"
    finally:
        cluster.close()
