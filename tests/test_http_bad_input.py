"""Bad input on the daemons' HTTP side (unknown paths, malformed or huge query strings, oversized headers,
other methods, many concurrent requests): a clear error each time, and the gRPC service unaffected."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster import Cluster, Daemons, free_port, module_cluster
from tests.http_helpers import get, http_url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=1) as made:
        made.admin.create_table("t", ["f"], num_regions=2)
        made.wait_open("t", 2)
        yield made


@pytest.fixture(scope="module")
def master_url(cluster: Cluster) -> str:
    return http_url(cluster.masters[0])


@pytest.fixture(scope="module")
def server_url(cluster: Cluster) -> str:
    return http_url(cluster.servers[0])


def _grpc_fine(cluster: Cluster) -> None:
    status = cluster.admin.cluster_status(timeout=10.0)
    assert len(status.servers) == 1 and status.regions == 2


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/nothing-here", 404, "no page at /nothing-here"),
        ("/region", 400, "give id=REGION_ID, or table=TABLE and row=ROW"),
        ("/region?id=abc", 400, "id must be a whole number, got 'abc'"),
        ("/region?id=-1", 400, "id must be a whole number"),
        ("/region?id=99999999999999999999", 400, "id must be a whole number"),
        ("/region?id=123456789", 404, "region 123456789: no such region"),
        ("/region?table=nope&row=a", 404, "no table 'nope'"),
        ("/region?table=t&row=%5Cx4", 400, "row: bad escape at character 0"),
        ("/region?id=%ZZ", 400, "id must be a whole number"),
        ("/procedures?limit=0", 400, "limit must be between 1 and 100000, got 0"),
        ("/logs?level=loud", 400, "level must be debug, info, warning or error"),
        ("/logs?limit=x", 400, "limit must be a whole number"),
    ],
)
def test_bad_requests_to_the_master_get_a_clear_error(
    cluster: Cluster, master_url: str, path: str, status: int, says: str
) -> None:
    got, body = get(master_url + path)
    assert (got, says in body) == (status, True), body
    _grpc_fine(cluster)


def test_a_huge_query_string_is_refused_by_its_length(cluster: Cluster, master_url: str) -> None:
    got, body = get(master_url + "/region?id=1&pad=" + "x" * 3000)
    assert got == 414 and "at most 2048 are accepted" in body, body
    got, body = get(master_url + "/?" + urllib.parse.urlencode({"q": "y" * 20_000}))
    assert got in (400, 414), body  # past aiohttp's own line limit: refused before any handler
    _grpc_fine(cluster)


def test_oversized_headers_and_other_methods_are_refused(cluster: Cluster, master_url: str) -> None:
    got, _ = get(master_url + "/", headers={"X-Big": "z" * 20_000})
    assert got == 400
    host, port = master_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 405"), answer
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")  # a TLS hello, or garbage
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.0 400") and b"Received HTTPS traffic on an HTTP port" in answer, answer
    _grpc_fine(cluster)


def test_many_concurrent_requests_are_all_answered_and_grpc_keeps_serving(
    cluster: Cluster, master_url: str, server_url: str
) -> None:
    paths = ["/", "/metrics", "/status.json", "/procedures", "/region?id=1", "/stacks", "/logs", "/nope"]
    urls = [master_url + p for p in paths] + [server_url + p for p in ("/", "/metrics", "/status.json", "/x")]
    work = urls * 20
    with ThreadPoolExecutor(max_workers=64) as pool:
        calls = [pool.submit(get, url, 30.0) for url in work]
        _grpc_fine(cluster)  # while the HTTP side is busy
        results = [(url, call.result()[0]) for url, call in zip(work, calls, strict=True)]
    wrong = [(url, got) for url, got in results if got != (404 if url.endswith(("/nope", "/x")) else 200)]
    assert not wrong, wrong[:5]
    _grpc_fine(cluster)
    assert all(d.alive for d in [*cluster.masters, *cluster.servers])


def test_the_regionserver_page_refuses_bad_input_clearly(cluster: Cluster, server_url: str) -> None:
    assert get(server_url + "/nothing")[0] == 404
    got, body = get(server_url + "/?limit=abc")
    assert got == 400 and "limit must be a whole number" in body
    got, body = get(server_url + "/?limit=1&format=json")
    assert got == 200 and '"regions_shown": 1' in body
    _grpc_fine(cluster)


def test_an_http_port_in_use_stops_a_daemon_at_start_with_a_clear_error(
    daemons: Daemons, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        master = daemons.master(tmp_path / "root", free_port(), ["--http-port", str(port)])
        assert master.wait_exit(30) == 1
        assert f"cannot serve the status pages on 127.0.0.1:{port}" in master.stderr_text()
        assert "address already in use" in master.stderr_text()
        server = daemons.regionserver(tmp_path / "root", "127.0.0.1:1", None, ["--http-port", str(port)])
        assert server.wait_exit(30) == 1
        assert f"cannot serve the status page on 127.0.0.1:{port}" in server.stderr_text()
