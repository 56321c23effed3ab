"""The normalizer and the catalog janitor with the split and merge procedures and the RegionServers' store
side (real processes): a table that opted in, one region written large and two small neighbours; the
normalizer splits the large one and merges the small ones; once the children's folds are done the
janitor removes the three parents from meta and disk, and every row still reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import regent
from client.errors import RegionNotFound
from tests.cluster import Cluster, Daemons, wait_until

pytest.importorskip(
    "master.procedures.split_region", reason="needs the split and merge procedures (branch issue-10-procs)"
)

TABLE = "nj"
TIMEOUT_S = 120.0
VALUE = b"v" * 10_000
ROWS = {b"a": 1200, b"b": 120, b"c": 120, b"d": 400}  # about 12 MB, 1.2, 1.2 and 4 MB


def _online(admin: Any) -> list[Any]:
    return sorted(
        (r for r in admin.table_regions(TABLE) if not r.info.offline), key=lambda r: r.info.start_key
    )


def test_the_normalizer_splits_and_merges_and_the_janitor_removes_the_parents(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        admin = cluster.admin
        admin.create_table(
            TABLE, ["f"], split_keys=[b"b", b"c", b"d"], normalization_enabled=True, timeout=TIMEOUT_S
        )
        before = [r.region_id for r in cluster.wait_open(TABLE, 4)]
        with regent.connect(cluster.master_addresses, timeout=30) as conn:
            table = conn.table(TABLE)
            for prefix, count in ROWS.items():
                with table.batch(batch_size=50) as batch:
                    for i in range(count):
                        batch.put(prefix + b"%05d" % i, {b"f:q": VALUE})

        dry = admin.normalize(dry_run=True)
        assert [(p.kind, p.region_ids) for p in dry.plans] == [
            ("split", (before[0],)),
            ("merge", (before[1], before[2])),
        ], dry.reason
        run = admin.normalize()
        assert all(p.proc_id and not p.error for p in run.plans), run.plans

        def settled() -> list[Any] | None:
            up = _online(admin)
            ok = len(up) == 4 and all(r.state.name == "OPEN" and not r.proc_id for r in up)
            return up if ok and not set(before[:3]) & {r.region_id for r in up} else None

        wait_until(settled, TIMEOUT_S, "the split and the merge done", context=daemons.log_tails)

        def removed() -> list[int] | None:
            report = admin.catalog_janitor_run()
            gone = sorted(p.region_id for p in report.removed_parents)
            return gone or None

        gone: list[int] = []
        wait_until(
            lambda: gone.extend(removed() or []) or set(gone) >= set(before[:3]),
            TIMEOUT_S,
            "the janitor removed the three parents (once the folds are done)",
            context=daemons.log_tails,
        )
        assert sorted(gone) == sorted(before[:3])
        for region_id in before[:3]:
            assert not (tmp_path / "data" / TABLE / str(region_id)).exists()
            with pytest.raises(RegionNotFound):
                admin.get_region(region_id)
        assert admin.catalog_janitor_run().findings == ()
        with regent.connect(cluster.master_addresses, timeout=30) as conn:
            table = conn.table(TABLE)
            for prefix, count in ROWS.items():
                assert table.row(prefix + b"%05d" % (count - 1))[b"f:q"] == VALUE
    finally:
        cluster.close()
