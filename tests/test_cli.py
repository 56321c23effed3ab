"""The `regent` entry point itself: what every command shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: `regent admin status` made to print N bytes, with no cluster: what is tested is the entry point.
_PRINTING = (
    "import sys\n"
    "from regent import admin_cli, cli\n"
    "admin_cli.run = lambda args: print('x' * int(sys.argv[1]))\n"
    "cli.main(['admin', 'status'])\n"
)


@pytest.mark.parametrize("size", [10, 1_000_000])  # left in the buffer until exit; written at once
def test_output_to_a_closed_pipe_ends_quietly_with_status_141(size: int) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PRINTING, str(size)], stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, b"")


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5", "nan", "a fifth"])
def test_master_refuses_a_reopen_share_outside_zero_to_one(value: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "regent.cli", "master", "--rootdir", str(tmp_path), "--port", "1",
         "--reopen-share", value],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert "--reopen-share: expected a number in (0, 1]" in result.stderr.splitlines()[-1], result.stderr
