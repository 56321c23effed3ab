"""ROOTDIR/masters/ (master.registry): a master is listed while its process lives, whatever way it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from master.registry import MasterRegistry, RegisteredMaster

_HOLDER = (
    "import os, sys, signal\n"
    "from pathlib import Path\n"
    "from master.registry import MasterRegistry\n"
    "MasterRegistry(Path(sys.argv[1])).register(sys.argv[2], os.getpid())\n"
    "print('registered', flush=True)\n"
    "signal.pause()\n"
)


def _holder(rootdir: Path, address: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(rootdir), address], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "registered\n"
    return process


def test_a_master_is_listed_while_it_runs_and_gone_once_killed(tmp_path: Path) -> None:
    mine = MasterRegistry(tmp_path)
    mine.register("h:1", 11)
    other = _holder(tmp_path, "h:2")
    try:
        expected = [RegisteredMaster("h:1", 11), RegisteredMaster("h:2", other.pid)]
        assert MasterRegistry(tmp_path).live() == expected
        other.send_signal(signal.SIGKILL)
        other.wait()
        assert MasterRegistry(tmp_path).live() == [RegisteredMaster("h:1", 11)]
        assert sorted(p.name for p in (tmp_path / "masters").iterdir()) == ["h:1"]  # the dead one's removed
    finally:
        other.kill()
        other.wait()
    mine.close()
    assert MasterRegistry(tmp_path).live() == []


def test_a_master_restarted_on_the_same_address_takes_over_the_dead_ones_file(tmp_path: Path) -> None:
    first = _holder(tmp_path, "h:1")
    first.kill()
    first.wait()
    second = MasterRegistry(tmp_path)
    second.register("h:1", 22)  # the old file is still there, unlocked
    assert MasterRegistry(tmp_path).live() == [RegisteredMaster("h:1", 22)]
    assert (tmp_path / "masters" / "h:1").read_text() == "h:1 pid=22\n"
    second.close()
