"""The write-ahead log wired into a region's writer and store (regionserver.data.writer, server_wal,
region_memory, takeover): small puts and deletes are durable in the server's log and read from memory;
flushes write them into the store with how far (LOGGED); a new owner seals the old owner's log and
replays exactly what the store lacks, whether the old owner crashed, is paused, or closed cleanly.

"Crash" here drops an owner's objects without any flush or close: all that survives is on disk (the LMDB
store and the log directory), as after a SIGKILL. The process-level versions of these (SIGKILL, SIGSTOP)
are in test_table_failures.py (SIGKILL of a writer's server) and test_data_rpc.py (SIGSTOP)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta import ServerName
from meta.types import ColumnFamily
from regionserver.data import log_cleaner, wal
from regionserver.data.commit_place import CommitPlacement
from regionserver.data.environments import Claim, Environments
from regionserver.data.errors import Fenced
from regionserver.data.mutations import DeleteFamily, Get, Increment, Put, RowMutation
from regionserver.data.region_memory import RegionMemory
from regionserver.data.region_store import RegionStore
from regionserver.data.server_wal import ServerWal
from regionserver.data.takeover import CLEAN, LOGGED, TakeOver, decode_logged, log_dir, region_key
from regionserver.data.writer import RegionWriter

FAMILIES = {b"f": ColumnFamily("f", max_versions=1)}
S1 = ServerName("127.0.0.1", 16020, 1000)
S2 = ServerName("127.0.0.1", 16021, 2000)
#: Small groups always on the loop: the tests drive the loop alone.
ON_LOOP = CommitPlacement(slow_s=10.0, stall_s=10.0, share=1.0)


async def until_flushed(memory: RegionMemory) -> None:
    """Wait (5 s at most) until the claim's memory has been flushed, looking again every loop turn (a
    flush the server's log asks for has no future of its own to await)."""
    async with asyncio.timeout(5):
        while memory.active:  # noqa: ASYNC110
            await asyncio.sleep(0)


@pytest.fixture
def envs() -> Iterator[Environments]:
    environments = Environments(capacity=8)
    yield environments
    environments.close_all()


class Owner:
    """One server incarnation's view of one region: its log, its claim's store and writer."""

    def __init__(
        self, root: Path, envs: Environments, server: ServerName, seq: int, **wal_options: float
    ) -> None:
        self.root, self.server = root, server
        self.path = root / "data" / "t" / "1"
        directory = log_dir(root, server)
        self.log = wal.ServerLog.create(directory) if not wal.segment_numbers(directory) else None
        self.wal = ServerWal(self.log, placement=ON_LOOP, **wal_options) if self.log is not None else None
        self.takeover = TakeOver(root, str(server))
        self.store = RegionStore(
            self.path,
            Claim(server, seq),
            FAMILIES,
            environments=envs,
            memory=RegionMemory(region_key(self.path, seq)),
            takeover=self.takeover,
            clock=lambda: 1_000,
        )
        self.writer = RegionWriter(self.store, placement=ON_LOOP, wal=self.wal)

    def open(self) -> None:
        """The region's open here: the claim (sealing and replaying what an older owner logged)."""
        self.store.claim_existing()  # no store yet: nothing to take over, the first write creates it

    async def put(self, row: bytes, value: bytes, ts: int | None = None) -> None:
        (refused,) = await self.writer.mutate([RowMutation(row, (Put(b"f", b"q", value, ts),))])
        assert refused is None

    async def delete(self, row: bytes) -> None:
        (refused,) = await self.writer.mutate([RowMutation(row, (DeleteFamily(b"f"),))])
        assert refused is None

    def read(self, row: bytes) -> bytes | None:
        (cells,) = self.store.get([Get(row, ((b"f", b"q"),))])
        return cells[0].value if cells else None

    def crash(self) -> None:
        """What a SIGKILL leaves: the files. The log's fd is closed, nothing flushed."""
        if self.log is not None:
            self.log.close()


def logged_record(owner: Owner) -> int | None:
    env = owner.store.environment()
    with env.env.begin() as txn:
        return decode_logged(txn.get(LOGGED, db=env.owner_db))


def seals_in(root: Path, server: ServerName) -> list[wal.Seal]:
    directory = log_dir(root, server)
    return [
        r
        for n in wal.segment_numbers(directory)
        for _, r in wal.read_segment(directory, n)
        if isinstance(r, wal.Seal)
    ]


