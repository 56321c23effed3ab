"""RegionServers failing, with real processes (DESIGN.md §5): SIGKILLed, SIGSTOPped past their lease,
restarted on their port, or never answering an open (a stuck procedure, bypassed); and the region store's
owner claim that fences a paused old owner's writes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from client.errors import ProcedureNotFound
from meta import RegionState, ServerName
from meta.types import ColumnFamily
from regionserver.data import Claim, Fenced, Get, Put, RegionStore, RowMutation, region_dir
from tests.cluster import get_cell, wait_until
from tests.data_calls import RegionRefused
from tests.failure_helpers import (
    FAMILY,
    LONG_LEASE,
    SHORT_LEASE,
    Clusters,
    DoubleServingWatch,
    active_master,
    declared_dead,
    events,
    incarnation,
    online_of,
    row_in,
    serving,
    settled,
)

# ---- 1. a RegionServer killed ----


def test_killed_regionserver_regions_reopen_elsewhere_and_none_is_ever_served_twice(
    clusters: Clusters,
) -> None:
    # Default heartbeat and lease: the master notices the death only when the lease runs out.
    cluster = clusters.start()
    cluster.admin.create_table("t", [FAMILY], num_regions=60)
    settled(cluster, {"t": 60})
    victim = cluster.servers[0]
    lost = serving(cluster, victim)
    startcode = incarnation(victim).startcode
    master = active_master(cluster)

    with DoubleServingWatch(cluster) as watch:
        assert victim.kill() == -signal.SIGKILL
        regions = settled(cluster, {"t": 60})
    watch.check()

    assert all(s is not None and s.port != victim.port for s in (regions[rid].server for rid in lost))
    (dead,) = declared_dead(master, startcode)
    assert "no heartbeat" in dead["reason"], dead


# ---- 2. a RegionServer paused past its lease ----


def test_paused_regionserver_past_its_lease_answers_that_it_serves_nothing_after_waking_and_exits(
    clusters: Clusters,
) -> None:
    """Awake past its lease, the old server answers, and what it answers is that it serves nothing: its
    list of regions is empty and a write to the region it held is refused for want of a lease. No answer
    is never taken for "serves nothing": the master is paused while the server wakes, so the server cannot
    learn it is dead and exit, and must answer; once the master resumes, the server must exit."""
    cluster = clusters.start(master_args=SHORT_LEASE)
    cluster.admin.create_table("t", [FAMILY], num_regions=12)
    before = settled(cluster, {"t": 12})
    sleeper = cluster.servers[0]
    held = serving(cluster, sleeper)
    region = before[held[0]]
    row = row_in(region)
    sleeper.put(region.region_id, row, b"f:a", b"written before the pause")  # creates the region's store
    master = active_master(cluster)
    startcode = incarnation(sleeper).startcode

    with DoubleServingWatch(cluster) as watch:
        sleeper.pause()
        wait_until(lambda: declared_dead(master, startcode), 30, "the paused server declared dead")
        after = settled(cluster, {"t": 12}, exclude=[sleeper])
        owner = after[region.region_id].server
        assert owner is not None and owner.port != sleeper.port
        new_owner = next(s for s in cluster.servers if s.port == owner.port)
        new_owner.put(region.region_id, row, b"f:b", b"written by the new owner")

        def answer() -> tuple[dict[int, int]] | None:  # a tuple: an empty answer is still an answer
            online = online_of(sleeper.address)
            return None if online is None else (online,)

        master.pause()  # the woken server's heartbeats go unanswered: it stays up, without a lease
        try:
            sleeper.resume()
            (online,) = wait_until(
                answer, 10, f"{sleeper.name} to answer after waking", context=sleeper.log_tail
            )
            assert online == {}, f"{sleeper.name} awake after its lease says it serves {sorted(online)}"
            with pytest.raises(RegionRefused) as refused:
                sleeper.put(region.region_id, row, b"f:b", b"written by the old owner after waking")
            assert refused.value.reason == "NOT_SERVING", refused.value
            assert "no current lease" in refused.value.message, refused.value
        finally:
            master.resume()

        # Told it is dead at its next heartbeat, it exits; until then every answer is still "nothing".
        deadline = time.monotonic() + 30
        while sleeper.alive:
            assert time.monotonic() < deadline, f"{sleeper.name} did not exit\n{sleeper.log_tail()}"
            online = online_of(sleeper.address)
            assert not online, f"{sleeper.name} awake after its lease says it serves {sorted(online or {})}"
            time.sleep(0.01)
    watch.check()

    assert sleeper.wait_exit(30) != 0, sleeper.log_tail()
    assert events(sleeper, "server_declared_dead_exiting"), sleeper.log_tail()
    assert get_cell(new_owner.address, region.region_id, row, b"f:a") == b"written before the pause"
    assert get_cell(new_owner.address, region.region_id, row, b"f:b") == b"written by the new owner"
    settled(cluster, {"t": 12})


_OLD_OWNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from meta import ServerName
    from meta.types import ColumnFamily
    from regionserver.data import Claim, Fenced, Put, RegionStore, RowMutation
    store = RegionStore.open(
        Path(sys.argv[1]), Claim(ServerName("127.0.0.1", 1, 1000), 5), {b"f": ColumnFamily("f")}, create=True
    )
    def put(value):
        assert store.mutate([RowMutation(b"k", (Put(b"f", b"q", value),))]) == [None]
    put(b"old owner, first write")
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        put(b"old owner, after a newer claim")
    except Fenced as exc:
        print("fenced", exc, flush=True)
    else:
        print("written", flush=True)
    """
)


