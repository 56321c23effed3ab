"""The suite's own guards fail when they should: a background checker that died, saw too little or did not
end; the test-side killing of a process tree; and the session-end check for leftover child processes and
non-daemon threads (run in an inner pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.background import CheckedSampler, CheckedThread
from tests.cluster import wait_until
from tests.processes import Proc, ProcessGroups, alive, descendants_of

REPO = Path(__file__).resolve().parent.parent


class Counting(CheckedSampler):
    name = "counting"
    min_samples = 3
    min_rate = 50.0
    pause = 0.001

    def __init__(self, per_round: int = 1, fail_after: int | None = None) -> None:
        super().__init__()
        self.per_round = per_round
        self.fail_after = fail_after

    def sample(self) -> int:
        if self.fail_after is not None and self.rounds >= self.fail_after:
            raise RuntimeError("the sampler broke")
        return self.per_round


def test_a_sampler_that_samples_often_enough_passes() -> None:
    with Counting() as watch:
        wait_until(lambda: watch.samples >= 10, 10, "ten samples")
    assert watch.samples >= 10


def test_a_sampler_whose_thread_died_fails_with_its_exception() -> None:
    with pytest.raises(AssertionError, match="died of RuntimeError") as raised, Counting(fail_after=2):
        pass
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_sampler_whose_rounds_observed_nothing_fails() -> None:
    watch = Counting(per_round=0)
    watch.min_samples = 0
    with pytest.raises(AssertionError, match="checked too little"), watch:
        wait_until(lambda: watch.rounds >= 20 and watch.elapsed == 0, 10, "rounds")
        threading.Event().wait(0.1)


def test_a_sampler_that_never_reaches_its_minimum_fails_at_its_deadline() -> None:
    watch = Counting(per_round=0)
    watch.sample_deadline = 0.2
    with pytest.raises(AssertionError, match="checked too little"), watch:
        pass


def test_a_thread_still_running_at_its_join_fails() -> None:
    release = threading.Event()
    thread = CheckedThread(release.wait, name="stuck").start()
    try:
        with pytest.raises(AssertionError, match="did not end"):
            thread.finish(0.05)
    finally:
        release.set()
    thread.finish()


_FORKER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    # children in process groups of their own (as `regent local` makes them), one with a grandchild
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], process_group=0)
            for _ in range(2)]
    kids.append(subprocess.Popen(["sh", "-c", "sleep 600 & wait"], process_group=0))
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _tree(root: int, size: int) -> list[Proc]:
    def grown() -> list[Proc] | None:
        tree = descendants_of(root)
        return tree if len(tree) >= size else None

    return wait_until(grown, 30, f"{size} descendants of {root}")


def _forker(groups: ProcessGroups) -> tuple[subprocess.Popen[str], list[Proc]]:
    """Start _FORKER through `groups`; return it and its four descendants once they all run."""
    proc = groups.popen([sys.executable, "-c", _FORKER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, _tree(proc.pid, 4)


def test_kill_all_kills_every_descendant_in_every_process_group() -> None:
    groups = ProcessGroups()
    try:
        proc, tree = _forker(groups)
        assert len({os.getpgid(p.pid) for p in tree}) >= 3
    finally:
        groups.kill_all()
    assert proc.returncode is not None
    wait_until(lambda: not any(alive(p) for p in tree), 10, "every descendant to die")


def test_kill_all_kills_the_noted_children_of_a_parent_that_died_first() -> None:
    groups = ProcessGroups()
    try:
        proc, tree = _forker(groups)
        groups.note(tree)
        proc.kill()  # its children are orphans now, out of its tree
        proc.wait(10)
        assert all(alive(p) for p in tree)
    finally:
        groups.kill_all()
    wait_until(lambda: not any(alive(p) for p in tree), 10, "every orphan to die")


_LEAKS = """
import subprocess, threading


def test_leaves_a_child():
    subprocess.Popen(["sleep", "601"])


def test_leaves_an_orphan():
    subprocess.run(["sh", "-c", "sleep 602 >/dev/null 2>&1 &"], check=True)


def test_leaves_a_thread():
    threading.Thread(target=threading.Event().wait, args=(600,), name="leaked-thread").start()
"""


def test_the_session_end_check_fails_a_run_that_leaves_a_child_an_orphan_or_a_thread(
    tmp_path: Path, processes: ProcessGroups
) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_leaks.py").write_text(_LEAKS)
    inner = processes.popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "REGENT_LEFTOVER_GRACE_S": "0.2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The leaked non-daemon thread keeps the inner interpreter alive after pytest's summary: read up to
    # the summary line; the fixture kills the interpreter.
    lines = []
    assert inner.stdout is not None
    for line in inner.stdout:
        lines.append(line)
        if " passed" in line:
            break
    output = "".join(lines)
    assert "3 passed, 1 error" in output, output
    assert "child processes left behind" in output, output
    assert "sleep 601" in output and "sleep 602" in output, output
    assert "non-daemon threads left behind" in output and "leaked-thread" in output, output


_PROFILE = "import tests.conftest; from hypothesis import settings; print(settings.default.derandomize)"


@pytest.mark.parametrize("ci", ["true", None], ids=["CI=true", "no-CI"])
def test_the_default_profile_is_derandomized_with_or_without_ci(ci: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "REGENT_HYPOTHESIS_PROFILE")}
    if ci is not None:
        env["CI"] = ci
    out = subprocess.run(
        [sys.executable, "-c", _PROFILE], env={**env, "PYTHONPATH": str(REPO)},
        cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "True", out


def test_the_explore_profile_is_random_with_ten_times_the_examples() -> None:
    code = _PROFILE + "; print(settings.default.max_examples)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "REGENT_HYPOTHESIS_PROFILE": "explore",
        "PYTHONPATH": str(REPO)}, cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.split() == ["False", "1000"], out
