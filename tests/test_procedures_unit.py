"""The procedure executor and the table procedures, in one process: the real assignment core and catalog,
meta replaced by a list of committed batches, RegionServers by a loop that answers every order.

What is checked here is the framework's logic (steps, locks, waits, aborts, resume); the same code against
real processes, LMDB and SIGKILL is in test_procedure_crashes.py and the DDL tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from master.assignment import CLOSED, OPENED, AssignmentManager, Effects
from master.catalog import Catalog
from master.errors import FamilyExists, TableExists, TableNotDisabled, TableNotEnabled, TableNotFound
from master.procedures import (
    KINDS,
    CreateTable,
    DeleteTable,
    DisableTable,
    EnableTable,
    Env,
    Executor,
    ModifyTable,
    ProcState,
    TruncateTable,
)
from master.servers import ServerManager
from meta import ColumnFamily, RegionState, ServerName, TableDescriptor, TableState, WriteBatch
from regent.proto import meta_pb2

SERVERS = [ServerName("127.0.0.1", 16020 + i, 1000 + i) for i in range(3)]


class Harness:
    """An executor over a real assignment core; `apply` records what would be committed and answers every
    order at once (as three healthy RegionServers would) unless `hold` is set."""

    def __init__(self, tmp: Path) -> None:
        self.catalog = Catalog()
        self.catalog.counters.update({b"next_region_id": 1, b"next_proc_id": 1, b"next_open_seq_num": 1})
        servers = ServerManager(lease_s=60)
        for name in SERVERS:
            servers.register(name)
        self.am = AssignmentManager(self.catalog.regions, servers, table_enabled=self._enabled)
        self.env = Env(self.catalog, self.am, tmp, reopen_share=0.25)
        self.executor = Executor(self.env, self.apply, KINDS)
        self.commits: list[WriteBatch] = []
        self.records: dict[int, meta_pb2.ProcedureRecord] = {}
        self.hold = False
        self.held: list[Effects] = []
        self.max_out_of_service = 0
        self.committed = asyncio.Event()

    def _enabled(self, table: str) -> bool:
        d = self.catalog.tables.get(table)
        return d is not None and d.state in (TableState.ENABLED, TableState.ENABLING)

    async def apply(self, effects: Effects, extra: WriteBatch | None) -> None:
        batch = extra or WriteBatch()
        for op in batch.ops:
            if op.db == "procedures" and op.kind == "put":
                assert op.value is not None
                record = meta_pb2.ProcedureRecord.FromString(op.value)
                self.records[record.proc_id] = record
        self.commits.append(batch)
        self.committed.set()
        if self.hold:
            self.held.append(effects)
        else:
            asyncio.get_running_loop().call_soon(self._answer, effects)
        self._sample()
        self.executor.regions_changed()

    def release(self) -> None:
        self.hold = False
        for effects in self.held:
            self._answer(effects)
        self.held.clear()

    def _answer(self, effects: Effects) -> None:
        """Every order done at once: opens reported OPENED, closes CLOSED."""
        follow = Effects()
        for server, opens in effects.opens.items():
            _, more = self.am.report(server, OPENED, opens.region_ids, opens.proc_ids, opens.open_seq_nums)
            follow += more
        for server, closes in effects.closes.items():
            _, more = self.am.report(server, CLOSED, closes.region_ids, closes.proc_ids, [])
            follow += more
        self._sample()
        if follow:
            asyncio.get_running_loop().create_task(self.apply(follow, None))
        self.executor.regions_changed()

    def _sample(self) -> None:
        for table in self.catalog.regions.tables():
            out = sum(1 for n in self.catalog.regions.table(table) if n.state is not RegionState.OPEN)
            self.max_out_of_service = max(self.max_out_of_service, out)

    def states(self, table: str) -> set[RegionState]:
        return {n.state for n in self.catalog.regions.table(table)}

    async def until(self, proc_id: int) -> meta_pb2.ProcedureRecord:
        """Wait (10 s at most) until procedure `proc_id` has finished; return its last record."""
        await self.until_true(lambda: self.executor.procs[proc_id].finished)
        return self.records[proc_id]

    async def until_true(self, predicate: Callable[[], bool]) -> None:
        """Wait (10 s at most) until `predicate` holds, looking again after every commit."""
        async with asyncio.timeout(10):
            while not predicate():
                self.committed.clear()
                await self.committed.wait()


def _table(name: str = "t", families: tuple[str, ...] = ("f",)) -> TableDescriptor:
    return TableDescriptor(name, tuple(ColumnFamily(f) for f in families))


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(tmp_path)


async def _started(h: Harness) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(h.executor.run())


async def _create(h: Harness, regions: int = 8, name: str = "t") -> int:
    keys = [bytes([i * 256 // regions]) for i in range(1, regions)]
    return await h.executor.submit(CreateTable.new(h.env.new_proc_id(), _table(name), keys))


def test_create_disable_enable_delete_run_to_their_end(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        record = await h.until(await _create(h))
        assert record.state == ProcState.SUCCESS and record.step == "finish"
        assert h.catalog.tables["t"].state is TableState.ENABLED and h.states("t") == {RegionState.OPEN}
        before = {n.region_id: n.server for n in h.catalog.regions.table("t")}
        await h.until(await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t")))
        assert h.catalog.tables["t"].state is TableState.DISABLED and h.states("t") == {RegionState.CLOSED}
        await h.until(await h.executor.submit(EnableTable.new(h.env.new_proc_id(), "t")))
        assert h.states("t") == {RegionState.OPEN}
        assert {n.region_id: n.server for n in h.catalog.regions.table("t")} == before  # retained
        with pytest.raises(TableNotDisabled):
            await h.executor.submit(DeleteTable.new(h.env.new_proc_id(), "t"))
        await h.until(await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t")))
        (h.env.rootdir / "data" / "t" / "1").mkdir(parents=True)
        await h.until(await h.executor.submit(DeleteTable.new(h.env.new_proc_id(), "t")))
        assert "t" not in h.catalog.tables and not h.catalog.regions.table("t")
        assert not (h.env.rootdir / "data" / "t").exists()
        runner.cancel()

    run(scenario())


def test_a_dead_server_named_by_an_equal_copy_of_its_name_has_its_regions_recovered(harness: Harness) -> None:
    """The assignment core compares servers by identity; server_dead takes any equal name (a test's
    constant, a name parsed elsewhere). It once matched nothing when the shared name had been made by an
    earlier test of the same process, and a split waited forever for its parent's close."""
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h))
        victim = SERVERS[0]
        held = [n.region_id for n in h.catalog.regions.table("t") if n.server == victim]
        assert held
        h.hold = True  # the reassignment's opens stay unanswered: the regions stay where recovery put them
        copy = ServerName(victim.host, victim.port, victim.startcode)
        assert h.am.servers.expire(copy)
        await h.apply(h.am.server_dead(copy), None)
        recovered = [h.catalog.regions.get(r) for r in held]
        assert all(n is not None and n.server != victim and n.state is RegionState.OPENING for n in recovered)
        runner.cancel()

    run(scenario())


