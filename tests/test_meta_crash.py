"""Crash safety of meta: a child process group-commits numbered batches and is SIGKILLed at a random point.

After each kill, meta must open, hold every batch the child saw acknowledged, and hold each batch it holds
entirely (tests/meta_crash_child.py says what a batch writes); then the next child carries on in the same
meta and is killed in turn. The child is a fresh interpreter (subprocess, not fork), so its LMDB environment
is its own.

How strong is one kill? A kill only catches a half-applied batch if it lands between two commits, and about
nine in ten kills land inside a commit (most of a commit cycle is its fsync): a mutant writer that splits
every batch over two commits was caught by about 9% of the kills. So each default test kills several times,
and the slow variants many more.
"""

from __future__ import annotations

import asyncio
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from meta import MetaStore, MetaWriter
from meta.keys import from_u64
from tests.meta_crash_child import BATCH_DATABASES, COUNTER_KEY, batch_id, make_batch, payload, row_key

CHILD = Path(__file__).with_name("meta_crash_child.py")
DEADLINE = 30.0  # seconds a child gets to reach its kill point
TINY_MAP = 128 * 1024


@dataclass(frozen=True)
class Child:
    """How one child is run and killed."""

    first: int  # number of its first batch
    kill_after: int  # acks to wait for before the kill...
    linger: float  # ...then seconds more
    tasks: int
    map_size: int
    max_payload: int


