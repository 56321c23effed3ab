"""The memstore (regionserver.data.memstore): memory layers over a region's cells read as one map, against
a dict model, over a dict-backed fake and over real LMDB; apply and the version rules give the same answers
through memory layers that are merged and flushed as through plain LMDB cells."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta.types import ColumnFamily
from regionserver.data.apply import Context, apply
from regionserver.data.memstore import DELETED, MemCells, MemStore
from regionserver.data.mutations import (
    CheckAndPut,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Increment,
    Outcome,
    Put,
    RowMutation,
    Write,
)
from regionserver.data.ordered import SHORT, Cells, OrderedCells
from regionserver.data.region_store import MAX_CELL_BYTES
from regionserver.data.versions import RowVisibility, Selection
from tests.hypothesis_profiles import examples

Item = tuple[bytes, bytes]


class DictCells:
    """Cells over a plain dict: the merge's properties without LMDB."""

    def __init__(self, content: dict[bytes, bytes] | None = None) -> None:
        self.content = dict(content or {})

    def get(self, key: bytes) -> bytes | None:
        return self.content.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.content[key] = value

    def delete(self, key: bytes) -> None:
        self.content.pop(key, None)

    def items(self, start: bytes, stop: bytes | None = None, *, reverse: bool = False) -> Iterator[Item]:
        return iter(sorted(_within(self.content, start, stop), reverse=reverse))


class CountingCells(DictCells):
    """DictCells that counts the items its scans hand out: a lazy reader stops pulling early."""

    pulled = 0

    def items(self, start: bytes, stop: bytes | None = None, *, reverse: bool = False) -> Iterator[Item]:
        for item in super().items(start, stop, reverse=reverse):
            self.pulled += 1
            yield item


def _within(model: dict[bytes, bytes], start: bytes, stop: bytes | None) -> list[Item]:
    return sorted((k, v) for k, v in model.items() if start <= k and (stop is None or k < stop))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[lmdb.Environment]:
    environment = lmdb.open(str(tmp_path / "env"), map_size=1 << 26, max_dbs=1, sync=False)
    yield environment
    environment.close()


# Small alphabets make keys that are prefixes of others common; some keys are longer than LMDB's 511
# bytes and live in buckets (regionserver.data.ordered). LMDB refuses empty keys.
atoms = st.sampled_from([b"\x00", b"a", b"b", b"\xff"])
short_keys = st.lists(atoms, min_size=1, max_size=4).map(b"".join)
cell_keys = st.builds(lambda head, tail: head + tail, st.sampled_from([b"", b"", b"k" * SHORT]), short_keys)
values = st.binary(max_size=3)
edits = st.one_of(
    st.tuples(st.just("put"), cell_keys, values),
    st.tuples(st.just("delete"), cell_keys, st.just(b"")),
)
#: 1-3 memory layers, oldest first, each the edits written through it.
layer_edits = st.lists(st.lists(edits, max_size=12), min_size=1, max_size=3)
bounds = st.tuples(st.just(b"") | cell_keys, st.none() | cell_keys)


def _layered(
    base: Cells | None, layers: list[list[tuple[str, bytes, bytes]]], model: dict[bytes, bytes]
) -> list[MemStore]:
    """Write each layer's edits through a MemCells whose top it is (older layers below); the memstores,
    newest first, with `model` updated as a dict would be."""
    stores: list[MemStore] = []
    for layer in layers:
        cells = MemCells(MemStore(), stores, base)
        _write(cells, layer, model)
        stores.insert(0, cells.top)
    return stores


def _write(cells: Cells, layer: list[tuple[str, bytes, bytes]], model: dict[bytes, bytes]) -> None:
    """Write `layer`'s puts and deletes through `cells`, and into `model` as a dict would take them."""
    for kind, key, value in layer:
        if kind == "put":
            cells.put(key, value)
            model[key] = value
        else:
            cells.delete(key)
            model.pop(key, None)