def test_procedures_on_one_table_run_one_at_a_time_in_submission_order(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        ids = [await _create(h)]  # not running yet: everything queues
        ids.append(await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t")))
        ids.append(await h.executor.submit(TruncateTable.new(h.env.new_proc_id(), "t", True)))
        ids.append(
            await h.executor.submit(
                ModifyTable.family_change(h.env.new_proc_id(), "t", "add", ColumnFamily("g"))
            )
        )
        views = {v.proc_id: v for v in h.executor.views()}
        assert views[ids[0]].lock == "holds table t" and views[ids[0]].state == "RUNNABLE"
        assert views[ids[1]].state == "WAITING" and f"held by procedure {ids[0]}" in views[ids[1]].lock
        runner = await _started(h)
        records = [await h.until(i) for i in ids]
        assert [r.state for r in records] == [ProcState.SUCCESS] * 4
        spans = [(r.submitted_ms, r.finished_ms) for r in records]
        finished = [r.finished_ms for r in records]
        assert finished == sorted(finished), spans
        assert h.catalog.tables["t"].family("g") is not None
        assert h.catalog.tables["t"].state is TableState.ENABLED  # truncate leaves it enabled
        runner.cancel()

    run(scenario())


def test_a_second_create_of_one_name_is_refused_at_once(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await _create(h)
        with pytest.raises(TableExists):
            await _create(h)

    run(scenario())


def test_a_queued_procedure_whose_table_changed_ends_failed_with_the_named_error(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h))
        await h.until(await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t")))
        h.hold = True  # the enable waits for its regions: the two queued behind it see the table change
        enable = await h.executor.submit(EnableTable.new(h.env.new_proc_id(), "t"))
        first = await h.executor.submit(
            ModifyTable.family_change(h.env.new_proc_id(), "t", "add", ColumnFamily("g"))
        )
        second = await h.executor.submit(
            ModifyTable.family_change(h.env.new_proc_id(), "t", "add", ColumnFamily("g"))
        )
        delete = await h.executor.submit(DeleteTable.new(h.env.new_proc_id(), "t"))
        await h.until_true(lambda: bool(h.held) and h.executor.procs[enable].step == "finish")
        h.release()
        assert (await h.until(enable)).state == ProcState.SUCCESS
        assert (await h.until(first)).state == ProcState.SUCCESS
        failed = await h.until(second)
        assert (failed.state, failed.error_code) == (ProcState.FAILED, FamilyExists.code)
        gone = await h.until(delete)
        assert (gone.state, gone.error_code) == (ProcState.FAILED, TableNotDisabled.code)
        with pytest.raises(TableNotFound):
            await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "nope"))
        runner.cancel()

    run(scenario())


def test_modify_reopens_every_region_with_at_most_its_share_out_of_service(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h, regions=40))
        opened = {n.region_id: n.open_seq_num for n in h.catalog.regions.table("t")}
        h.max_out_of_service = 0
        proc = await h.executor.submit(
            ModifyTable.family_change(h.env.new_proc_id(), "t", "add", ColumnFamily("g"))
        )
        record = await h.until(proc)
        assert record.state == ProcState.SUCCESS
        after = {n.region_id: n.open_seq_num for n in h.catalog.regions.table("t")}
        assert all(after[r] > opened[r] for r in opened), "a region was not reopened"
        assert 1 <= h.max_out_of_service <= 10  # 40 regions, share 0.25
        runner.cancel()

    run(scenario())


