"""A RegionServer opening hundreds of regions with data at once keeps its lease and keeps serving, with
real processes: the store claims of the order run in threads (regionserver.claims), not on its event loop.

One server holds a table of 300 regions, each written once; a second server joins and serves a small table
of its own, under a steady load of writes and reads; the first is killed, so the second receives the 300
regions (each with a store to claim) in the master's recovery orders. Asserted on outcomes, not on timing:
every region OPEN on the survivor with its row readable, every call to its own table answered meanwhile,
and no lease lapse in its log.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from tests.background import CheckedThread, finish_all
from tests.cluster import Cluster, Daemons, wait_until
from tests.data_client import DataClient
from tests.failure_helpers import settled

TABLE, OTHER = "claimed", "busy"
REGIONS, OTHER_REGIONS = 300, 4
COLUMN = b"f:q"
#: A 2 s lease (heartbeats every 200 ms): an event loop held for ~1.3 s would lapse it.
MASTER_ARGS = ("--heartbeat-ms", "200", "--lease-ms", "2000")
TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 30.0


def _row_in(start_key: bytes) -> bytes:
    return start_key + b"\x00"  # the smallest row after the region's start key: inside the region


def test_an_order_of_hundreds_of_regions_with_stores_opens_while_the_server_keeps_its_lease_and_serves(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path, master_args=MASTER_ARGS)
    cluster.start(servers=1)
    admin = cluster.admin
    first = cluster.servers[0]
    assert admin.create_table(TABLE, ["f"], num_regions=REGIONS, timeout=TIMEOUT_S) == REGIONS
    regions = cluster.wait_open(TABLE, REGIONS, timeout=TIMEOUT_S)
    rows = {r.region_id: _row_in(r.info.start_key) for r in regions}
    with DataClient(admin, TABLE, call_timeout=CALL_TIMEOUT_S) as data:
        for rid, row in rows.items():  # every region gets a store
            data.put(row, COLUMN, b"v%d" % rid)

    second = cluster.start_server()
    cluster.wait_live(2, TIMEOUT_S)
    assert admin.create_table(OTHER, ["f"], num_regions=OTHER_REGIONS, timeout=TIMEOUT_S) == OTHER_REGIONS
    cluster.wait_open(OTHER, OTHER_REGIONS, timeout=TIMEOUT_S)
    stop = threading.Event()
    calls = [0]

    with DataClient(admin, OTHER, call_timeout=CALL_TIMEOUT_S) as busy:

        def load() -> None:  # writes then reads back, one call after another; any failure fails the test
            for n in itertools.count():
                if stop.is_set():
                    return
                row = b"row-%04d" % (n % 1000)
                busy.put(row, COLUMN, b"%d" % n)
                assert busy.get(row, COLUMN) == b"%d" % n
                calls[0] += 2

        worker = CheckedThread(load, name="busy-load").start()
        try:
            wait_until(lambda: calls[0] >= 20, TIMEOUT_S, "the load on the busy table running")
            first.kill()  # its 300 regions (with stores) are reopened on the survivor
            located = settled(cluster, {TABLE: REGIONS, OTHER: OTHER_REGIONS}, timeout=TIMEOUT_S)
            before = calls[0]
            wait_until(lambda: calls[0] >= before + 20, TIMEOUT_S, "the load still answered after the opens")
        finally:
            stop.set()
            finish_all([worker])

    assert all(r.server is not None and r.server.address == second.address for r in located.values())
    with DataClient(admin, TABLE, call_timeout=CALL_TIMEOUT_S) as data:
        for rid, row in rows.items():
            assert data.get(row, COLUMN) == b"v%d" % rid, f"region {rid}: its row lost across the reopen"
    events = second.events()
    claimed = [e for e in events if e.get("event") == "region_stores_claimed"]
    assert sum(e["opened"] for e in claimed) >= REGIONS, claimed  # the claims went through the threads
    lapses = [e for e in events if e.get("event") == "lease_lapsed_serving_stopped"]
    assert not lapses, f"the survivor lost its lease while opening: {lapses}"
