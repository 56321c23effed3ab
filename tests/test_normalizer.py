"""The normalizer with real processes: its RPCs, SDK and CLI; a table that opted in is looked at (its empty
regions need nothing), and a RegionServer that does not report region sizes (one without RegionSizes
answers UNIMPLEMENTED) leaves its regions unplanned, said in the run's reason, with the master serving on;
the switch survives a master restart. What it plans and submits: test_normalizer_unit and
test_normalizer_plan against fakes, test_chores_split_merge with the split and merge procedures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.errors import TableNotFound
from regent.admin_cli import EXIT_REFUSED, EXIT_USAGE
from tests.cluster import Cluster, Daemons
from tests.test_admin_cli import _admin, _ok

TIMEOUT_S = 60.0


def test_normalize_switch_and_status_through_the_sdk_and_the_cli(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=2)
    try:
        admin = cluster.admin
        admin.create_table("plain", ["f"], num_regions=2, timeout=TIMEOUT_S)
        assert not admin.normalize().ran and "no table has normalization_enabled" in admin.normalize().reason
        admin.create_table("norm", ["f"], num_regions=4, normalization_enabled=True, timeout=TIMEOUT_S)
        cluster.wait_open("norm", 4)

        run = admin.normalize()
        assert run.ran and run.tables == 1 and run.regions == 4 and run.plans == ()
        assert run.reason.startswith("0 plans over 1 tables and 4 regions")
        if "sizes unknown from" in run.reason:  # RegionServers without RegionSizes (before issue-10-store)
            assert "UNIMPLEMENTED" in run.reason and "4 regions of unknown size left out" in run.reason
        status = admin.normalizer_status()
        assert status.on and status.period_s == 300 and status.last_run == run

        dry = admin.normalize(dry_run=True, tables=["norm", "plain"])
        assert dry.dry_run and "plain: normalization is not enabled" in dry.reason
        assert admin.normalizer_status().last_run == run  # a dry run is not kept
        with pytest.raises(TableNotFound, match="'nope'"):
            admin.normalize(tables=["nope"])
        with pytest.raises(ValueError, match="list of table names"):
            admin.normalize(tables="norm")

        assert admin.normalizer_switch(False) is True
        skipped = admin.normalize()
        assert not skipped.ran and "switched off" in skipped.reason
        assert admin.normalize(dry_run=True).ran  # a dry run runs with the switch off

        cluster.close()
        cluster.masters[0].stop()
        cluster.start_master(0)
        cluster.wait_live(2)
        assert cluster.admin.normalizer_status().on is False  # kept in meta
        assert cluster.admin.normalizer_status().last_run is None

        assert "normalizer switched on (it was off)" in _ok(cluster, "normalizer-switch", "on")
        shown = json.loads(_ok(cluster, "--json", "normalize", "--dry-run", "--table", "norm"))
        assert shown["ran"] and shown["dry_run"] and shown["regions"] == 4
        assert "dry run at" in _ok(cluster, "normalize", "--dry-run")
        _ok(cluster, "normalize")
        text = _ok(cluster, "normalizer-status")
        assert "normalizer on, every 300 s" in text and "0 plans over 1 tables and 4 regions" in text
        missing = _admin(cluster, "normalize", "--table", "nope")
        assert missing.returncode == EXIT_REFUSED and "TableNotFound" in missing.stderr
        bad = _admin(cluster, "normalize", "--table", "no such name!")
        assert bad.returncode == EXIT_USAGE and "not valid" in bad.stderr
        assert cluster.admin.cluster_status().master_epoch >= 1  # the master serves on
    finally:
        cluster.close()
