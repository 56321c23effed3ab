"""MetaWriter and MetaStore: group commit, per-batch failure, map growth, epoch fencing, stop, validation,
snapshots, and what opening meta does with directories that are not (or not yet) meta."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import lmdb
import pytest

from meta import (
    DATABASES,
    InvalidMutation,
    MetaClosedError,
    MetaCorruptError,
    MetaForeignError,
    MetaOpenError,
    MetaStore,
    MetaWriteError,
    MetaWriter,
    WriteBatch,
)
from meta.batch import MAX_KEY
from meta.keys import from_u64, u64
from tests.background import CheckedThread, finish_all
from tests.processes import ProcessGroups

T = TypeVar("T")
TINY_MAP = 256 * 1024


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run `coro` on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore.open(tmp_path / "meta")
    try:
        yield store
    finally:
        store.close()


def rows(store: MetaStore, db: str) -> dict[bytes, bytes]:
    with store.snapshot() as snap:
        return dict(snap.scan(db))


def files(directory: Path) -> dict[str, str]:
    """Name -> sha256 of every file in `directory`."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def put(i: int, value: bytes = b"v", db: str = "region_state") -> WriteBatch:
    return WriteBatch().put(db, u64(i), value)


async def started(store: MetaStore, epoch: int | None = None) -> MetaWriter:
    writer = MetaWriter(store, epoch=epoch)
    writer.start()
    return writer


# ---- group commit ----


def test_concurrent_writes_are_group_committed(store: MetaStore) -> None:
    async def scenario() -> MetaWriter:
        writer = await started(store)
        await asyncio.gather(*(writer.write(put(i, b"%d" % i)) for i in range(50)))
        await writer.stop()
        return writer

    writer = run(scenario())
    assert writer.stats.batches == 50 and writer.stats.rows == 50
    assert writer.stats.commits <= 5, f"50 concurrent writes took {writer.stats.commits} commits"
    assert rows(store, "region_state") == {u64(i): b"%d" % i for i in range(50)}


def test_sequential_writes_each_wait_for_their_own_commit(store: MetaStore) -> None:
    async def scenario() -> MetaWriter:
        writer = await started(store)
        for i in range(5):
            await writer.write(put(i))
            assert rows(store, "region_state").keys() == {u64(j) for j in range(i + 1)}
        await writer.stop()
        return writer

    assert run(scenario()).stats.commits == 5


def _raise_boom(_old: bytes | None) -> bytes | None:
    raise RuntimeError("boom")


def test_a_failing_batch_fails_only_its_caller_and_leaves_nothing(store: MetaStore) -> None:
    not_bytes: list[Any] = [(u64(101), b"y"), ("not bytes", b"z")]
    bad_put_many = WriteBatch().put("procedures", u64(100), b"x").put_many("procedures", not_bytes)
    bad_update = WriteBatch().put("region_state", u64(200), b"x").update("info", b"k", _raise_boom)

    async def scenario() -> tuple[MetaWriter, list[BaseException | None]]:
        writer = await started(store)
        outcomes = await asyncio.gather(
            writer.write(put(1)), writer.write(bad_put_many), writer.write(bad_update), writer.write(put(2)),
            return_exceptions=True,
        )  # fmt: skip
        return writer, outcomes

    writer, (ok1, err_many, err_update, ok2) = run(scenario())
    assert ok1 is None and ok2 is None
    assert isinstance(err_many, MetaWriteError) and "TypeError" in str(err_many)
    assert isinstance(err_update, MetaWriteError) and "RuntimeError: boom" in str(err_update)
    assert writer.stats.commits == 1, "the four batches were meant to share one group commit"
    assert rows(store, "region_state") == {u64(1): b"v", u64(2): b"v"}
    assert rows(store, "procedures") == {}
    assert rows(store, "info").get(b"k") is None
    assert writer.failure is None, "a refused batch must not stop the writer"

    async def later() -> None:
        writer2 = await started(store)
        await writer2.write(put(3))
        await writer2.stop()

    run(later())
    assert u64(3) in rows(store, "region_state")


