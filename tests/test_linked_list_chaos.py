"""The linked-list run under chaos (issue 13): `regent verify linked-list generate` runs one after another
(a seed each) while `regent chaos` acts on the cluster; then `verify` finds every node referenced exactly
once, and the double-service watch (tests/test_chaos.py's ServingCheck) saw no region served twice
throughout.

The bounded run (`make test`): `--policy default` for 15 s, seed 180: a split under writes, a move, a
short pause, a balancer run, a second split, a RegionServer and the active master killed, a merge; no
action may fail (a refusal for references is a skip). The long run (`make test-all`, slow): every policy
in turn, 30 minutes in all (REGENT_LONG_CHAOS_S overrides), with larger lists; it prints its
figures as one JSON line (and writes them to REGENT_LONG_CHAOS_REPORT when set), for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regent.chaos.policies import POLICIES
from tests.processes import ProcessGroups
from tests.test_chaos import MIN_LIVE, LiveCheck, LocalCluster, ServingCheck, chaos, start_local

#: One generate run's lists: a few thousand nodes, written in about a second; runs follow one another
#: (each with its own seed, so its own keys) until the monkey stops, so writes span the whole chaos run.
WRITERS, WIDTH, BATCHES = 2, 50, 50
NODES = WRITERS * WIDTH * BATCHES
SEED = 180
DURATION_S = 15
RUN_TIMEOUT_S = 240


@pytest.fixture
def local(processes: ProcessGroups, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = start_local(processes, tmp_path / "root", tmp_path / "local.out")
    yield cluster
    cluster.supervisor.terminate()
    cluster.supervisor.wait(30)


class GenerateLoop:
    """`regent verify linked-list generate` runs back to back (seed 1, 2, ...) in a thread until stopped
    (and at least one has run); each run's exit code and JSON report are kept."""

    def __init__(self, processes: ProcessGroups, argv: list[str], tmp_path: Path, timeout: float) -> None:
        self.processes = processes
        self.argv = argv
        self.tmp_path = tmp_path
        self.timeout = timeout
        self.done = threading.Event()
        self.runs: list[tuple[int, str, str]] = []
        self.thread = threading.Thread(target=self._loop, name="generate-loop")

    def _loop(self) -> None:
        seed = 0
        while not self.done.is_set() or not self.runs:
            seed += 1
            out, err = self.tmp_path / f"generate.{seed}.out", self.tmp_path / f"generate.{seed}.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                child = self.processes.popen(
                    [*self.argv, "--seed", str(seed)], stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
                )
            code = child.wait(self.timeout)
            self.runs.append((code, out.read_text(), err.read_text()))
            if code:
                return

    def __enter__(self) -> GenerateLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(self.timeout)

    def reports(self) -> list[dict[str, Any]]:
        assert self.runs and all(c == 0 for c, _, _ in self.runs), self.runs[-1]
        return [json.loads(out) for _, out, _ in self.runs]


def generate_argv(cluster: list[str], writers: int, width: int, batches: int) -> list[str]:
    argv = [sys.executable, "-m", "regent.cli", "verify", "linked-list", "generate", *cluster, "--json"]
    return [*argv, "--writers", str(writers), "--width", str(width), "--batches", str(batches)]