def _check_reads(cells: Cells, model: dict[bytes, bytes], universe: set[bytes], spans: list) -> None:
    for key in universe:
        assert cells.get(key) == model.get(key)
    for start, stop in [(b"", None), *spans]:
        expected = _within(model, start, stop)
        assert list(cells.items(start, stop)) == expected
        assert list(cells.items(start, stop, reverse=True)) == expected[::-1]


def _expected_size(store: MemStore) -> int:
    return sum(len(k) + (len(v) if v is not None else 0) for k, v in store.edits())


@pytest.mark.parametrize("base_kind", ["dict", "lmdb"])
@settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(cell_keys, values, max_size=15), layer_edits, st.lists(bounds, max_size=6))
def test_memory_layers_over_a_base_read_and_flush_as_one_dict(
    env: lmdb.Environment,
    base_kind: str,
    content: dict[bytes, bytes],
    layers: list[list[tuple[str, bytes, bytes]]],
    spans: list[tuple[bytes, bytes | None]],
) -> None:
    db = env.open_db(b"t")
    txn = env.begin(write=True)  # aborted at the end: every example starts from an empty database
    try:
        base: Cells = DictCells(content) if base_kind == "dict" else OrderedCells(txn, db)
        if base_kind == "lmdb":
            for key, value in content.items():
                base.put(key, value)
        model = dict(content)
        stores = _layered(base, layers, model)
        universe = set(content) | {key for layer in layers for _, key, _ in layer}
        _check_reads(MemCells(stores[0], stores[1:], base), model, universe, spans)
        _check_reads(MemCells(MemStore(), stores, base), model, universe, spans)
        for store in stores:
            assert store.size_bytes == _expected_size(store)
            assert len(store) == len(list(store.edits()))
        for store in reversed(stores):  # bottom-up, as snapshots are flushed
            store.flush_into(base)
        assert list(base.items(b"")) == sorted(model.items())
    finally:
        txn.abort()


@given(layer_edits, st.lists(bounds, max_size=4))
def test_memory_layers_without_a_base_read_as_one_dict(
    layers: list[list[tuple[str, bytes, bytes]]], spans: list[tuple[bytes, bytes | None]]
) -> None:
    model: dict[bytes, bytes] = {}
    stores = _layered(None, layers, model)  # no base: a region that has no store yet
    universe = {key for layer in layers for _, key, _ in layer}
    _check_reads(MemCells(MemStore(), stores, None), model, universe, spans)
    merged = MemStore()
    for store in reversed(stores):
        merged.merge_from(store)
    _check_reads(MemCells(merged, [], None), model, universe, spans)


@given(st.lists(layer_edits, min_size=1, max_size=4))
def test_merging_each_top_into_the_active_memstore_reads_as_the_layers_did(
    groups: list[list[list[tuple[str, bytes, bytes]]]],
) -> None:
    """Groups of writes, each through a top over the active memstore, merged once durable: the active
    memstore then reads as the stack of layers it came from, and its size is its entries'."""
    base = DictCells({b"a": b"1", b"ab": b"2", b"b": b"3"})
    model = dict(base.content)
    active = MemStore()
    for layers in groups:
        for layer in layers:
            top = MemStore()
            _write(MemCells(top, [active], base), layer, model)
            active.merge_from(top)
        assert active.size_bytes == _expected_size(active)
        _check_reads(MemCells(MemStore(), [active], base), model, set(model) | set(base.content), [])
    active.flush_into(base)
    assert base.content == model


