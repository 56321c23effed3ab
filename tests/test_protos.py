"""The generated protobuf code is never stale, and it refuses to run on protobuf's pure-Python backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "src" / "regent" / "proto"
GENPROTO = ROOT / "tools" / "genproto.py"


def _generate() -> Callable[[Path], list[Path]]:
    """tools/genproto.py's generate(out), loaded from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("genproto", GENPROTO)
    assert spec is not None and spec.loader is not None, f"cannot load {GENPROTO}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Callable[[Path], list[Path]], module.generate)


def _generated_files(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(directory.glob("*_pb2*.py*")) if p.suffix in (".py", ".pyi")
    }


def test_committed_generated_code_matches_a_fresh_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))  # generate() prepends to PATH: undo it afterwards
    written = _generate()(tmp_path)
    fresh = _generated_files(tmp_path / "regent" / "proto")
    assert fresh, f"generate() wrote no *_pb2* files (it reported {written})"
    committed = _generated_files(COMMITTED)
    stale = sorted(name for name in fresh.keys() & committed.keys() if fresh[name] != committed[name])
    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    assert not (stale or missing or extra), (
        f"the generated code in {COMMITTED.relative_to(ROOT)} does not match protos/: "
        f"stale: {stale or 'none'}; not committed: {missing or 'none'}; "
        f"no longer generated: {extra or 'none'}. "
        "Run `make protos` and commit the result."
    )


def _import_regent_proto(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import regent.proto; print('imported')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_generated_code_fails_fast_on_the_pure_python_protobuf_backend() -> None:
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    result = _import_regent_proto(env)
    assert result.returncode != 0 and "imported" not in result.stdout, (
        f"expected the import to fail on the pure-Python backend; it exited {result.returncode}: "
        f"{result.stdout}{result.stderr}"
    )
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: Regent needs protobuf's upb backend"), result.stderr
    assert "'python'" in last_line and "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION" in last_line, last_line


def test_importing_generated_code_succeeds_on_the_upb_backend() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    result = _import_regent_proto(env)
    assert result.returncode == 0 and result.stdout.strip() == "imported", result.stderr
