"""The YCSB workload model of `regent bench data` (regent.bench.ycsb): pure, no cluster."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regent.bench import ycsb


def test_keys_are_ycsbs_hashed_user_keys() -> None:
    assert ycsb.key(0) == b"user%d" % ycsb.fnv1a64(0)
    assert len({ycsb.key(i) for i in range(10_000)}) == 10_000
    keys = [ycsb.key(i) for i in range(1000)]
    assert keys != sorted(keys), "hashed insert order scatters consecutive records"


@given(st.integers(0, 2**63 - 1))
def test_the_hash_is_a_non_negative_java_long(value: int) -> None:
    assert 0 <= ycsb.fnv1a64(value) < 2**63


def test_the_zipfian_is_skewed_towards_the_first_items_and_stays_in_range() -> None:
    rng = random.Random(7)
    zipf = ycsb.Zipfian(1000)
    counts = Counter(zipf.next(rng) for _ in range(50_000))
    assert all(0 <= k < 1000 for k in counts)
    assert counts[0] > counts[1] > counts[10] > counts.get(500, 0)
    assert counts[0] / 50_000 > 0.05  # theta 0.99 over 1000 items: about 13% on the first


def test_the_scrambled_zipfian_spreads_its_hot_records() -> None:
    rng = random.Random(3)
    keys = ycsb.ScrambledZipfian(100_000)
    counts = Counter(keys.next(rng) for _ in range(20_000))
    assert all(0 <= k < 100_000 for k in counts)
    hottest = [k for k, _ in counts.most_common(5)]
    assert max(hottest) - min(hottest) > 1000, "hot records are not neighbours"
    assert counts.most_common(1)[0][1] > 20 * 20_000 / 100_000


@pytest.mark.parametrize("name", sorted(ycsb.WORKLOADS))
def test_a_stream_follows_its_workloads_mix(name: str) -> None:
    workload = ycsb.WORKLOADS[name]
    stream = ycsb.Stream(workload, 10_000, seed=1, next_insert=10_000, stride=4)
    ops = [stream.next() for _ in range(20_000)]
    kinds = Counter(op.kind for op in ops)
    for kind in ("read", "update", "scan", "insert"):
        assert abs(kinds[kind] / len(ops) - getattr(workload, kind)) < 0.02, (kind, kinds)
    inserts = [op.row for op in ops if op.kind == "insert"]
    assert inserts == [ycsb.key(10_000 + 4 * i) for i in range(len(inserts))]
    assert all(1 <= op.length <= ycsb.MAX_SCAN_LENGTH for op in ops if op.kind == "scan")
    assert all(0 <= op.field < ycsb.FIELDS for op in ops if op.kind == "update")


def test_split_keys_share_the_records_equally() -> None:
    splits = ycsb.split_keys(10_000, 10)
    assert splits == sorted(splits) and len(splits) == 9
    keys = sorted(ycsb.key(i) for i in range(10_000))
    bounds = [b"", *splits]
    shares = [
        sum(1 for k in keys if lo <= k and (i + 1 == len(bounds) or k < bounds[i + 1]))
        for i, lo in enumerate(bounds)
    ]
    assert shares == [1000] * 10


def test_a_record_has_ten_fields_of_a_hundred_bytes() -> None:
    data = ycsb.record(random.Random(1))
    assert sorted(data) == sorted(ycsb.COLUMNS) and all(len(v) == 100 for v in data.values())


def test_percentiles_by_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert ycsb.percentile(values, 0.5) == 50.0
    assert ycsb.percentile(values, 0.99) == 99.0
    assert ycsb.percentile(values, 1.0) == 100.0
    assert ycsb.percentile([], 0.5) == 0.0


def test_a_workload_must_add_up() -> None:
    with pytest.raises(ValueError, match="add up to 1"):
        ycsb.Workload("X", read=0.5)
