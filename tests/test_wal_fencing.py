"""Fencing through the log with a real old owner (tests/wal_child.py): a process that owns a RegionServer's
log and appends edits of region R, rolling every few appends, is sealed from the test process, stopped
(SIGSTOP) at whatever instruction it was at, or running on: the race of seal() against its appends and
rolls. The new owner's recover() must hold every edit the old owner acknowledged before or after, and none
it refused; once the old owner has run to its end, exactly its acknowledged edits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from regionserver.data.wal import Seal, parse, recover, seal, segment_numbers, segment_path
from tests.cluster import wait_until
from tests.processes import ProcessGroups, stopped

CHILD = Path(__file__).with_name("wal_child.py")
R = b"R"
#: Small enough that the child rolls every second append: rolls race the seal.
SEGMENT_BYTES = 200
#: Refused edits of R the child reports before it exits.
REFUSALS = 6
WAIT_S = 30.0


class Lines:
    """The lines a child prints, read by a thread; waited for on a condition with a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.decode())
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.lines) or self.ended, WAIT_S):
                raise AssertionError(f"timed out after {WAIT_S:g}s waiting for {what}: {self.lines[-5:]}")
            assert predicate(self.lines), f"the child ended before {what}: {self.lines[-5:]}"

    def now(self) -> list[str]:
        """The lines printed so far."""
        with self._changed:
            return list(self.lines)

    def join(self) -> None:
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the child's stdout did not end"


def outcome(lines: list[str]) -> tuple[dict[int, int], set[int]]:
    """The child's acknowledged edits (edit -> seq) and refused ones."""
    acked: dict[int, int] = {}
    refused: set[int] = set()
    for line in lines:
        word, *rest = line.split()
        if word == "ACK":
            acked[int(rest[0])] = int(rest[1])
        else:
            assert word == "REFUSED", line
            refused.add(int(rest[0]))
    return acked, refused


def seals_of(directory: Path, region: bytes) -> int:
    """How many segments hold a SEAL of `region` (more than one: seal() found a newer segment)."""
    found = 0
    for number in segment_numbers(directory):
        records, _ = parse(segment_path(directory, number).read_bytes(), str(number))
        found += any(isinstance(r, Seal) and r.region == region for _, r in records)
    return found


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("pause", "acks"),
    [(True, 1), (True, 10), (True, 45), (True, 130), (False, 1), (False, 10), (False, 45), (False, 130)],
)
def test_recover_holds_exactly_what_the_fenced_owner_acknowledged(
    pause: bool, acks: int, tmp_path: Path, processes: ProcessGroups
) -> None:
    directory = tmp_path / "wal" / "host,16020,1"
    argv = [sys.executable, str(CHILD), str(directory), str(SEGMENT_BYTES), str(REFUSALS)]
    # Its log lines go to a file: a pipe nobody reads until the end could fill and stop the child.
    errors = tmp_path / "child.err"
    with errors.open("wb") as sink:
        child = processes.popen(argv, stdout=subprocess.PIPE, stderr=sink)
    assert child.stdout is not None
    out = Lines(child.stdout)
    out.wait_for(lambda lines: len(lines) >= acks, f"{acks} acknowledgements")
    if pause:
        os.kill(child.pid, signal.SIGSTOP)
        wait_until(lambda: stopped(child.pid), WAIT_S, "the old owner to stop")

    seal(directory, R, b"host,16021,2")
    recovered = recover(directory, R)
    acked_before, _ = outcome(out.now())

    if pause:
        os.kill(child.pid, signal.SIGCONT)
    out.wait_for(
        lambda lines: sum(line.startswith("REFUSED") for line in lines) >= REFUSALS,
        f"the old owner to report {REFUSALS} refusals (does it acknowledge edits of R after the seal?)",
    )
    out.join()
    assert child.wait(WAIT_S) == 0, errors.read_text(errors="replace")[-2000:]
    acked, refused = outcome(out.lines)

    by_edit = {int(e.ops[0][1].removeprefix(b"edit-")): e.seq for e in recovered}
    assert [e.seq for e in recovered] == sorted(by_edit.values()), "recovered out of log order"
    assert acked_before.keys() <= by_edit.keys(), "an edit acknowledged before the seal was not recovered"
    assert not refused & by_edit.keys(), (
        f"recovered edits that were refused: {sorted(refused & by_edit.keys())}"
    )
    assert len(refused) >= REFUSALS
    # The old owner answered every append before exiting: what it acknowledged is exactly what recover found,
    # with the same sequence numbers; nothing was acknowledged after seal() returned.
    assert acked == by_edit
    assert seals_of(directory, R) >= 1
