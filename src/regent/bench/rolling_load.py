"""The client side of `regent bench rolling-restart`: a separate process that loads the table, or keeps a
read/write load on it while the cluster is restarted, through the SDK as an application would.

Protocol with the bench (`python -m regent.bench.rolling_load`): the job as JSON on the first line of
stdin; the process prints "ready", waits for a line "go", works, and prints its result as one JSON line.
A "load" job writes its share of the rows (batched puts) and stops. A "run" job has `threads` threads
each doing a read or a write (even odds) of a random loaded row, one call in flight per thread, until the
bench writes "stop"; every call has the job's deadline. A call that raises counts as failed (the SDK
retries refusals and moves internally until its deadline: an exception is a call that failed past it).
A read of a loaded row that comes back empty counts as missing (a row the cluster lost).
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from regent.bench import security

TABLE = "rolling"
FAMILY = "cf"
COLUMN = b"cf:v"
VALUE_BYTES = 100
LOAD_BATCH = 1000
#: How long a client lives on once its bench has closed its stdin.
EXIT_GRACE_S = 5.0
#: At most this many error texts are kept for the result (the count is exact).
KEPT_ERRORS = 5


def row_key(i: int) -> bytes:
    """Row i of the table: fixed width, so that key order is number order and split keys are easy."""
    return b"row%010d" % i


def split_keys(rows: int, regions: int) -> list[bytes]:
    """Split keys giving `regions` regions an equal share of rows 0..rows-1 (regions may exceed rows:
    the spare regions are empty, keyed past the rows)."""
    return [row_key(i * max(rows, regions) // regions) for i in range(1, regions)]


@dataclass(frozen=True)
class Job:
    mode: str  # "load" or "run"
    masters: str
    insecure: bool
    certs_dir: str | None
    rows: int
    threads: int
    process: int
    processes: int
    timeout_s: float
    seed: int


@dataclass
class Tally:
    """What one thread saw; merged into the process's result."""

    calls: int = 0
    reads: int = 0
    writes: int = 0
    failures: int = 0
    missing: int = 0
    max_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    def timed(self, started: float) -> None:
        self.calls += 1
        self.max_ms = max(self.max_ms, (time.perf_counter() - started) * 1000)

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")

    def merge(self, other: Tally) -> None:
        self.calls += other.calls
        self.reads += other.reads
        self.writes += other.writes
        self.failures += other.failures
        self.missing += other.missing
        self.max_ms = max(self.max_ms, other.max_ms)
        self.errors.extend(other.errors[: KEPT_ERRORS - len(self.errors)])


def _connect(job: Job) -> Any:
    import regent

    security.use_insecure(job.insecure)
    if job.certs_dir is not None:
        security.use_certs_dir(Path(job.certs_dir))
    return regent.connect(job.masters, timeout=job.timeout_s, **security.connect_options())


