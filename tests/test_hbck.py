"""hbck and the catalog janitor with real processes: each kind of inconsistency planted on purpose (a region
closed behind the master's back, orphan directories, a hole in meta with the region still served) is found,
nothing else is, and fix repairs what it can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.errors import InvalidArgument
from meta import MetaStore, WriteBatch, keys
from meta.codec import decode_region_info
from regent.admin_cli import EXIT_INCONSISTENT
from regent.proto import common_pb2, master_pb2, regionserver_pb2, regionserver_pb2_grpc
from tests.cluster import Cluster, Daemons, open_channel, wait_until
from tests.failure_helpers import settled
from tests.test_admin_cli import _admin, _ok

TABLE = "h"
REGIONS = 6
TIMEOUT_S = 60.0


def _close_behind_the_masters_back(cluster: Cluster, region_id: int, address: str) -> None:
    """A close order straight to the RegionServer, under a procedure the master never made."""
    live = next(s.server for s in cluster.status().servers if s.server.address == address)
    target = common_pb2.ServerName(host=live.host, port=live.port, startcode=live.startcode)
    with open_channel(address, who="node") as channel:
        regionserver_pb2_grpc.RegionServerAdminStub(channel).ExecuteProcedures(
            regionserver_pb2.ExecuteProceduresRequest(
                target=target,
                master_epoch=cluster.status().master_epoch,
                closes=regionserver_pb2.Closes(region_ids=[region_id], proc_ids=[10**12]),
            ),
            timeout=5.0,
        )
    server = next(s for s in cluster.servers if s.address == address)
    wait_until(lambda: region_id not in (server.online() or {region_id: 0}), TIMEOUT_S, "the close")


def _kinds(report: object) -> list[tuple[str, int]]:
    return sorted((f.kind, f.region_id) for f in report.findings)  # type: ignore[attr-defined]


def test_hbck_finds_what_was_planted_and_fix_repairs_it(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=2)
    try:
        admin = cluster.admin
        assert admin.create_table(TABLE, ["f"], num_regions=REGIONS, timeout=TIMEOUT_S) == REGIONS
        cluster.wait_open(TABLE, REGIONS)
        clean = admin.hbck()
        assert clean.findings == () and clean.regions == REGIONS and clean.servers == 2
        assert admin.catalog_janitor_run().findings == ()

        victim = admin.table_regions(TABLE)[2]
        _close_behind_the_masters_back(cluster, victim.region_id, victim.server.address)
        orphans = [tmp_path / "data" / TABLE / "999999", tmp_path / "data" / "gone" / "5"]
        for path in orphans:
            path.mkdir(parents=True)
            (path / "data.mdb").write_bytes(b"x")

        found = admin.hbck()
        assert _kinds(found) == sorted(
            [("not_served", victim.region_id), ("orphan_dir", 5), ("orphan_dir", 999999)]
        )
        assert all(f.fix for f in found.findings) and not any(f.fixed for f in found.findings)
        assert admin.get_region(victim.region_id).state.name == "OPEN"  # a check changes nothing

        with pytest.raises(ValueError, match="fix=True"):
            admin.hbck(remove_orphan_dirs=True)
        fixed = admin.hbck(fix=True)
        by_kind = {f.kind: f for f in fixed.findings}
        assert by_kind["not_served"].fixed
        assert not by_kind["orphan_dir"].fixed and "remove_orphan_dirs" in by_kind["orphan_dir"].fix_error
        settled(cluster, {TABLE: REGIONS})  # reassigned: served again, by the server meta names
        assert all(path.exists() for path in orphans)

        removed = admin.hbck(fix=True, remove_orphan_dirs=True)
        assert [f.kind for f in removed.findings if f.fixed] == ["orphan_dir", "orphan_dir"]
        assert not any(path.exists() for path in orphans)
        assert admin.hbck().findings == ()
    finally:
        cluster.close()


def test_a_hole_in_meta_is_reported_and_the_region_still_served_is_closed(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        admin = cluster.admin
        assert admin.create_table(TABLE, ["f"], num_regions=REGIONS, timeout=TIMEOUT_S) == REGIONS
        cluster.wait_open(TABLE, REGIONS)
        gone = admin.table_regions(TABLE)[3]
        cluster.close()
        cluster.masters[0].stop()
        store = MetaStore.open(tmp_path / "meta")
        try:
            with store.snapshot() as snap:
                key = next(
                    k for k, v in snap.scan("regions") if decode_region_info(v).region_id == gone.region_id
                )
            batch = WriteBatch().delete("regions", key).delete("region_state", keys.u64(gone.region_id))
            assert store.apply([batch]) == [None]
        finally:
            store.close()
        cluster.start_master(0)
        cluster.wait_live(1)
        admin = cluster.admin

        janitor = admin.catalog_janitor_run()
        holes = janitor.of("hole")
        assert len(holes) == 1 and holes[0].table == TABLE
        assert repr(gone.info.start_key) in holes[0].detail
        status = admin.catalog_janitor_status()
        assert status.on and status.last_report == janitor

        report = admin.hbck(fix=True)
        assert [f.kind for f in report.findings if f.kind == "hole"] == ["hole"]
        orphan = report.of("orphan_on_server")
        server = cluster.servers[0]
        if orphan:  # (unless something else closed it first: a reconciliation of what servers serve)
            assert orphan[0].region_id == gone.region_id and orphan[0].fixed
        wait_until(
            lambda: gone.region_id not in (server.online() or {gone.region_id: 0}), TIMEOUT_S, "closed"
        )

        assert admin.catalog_janitor_switch(False) is True
        assert admin.catalog_janitor_status().on is False
        with pytest.raises(InvalidArgument, match="needs fix"):  # the SDK checks first; the master too
            admin._call("Hbck", master_pb2.HbckRequest(remove_orphan_dirs=True), admin._deadline(10))
    finally:
        cluster.close()


def test_regent_admin_hbck_says_what_it_will_do_and_asks_before_removing(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        assert json.loads(_ok(cluster, "--json", "hbck"))["findings"] == []
        orphan = tmp_path / "data" / "gone" / "7"
        orphan.mkdir(parents=True)

        found = _admin(cluster, "hbck")
        assert found.returncode == EXIT_INCONSISTENT
        assert "orphan_dir" in found.stdout and "remove the directory" in found.stdout
        kept = _admin(cluster, "hbck", "--fix")  # stdin is not a terminal: nobody confirmed
        assert kept.returncode == EXIT_INCONSISTENT and orphan.exists()
        assert "remove the directory" in kept.stderr and "orphan directories kept" in kept.stderr
        removed = _admin(cluster, "--json", "hbck", "--fix", "--yes")
        assert removed.returncode == 0, removed.stderr
        assert [f["fixed"] for f in json.loads(removed.stdout)["findings"]] == [True] and not orphan.exists()

        assert "consistent" in _ok(cluster, "catalog-janitor-run")
        assert "switched off (it was on)" in _ok(cluster, "catalog-janitor-switch", "off")
        status = json.loads(_ok(cluster, "--json", "catalog-janitor-status"))
        assert status["on"] is False and status["last_report"]["findings"] == []
    finally:
        cluster.close()
