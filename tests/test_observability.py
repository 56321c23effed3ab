"""/metrics and a region's story on a real cluster (two masters, three RegionServers, mutual TLS): the
counters move as a table is assigned, a region moved, a crashed RegionServer recovered; the story lists each
step with its cause, and after a master failover the new master still tells it (from meta)."""

from __future__ import annotations

import signal

import regent
from meta import RegionState
from tests.cluster import Daemon, wait_until
from tests.failure_helpers import (
    FAMILY,
    SHORT_LEASE,
    Clusters,
    active_master,
    backup_master,
    incarnation,
    serving,
    settled,
)
from tests.http_helpers import get, get_json, http_url, scrape, value

REGIONS = 6


def _steps(story: object) -> list[tuple[str, str, str]]:
    return [(s.state.name, s.cause, s.procedure) for s in story.steps]  # type: ignore[attr-defined]


def test_metrics_move_and_the_story_tells_each_step_across_a_crash_and_a_failover(clusters: Clusters) -> None:
    cluster = clusters.start(masters=2, master_args=SHORT_LEASE)
    active = active_master(cluster)
    backup = backup_master(cluster, active)
    base = http_url(active)
    before = scrape(base)
    assert value(before, "regent_master_active") == 1
    assert value(scrape(http_url(backup)), "regent_master_active") == 0
    status, page = get(http_url(backup) + "/")
    assert status == 200 and "backup" in page and active.address in page
    status, page = get(http_url(backup) + "/procedures")
    assert status == 503 and f"the active master is {active.address}" in page
    assert value(before, "regent_master_live_servers") == 3

    # Assign: a new table's regions open; the opens, the meta commits and the RPCs are counted.
    cluster.admin.create_table("t", [FAMILY], num_regions=REGIONS)
    settled(cluster, {"t": REGIONS})
    after_create = scrape(base)
    assert value(after_create, "regent_master_region_operations_total", op="open") >= REGIONS
    assert value(after_create, "regent_master_regions", state="OPEN") == REGIONS
    assert value(after_create, "regent_master_tables") == 1
    assert value(after_create, "regent_master_meta_commit_seconds_count") > value(
        before, "regent_master_meta_commit_seconds_count"
    )
    assert value(after_create, "regent_master_region_transitions_total") >= 2 * REGIONS
    assert value(after_create, "regent_master_rpc_requests_total", method="Master/CreateTable") == 1
    heartbeats = value(after_create, "regent_master_heartbeats_total")
    wait_until(
        lambda: value(scrape(base), "regent_master_heartbeats_total") > heartbeats,
        10,
        "heartbeats to be counted",
    )
    assert (
        value(after_create, "regent_master_procedure_seconds_count", kind="create_table", state="SUCCESS")
        == 1
    )

    # Two puts to a row: the first creates its region's store (recording that its claim logs), the second
    # is one append to the write-ahead log of the RegionServer that serves the row; an increment then is
    # one small group commit of the store. Each on the loop or in a thread.
    def on_loop_or_thread(server: Daemon, metric: str) -> float:
        samples = scrape(http_url(server))
        return sum(value(samples, metric, on=on) for on in ("loop", "thread"))

    def counted(metric: str, since: dict[str, float]) -> float:
        return sum(on_loop_or_thread(s, metric) - since[s.address] for s in cluster.servers)

    commits, appends = "regent_regionserver_small_commits_total", "regent_regionserver_wal_appends_total"
    committed = {s.address: on_loop_or_thread(s, commits) for s in cluster.servers}
    appended = {s.address: on_loop_or_thread(s, appends) for s in cluster.servers}
    with regent.connect(cluster.master_addresses, timeout=30.0) as connection:
        for value_ in (b"v1", b"v2"):
            connection.table("t").put(b"row", {f"{FAMILY}:q".encode(): value_})
        assert counted(appends, appended) == 1 and counted(commits, committed) == 0
        connection.table("t").counter_inc(b"row", f"{FAMILY}:n".encode())
    assert counted(appends, appended) == 1 and counted(commits, committed) == 1

    # An RPC that fails is counted by its code.
    try:
        cluster.admin.get_region(10**12)
    except Exception as exc:
        assert type(exc).__name__ == "RegionNotFound"
    errors = scrape(base)
    assert value(errors, "regent_master_rpc_errors_total", method="Master/GetRegion", code="NOT_FOUND") == 1

    # Move: counted on the master (move, close, open) and on both RegionServers.
    source, target, third = cluster.servers
    region_id = serving(cluster, source)[0]
    source_metrics = scrape(http_url(source))
    cluster.admin.move(region_id, incarnation(target))
    moved = scrape(base)
    assert value(moved, "regent_master_region_operations_total", op="move") == 1
    assert value(moved, "regent_master_region_operations_total", op="close") >= 1
    assert value(moved, "regent_master_region_operations_total", op="open") > value(
        after_create, "regent_master_region_operations_total", op="open"
    )
    assert value(scrape(http_url(source)), "regent_regionserver_region_closes_total") == (
        value(source_metrics, "regent_regionserver_region_closes_total") + 1
    )
    target_metrics = scrape(http_url(target))
    assert value(target_metrics, "regent_regionserver_region_opens_total") >= 1
    assert value(
        target_metrics, "regent_regionserver_rpc_requests_total", method="RegionServerAdmin/ExecuteProcedures"
    )

    story = cluster.admin.region_story(region_id)
    steps = _steps(story)
    assert ("CLOSING", "move", "move") in steps, steps
    assert steps[-2:] == [("OPENING", "move", "move"), ("OPEN", "move", "move")], steps
    assert story.steps[-1].server == str(incarnation(target))
    assert steps[0] == ("OPENING", "table ddl", "assign"), steps  # created by create_table

    # Crash: the target is killed; its regions are recovered elsewhere by a server_crash procedure.
    assert target.kill() == -signal.SIGKILL
    wait_until(
        lambda: value(scrape(base), "regent_master_dead_servers") == 1,
        30,
        "the master to declare the killed RegionServer dead",
        context=active.log_tail,
    )
    regions = settled(cluster, {"t": REGIONS})
    assert regions[region_id].server is not None and regions[region_id].server.port != target.port
    recovered = wait_until(
        lambda: (
            samples
            if value(
                samples := scrape(base),
                "regent_master_procedure_seconds_count",
                kind="server_crash",
                state="SUCCESS",
            )
            else None
        ),
        30,
        "the server crash procedure to finish",
    )
    assert value(recovered, "regent_master_live_servers") == 2
    assert value(recovered, "regent_master_regions_in_transition") == 0
    crash_steps = _steps(cluster.admin.region_story(region_id))[len(steps) :]
    # The region goes ABNORMALLY_CLOSED and OPENING in one step (one row): recovered, then assigned.
    assert crash_steps == [("OPENING", "crash recovery", "assign"), ("OPEN", "crash recovery", "assign")]
    on_page = get_json(f"{base}/region?id={region_id}&format=json")
    assert [s["cause"] for s in on_page["story"]] == [c for _, c, _ in steps + crash_steps]
    assert on_page["state"] == "OPEN"

    # Failover: the active master is killed; the backup takes over and tells the same story from meta.
    told = _steps(cluster.admin.region_story(region_id))
    assert active.kill() == -signal.SIGKILL
    backup.wait_active(30)
    settled(cluster, {"t": REGIONS})
    after = cluster.admin.region_story(region_id)
    assert _steps(after)[: len(told)] == told, (told, _steps(after))
    assert all(s.persisted for s in after.steps[: len(told)])
    assert after.location.state is RegionState.OPEN
    new_metrics = scrape(http_url(backup))
    assert value(new_metrics, "regent_master_active") == 1
    assert value(new_metrics, "regent_master_epoch") == value(before, "regent_master_epoch") + 1
    assert value(new_metrics, "regent_master_regions", state="OPEN") == REGIONS
    assert third.alive and source.alive
