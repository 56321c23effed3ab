"""Child processes of the test run, seen and killed from the test side (Linux: /proc and prctl).

Three patterns that every process-level test copies:

- `ProcessGroups`: start children through it (or `track()` them) and call `kill_all()` in a finalizer (the
  `processes` fixture does). It kills each child's whole tree from the test side: the child is stopped
  first so that it cannot fork meanwhile, every descendant's process group is SIGKILLed, then the child's.
  Cleanup never depends on the code under test (a supervisor's PR_SET_PDEATHSIG, a daemon's own shutdown).
- `become_subreaper()`: the test run (pytest's process) adopts every orphaned descendant, so a grandchild
  whose parent died stays visible to the run instead of being handed to init.
- `leftover_children()`: every live (non-zombie) descendant of the test run. The session-end check in
  tests/conftest.py fails the run when any is still alive, and kills them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How long a killed child gets to be reaped.
REAP_TIMEOUT_S = 10.0
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Proc:
    """A process incarnation: the pid plus its start time, so that a reused pid is not mistaken for it."""

    pid: int
    starttime: int


def _stat(pid: int, stat: str = "") -> list[str] | None:
    """/proc/<pid>/stat (or `stat`, a thread's /proc/<pid>/task/<tid>/stat) split into fields: [0] = pid,
    [1] = state, [2] = ppid, [3] = pgid, [20] = starttime (numbering of proc(5) minus one after the
    command name), None if the process is gone."""
    try:
        raw = Path(stat or f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: fields start after the last ')'.
    return [raw[: raw.index(" ")], *raw[raw.rindex(")") + 2 :].split()]


def process_state(pid: int) -> str | None:
    """The state letter of process `pid` (R, S, D, T stopped, Z zombie, ...: proc(5)), None if it is gone."""
    fields = _stat(pid)
    return fields[1] if fields is not None else None


def stopped(pid: int) -> bool:
    """Whether SIGSTOP has taken effect on process `pid`, not only been sent: every thread of it stopped
    (a thread in a system call stops when the call returns), or the process gone or a zombie."""
    threads = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        threads = [_stat(pid, str(task / "stat")) for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(fields is None or fields[1] in "tTZX" for fields in threads)


def _processes() -> list[tuple[int, list[str]]]:
    """Every process now, with its /proc/<pid>/stat fields (_stat)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                found.append((int(entry), fields))
    return found


def group_members(pgid: int) -> list[int]:
    """The pids of the processes in process group `pgid` now."""
    return [pid for pid, fields in _processes() if int(fields[3]) == pgid]


def children_of(parent: int) -> list[Proc]:
    """The processes whose parent is `parent` now, zombies included."""
    return [Proc(pid, int(fields[20])) for pid, fields in _processes() if int(fields[2]) == parent]


def descendants_of(root: int) -> list[Proc]:
    """Every process below `root` (children, their children, ...), zombies included, parents first."""
    found: list[Proc] = []
    frontier = [root]
    while frontier:
        level = [child for pid in frontier for child in children_of(pid)]
        found += level
        frontier = [p.pid for p in level]
    return found


def alive(proc: Proc) -> bool:
    """Running and the same incarnation; a zombie is dead (it has exited and waits to be reaped)."""
    fields = _stat(proc.pid)
    return fields is not None and int(fields[20]) == proc.starttime and fields[1] not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def process_group(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[3]) if fields is not None else None


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants (Linux prctl); False where unavailable."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def kill_proc(proc: Proc) -> None:
    """SIGKILL the process group of `proc` (unless it is ours) and `proc`, if it is still that incarnation."""
    if not alive(proc):
        return
    group = process_group(proc.pid)
    if group is not None and group != os.getpgrp():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)


def kill_tree(root: int) -> list[Proc]:
    """SIGKILL `root` and everything below it, group by group, from the outside; return what was below.

    `root` must be a child not yet reaped (so its pid is still its own). It is stopped first (SIGSTOP cannot
    be caught), so it forks nothing between the snapshot of its descendants and their end; descendants are
    stopped as they are found for the same reason. Our own process group is never signalled as a group.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(root, signal.SIGSTOP)
    tree = descendants_of(root)
    for proc in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)
    tree += [p for p in descendants_of(root) if p not in tree]  # forked just before being stopped
    for proc in tree:
        kill_proc(proc)
    group = process_group(root)
    if group is not None and group != os.getpgrp():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(root, signal.SIGKILL)
    return tree


class ProcessGroups:
    """The child processes one test started. `kill_all()` (the `processes` fixture's finalizer) kills each
    one's whole tree and reaps it. Children started by `popen()` get a session of their own.

    A child's descendants cannot be found through it once it has died (they are re-parented), so a test
    that is about to kill a child on purpose `note()`s the descendants it saw: `kill_all()` kills them too.
    """

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []
        self.seen: set[Proc] = set()
        self._own_session: set[int] = set()

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("start_new_session", True)
        proc = self.track(subprocess.Popen(argv, **kwargs))
        if kwargs["start_new_session"]:
            self._own_session.add(proc.pid)
        return proc

    def track(self, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.started.append(proc)
        return proc

    def note(self, procs: Sequence[Proc]) -> None:
        self.seen.update(procs)

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.seen.update(kill_tree(proc.pid))
            elif proc.pid in self._own_session:
                # The leader is gone; its group lives on while a member does (and keeps its id reserved).
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for seen in self.seen:
            kill_proc(seen)
        for proc in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(REAP_TIMEOUT_S)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def leftover_children() -> list[Proc]:
    """Every live descendant of this process. Zombies that are our direct children are reaped on the way
    (orphans adopted by the subreaper have no Popen to reap them)."""
    me = os.getpid()
    for proc in children_of(me):
        if not alive(proc):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
    return [p for p in descendants_of(me) if alive(p)]


def leftover_threads() -> list[threading.Thread]:
    """Non-daemon threads other than the main one: each would keep the interpreter from exiting."""
    return [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
