"""`regent bench data`: YCSB's load and core workloads A, B, C and E against a real cluster, and two floors.

1. A master and K RegionServers start on a fresh ROOTDIR (mutual TLS unless --insecure); table `usertable`
   is created with one family and R regions split so that each gets an equal share of the records.
2. Load: N records (10 fields of 100 bytes) from P client processes, in batched puts through the SDK's
   `Table.batch()`; printed as `{"workload": "load", "cells_per_s": ...}`.
3. Each workload from P client processes with T threads each, closed loop (one operation in flight per
   thread), zipfian keys (regent.bench.ycsb), through the SDK's `Table`: ops/s and p50/p99 latency.
4. The floors of each workload (regent.bench.data_floor), in the same run: the same requests and replies
   through gRPC to a server that does nothing (the cluster idle meanwhile), and at the end the same
   operations straight on LMDB in one process. A workload and its transport floor run in slices that
   alternate (`rounds` of each, ROUNDS by default), each slice with keys of its own: on a machine whose
   speed drifts within minutes, each of the two is then measured within seconds of the other, and the
   ratio of their sums is steadier than that of one long run after another. A third slice each round
   runs the spread floor: the same requests to as many no-op servers as there are RegionServers, each to
   the one standing for its row's RegionServer (the cluster's shape; printed beside the issue's floor of
   one server, not instead of it).

One JSON line per workload: {"benchmark": "data", "workload": "C", "ops_per_s", "p50_ms", "p99_ms",
"floor_ops_per_s", "transport_floor_ops_per_s", "regionserver_cpu_ms_per_op", "client_cpu_ms_per_op",
"transport_floor_server_cpu_ms_per_op", "transport_floor_client_cpu_ms_per_op", "ratio_to_transport_floor",
"spread_floor_ops_per_s", "ratio_to_spread_floor", ...}; the load's has
"regionserver_cpu_us_per_cell". The CPU the RegionServers used (from /proc, all of them together) is the
figure to compare runs by on a machine shared with other work, which inflates wall-clock times far more.

`--profile DIR` (profiling, not measuring: the figures it prints are slowed by the profiler) runs the
first RegionServer under pyinstrument, written to DIR/regionserver.txt when it stops (it saw a third of
the load and of every workload), and profiles the first thread of the first client process of the load
and of each workload (DIR/client-<workload>.txt).
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from regent.bench import security, ycsb
from regent.bench.assign import _regent, _stub, _wait_active, start_master
from regent.bench.data_floor import LmdbFloor, SpreadClient, TransportClient
from regent.proto import master_pb2
from regent.supervise import Children, free_ports

TABLE = "usertable"
LOAD_BATCH = 1000  # records per batched put of the load


class Client(Protocol):
    """What a bench thread calls: the SDK's Table (ClusterClient) or the transport floor's raw stub."""

    def read(self, row: bytes) -> Any: ...
    def update(self, row: bytes, column: bytes, value: bytes) -> Any: ...
    def insert(self, row: bytes, data: dict[bytes, bytes]) -> Any: ...
    def scan(self, row: bytes, length: int) -> Any: ...
    def load(self, rows: list[tuple[bytes, dict[bytes, bytes]]]) -> Any: ...
    def close(self) -> None: ...


class ClusterClient:
    """The operations through the SDK, as an application makes them (happybase's calls)."""

    def __init__(self, masters: str, options: dict[str, Any]) -> None:
        import regent

        self.connection = regent.connect(masters, **options)
        self.table = self.connection.table(TABLE)

    def read(self, row: bytes) -> Any:
        return self.table.row(row)

    def update(self, row: bytes, column: bytes, value: bytes) -> None:
        self.table.put(row, {column: value})

    def insert(self, row: bytes, data: dict[bytes, bytes]) -> None:
        self.table.put(row, data)

    def scan(self, row: bytes, length: int) -> int:
        return sum(1 for _ in self.table.scan(row_start=row, limit=length, batch_size=length))

    def load(self, rows: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        with self.table.batch() as batch:
            for row, data in rows:
                batch.put(row, data)

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Target:
    """Where client processes send their operations (picklable: it crosses to spawned processes)."""

    kind: str  # "cluster", "transport" or "spread"
    address: str  # the master's; the no-op server's; the spread floor's servers', comma-separated
    insecure: bool
    certs_dir: str | None
    #: The spread floor's: each region's start key (hex) and the index of its server, by start key.
    routes: tuple[tuple[str, int], ...] = ()

    def client(self) -> Client:
        security.use_insecure(self.insecure)
        if self.certs_dir is not None:
            security.use_certs_dir(Path(self.certs_dir))
        if self.kind == "cluster":
            return ClusterClient(self.address, security.connect_options())
        if self.kind == "spread":
            return SpreadClient(self.address.split(","), self.routes, security.transport("admin"))
        return TransportClient(self.address, security.transport("admin"))

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Target:
        routes = tuple((str(start), int(index)) for start, index in raw.get("routes", ()))
        return cls(**{**raw, "routes": routes})


@dataclass(frozen=True)
class Job:
    target: Target
    workload: str  # a key of ycsb.WORKLOADS, or "load"
    records: int
    ops_per_thread: int
    threads: int
    process: int
    processes: int
    seed: int
    profile: str | None = None  # where this process writes its first thread's pyinstrument profile


def _thread_ops(job: Job, thread: int, client: Client, value: bytes) -> Callable[[], dict[str, list[float]]]:
    """A thread's closed loop: the latencies (ms) of its operations, by kind (read, update, scan, insert)."""
    index = job.process * job.threads + thread
    stride = job.processes * job.threads
    stream = ycsb.Stream(
        ycsb.WORKLOADS[job.workload],
        job.records,
        job.seed * 1000 + index,
        next_insert=job.records + index,
        stride=stride,
    )
    filler = {c: value for c in ycsb.COLUMNS}

    def loop() -> dict[str, list[float]]:
        latencies: dict[str, list[float]] = {}
        clock = time.perf_counter
        for _ in range(job.ops_per_thread):
            op = stream.next()
            started = clock()
            if op.kind == "read":
                client.read(op.row)
            elif op.kind == "update":
                client.update(op.row, ycsb.COLUMNS[op.field], value)
            elif op.kind == "scan":
                client.scan(op.row, op.length)
            else:
                client.insert(op.row, filler)
            latencies.setdefault(op.kind, []).append((clock() - started) * 1000)
        return latencies

    return loop


def _load_loop(job: Job, thread: int, client: Client) -> Callable[[], dict[str, list[float]]]:
    """A thread's share of the load: records i with i % (all threads) == its index, in batches."""
    index = job.process * job.threads + thread
    stride = job.processes * job.threads
    rng = random.Random(job.seed * 1000 + index)

    def loop() -> dict[str, list[float]]:
        latencies: list[float] = []
        mine = range(index, job.records, stride)
        for start in range(0, len(mine), LOAD_BATCH):
            rows = [(ycsb.key(i), ycsb.record(rng)) for i in mine[start : start + LOAD_BATCH]]
            started = time.perf_counter()
            client.load(rows)
            latencies.append((time.perf_counter() - started) * 1000)
        return {"load": latencies}

    return loop


def _process(job: Job, ready: Callable[[], None], go: Callable[[], None]) -> dict[str, Any]:
    """One client process's work: `threads` clients, started together when the parent says go."""
    clients = [job.target.client() for _ in range(job.threads)]
    value = random.Random(job.seed).randbytes(ycsb.FIELD_BYTES)
    loops = [
        _load_loop(job, t, c) if job.workload == "load" else _thread_ops(job, t, c, value)
        for t, c in enumerate(clients)
    ]
    if job.workload != "load":  # a first call per client: connections and location caches warm
        for c in clients:
            c.read(ycsb.key(0))
    out: list[dict[str, list[float]]] = [{} for _ in loops]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = _profiled(loops[i], job.profile) if i == 0 and job.profile else loops[i]()
        except BaseException as exc:  # reported to the parent
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(loops))]
    ready()
    go()
    started, cpu = time.monotonic(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended, cpu = time.monotonic(), time.process_time() - cpu
    for c in clients:
        c.close()
    if errors:
        return {"error": repr(errors[0])}
    return {"started": started, "ended": ended, "cpu_s": cpu, "latencies": merged(out)}


def merged(parts: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Latencies by kind, of several threads or processes together."""
    by_kind: dict[str, list[float]] = {}
    for part in parts:
        for kind, values in part.items():
            by_kind.setdefault(kind, []).extend(values)
    return by_kind


def _profiled(loop: Callable[[], dict[str, list[float]]], path: str) -> dict[str, list[float]]:
    """Run `loop` under pyinstrument (in the thread that runs it), its text profile written to `path`."""
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        return loop()
    finally:
        profiler.stop()
        Path(path).write_text(profiler.output_text(unicode=True, show_all=False))


def client_main() -> None:
    """A client process (`python -m regent.bench.data`): its Job as JSON on the first line of stdin; it
    prints "ready", waits for a line "go", then prints its result as one JSON line."""
    from regent import logs

    logs.configure("bench", level="warning")  # to stderr: stdout is the parent's protocol
    raw = json.loads(sys.stdin.readline())
    job = Job(**{**raw, "target": Target.from_json(raw["target"])})

    def ready() -> None:
        print("ready", flush=True)

    def go() -> None:
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("the parent went away before go")
        # The parent writes nothing more: the end of stdin means it is gone (killed, say), and a client
        # left running would load the machine of whatever runs next.
        threading.Thread(target=_exit_when_orphaned, name="orphan-watch", daemon=True).start()

    try:
        result = _process(job, ready, go)
    except BaseException as exc:
        result = {"error": repr(exc)}
    print(json.dumps(result), flush=True)


def _exit_when_orphaned() -> None:
    sys.stdin.read()
    os._exit(3)


@dataclass
class Measured:
    ops: int
    seconds: float
    by_kind: dict[str, list[float]]  # latencies (ms) by operation kind
    client_cpu_s: float  # the client processes' CPU (user and system) over the operations, all together

    @classmethod
    def together(cls, parts: Sequence[Measured]) -> Measured:
        """Runs one after another as one: their operations over the time they ran (not the gaps)."""
        return cls(
            sum(p.ops for p in parts),
            sum(p.seconds for p in parts),
            merged([p.by_kind for p in parts]),
            sum(p.client_cpu_s for p in parts),
        )

    @property
    def latencies(self) -> list[float]:
        return [x for values in self.by_kind.values() for x in values]

    def summary(self) -> dict[str, Any]:
        """ops/s and latency percentiles, of all operations and (as YCSB reports them) of each kind."""
        ordered = sorted(self.latencies)
        out: dict[str, Any] = {
            "ops_per_s": round(self.ops / self.seconds) if self.seconds else 0,
            "p50_ms": round(ycsb.percentile(ordered, 0.50), 3),
            "p99_ms": round(ycsb.percentile(ordered, 0.99), 3),
            "client_cpu_ms_per_op": round(self.client_cpu_s * 1000 / self.ops, 3) if self.ops else 0,
        }
        for kind, values in sorted(self.by_kind.items()):
            kind_ordered = sorted(values)
            out[f"{kind}_p50_ms"] = round(ycsb.percentile(kind_ordered, 0.50), 3)
            out[f"{kind}_p99_ms"] = round(ycsb.percentile(kind_ordered, 0.99), 3)
        return out


def run_clients(
    target: Target,
    workload: str,
    records: int,
    ops: int,
    processes: int,
    threads: int,
    seed: int,
    profile: Path | None = None,
) -> Measured:
    """`ops` operations of `workload` from `processes` client processes of `threads` threads each; with
    `profile`, the first process profiles its first thread into profile/client-<workload>.txt."""
    per_thread = max(1, ops // (processes * threads))
    where = str(profile / f"client-{workload}.txt") if profile is not None else None
    jobs = [
        Job(target, workload, records, per_thread, threads, p, processes, seed, where if p == 0 else None)
        for p in range(processes)
    ]
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    children = []
    try:
        for job in jobs:
            child = subprocess.Popen(
                [sys.executable, "-m", "regent.bench.data"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            children.append(child)
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(dataclasses.asdict(job)) + "\n")
            child.stdin.flush()
            threading.Thread(target=_read_lines, args=(job.process, child.stdout, lines), daemon=True).start()
        for _ in children:
            line = _expect(lines, children, 120)[1].strip()
            if line != "ready":  # it failed before it could start: its result says why
                raise RuntimeError(f"a client process failed before starting: {line}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        answers = [json.loads(_expect(lines, children, 3600)[1]) for _ in children]
    finally:
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    failures = [a for a in answers if "error" in a]
    if failures:
        raise RuntimeError(f"a client process failed: {failures[0]['error']}")
    started, ended = min(a["started"] for a in answers), max(a["ended"] for a in answers)
    done = records if workload == "load" else per_thread * processes * threads
    cpu = sum(a["cpu_s"] for a in answers)
    return Measured(done, ended - started, merged([a["latencies"] for a in answers]), cpu)


def _read_lines(process: int, stream: Any, lines: queue.Queue[tuple[int, str]]) -> None:
    for line in stream:
        lines.put((process, line))


def _expect(lines: queue.Queue[tuple[int, str]], children: list[Any], timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return lines.get(timeout=1.0)
        except queue.Empty:
            dead = [c for c in children if c.poll() not in (None, 0)]
            if dead:
                raise RuntimeError(f"a client process died with exit code {dead[0].returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from the client processes within {timeout:.0f} s") from None


def _lmdb_floor(
    path: Path, records: int, ops: int, workloads: list[str], group: int, seed: int
) -> dict[str, float]:
    """ops/s of each workload straight on LMDB, after loading the same records."""
    floor = LmdbFloor(path, group)
    try:
        rng = random.Random(seed)
        for start in range(0, records, 10 * LOAD_BATCH):
            floor.load(
                (ycsb.key(i), ycsb.record(rng)) for i in range(start, min(records, start + 10 * LOAD_BATCH))
            )
        value = rng.randbytes(ycsb.FIELD_BYTES)
        out: dict[str, float] = {}
        for name in workloads:
            stream = ycsb.Stream(ycsb.WORKLOADS[name], records, seed, next_insert=records, stride=1)
            count, seconds = floor.run((stream.next() for _ in range(ops)), value)
            out[name] = round(count / seconds)
        return out
    finally:
        floor.close()


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


#: Slices of each workload, alternating with as many of its transport floor (see the module's doc).
ROUNDS = 3


def run(
    *,
    records: int = 1_000_000,
    regions: int = 100,
    servers: int = 3,
    processes: int = 4,
    threads: int = 4,
    ops: int = 100_000,
    workloads: tuple[str, ...] = ("A", "B", "C", "E"),
    seed: int = 1,
    quiet: bool = False,
    profile: Path | None = None,
    rounds: int = ROUNDS,
    wal: bool = True,
) -> Iterator[dict[str, Any]]:
    """The bench's JSON objects, one by one as they are measured (`profile`: see the module's doc)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    for name in workloads:
        if name not in ycsb.WORKLOADS:
            raise ValueError(f"unknown workload {name!r}; known: {', '.join(ycsb.WORKLOADS)}")
    root = Path(tempfile.mkdtemp(prefix="regent-bench-data-"))
    insecure = security.insecure()
    certs = None if insecure else str(security.certs_dir())
    common = {
        "benchmark": "data",
        "records": records,
        "regions": regions,
        "servers": servers,
        "processes": processes,
        "threads": threads,
        "wal": wal,
    }
    try:
        ports = free_ports(servers + 2)
        master = f"127.0.0.1:{ports[0]}"
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
        # A profiled RegionServer writes its profile as it stops: give it the time to.
        with Children(root / "logs", grace_s=5.0 if profile is None else 120.0) as children:
            _start_regionservers(children, root / "cluster", master, ports[2 : 2 + servers], profile, wal)
            start_master(children, root / "cluster", ports[0], servers)
            # the floors' servers before any channel of this process
            noop = _start_noop(children, "noop", insecure, certs)
            spread_noops = [_start_noop(children, f"spread{i}", insecure, certs) for i in range(servers)]
            stub = _stub(master)
            _wait_active(stub, children, 60)
            _say(quiet, f"creating {TABLE} with {regions} regions ...")
            import regent

            with regent.connect(master, **security.connect_options()) as connection:
                connection.admin().create_table(
                    TABLE,
                    {"cf": {"max_versions": 1}},
                    split_keys=ycsb.split_keys(records, regions),
                    timeout=120,
                )
            cluster = Target("cluster", master, insecure, certs)
            _say(quiet, f"loading {records:,} records ...")
            servers_cpu = _cpu_seconds(children, "rs")
            loaded = run_clients(cluster, "load", records, records, processes, threads, seed, profile)
            load_cpu = _cpu_seconds(children, "rs") - servers_cpu
            yield {
                **common,
                "workload": "load",
                "cells_per_s": round(records * ycsb.FIELDS / loaded.seconds),
                "seconds": round(loaded.seconds, 3),
                "batch_p99_ms": round(ycsb.percentile(sorted(loaded.latencies), 0.99), 1),
                "regionserver_cpu_us_per_cell": round(load_cpu * 1e6 / (records * ycsb.FIELDS), 2),
            }
            floor = _floor_target(children, [noop], insecure, certs)
            spread = _floor_target(
                children, spread_noops, insecure, certs, _routes(master, ports[2 : 2 + servers])
            )
            measured, cpu, transport, spread_floor = {}, {}, {}, {}
            for name in workloads:
                _say(
                    quiet,
                    f"workload {name}: {ops:,} operations, in {rounds} slices between its floors'",
                )
                # by the name prefix of the children serving each target: its slices, their servers' CPU
                slices: dict[str, list[Measured]] = {"rs": [], "noop": [], "spread": []}
                used = dict.fromkeys(slices, 0.0)
                for r in range(rounds):
                    keys = seed + r * 1009  # each slice its own keys, the floors' slices the same
                    for prefix, target in (("rs", cluster), ("noop", floor), ("spread", spread)):
                        where = profile if r == 0 and target is cluster else None
                        before = _cpu_seconds(children, prefix)
                        slices[prefix].append(
                            run_clients(target, name, records, ops // rounds, processes, threads, keys, where)
                        )
                        used[prefix] += _cpu_seconds(children, prefix) - before
                        children.check()
                measured[name], cpu[name] = Measured.together(slices["rs"]), used["rs"]
                transport[name] = _floor_figures(
                    "transport_floor", Measured.together(slices["noop"]), used["noop"]
                )
                spread_floor[name] = _floor_figures(
                    "spread_floor", Measured.together(slices["spread"]), used["spread"]
                )
            stub.ClusterStatus(master_pb2.ClusterStatusRequest(), timeout=10)  # the master still answers
        _say(quiet, "the LMDB floor ...")
        lmdb_floor = _lmdb_floor(root / "floor", records, ops, list(workloads), processes * threads, seed)
        for name in workloads:
            ops_per_s = measured[name].ops / measured[name].seconds
            yield {
                **common,
                "workload": name,
                **measured[name].summary(),
                "regionserver_cpu_ms_per_op": round(cpu[name] * 1000 / measured[name].ops, 3),
                "floor_ops_per_s": lmdb_floor[name],
                **transport[name],
                "ratio_to_transport_floor": round(
                    ops_per_s / transport[name]["transport_floor_ops_per_s"], 2
                ),
                **spread_floor[name],
                "ratio_to_spread_floor": round(ops_per_s / spread_floor[name]["spread_floor_ops_per_s"], 2),
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cpu_seconds(children: Children, prefix: str) -> float:
    """CPU seconds (user and system) used so far by the children whose names start with `prefix`: what
    the RegionServers spent on a workload, which a machine shared with other work does not inflate as
    much as it does the wall-clock figures."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in children.children:
        if child.name.startswith(prefix):
            try:
                raw = Path(f"/proc/{child.pid}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (proc(5) fields 14, 15)
    return total


def _start_regionservers(
    children: Children, rootdir: Path, master: str, ports: list[int], profile: Path | None, wal: bool
) -> None:
    """The RegionServers (`--wal on` or `off`); with `profile`, the first under pyinstrument
    (profile/regionserver.txt)."""
    for i, port in enumerate(ports):
        argv = _regent("regionserver", "--rootdir", str(rootdir), "--master", master, "--port", str(port))
        argv += ["--wal", "on" if wal else "off"]
        if i == 0 and profile is not None:
            out = str(profile / "regionserver.txt")
            argv = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", out, "-m", *argv[2:]]
        children.start(f"rs{i}", argv)


def _start_noop(children: Children, name: str, insecure: bool, certs: str | None) -> tuple[int, Any]:
    """A floor's no-op server, started with the cluster's daemons: before this process opens any gRPC
    channel, since a fork after that can break the child's gRPC (grpc/grpc#43055)."""
    port = free_ports(1)[0]
    argv = [sys.executable, "-m", "regent.bench.data_floor", "--port", str(port)]
    argv += ["--insecure"] if insecure else ["--certs-dir", str(certs)]
    return port, children.start(name, argv)


def _routes(master: str, regionserver_ports: list[int]) -> tuple[tuple[str, int], ...]:
    """The spread floor's routes: each region of the table by start key, with the index of the port of
    the RegionServer the master places it on (the i-th spread server stands for the i-th RegionServer)."""
    import regent

    index = {f"127.0.0.1:{port}": i for i, port in enumerate(regionserver_ports)}
    with regent.connect(master, **security.connect_options()) as connection:
        regions = connection.admin().table_regions(TABLE, timeout=60)
    routes = []
    for region in sorted(regions, key=lambda r: r.info.start_key):
        if region.server is None or region.server.address not in index:
            raise RuntimeError(f"region {region.region_id} of {TABLE} is on no RegionServer of the bench")
        routes.append((region.info.start_key.hex(), index[region.server.address]))
    return tuple(routes)


def _floor_target(
    children: Children,
    noops: list[tuple[int, Any]],
    insecure: bool,
    certs: str | None,
    routes: tuple[tuple[str, int], ...] = (),
) -> Target:
    """A floor's no-op servers as a target once they are ready: one, the transport floor; with `routes`,
    the spread floor."""
    deadline = time.monotonic() + 30
    for _, server in noops:
        while "ready" not in server.log.read_text(errors="replace"):
            children.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the floor's server {server.name} did not start within 30 s")
            time.sleep(0.05)
    addresses = ",".join(f"127.0.0.1:{port}" for port, _ in noops)
    return Target("spread" if routes else "transport", addresses, insecure, certs, routes)


def _floor_figures(name: str, m: Measured, server_cpu_s: float) -> dict[str, float]:
    """A workload's floor `name`: its ops/s and the CPU per operation of its servers and of its clients."""
    return {
        f"{name}_ops_per_s": round(m.ops / m.seconds),
        f"{name}_server_cpu_ms_per_op": round(server_cpu_s * 1000 / m.ops, 3),
        f"{name}_client_cpu_ms_per_op": round(m.client_cpu_s * 1000 / m.ops, 3),
    }


if __name__ == "__main__":
    client_main()
