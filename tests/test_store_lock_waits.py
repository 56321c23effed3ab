"""A store whose writer lock another process holds (an old owner paused inside a commit) makes only the
thread that opens it wait: not the other threads of the process, nor the users of other stores.

The holder is a real second process with a real LMDB write transaction open; the opener runs in a
scenario process of its own, so that a freeze of its whole interpreter (py-lmdb's open_db waits for the
writer lock holding the GIL) shows as the scenario's silence, not as this test run's hang.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from regionserver.data.environments import RegionEnvironment

_HOLDER = textwrap.dedent(
    """
    import sys, lmdb
    env = lmdb.open(sys.argv[1], max_dbs=8)
    txn = env.begin(write=True)
    print("held", flush=True)
    sys.stdin.readline()
    txn.abort()
    """
)

#: The opener thread opens the held store (through `Environments`, as a RegionServer's claim does) while
#: the main thread keeps running Python and opens another store through the same `Environments`; it
#: says "alive" once it did both with the opener still waiting, then "opened" once the opener got in.
_SCENARIO = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from regionserver.data.environments import Environments
    envs = Environments(capacity=4)
    held, other = Path(sys.argv[1]), Path(sys.argv[2])
    done = threading.Event()
    def open_held():
        with envs.pinned(held):
            done.set()
    opener = threading.Thread(target=open_held, daemon=True)
    opener.start()
    spins = 0
    until = time.monotonic() + 0.5  # the main thread must run for this long while the opener waits
    while time.monotonic() < until:
        spins += 1
    envs.get(other, create=False)
    assert not done.is_set(), "the held store opened: its writer lock was not held"
    print("alive", spins, flush=True)
    assert done.wait(30), "the opener never got in after the writer lock was released"
    print("opened", flush=True)
    """
)


def _make_store(path: Path) -> None:
    RegionEnvironment.open(path, create=True).close()


def test_a_held_writer_lock_makes_only_the_opening_thread_wait(tmp_path: Path) -> None:
    held, other = tmp_path / "held", tmp_path / "other"
    _make_store(held)
    _make_store(other)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(held)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    scenario: subprocess.Popen[str] | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        scenario = subprocess.Popen(
            [sys.executable, "-c", _SCENARIO, str(held), str(other)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert scenario.stdout is not None
        line = _line_within(scenario, 20)
        assert line.startswith("alive"), f"the scenario froze or failed while the lock was held: {line!r}"
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert _line_within(scenario, 30) == "opened"
        assert scenario.wait(10) == 0
    finally:
        for proc in (scenario, holder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _line_within(proc: subprocess.Popen[str], seconds: float) -> str:
    """The next line `proc` prints, or what it said on stderr if it prints none within `seconds`."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(seconds):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            return f"<nothing within {seconds} s; stderr: {err[-2000:]}>"
    line = proc.stdout.readline().strip()
    if not line:
        _, err = proc.communicate(timeout=10)
        return f"<exited {proc.returncode}; stderr: {err[-2000:]}>"
    return line


def test_threads_that_open_one_path_at_once_share_one_environment(tmp_path: Path) -> None:
    import threading

    from regionserver.data.environments import Environments

    path = tmp_path / "store"
    _make_store(path)
    envs = Environments(capacity=2)
    start = threading.Barrier(8)
    seen: list[RegionEnvironment] = []

    def open_it() -> None:
        start.wait(10)
        with envs.pinned(path) as env:
            seen.append(env)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 8 and len({id(e) for e in seen}) == 1
    assert envs.opens == 1
    envs.close_all()