def test_reads_mind_bounds_prefixes_and_direction() -> None:
    base = DictCells({b"a": b"1", b"ab": b"2", b"abc": b"3", b"b": b"4", b"ba": b"5"})
    older = MemStore()
    older.put(b"ab", b"old")
    older.put(b"a\x00", b"6")
    top = MemStore()
    top.mark_deleted(b"ab")  # hides the older memstore's value and the base's
    top.put(b"abc", b"new")
    top.mark_deleted(b"zz")  # a marker for a key no layer has
    cells = MemCells(top, [older], base)
    everything = [(b"a", b"1"), (b"a\x00", b"6"), (b"abc", b"new"), (b"b", b"4"), (b"ba", b"5")]
    assert list(cells.items(b"")) == everything
    assert list(cells.items(b"", reverse=True)) == everything[::-1]
    assert list(cells.items(b"a", b"a")) == []
    assert list(cells.items(b"ab", b"ab", reverse=True)) == []
    assert list(cells.items(b"ab", b"abc")) == []  # only the deleted key in range
    assert list(cells.items(b"ab", b"abd")) == [(b"abc", b"new")]
    assert list(cells.items(b"a", b"ab", reverse=True)) == [(b"a\x00", b"6"), (b"a", b"1")]
    assert list(cells.items(b"abc", None, reverse=True)) == [(b"ba", b"5"), (b"b", b"4"), (b"abc", b"new")]
    assert list(cells.items(b"b", b"a")) == []  # start above stop
    assert cells.get(b"ab") is None and cells.get(b"abc") == b"new" and cells.get(b"zz") is None


def test_a_delete_marks_the_key_unless_nothing_lies_below() -> None:
    alone = MemCells(MemStore(), [], None)
    alone.put(b"k", b"v")
    alone.delete(b"k")
    assert len(alone.top) == 0 and alone.top.size_bytes == 0
    over = MemCells(MemStore(), [], DictCells({b"k": b"v"}))
    over.delete(b"k")
    assert over.top.lookup(b"k") is DELETED
    assert list(over.top.edits()) == [(b"k", None)]
    assert over.top.size_bytes == 1


def test_size_counts_keys_and_values_as_they_are_replaced() -> None:
    store = MemStore()
    store.put(b"key", b"value")
    assert store.size_bytes == 8
    store.put(b"key", b"v")
    assert store.size_bytes == 4
    store.mark_deleted(b"key")
    assert store.size_bytes == 3
    store.put(b"other", b"xy")
    other = MemStore()
    other.put(b"key", b"back")
    other.mark_deleted(b"other")
    store.merge_from(other)
    assert list(store.edits()) == [(b"key", b"back"), (b"other", None)]
    assert store.size_bytes == 7 + 5 and len(store) == 2


def test_a_scan_over_memory_and_a_large_base_reads_only_what_it_returns() -> None:
    base = CountingCells({b"k%05d" % i: b"v" for i in range(10_000)})
    top = MemStore()
    top.put(b"k00001x", b"m")
    top.mark_deleted(b"k00002")
    for reverse in (False, True):
        base.pulled = 0
        first = list(itertools.islice(MemCells(top, [], base).items(b"", reverse=reverse), 5))
        assert len(first) == 5
        assert base.pulled <= 7


# ---- apply and the version rules through memory layers, against plain LMDB cells ----

FAMILIES = {b"a": ColumnFamily("a"), b"b": ColumnFamily("b", max_versions=3)}
LONG = b"L" * 600  # a row whose cells live in one LMDB bucket
ROWS = [b"r", b"r\x00", b"ra", b"s", LONG]
START = 100
rows = st.sampled_from(ROWS)
families = st.sampled_from([b"a", b"b", b"a", b"b", b"x"])  # b"x" is no family: the row is refused
qualifiers = st.sampled_from([b"", b"q", b"q\x00"])
timestamps = st.none() | st.integers(START - 5, START + 40)
cell_values = st.sampled_from([b"", b"v", b"w"]) | st.integers(-3, 3).map(
    lambda n: n.to_bytes(8, "big", signed=True)
)
operations = st.one_of(
    st.builds(Put, families, qualifiers, cell_values, timestamps),
    st.builds(DeleteRow, timestamps),
    st.builds(DeleteFamily, families, timestamps),
    st.builds(DeleteColumn, families, qualifiers, timestamps),
    st.builds(DeleteVersion, families, qualifiers, timestamps),
)


