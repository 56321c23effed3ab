"""`regent bench data` runs end to end on a small table, through the CLI as a user runs it (its figures are
for docs/benchmarks.md, not here)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_data_prints_the_load_and_each_workload_with_both_floors() -> None:
    args = ["--records", "1500", "--regions", "3", "--servers", "1", "--clients", "2", "--threads", "2"]
    args += ["--ops", "400", "--workloads", "A,E", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "bench", "data", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["workload"] for line in lines] == ["load", "A", "E"]
    assert lines[0]["cells_per_s"] > 0 and lines[0]["records"] == 1500
    for line in lines[1:]:
        assert line["ops_per_s"] > 0 and 0 < line["p50_ms"] <= line["p99_ms"]
        assert line["floor_ops_per_s"] > 0 and line["transport_floor_ops_per_s"] > 0
        assert line["ratio_to_transport_floor"] > 0


def test_bench_data_refuses_an_unknown_workload() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "bench", "data", "--workloads", "A,Z"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "regent: error: unknown workload 'Z'" in done.stderr
    assert "Traceback" not in done.stderr
