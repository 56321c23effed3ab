"""A child region that references its parents' stores (split daughter, merged child) against one flat store
that holds the parents' rows of the child's range: random puts, deletes, increments, check-and-puts, gets,
scans, fold steps, compactions and environment evictions give the same answers from both, on real LMDB
stores (regionserver.data.layered, regionserver.data.fold)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from meta import ServerName, references
from meta.references import Reference
from meta.types import ColumnFamily
from regionserver.data import compaction, fold, parents
from regionserver.data.environments import Claim, Environments
from regionserver.data.errors import NotACounter
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
)
from regionserver.data.region_store import RegionStore
from regionserver.data.scanner import Scanner
from tests.hypothesis_profiles import examples

FAMILIES = {
    b"a": ColumnFamily("a", max_versions=3),
    b"b": ColumnFamily("b"),
    b"c": ColumnFamily("c", max_versions=2, min_versions=1, ttl=5),
}
LONG = b"L" * 600  # rows beyond LMDB's key size live in buckets (regionserver.data.ordered)
ROWS = [b"\x00", b"K", LONG, LONG + b"\x00", b"r", b"r\x00", b"ra", b"\xff"]
families = st.sampled_from(sorted(FAMILIES))
qualifiers = st.sampled_from([b"", b"q", b"\x00"])
values = st.binary(max_size=8)
START = 100_000
SERVER = ServerName("h", 1, 1)
#: (child's rows, the parents' references): a split daughter of one parent, a merged child of two.
LAYOUTS = {
    "daughter": ((LONG, b"ra"), [Reference(1, LONG, b"ra")]),
    "merged": ((b"", b""), [Reference(1, b"", b"r"), Reference(2, b"r", b"")]),
}


class LayeredStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="layered-"))
        self.now = START
        self.envs = Environments(capacity=2)  # fewer than a merged child's three: evictions in every step
        self.flat = self._store("flat", 1, Environments())
        self.child = self._store("3", 9, self.envs)
        self.range: tuple[bytes, bytes] = (b"", b"")

    def _store(self, name: str, seq: int, envs: Environments) -> RegionStore:
        return RegionStore(
            self.dir / name, Claim(SERVER, seq), FAMILIES, environments=envs, clock=lambda: self.now
        )

    def teardown(self) -> None:
        self.envs.close_all()
        self.flat.environments.close_all()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self) -> st.SearchStrategy[bytes]:
        start, end = self.range
        return st.sampled_from([r for r in ROWS if start <= r and (not end or r < end)])

    @initialize(
        data=st.data(),
        layout=st.sampled_from(sorted(LAYOUTS)),
        cells=st.lists(
            st.tuples(st.sampled_from(ROWS), families, qualifiers, st.integers(START - 8_000, START), values),
            max_size=30,
        ),
    )
    def parents_written(self, data: st.DataObject, layout: str, cells: list[tuple]) -> None:
        self.range, refs = LAYOUTS[layout]
        stores = {r.region_id: self._store(str(r.region_id), 1, self.envs) for r in refs}
        for row, family, qualifier, ts, value in cells:
            mutation = RowMutation(row, (Put(family, qualifier, value, ts),))
            for ref in refs:  # every parent is written, also outside the rows the child reads
                if ref.region_id in stores and data.draw(st.booleans()):
                    stores[ref.region_id].mutate([mutation])
                    if ref.contains(row) and self._inside(row):
                        self.flat.mutate([mutation])
        for store in stores.values():
            store.close()
        references.write(self.child.path, refs)
        attached = parents.attach(self.child, references.read(self.child.path) or [])
        for parent in attached:  # sealed: the old owner (open 1) can no longer write it
            owner = self.envs.get(parent.path, create=False).owner()
            assert owner == Claim(SERVER, 9)

    def _inside(self, row: bytes) -> bool:
        start, end = self.range
        return start <= row and (not end or row < end)

    def ts(self, data: st.DataObject) -> int | None:
        return data.draw(st.none() | st.integers(self.now - 8_000, self.now + 1_000))

    # ---- writes, applied to both ----

    @rule(data=st.data(), n=st.integers(1, 3))
    def mutate(self, data: st.DataObject, n: int) -> None:
        batch = []
        for _ in range(n):
            row = data.draw(self.rows())
            ops = []
            for _ in range(data.draw(st.integers(1, 3))):
                kind = data.draw(st.sampled_from(["put", "put", "row", "family", "column", "version"]))
                f, q, ts = data.draw(families), data.draw(qualifiers), self.ts(data)
                ops.append(
                    Put(f, q, data.draw(values), ts)
                    if kind == "put"
                    else {
                        "row": DeleteRow(ts),
                        "family": DeleteFamily(f, ts),
                        "column": DeleteColumn(f, q, ts),
                        "version": DeleteVersion(f, q, ts),
                    }[kind]
                )
            batch.append(RowMutation(row, tuple(ops)))  # type: ignore[arg-type]
        assert self.child.mutate(batch) == self.flat.mutate(batch)

    @rule(data=st.data(), family=families, qualifier=qualifiers, amount=st.integers(-5, 5))
    def increment(self, data: st.DataObject, family: bytes, qualifier: bytes, amount: int) -> None:
        inc = Increment(data.draw(self.rows()), ((family, qualifier, amount),))
        outcomes = []
        for store in (self.child, self.flat):
            try:
                outcomes.append(store.increment(inc))
            except NotACounter as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]

    @rule(data=st.data(), family=families, qualifier=qualifiers)
    def check_and_put(self, data: st.DataObject, family: bytes, qualifier: bytes) -> None:
        row = data.draw(self.rows())
        (current,) = self.flat.get([Get(row, ((family, qualifier),))])
        expected = current[0].value if current and data.draw(st.booleans()) else data.draw(st.none() | values)
        put = Put(data.draw(families), data.draw(qualifiers), data.draw(values), self.ts(data))
        check = CheckAndPut(row, family, qualifier, expected, RowMutation(row, (put,)))
        assert self.child.check_and_put(check) == self.flat.check_and_put(check)

    # ---- the fold, compaction, time ----

    @precondition(lambda self: self.child.has_references)
    @rule(data=st.data(), budget=st.integers(1, 6))
    def fold_step(self, data: st.DataObject, budget: int) -> None:
        start = data.draw(st.sampled_from([b"", *sorted({r[:3] for r in ROWS})]))
        fold.step(self.child, start, fold.FoldStats(), budget=budget)

    @precondition(lambda self: self.child.has_references)
    @rule(budget=st.integers(1, 50))
    def fold_whole(self, budget: int) -> None:
        stats = fold.fold(self.child, budget=budget)
        assert stats.done and not self.child.has_references
        assert references.read(self.child.path) is None

    @precondition(lambda self: self.child.exists)
    @rule(budget=st.integers(1, 20))
    def compact(self, budget: int) -> None:
        compaction.compact(self.child, budget=budget)

    @rule(ms=st.integers(0, 3_000))
    def tick(self, ms: int) -> None:
        self.now += ms

    # ---- reads: the same from both ----

    @rule(data=st.data(), max_versions=st.integers(1, 4))
    def get(self, data: st.DataObject, max_versions: int) -> None:
        wanted = tuple(data.draw(st.lists(families | st.tuples(families, qualifiers), max_size=2)))
        gets = [
            Get(r, wanted, max_versions) for r in data.draw(st.lists(self.rows(), min_size=1, max_size=3))
        ]
        assert self.child.get(gets) == self.flat.get(gets)

    @rule(
        reverse=st.booleans(),
        chunk=st.integers(1, 3),
        max_versions=st.integers(1, 3),
        start=st.none() | st.sampled_from(ROWS),
    )
    def scan(self, reverse: bool, chunk: int, max_versions: int, start: bytes | None) -> None:
        scan = Scan(start or b"", b"", None, (), max_versions=max_versions, reverse=reverse)
        got = [list(Scanner(s, scan, chunk_rows=chunk, region=self.range)) for s in (self.child, self.flat)]
        assert got[0] == got[1]


TestLayeredStoreAgainstFlat = LayeredStoreMachine.TestCase
TestLayeredStoreAgainstFlat.settings = settings(
    max_examples=examples(30), stateful_step_count=20, deadline=None
)
