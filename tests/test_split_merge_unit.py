"""split_region and merge_regions in one process: the real assignment core, executor and TableAdmin, meta
replaced by the recorded batches, RegionServers by a loop answering every order (tests/test_procedures_unit's
Harness). The same procedures against real processes, LMDB and SIGKILL: tests/test_split_merge.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from master import split_assign
from master.admin import TableAdmin
from master.assignment import CLOSED, Effects, OpenOrders
from master.dispatch import _table_opens
from master.errors import (
    InvalidArgument,
    MergeDisabled,
    RegionInTransition,
    RegionNotFound,
    SplitDisabled,
    TableLocked,
)
from master.procedures import DisableTable, ProcState
from master.regions import RegionNode
from meta import RegionInfo, RegionState, ServerName, TableSettings, TransitKind, digest, references
from meta.references import Reference
from tests.test_procedures_unit import SERVERS, Harness, _create, _started, run

S = RegionState


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def _node(h: Harness, index: int) -> object:
    return h.catalog.regions.table("t")[index]


async def _ready(h: Harness, regions: int = 4) -> tuple[TableAdmin, asyncio.Task[None]]:
    runner = await _started(h)
    await h.until(await _create(h, regions))
    return TableAdmin(h.executor), runner


async def _split_held(
    h: Harness, index: int, split_key: bytes | None = None
) -> tuple[asyncio.Task[None], RegionNode, int]:
    """A split of region `index` of table t, held at wait_closed (the parent's close is not answered):
    the runner, the parent and the split's procedure id."""
    admin, runner = await _ready(h)
    parent = h.catalog.regions.table("t")[index]
    h.hold = True
    proc = await admin.split(parent.region_id, split_key or parent.info.start_key + b"\x01")
    await h.until_true(lambda: h.executor.procs[proc].step == "wait_closed")
    return runner, parent, proc


def _online(h: Harness) -> list[tuple[bytes, bytes, RegionState]]:
    return [
        (n.info.start_key, n.info.end_key, n.state)
        for n in h.catalog.regions.table("t")
        if not n.info.offline
    ]


def test_a_split_retires_the_parent_and_opens_two_daughters_reading_its_store(h: Harness) -> None:
    async def scenario() -> None:
        admin, runner = await _ready(h)
        parent = h.catalog.regions.table("t")[1]
        start, end = parent.info.start_key, parent.info.end_key
        key = start + b"\x80"
        proc = await admin.split(parent.region_id, key)
        record = await h.until(proc)
        assert record.state == ProcState.SUCCESS, record
        assert parent.state is S.SPLIT and parent.proc_id == 0
        assert parent.info.split and parent.info.offline
        a, b = (h.catalog.regions.get(c) for c in parent.info.children)
        assert a is not None and b is not None
        assert (a.info.start_key, a.info.end_key, b.info.start_key, b.info.end_key) == (start, key, key, end)
        assert a.state is S.OPEN and b.state is S.OPEN and not a.proc_id and not b.proc_id
        for child, ref in (
            (a, Reference(parent.region_id, start, key)),
            (b, Reference(parent.region_id, key, end)),
        ):
            assert references.read(h.env.rootdir / "data" / "t" / str(child.region_id)) == [ref]
        assert [e[2] for e in _online(h)] == [S.OPEN] * 5  # four regions, one split in two
        assert h.am.settled() and h.executor.get(proc) is not None
        _digests_agree(h)
        runner.cancel()

    run(scenario())


def _digests_agree(h: Harness) -> None:
    """Each server's digest (what master.reconcile compares) is that of the regions OPEN on it."""
    for server in SERVERS:
        pairs = [
            (n.region_id, n.open_seq_num) for n in h.am.regions if n.state is S.OPEN and n.server == server
        ]
        held = h.am.digests.get(server)
        assert (held.value() if held is not None else (0, 0)) == digest.of(pairs), server


def test_a_merge_of_adjacent_regions_makes_one_child_that_records_its_parents(h: Harness) -> None:
    async def scenario() -> None:
        admin, runner = await _ready(h)
        first, second = h.catalog.regions.table("t")[1:3]
        proc = await admin.merge([second.region_id, first.region_id])  # any order: sorted by key
        assert (await h.until(proc)).state == ProcState.SUCCESS
        (child_id,) = first.info.children
        child = h.catalog.regions.get(child_id)
        assert child is not None and child.state is S.OPEN
        assert child.info.parents == (first.region_id, second.region_id)
        assert (child.info.start_key, child.info.end_key) == (first.info.start_key, second.info.end_key)
        assert first.state is S.MERGED and second.state is S.MERGED and not first.info.split
        refs = references.read(h.env.rootdir / "data" / "t" / str(child_id))
        assert refs == [
            Reference(first.region_id, first.info.start_key, first.info.end_key),
            Reference(second.region_id, second.info.start_key, second.info.end_key),
        ]
        assert len(_online(h)) == 3
        _digests_agree(h)
        runner.cancel()

    run(scenario())


def test_bad_splits_and_merges_are_refused_with_named_errors(h: Harness) -> None:
    async def scenario() -> None:
        admin, runner = await _ready(h)
        nodes = h.catalog.regions.table("t")
        with pytest.raises(RegionNotFound):
            await admin.split(999, b"x")
        with pytest.raises(InvalidArgument, match="not strictly inside"):
            await admin.split(nodes[1].region_id, nodes[1].info.start_key)  # a daughter would be empty
        with pytest.raises(InvalidArgument, match="not strictly inside"):
            await admin.split(nodes[0].region_id, b"\xff")
        with pytest.raises(InvalidArgument, match="empty"):
            await admin.split(nodes[1].region_id, b"")
        with pytest.raises(InvalidArgument, match=r"region \d+ lies between"):
            await admin.merge([nodes[0].region_id, nodes[2].region_id])
        with pytest.raises(InvalidArgument, match="lies between"):
            await admin.merge([nodes[0].region_id, nodes[2].region_id], force=True)  # a region, never
        with pytest.raises(InvalidArgument, match="at least two"):
            await admin.merge([nodes[0].region_id])
        with pytest.raises(InvalidArgument, match="distinct"):
            await admin.merge([nodes[0].region_id, nodes[0].region_id])
        admin.split_merge_on = lambda: (False, True)
        with pytest.raises(SplitDisabled, match="switched off"):
            await admin.split(nodes[1].region_id, nodes[1].info.start_key + b"\x01")
        admin.split_merge_on = lambda: (True, False)
        with pytest.raises(MergeDisabled):
            await admin.merge([nodes[0].region_id, nodes[1].region_id])
        admin.split_merge_on = lambda: (True, True)
        descriptor = h.catalog.tables["t"]
        h.catalog.tables["t"] = dataclasses.replace(descriptor, settings=TableSettings(split_enabled=False))
        with pytest.raises(SplitDisabled, match="split_enabled"):
            await admin.split(nodes[1].region_id, nodes[1].info.start_key + b"\x01")
        h.catalog.tables["t"] = descriptor
        store = h.env.rootdir / "data" / "t" / str(nodes[1].region_id)
        references.write(store, [Reference(1, b"", b"")])
        with pytest.raises(InvalidArgument, match="REFERENCES"):
            await admin.split(nodes[1].region_id, nodes[1].info.start_key + b"\x01")
        references.remove(store)
        runner.cancel()
        await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t"))  # queued, not running
        with pytest.raises(TableLocked):
            await admin.split(nodes[1].region_id, nodes[1].info.start_key + b"\x01")

    run(scenario())


def test_a_split_aborted_before_its_point_of_no_return_gives_the_parent_back(h: Harness) -> None:
    async def scenario() -> None:
        admin, runner = await _ready(h)
        parent = h.catalog.regions.table("t")[2]
        h.hold = True  # the close is not answered: the split waits in wait_closed
        proc = await admin.split(parent.region_id, parent.info.start_key + b"\x01")
        await h.until_true(lambda: h.executor.procs[proc].step == "wait_closed")
        assert parent.state is S.CLOSING and parent.kind is TransitKind.SPLIT and parent.proc_id == proc
        with pytest.raises(RegionInTransition):
            h.am.move(parent.region_id)
        rolled_back, _ = await h.executor.abort(proc)
        assert rolled_back
        h.release()
        record = await h.until(proc)
        assert record.state == ProcState.ROLLED_BACK
        await h.until_true(lambda: parent.state is S.OPEN and not parent.proc_id)
        assert not parent.info.offline and not parent.info.children
        _digests_agree(h)
        for child in h.executor.procs[proc].data.children:
            assert not (h.env.rootdir / "data" / "t" / str(child)).exists()
            assert h.catalog.regions.get(child) is None
        runner.cancel()

    run(scenario())


def test_a_parent_whose_server_dies_mid_split_stays_attached_and_the_split_goes_on(h: Harness) -> None:
    async def scenario() -> None:
        runner, parent, proc = await _split_held(h, 0, b"\x10")
        server = parent.server
        assert server is not None
        h.held.clear()  # the close never arrives: the server dies
        h.am.servers.expire(server)
        h.hold = False
        await h.apply(h.am.server_dead(server), None)
        assert parent.state is not S.OPENING  # not reassigned by crash recovery
        record = await h.until(proc)
        assert record.state == ProcState.SUCCESS
        assert parent.state is S.SPLIT
        children = [h.catalog.regions.get(c) for c in parent.info.children]
        assert all(c is not None and c.state is S.OPEN and c.server != server for c in children)
        runner.cancel()

    run(scenario())


def test_a_master_taking_over_sends_a_held_parent_its_close_again(h: Harness) -> None:
    async def scenario() -> None:
        runner, parent, proc = await _split_held(h, 3)
        runner.cancel()
        effects, to_assign = h.am.take_over(list(h.am.regions))
        assert parent not in to_assign and parent.proc_id == proc
        (closes,) = effects.closes.values()
        assert closes.region_ids == [parent.region_id] and closes.proc_ids == [proc]
        # Its CLOSED report leaves it CLOSED and still attached.
        rejected, more = h.am.report(parent.server, CLOSED, [parent.region_id], [proc], [])  # type: ignore[arg-type]
        assert not rejected and not more.closes and not more.opens
        assert parent.state is S.CLOSED and parent.proc_id == proc
        assert h.env.settled(parent.region_id, proc) and not h.env.settled(parent.region_id)
        assert isinstance(more, Effects)

    run(scenario())


def test_a_bypassed_split_lets_its_parent_go(h: Harness) -> None:
    async def scenario() -> None:
        runner, parent, proc = await _split_held(h, 1)
        assert await h.executor.bypass(proc)
        effects = split_assign.release(h.am, proc)
        assert parent.state is S.ABNORMALLY_CLOSED and not parent.proc_id
        assert list(effects.closes) == [parent.server]
        assert parent.region_id not in h.am.in_transition
        runner.cancel()

    run(scenario())


def test_every_open_carries_its_tables_settings_with_the_masters_default_size() -> None:
    orders = OpenOrders(
        [1, 2], [10, 11], [5, 6], [RegionInfo(1, "a", b"", b""), RegionInfo(2, "b", b"", b"")]
    )
    settings = {
        "a": TableSettings(max_region_size=10 << 30),
        "b": TableSettings(1 << 20, split_enabled=False),
    }
    groups = _table_opens(orders, settings_of=settings.__getitem__)
    got = {g.table: (g.settings.max_region_size, g.settings.split_enabled) for g in groups}
    assert got == {"a": (10 << 30, True), "b": (1 << 20, False)}


def test_daughters_left_waiting_for_a_server_are_opened_once_one_is_live(h: Harness) -> None:
    async def scenario() -> None:
        admin, runner = await _ready(h)
        parent = h.catalog.regions.table("t")[0]
        h.hold = True
        proc = await admin.split(parent.region_id, b"\x10")
        await h.until_true(lambda: h.executor.procs[proc].step == "wait_closed")
        assert h.executor.procs[proc].progress() == (2, 7)
        for server in SERVERS:  # every server gone: the parent and the daughters have nowhere to go
            h.am.servers.expire(server)
        h.held.clear()
        h.hold = False
        for server in SERVERS:
            await h.apply(h.am.server_dead(server), None)
        await h.until_true(lambda: h.executor.procs[proc].step == "finish")
        children = [h.catalog.regions.get(c) for c in h.executor.procs[proc].data.children]
        assert all(c is not None and c.region_id in h.am.waiting for c in children)
        fresh = ServerName("127.0.0.1", 16030, 2000)  # a new RegionServer
        h.am.servers.register(fresh)
        await h.apply(h.am.assign_waiting(), None)
        assert (await h.until(proc)).state == ProcState.SUCCESS
        assert all(c is not None and c.state is S.OPEN and c.server == fresh for c in children)
        assert h.executor.procs[proc].progress() == (7, 7)
        runner.cancel()

    run(scenario())
