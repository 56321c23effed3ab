"""Automatic splits end to end: a table written from empty grows from one region to several, each split
asked for by the RegionServer's size policy (RequestSplit) and carried out by the master's split_region
procedure with cause auto_split; every row written stays readable and no region is served twice.

The policy's unit tests are tests/test_auto_split.py (an in-process master); this runs real processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import regent
from tests.cluster import Cluster, Daemons, wait_until

TABLE = "grow"
ROWS = 400
VALUE = b"x" * 4096  # 400 rows of 4 KiB: about 1.6 MiB, past a 1 MiB table's first thresholds
MASTER_ARGS = ("--heartbeat-ms", "200", "--lease-ms", "3000", "--startup-grace-ms", "500")


@pytest.fixture
def cluster(daemons: Daemons, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(daemons, tmp_path / "root", master_args=MASTER_ARGS).start(2)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.slow
def test_a_table_written_from_empty_is_split_by_its_regionservers_requests(cluster: Cluster) -> None:
    admin = cluster.admin
    admin.create_table(TABLE, ["f"], max_region_size=1 << 20, timeout=60)
    rows = [b"row-%04d" % i for i in range(ROWS)]
    with regent.connect(cluster.master_addresses, timeout=60) as conn:
        table = conn.table(TABLE)
        for start in range(0, ROWS, 20):
            with table.batch() as batch:
                for row in rows[start : start + 20]:
                    batch.put(row, {b"f:q": VALUE})

        def grown() -> list[object] | None:
            regions = [r for r in admin.table_regions(TABLE) if not r.info.offline]
            busy = admin.cluster_status().regions_in_transition
            ok = len(regions) >= 2 and not busy and all(r.state.name == "OPEN" for r in regions)
            return regions if ok else None

        regions = wait_until(
            grown, 90, "the table split by its RegionServers", context=cluster.daemons.log_tails
        )
        retired = [r for r in admin.table_regions(TABLE) if r.info.offline]
        assert retired and all(r.state.name == "SPLIT" for r in retired)
        causes = {s.cause for r in retired for s in admin.region_story(r.region_id).steps}
        assert "auto_split" in causes, causes
        served = cluster.served()
        assert all(len(served.get(r.region_id, [])) == 1 for r in regions)  # type: ignore[attr-defined]
        for row in rows[::37]:
            assert table.row(row) == {b"f:q": VALUE}, row
