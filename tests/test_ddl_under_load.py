"""modify_table and family changes on a table under continuous reads and writes (the issue's load test).

A real master (`--reopen-share`) and RegionServers on loopback; writer and reader threads Put and Get rows
of every region straight to the RegionServers (tests/data_client.py: routed through the master, retried on
"not serving" until a per-call deadline) while add_family, modify_family and modify_table run one after the
other. A sampler reads the table's regions from the master throughout and keeps the most it saw out of
service (not OPEN) at once.

Checked: every data call succeeded within its deadline, every value read back is the last one written, every
DDL call succeeded within its own, and the most regions out of service at a sampled moment is at most the
share's bound (`max(1, int(regions * share))`, as modify_table computes it). The same run with a share five
times larger sees more than the small bound out of service: the sampler can see the reopens, so the bound
it checks is the master's doing.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meta import RegionState
from tests.background import CheckedSampler, CheckedThread, finish_all
from tests.cluster import Cluster, Daemons
from tests.data_client import DataClient
from tests.failure_helpers import settled

TABLE = "load"
REGIONS = 40
COLUMN = b"f:q"
#: Deadlines: of one data call (retries included), and of one DDL call (its whole rolling reopen).
DATA_CALL_TIMEOUT_S = 20.0
DDL_TIMEOUT_S = 60.0
#: Rows written before the DDL starts, read back unchanged throughout by the readers.
STABLE_ROWS = 2 * REGIONS
#: Rows each writer owns and rewrites throughout (a new value each time, then read back).
ROWS_PER_WRITER = REGIONS
WRITERS = 2
READERS = 2
#: The least each background thread must have done for the run to count.
MIN_DATA_CALLS = 20
MIN_SAMPLES = 20


def _row(i: int) -> bytes:
    """Rows spread over the whole byte key space, so over every region of a uniformly split table."""
    return hashlib.blake2b(i.to_bytes(4, "big"), digest_size=8).digest()


def _bound(share: float, regions: int = REGIONS) -> int:
    return max(1, int(regions * share))


# ---- the background work ----


class OutOfService(CheckedSampler):
    """The most regions of the table not OPEN at one sampled moment (the master's view, which is at least
    what the servers do not serve: a region is OPEN in meta only once its server has opened it)."""

    name = "out-of-service-sampler"
    min_samples = MIN_SAMPLES
    min_rate = 2.0
    pause = 0.002

    def __init__(self, admin: Any, regions: int) -> None:
        super().__init__()
        self.admin = admin
        self.regions = regions
        self.most = 0
        self.most_seen: list[str] = []
        self.most_in_transition = 0  # not OPEN, or OPEN with a procedure attached (being closed)
        self.moments_with_any = 0

    def sample(self) -> int:
        regions = self.admin.table_regions(TABLE, timeout=5.0)
        assert len(regions) == self.regions, f"the table has {len(regions)} regions, not {self.regions}"
        out = [r for r in regions if r.state is not RegionState.OPEN]
        if out:
            self.moments_with_any += 1
        moving = sum(1 for r in regions if r.state is not RegionState.OPEN or r.proc_id)
        self.most_in_transition = max(self.most_in_transition, moving)
        if len(out) > self.most:
            self.most = len(out)
            self.most_seen = [f"{r.region_id}:{r.state.name}" for r in out]
        return 1


@dataclass
class Load:
    """The writers' and readers' shared state: what was written last to each row, and what went wrong."""

    client: DataClient
    stop: threading.Event = field(default_factory=threading.Event)
    calls: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    def writer(self, index: int) -> None:
        """Rewrite this writer's rows in turn, each Put followed by a Get of a row written earlier."""
        rows = [_row(10_000 + index * ROWS_PER_WRITER + i) for i in range(ROWS_PER_WRITER)]
        last: dict[bytes, bytes] = {}
        name = f"writer-{index}"
        for n in itertools.count():
            if self.stop.is_set():
                break
            row = rows[n % len(rows)]
            value = f"{name}:{n}".encode()
            self.client.put(row, COLUMN, value)
            last[row] = value
            check = rows[(n * 7) % len(rows)]
            if check in last:
                got = self.client.get(check, COLUMN)
                if got != last[check]:
                    self.wrong.append(f"{name}: row {check.hex()} read {got!r}, last written {last[check]!r}")
            self.calls[name] = n + 1

    def reader(self, index: int, stable: dict[bytes, bytes]) -> None:
        """Read the rows written before the DDL: each must keep its value."""
        rows = sorted(stable)
        name = f"reader-{index}"
        for n in itertools.count():
            if self.stop.is_set():
                break
            row = rows[(n + index * 13) % len(rows)]
            got = self.client.get(row, COLUMN)
            if got != stable[row]:
                self.wrong.append(f"{name}: row {row.hex()} read {got!r}, written {stable[row]!r}")
            self.calls[name] = n + 1


# ---- the run ----


@dataclass
class Result:
    most_out: int
    most_in_transition: int
    moments_with_any: int
    samples: int
    ddl_seconds: list[float]
    calls: dict[str, int]
    retries: int
    slowest_data_call: float


