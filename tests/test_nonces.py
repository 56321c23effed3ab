"""Nonces of increments on real LMDB stores in this process (regionserver.data.nonces): a retried
increment is answered with its first values and applied once, also within one group commit; records
expire after the grace period and are purged as new ones are written; a split daughter recognises its
parent's records while it reads the parent, and keeps them once its fold has copied the parent's cells."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meta import ServerName, references
from meta.references import Reference
from meta.types import ColumnFamily
from regionserver.data import nonces
from regionserver.data.environments import Claim, Environments, region_dir
from regionserver.data.fold import fold
from regionserver.data.layered import ParentRange
from regionserver.data.mutations import Get, Increment
from regionserver.data.nonces import NONCE_TTL_MS, Record
from regionserver.data.region_store import RegionStore
from tests.test_region_store import Clock

FAMILIES = {b"f": ColumnFamily("f")}
SERVER = ServerName("127.0.0.1", 7000, 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def envs() -> Iterator[Environments]:
    made = Environments(capacity=8)
    yield made
    made.close_all()


def store_of(rootdir: Path, region_id: int, envs: Environments, clock: Clock, seq: int = 1) -> RegionStore:
    return RegionStore(
        region_dir(rootdir, "t", region_id), Claim(SERVER, seq), FAMILIES, environments=envs, clock=clock
    )


def inc(row: bytes, amount: int, nonce: int | None, group: int = 5) -> Increment:
    return Increment(row, ((b"f", b"a", amount), (b"f", b"b", 2 * amount)), (group, nonce) if nonce else None)


def value(store: RegionStore, row: bytes, qualifier: bytes = b"a") -> int:
    (cells,) = store.get([Get(row, ((b"f", qualifier),))])
    return int.from_bytes(cells[0].value, "big", signed=True) if cells else 0


def records(store: RegionStore) -> int:
    env = store.environment()
    with env.env.begin() as txn:
        return sum(1 for _ in nonces.records(txn, env.nonces_db))


def test_a_retry_is_answered_with_its_first_values_and_applied_once(
    tmp_path: Path, envs: Environments, clock: Clock
) -> None:
    store = store_of(tmp_path, 1, envs, clock)
    first = store.increment(inc(b"r", 1, nonce=9))
    assert first == {(b"f", b"a"): 1, (b"f", b"b"): 2}
    store.increment(inc(b"r", 10, nonce=10))  # another increment in between
    assert store.increment(inc(b"r", 1, nonce=9)) == first  # the retry: its first answer
    assert value(store, b"r") == 11 and value(store, b"r", b"b") == 22
    assert store.increment(inc(b"r", 1, nonce=9, group=6)) == {(b"f", b"a"): 12, (b"f", b"b"): 24}
    assert store.increment(inc(b"r", 1, nonce=None)) == {(b"f", b"a"): 13, (b"f", b"b"): 26}
    assert store.increment(inc(b"r", 1, nonce=None)) == {(b"f", b"a"): 14, (b"f", b"b"): 28}  # no nonce


def test_two_attempts_in_one_group_commit_count_once(
    tmp_path: Path, envs: Environments, clock: Clock
) -> None:
    store = store_of(tmp_path, 1, envs, clock)
    outcomes = store.apply([inc(b"r", 4, nonce=1), inc(b"r", 4, nonce=1), inc(b"r", 4, nonce=2)])
    assert [o[(b"f", b"a")] for o in outcomes if isinstance(o, dict)] == [4, 4, 8]


def test_records_expire_after_the_grace_period_and_are_purged_by_later_ones(
    tmp_path: Path, envs: Environments, clock: Clock
) -> None:
    store = store_of(tmp_path, 1, envs, clock)
    for n in range(1, 11):
        store.increment(inc(b"r", 1, nonce=n))
    assert records(store) == 10
    clock.now += NONCE_TTL_MS - 1
    assert store.increment(inc(b"r", 1, nonce=1))[(b"f", b"a")] == 1  # still remembered
    clock.now += 1
    assert store.increment(inc(b"r", 1, nonce=1))[(b"f", b"a")] == 11  # expired: a new increment
    # That write replaced nonce 1's record and purged PURGE_EACH expired ones, oldest first (2 to 5);
    # more writes purge the rest.
    assert records(store) == 10 - nonces.PURGE_EACH
    for n in range(100, 103):
        store.increment(inc(b"r", 1, nonce=n))
    assert records(store) == 4  # the one rewritten at the new time (nonce 1) and the three new


def test_a_daughter_recognises_its_parents_records_before_and_after_its_fold(
    tmp_path: Path, envs: Environments, clock: Clock
) -> None:
    parent = store_of(tmp_path, 10, envs, clock)
    parent.increment(inc(b"a-row", 1, nonce=1))
    parent.increment(inc(b"z-row", 1, nonce=2))
    daughter = store_of(tmp_path, 20, envs, clock, seq=5)
    reference = Reference(10, b"", b"m")
    references.write(daughter.path, [reference])
    daughter.parents = (ParentRange(reference, parent.path),)
    assert daughter.increment(inc(b"a-row", 1, nonce=1)) == {(b"f", b"a"): 1, (b"f", b"b"): 2}
    assert value(daughter, b"a-row") == 1
    fold(daughter)
    assert not daughter.has_references and references.read(daughter.path) is None
    assert records(daughter) == 1  # the parent's record of its row, not of the other daughter's
    assert daughter.increment(inc(b"a-row", 1, nonce=1))[(b"f", b"a")] == 1
    assert daughter.increment(inc(b"a-row", 1, nonce=3))[(b"f", b"a")] == 2


@given(
    written_ms=st.integers(0, 2**64 - 1),
    values=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
    row=st.binary(max_size=300),
)
def test_a_record_decodes_to_what_was_encoded(written_ms: int, values: list[int], row: bytes) -> None:
    record = Record(written_ms, tuple(values), row)
    assert Record.decode(record.encode()) == record
