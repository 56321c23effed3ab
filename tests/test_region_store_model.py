"""The region store against an in-memory model of HBase's semantics (tests/region_model.py): random
puts, the four kinds of deletes, increments, check-and-puts, gets, scans and compactions, with an
injected clock (ttl) and environment evictions in between, on a real LMDB store."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data import compaction
from regionserver.data.environments import Claim, Environments
from regionserver.data.errors import NoSuchFamily, NotACounter
from regionserver.data.mutations import (
    CheckAndPut,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Get,
    Increment,
    Put,
    RowMutation,
    Scan,
    TimeRange,
)
from regionserver.data.ordered import OrderedCells
from regionserver.data.region_store import RegionStore
from regionserver.data.scanner import Scanner
from tests.hypothesis_profiles import examples
from tests.region_model import Model

FAMILIES = {
    b"a": ColumnFamily("a", max_versions=3),
    b"b": ColumnFamily("b"),
    b"c": ColumnFamily("c", max_versions=2, min_versions=1, ttl=5),
}
LONG = b"L" * 600  # beyond LMDB's key size: such rows live in buckets (regionserver.data.ordered)
ROWS = [
    b"\x00",
    b"\x00\x00",
    b"r",
    b"r\x00",
    b"r\x00a",
    b"ra",
    b"\xff",
    LONG,
    LONG + b"\x00",
    LONG[:-1] + b"M",
]
rows = st.sampled_from(ROWS)
families = st.sampled_from(sorted(FAMILIES))
qualifiers = st.sampled_from([b"", b"q", b"q\x00", b"\x00"])
values = st.binary(max_size=12)
START = 100_000


class RegionStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="region-model-"))
        self.now = START
        self.envs = Environments(capacity=1)
        self.store = RegionStore(
            self.dir / "r",
            Claim(ServerName("h", 1, 1), 1),
            FAMILIES,
            environments=self.envs,
            clock=lambda: self.now,
        )
        self.model = Model(dict(FAMILIES))

    def teardown(self) -> None:
        self.envs.close_all()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ts(self, data: st.DataObject) -> int | None:
        return data.draw(st.none() | st.integers(self.now - 8_000, self.now + 1_000))

    # ---- writes ----

    def _operation(self, data: st.DataObject, row: bytes) -> object:
        kind = data.draw(st.sampled_from(["put", "put", "put", "row", "family", "column", "version"]))
        f, q, ts = data.draw(families), data.draw(qualifiers), self.ts(data)
        if kind == "put":
            return Put(f, q, data.draw(values), ts)
        return {
            "row": DeleteRow(ts),
            "family": DeleteFamily(f, ts),
            "column": DeleteColumn(f, q, ts),
            "version": DeleteVersion(f, q, ts),
        }[kind]

    def _model_apply(self, mutation: RowMutation) -> None:
        for op in mutation.operations:
            at = self.now if op.timestamp is None else op.timestamp
            if isinstance(op, Put):
                self.model.put(mutation.row, op.family, op.qualifier, at, op.value)
            elif isinstance(op, DeleteVersion):
                self.model.delete_version(mutation.row, op.family, op.qualifier, op.timestamp, self.now)
            elif isinstance(op, DeleteColumn):
                self.model.delete_upto(mutation.row, op.family, op.qualifier, at)
            elif isinstance(op, DeleteFamily):
                self.model.delete_upto(mutation.row, op.family, None, at)
            else:
                self.model.delete_upto(mutation.row, None, None, at)

    @rule(data=st.data(), n=st.integers(1, 3), broken=st.integers(-1, 2))
    def mutate(self, data: st.DataObject, n: int, broken: int) -> None:
        batch = []
        for i in range(n):
            row = data.draw(rows)
            ops = [self._operation(data, row) for _ in range(data.draw(st.integers(1, 3)))]
            if i == broken:  # one row of the batch names a family the table does not have
                ops.append(Put(b"zz", b"q", b"v"))
            batch.append(RowMutation(row, tuple(ops)))  # type: ignore[arg-type]
        failed = self.store.mutate(batch)
        for i, mutation in enumerate(batch):
            if i == broken:
                assert isinstance(failed[i], NoSuchFamily), failed
            else:
                assert failed[i] is None, failed
                self._model_apply(mutation)

    @rule(row=rows, family=families, qualifier=qualifiers, amount=st.integers(-5, 5))
    def increment(self, row: bytes, family: bytes, qualifier: bytes, amount: int) -> None:
        current = self.model.newest(row, family, qualifier, self.now)
        try:
            result = self.store.increment(Increment(row, ((family, qualifier, amount),)))
        except NotACounter:
            assert current is not None and len(current[1]) != 8
            return
        assert current is None or len(current[1]) == 8
        before = int.from_bytes(current[1], "big", signed=True) if current else 0
        assert result == {(family, qualifier): before + amount}
        at = max(self.now, current[0]) if current else self.now
        self.model.put(row, family, qualifier, at, (before + amount).to_bytes(8, "big", signed=True))

    @rule(data=st.data(), row=rows, family=families, qualifier=qualifiers, match=st.booleans())
    def check_and_put(
        self, data: st.DataObject, row: bytes, family: bytes, qualifier: bytes, match: bool
    ) -> None:
        current = self.model.newest(row, family, qualifier, self.now)
        expected = (current[1] if current else None) if match else data.draw(st.none() | values)
        put = Put(data.draw(families), data.draw(qualifiers), data.draw(values), self.ts(data))
        mutation = RowMutation(row, (put,))
        applied = self.store.check_and_put(CheckAndPut(row, family, qualifier, expected, mutation))
        assert applied == ((current[1] if current else None) == expected)
        if applied:
            self._model_apply(mutation)

    # ---- time, evictions, compaction ----

    @rule(ms=st.integers(0, 3_000))
    def tick(self, ms: int) -> None:
        self.now += ms

    @rule()
    def evict(self) -> None:
        """Another region's use closes this one's environment (capacity 1); the next use reopens it."""
        other = RegionStore(
            self.dir / "other", Claim(ServerName("h", 1, 1), 1), FAMILIES, environments=self.envs
        )
        other.mutate([RowMutation(b"x", (Put(b"a", b"q", b"v"),))])
        assert not self.envs.is_open(self.store.path)

    @precondition(lambda self: self.store.exists)
    @rule(budget=st.integers(1, 20))
    def compact(self, budget: int) -> None:
        compaction.compact(self.store, budget=budget)
        assert self.stored() == self.model.kept(self.now)

    def stored(self) -> int:
        env = self.store.environment()
        with env.env.begin() as txn:
            return sum(1 for _ in OrderedCells(txn, env.cells_db).items(b""))

    # ---- reads ----

    @rule(
        data=st.data(),
        max_versions=st.integers(1, 4),
        time_range=st.none() | st.tuples(st.integers(START - 8_000, START + 20_000), st.integers(0, 10_000)),
    )
    def get(self, data: st.DataObject, max_versions: int, time_range: tuple[int, int] | None) -> None:
        wanted = tuple(data.draw(st.lists(families | st.tuples(families, qualifiers), max_size=2)))
        tr = (0, 2**63) if time_range is None else (time_range[0], time_range[0] + time_range[1])
        chosen = data.draw(st.lists(rows, min_size=1, max_size=3))
        gets = [Get(r, wanted, max_versions, TimeRange(*tr)) for r in chosen]
        got = self.store.get(gets)
        for r, cells in zip(chosen, got, strict=True):
            assert cells == self.model.row(
                r, self.now, wanted=wanted, max_versions=max_versions, time_range=tr
            )

    @rule(
        start=st.none() | rows,
        stop=st.none() | rows,
        prefix=st.none() | st.sampled_from([b"r", b"\x00", b"L", b"", b"\xff"]),
        reverse=st.booleans(),
        limit=st.none() | st.integers(1, 5),
        batch=st.integers(1, 4),
        chunk=st.integers(1, 3),
        wanted=st.lists(families, max_size=1),
    )
    def scan(
        self,
        start: bytes | None,
        stop: bytes | None,
        prefix: bytes | None,
        reverse: bool,
        limit: int | None,
        batch: int,
        chunk: int,
        wanted: list[bytes],
    ) -> None:
        scan = Scan(start or b"", stop or b"", prefix, tuple(wanted), limit=limit, reverse=reverse)
        scanner = Scanner(self.store, scan, chunk_rows=chunk)
        got = []
        while not scanner.done:
            got += scanner.next(batch)
        expected = []
        for r in sorted(self.model.rows(), reverse=reverse):
            if prefix is not None and not r.startswith(prefix):
                continue
            if start and (r > start if reverse else r < start):
                continue
            if stop and (r <= stop if reverse else r >= stop):
                continue
            cells = self.model.row(r, self.now, wanted=tuple(wanted))
            if cells:
                expected.append((r, cells))
        assert got == expected[:limit]


TestRegionStoreAgainstModel = RegionStoreMachine.TestCase
TestRegionStoreAgainstModel.settings = settings(
    max_examples=examples(40), stateful_step_count=25, deadline=None
)
