"""A master given something it cannot use refuses to start: it exits non-zero within a deadline, says what is
wrong in one `regent: error:` line on stderr (no traceback), and writes nothing over what it found on disk."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest

from tests.cluster import Daemon, Daemons, free_port, snapshot_files

EXIT_TIMEOUT_S = 30.0
NOBODY_UID = 65534
#: LMDB's lock file holds its reader table (pids, transaction ids): it is runtime state, not data.
LMDB_LOCK_FILE = "lock.mdb"


def _stderr_lines(daemon: Daemon) -> list[str]:
    return [line for line in daemon.stderr_text().splitlines() if line.strip()]


def _is_log_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _assert_refused(daemon: Daemon, phrase: str, *, prefix: str = "regent: error:", code: int = 1) -> str:
    """The daemon exits with `code` in time, stderr holds one error line starting with `prefix` that matches
    the regex `phrase` (case-insensitive), the rest of stderr is structured log lines, and there is no
    traceback anywhere. Return the error line."""
    returncode = daemon.wait_exit(EXIT_TIMEOUT_S)
    output = daemon.stderr_text() + daemon.stdout_text()
    assert returncode == code, f"expected exit code {code}, got {returncode}\n{daemon.log_tail()}"
    assert "Traceback" not in output, daemon.log_tail()
    lines = _stderr_lines(daemon)
    errors = [line for line in lines if line.startswith(prefix)]
    assert len(errors) == 1, f"expected one line starting {prefix!r} on stderr\n{daemon.log_tail()}"
    (error,) = errors
    assert re.search(phrase, error, re.IGNORECASE), f"{error!r} does not say {phrase!r}"
    return error


def _assert_refused_at_start(daemon: Daemon, phrase: str) -> str:
    """_assert_refused for a daemon past argument parsing: the error line is the last line, and every other
    line of stderr is a JSON log line (a daemon's stderr must stay parseable)."""
    error = _assert_refused(daemon, phrase)
    lines = _stderr_lines(daemon)
    assert lines[-1] == error, f"the error must be the last line of stderr\n{daemon.log_tail()}"
    stray = [line for line in lines[:-1] if not _is_log_line(line)]
    assert not stray, f"stderr holds lines that are neither JSON logs nor the error: {stray}"
    return error


def _assert_unchanged(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    changed = sorted(name for name in before if after.get(name) != before[name])
    assert not changed, f"the master overwrote or removed {changed}"


# ---- meta that is not Regent's ----


def test_meta_data_file_of_garbage_is_refused_as_not_lmdb_and_left_untouched(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    (rootdir / "meta").mkdir(parents=True)
    (rootdir / "meta" / "data.mdb").write_bytes(os.urandom(64 * 1024))
    before = snapshot_files(rootdir / "meta")

    error = _assert_refused_at_start(daemons.master(rootdir), r"not a readable LMDB file")

    assert "data.mdb" in error
    _assert_unchanged(before, snapshot_files(rootdir / "meta"))


def test_foreign_lmdb_environment_is_refused_as_not_regents_meta_and_left_untouched(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    meta = rootdir / "meta"
    meta.mkdir(parents=True)
    env = lmdb.open(str(meta), max_dbs=2)
    try:
        other = env.open_db(b"other")
        with env.begin(write=True) as txn:
            for i in range(100):
                txn.put(b"row-%03d" % i, b"value-%d" % i, db=other)
    finally:
        env.close()
    before = snapshot_files(meta, ignore=[LMDB_LOCK_FILE])

    _assert_refused_at_start(daemons.master(rootdir), r"not Regent's meta")

    _assert_unchanged(before, snapshot_files(meta, ignore=[LMDB_LOCK_FILE]))
    assert (meta / "data.mdb").read_bytes() == before["data.mdb"]


def test_meta_directory_holding_unrelated_files_is_refused_and_left_untouched(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    meta = rootdir / "meta"
    (meta / "sub").mkdir(parents=True)
    (meta / "notes.txt").write_text("somebody else's notes\n")
    (meta / "records.db").write_bytes(os.urandom(4096))
    (meta / "sub" / "keep.me").write_bytes(b"x" * 100)
    before = snapshot_files(meta)

    _assert_refused_at_start(daemons.master(rootdir), r"not a Regent meta directory")

    after = snapshot_files(meta)
    _assert_unchanged(before, after)
    assert sorted(after) == sorted(before), "the master created files in a directory that is not its meta"


def test_meta_path_that_is_a_regular_file_is_refused_and_left_untouched(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    rootdir.mkdir()
    (rootdir / "meta").write_bytes(b"not a directory\n")

    _assert_refused_at_start(daemons.master(rootdir), r"meta path .* is not a directory")

    assert (rootdir / "meta").read_bytes() == b"not a directory\n"


# ---- ROOTDIR ----


def test_rootdir_that_is_a_regular_file_is_refused_and_left_untouched(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    rootdir.write_bytes(b"a file, not a directory\n")

    error = _assert_refused_at_start(daemons.master(rootdir), r"is not a directory")

    assert str(rootdir) in error
    assert rootdir.read_bytes() == b"a file, not a directory\n"


@pytest.fixture
def unwritable_rootdir() -> Iterator[tuple[Path, dict[str, Any]]]:
    """A ROOTDIR the master's user cannot write, and the Popen arguments that run the master so.

    Permission bits do not stop root: as root the ROOTDIR is owned by nobody with mode 0o500, and the
    master runs as root without the capabilities that override file permissions (dropped from its bounding
    set before exec, so the kernel applies the mode bits to it as to anyone). As anybody else the ROOTDIR
    is made read-only (0o500).
    """
    base = Path(tempfile.mkdtemp(prefix="regent-unwritable-"))
    rootdir = base / "root"
    rootdir.mkdir()
    try:
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            os.chown(rootdir, NOBODY_UID, -1)
            run_as = {"preexec_fn": _without_permission_override}
        rootdir.chmod(0o500)
        if not run_as and os.access(rootdir, os.W_OK):
            pytest.skip("permission bits do not stop this user from writing (capabilities?)")
        yield rootdir, run_as
    finally:
        rootdir.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)


_PR_CAPBSET_DROP = 24
#: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore a file's mode bits.
_PERMISSION_OVERRIDES = (1, 2, 3)


def _without_permission_override() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _PERMISSION_OVERRIDES:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_rootdir_the_user_cannot_write_is_refused(
    unwritable_rootdir: tuple[Path, dict[str, Any]], daemons: Daemons
) -> None:
    rootdir, run_as = unwritable_rootdir
    before = snapshot_files(rootdir)

    error = _assert_refused_at_start(daemons.master(rootdir, **run_as), r"permission|writable")

    assert str(rootdir) in error
    assert snapshot_files(rootdir) == before


# ---- the port ----


def test_port_held_by_another_socket_is_refused_as_in_use(daemons: Daemons, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        error = _assert_refused_at_start(daemons.master(tmp_path / "root", port), r"in use")

        assert str(port) in error


def test_second_master_on_the_same_port_fails_while_the_first_keeps_running(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    first = daemons.master(rootdir)
    before = first.wait_active()

    _assert_refused_at_start(daemons.master(rootdir, first.port), r"in use")

    assert first.alive, first.log_tail()
    after = first.info()
    assert after is not None and after.active, first.log_tail()
    assert (after.pid, after.master_epoch) == (before.pid, before.master_epoch)
    assert first.health() == "SERVING"


# ---- the command line ----


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--rootdir", "{tmp}", "--port", "0"], r"argument --port: expected a positive whole number, got 0"),
        (
            ["--rootdir", "{tmp}", "--port", "abc"],
            r"argument --port: expected a positive whole number, got 'abc'",
        ),
        (["--rootdir", "{tmp}", "--port", "70000"], r"argument --port: expected a port in 1\.\.65535"),
        (["--port", "{port}"], r"the following arguments are required: --rootdir"),
        (["--rootdir", "{tmp}"], r"the following arguments are required: --port"),
    ],
    ids=["port-zero", "port-not-a-number", "port-too-large", "no-rootdir", "no-port"],
)
def test_bad_arguments_exit_2_with_argparse_usage_message(
    daemons: Daemons, tmp_path: Path, args: list[str], phrase: str
) -> None:
    rootdir = tmp_path / "root"
    argv = [a.format(tmp=rootdir, port=free_port()) for a in args]

    daemon = daemons.start(["master", *argv])

    _assert_refused(daemon, phrase, prefix="regent master: error:", code=2)
    assert daemon.stderr_text().startswith("usage: regent master"), daemon.log_tail()
    assert not rootdir.exists(), "bad arguments must be refused before anything is created"
