"""`regent bench data` runs end to end on a small table, through the CLI as a user runs it (its figures are
for docs/benchmarks.md, not here)."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from regent.bench.data import Job, Measured, Target
from regent.bench.data_floor import Routes
from regent.supervise import free_ports


def test_bench_data_prints_the_load_and_each_workload_with_its_floors() -> None:
    args = ["--records", "1500", "--regions", "3", "--servers", "2", "--clients", "2", "--threads", "2"]
    args += ["--ops", "400", "--workloads", "A,E", "--rounds", "2", "--json"]
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
    assert lines[0]["regionserver_cpu_us_per_cell"] > 0
    for line in lines[1:]:
        assert line["ops_per_s"] > 0 and 0 < line["p50_ms"] <= line["p99_ms"]
        assert line["regionserver_cpu_ms_per_op"] > 0
        assert line["floor_ops_per_s"] > 0 and line["transport_floor_ops_per_s"] > 0
        assert line["ratio_to_transport_floor"] > 0
        # The transport floor in the cluster's shape: one no-op server per RegionServer.
        assert line["spread_floor_ops_per_s"] > 0 and line["ratio_to_spread_floor"] > 0
        assert line["spread_floor_server_cpu_ms_per_op"] > 0 and line["spread_floor_client_cpu_ms_per_op"] > 0
        # Where the CPU went: the cluster's clients, and the floor's server and clients.
        assert line["client_cpu_ms_per_op"] > 0
        assert line["transport_floor_server_cpu_ms_per_op"] > 0
        assert line["transport_floor_client_cpu_ms_per_op"] > 0
    # Latencies of each kind of operation too, as YCSB reports them.
    a, e = lines[1], lines[2]
    assert 0 < a["read_p50_ms"] <= a["read_p99_ms"] and 0 < a["update_p50_ms"] <= a["update_p99_ms"]
    assert 0 < e["scan_p50_ms"] <= e["scan_p99_ms"] and "read_p50_ms" not in e


def test_the_spread_floor_sends_each_row_to_the_server_of_its_region() -> None:
    routes = Routes([("", 1), (b"m".hex(), 0), (b"t".hex(), 2)])
    expected = {b"": 1, b"a": 1, b"l\xff": 1, b"m": 0, b"s": 0, b"t": 2, b"\xff" * 9: 2}
    assert {row: routes.server(row) for row in expected} == expected
    for bad in ([], [(b"a".hex(), 0)], [("", 0), (b"m".hex(), 1), (b"c".hex(), 2)], [("", 0), ("", 1)]):
        with pytest.raises(ValueError, match="routes must be sorted"):
            Routes(bad)


def test_a_target_crosses_to_a_client_process_as_json_and_back() -> None:
    target = Target("spread", "127.0.0.1:1,127.0.0.1:2", True, None, (("", 0), (b"m".hex(), 1)))
    assert Target.from_json(json.loads(json.dumps(dataclasses.asdict(target)))) == target


def test_slices_measured_together_are_their_operations_over_their_own_time() -> None:
    one = Measured(100, 2.0, {"read": [1.0, 3.0]}, 0.5)
    two = Measured(300, 1.0, {"read": [2.0], "update": [4.0]}, 1.5)
    both = Measured.together([one, two])
    assert (both.ops, both.seconds, both.client_cpu_s) == (400, 3.0, 2.0)
    assert both.by_kind == {"read": [1.0, 3.0, 2.0], "update": [4.0]}
    assert both.summary()["ops_per_s"] == 133


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


@pytest.mark.slow
def test_bench_data_profile_writes_the_regionservers_and_a_client_threads_profiles(tmp_path: Path) -> None:
    args = ["--records", "600", "--regions", "2", "--servers", "1", "--clients", "1", "--threads", "2"]
    args += ["--ops", "100", "--workloads", "E", "--json", "--profile", str(tmp_path / "prof")]
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "bench", "data", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["workload"] for line in done.stdout.splitlines()] == ["load", "E"]
    server = (tmp_path / "prof" / "regionserver.txt").read_text()
    assert "Program: regent.cli regionserver" in server and "regionserver/daemon.py" in server
    for workload in ("load", "E"):
        assert "loop" in (tmp_path / "prof" / f"client-{workload}.txt").read_text()


def test_bench_data_path_prints_the_cpu_of_a_scan_and_of_an_update(tmp_path: Path) -> None:
    args = ["--records", "300", "--scans", "20", "--updates", "10", "--rounds", "1"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "regent.cli",
            "bench",
            "data-path",
            *args,
            "--profile",
            str(tmp_path / "prof"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["benchmark"] == "data-path" and result["scans"] == 20 and result["updates"] == 10
    assert result["scan_cpu_ms"] > 0 and result["scan_cpu_us_per_cell"] > 0 and result["update_cpu_ms"] > 0
    assert 1 <= result["cells_per_scan"] <= 1000  # YCSB's 1..100 rows of 10 fields
    assert "scan_once" in (tmp_path / "prof" / "scans.txt").read_text()


def test_a_client_process_exits_when_its_parent_goes_away_after_go() -> None:
    """A bench parent killed mid-workload must not leave its client processes loading the machine."""
    port = free_ports(1)[0]
    server = subprocess.Popen(
        [sys.executable, "-m", "regent.bench.data_floor", "--port", str(port), "--insecure"],
        stdout=subprocess.PIPE,
        text=True,
    )
    client = None
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        job = Job(Target("transport", f"127.0.0.1:{port}", True, None), "A", 1000, 10**9, 1, 0, 1, 1)
        client = subprocess.Popen(
            [sys.executable, "-m", "regent.bench.data"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(json.dumps(dataclasses.asdict(job)) + "\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "ready"
        client.stdin.write("go\n")
        client.stdin.flush()
        client.stdin.close()  # what the parent's death does to the pipe
        assert client.wait(timeout=30) == 3
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
