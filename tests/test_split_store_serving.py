"""A child region with references, served by a real RegionServer process (mutual TLS, a real master): it
reads its parent's store at once, folds it in the background and then is a plain region that SplitPoint
and RegionSizes describe; a malformed REFERENCES file fails the open with its reason while the daemons keep
running. The master's split procedure (another part of issue 10) is stood in for by the test: it turns a
region's store into a parent's between a disable and an enable, as the procedure would before opening the
daughters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import regent
from meta import references
from meta.references import Reference
from regent.proto import regionserver_pb2, regionserver_pb2_grpc
from regionserver.data import region_dir
from tests.cluster import Cluster, module_cluster, open_channel, wait_until

PARENT = 900_000_001  # an id no region of these tests has: the stand-in parent's store


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=1) as made:
        yield made


@pytest.fixture(scope="module")
def conn(cluster: Cluster) -> Iterator[regent.Connection]:  # type: ignore[name-defined]
    with regent.connect(cluster.master_addresses, timeout=30.0) as connection:
        yield connection


def as_child_of_parent(cluster: Cluster, table: str, parent: int) -> tuple[int, Path]:
    """Disable `table` (one region), move its store to `parent`'s directory, reference it; the region id
    and its store directory (enable the table to open it)."""
    (region,) = cluster.admin.table_regions(table)
    cluster.admin.disable_table(table)
    store = region_dir(cluster.rootdir, table, region.region_id)
    store.rename(region_dir(cluster.rootdir, table, parent))
    references.write(store, [Reference(parent, b"", b"")])
    return region.region_id, store


def test_a_child_serves_its_parents_rows_folds_them_and_can_then_split(
    cluster: Cluster, conn: object
) -> None:
    cluster.admin.create_table("refs", {"f": None})
    table = conn.table("refs")  # type: ignore[attr-defined]
    with table.batch() as batch:
        for i in range(300):
            batch.put(b"r%03d" % i, {b"f:q": b"v%d" % i})
    region_id, store = as_child_of_parent(cluster, "refs", PARENT)
    cluster.admin.enable_table("refs")
    cluster.wait_open("refs", 1)
    table.delete(b"r007")  # a parent's cell deleted by the child: stays deleted through the fold
    table.put(b"r008", {b"f:q": b"new"})
    wait_until(
        lambda: not (store / "REFERENCES").exists(),
        30,
        "the fold to remove REFERENCES",
        context=cluster.daemons.log_tails,
    )
    rows = dict(table.scan())
    assert len(rows) == 299 and b"r007" not in rows and rows[b"r008"] == {b"f:q": b"new"}
    assert rows[b"r123"] == {b"f:q": b"v123"}
    (server,) = cluster.servers
    assert server.has_event("region_folded")
    with open_channel(server.address) as channel:
        rs = regionserver_pb2_grpc.RegionServerAdminStub(channel)
        point = rs.SplitPoint(regionserver_pb2.SplitPointRequest(region_id=region_id), timeout=10)
        assert b"r120" < point.split_key < b"r180" and point.region_bytes > 0
        sizes = rs.RegionSizes(regionserver_pb2.RegionSizesRequest(), timeout=10)
        assert region_id in sizes.region_ids and not any(sizes.has_references)
        with pytest.raises(grpc.RpcError) as refused:
            rs.SplitPoint(regionserver_pb2.SplitPointRequest(region_id=region_id, split_key=b""), timeout=10)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not strictly inside" in (refused.value.details() or "")
        with pytest.raises(grpc.RpcError) as unknown:
            rs.SplitPoint(regionserver_pb2.SplitPointRequest(region_id=123456789), timeout=10)
        assert "is not served by" in (unknown.value.details() or "")


def test_a_malformed_references_file_fails_the_open_with_its_reason_and_the_daemons_keep_running(
    cluster: Cluster, conn: object
) -> None:
    cluster.admin.create_table("broken", {"f": None})
    table = conn.table("broken")  # type: ignore[attr-defined]
    table.put(b"a", {b"f:q": b"1"})
    region_id, store = as_child_of_parent(cluster, "broken", PARENT + 1)
    (store / "REFERENCES").write_bytes(b"{not json")
    cluster.admin.enable_table("broken", wait=False)
    (server,) = cluster.servers

    def failed() -> bool:
        return any(
            e.get("event") == "open_failed"
            and e.get("region") == region_id
            and "REFERENCES" in e.get("reason", "")
            for e in server.events()
        )

    wait_until(failed, 30, "the open to fail on REFERENCES", context=cluster.daemons.log_tails)
    assert (store / "REFERENCES").read_bytes() == b"{not json"  # nothing changed
    assert server.alive
    references.write(store, [Reference(PARENT + 1, b"", b"")])  # repaired: the next open serves it

    def served() -> bool:
        with contextlib.suppress(Exception):  # already assigned again by the master's retries
            cluster.admin.assign(region_id, wait=True, timeout=10)
        return table.row(b"a") == {b"f:q": b"1"}

    wait_until(served, 60, "the repaired region to serve", context=cluster.daemons.log_tails)
