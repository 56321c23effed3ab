"""hypothesis stateful: random puts, deletes, increments, gets, cells and scans (with filters) through the
SDK's Table against a real cluster match an in-memory model of HBase's semantics (tests/region_model.py),
while a background thread keeps moving the table's regions and restarts a RegionServer.

The client must hide all of it: no call may fail, and every answer must be the model's. Each example has
its own table of four regions; puts carry explicit timestamps (so the model knows every version), and
counters live in a family of their own (their timestamps are the server's clock).
"""

from __future__ import annotations

import itertools
import random
import struct
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

import regent
from client.errors import RegentError
from client.table import Table
from client.table_args import make_row
from meta.types import ColumnFamily
from tests.background import CheckedThread
from tests.cluster import Cluster, module_cluster
from tests.failure_helpers import SHORT_LEASE
from tests.hypothesis_profiles import examples
from tests.region_model import Model

SPLITS = [b"d", b"h", b"p"]
FAMILIES = {b"f": ColumnFamily("f", max_versions=3), b"g": ColumnFamily("g")}
ROWS = [b"a", b"a\x00", b"c", b"d", b"d1", b"g\xff", b"h", b"m", b"p", b"pq", b"x", b"\xff"]
rows = st.sampled_from(ROWS)
families = st.sampled_from(sorted(FAMILIES))
qualifiers = st.sampled_from([b"a", b"ab", b"b"])
timestamps = st.integers(1, 40)
FILTERS: dict[str, Any] = {
    "": lambda row, cells: cells,
    "PrefixFilter('d')": lambda row, cells: cells if row.startswith(b"d") else [],
    "ColumnPrefixFilter('a')": lambda row, cells: [c for c in cells if c.qualifier.startswith(b"a")],
    "KeyOnlyFilter()": lambda row, cells: [(c.family, c.qualifier, c.timestamp, b"") for c in cells],
}
COUNTER = b"n:c"
_tables = itertools.count(1)


class _Cell:
    def __init__(self, family: bytes, qualifier: bytes, timestamp: int, value: bytes) -> None:
        self.family, self.qualifier, self.timestamp, self.value = family, qualifier, timestamp, value
        self.column = family + b":" + qualifier


class TableMachine(RuleBasedStateMachine):
    conn: ClassVar[Any]
    admin: ClassVar[Any]
    current: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__()
        name = f"st{next(_tables)}"
        self.admin.create_table(name, {"f": {"max_versions": 3}, "g": None, "n": None}, split_keys=SPLITS)
        self.current.append(name)
        self.table: Table = self.conn.table(name)
        self.model = Model(dict(FAMILIES))
        self.counters: dict[bytes, int] = {}

    # ---- what the model expects ----

    def expected_cells(self, row: bytes, wanted: tuple[Any, ...], ts: int | None) -> list[_Cell]:
        time_range = (0, ts) if ts is not None else (0, 2**63)
        cells = [
            _Cell(c.family, c.qualifier, c.timestamp, c.value)
            for c in self.model.row(row, 0, wanted=wanted, time_range=time_range)
        ]
        counter_wanted = not wanted or b"n" in wanted or (b"n", b"c") in wanted
        if row in self.counters and counter_wanted and ts is None:
            cells.append(_Cell(b"n", b"c", 0, struct.pack(">q", self.counters[row])))
        return cells

    def expected_row(
        self, row: bytes, wanted: tuple[Any, ...] = (), ts: int | None = None
    ) -> dict[bytes, Any]:
        return make_row(self.expected_cells(row, wanted, ts), False)  # type: ignore[arg-type]

    # ---- writes ----

    @rule(
        row=rows,
        cells=st.lists(st.tuples(families, qualifiers, st.binary(max_size=6)), min_size=1, max_size=3),
        ts=timestamps,
    )
    def put(self, row: bytes, cells: list[tuple[bytes, bytes, bytes]], ts: int) -> None:
        data = {f + b":" + q: v for f, q, v in cells}
        self.table.put(row, data, timestamp=ts)
        for column, value in data.items():
            family, _, qualifier = column.partition(b":")
            self.model.put(row, family, qualifier, ts, value)

    @rule(row=rows, ts=st.none() | timestamps)
    def delete_row(self, row: bytes, ts: int | None) -> None:
        self.table.delete(row, timestamp=ts)
        self.model.delete_upto(row, None, None, 2**62 if ts is None else ts)
        if ts is None:
            self.counters.pop(row, None)

    @rule(row=rows, family=families, qualifier=st.none() | qualifiers, ts=st.none() | timestamps)
    def delete_columns(self, row: bytes, family: bytes, qualifier: bytes | None, ts: int | None) -> None:
        column = family if qualifier is None else family + b":" + qualifier
        self.table.delete(row, columns=[column], timestamp=ts)
        self.model.delete_upto(row, family, qualifier, 2**62 if ts is None else ts)

    @rule(row=rows, amount=st.integers(-5, 5))
    def increment(self, row: bytes, amount: int) -> None:
        self.counters[row] = self.counters.get(row, 0) + amount
        assert self.table.counter_inc(row, COUNTER, amount) == self.counters[row]

    # ---- reads ----

    @rule(
        row=rows,
        wanted=st.lists(families | st.tuples(families, qualifiers), max_size=2).map(tuple),
        ts=st.none() | timestamps,
    )
    def get(self, row: bytes, wanted: tuple[Any, ...], ts: int | None) -> None:
        columns = [w if isinstance(w, bytes) else w[0] + b":" + w[1] for w in wanted] or None
        assert self.table.row(row, columns=columns, timestamp=ts) == self.expected_row(row, wanted, ts)

    @rule(keys=st.lists(rows, max_size=6))
    def get_many(self, keys: list[bytes]) -> None:
        expected = [(k, self.expected_row(k)) for k in keys]
        assert self.table.rows(keys) == [(k, r) for k, r in expected if r]

    @rule(row=rows, family=families, qualifier=qualifiers, versions=st.none() | st.integers(1, 4))
    def cells(self, row: bytes, family: bytes, qualifier: bytes, versions: int | None) -> None:
        got = self.table.cells(row, family + b":" + qualifier, versions=versions, include_timestamp=True)
        model = self.model.row(row, 0, wanted=((family, qualifier),), max_versions=versions or 2**31 - 1)
        assert got == [(c.value, c.timestamp) for c in model]

    @rule(
        bounds=st.tuples(st.none() | rows, st.none() | rows),
        reverse=st.booleans(),
        limit=st.none() | st.integers(1, 6),
        scan_filter=st.sampled_from(sorted(FILTERS)),
        batch_size=st.integers(1, 4),
        ts=st.none() | timestamps,
    )
    def scan(
        self,
        bounds: tuple[bytes | None, bytes | None],
        reverse: bool,
        limit: int | None,
        scan_filter: str,
        batch_size: int,
        ts: int | None,
    ) -> None:
        start, stop = bounds
        got = list(
            self.table.scan(
                row_start=start,
                row_stop=stop,
                filter=scan_filter or None,
                timestamp=ts,
                batch_size=batch_size,
                limit=limit,
                reverse=reverse,
            )
        )
        expected = []
        for row in sorted(set(ROWS), reverse=reverse):
            if start is not None and (row > start if reverse else row < start):
                continue
            if stop is not None and (row <= stop if reverse else row >= stop):
                continue
            cells = FILTERS[scan_filter](row, self.expected_cells(row, (), ts))
            cells = [_Cell(*c) if isinstance(c, tuple) else c for c in cells]
            if cells:
                expected.append((row, make_row(cells, False)))  # type: ignore[arg-type]
        assert got == expected[:limit]


