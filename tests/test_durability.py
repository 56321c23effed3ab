"""Durability beyond SIGKILL: every acknowledged write of meta and of a region store was on disk before its
acknowledgement (docs/failure-model.md, "Durability").

A SIGKILL leaves the page cache alone, so the crash tests (tests/test_meta_crash.py) pass even if LMDB never
syncs. Here the writers run under `strace -f`, and every acknowledgement must come after an fsync/fdatasync
(or msync) of the environment's data file, or a write through an O_DSYNC descriptor, for every write before
it. And every LMDB environment the code opens must be opened with sync and metasync on.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meta import MetaStore, ServerName
from regionserver.data import Claim, RegionStore
from tests.durability_child import CALLERS, ROUNDS
from tests.durability_trace import STRACE_CALLS, check
from tests.processes import ProcessGroups

CHILD = Path(__file__).with_name("durability_child.py")
SRC = Path(__file__).resolve().parent.parent / "src"
STRACE = shutil.which("strace")


def traced(what: str, directory: Path, processes: ProcessGroups) -> str:
    """Run the child writer `what` on `directory` under strace; return the trace."""
    assert STRACE is not None, "strace is required for the durability tests: apt-get install -y strace"
    log = directory.parent / f"{what}.strace"
    argv = [STRACE, "-f", "-y", "-qq", "-s", "32", "-e", f"trace={STRACE_CALLS}", "-o", str(log)]
    argv += [sys.executable, str(CHILD), what, str(directory)]
    child = processes.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode(errors="replace")
    assert out.count(b"ACK ") == ROUNDS * CALLERS, out
    return log.read_text(errors="replace")


@pytest.mark.parametrize("what", ["meta", "region", "cells"])
def test_every_acknowledged_write_is_synced_to_disk_before_its_acknowledgement(
    what: str, tmp_path: Path, processes: ProcessGroups
) -> None:
    verdict = check(traced(what, tmp_path / what, processes))
    assert verdict.acks == ROUNDS * CALLERS, f"the trace shows {verdict.acks} acknowledgements"
    assert verdict.writes >= ROUNDS, f"the trace shows {verdict.writes} writes to data.mdb"
    assert not verdict.problems, "\n".join(verdict.problems[:5])


def test_meta_and_region_stores_are_opened_with_sync_and_metasync(tmp_path: Path) -> None:
    store = MetaStore.open(tmp_path / "meta")
    region = RegionStore.open(tmp_path / "region", Claim(ServerName("127.0.0.1", 1, 1), 1), create=True)
    try:
        for name, env in (("meta", store._env), ("region store", region.environment().env)):
            flags = env.flags()
            assert flags["sync"] and flags["metasync"], f"{name} opened without sync: {flags}"
            assert not flags.get("map_async"), f"{name} opened with map_async: {flags}"
    finally:
        store.close()
        region.close()


def _lmdb_opens() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "open"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "lmdb"
            ):
                found.append((f"{path.relative_to(SRC)}:{node.lineno}", node))
    return found


def test_every_writable_lmdb_environment_in_the_code_is_opened_with_sync() -> None:
    """Every `lmdb.open(...)` in src/ is read-only, or leaves sync and metasync at py-lmdb's default (True)
    or sets them to a literal True; none asks for writemap or map_async."""
    opens = _lmdb_opens()
    assert len(opens) >= 2, f"expected meta's and the region store's lmdb.open, found {opens}"
    for where, call in opens:
        given = {k.arg: k.value for k in call.keywords if k.arg is not None}
        readonly = given.get("readonly")
        if isinstance(readonly, ast.Constant) and readonly.value is True:
            continue
        for name in ("sync", "metasync"):
            value = given.get(name)
            assert value is None or (isinstance(value, ast.Constant) and value.value is True), (
                f"{where}: lmdb.open with {name} other than True"
            )
        for name in ("writemap", "map_async"):
            value = given.get(name)
            assert value is None or (isinstance(value, ast.Constant) and value.value is False), (
                f"{where}: lmdb.open with {name}"
            )