def _cluster(daemons: Daemons, rootdir: Path, share: float, regions: int = REGIONS) -> Cluster:
    cluster = Cluster(daemons, rootdir, master_args=["--reopen-share", str(share)])
    cluster.start(servers=3)
    assert cluster.admin.create_table(TABLE, ["f"], num_regions=regions, timeout=DDL_TIMEOUT_S) == regions
    cluster.wait_open(TABLE, regions)
    return cluster


def _ddl_calls(admin: Any, rounds: int) -> list[float]:
    """add_family, modify_family, modify_table (a setting), in turn; the seconds each took."""
    took = []
    for i in range(rounds):
        calls = [
            functools.partial(admin.add_family, TABLE, f"extra{i}", max_versions=2),
            functools.partial(admin.modify_family, TABLE, f"extra{i}", max_versions=3, ttl=3600),
            functools.partial(admin.modify_table, TABLE, split_enabled=i % 2 == 1),
        ]
        for call in calls:
            started = time.monotonic()
            call(timeout=DDL_TIMEOUT_S)  # raises if it failed or missed its deadline
            took.append(time.monotonic() - started)
    return took


def _run(
    cluster: Cluster, rounds: int, *, load: bool, regions: int = REGIONS, writers: int = WRITERS
) -> Result:
    admin = cluster.admin
    with DataClient(admin, TABLE, call_timeout=DATA_CALL_TIMEOUT_S) as client:
        stable = {_row(i): f"stable:{i}".encode() for i in range(STABLE_ROWS)}
        for row, value in stable.items():
            client.put(row, COLUMN, value)
        work = Load(client)
        threads = []
        if load:
            threads = [CheckedThread(work.writer, i, name=f"writer-{i}") for i in range(writers)]
            threads += [CheckedThread(work.reader, i, stable, name=f"reader-{i}") for i in range(READERS)]
        with OutOfService(admin, regions) as sampler:
            for thread in threads:
                thread.start()
            try:
                took = _ddl_calls(admin, rounds)
            finally:
                work.stop.set()
                finish_all(threads, timeout=DATA_CALL_TIMEOUT_S + 10)
        assert not work.wrong, f"values read back are not the last written: {work.wrong[:10]}"
        for thread in threads:
            calls = work.calls.get(thread.name, 0)
            assert calls >= MIN_DATA_CALLS, f"{thread.name} made {calls} calls, needed {MIN_DATA_CALLS}"
        # The table is whole again, every region on one server, meta and the servers agreeing, with what
        # the calls asked for.
        settled(cluster, {TABLE: regions})
        described = admin.describe_table(TABLE)
        assert {f.name for f in described.families} == {"f"} | {f"extra{i}" for i in range(rounds)}
        extra = described.family("extra0")
        assert extra is not None and (extra.max_versions, extra.ttl) == (3, 3600), described
        for row, value in stable.items():
            assert client.get(row, COLUMN) == value
        return Result(
            most_out=sampler.most,
            most_in_transition=sampler.most_in_transition,
            moments_with_any=sampler.moments_with_any,
            samples=sampler.samples,
            ddl_seconds=took,
            calls=dict(work.calls),
            retries=client.retries,
            slowest_data_call=client.slowest,
        )


def test_modify_table_under_reads_and_writes_keeps_its_share_of_regions_in_service(
    daemons: Daemons, tmp_path: Path
) -> None:
    share = 0.1
    cluster = _cluster(daemons, tmp_path / "root", share)
    try:
        result = _run(cluster, rounds=3, load=True)
    finally:
        cluster.close()
    print(f"share {share}: {result}")
    assert result.most_out <= _bound(share), (
        f"{result.most_out} regions out of service at once; share {share} allows {_bound(share)}: {result}"
    )
    assert result.most_in_transition <= _bound(share), result  # what the master counts against the share
    assert result.moments_with_any > 0, f"the sampler never saw a region out of service: {result}"
    assert all(t < DDL_TIMEOUT_S for t in result.ddl_seconds), result
    assert result.slowest_data_call < DATA_CALL_TIMEOUT_S, result


@pytest.mark.slow
def test_many_modifications_of_a_larger_table_under_heavier_load_keep_the_share(
    daemons: Daemons, tmp_path: Path
) -> None:
    regions, share = 200, 0.05
    cluster = _cluster(daemons, tmp_path / "root", share, regions)
    try:
        result = _run(cluster, rounds=6, load=True, regions=regions, writers=4)
    finally:
        cluster.close()
    print(f"{regions} regions, share {share}: {result}")
    assert 0 < result.most_out <= result.most_in_transition <= _bound(share, regions), result


def test_a_larger_reopen_share_lets_more_regions_out_of_service_at_once(
    daemons: Daemons, tmp_path: Path
) -> None:
    """The sampler of the test above can see more than its bound: with share 0.5 it does."""
    cluster = _cluster(daemons, tmp_path / "root", 0.5)
    try:
        result = _run(cluster, rounds=1, load=False)
    finally:
        cluster.close()
    print(f"share 0.5: {result}")
    assert _bound(0.1) < result.most_out <= _bound(0.5), result
