"""docs/admin.md's examples, run against a real local cluster: its python blocks in order in one namespace,
then every `$ ` line of its console blocks as a shell command that must exit 0. README's SDK tour too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cluster import Cluster, Daemons

DOC = Path(__file__).resolve().parent.parent / "docs" / "admin.md"
README = DOC.parent.parent / "README.md"
DOC_MASTER = "127.0.0.1:16000"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _blocks(kind: str, doc: Path = DOC) -> list[str]:
    return [body for lang, body in _BLOCK.findall(doc.read_text()) if lang == kind]


def test_the_doc_has_examples_of_both_kinds() -> None:
    assert len(_blocks("python")) >= 4
    assert sum(line.startswith("$ ") for block in _blocks("console") for line in block.splitlines()) >= 10


def test_the_python_and_shell_examples_of_docs_admin_md_run(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path / "root").start(servers=2)
    try:
        namespace: dict[str, object] = {"__name__": "docs_admin"}
        for i, block in enumerate(_blocks("python")):
            code = compile(
                block.replace(DOC_MASTER, cluster.master_addresses), f"docs/admin.md#python{i}", "exec"
            )
            exec(code, namespace)
        conn = namespace.get("conn")
        if conn is not None:
            conn.close()  # type: ignore[attr-defined]

        env = {
            **os.environ,
            "REGENT_MASTER": cluster.master_addresses,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for block in _blocks("console"):
            for line in block.splitlines():
                if not line.startswith("$ "):
                    continue
                result = subprocess.run(
                    ["bash", "-c", line[2:]],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    check=False,
                )
                assert result.returncode == 0, (line, result.stdout, result.stderr)
                assert not result.stderr.startswith("regent: error"), (line, result.stderr)
    finally:
        cluster.close()


def test_the_sdk_tour_of_the_readme_runs(daemons: Daemons, tmp_path: Path) -> None:
    (tour,) = [b for b in _blocks("python", README) if "regent.connect(" in b]
    cluster = Cluster(daemons, tmp_path / "root").start(servers=2)
    try:
        namespace: dict[str, object] = {"__name__": "readme"}
        # The tour names `make run`'s certificates; the test cluster's are in $REGENT_CERTS_DIR (conftest).
        code = tour.replace(DOC_MASTER, cluster.master_addresses).replace(
            ', certs_dir=".regent-local/certs"', ""
        )
        assert "certs_dir" not in code.split("conn = regent.connect(")[1].split(")")[0]
        exec(compile(code, "README.md#sdk", "exec"), namespace)
        assert not cluster.admin.table_exists("t")  # the tour ends by deleting its table
    finally:
        cluster.close()


def test_the_happybase_example_of_the_readme_runs(daemons: Daemons, tmp_path: Path) -> None:
    (example,) = [b for b in _blocks("python", README) if "regent.happybase" in b]
    assert len([line for line in example.splitlines() if line.strip()]) == 5
    cluster = Cluster(daemons, tmp_path / "root").start(servers=2)
    try:
        host, port = cluster.master_addresses.rsplit(":", 1)
        # As the SDK tour: the test cluster's certificates are in $REGENT_CERTS_DIR (conftest).
        code = example.replace('"127.0.0.1", 16000', f'"{host}", {port}').replace(
            ', certs_dir=".regent-local/certs"', ""
        )
        assert f'"{host}", {port}' in code and "certs_dir" not in code
        namespace: dict[str, object] = {"__name__": "readme_happybase"}
        exec(compile(code, "README.md#happybase", "exec"), namespace)
        assert namespace["connection"].table("users").row(b"alice") == {  # type: ignore[attr-defined]
            b"info:email": b"alice@example.com"
        }
        namespace["connection"].close()  # type: ignore[attr-defined]
    finally:
        cluster.close()