def _read_until(proc: subprocess.Popen[bytes], child: Child, stderr_file: Path) -> int:
    """Read the child's stdout until it reported `kill_after` acks (b"."), then `linger` seconds more.

    Return the acks counted. The child acknowledges right after a commit, and the parent reacts faster than
    the child's next commit takes, so a kill sent at once would nearly always land in the same phase of the
    commit cycle (inside the next fsync). Lingering a random fraction of a commit cycle or a few cycles
    spreads the kills over the whole cycle: between commits, during the puts, during the fsync.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    started, seen = False, 0
    deadline = time.monotonic() + DEADLINE
    kill_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if kill_at is None and started and seen >= child.kill_after:
                kill_at = now + child.linger
            if kill_at is not None and now >= kill_at:
                return seen
            if now >= deadline:
                pytest.fail(f"child reached {seen} of {child.kill_after} acks in {DEADLINE} s: "
                            f"{stderr_file.read_text()}")  # fmt: skip
            if not selector.select(timeout=(deadline if kill_at is None else kill_at) - now):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                proc.wait(timeout=10)
                pytest.fail(f"child exited with {proc.returncode} after {seen} of {child.kill_after} acks: "
                            f"{stderr_file.read_text()}")  # fmt: skip
            started = started or chunk.startswith(b"S")
            seen += chunk.count(b".")


def run_and_kill(meta: Path, acks_file: Path, child: Child) -> int:
    """Run a child on `meta` and SIGKILL it at its kill point; return the acks the parent counted."""
    stderr_file = acks_file.with_suffix(".stderr")
    command = [
        sys.executable, str(CHILD), "--path", str(meta), "--acks", str(acks_file),
        "--first", str(child.first), "--tasks", str(child.tasks), "--map-size", str(child.map_size),
        "--max-payload", str(child.max_payload), "--lifetime", str(DEADLINE + 30),
    ]  # fmt: skip
    with stderr_file.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
    try:
        seen = _read_until(proc, child, stderr_file)
        proc.send_signal(signal.SIGKILL)
        returncode = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert returncode == -signal.SIGKILL, f"child ended on its own ({returncode}): {stderr_file.read_text()}"
    return seen


def acknowledged(acks_file: Path) -> set[int]:
    """Batch numbers in the ack file; a line cut short by the kill (no newline) was not acknowledged."""
    lines = acks_file.read_bytes().split(b"\n")[:-1] if acks_file.exists() else []
    return {int(line) for line in lines}


def batches_in_meta(store: MetaStore, max_payload: int) -> set[int]:
    """The batches meta holds, after checking that each of them is there entirely and nothing else is."""
    with store.snapshot() as snap:
        rows = {db: {batch_id(db, key): value for key, value in snap.scan(db)} for db in BATCH_DATABASES}
        raw_counter = snap.get("info", COUNTER_KEY)
    present: set[int] = set().union(*rows.values())
    for i in sorted(present):
        missing = [db for db in BATCH_DATABASES if i not in rows[db]]
        assert not missing, f"batch {i} is half-applied: no row in {missing}"
        wrong = [db for db in BATCH_DATABASES if rows[db][i] != payload(i, max_payload)]
        assert not wrong, f"batch {i} has a wrong value in {wrong}"
    counter = from_u64(raw_counter) if raw_counter else 0
    assert counter == len(present), f"meta counts {counter} committed batches but holds {len(present)}"
    return present


async def _write_one(store: MetaStore, i: int, max_payload: int) -> None:
    writer = MetaWriter(store)
    writer.start()
    try:
        await writer.write(make_batch(i, max_payload))
    finally:
        await writer.stop()


def check_after_crash(meta: Path, acks_file: Path, child: Child, acks_seen: int) -> set[int]:
    """Reopen meta as the next master would and check it; check it takes a write; return the batches in it."""
    acked = acknowledged(acks_file)
    assert len(acked) >= acks_seen, "the ack file lost acknowledgements"
    store = MetaStore.open(meta, map_size=child.map_size)
    try:
        assert store.epoch == 0 and store.cluster_id
        present = batches_in_meta(store, child.max_payload)
        lost = sorted(acked - present)
        assert not lost, f"{len(lost)} acknowledged batches are not in meta, e.g. {lost[:10]}"
        one_more = max(present, default=-1) + 1
        asyncio.run(_write_one(store, one_more, child.max_payload))
    finally:
        store.close()
    store = MetaStore.open(meta, map_size=child.map_size)
    try:
        assert batches_in_meta(store, child.max_payload) == present | {one_more}
    finally:
        store.close()
    return present | {one_more}


def crash_rounds(tmp_path: Path, seed: int, rounds: int, *, growing: bool) -> None:
    """Kill `rounds` children in turn on one meta, each at a random point, checking meta after each kill."""
    rng = random.Random(seed)
    meta, acks_file = tmp_path / "meta", tmp_path / "acks"
    max_payload = 6000 if growing else rng.choice([64, 512, 3000])  # 6000: overflow pages fill the map fast
    present: set[int] = set()
    for _ in range(rounds):
        kill_after = rng.randint(30, 600) if growing else rng.randint(0, rng.choice([1, 50, 1500]))
        child = Child(
            first=max(present, default=-1) + 1,
            kill_after=kill_after,
            linger=rng.uniform(0, rng.choice([0.001, 0.003, 0.03])),
            tasks=rng.randint(1, 16),
            map_size=TINY_MAP if growing else 1 << 30,
            max_payload=max_payload,
        )
        acks_seen = run_and_kill(meta, acks_file, child)
        before = len(present)
        present = check_after_crash(meta, acks_file, child, acks_seen)
        assert len(present) > before + kill_after
    if growing:
        assert meta.joinpath("data.mdb").stat().st_size > 4 * TINY_MAP, "the map hardly had to grow"


@pytest.mark.parametrize("seed", range(12))
def test_acknowledged_batches_survive_sigkill_and_none_is_half_applied(tmp_path: Path, seed: int) -> None:
    crash_rounds(tmp_path, seed, rounds=3, growing=False)


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_while_the_map_grows_loses_no_acknowledged_batch(tmp_path: Path, seed: int) -> None:
    crash_rounds(tmp_path, seed, rounds=2, growing=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1000, 1100))
def test_acknowledged_batches_survive_sigkill_at_many_kill_points(tmp_path: Path, seed: int) -> None:
    crash_rounds(tmp_path, seed, rounds=3, growing=False)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1000, 1030))
def test_sigkill_while_the_map_grows_at_many_kill_points(tmp_path: Path, seed: int) -> None:
    crash_rounds(tmp_path, seed, rounds=3, growing=True)


def test_ack_file_reader_ignores_a_line_cut_by_the_kill(tmp_path: Path) -> None:
    acks = tmp_path / "acks"
    acks.write_bytes(b"3\n1\n12")
    assert acknowledged(acks) == {1, 3}
    assert acknowledged(tmp_path / "absent") == set()


def test_batch_keys_map_back_to_their_batch() -> None:
    for db in BATCH_DATABASES:
        for i in (0, 1, 99, 2**40):
            assert batch_id(db, row_key(db, i)) == i
