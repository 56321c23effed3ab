"""`regent bench thrift` runs end to end at a tiny size and prints one JSON line per workload with both
paths' figures and their ratio (no assertion on the figures themselves: benches measure, tests do not)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(180)
def test_bench_thrift_prints_both_paths_per_workload() -> None:
    argv = [sys.executable, "-m", "regent.cli", "bench", "thrift", "--json"]
    argv += ["--records", "200", "--ops", "10", "--threads", "2", "--servers", "1", "--regions", "2"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["workload"] for line in lines] == ["A", "C", "E"]
    for line in lines:
        for path in ("native", "thrift"):
            assert line[f"{path}_ops_per_s"] > 0
            assert 0 < line[f"{path}_p50_ms"] <= line[f"{path}_p99_ms"]
        assert line["ratio"] > 0 and line["target_ratio"] == 0.5