def test_abort_of_a_disable_while_it_closes_enables_the_table_again(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h))
        h.hold = True
        proc = await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t"))
        await h.until_true(lambda: h.executor.procs[proc].step == "close" and bool(h.held))
        assert h.executor.get(proc) is not None and h.executor.get(proc).abortable  # type: ignore[union-attr]
        rolled_back, message = await h.executor.abort(proc)
        assert rolled_back and "rolling back" in message
        h.release()
        record = await h.until(proc)
        assert record.state == ProcState.ROLLED_BACK
        assert h.catalog.tables["t"].state is TableState.ENABLED and h.states("t") == {RegionState.OPEN}
        runner.cancel()

    run(scenario())


def test_abort_past_the_point_of_no_return_is_refused_and_says_so(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        h.hold = True
        proc = await _create(h)
        await h.until_true(lambda: h.executor.procs[proc].step != "add_to_meta")
        rolled_back, message = await h.executor.abort(proc)
        assert not rolled_back and "point of no return" in message
        h.release()
        assert (await h.until(proc)).state == ProcState.SUCCESS
        rolled_back, message = await h.executor.abort(proc)
        assert not rolled_back and "already finished" in message
        runner.cancel()

    run(scenario())


def test_a_queued_procedure_aborted_ends_rolled_back_having_changed_nothing(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        proc = await _create(h)
        rolled_back, _ = await h.executor.abort(proc)
        assert rolled_back and h.records[proc].state == ProcState.ROLLED_BACK
        assert "t" not in h.catalog.tables and h.executor.holder("t") is None

    run(scenario())


def test_a_new_executor_resumes_unfinished_procedures_from_their_records(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h))
        runner.cancel()
        disable = await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t"))
        enable = await h.executor.submit(EnableTable.new(h.env.new_proc_id(), "t"))
        # A new master: the same catalog and regions (as meta holds them), the records as committed.
        fresh = Executor(h.env, h.apply, KINDS)
        h.executor = fresh
        resumed = fresh.resume(list(h.records.values()))
        assert sorted(p.proc_id for p in resumed) == [disable, enable]
        assert fresh.holder("t") is not None and fresh.holder("t").proc_id == disable  # type: ignore[union-attr]
        runner = asyncio.get_running_loop().create_task(fresh.run())
        assert (await h.until(disable)).state == ProcState.SUCCESS
        assert (await h.until(enable)).state == ProcState.SUCCESS
        assert h.states("t") == {RegionState.OPEN}
        runner.cancel()

    run(scenario())


def test_finished_procedures_are_purged_after_their_retention(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        proc = await _create(h)
        record = await h.until(proc)
        assert await h.executor.purge(record.finished_ms / 1000 + 1) == 0
        assert await h.executor.purge(record.finished_ms / 1000 + 601) == 1
        assert h.executor.get(proc) is None
        assert any(op.kind == "delete" and op.db == "procedures" for op in h.commits[-1].ops)
        runner.cancel()

    run(scenario())


def test_a_request_repeated_with_its_nonce_gets_the_same_procedure_even_after_a_failover(
    harness: Harness,
) -> None:
    h = harness

    async def scenario() -> None:
        runner = await _started(h)
        await h.until(await _create(h))
        first = await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t"), nonce="client-1:7")
        await h.until(first)
        # Retried after its answer was lost: the table is DISABLED now, yet the retry is not refused.
        again = await h.executor.submit(DisableTable.new(h.env.new_proc_id(), "t"), nonce="client-1:7")
        assert again == first
        runner.cancel()
        fresh = Executor(h.env, h.apply, KINDS)  # a new master, from the records
        fresh.resume(list(h.records.values()))
        assert await fresh.submit(DisableTable.new(h.env.new_proc_id(), "t"), nonce="client-1:7") == first
        with pytest.raises(TableNotEnabled):  # another request (another nonce) is checked as usual
            await fresh.submit(DisableTable.new(h.env.new_proc_id(), "t"), nonce="client-1:8")

    run(scenario())
