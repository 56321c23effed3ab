"""hbck inside the stores and after a bypassed split, with real processes.

- After a real split whose folds are done, REFERENCES files are planted by hand (a file that cannot be
  parsed, an entry naming a parent whose store was removed, a file in a region that is no child): hbck
  reports exactly those, and --fix repairs none of them (report only).
- A split (or merge) stopped past its point of no return (REGENT_HALT_AFTER="split_region:commit", then a
  master whose RegionServers are paused so that the procedure cannot go on) and bypassed leaves its
  daughters SPLITTING_NEW (the merged child MERGING_NEW) with no procedure: the janitor and hbck report
  them, hbck --fix opens them, and every row written before is readable.
- The same bypass before the point of no return (halted after "references") leaves the parent CLOSED and
  the daughters' directories behind: hbck reports the parent not deployed and the directories as orphans
  holding REFERENCES; --fix assigns the parent and removes the directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import regent
from meta import RegionState, references
from regent.admin_cli import EXIT_INCONSISTENT
from tests.cluster import Cluster, Daemons, wait_until
from tests.test_admin_cli import _admin
from tests.test_procedure_crashes import (
    TABLE,
    Crash,
    restart_with_servers_paused,
    start_crash_cluster,
    wait_halted,
)
from tests.test_split_merge_crashes import check_outcome, prepare, submit_once, the_procedure

S = RegionState
TIMEOUT_S = 60.0
ROWS = [b"h%02d" % i for i in range(20)]  # all in the middle region [g, p)


def _kinds(report: object) -> list[tuple[str, int]]:
    return sorted((f.kind, f.region_id) for f in report.findings)  # type: ignore[attr-defined]


def _wait_for_kinds(admin: Any, expected: list[tuple[str, int]], what: str) -> None:
    """Until hbck reports exactly `expected` (kind, region id) findings."""
    seen: list[object] = []

    def reported() -> bool | None:
        report = admin.hbck()
        seen[:] = [report.findings]
        return _kinds(report) == expected or None

    wait_until(reported, TIMEOUT_S, what, interval=0.5, context=lambda: str(seen))


def _store(rootdir: Path, region_id: int) -> Path:
    return rootdir / "data" / TABLE / str(region_id)


def test_hbck_reports_references_that_cannot_be_read_or_name_what_is_gone(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        admin = cluster.admin
        admin.create_table(TABLE, ["f"], split_keys=[b"g", b"p"], timeout=TIMEOUT_S)
        first, middle, last = cluster.wait_open(TABLE, 3)
        with regent.connect(cluster.master_addresses, timeout=30) as conn:
            table = conn.table(TABLE)
            for row in ROWS:
                table.put(row, {b"f:q": row})
        admin.split(middle.region_id, b"h10", timeout=TIMEOUT_S)
        regions = cluster.wait_open(TABLE, 4)
        low, high = (r for r in regions if r.region_id not in (first.region_id, last.region_id))

        def folded() -> bool | None:
            return all(references.read(_store(tmp_path, d.region_id)) is None for d in (low, high)) or None

        wait_until(folded, TIMEOUT_S, "the daughters' folds")
        assert admin.hbck().findings == ()

        (_store(tmp_path, low.region_id) / references.FILE_NAME).write_bytes(b"{not json")
        parent = middle.region_id
        references.write(_store(tmp_path, high.region_id), [references.Reference(parent, b"h10", b"p")])
        references.write(_store(tmp_path, last.region_id), [references.Reference(parent, b"h10", b"p")])
        gone = _store(tmp_path, parent).rename(tmp_path / "parent-store")  # the parent's store removed

        found = admin.hbck()
        assert _kinds(found) == sorted(
            [
                ("references_unreadable", low.region_id),
                ("broken_reference", high.region_id),
                ("stray_references", last.region_id),
            ]
        ), found.findings
        by_kind = {f.kind: f for f in found.findings}
        assert "not UTF-8 JSON" in by_kind["references_unreadable"].detail
        assert by_kind["references_unreadable"].path.endswith(f"{low.region_id}/REFERENCES")
        assert "store directory is gone" in by_kind["broken_reference"].detail
        assert "data loss" in by_kind["broken_reference"].detail
        assert not any(f.fix for f in found.findings)
        fixed = admin.hbck(fix=True)
        assert _kinds(fixed) == _kinds(found) and not any(f.fixed for f in fixed.findings)

        cli = _admin(cluster, "hbck", "--fix")
        assert cli.returncode == EXIT_INCONSISTENT, cli.stderr
        for kind in by_kind:
            assert kind in cli.stdout
        assert "(report only)" in cli.stdout
        kept = {p.region_id for p in admin.catalog_janitor_run().kept_parents}
        assert parent in kept  # the janitor keeps a parent a child may still read

        gone.rename(_store(tmp_path, parent))
        for region in (low, high, last):
            references.remove(_store(tmp_path, region.region_id))
        assert admin.hbck().findings == ()
    finally:
        cluster.close()


def _read_back(crash: Crash, rows: list[bytes]) -> None:
    with regent.connect(crash.cluster.master_addresses, timeout=30) as conn:
        table = conn.table(TABLE)
        for row in rows:
            assert table.row(row) == {b"f:q": b"v-" + row}, f"row {row!r} unreadable"


def _bypassed(
    daemons: Daemons, rootdir: Path, step: str, kind: str = "split_region"
) -> tuple[Crash, list[int], int]:
    """A split (or merge) halted after `step`, then bypassed on a new master (its RegionServers paused
    meanwhile, so that the procedure cannot go on, then resumed)."""
    crash = start_crash_cluster(daemons, rootdir, f"{kind}:{step}", "restart")
    parents, _ = prepare(crash, kind)
    submit_once(crash, kind, parents)
    wait_halted(crash)
    _, servers = restart_with_servers_paused(crash)
    admin = crash.cluster.admin
    proc_id = the_procedure(admin, kind)
    admin.bypass(proc_id)
    for server in servers:
        server.resume()
    return crash, parents, proc_id


@pytest.mark.parametrize("kind", ["split_region", pytest.param("merge_regions", marks=pytest.mark.slow)])
def test_children_a_bypass_left_unopened_are_reported_and_opened_by_fix(
    daemons: Daemons, tmp_path: Path, kind: str
) -> None:
    crash, parents, _ = _bypassed(daemons, tmp_path / "root", "commit", kind)
    try:
        admin = crash.cluster.admin
        children = admin.get_region(parents[0]).info.children
        assert len(children) == (2 if kind == "split_region" else 1)
        new = S.SPLITTING_NEW if kind == "split_region" else S.MERGING_NEW
        expected = sorted(("unfinished_child", c) for c in children)
        _wait_for_kinds(admin, expected, "hbck reporting the children")
        assert sorted(f.region_id for f in admin.catalog_janitor_run().of("unfinished_child")) == sorted(
            children
        )
        for child in children:
            region = admin.get_region(child)
            assert region.state is new and not region.proc_id

        cli = _admin(crash.cluster, "hbck")
        assert cli.returncode == EXIT_INCONSISTENT, cli.stderr
        assert "unfinished_child" in cli.stdout and "open it" in cli.stdout

        fixed = admin.hbck(fix=True)
        assert [(f.kind, f.fixed) for f in fixed.findings] == [("unfinished_child", True)] * len(children)
        check_outcome(crash, admin, parents, done=True)
        _read_back(crash, [b"a", b"h", b"q"])
        wait_until(lambda: admin.hbck().findings == () or None, TIMEOUT_S, "hbck clean")
    finally:
        crash.cluster.close()


def test_a_parent_a_bypass_left_closed_is_assigned_and_the_unborn_daughters_removed(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    crash, parents, proc_id = _bypassed(daemons, rootdir, "references")
    try:
        admin = crash.cluster.admin
        unborn = [int(d.name) for d in (rootdir / "data" / TABLE).iterdir() if references.read(d) is not None]
        assert len(unborn) == 2
        expected = sorted([("not_deployed", parents[0]), *(("orphan_dir", d) for d in unborn)])
        _wait_for_kinds(admin, expected, "hbck reporting the parent and the directories")
        assert all("REFERENCES" in f.detail for f in admin.hbck().of("orphan_dir"))
        assert admin.get_region(parents[0]).state is S.CLOSED

        fixed = admin.hbck(fix=True, remove_orphan_dirs=True)
        assert all(f.fixed for f in fixed.findings), fixed.findings
        check_outcome(crash, admin, parents, done=False)  # also: no directory of no region left
        _read_back(crash, [b"a", b"h", b"q"])
        assert admin.get_procedure(proc_id).state == "FAILED"
    finally:
        crash.cluster.close()
