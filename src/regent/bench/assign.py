"""`regent bench assign`: the startup assignment of N regions on K real RegionServers, and its floor.

1. A master alone on a fresh ROOTDIR creates table `bench` with N regions through the real CreateTable path
   (no server is live, so the regions stay unassigned); then it stops.
2. K RegionServers start, then a master with --min-servers K. Measured: from the master becoming active until
   every region is OPEN and durable in meta (the master times this itself: startup_assignment_ms).
3. Meta is reopened and every region_state row checked OPEN.
4. The floor: the same orders and reports through the same gRPC and LMDB layers (regent.bench.floor).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from master.procedures import CreateTable
from meta import MetaStore, RegionState
from meta.codec import decode_region_state
from regent.bench import security
from regent.proto import common_pb2, master_pb2, master_pb2_grpc
from regent.supervise import Children, free_ports


def run(
    regions: int, servers: int, *, quiet: bool = False, floor: bool = True, profile: Path | None = None
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="regent-bench-assign-"))
    rootdir = root / "cluster"
    try:
        ports = free_ports(servers + 2)
        _build_meta(root, rootdir, ports[0], regions, quiet)
        result = _assign(root, rootdir, ports, regions, servers, quiet, profile)
        result["meta_bytes"] = (rootdir / "meta" / "data.mdb").stat().st_size
        if floor:
            floor_s = _floor(root, ports, regions, servers)
            result["floor_seconds"] = round(floor_s, 3)
            result["ratio_to_floor"] = round(result["seconds"] / floor_s, 2)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _regent(*args: str) -> list[str]:
    """A daemon's command line, with the bench's certificates (or --insecure: regent.bench.security)."""
    return [sys.executable, "-m", "regent.cli", *args, *security.daemon_args()]


def start_regionservers(children: Children, rootdir: Path, master: str, ports: list[int]) -> None:
    """One RegionServer per port, on `rootdir`, told `master`."""
    for i, port in enumerate(ports):
        children.start(
            f"rs{i}",
            _regent("regionserver", "--rootdir", str(rootdir), "--master", master, "--port", str(port)),
        )


def start_master(children: Children, rootdir: Path, port: int, min_servers: int) -> str:
    """A master on `rootdir` at `port` waiting for `min_servers` RegionServers; its address."""
    children.start(
        "master",
        _regent("master", "--rootdir", str(rootdir), "--port", str(port), "--min-servers", str(min_servers)),
    )
    return f"127.0.0.1:{port}"


def _stub(address: str) -> master_pb2_grpc.MasterStub:
    return master_pb2_grpc.MasterStub(security.transport().channel(address))


def _wait_active(stub: master_pb2_grpc.MasterStub, children: Children, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check()
        try:
            if stub.GetClusterInfo(master_pb2.GetClusterInfoRequest(), timeout=1).active:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the master did not become active within {timeout} s")


def _build_meta(root: Path, rootdir: Path, port: int, regions: int, quiet: bool) -> None:
    _say(quiet, f"creating table 'bench' with {regions:,} regions ...")
    with Children(root / "logs") as children:
        children.start(
            "build-master",
            _regent("master", "--rootdir", str(rootdir), "--port", str(port), "--min-servers", "0"),
        )
        stub = _stub(f"127.0.0.1:{port}")
        _wait_active(stub, children, 30)
        created = stub.CreateTable(
            master_pb2.CreateTableRequest(
                name="bench",
                families=[common_pb2.ColumnFamily(name="cf", max_versions=1)],
                num_regions=regions,
            ),
            timeout=600,
        )
        # With no server live the create procedure writes the regions, then waits for servers to open
        # them: stop the master there (the next master resumes the procedure and assigns the regions).
        waiting = CreateTable.STEPS["finish"]
        deadline = time.monotonic() + 600
        request = master_pb2.ProcedureRequest(proc_id=created.proc_id)
        while stub.GetProcedure(request, timeout=60).step != waiting:
            if time.monotonic() > deadline:
                raise RuntimeError("the create_table procedure did not write the regions within 600 s")
            time.sleep(0.05)


def _assign(
    root: Path, rootdir: Path, ports: list[int], regions: int, servers: int, quiet: bool, profile: Path | None
) -> dict[str, Any]:
    master_addr = f"127.0.0.1:{ports[0]}"
    with Children(root / "logs") as children:
        start_regionservers(children, rootdir, master_addr, ports[2 : 2 + servers])
        command = _regent(
            "master", "--rootdir", str(rootdir), "--port", str(ports[0]), "--min-servers", str(servers)
        )
        if profile is not None:
            renderer = "html" if profile.suffix == ".html" else "text"
            command = [
                sys.executable,
                "-m",
                "pyinstrument",
                "-r",
                renderer,
                "-o",
                str(profile),
                "-m",
                "regent.cli",
                *command[3:],
            ]
        master = children.start("master", command)
        stub = _stub(master_addr)
        _wait_active(stub, children, 120)
        status = _until_assigned(stub, children, regions, quiet)
        peak_rss_kb = _peak_rss_kb(master.pid)
        children.stop()
    seconds = status.startup_assignment_ms / 1000
    load_seconds = _event_field(master.log, "master_active", "ms") / 1000
    _verify_meta(rootdir, regions)
    return {
        "benchmark": "assign",
        "regions": regions,
        "servers": servers,
        "seconds": round(seconds, 3),
        "regions_per_s": round(regions / seconds),
        # before `seconds` starts: from winning the election to active (epoch bump, meta loaded)
        "load_seconds": round(load_seconds, 3),
        "master_peak_rss_mb": round(peak_rss_kb / 1024, 1),
    }


def _until_assigned(
    stub: master_pb2_grpc.MasterStub, children: Children, regions: int, quiet: bool
) -> master_pb2.ClusterStatusResponse:
    tty = not quiet and sys.stderr.isatty()
    deadline = time.monotonic() + max(120.0, regions / 1000)
    while time.monotonic() < deadline:
        children.check()
        try:
            status: master_pb2.ClusterStatusResponse = stub.ClusterStatus(
                master_pb2.ClusterStatusRequest(), timeout=10
            )
        except grpc.RpcError as exc:
            # A master planning a million regions in one batch on a slow machine can take longer than a
            # poll's 10 s to answer; the figure is the master's own, so the bench asks again.
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            continue
        if tty:
            opened = status.regions_by_state.get("OPEN", 0)
            bar = "#" * int(40 * opened / max(1, regions))
            print(f"\r[{bar:<40}] {opened:>9,}/{regions:,} OPEN", end="", file=sys.stderr, flush=True)
        if status.startup_assignment_ms:
            if tty:
                print(file=sys.stderr)
            return status
        time.sleep(0.1)
    raise RuntimeError("the startup assignment did not finish in time")


def _event_field(log: Path, event: str, field: str) -> float:
    """A field of the first JSON log line of `event` in a daemon's log."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            return float(record[field])
    raise RuntimeError(f"{log} has no {event!r} line")


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _verify_meta(rootdir: Path, regions: int) -> None:
    """Every region's row in meta says OPEN: the figure is for durable work."""
    store = MetaStore.open(rootdir / "meta")
    try:
        with store.snapshot() as snap:
            opened = sum(
                1 for _, v in snap.scan("region_state") if decode_region_state(v).state is RegionState.OPEN
            )
    finally:
        store.close()
    if opened != regions:
        raise RuntimeError(f"meta holds {opened} OPEN regions after the run, expected {regions}")


def _floor(root: Path, ports: list[int], regions: int, servers: int) -> float:
    master_addr = f"127.0.0.1:{ports[1]}"
    rs_addrs = [f"127.0.0.1:{p}" for p in ports[2 : 2 + servers]]
    floor = [sys.executable, "-m", "regent.bench.floor"]
    with Children(root / "floor-logs") as children:
        for i, addr in enumerate(rs_addrs):
            children.start(
                f"floor-rs{i}", [*floor, "rs", "--port", addr.rsplit(":", 1)[1], "--master", master_addr]
            )
        out = subprocess.run(
            [
                *floor,
                "master",
                "--rootdir",
                str(root),
                "--port",
                str(ports[1]),
                "--servers",
                ",".join(rs_addrs),
                "--regions",
                str(regions),
            ],
            capture_output=True,
            text=True,
            timeout=max(300, regions / 1000),
            check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"the floor master failed: {out.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(out.stdout)["floor_seconds"])
