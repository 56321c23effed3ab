"""Split and merge end to end, with real processes (a master, three RegionServers, mutual TLS, LMDB):
what the master guarantees (states, meta rows, REFERENCES files, who serves what), bad requests refused
with named errors, and the RegionServer of a parent SIGKILLed mid-split.

Reads through a daughter of what its parent held need the RegionServer's layered reads (the store side,
built apart); these tests write rows first and check everything the master owns. The master SIGKILLed at
each persisted step: tests/test_split_merge_crashes.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import regent
from client import InvalidArgument, MergeDisabled, RegionNotFound, SplitDisabled
from meta import RegionState, references
from meta.references import Reference
from tests.cluster import Cluster, Daemons, module_cluster, wait_until

S = RegionState
TABLE = "sm"
MASTER_ARGS = ("--heartbeat-ms", "200", "--lease-ms", "1500", "--startup-grace-ms", "500")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=3, master_args=MASTER_ARGS) as made:
        yield made


def online(admin: Any, table: str) -> list[Any]:
    return [r for r in admin.table_regions(table) if not r.info.offline]


def settled(cluster: Cluster, table: str, count: int) -> list[Any]:
    """Wait until `table` has `count` online regions, every one OPEN with no procedure, each served by
    exactly the server meta names (and no retired parent served anywhere)."""
    problem = ["nothing checked yet"]

    def check() -> list[Any] | None:
        regions = cluster.admin.table_regions(table)
        up = [r for r in regions if not r.info.offline]
        if len(up) != count or any(r.state is not S.OPEN or r.proc_id for r in up):
            problem[0] = f"regions: {[(r.region_id, r.state.name, r.proc_id) for r in regions]}"
            return None
        served = cluster.served()
        for r in regions:
            where = served.get(r.region_id, [])
            want = [r.server.address] if not r.info.offline else []
            if where != want:
                problem[0] = f"region {r.region_id} ({r.state.name}) is served by {where}, meta says {want}"
                return None
        return sorted(up, key=lambda r: r.info.start_key)

    return wait_until(check, 60, f"{count} regions of {table} OPEN", context=lambda: problem[0])


def store(cluster: Cluster, table: str, region_id: int) -> Path:
    return cluster.rootdir / "data" / table / str(region_id)


def test_split_and_merge_of_written_and_empty_regions(cluster: Cluster) -> None:
    admin = cluster.admin
    admin.create_table(TABLE, ["f"], split_keys=[b"m"], timeout=60)
    left, right = settled(cluster, TABLE, 2)
    with regent.connect(cluster.master_addresses, timeout=30) as conn:
        table = conn.table(TABLE)
        for row in (b"a", b"c", b"g", b"k"):
            table.put(row, {b"f:q": b"v-" + row})

    # A region with rows, at a given key: two daughters that read the parent's store.
    (proc_id,) = admin.split(left.region_id, b"f", timeout=60)
    a, b, _ = settled(cluster, TABLE, 3)
    parent = admin.get_region(left.region_id)
    assert parent.state is S.SPLIT and parent.info.split and parent.info.offline and parent.server is None
    assert parent.info.children == (a.region_id, b.region_id)
    assert (a.info.start_key, a.info.end_key, b.info.start_key, b.info.end_key) == (b"", b"f", b"f", b"m")
    assert references.read(store(cluster, TABLE, a.region_id)) == [Reference(left.region_id, b"", b"f")]
    assert references.read(store(cluster, TABLE, b.region_id)) == [Reference(left.region_id, b"f", b"m")]
    assert admin.get_procedure(proc_id).state == "SUCCESS"
    assert a.server == b.server == left.server  # on the parent's last server
    story = admin.region_story(left.region_id)
    assert [s.state for s in story.steps][-4:] == [S.SPLITTING, S.CLOSING, S.CLOSED, S.SPLIT]
    assert {s.cause for s in story.steps[-4:]} == {"split"}

    # An empty region (never written: no store), by table name and key.
    admin.split(TABLE, b"t", timeout=60)
    regions = settled(cluster, TABLE, 4)
    assert [r.info.start_key for r in regions] == [b"", b"f", b"m", b"t"]
    assert references.read(store(cluster, TABLE, regions[3].region_id)) == [
        Reference(right.region_id, b"t", b"")
    ]

    # Daughters still reading their parent's store cannot be merged (nor split) ...
    with pytest.raises(InvalidArgument, match="references its parent"):
        admin.merge([b.region_id, a.region_id], timeout=60)
    # ... until their fold has copied the cells in and removed REFERENCES (the fold's end, done by hand).
    for daughter in (a, b):
        references.remove(store(cluster, TABLE, daughter.region_id))
    # The daughters merged again: one child recording both.
    proc_id = admin.merge([b.region_id, a.region_id], timeout=60)
    regions = settled(cluster, TABLE, 3)
    child = regions[0]
    assert (child.info.start_key, child.info.end_key) == (b"", b"m")
    assert child.info.parents == (a.region_id, b.region_id)
    for parent_id in (a.region_id, b.region_id):
        gone = admin.get_region(parent_id)
        assert gone.state is S.MERGED and gone.info.offline and gone.info.children == (child.region_id,)
    assert references.read(store(cluster, TABLE, child.region_id)) == [
        Reference(a.region_id, b"", b"f"),
        Reference(b.region_id, b"f", b"m"),
    ]
    assert admin.split_merge_status().merges_running == 0


def test_bad_requests_are_refused_with_named_errors_and_the_switches_hold(cluster: Cluster) -> None:
    admin = cluster.admin
    admin.create_table("bad", ["f"], split_keys=[b"g", b"p"], timeout=60)
    first, middle, last = settled(cluster, "bad", 3)
    with pytest.raises(RegionNotFound):
        admin.split(10**9, b"x", timeout=30)
    with pytest.raises(InvalidArgument, match="not strictly inside"):
        admin.split(middle.region_id, b"z", timeout=30)
    with pytest.raises(InvalidArgument, match="not strictly inside"):
        admin.split(middle.region_id, b"g", timeout=30)
    with pytest.raises(InvalidArgument, match="lies between"):
        admin.merge([first.region_id, last.region_id], force=True, timeout=30)
    with pytest.raises(ValueError):  # the SDK's own check, before any call
        admin.merge([first.region_id], timeout=30)
    try:
        assert admin.split_switch(False) is True
        with pytest.raises(SplitDisabled, match="switched off"):
            admin.split(middle.region_id, b"k", timeout=30)
        assert admin.merge_switch(False) is True
        with pytest.raises(MergeDisabled):
            admin.merge([first.region_id, middle.region_id], timeout=30)
        status = admin.split_merge_status()
        assert (status.split_on, status.merge_on) == (False, False)
        result = cli(cluster, "split", str(middle.region_id), "--key", "k")
        assert result.returncode == 1 and "SplitDisabled" in result.stderr, result
    finally:
        assert cli(cluster, "split-switch", "on").returncode == 0
        assert cli(cluster, "merge-switch", "on").returncode == 0
    assert admin.split_merge_status().split_on
    result = cli(cluster, "--json", "split", str(middle.region_id), "--key", "k")
    assert result.returncode == 0, result
    settled(cluster, "bad", 4)
    assert admin.describe_table("bad").regions == 5  # the retired parent is still in meta
    # The daemons are fine after all of that.
    assert len(admin.cluster_status().servers) == 3


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REGENT_MASTER": cluster.master_addresses,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        ["regent", "admin", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_the_regionserver_of_a_parent_killed_mid_split_ends_with_both_daughters_serving(
    daemons: Daemons, tmp_path: Path
) -> None:
    """The parent's server is paused (the close is never answered), then SIGKILLed: its lease runs out,
    the parent is ABNORMALLY_CLOSED but stays with the split, which goes on past its point of no return;
    both daughters open on the live servers, and the parent is served nowhere."""
    cluster = Cluster(daemons, tmp_path / "root", master_args=MASTER_ARGS).start(3)
    try:
        admin = cluster.admin
        admin.create_table("k", ["f"], split_keys=[b"m"], timeout=60)
        parent, _ = settled(cluster, "k", 2)
        victim = next(s for s in cluster.servers if s.address == parent.server.address)
        victim.pause()
        (proc_id,) = admin.split(parent.region_id, b"f", wait=False, timeout=30)
        wait_until(
            lambda: admin.get_region(parent.region_id).state is S.CLOSING or None,
            30,
            "the parent CLOSING",
        )
        victim.kill()
        done = admin.procedure(proc_id).wait(90)
        assert done.state == "SUCCESS"
        regions = settled(cluster, "k", 3)
        assert all(r.server.address != victim.address for r in regions)
        assert admin.get_region(parent.region_id).state is S.SPLIT
    finally:
        cluster.close()
