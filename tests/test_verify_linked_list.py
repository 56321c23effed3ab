"""`regent verify linked-list` against real processes: generate then verify passes with every node
referenced once; a node deleted behind its back is reported as undefined (and its predecessor as
unreferenced) with exit code 5; walk follows a list round its circle, and stops at the hole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import regent
from tests.cluster import Cluster, free_port
from tests.failure_helpers import Clusters
from tests.processes import ProcessGroups

WRITERS, WIDTH, BATCHES, REGIONS = 2, 40, 4, 4
NODES = WRITERS * WIDTH * BATCHES


@pytest.fixture
def cluster(clusters: Clusters) -> Cluster:
    return clusters.start(servers=2)


def linked_list(
    processes: ProcessGroups, out: Path, command: str, *args: str, timeout: float = 120
) -> tuple[int, Any]:
    """Run `regent verify linked-list COMMAND ... --json`; its exit code and its JSON document."""
    argv = [sys.executable, "-m", "regent.cli", "verify", "linked-list", command, *args, "--json"]
    err = out.with_suffix(".err")
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        child = processes.popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    code = child.wait(timeout)
    assert "Traceback" not in err.read_text(), err.read_text()
    text = out.read_text()
    return code, json.loads(text) if text.strip() else None


def test_generate_verify_walk_and_a_deleted_node_is_found(
    cluster: Cluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    master = ("--master", cluster.master_addresses)
    code, written = linked_list(
        processes,
        tmp_path / "gen.out",
        "generate",
        *master,
        "--writers",
        str(WRITERS),
        "--width",
        str(WIDTH),
        "--batches",
        str(BATCHES),
        "--regions",
        str(REGIONS),
        "--seed",
        "13",
    )
    assert code == 0, (tmp_path / "gen.err").read_text()
    assert written["created"] and written["nodes"] == NODES and written["seed"] == 13, written
    assert written["writes"] == NODES + WRITERS * WIDTH  # the first batch is written again, closing circles

    code, report = linked_list(processes, tmp_path / "ok.out", "verify", *master, "--expect", str(NODES))
    assert code == 0, (tmp_path / "ok.err").read_text()
    assert report["ok"] and report["regions"] == REGIONS and report["rows"] == NODES, report
    assert (report["referenced"], report["unreferenced"], report["undefined"]) == (NODES, 0, 0)

    with regent.connect(cluster.master_addresses, timeout=30.0) as connection:
        table = connection.table("linked_list")
        regions = table.regions()
        per_region = [sum(1 for _ in table.scan(r["start_key"], r["end_key"] or None)) for r in regions]
        assert all(per_region), per_region  # random keys: every region got writes
        victim, data = next(iter(table.scan(row_start=b"\x80", limit=1)))
        prev = data[b"ll:prev"]
        follower = next(k for k, d in table.scan() if d[b"ll:prev"] == victim)

    code, walked = linked_list(processes, tmp_path / "walk.out", "walk", *master, "--start", victim.hex())
    assert code == 0 and (walked["end"], walked["steps"]) == ("circle", BATCHES), walked

    with regent.connect(cluster.master_addresses, timeout=30.0) as connection:
        connection.table("linked_list").delete(victim)

    code, report = linked_list(processes, tmp_path / "lost.out", "verify", *master, "--expect", str(NODES))
    assert code == 5, (tmp_path / "lost.err").read_text()
    assert not report["ok"] and report["undefined"] == 1 and report["unreferenced"] == 1, report
    assert report["keys"]["undefined"] == [victim.hex()] and report["keys"]["unreferenced"] == [prev.hex()]

    code, walked = linked_list(processes, tmp_path / "hole.out", "walk", *master, "--start", follower.hex())
    assert code == 5 and walked["end"] == "undefined" and walked["at"] == victim.hex(), walked


def test_no_master_and_bad_arguments_are_clear_errors(processes: ProcessGroups, tmp_path: Path) -> None:
    code, _ = linked_list(
        processes, tmp_path / "none.out", "verify", "--master", f"127.0.0.1:{free_port()}", "--timeout", "3"
    )
    assert code == 4 and "no active master reachable" in (tmp_path / "none.err").read_text()
    for bad in (["generate", "--writers", "0"], ["walk", "--limit", "x"]):
        done = subprocess.run(
            [sys.executable, "-m", "regent.cli", "verify", "linked-list", *bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "expected a positive whole number" in done.stderr, (bad, done.stderr)
