"""`regent verify serving` against real processes: a quiet cluster passes, a region served behind the
master's back by a second RegionServer (the AdoptRegion test hook, REGENT_TEST_HOOKS=1) is reported with
the region, both servers and the time, and the exit code says so; a missing master and a certificate
that is not admin's are clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regent.proto import regionserver_pb2, regionserver_pb2_grpc
from regionserver.daemon import TEST_HOOKS_ENV
from tests.cluster import Cluster, free_port, open_channel, wait_until
from tests.failure_helpers import FAMILY, Clusters, online_of, settled
from tests.processes import ProcessGroups

REGIONS = 4


@pytest.fixture
def cluster(clusters: Clusters, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")  # inherited by the daemons
    cluster = clusters.start(servers=2)
    cluster.admin.create_table("t", [FAMILY], num_regions=REGIONS)
    settled(cluster, {"t": REGIONS})
    return cluster


def verify(processes: ProcessGroups, out: Path, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "regent.cli", "verify", "serving", *args]
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        return processes.popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)


def test_a_quiet_cluster_passes_and_a_region_served_twice_is_reported(
    cluster: Cluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    quiet = verify(
        processes, tmp_path / "quiet.out", "--master", cluster.master_addresses, "--duration", "2", "--json"
    )
    assert quiet.wait(60) == 0, (tmp_path / "quiet.err").read_text()
    report = json.loads((tmp_path / "quiet.out").read_text())
    assert report["ok"] and report["double_services"] == [] and report["answers_per_s"] >= 10, report
    assert sorted(report["servers"]) == sorted(s.address for s in cluster.servers)

    regions = settled(cluster, {"t": REGIONS})
    adopter = cluster.servers[0]
    elsewhere = next(
        r for r in regions.values() if r.server is not None and r.server.address != adopter.address
    )
    assert elsewhere.server is not None
    seq = (online_of(elsewhere.server.address) or {})[elsewhere.region_id]
    out = tmp_path / "double.out"
    watcher = verify(processes, out, "--master", cluster.master_addresses, "--duration", "6")
    wait_until(
        lambda: "watching 2 RegionServers" in out.with_suffix(".err").read_text(), 30, "the watch to start"
    )
    info = elsewhere.info
    before = time.time()
    with open_channel(adopter.address) as channel:
        regionserver_pb2_grpc.RegionServerAdminStub(channel).AdoptRegion(
            regionserver_pb2.AdoptRegionRequest(
                table="t",
                region_id=info.region_id,
                start_key=info.start_key,
                end_key=info.end_key,
                open_seq_num=seq,
            ),
            timeout=5.0,
        )
    assert watcher.wait(60) == 1, out.with_suffix(".err").read_text()
    err = out.with_suffix(".err").read_text()
    text = out.read_text()
    assert f"Z DOUBLE SERVICE: region {info.region_id} served by" in err, err
    assert "double service(s)" in text and adopter.address in text and elsewhere.server.address in text, text
    settled(cluster, {"t": REGIONS})  # the master closed the adopted copy (reconciliation)

    again = verify(
        processes, tmp_path / "again.out", "--master", cluster.master_addresses, "--duration", "6", "--json"
    )
    wait_until(lambda: "watching" in (tmp_path / "again.err").read_text(), 30, "the watch to start")
    with open_channel(adopter.address) as channel:
        regionserver_pb2_grpc.RegionServerAdminStub(channel).AdoptRegion(
            regionserver_pb2.AdoptRegionRequest(
                table="t",
                region_id=info.region_id,
                start_key=info.start_key,
                end_key=info.end_key,
                open_seq_num=seq,
            ),
            timeout=5.0,
        )
    assert again.wait(60) == 1
    report = json.loads((tmp_path / "again.out").read_text())
    assert not report["ok"]
    (double, *_) = report["double_services"]
    assert double["region_id"] == info.region_id and before <= double["at"] <= time.time()
    assert set(double["servers"]) == {adopter.address, elsewhere.server.address}


def test_no_master_and_a_certificate_that_is_not_admins_are_clear_errors(
    cluster: Cluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    nobody = verify(
        processes, tmp_path / "nobody.out", "--master", f"127.0.0.1:{free_port()}", "--duration", "1"
    )
    assert nobody.wait(60) == 4
    assert "no active master reachable" in (tmp_path / "nobody.err").read_text()

    app = verify(
        processes,
        tmp_path / "app.out",
        "--master",
        cluster.master_addresses,
        "--duration",
        "1",
        "--user",
        "app",
    )
    assert app.wait(60) == 1
    err = (tmp_path / "app.err").read_text()
    assert "regent: error:" in err and "Traceback" not in err, err


def test_bad_arguments_are_refused() -> None:
    for bad in (["--duration", "0"], ["--duration", "x"], ["--refresh", "-1"]):
        done = subprocess.run(
            [sys.executable, "-m", "regent.cli", "verify", "serving", *bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "expected a" in done.stderr and "seconds" in done.stderr, (
            bad,
            done.stderr,
        )