FAMILIES = {b"f": ColumnFamily("f")}


def _value(store: RegionStore) -> bytes:
    (cells,) = store.get([Get(b"k", ((b"f", b"q"),))])
    return cells[0].value


def test_region_store_refuses_the_write_of_an_owner_whose_claim_a_newer_open_replaced(
    tmp_path: Path,
) -> None:
    path = region_dir(tmp_path, "t", 7)
    # The old owner is another process (as a paused RegionServer would be): LMDB serialises the writers.
    old = subprocess.Popen(
        [sys.executable, "-c", _OLD_OWNER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert old.stdout is not None and old.stdin is not None
        assert old.stdout.readline().strip() == "ready"
        new = RegionStore.open(path, Claim(ServerName("127.0.0.1", 2, 2000), 6), FAMILIES, create=False)
        try:
            old.stdin.write("go\n")
            old.stdin.flush()
            answer = old.stdout.readline()
            assert answer.startswith("fenced"), answer
            assert "owned by 127.0.0.1:2:2000" in answer, answer
            assert new.mutate([RowMutation(b"k", (Put(b"f", b"q", b"new owner"),))]) == [None]
            assert _value(new) == b"new owner"
            assert new.owner() == Claim(ServerName("127.0.0.1", 2, 2000), 6)
        finally:
            new.close()
        assert old.wait(30) == 0
    finally:
        old.kill()
        old.wait()
    # An older open cannot take the store back from a newer one.
    with pytest.raises(Fenced):
        RegionStore.open(path, Claim(ServerName("127.0.0.1", 1, 1000), 5), FAMILIES, create=False)
    store = RegionStore.open(path, Claim(ServerName("127.0.0.1", 3, 3000), 7), FAMILIES, create=False)
    try:
        assert _value(store) == b"new owner"
    finally:
        store.close()


# ---- 4. a RegionServer restarted on its port ----


def test_regionserver_restarted_on_its_port_gets_its_old_incarnation_declared_dead_at_once(
    clusters: Clusters,
) -> None:
    # A lease longer than every wait below: the old incarnation can only be found dead by the new one.
    cluster = clusters.start(master_args=LONG_LEASE)
    cluster.admin.create_table("t", [FAMILY], num_regions=30)
    settled(cluster, {"t": 30})
    master = active_master(cluster)
    victim = cluster.servers[0]
    lost = serving(cluster, victim)
    old = incarnation(victim)

    with DoubleServingWatch(cluster) as watch:
        assert victim.kill() == -signal.SIGKILL
        replacement = cluster.start_server(victim.port)
        new = incarnation(replacement)
        regions = settled(cluster, {"t": 30}, timeout=60)
    watch.check()

    assert new.address == old.address and new.startcode > old.startcode
    events = master.events()
    registered = [
        i for i, e in enumerate(events) if e.get("event") == "server_registered" and e["server"] == str(new)
    ]
    dead = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "server_declared_dead" and e["server"] == str(old)
    ]
    assert len(registered) == 1 and len(dead) == 1, events
    assert events[registered[0]]["replaced"] == [str(old)]
    assert registered[0] < dead[0]
    assert str(new) in events[dead[0]]["reason"], events[dead[0]]
    assert all(regions[rid].server is not None and regions[rid].server != old for rid in lost)


# ---- 6. a stuck procedure, bypassed ----


def test_stuck_move_is_listed_with_its_age_and_step_and_bypass_ends_it(clusters: Clusters) -> None:
    # A long lease: the paused target stays live, so the open it never answers keeps the move stuck.
    cluster = clusters.start(master_args=LONG_LEASE)
    cluster.admin.create_table("t", [FAMILY], num_regions=9)
    settled(cluster, {"t": 9})
    source, target, other = cluster.servers
    region_id = serving(cluster, source)[0]
    target_name, other_name = incarnation(target), incarnation(other)
    admin = cluster.admin

    with DoubleServingWatch(cluster) as watch:
        target.pause()
        proc_id = admin.move(region_id, target_name, wait=False)

        def stuck() -> Any:
            return next((p for p in admin.list_procedures() if p.proc_id == proc_id and p.age_s >= 1.0), None)

        view = wait_until(stuck, 30, f"procedure {proc_id} listed as stuck", interval=0.1)
        assert view.kind == "move" and view.region_id == region_id, view
        assert view.step == f"OPENING on {target_name}", view

        admin.bypass(proc_id)
        location = admin.get_region(region_id)
        assert location.state is RegionState.ABNORMALLY_CLOSED and location.proc_id == 0, location
        assert proc_id not in {p.proc_id for p in admin.list_procedures()}
        with pytest.raises(ProcedureNotFound, match=f"procedure {proc_id}"):
            admin.bypass(proc_id)  # it is over

        admin.assign(region_id, other_name, timeout=30)
        location = admin.get_region(region_id)
        assert location.state is RegionState.OPEN and location.server == other_name, location

        # The target wakes up to the open it was sent long ago and the close the bypass sent: it must not
        # serve the region, which is open elsewhere.
        target.resume()
        wait_until(
            lambda: events(target, "regions_closed_after_rejected_open"),
            30,
            "the woken target to drop the region whose open the master rejected",
            context=target.log_tail,
        )
        regions = settled(cluster, {"t": 9})
    watch.check()
    assert regions[region_id].server == other_name
