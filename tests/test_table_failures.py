"""The client's data path while RegionServers fail and regions move, with real processes: writes, reads
and scans complete without the caller seeing an error (DESIGN.md §8), and nothing acknowledged is lost.

- A writer keeps writing while a RegionServer is SIGKILLed: every acknowledged write is readable after,
  and nothing refused appears.
- A region moves and its old owner is then SIGSTOPped: a client whose cache still names the old owner
  times one attempt out, forgets it, and its retry lands on the new owner.
- A scan whose regions move between its pages returns every row once, in order.
- A killed server's write-ahead log is removed by another server once its regions were taken over.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import regent
from client.errors import NoSuchFamily
from regionserver.data import wal
from tests.background import CheckedThread
from tests.cluster import wait_until
from tests.failure_helpers import LONG_LEASE, SHORT_LEASE, Clusters
from tests.http_helpers import http_url, scrape, value

FAMILIES = {"f": None}
#: The writer's deadline per call: far longer than a lease expiry and the reassignment after it.
CALL_TIMEOUT_S = 60.0


def test_every_acknowledged_write_survives_a_killed_regionserver_and_no_refused_one_appears(
    clusters: Clusters,
) -> None:
    cluster = clusters.start(servers=3, master_args=SHORT_LEASE, server_args=("--wal", "on"))
    cluster.admin.create_table("w", FAMILIES, num_regions=8)
    cluster.wait_open("w", 8)
    acknowledged: list[bytes] = []
    refused: list[bytes] = []
    stop = threading.Event()

    with regent.connect(cluster.master_addresses, timeout=CALL_TIMEOUT_S, rpc_timeout=2.0) as conn:
        table = conn.table("w")

        def write() -> None:
            i = 0
            while not stop.is_set() or i < 50:
                key = (i * 2654435761 % 2**32).to_bytes(4, "big")  # spread over the regions' key space
                if i % 10 == 9:  # a write the store refuses: it must never appear
                    try:
                        table.put(key, {b"f:v": b"%d" % i, b"nope:v": b"x"})
                    except NoSuchFamily:
                        refused.append(key)
                else:
                    table.put(key, {b"f:v": b"%d" % i})
                    acknowledged.append(key)
                i += 1

        writer = CheckedThread(write, name="writer").start()
        # Enough writes that each region's are logged (a claim's first write records that it logs).
        wait_until(lambda: len(acknowledged) >= 100, 30, "the writer's first writes")
        victim = cluster.servers[0]
        assert victim.kill() == -signal.SIGKILL
        at_kill = len(acknowledged)
        cluster.wait_open("w", 8, timeout=60)
        wait_until(lambda: len(acknowledged) >= at_kill + 30, 60, "writes after the reassignment")
        stop.set()
        writer.finish(timeout=CALL_TIMEOUT_S + 10)

        rows = dict(table.rows(acknowledged))
        missing = [k for k in acknowledged if k not in rows]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        assert refused
        for key, data in table.rows(refused):
            assert b"nope:v" not in data, key
        assert not [k for k in refused if k not in acknowledged and table.row(k)]

    # The writes went through the servers' write-ahead logs; the killed server's regions were taken over
    # from its log by their new owners: sealed there (and replayed, or there would be writes missing above).
    def records(directory: Path) -> list[wal.Record]:
        return [r for n in wal.segment_numbers(directory) for _, r in wal.read_segment(directory, n)]

    (killed,) = [
        records(d)
        for d in (cluster.rootdir / "wal").iterdir()
        if d.name.startswith(victim.address.replace(":", ",") + ",")
    ]
    logged = {r.region for r in killed if isinstance(r, wal.LoggedEdit)}
    sealed = {r.region for r in killed if isinstance(r, wal.Seal)}
    assert logged and logged <= sealed, (logged, sealed)


def test_a_killed_servers_log_is_removed_once_its_regions_were_taken_over(clusters: Clusters) -> None:
    cluster = clusters.start(
        servers=2, master_args=SHORT_LEASE, server_args=("--wal", "on", "--wal-cleaner-interval", "0.2")
    )
    cluster.admin.create_table("c", FAMILIES, num_regions=4)
    cluster.wait_open("c", 4)
    victim = cluster.servers[0]
    keys = [bytes([i]) + b"-%d" % n for i in range(0, 256, 16) for n in range(3)]  # every region, logged
    with regent.connect(cluster.master_addresses, timeout=CALL_TIMEOUT_S) as conn:
        table = conn.table("c")
        for key in keys:
            table.put(key, {b"f:v": key})
        logs = cluster.rootdir / "wal"
        (killed,) = [d for d in logs.iterdir() if d.name.startswith(victim.address.replace(":", ",") + ",")]
        assert any(isinstance(r, wal.LoggedEdit) for _, r in wal.read_segment(killed, 1))
        assert victim.kill() == -signal.SIGKILL
        cluster.wait_open("c", 4, timeout=60)
        wait_until(lambda: not killed.exists(), 30, "the killed server's log to be removed")
        assert dict(table.rows(keys)) == {key: {b"f:v": key} for key in keys}
    survivor = scrape(http_url(cluster.servers[1]))
    assert value(survivor, "regent_regionserver_wal_logs_removed_total") == 1
    assert value(survivor, "regent_regionserver_wal_stopped_logs_kept") == 0
    assert [d.name.split(",")[1] for d in logs.iterdir()] == [str(cluster.servers[1].port)]  # the live one's


def test_a_retry_after_the_region_moved_lands_on_the_new_owner_while_the_old_one_is_stopped(
    clusters: Clusters,
) -> None:
    # A long lease: the paused old owner stays "live", so only the client's own timeout gets it past.
    cluster = clusters.start(servers=2, master_args=LONG_LEASE)
    cluster.admin.create_table("p", FAMILIES)
    (region,) = cluster.wait_open("p", 1)
    with regent.connect(cluster.master_addresses, timeout=30.0, rpc_timeout=1.0) as conn:
        table = conn.table("p")
        table.put(b"row", {b"f:v": b"before"})  # the client caches the region on its first owner
        old = next(s for s in cluster.servers if s.port == region.server.port)
        new = next(s for s in cluster.servers if s is not old)
        cluster.admin.move(region.region_id, new.address)
        assert cluster.admin.get_region(region.region_id).server.port == new.port
        old.pause()
        try:
            started = time.monotonic()
            table.put(b"row", {b"f:v": b"after"})
            assert table.row(b"row") == {b"f:v": b"after"}
            assert time.monotonic() - started < 10.0  # one attempt timed out, not the whole deadline
            cached = conn.router().locations.table("p").regions()
            assert [r.server for r in cached] == [new.address]
        finally:
            old.resume()
    assert table_cell(cluster, new.address) == b"after"


def table_cell(cluster: object, address: str) -> bytes | None:
    from tests.cluster import get_cell

    region = cluster.admin.table_regions("p")[0]  # type: ignore[attr-defined]
    return get_cell(address, region.region_id, b"row", b"f:v")


def test_a_scan_whose_regions_move_between_pages_returns_every_row_once_in_order(clusters: Clusters) -> None:
    cluster = clusters.start(servers=2)
    cluster.admin.create_table("s", FAMILIES, split_keys=[b"%03d" % i for i in range(25, 200, 25)])
    regions = cluster.wait_open("s", 8)
    with regent.connect(cluster.master_addresses, timeout=30.0) as conn:
        table = conn.table("s")
        keys = [b"%03d" % i for i in range(200)]
        with table.batch() as batch:
            for key in keys:
                batch.put(key, {b"f:v": key})
        for reverse in (False, True):
            seen = []
            for n, (key, data) in enumerate(table.scan(batch_size=7, reverse=reverse)):
                assert data == {b"f:v": key}
                seen.append(key)
                if n % 20 == 5:  # move the region the scan is in, and the next one, mid-page
                    for loc in regions[(n // 25) % 8 : (n // 25) % 8 + 2]:
                        cluster.admin.move(loc.region_id)
            assert seen == (keys[::-1] if reverse else keys)