def verify_report(cluster: list[str], expected: int, timeout: float) -> tuple[int, dict[str, Any], str]:
    """`verify --expect`: its exit code, its JSON report, its stdout and stderr."""
    check = [sys.executable, "-m", "regent.cli", "verify", "linked-list", "verify", *cluster, "--json"]
    done = subprocess.run(
        [*check, "--expect", str(expected)], capture_output=True, text=True, timeout=timeout
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        report = {}
    return done.returncode, report, done.stdout + done.stderr


def verify_all(cluster: list[str], expected: int, timeout: float) -> dict[str, Any]:
    code, report, output = verify_report(cluster, expected, timeout)
    assert code == 0, output
    assert report["ok"] and report["referenced"] == expected and report["undefined"] == 0, report
    return report


def cluster_args(local: LocalCluster) -> list[str]:
    state = local.state
    assert state.certs_dir is not None
    return ["--master", state.masters, "--certs-dir", state.certs_dir, "--table", "linked_list"]


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_no_node_is_lost_and_no_region_served_twice_while_the_monkey_acts(
    local: LocalCluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    cluster = cluster_args(local)
    with local.connect() as connection:
        connection.admin().create_table("linked_list", ["ll"], num_regions=6)
    argv = generate_argv(cluster, WRITERS, WIDTH, BATCHES)
    with ServingCheck(local) as watch:
        with GenerateLoop(processes, argv, tmp_path, RUN_TIMEOUT_S) as writer:
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
        assert code == 0, f"{chaos_err}\n{records[-3:]}"
    reports = writer.reports()
    assert all(r["nodes"] == NODES for r in reports), reports
    expected = NODES * len(reports)
    actions = [r for r in records if r["event"] == "action"]
    kinds = {r["kind"] for r in actions}
    assert kinds >= {"split_region", "merge_regions", "kill_regionserver", "kill_active_master"}, actions
    assert not [r for r in actions if r["outcome"] == "failed"], actions
    verify_all(cluster, expected, 120)
    assert watch.watch.answers > 0


#: The long run: its total length (every policy gets an equal share), and its lists: 4 writers of 250
#: lists of 100 nodes, 100,000 nodes a generate run.
LONG_S = float(os.environ.get("REGENT_LONG_CHAOS_S", "1800"))
LONG_WRITERS, LONG_WIDTH, LONG_BATCHES = 4, 250, 100
LONG_SEED = 13


@pytest.mark.slow
@pytest.mark.timeout(int(LONG_S) + 1800)
def test_a_long_run_under_every_policy_loses_no_node_and_serves_no_region_twice(
    local: LocalCluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    cluster = cluster_args(local)
    with local.connect() as connection:
        connection.admin().create_table("linked_list", ["ll"], num_regions=12)
    argv = generate_argv(cluster, LONG_WRITERS, LONG_WIDTH, LONG_BATCHES)
    share = max(10, int(LONG_S / len(POLICIES)))
    by_kind: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    started = time.monotonic()
    loop = GenerateLoop(processes, argv, tmp_path, share + 900.0)
    live = LiveCheck(local)  # judged after the figures are out, so that a failed run still gives them
    live.__enter__()
    try:
        with ServingCheck(local) as watch, loop as writer:
            for i, policy in enumerate(POLICIES):
                code, records, err = chaos(
                    "--local", str(local.rootdir), "--seed", str(LONG_SEED + i), "--duration", str(share),
                    "--min-live", str(MIN_LIVE), "--policy", policy, "--table", "linked_list",
                    "--log", str(tmp_path / f"chaos.{policy}.jsonl"), timeout=share + 600,
                )  # fmt: skip
                assert code == 0, f"policy {policy}: {err[-3000:]}\n{records[-3:]}"
                summary = records[-1]
                assert summary["event"] == "summary" and summary["converged"], summary
                for kind, counts in summary["by_kind"].items():
                    by_kind[kind] += counts["ok"] + counts["skipped"] + counts["failed"]
                    skipped[kind] += counts["skipped"]
                    failed[kind] += counts["failed"]
    finally:
        live.stop()
        report_path = os.environ.get("REGENT_LONG_CHAOS_REPORT")
        if report_path:  # the action logs, kept beside the figures
            for log in tmp_path.glob("chaos.*.jsonl"):
                shutil.copy(log, Path(report_path).with_name(log.name))
    reports = writer.reports()
    nodes = sum(r["nodes"] for r in reports)
    code, verified, output = verify_report(cluster, nodes, 900)
    assert verified, output
    figures = {
        "test": "linked-list long run",
        "policies": list(POLICIES),
        "chaos_seconds": share * len(POLICIES),
        "wall_seconds": round(time.monotonic() - started, 1),
        "generate_runs": len(reports),
        "nodes_written": nodes,
        "nodes_referenced": verified["referenced"],
        "nodes_lost": nodes - verified["referenced"] + verified["undefined"],
        "actions_by_kind": dict(sorted(by_kind.items())),
        "actions_skipped_by_kind": {k: v for k, v in sorted(skipped.items()) if v},
        "actions_failed_by_kind": {k: v for k, v in sorted(failed.items()) if v},
        "writes_retried": sum(r["retries"] for r in reports),
        "longest_write_wait_s": max(r["longest_batch_s"] for r in reports),
        "double_service_moments": len(watch.watch.found),
        "serving_samples": watch.watch.answers,
        "fewest_in_service": live.fewest,
        "fewest_in_service_when": live.when,
    }
    print(json.dumps(figures))
    if report_path:
        Path(report_path).write_text(json.dumps(figures) + "\n")
    assert code == 0 and verified["ok"], output
    assert figures["nodes_lost"] == 0 and figures["double_service_moments"] == 0, figures
    live.check()