def test_small_writes_go_to_the_log_and_memory_and_a_flush_moves_them_to_the_store(
    envs: Environments, tmp_path: Path
) -> None:
    a = Owner(tmp_path, envs, S1, 1)
    a.open()

    async def main() -> None:
        await a.put(b"r0", b"armed")  # the claim's first small group: committed, and arms the log
        assert a.store.memory is not None and a.store.memory.armed and a.wal is not None
        assert a.wal.appends == 0 and logged_record(a) == 0
        await asyncio.gather(*(a.put(b"r%d" % i, b"v%d" % i) for i in range(1, 20)))
        assert a.wal.appends == a.wal.edits == 1  # the region's group: one edit, one write and fdatasync
        await a.delete(b"r0")
        assert a.read(b"r0") is None and a.read(b"r7") == b"v7"
        commits = a.store.commits
        a.store.flush()
        assert a.store.commits == commits + 1 and not a.store.memory.active

    asyncio.run(main())
    assert logged_record(a) == a.store.memory.max_seq == 2  # the group of 19 puts, then the delete
    a.store.memory = None  # the store alone, no memory: the flush put it all there
    assert a.read(b"r0") is None and a.read(b"r7") == b"v7"
    a.crash()


def test_a_new_owner_replays_what_a_crashed_owner_logged_and_did_not_flush(
    envs: Environments, tmp_path: Path
) -> None:
    a = Owner(tmp_path, envs, S1, 1)
    a.open()

    async def write() -> None:
        await a.put(b"flushed", b"1")
        await a.put(b"flushed", b"2")
        a.store.flush()
        await a.put(b"only-logged", b"3")
        await a.delete(b"flushed")

    asyncio.run(write())
    a.crash()
    b = Owner(tmp_path, envs, S2, 2)
    b.open()
    assert b.read(b"only-logged") == b"3" and b.read(b"flushed") is None
    assert b.takeover.replayed_edits == 2  # only the edits after LOGGED
    assert [s.region for s in seals_in(tmp_path, S1)] == [region_key(a.path, 1)]
    assert logged_record(b) is None  # the new claim has not logged


def test_a_replay_never_lays_a_flushed_edit_over_a_later_commit(envs: Environments, tmp_path: Path) -> None:
    a = Owner(tmp_path, envs, S1, 1)
    a.open()

    async def write() -> None:
        await a.put(b"a", b"arm")
        await a.put(b"k", b"logged", ts=7)
        # An increment is committed to the store (it flushes the memory in the same transaction);
        # a put of the same cell afterwards as a big group does too.
        await a.writer.increment(Increment(b"n", ((b"f", b"c", 1),)))
        big = RowMutation(
            b"k", (Put(b"f", b"q", b"direct", 7), *(Put(b"f", b"x%d" % i, b"") for i in range(200)))
        )
        assert await a.writer.mutate([big]) == [None]

    asyncio.run(write())
    a.crash()
    b = Owner(tmp_path, envs, S2, 2)
    b.open()
    assert b.read(b"k") == b"direct" and b.takeover.replayed_edits == 0


def s1_wrote(root: Path, envs: Environments, *, close: bool) -> Owner:
    """S1's claim of the region with two writes, the second only in its log; then the region's close
    (flushed, CLEAN) or S1's crash."""
    a = Owner(root, envs, S1, 1)
    a.open()

    async def write() -> None:
        await a.put(b"r", b"1")
        await a.put(b"r", b"2")
        if close:
            await a.writer.stop()

    asyncio.run(write())
    if not close:
        a.crash()
    return a


def test_a_clean_close_leaves_nothing_to_replay_and_no_seal(envs: Environments, tmp_path: Path) -> None:
    a = s1_wrote(tmp_path, envs, close=True)
    assert logged_record(a) == CLEAN and a.store.memory is not None and a.store.memory.closed
    b = Owner(tmp_path, envs, S2, 2)
    b.open()
    assert b.read(b"r") == b"2" and seals_in(tmp_path, S1) == []
    a.crash()


def test_a_region_never_written_through_the_log_is_taken_over_without_a_seal(
    envs: Environments, tmp_path: Path
) -> None:
    a = Owner(tmp_path, envs, S1, 1)
    a.open()
    a.store.mutate([RowMutation(b"r", (Put(b"f", b"q", b"direct"),))])  # straight to the store
    a.crash()
    b = Owner(tmp_path, envs, S2, 2)
    b.open()
    assert b.read(b"r") == b"direct" and seals_in(tmp_path, S1) == []


