"""The bounded linked-list run under chaos (issue 13): `regent verify linked-list generate` runs one after
another (a seed each) while
`regent chaos --policy default` kills, pauses and restarts RegionServers, fails the master over and moves
the table's regions; then `verify` finds every node referenced exactly once, and the double-service watch
(tests/test_chaos.py's ServingCheck) saw no region served twice throughout."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ProcessGroups
from tests.test_chaos import LocalCluster, ServingCheck, chaos, start_local

#: One generate run's lists: a few thousand nodes, written in about a second; runs follow one another
#: (each with its own seed, so its own keys) until the monkey stops, so writes span the whole chaos run.
WRITERS, WIDTH, BATCHES = 2, 50, 50
NODES = WRITERS * WIDTH * BATCHES
SEED = 10
DURATION_S = 15
RUN_TIMEOUT_S = 240


@pytest.fixture
def local(processes: ProcessGroups, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = start_local(processes, tmp_path / "root", tmp_path / "local.out")
    yield cluster
    cluster.supervisor.terminate()
    cluster.supervisor.wait(30)


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_no_node_is_lost_and_no_region_served_twice_while_the_monkey_acts(
    local: LocalCluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    state = local.state
    assert state.certs_dir is not None
    cluster = ["--master", state.masters, "--certs-dir", state.certs_dir, "--table", "linked_list"]
    with local.connect() as connection:
        connection.admin().create_table("linked_list", ["ll"], num_regions=6)
    argv = [sys.executable, "-m", "regent.cli", "verify", "linked-list", "generate", *cluster, "--json"]
    argv += ["--writers", str(WRITERS), "--width", str(WIDTH), "--batches", str(BATCHES)]
    monkey_done = threading.Event()
    runs: list[tuple[int, str, str]] = []

    def generate_until_the_monkey_stops() -> None:
        seed = 0
        while not monkey_done.is_set() or not runs:
            seed += 1
            out, err = tmp_path / f"generate.{seed}.out", tmp_path / f"generate.{seed}.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                child = processes.popen(
                    [*argv, "--seed", str(seed)], stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
                )
            code = child.wait(RUN_TIMEOUT_S)
            runs.append((code, out.read_text(), err.read_text()))
            if code:
                return

    writer = threading.Thread(target=generate_until_the_monkey_stops, name="generate-loop")
    with ServingCheck(local) as watch:
        writer.start()
        try:
            code, records, chaos_err = chaos(
                "--local",
                str(local.rootdir),
                "--seed",
                str(SEED),
                "--duration",
                str(DURATION_S),
                "--min-live",
                "2",
                "--policy",
                "default",
                "--table",
                "linked_list",
            )
        finally:
            monkey_done.set()
            writer.join(RUN_TIMEOUT_S)
        assert code == 0, f"{chaos_err}\n{records[-3:]}"
    assert runs and all(c == 0 for c, _, _ in runs), runs[-1]
    reports = [json.loads(out) for _, out, _ in runs]
    assert all(r["nodes"] == NODES for r in reports), reports
    expected = NODES * len(runs)
    actions = [r for r in records if r["event"] == "action"]
    assert {"kill_regionserver", "move_region"} & {r["kind"] for r in actions}, actions

    check = [sys.executable, "-m", "regent.cli", "verify", "linked-list", "verify", *cluster, "--json"]
    done = subprocess.run(
        [*check, "--expect", str(expected)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["referenced"] == expected and report["undefined"] == 0, report
    assert watch.watch.answers > 0
