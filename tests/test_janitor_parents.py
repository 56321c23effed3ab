"""The catalog janitor removes split and merged parents with real processes: rows of a split parent and of
two merged parents planted in a stopped master's meta (as a split and a merge leave them), with store
directories and children's REFERENCES files; a parent goes (store, then rows) only once no child names it,
and the merged child forgets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import RegionNotFound
from meta import MetaStore, RegionInfo, RegionState, WriteBatch, keys, references
from meta.codec import RegionStateRow, decode_region_info, encode_region_info, encode_region_state
from tests.cluster import Cluster, Daemons

TABLE = "jp"
TIMEOUT_S = 60.0
SPLIT_PARENT, MERGED_1, MERGED_2 = 2**40, 2**40 + 1, 2**40 + 2


def _plant(rootdir: Path, a: RegionInfo, b: RegionInfo) -> None:
    """P split into a and b; M1 [a.start, g) and M2 [g, a.end) merged into a."""
    rows = [
        RegionInfo(
            SPLIT_PARENT, TABLE, a.start_key, b.end_key, True, True, children=(a.region_id, b.region_id)
        ),
        RegionInfo(MERGED_1, TABLE, a.start_key, b"g", False, True, children=(a.region_id,)),
        RegionInfo(MERGED_2, TABLE, b"g", a.end_key, False, True, children=(a.region_id,)),
    ]
    states = [RegionState.SPLIT, RegionState.MERGED, RegionState.MERGED]
    child = RegionInfo(a.region_id, TABLE, a.start_key, a.end_key, parents=(MERGED_1, MERGED_2))
    batch = WriteBatch()
    for info, state in zip(rows, states, strict=True):
        batch.put("regions", keys.region_key(TABLE, info.start_key, info.region_id), encode_region_info(info))
        batch.put("region_state", keys.u64(info.region_id), encode_region_state(RegionStateRow(state)))
    batch.put("regions", keys.region_key(TABLE, child.start_key, child.region_id), encode_region_info(child))
    store = MetaStore.open(rootdir / "meta")
    try:
        assert store.apply([batch]) == [None]
    finally:
        store.close()
    for region_id in (SPLIT_PARENT, MERGED_1, MERGED_2):
        (_dir(rootdir, region_id) / "data.mdb").parent.mkdir(parents=True)
        (_dir(rootdir, region_id) / "data.mdb").write_bytes(b"cells")
    references.write(_dir(rootdir, b.region_id), [references.Reference(SPLIT_PARENT, b.start_key, b.end_key)])
    references.write(_dir(rootdir, a.region_id), [references.Reference(MERGED_2, b"g", a.end_key)])


def _dir(rootdir: Path, region_id: int) -> Path:
    return rootdir / "data" / TABLE / str(region_id)


def _meta_regions(rootdir: Path) -> tuple[dict[int, RegionInfo], set[int]]:
    """The table's RegionInfo rows in meta, and the ids of every region_state row."""
    store = MetaStore.open(rootdir / "meta")
    try:
        with store.snapshot() as snap:
            infos = [decode_region_info(v) for _, v in snap.scan("regions")]
            states = {keys.from_u64(k) for k, _ in snap.scan("region_state")}
    finally:
        store.close()
    return {i.region_id: i for i in infos if i.table == TABLE}, states


def test_parents_go_only_once_no_child_references_them(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path).start(servers=1)
    try:
        admin = cluster.admin
        admin.create_table(TABLE, ["f"], split_keys=[b"m"], timeout=TIMEOUT_S)
        a, b = (r.info for r in cluster.wait_open(TABLE, 2))
        cluster.close()
        cluster.masters[0].stop()
        _plant(tmp_path, a, b)
        cluster.start_master(0)
        cluster.wait_live(1)
        admin = cluster.admin
        assert admin.get_region(SPLIT_PARENT).state.name == "SPLIT"

        first = admin.catalog_janitor_run()
        assert [(p.region_id, p.kind) for p in first.removed_parents] == [(MERGED_1, "merge")]
        kept = {p.region_id: p.reason for p in first.kept_parents}
        assert first.parents_kept == 2 and "still references its store" in kept[SPLIT_PARENT]
        assert "still references its store" in kept[MERGED_2]
        assert first.findings == ()  # the parents are offline: no hole, no overlap
        assert not _dir(tmp_path, MERGED_1).exists() and _dir(tmp_path, MERGED_2).exists()
        with pytest.raises(RegionNotFound):
            admin.get_region(MERGED_1)
        assert admin.catalog_janitor_status().last_report == first

        references.remove(_dir(tmp_path, a.region_id))  # the folds are done
        references.remove(_dir(tmp_path, b.region_id))
        second = admin.catalog_janitor_run()
        assert sorted(p.region_id for p in second.removed_parents) == [SPLIT_PARENT, MERGED_2]
        assert second.parents_kept == 0 and second.findings == ()
        for region_id in (SPLIT_PARENT, MERGED_2):
            assert not _dir(tmp_path, region_id).exists()
            with pytest.raises(RegionNotFound):
                admin.get_region(region_id)
        assert admin.catalog_janitor_run().removed_parents == ()  # nothing left to do
        assert {r.region_id for r in admin.table_regions(TABLE)} == {a.region_id, b.region_id}

        cluster.close()
        cluster.masters[0].stop()
        left, states = _meta_regions(tmp_path)
        assert set(left) == {a.region_id, b.region_id}
        assert not states & {SPLIT_PARENT, MERGED_1, MERGED_2}
        assert left[a.region_id].parents == ()  # the merged child forgot its parents
    finally:
        cluster.close()


def test_a_references_file_that_cannot_be_parsed_names_every_parent(tmp_path: Path) -> None:
    from master.chores.parent_cleanup import read_references

    references.write(_dir(tmp_path, 7), [references.Reference(3, b"", b"")])
    _dir(tmp_path, 8).mkdir(parents=True)
    (_dir(tmp_path, 8) / references.FILE_NAME).write_text("{not json")
    named = read_references(tmp_path, {7: TABLE, 8: TABLE, 9: TABLE})
    assert named == {7: frozenset({3}), 8: None, 9: frozenset()}  # 9: no directory, no file