class Chaos:
    """Moves the current table's regions, one after another, and restarts a RegionServer every
    `restart_every` moves, until stopped."""

    def __init__(self, cluster: Cluster, restart_every: int, restarts: int) -> None:
        self.cluster = cluster
        self.restart_every = restart_every
        self.restarts_left = restarts
        self.moves = 0
        self.restarted = 0
        self.stop = threading.Event()
        self.rng = random.Random(8)

    def run(self) -> None:
        admin = self.cluster.admin
        while not self.stop.is_set():
            if TableMachine.current:
                try:
                    regions = admin.table_regions(TableMachine.current[-1], timeout=10)
                    admin.move(self.rng.choice(regions).region_id, timeout=30)
                    self.moves += 1
                except RegentError:
                    pass  # a region in transition, a table being created: the next move will do
            if self.restarts_left and self.moves and self.moves % self.restart_every == 0:
                self.restart()
            self.stop.wait(0.05)  # pacing, so the table's calls get a turn between moves

    def restart(self) -> None:
        self.restarts_left -= 1
        victim = self.rng.choice([s for s in self.cluster.servers if s.alive])
        victim.stop()
        self.cluster.start_server(victim.port)
        self.cluster.wait_live(len([s for s in self.cluster.servers if s.alive]), timeout=60)
        self.restarted += 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=3, master_args=SHORT_LEASE) as made:
        yield made


def _run(cluster: Cluster, max_examples: int, steps: int, restarts: int) -> None:
    chaos = Chaos(cluster, restart_every=3, restarts=restarts)
    with regent.connect(cluster.master_addresses, timeout=60.0, rpc_timeout=2.0) as conn:
        TableMachine.conn = conn
        TableMachine.admin = cluster.admin
        mover = CheckedThread(chaos.run, name="chaos").start()
        try:
            run_state_machine_as_test(
                TableMachine,
                settings=settings(
                    max_examples=max_examples,
                    stateful_step_count=steps,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
        finally:
            chaos.stop.set()
            mover.finish(timeout=120)
    assert chaos.moves > 0
    assert chaos.restarted == restarts


def test_table_matches_the_model_while_regions_move_and_a_regionserver_restarts(cluster: Cluster) -> None:
    _run(cluster, examples(4), 30, restarts=1)


@pytest.mark.slow
def test_table_matches_the_model_at_length_under_chaos(cluster: Cluster) -> None:
    _run(cluster, examples(25), 60, restarts=3)
