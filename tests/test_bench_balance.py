"""`regent bench balance` runs end to end on a small table (its figures are for docs/benchmarks.md)."""

from __future__ import annotations

from regent.bench import balance


def test_bench_balance_reports_the_moves_and_ends_balanced() -> None:
    result = balance.run(60, 2, 2, quiet=True)
    assert result["benchmark"] == "balance"
    assert (result["regions"], result["servers"], result["joining"]) == (60, 2, 2)
    assert result["moves"] == result["minimum_moves"] == 30
    assert result["max_over_average"] <= 1.2
    assert result["seconds"] > 0