def test_a_live_old_owner_is_refused_after_the_seal_and_its_refused_write_never_appears(
    envs: Environments, tmp_path: Path
) -> None:
    """The old owner keeps running (as one paused across the move would): once the new owner sealed, its
    logged writes are refused (Fenced), its flushes are fenced by the store, and only what it had
    acknowledged is in the new owner's store."""
    a = Owner(tmp_path, envs, S1, 1)
    a.open()

    b = Owner(tmp_path, envs, S2, 2)

    async def main() -> None:
        await a.put(b"acked", b"1")
        await a.put(b"acked", b"2")
        b.open()
        with pytest.raises(Fenced):
            await a.put(b"refused", b"x")
        assert a.store.memory is not None and a.store.memory.active  # "acked" still in its memory
        with pytest.raises(Fenced):
            a.store.flush()  # the store's owner record is b's

    asyncio.run(main())
    assert b.read(b"acked") == b"2" and b.read(b"refused") is None
    a.crash()


def test_a_reopen_on_the_same_server_logs_under_its_own_name(envs: Environments, tmp_path: Path) -> None:
    """Seals name a claim, not a region: after a move away and back, the old server logs again."""
    a = Owner(tmp_path, envs, S1, 1)
    a.open()
    b = Owner(tmp_path, envs, S2, 2)
    back = RegionStore(
        a.path,
        Claim(S1, 3),
        FAMILIES,
        environments=envs,
        memory=RegionMemory(region_key(a.path, 3)),
        takeover=a.takeover,
        clock=lambda: 1_000,
    )
    writer = RegionWriter(back, placement=ON_LOOP, wal=a.wal)

    async def again() -> None:
        await a.put(b"r", b"1")
        await a.put(b"r", b"2")
        b.open()  # a did not close: sealed and replayed
        assert back.claim_existing()
        for value in (b"3", b"4", b"5"):
            assert await writer.mutate([RowMutation(b"r", (Put(b"f", b"q", value),))]) == [None]

    asyncio.run(again())
    assert a.wal is not None and a.wal.edits == 3  # "2" (a's claim 1) and "4", "5" (claim 3)
    a.crash()
    c = Owner(tmp_path, envs, S2, 4)  # S2's log exists already: c reuses nothing of it but the name
    c.open()
    (cells,) = c.store.get([Get(b"r")])
    assert [x.value for x in cells] == [b"5"]


# ---- removing the logs of stopped incarnations (regionserver.data.log_cleaner) ----


def test_a_stopped_owners_log_is_kept_until_its_claims_are_taken_over_then_removed(
    envs: Environments, tmp_path: Path
) -> None:
    a = Owner(tmp_path, envs, S1, 1)
    a.open()
    directory = log_dir(tmp_path, S1)
    cleaner = log_cleaner.LogCleaner(tmp_path, S2, envs)  # one cleaner, look after look, as a server's

    async def write() -> None:
        await a.put(b"arm", b"")
        await a.put(b"r", b"only-logged")
        assert cleaner.clean().kept == {directory: "its owner runs"}

    asyncio.run(write())
    a.crash()
    for _ in range(2):  # the store still names S1's claim: needed, at the look that read the log and after
        found = cleaner.clean()
        assert found.kept == {directory: f"{region_key(a.path, 1).decode()} has not been taken over"}
        assert found.stopped_kept == 1
    b = Owner(tmp_path, envs, S2, 2)  # S2 also creates its own log
    b.open()
    assert b.read(b"r") == b"only-logged"
    cleaned = cleaner.clean()
    assert cleaned.removed == [directory] and not directory.exists() and cleaned.kept == {}
    assert wal.segment_numbers(log_dir(tmp_path, S2))  # its own, never touched
    assert b.read(b"r") == b"only-logged"
    b.crash()


def test_the_log_of_a_claim_that_closed_clean_or_whose_store_is_gone_is_removed(
    envs: Environments, tmp_path: Path
) -> None:
    s1_wrote(tmp_path, envs, close=True).crash()
    assert log_cleaner.LogCleaner(tmp_path, S2, envs).clean().removed == [log_dir(tmp_path, S1)]

    gone = s1_wrote(tmp_path / "dropped", envs, close=False)
    envs.close(gone.path)
    shutil.rmtree(gone.path)  # the table dropped: no store names the claim any more
    cleaned = log_cleaner.LogCleaner(tmp_path / "dropped", S2, envs).clean()
    assert cleaned.removed == [log_dir(tmp_path / "dropped", S1)]


