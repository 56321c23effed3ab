"""`regent bench ddl` runs end to end on a small table (its figures are for docs/benchmarks.md, not here)."""

from __future__ import annotations

from regent.bench import ddl


def test_bench_ddl_reports_every_operation_and_retains_regions_on_enable() -> None:
    result = ddl.run(60, 2, quiet=True)
    for name in ("create", "disable", "enable", "modify", "delete"):
        assert result[f"{name}_seconds"] > 0
        assert result["master_seconds"][name] > 0
    assert result["enable_retained"] == 1.0
    assert (result["regions"], result["servers"]) == (60, 2)
