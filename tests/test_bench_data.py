"""`regent bench data` runs end to end on a small table (its figures are for docs/benchmarks.md, not here)."""

from __future__ import annotations

import random

from regent.bench import data, ycsb


def test_bench_data_reports_the_load_and_each_workload_beside_its_floors() -> None:
    lines = data.run(2000, 4, 2, 2, 0.5, workloads=("A", "E"), quiet=True)
    load, *workloads = lines
    assert load["workload"] == "load" and load["cells_per_s"] > 0 and load["rows"] == 2000
    assert [w["workload"] for w in workloads] == ["A", "E"]
    for line in workloads:
        assert line["benchmark"] == "data"
        assert line["ops_per_s"] > 0 and 0 < line["p50_ms"] <= line["p99_ms"]
        assert line["floor_ops_per_s"] > 0 and line["transport_floor_ops_per_s"] > 0


def test_ycsb_keys_spread_over_the_regions_and_zipfian_picks_loaded_records() -> None:
    splits = ycsb.split_keys(8)
    counts = [0] * 8
    for n in range(4000):
        counts[sum(ycsb.key(n) >= s for s in splits)] += 1
    assert min(counts) > 300  # even enough: 500 each on average
    zipf = ycsb.ScrambledZipfian(1000, random.Random(1))
    picks = [zipf.next() for _ in range(5000)]
    assert all(0 <= p < 1000 for p in picks)
    top = max(picks.count(p) for p in set(picks))
    assert top > 5000 / 1000 * 10  # skewed: the hottest record far above the uniform share
    assert ycsb.fnv64(0) == 0xCBF29CE484222325 * 1099511628211**8 % 2**64 or ycsb.fnv64(0) > 0