def test_update_reads_the_current_value_and_none_deletes(store: MetaStore) -> None:
    def increment(old: bytes | None) -> bytes:
        return u64((from_u64(old) if old else 0) + 1)

    async def scenario() -> None:
        writer = await started(store)
        await asyncio.gather(*(writer.write(WriteBatch().update("info", b"n", increment)) for _ in range(7)))
        assert rows(store, "info")[b"n"] == u64(7)
        await writer.write(WriteBatch().update("info", b"n", lambda old: None))
        await writer.stop()

    run(scenario())
    assert b"n" not in rows(store, "info")


def test_a_batch_applies_its_ops_in_order(store: MetaStore) -> None:
    batch = WriteBatch().put("tables", b"t", b"1").delete("tables", b"t").put("tables", b"u", b"2")
    batch.update("tables", b"u", lambda old: (old or b"") + b"3")

    async def scenario() -> None:
        writer = await started(store)
        await writer.write(batch)
        await writer.stop()

    run(scenario())
    assert rows(store, "tables") == {b"u": b"23"}


# ---- map growth ----


def test_a_full_map_grows_and_no_map_full_error_reaches_the_caller(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "meta", map_size=TINY_MAP)
    value = os.urandom(1000)
    try:

        async def scenario() -> None:
            writer = await started(store)
            many = [
                writer.write(
                    WriteBatch().put_many("procedures", [(u64(i * 50 + j), value) for j in range(50)])
                )
                for i in range(100)
            ]  # 5 MB in small batches...
            await asyncio.gather(*many)
            # ...and one batch that is itself many times the map, so one commit must grow it again and again
            await writer.write(WriteBatch().put_many("servers", [(u64(i), value) for i in range(4000)]))
            await writer.stop()

        run(scenario())
        assert store.disk_bytes() > 32 * TINY_MAP
    finally:
        store.close()
    store = MetaStore.open(tmp_path / "meta", map_size=TINY_MAP)
    try:
        with store.snapshot() as snap:
            assert snap.count("procedures") == 5000 and snap.count("servers") == 4000
            assert snap.get("servers", u64(3999)) == value

        async def after_reopen() -> None:  # the reopened map is only as large as the data: it grows again
            writer = await started(store)
            await writer.write(WriteBatch().put_many("regions", [(u64(i), value) for i in range(500)]))
            await writer.stop()

        run(after_reopen())
        assert len(rows(store, "regions")) == 500
    finally:
        store.close()


# py-lmdb 3.0.0 makes aborting a write transaction (or a nested one) wait until no other thread is inside a
# read call: with two or more threads reading back to back it would wait for ever, and the writer would block
# the event loop (py-lmdb 1.6.2 does not). The store aborts on every refused batch, fenced write and full map,
# so it holds new snapshots back for the instant of each abort (MetaStore._abort). These tests guard that.
READERS_GIVE_UP = 1.5  # seconds: a healthy scenario below takes a tenth of that


