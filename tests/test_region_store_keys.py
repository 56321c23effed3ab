"""The cell key encoding keeps HBase's order for any binary row, family and qualifier, and the ordered
map over LMDB (long keys in buckets) keeps it too, forward and backward."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regionserver.data import keys
from regionserver.data.ordered import SHORT, OrderedCells
from tests.hypothesis_profiles import examples

# Small alphabets make shared prefixes, 0x00 bytes and 0xFF bytes common.
parts = st.binary(max_size=6) | st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff", b"a"]), max_size=5).map(
    b"".join
)
timestamps = st.integers(0, keys.TS_MAX) | st.integers(0, 3)
cells = st.tuples(parts, parts, parts, timestamps)


def hbase_order(cell: tuple[bytes, bytes, bytes, int]) -> tuple[bytes, bytes, bytes, int]:
    row, family, qualifier, ts = cell
    return row, family, qualifier, -ts


@given(st.lists(cells, min_size=2, max_size=20))
def test_key_byte_order_is_row_family_qualifier_then_newest_first(given_cells: list) -> None:
    by_key = sorted(given_cells, key=lambda c: keys.cell_key(*c))
    assert [hbase_order(c) for c in by_key] == sorted(hbase_order(c) for c in given_cells)


@given(cells)
def test_cell_key_decodes_to_what_it_encodes(cell: tuple[bytes, bytes, bytes, int]) -> None:
    assert keys.decode(keys.cell_key(*cell)) == cell


def decoded_or_refused(key: bytes) -> object:
    try:
        return keys.decode(key)
    except ValueError:
        return ValueError


@given(cells, st.binary(max_size=4), st.integers(0, 30))
def test_any_corrupted_key_is_decoded_as_the_component_by_component_decoder_does(
    cell: tuple[bytes, bytes, bytes, int], noise: bytes, at: int
) -> None:
    key = keys.cell_key(*cell)
    for damaged in (key[:at] + noise + key[at:], key[:at] + key[at + len(noise) :], key[:at]):
        try:
            expected: object = keys._decode_slowly(damaged)
        except ValueError:
            expected = ValueError
        assert decoded_or_refused(damaged) == expected


@given(cells)
def test_a_cell_keys_row_prefix_is_its_rows_start_key(cell: tuple[bytes, bytes, bytes, int]) -> None:
    key = keys.cell_key(*cell)
    assert keys.row_prefix(key) == keys.row_start(cell[0])
    assert keys.row_end_of_start(keys.row_prefix(key)) == keys.row_end(cell[0])


@given(cells, parts)
def test_a_row_is_one_key_range_and_so_are_its_families_and_columns(
    cell: tuple[bytes, bytes, bytes, int], other_row: bytes
) -> None:
    row, family, qualifier, _ = cell
    key = keys.cell_key(*cell)
    assert keys.row_start(row) <= key < keys.row_end(row)
    assert keys.family_start(row, family) <= key < keys.family_end(row, family)
    assert keys.column_start(row, family, qualifier) <= key < keys.column_end(row, family, qualifier)
    inside = keys.row_start(other_row) <= key < keys.row_end(other_row)
    assert inside == (other_row == row)


@given(parts, parts)
def test_next_prefix_bounds_exactly_the_rows_with_the_prefix(prefix: bytes, row: bytes) -> None:
    after = keys.next_prefix(prefix)
    in_range = prefix <= row and (after is None or row < after)
    assert in_range == row.startswith(prefix)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[lmdb.Environment]:
    environment = lmdb.open(str(tmp_path / "env"), map_size=1 << 26, max_dbs=1, sync=False)
    yield environment
    environment.close()


# Cell keys are never empty (LMDB refuses empty keys); some are longer than LMDB's limit.
long_keys = st.builds(
    lambda head, tail: head + tail, st.sampled_from([b"", b"k" * (SHORT - 2), b"k" * SHORT]), parts
).filter(bool)


@settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(long_keys, st.binary(max_size=4), max_size=25),
    st.lists(long_keys, max_size=5),
    long_keys,
    st.none() | long_keys,
)
def test_ordered_map_with_long_keys_in_buckets_iterates_in_key_order(
    env: lmdb.Environment, content: dict[bytes, bytes], deleted: list[bytes], start: bytes, stop: bytes | None
) -> None:
    db = env.open_db(b"t")
    txn = env.begin(write=True)  # aborted at the end: every example starts from an empty database
    try:
        cells = OrderedCells(txn, db)
        for key, value in content.items():
            cells.put(key, value)
        for key in deleted:
            cells.delete(key)
            content.pop(key, None)
        expected = sorted((k, v) for k, v in content.items() if start <= k and (stop is None or k < stop))
        assert list(cells.items(start, stop)) == expected
        assert list(cells.items(start, stop, reverse=True)) == expected[::-1]
        for key in content:
            assert cells.get(key) == content[key]
    finally:
        txn.abort()
