"""The normalizer chore (master.chores.normalizer) against fakes of what it calls: the RegionServers'
RegionSizes and SplitPoint, and TableAdmin's split and merge (docs/split_merge_contract.md). The planner's
rules are tested in test_normalizer_plan; here: what it asks, what it submits, how it says what it skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from master.chores.normalizer import Normalizer, NormalizerConfig
from master.chores.normalizer_plan import MIB, NormalizerLimits
from master.chores.switches import SwitchBoard, Switches
from master.dispatch import ServerCallError
from master.errors import TableLocked, TableNotFound
from master.regions import RegionMap, RegionNode
from master.servers import ServerManager
from meta import ColumnFamily, RegionInfo, RegionState, ServerName, TableDescriptor, TableSettings, WriteBatch
from meta.codec import RegionStateRow

A = ServerName("127.0.0.1", 1, 1)
B = ServerName("127.0.0.1", 2, 1)
BOUNDS = [b"", b"b", b"c", b"d", b"e", b""]
SIZES = [40 * MIB, 2 * MIB, 2 * MIB, 3 * MIB, 10 * MIB]  # average 11.4 MiB: 1 splits, 2-4 merge


class FakeServers:
    def __init__(self, sizes: dict[ServerName, dict[int, tuple[int, bool]] | Exception]) -> None:
        self.sizes = sizes
        self.asked: list[ServerName] = []

    async def region_sizes(self, server: ServerName, within_s: float = 5.0) -> dict[int, tuple[int, bool]]:
        self.asked.append(server)
        answer = self.sizes[server]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def split_point(
        self, server: ServerName, region_id: int, split_key: bytes | None, within_s: float = 10.0
    ) -> bytes:
        return b"a-middle"


class FakeTableAdmin:
    def __init__(self, refuse: Exception | None = None) -> None:
        self.splits: list[tuple[int, bytes, str]] = []
        self.merges: list[tuple[tuple[int, ...], str]] = []
        self.refuse = refuse
        self.next = 100

    async def split(
        self, region_id: int, split_key: bytes, *, cause: str = "operator", nonce: str = ""
    ) -> int:
        self.splits.append((region_id, split_key, cause))
        self.next += 1
        return self.next

    async def merge(
        self, region_ids: Sequence[int], *, force: bool = False, cause: str = "operator", nonce: str = ""
    ) -> int:
        if self.refuse is not None:
            raise self.refuse
        self.merges.append((tuple(region_ids), cause))
        self.next += 1
        return self.next


async def _persist(batch: WriteBatch) -> None:
    pass


def _setup(
    answers: dict[ServerName, dict[int, tuple[int, bool]] | Exception] | None = None,
    *,
    opted_in: bool = True,
    admin: FakeTableAdmin | None = None,
    switches: Switches | None = None,
    in_transition: int = 0,
) -> tuple[Normalizer, FakeServers, FakeTableAdmin]:
    servers = ServerManager(lease_s=60.0)
    servers.register(A)
    servers.register(B)
    regions = RegionMap()
    nodes = [
        RegionNode(
            RegionInfo(i + 1, "t", BOUNDS[i], BOUNDS[i + 1]),
            RegionStateRow(RegionState.OPEN, A if i < 3 else B),
        )
        for i in range(len(SIZES))
    ]
    regions.add(nodes)
    if answers is None:
        answers = {
            A: {i + 1: (SIZES[i], False) for i in range(3)},
            B: {i + 1: (SIZES[i], False) for i in range(3, len(SIZES))},
        }
    tables = {
        "t": TableDescriptor(
            "t", (ColumnFamily("f"),), settings=TableSettings(normalization_enabled=opted_in)
        ),
        "other": TableDescriptor("other", (ColumnFamily("f"),)),
    }
    fake_servers, fake_admin = FakeServers(answers), admin or FakeTableAdmin()
    normalizer = Normalizer(
        NormalizerConfig(limits=NormalizerLimits(min_region_count=3)),
        regions,
        lambda: tables,
        servers,
        SwitchBoard(switches or Switches(), _persist),
        fake_servers,
        lambda: fake_admin,
        lambda: in_transition,
    )
    return normalizer, fake_servers, fake_admin


def test_plans_are_submitted_through_table_admin_with_the_cause_normalizer() -> None:
    normalizer, servers, admin = _setup()
    run = asyncio.run(normalizer.run())
    assert run.ran and sorted(servers.asked, key=str) == [A, B]
    assert admin.splits == [(1, b"a-middle", "normalizer")]
    assert admin.merges == [((2, 3, 4), "normalizer")]
    assert [(p.kind, p.region_ids, p.proc_id) for p in run.plans] == [
        ("split", (1,), 101),
        ("merge", (2, 3, 4), 102),
    ]
    assert run.tables == 1 and run.regions == 5 and normalizer.last_run is run


def test_a_dry_run_submits_nothing_and_is_not_kept() -> None:
    normalizer, _, admin = _setup(switches=Switches(normalizer_on=False), in_transition=3)
    run = asyncio.run(normalizer.run(dry_run=True))
    assert run.ran and run.dry_run and len(run.plans) == 2 and not any(p.proc_id for p in run.plans)
    assert admin.splits == admin.merges == [] and normalizer.last_run is None


def test_a_server_that_does_not_report_sizes_leaves_its_regions_unplanned_and_says_so() -> None:
    unimplemented = ServerCallError(f"{B}: UNIMPLEMENTED: Method not found!")
    normalizer, _, _ = _setup(
        {A: {1: (SIZES[0], False), 2: (SIZES[1], False), 3: (SIZES[2], False)}, B: unimplemented}
    )
    run = asyncio.run(normalizer.run())
    assert run.ran and "sizes unknown from 1 servers" in run.reason and "UNIMPLEMENTED" in run.reason
    assert "2 regions of unknown size left out" in run.reason
    planned = {i for p in run.plans for i in p.region_ids}
    assert not planned & {4, 5}  # B's regions


def test_a_refused_plan_records_why_and_the_others_go_on() -> None:
    refused = TableLocked("table 't' is locked by procedure 9")
    normalizer, _, _ = _setup(admin=FakeTableAdmin(refuse=refused))
    run = asyncio.run(normalizer.run())
    split, merge = run.plans
    assert split.proc_id and not split.error
    assert merge.proc_id == 0 and "locked by procedure 9" in merge.error


def test_runs_are_skipped_with_a_reason() -> None:
    off, _, _ = _setup(switches=Switches(normalizer_on=False))
    assert "switched off" in asyncio.run(off.run()).reason
    busy, _, _ = _setup(in_transition=2)
    skipped = asyncio.run(busy.run())
    assert not skipped.ran and "2 regions are in transition" in skipped.reason
    nobody, _, _ = _setup(opted_in=False)
    assert "no table has normalization_enabled" in asyncio.run(nobody.run()).reason
    named, _, _ = _setup()
    assert "none of the tables named" in asyncio.run(named.run(tables=["other"])).reason
    with pytest.raises(TableNotFound, match="'nope'"):
        asyncio.run(named.run(tables=["nope"]))


def test_the_split_and_merge_switches_are_respected() -> None:
    normalizer, _, _ = _setup(switches=replace(Switches(), merge_on=False))
    run = asyncio.run(normalizer.run())
    assert [p.kind for p in run.plans] == ["split"] and "merges switched off" in run.reason