def finishes_while_threads_read(store: MetaStore, scenario: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run `scenario` on an event loop while three threads take snapshots back to back, each checking that
    meta never goes back in time. Return whether it finished before the readers gave up (READERS_GIVE_UP)."""
    give_up = time.monotonic() + READERS_GIVE_UP
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[int, list[int]] = {n: [] for n in range(3)}

    def reader(counts: list[int]) -> None:
        try:
            while not stop.is_set() and time.monotonic() < give_up:
                with store.snapshot() as snap:
                    n = snap.count("procedures")
                    assert sum(1 for _ in snap.scan("procedures")) == n
                counts.append(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [CheckedThread(reader, seen[n], name=f"reader-{n}") for n in seen]
    try:
        for thread in threads:
            thread.start()
        run(scenario())
        in_time = time.monotonic() < give_up
    finally:
        stop.set()
        finish_all(threads)
    assert not errors, errors
    for counts in seen.values():
        assert counts == sorted(counts), "a reader saw meta go back in time"
    return in_time


def test_readers_in_other_threads_keep_reading_while_the_map_grows(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "meta", map_size=TINY_MAP)

    async def scenario() -> None:
        writer = await started(store)
        for i in range(40):
            rows = [(u64(i * 20 + j), b"x" * 2000) for j in range(20)]
            await writer.write(WriteBatch().put_many("procedures", rows))
        await writer.stop()

    try:
        assert finishes_while_threads_read(store, scenario), "the writer stalled while threads were reading"
        assert store.disk_bytes() > 4 * TINY_MAP, "the map hardly had to grow"
        assert len(rows(store, "procedures")) == 800
    finally:
        store.close()


def test_a_refused_batch_does_not_stall_the_writer_while_threads_read(store: MetaStore) -> None:
    async def scenario() -> None:
        writer = await started(store)
        for i in range(10):
            with pytest.raises(MetaWriteError):
                await writer.write(put(i, db="procedures").update("info", b"k", _raise_boom))
        await writer.stop()

    assert finishes_while_threads_read(store, scenario), "the writer stalled while threads were reading"
    assert rows(store, "procedures") == {}


def test_a_fenced_writer_is_refused_without_stalling_while_threads_read(store: MetaStore) -> None:
    store.bootstrap_write(WriteBatch().put("info", b"master_epoch", u64(2)))

    async def scenario() -> None:
        writer = await started(store, epoch=1)  # a replaced master: every commit is refused, then aborted
        for i in range(10):
            with pytest.raises(MetaWriteError, match="epoch 2"):
                await writer.write(put(i, db="procedures"))

    assert finishes_while_threads_read(store, scenario), "the writer stalled while threads were reading"
    assert rows(store, "procedures") == {}


def test_a_refused_batch_from_a_thread_inside_a_snapshot_does_not_deadlock(store: MetaStore) -> None:
    """The abort holds other threads' snapshots back; it must not wait for its own thread's."""
    outcome: list[BaseException | None] = []

    def refuse_inside_a_snapshot() -> None:
        with store.snapshot() as snap, store.snapshot():
            try:
                store.bootstrap_write(put(1, db="procedures").update("info", b"k", _raise_boom))
            except MetaWriteError as exc:
                outcome.append(exc)
            assert snap.get("procedures", u64(1)) is None

    thread = CheckedThread(refuse_inside_a_snapshot, name="snapshot-holder").start()
    thread.finish(10)  # still running: the abort waited for its own thread's snapshot
    assert len(outcome) == 1 and "boom" in str(outcome[0])
    assert rows(store, "procedures") == {}


# ---- epoch fencing ----


def set_epoch(store: MetaStore, epoch: int) -> None:
    """What a master does when it becomes active (another master, for the writer under test)."""
    store.bootstrap_write(WriteBatch().put("info", b"master_epoch", u64(epoch)))


def test_a_writer_of_a_replaced_master_is_refused_and_writes_nothing(store: MetaStore) -> None:
    set_epoch(store, 7)

    async def scenario() -> list[BaseException | None]:
        writer = await started(store, epoch=7)
        await writer.write(put(1))
        set_epoch(store, 8)  # a new master took over
        outcomes = await asyncio.gather(writer.write(put(2)), writer.write(put(3)), return_exceptions=True)
        set_epoch(store, 6)  # any other epoch, older too
        try:
            await writer.write(put(4))
        except MetaWriteError as exc:
            outcomes.append(exc)
        return outcomes

    outcomes = run(scenario())
    for outcome in outcomes:
        assert isinstance(outcome, MetaWriteError), outcome
    assert "epoch 8" in str(outcomes[0]) and "epoch 7" in str(outcomes[0])
    assert rows(store, "region_state") == {u64(1): b"v"}
    assert store.epoch == 6


def test_a_writer_without_epoch_is_not_fenced(store: MetaStore) -> None:
    set_epoch(store, 3)

    async def scenario() -> None:
        writer = await started(store)
        await writer.write(put(1))
        await writer.stop()

    run(scenario())
    assert u64(1) in rows(store, "region_state")


# ---- stop ----


def test_stop_commits_what_is_queued_then_refuses_writes(store: MetaStore) -> None:
    async def scenario() -> None:
        writer = await started(store)
        await asyncio.gather(*(writer.write(put(i)) for i in range(10)), writer.stop())
        assert len(rows(store, "region_state")) == 10
        with pytest.raises(MetaClosedError):
            await writer.write(put(99))
        with pytest.raises(MetaWriteError):  # MetaClosedError is a MetaWriteError: callers catch one
            await writer.write(put(99))

    run(scenario())
    assert u64(99) not in rows(store, "region_state")


# ---- mutations refused before any write ----


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: WriteBatch().put("nope", b"k", b"v"), id="unknown-db-put"),
        pytest.param(lambda: WriteBatch().put_many("nope", [(b"k", b"v")]), id="unknown-db-put-many"),
        pytest.param(lambda: WriteBatch().delete("nope", b"k"), id="unknown-db-delete"),
        pytest.param(lambda: WriteBatch().update("nope", b"k", lambda v: v), id="unknown-db-update"),
        pytest.param(lambda: WriteBatch().put("tables", b"", b"v"), id="empty-key"),
        pytest.param(lambda: WriteBatch().delete("tables", b""), id="empty-key-delete"),
        pytest.param(lambda: WriteBatch().put("tables", b"k" * (MAX_KEY + 1), b"v"), id="too-long-key"),
        pytest.param(lambda: WriteBatch().put("tables", "k", b"v"), id="str-key"),
        pytest.param(lambda: WriteBatch().put("tables", b"k", "v"), id="str-value"),
    ],
)
def test_malformed_mutations_raise_invalid_mutation(build: Callable[[], WriteBatch]) -> None:
    with pytest.raises(InvalidMutation) as info:
        build()
    assert "tables" in str(info.value) or "nope" in str(info.value)


def test_unknown_db_error_lists_the_known_ones() -> None:
    with pytest.raises(InvalidMutation, match="unknown meta database 'nope'") as info:
        WriteBatch().put("nope", b"k", b"v")
    for db in DATABASES:
        assert db in str(info.value)


def test_the_longest_allowed_key_is_written(store: MetaStore) -> None:
    key = b"k" * MAX_KEY

    async def scenario() -> None:
        writer = await started(store)
        await writer.write(WriteBatch().put("tables", key, b"v"))
        await writer.stop()

    run(scenario())
    assert rows(store, "tables") == {key: b"v"}


# ---- snapshots ----


@pytest.fixture
def three_rows(store: MetaStore) -> MetaStore:
    store.bootstrap_write(WriteBatch().put_many("region_state", [(u64(i), b"%d" % i) for i in (10, 20, 30)]))
    return store


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (u64(15), 10),  # between rows
        (u64(20), 20),  # on a row
        (u64(10), 10),  # on the first row
        (u64(9), None),  # before the first row
        (b"\x00", None),  # shorter than every key, before them all
        (u64(31), 30),  # after the last row
        (b"\xff" * 20, 30),  # longer than every key, after them all
        (u64(20) + b"\x00", 20),  # just after a row
    ],
)
def test_snapshot_floor_finds_the_largest_key_at_or_before(
    three_rows: MetaStore, key: bytes, expected: int | None
) -> None:
    with three_rows.snapshot() as snap:
        found = snap.floor("region_state", key)
    assert found == (None if expected is None else (u64(expected), b"%d" % expected))


def test_snapshot_floor_in_an_empty_db_is_none(three_rows: MetaStore) -> None:
    with three_rows.snapshot() as snap:
        assert snap.floor("procedures", u64(5)) is None
        assert list(snap.scan("procedures")) == []


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (b"", None, [10, 20, 30]),
        (u64(10), u64(30), [10, 20]),  # stop is exclusive
        (u64(11), None, [20, 30]),  # start between rows
        (u64(20), u64(21), [20]),
        (u64(31), None, []),  # after the last row
        (u64(0), u64(10), []),
    ],
)
def test_snapshot_scan_yields_rows_from_start_before_stop(
    three_rows: MetaStore, start: bytes, stop: bytes | None, expected: list[int]
) -> None:
    with three_rows.snapshot() as snap:
        assert list(snap.scan("region_state", start, stop)) == [(u64(i), b"%d" % i) for i in expected]
        assert snap.count("region_state") == 3


def test_a_snapshot_keeps_its_view_while_a_write_commits(three_rows: MetaStore) -> None:
    with three_rows.snapshot() as snap:
        three_rows.bootstrap_write(put(40))
        assert snap.count("region_state") == 3 and snap.get("region_state", u64(40)) is None
    assert len(rows(three_rows, "region_state")) == 4


# ---- opening ----


def test_an_empty_directory_becomes_meta_with_a_cluster_id_and_epoch_zero(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    store = MetaStore.open(tmp_path / "meta")
    try:
        cluster_id = store.cluster_id
        assert len(cluster_id) == 36 and store.epoch == 0
        with store.snapshot() as snap:
            assert snap.get("info", b"schema") == b"regent-meta/1"
            assert all(snap.count(db) == 0 for db in DATABASES if db != "info")
    finally:
        store.close()
    store = MetaStore.open(tmp_path / "meta")
    try:
        assert store.cluster_id == cluster_id, "reopening must keep the cluster id"
    finally:
        store.close()


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "a" / "b" / "meta")
    try:
        assert store.cluster_id and store.epoch == 0
    finally:
        store.close()


def test_two_new_metas_get_different_cluster_ids(tmp_path: Path) -> None:
    ids = []
    for name in ("one", "two"):
        store = MetaStore.open(tmp_path / name)
        ids.append(store.cluster_id)
        store.close()
    assert ids[0] != ids[1]


def test_a_path_that_is_a_file_raises_meta_open_error(tmp_path: Path) -> None:
    (tmp_path / "meta").write_bytes(b"hello")
    with pytest.raises(MetaOpenError, match="not a directory"):
        MetaStore.open(tmp_path / "meta")
    assert (tmp_path / "meta").read_bytes() == b"hello"


def test_a_directory_of_other_files_raises_foreign_and_is_untouched(tmp_path: Path) -> None:
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "notes.txt").write_bytes(os.urandom(3000))
    before = files(meta)
    with pytest.raises(MetaForeignError, match=r"notes\.txt"):
        MetaStore.open(meta)
    assert files(meta) == before, "nothing may be written next to a foreign file"


def test_a_garbage_data_file_raises_corrupt_and_is_unchanged(tmp_path: Path) -> None:
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "data.mdb").write_bytes(os.urandom(64 * 1024))
    before = files(meta)["data.mdb"]
    with pytest.raises(MetaCorruptError, match=r"data\.mdb"):
        MetaStore.open(meta)
    assert files(meta)["data.mdb"] == before


def test_another_lmdb_environment_raises_foreign_and_is_unchanged(tmp_path: Path) -> None:
    foreign = tmp_path / "meta"
    env = lmdb.open(str(foreign), max_dbs=2)
    try:
        other = env.open_db(b"other")
        with env.begin(write=True) as txn:
            txn.put(b"k", b"v", db=other)
    finally:
        env.close()
    before = files(foreign)["data.mdb"]
    with pytest.raises(MetaForeignError, match="other"):
        MetaStore.open(foreign)
    assert files(foreign)["data.mdb"] == before


def test_an_lmdb_environment_of_plain_rows_raises_foreign_and_is_unchanged(tmp_path: Path) -> None:
    foreign = tmp_path / "meta"
    env = lmdb.open(str(foreign))
    try:
        with env.begin(write=True) as txn:
            txn.put(b"some", b"row")
    finally:
        env.close()
    before = files(foreign)["data.mdb"]
    with pytest.raises(MetaForeignError):
        MetaStore.open(foreign)
    assert files(foreign)["data.mdb"] == before


def test_an_lmdb_environment_with_plain_rows_named_like_meta_dbs_raises_foreign(tmp_path: Path) -> None:
    foreign = tmp_path / "meta"
    env = lmdb.open(str(foreign))
    try:
        with env.begin(write=True) as txn:
            for db in DATABASES:
                txn.put(db.encode(), b"plain row, not a database")
    finally:
        env.close()
    before = files(foreign)["data.mdb"]
    try:
        with pytest.raises(MetaForeignError, match="expected 'info' to be a database, found a plain row"):
            MetaStore.open(foreign)
    finally:
        assert files(foreign)["data.mdb"] == before


def test_meta_with_one_database_replaced_by_a_plain_row_raises_foreign_and_is_unchanged(
    tmp_path: Path,
) -> None:
    """`info` is a database holding meta's schema, but `regions` is a plain row of the main database."""
    foreign = tmp_path / "meta"
    env = lmdb.open(str(foreign), max_dbs=len(DATABASES) + 1)
    try:
        with env.begin(write=True) as txn:
            for db in DATABASES:
                if db == "regions":
                    txn.put(db.encode(), b"plain row, not a database")
                else:
                    handle = env.open_db(db.encode(), txn=txn)
                    if db == "info":
                        txn.put(b"schema", b"regent-meta/1", db=handle)
    finally:
        env.close()
    before = files(foreign)["data.mdb"]
    with pytest.raises(MetaForeignError, match="expected 'regions' to be a database"):
        MetaStore.open(foreign)
    assert files(foreign)["data.mdb"] == before


def test_meta_of_another_schema_version_raises_foreign_and_is_unchanged(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "meta")
    store.bootstrap_write(WriteBatch().put("info", b"schema", b"regent-meta/99"))
    store.close()
    before = files(tmp_path / "meta")["data.mdb"]
    with pytest.raises(MetaForeignError, match="regent-meta/99"):
        MetaStore.open(tmp_path / "meta")
    assert files(tmp_path / "meta")["data.mdb"] == before


def test_reopening_meta_writes_nothing(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "meta")
    store.bootstrap_write(put(1))
    store.close()
    before = files(tmp_path / "meta")["data.mdb"]
    store = MetaStore.open(tmp_path / "meta")
    try:
        assert rows(store, "region_state") == {u64(1): b"v"}
    finally:
        store.close()
    assert files(tmp_path / "meta")["data.mdb"] == before


_GROW_IN_CHILD = """
import sys
from pathlib import Path
from meta import MetaStore, WriteBatch, keys
store = MetaStore.open(Path(sys.argv[1]), map_size=1 << 20)
rows = [(keys.u64(i), bytes(200)) for i in range(20_000)]  # about 5 MB: the 1 MiB map must grow
store.bootstrap_write(WriteBatch().put_many("procedures", rows))
store.close()
"""


def test_a_reader_adopts_a_map_another_process_grew(tmp_path: Path) -> None:
    """A standby master reads meta while the active master (another process) grows its map: LMDB then
    refuses the reader's next transaction (MapResizedError) until it adopts the new size itself."""
    path = tmp_path / "meta"
    reader = MetaStore.open(path, map_size=1 << 20)
    try:
        subprocess.run(
            [sys.executable, "-c", _GROW_IN_CHILD, str(path)], check=True, timeout=60, capture_output=True
        )
        with reader.snapshot() as snap:
            assert snap.count("procedures") == 20_000
    finally:
        reader.close()


_OPEN_IN_CHILD = """
import sys
from pathlib import Path
from meta import MetaStore
store = MetaStore.open(Path(sys.argv[1]))
print(store.cluster_id)
store.close()
"""


def test_meta_opened_by_many_processes_at_once_is_initialised_once(
    tmp_path: Path, processes: ProcessGroups
) -> None:
    """Masters starting together on a new ROOTDIR: every one of them sees the same cluster id."""
    path = tmp_path / "meta"
    children = [
        processes.popen([sys.executable, "-c", _OPEN_IN_CHILD, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    ids = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    store = MetaStore.open(path)
    try:
        assert ids == {store.cluster_id} and store.epoch == 0
    finally:
        store.close()
