"""`regent local` starts a Thrift gateway by default and says where: an unchanged happybase program
then works against the cluster it made, over mutual TLS between the gateway and the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import happybase
import pytest

from regent import tls
from tests.cluster import Cluster, Daemons, free_port, wait_until
from tests.processes import ProcessGroups
from tests.thrift_gateway import accepts, gateway_for

pytestmark = pytest.mark.timeout(120)


def _free_cluster_port() -> int:
    from regent import local

    while True:
        port = free_port()
        masters, servers = local.ports_for(port, 0, 1)
        if not local.busy_ports(masters + servers):
            return port


def test_regent_local_serves_happybase_on_its_thrift_port(tmp_path: Path, processes: ProcessGroups) -> None:
    port, thrift_port = _free_cluster_port(), free_port()
    out = tmp_path / "local.out"
    env = {k: v for k, v in os.environ.items() if k != tls.CERTS_ENV}
    argv = [sys.executable, "-m", "regent.cli", "local", "--servers", "1", "--port", str(port)]
    argv += ["--thrift-port", str(thrift_port), "--rootdir", str(tmp_path / "root")]
    with open(out, "wb") as sink:
        supervisor = processes.popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    wait_until(lambda: "the active master is" in out.read_text(), 60, "regent local", context=out.read_text)
    assert f'happybase.Connection("127.0.0.1", {thrift_port})' in out.read_text()
    wait_until(lambda: accepts(thrift_port), 30, "the gateway's port", context=out.read_text)

    # What a happybase user writes, unchanged.
    connection = happybase.Connection("127.0.0.1", thrift_port)
    connection.create_table("mytable", {"cf": dict(max_versions=2)})
    table = connection.table("mytable")
    table.put(b"row-key", {b"cf:col": b"value"})
    assert table.row(b"row-key") == {b"cf:col": b"value"}
    assert [k for k, _ in table.scan(row_prefix=b"row")] == [b"row-key"]
    connection.close()

    supervisor.terminate()
    assert supervisor.wait(30) == 0
    assert "did not stop in time" not in out.read_text()  # the gateway stopped on SIGTERM, first


def test_no_thrift_leaves_the_gateway_out(tmp_path: Path) -> None:
    from regent import local

    parser = __import__("argparse").ArgumentParser()
    local.add_arguments(parser)
    plan = local.make_plan(
        parser.parse_args(["--no-thrift", "--port", str(_free_cluster_port()), "--rootdir", str(tmp_path)])
    )
    assert plan.thrift_port is None
    assert [role for _, role, _ in local.child_commands(plan)].count("thrift") == 0
    plan = local.make_plan(
        parser.parse_args(
            ["--port", str(_free_cluster_port()), "--thrift-port", "19999", "--rootdir", str(tmp_path)]
        )
    )
    ((name, _, argv),) = [c for c in local.child_commands(plan) if c[1] == "thrift"]
    assert name == "thrift-19999" and argv[argv.index("--master") + 1] == plan.masters
    assert "--certs-dir" in argv


def test_the_thrift_example_of_the_readme_runs(daemons: Daemons, tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    (example,) = [b for b in blocks if 'happybase.Connection("127.0.0.1", 9090)' in b]
    assert "import happybase\n" in example and "regent" not in example.split("#")[0]
    cluster = Cluster(daemons, tmp_path / "root").start(servers=1)
    try:
        gateway = gateway_for(cluster)
        code = example.replace('"127.0.0.1", 9090', f'"127.0.0.1", {gateway.port}')
        namespace: dict[str, object] = {"__name__": "readme_thrift"}
        exec(compile(code, "README.md#thrift", "exec"), namespace)
        connection: Any = namespace["connection"]
        assert connection.table("pets").row(b"rex") == {b"cf:kind": b"dog"}
        connection.close()
    finally:
        cluster.close()
