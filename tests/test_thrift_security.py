"""The gateway as a trust boundary: it reaches the cluster with a certificate of its own (refused without
one, and its role decides what it may do), listens on loopback unless told otherwise (and then warns),
and serves Thrift over TLS to clients that can use it."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import happybase  # noqa: F401  # loads the IDL as the module Hbase_thrift
import Hbase_thrift as hb
import pytest
from thriftpy2.rpc import make_client

from regent import tls
from tests.cluster import LOOPBACK, Cluster, module_cluster, wait_until
from tests.thrift_gateway import gateway_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=1) as made:
        yield made


def certs_dir() -> Path:
    return Path(os.environ[tls.CERTS_ENV])


def test_thrift_over_tls_for_clients_that_can(cluster: Cluster) -> None:
    certs = certs_dir()
    gateway = gateway_for(
        cluster, extra_args=["--tls-cert", str(certs / "node.crt"), "--tls-key", str(certs / "node.key")]
    )
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    client = make_client(hb.Hbase, LOOPBACK, gateway.port, ssl_context=context, timeout=10000)
    try:
        client.createTable(b"over_tls", [hb.ColumnDescriptor(name=b"cf:")])
        client.mutateRow(b"over_tls", b"r", [hb.Mutation(column=b"cf:c", value=b"v")], {})
        (result,) = client.getRow(b"over_tls", b"r", {})
        assert result.columns[b"cf:c"].value == b"v"
    finally:
        client.close()
    plain = gateway.connect()  # a plain-text client cannot talk to a TLS gateway
    with pytest.raises(Exception):  # noqa: B017 - the socket closes under it
        plain.tables()
    plain.close()
    assert gateway.daemon.alive


def test_a_gateway_with_a_client_role_serves_data_but_no_ddl(cluster: Cluster) -> None:
    gateway = gateway_for(cluster, extra_args=["--user", "app"])  # client.app.crt: role client
    admin = gateway_for(cluster)  # client.thrift.crt: role admin
    conn, ddl = gateway.connect(), admin.connect()
    try:
        ddl.create_table("app_data", {"cf": {}})
        conn.table("app_data").put(b"r", {b"cf:c": b"v"})
        assert conn.table("app_data").row(b"r") == {b"cf:c": b"v"}
        with pytest.raises(hb.IOError, match=r"AccessDeniedException.*role"):
            conn.create_table("not_allowed", {"cf": {}})
    finally:
        conn.close()
        ddl.close()


def test_beyond_loopback_the_gateway_warns_loudly(cluster: Cluster) -> None:
    gateway = gateway_for(cluster, extra_args=["--host", "0.0.0.0"])
    wait_until(lambda: gateway.daemon.has_event("listening_beyond_loopback"), 10, "the warning")
    assert "WARNING: the Thrift gateway listens on 0.0.0.0" in gateway.daemon.stderr_text()
    assert "anyone who can reach that port" in gateway.daemon.stderr_text()


def test_without_its_certificate_the_gateway_refuses_to_start(cluster: Cluster, tmp_path: Path) -> None:
    from tests.thrift_gateway import free_port

    daemon = cluster.daemons.start(
        ["thrift", "--master", cluster.master_addresses, "--port", str(free_port()), "--user", "nobody"]
    )
    assert daemon.wait_exit(30) == 1
    assert (
        "client.nobody.crt" in daemon.stderr_text()
        and "regent certs create-client nobody" in daemon.stderr_text()
    )