def _load(job: Job, thread: int, table: Any, tally: Tally) -> None:
    """This thread's contiguous share of the rows, in batched puts of consecutive rows (so that a batch
    touches few regions: one group commit each)."""
    index = job.process * job.threads + thread
    stride = job.processes * job.threads
    value = random.Random(job.seed * 1000 + index).randbytes(VALUE_BYTES)
    mine = range(index * job.rows // stride, (index + 1) * job.rows // stride)
    for start in range(0, len(mine), LOAD_BATCH):
        began = time.perf_counter()
        with table.batch() as batch:
            for i in mine[start : start + LOAD_BATCH]:
                batch.put(row_key(i), {COLUMN: value})
        tally.writes += len(mine[start : start + LOAD_BATCH])
        tally.timed(began)


def _run(job: Job, thread: int, table: Any, tally: Tally, stop: threading.Event) -> None:
    rng = random.Random(job.seed * 1000 + job.process * job.threads + thread)
    value = rng.randbytes(VALUE_BYTES)
    while not stop.is_set():
        row = row_key(rng.randrange(job.rows))
        began = time.perf_counter()
        try:
            if rng.random() < 0.5:
                tally.reads += 1
                if not table.row(row):
                    tally.missing += 1
            else:
                tally.writes += 1
                table.put(row, {COLUMN: value})
        except Exception as exc:  # counted, and the load goes on
            tally.failed(exc)
        tally.timed(began)


def work(job: Job, ready: Any, go: Any, stop: threading.Event) -> dict[str, Any]:
    """One client process's work (see the module's docstring); its result."""
    connection = _connect(job)
    try:
        table = connection.table(TABLE, timeout=job.timeout_s)
        if job.mode == "run":  # warm the location cache and the channels before the clock starts
            table.row(row_key(0))
        tallies = [Tally() for _ in range(job.threads)]
        errors: list[BaseException] = []

        def body(i: int) -> None:
            try:
                if job.mode == "load":
                    _load(job, i, table, tallies[i])
                else:
                    _run(job, i, table, tallies[i], stop)
            except BaseException as exc:  # reported to the parent
                errors.append(exc)

        threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(job.threads)]
        ready()
        go()
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            return {"error": f"{type(errors[0]).__name__}: {errors[0]}"}
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        return {**asdict(total), "seconds": round(time.monotonic() - started, 3)}
    finally:
        connection.close()


def main() -> None:
    from regent import logs

    logs.configure("bench", level="error")  # to stderr: stdout is the bench's protocol
    job = Job(**json.loads(sys.stdin.readline()))
    stop = threading.Event()

    def ready() -> None:
        print("ready", flush=True)

    def go() -> None:
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("the bench went away before go")
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()

    try:
        result = work(job, ready, go, stop)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)


def _watch_stdin(stop: threading.Event) -> None:
    """A line ("stop") ends a run's load; the end of stdin means the bench is done or gone: stop, and
    exit within a few seconds whatever is still running (a client never outlives its bench)."""
    while sys.stdin.readline():
        stop.set()
    stop.set()
    time.sleep(EXIT_GRACE_S)
    os._exit(3)


class Clients:
    """The bench's side: `processes` client processes of one job, started, told go, stopped, answered.
    Spawned without a pre-exec hook (a plain fork-exec), which is safe after this process opened gRPC
    channels, as regent.bench.data's clients are."""

    def __init__(self, job: Job, processes: int, check: Callable[[], None] = lambda: None) -> None:
        self.check = check  # raises when the cluster's daemons died: no use waiting for the clients
        self.lines: queue.Queue[str] = queue.Queue()
        self.children: list[subprocess.Popen[str]] = []
        for p in range(processes):
            child = subprocess.Popen(
                [sys.executable, "-m", "regent.bench.rolling_load"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            self.children.append(child)
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(asdict(replace(job, process=p, processes=processes))) + "\n")
            child.stdin.flush()
            threading.Thread(target=self._read, args=(child.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.strip())

    def _next(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.lines.get(timeout=0.5)
            except queue.Empty:
                self.check()
                dead = [c.returncode for c in self.children if c.poll() not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a client process died with exit code {dead[0]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no answer from the client processes within {timeout:.0f} s"
                    ) from None

    def _tell(self, line: str) -> None:
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write(line + "\n")
            child.stdin.flush()

    def start(self, timeout: float = 120.0) -> None:
        """Wait until every process is ready, then tell them all go."""
        for _ in self.children:
            line = self._next(timeout)
            if line != "ready":  # it failed before it could start: its result says why
                raise RuntimeError(f"a client process failed before starting: {line}")
        self._tell("go")

    def results(self, timeout: float, *, stop: bool) -> Tally:
        """(With `stop`, tell them to stop first.) Their merged tallies; raise if one failed."""
        if stop:
            self._tell("stop")
        total = Tally()
        for _ in self.children:
            answer = json.loads(self._next(timeout))
            if "error" in answer:
                raise RuntimeError(f"a client process failed: {answer['error']}")
            answer.pop("seconds", None)
            total.merge(Tally(**answer))
        return total

    def close(self) -> None:
        for child in self.children:
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
