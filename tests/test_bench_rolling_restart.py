"""`regent bench rolling-restart` runs end to end on a tiny table, through the CLI as a user runs it (its
figures are for docs/benchmarks.md, not here): the JSON's shape, every step present, and no client call
failed while every daemon was restarted in turn."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVERS = 3


@pytest.mark.timeout(300)
def test_bench_rolling_restart_restarts_every_daemon_with_no_client_call_failing() -> None:
    args = ["--regions", "50", "--rows", "2000", "--servers", str(SERVERS), "--clients", "1", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "bench", "rolling-restart", *args],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    result = json.loads(line)
    assert result["benchmark"] == "rolling-restart"
    assert (result["regions"], result["rows"], result["servers"]) == (50, 2000, SERVERS)
    steps = [s["step"] for s in result["steps"]]
    for i in range(SERVERS):
        n = _moved(steps, i)
        assert [s for s in steps if s.startswith(f"regionserver {i}:")] == [
            f"regionserver {i}: move {n} regions off",
            f"regionserver {i}: restart",
            f"regionserver {i}: move {n} regions back",
        ]
    assert steps[-2:] == [
        "master: failover to the backup",
        "master: the old active one restarted as the backup",
    ]
    assert all(set(s) == {"step", "seconds"} and s["seconds"] > 0 for s in result["steps"])
    assert sum(_moved(steps, i) for i in range(SERVERS)) == 50
    assert result["seconds"] >= sum(s["seconds"] for s in result["steps"]) * 0.99
    assert result["client_calls"] > 0 and result["client_max_ms"] > 0
    assert (result["client_failures"], result["client_missing"]) == (0, 0), result["client_errors"]
    assert result["lease_lapses"] == 0
    assert result["claimed_regions"] >= 50 and result["claim_max_s"] > 0  # moves of regions with data


def _moved(steps: list[str], i: int) -> int:
    first = next(s for s in steps if s.startswith(f"regionserver {i}: move "))
    return int(first.split()[3])


def test_bench_rolling_restart_refuses_a_single_regionserver() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "bench", "rolling-restart", "--servers", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "needs at least 2 RegionServers" in done.stderr
    assert "Traceback" not in done.stderr