def _mutation(row: bytes) -> st.SearchStrategy[RowMutation]:
    return st.builds(RowMutation, st.just(row), st.lists(operations, min_size=1, max_size=4).map(tuple))


writes: st.SearchStrategy[Write] = st.one_of(
    rows.flatmap(_mutation),
    st.builds(
        Increment,
        rows,
        st.lists(st.tuples(families, qualifiers, st.integers(-5, 5)), min_size=1, max_size=2).map(tuple),
    ),
    rows.flatmap(
        lambda row: st.builds(
            CheckAndPut, st.just(row), families, qualifiers, st.none() | cell_values, _mutation(row)
        )
    ),
)


def _answer(outcome: Outcome) -> object:
    return (type(outcome).__name__, str(outcome)) if isinstance(outcome, Exception) else outcome


def _rows_read(cells: Cells, now: int) -> list[object]:
    """Every row as a get reads it (regionserver.data.region_store.RegionStore.get), up to 3 versions."""
    selection = Selection.of(FAMILIES, ())
    view = RowVisibility(selection, now, max_versions=3)
    return [[view.cells(cells.items(a, b)) for a, b in selection.ranges(row)] for row in ROWS]


def _open(path: Path) -> tuple[lmdb.Environment, object]:
    environment = lmdb.open(str(path), map_size=1 << 24, max_dbs=1, sync=False)
    return environment, environment.open_db(b"cells")


@settings(max_examples=examples(120), deadline=None)
@given(st.lists(st.lists(writes, min_size=1, max_size=4), min_size=1, max_size=10), st.integers(1, 4))
def test_apply_through_merged_and_flushed_memstores_answers_as_plain_lmdb(
    groups: list[list[Write]], flush_every: int
) -> None:
    """(a) each group applied to OrderedCells of one environment; (b) each group applied to a fresh top
    over the active memstore (and a snapshot being flushed) over OrderedCells of another, the top merged
    into the active memstore after the group, the active memstore snapshotted every `flush_every` groups
    and the snapshot flushed into LMDB a group later. The answers, the rows read and the raw cells agree."""
    with tempfile.TemporaryDirectory(prefix="memstore-") as tmp:
        plain_env, plain_db = _open(Path(tmp) / "plain")
        mem_env, mem_db = _open(Path(tmp) / "mem")
        try:
            active, snapshot = MemStore(), None
            for i, group in enumerate(groups):
                now = START + i
                ctx = Context(FAMILIES, now, MAX_CELL_BYTES)
                with plain_env.begin(write=True) as txn:
                    plain = OrderedCells(txn, plain_db)
                    expected = [_answer(apply(plain, write, ctx)) for write in group]
                    expected_rows = _rows_read(plain, now)
                    expected_cells = list(plain.items(b""))
                top = MemStore()
                below = [active] if snapshot is None else [active, snapshot]
                with mem_env.begin() as txn:  # the base is only read: writes go to memory
                    got = [
                        _answer(apply(MemCells(top, below, OrderedCells(txn, mem_db)), w, ctx)) for w in group
                    ]
                    assert got == expected
                    active.merge_from(top)
                    cells = MemCells(MemStore(), below, OrderedCells(txn, mem_db))
                    assert _rows_read(cells, now) == expected_rows
                    assert list(cells.items(b"")) == expected_cells
                    assert list(cells.items(b"", reverse=True)) == expected_cells[::-1]
                if (i + 1) % flush_every == 0:
                    if snapshot is not None:
                        with mem_env.begin(write=True) as txn:
                            snapshot.flush_into(OrderedCells(txn, mem_db))
                    active, snapshot = MemStore(), active
            with mem_env.begin(write=True) as txn:
                for store in (snapshot, active):
                    if store is not None:
                        store.flush_into(OrderedCells(txn, mem_db))
                flushed = list(OrderedCells(txn, mem_db).items(b""))
            with plain_env.begin() as txn:
                assert flushed == list(OrderedCells(txn, plain_db).items(b""))
        finally:
            plain_env.close()
            mem_env.close()