def test_a_log_being_created_and_what_is_not_a_log_are_left(envs: Environments, tmp_path: Path) -> None:
    s1_wrote(tmp_path, envs, close=False)
    creating = log_dir(tmp_path, S2)
    creating.mkdir(parents=True)  # its owner has not written segment 1 yet
    (tmp_path / "wal" / "not-a-server").mkdir()
    found = log_cleaner.LogCleaner(tmp_path, ServerName("127.0.0.1", 16099, 3), envs).clean()
    assert found.removed == [] and found.kept[creating] == "being created" and found.stopped_kept == 1
    assert set(found.kept) == {creating, log_dir(tmp_path, S1)}
    assert (tmp_path / "wal" / "not-a-server").exists()
    wal.ServerLog.create(creating).close()  # the owner can still create it


def test_a_log_another_cleaner_removes_first_is_passed_over(
    envs: Environments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers' cleaners look at the same time: one removes a log while another is about to look."""
    s1_wrote(tmp_path, envs, close=True).crash()
    other = log_cleaner.LogCleaner(tmp_path, S2, envs)
    real = log_cleaner.LogCleaner._clean_one

    def the_other_was_quicker(
        self: log_cleaner.LogCleaner, directory: Path, server: ServerName
    ) -> str | None:
        assert real(other, directory, server) is None  # the other server's cleaner removes it
        return real(self, directory, server)  # and this one looks

    monkeypatch.setattr(log_cleaner.LogCleaner, "_clean_one", the_other_was_quicker)
    found = log_cleaner.LogCleaner(tmp_path, ServerName("127.0.0.1", 16099, 3), envs).clean()
    assert found.removed == [] and found.kept == {} and not log_dir(tmp_path, S1).exists()


def test_maintain_flushes_old_and_large_memories_and_deletes_segments_no_region_needs(
    envs: Environments, tmp_path: Path
) -> None:
    a = Owner(tmp_path, envs, S1, 1, flush_bytes=10_000, flush_after_s=5.0, max_segments=2)
    assert a.log is not None and a.wal is not None
    a.log.segment_bytes = 600  # a roll every few appends
    a.open()

    async def main() -> None:
        await a.put(b"arm", b"")
        for i in range(12):
            await a.put(b"r%02d" % i, b"x" * 100)
        assert len(a.log.segments()) > 2
        memory = a.store.memory
        assert memory is not None
        assert a.wal.maintain(now=memory.since + 1) == 1  # too many segments: the region keeping them
        await until_flushed(memory)  # the flush is a group of no writes, committed on the next turns
        a.wal.maintain()
        assert len(a.log.segments()) == 1  # every older one deleted: nothing in them is unflushed
        await a.put(b"late", b"1")
        assert a.wal.maintain(now=memory.since + 1) == 0
        assert a.wal.maintain(now=memory.since + 5) == 1  # its oldest edit is 5 s old
        await until_flushed(memory)

    asyncio.run(main())
    a.crash()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 4), st.binary(min_size=1, max_size=3)),
        st.tuples(st.just("delete"), st.integers(0, 4), st.just(b"")),
        st.tuples(st.just("big"), st.integers(0, 4), st.binary(min_size=1, max_size=3)),
        st.tuples(st.just("flush"), st.just(0), st.just(b"")),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=ops, clean=st.booleans())
def test_whatever_was_acknowledged_is_what_the_next_owner_reads(
    envs: Environments,
    tmp_path_factory: pytest.TempPathFactory,
    script: list[tuple[str, int, bytes]],
    clean: bool,
) -> None:
    """Logged puts and deletes, puts committed to the store, flushes, in any order; then a crash or a
    clean close, and a new owner: it reads exactly the model's rows."""
    root = tmp_path_factory.mktemp("wal")
    a = Owner(root, envs, S1, 1)
    a.open()
    model: dict[bytes, bytes] = {}

    async def run() -> None:
        await a.put(b"arm", b"")
        model[b"arm"] = b""
        for kind, n, value in script:
            row = b"row%d" % n
            if kind == "put":
                await a.put(row, value)
                model[row] = value
            elif kind == "delete":
                await a.delete(row)
                model.pop(row, None)
            elif kind == "big":
                big = RowMutation(
                    row, (Put(b"f", b"q", value), *(Put(b"f", b"pad%d" % i, b"") for i in range(120)))
                )
                assert await a.writer.mutate([big]) == [None]
                model[row] = value
            else:
                a.store.flush()
        if clean:
            await a.writer.stop()

    asyncio.run(run())
    a.crash()
    b = Owner(root, envs, S2, 2)
    b.open()
    assert {row: b.read(row) for row in [b"arm", *(b"row%d" % n for n in range(5))]} == {
        row: model.get(row) for row in [b"arm", *(b"row%d" % n for n in range(5))]
    }
    if clean:
        assert b.takeover.replayed_edits == 0 and seals_in(root, S1) == []
    envs.close_all()
