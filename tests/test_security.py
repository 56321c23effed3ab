"""Mutual TLS and roles, with real daemons and real certificates: who may call what, what an outsider can
do (nothing), and the clear errors of a daemon or client set up the wrong way.

The session's cluster certificates come from tests/conftest.py ($REGENT_CERTS_DIR); "another cluster" is a
second CA made here, whose node certificate is as valid as ours in every way but its signer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory

import regent
from client.errors import PermissionDenied, TlsMismatch, error_name
from master.access import POLICY as MASTER_POLICY
from regent import authz, tls
from regent.certs import create_ca, create_node
from regent.proto import common_pb2, data_pb2, master_pb2, regionserver_pb2
from regent.transport import INSECURE, Transport
from regionserver.access import POLICY as RS_POLICY
from tests.cluster import LOOPBACK, Cluster, Daemons, free_port, make_test_certs, secure_transport, wait_until
from tests.processes import ProcessGroups

# ---- the table of calls and roles, written out independently of master.access / regionserver.access ----

LOOKUP = {"admin", "client"}
ADMIN = {"admin"}
NODE = {"node"}
EVERYONE = {"node", "admin", "client"}

MASTER_CALLS: dict[str, set[str]] = {
    "RegionServerStatus/RegionServerStartup": NODE,
    "RegionServerStatus/RegionServerReport": NODE,
    "RegionServerStatus/ReportRegionStateTransition": NODE,
    "RegionServerStatus/RequestSplit": NODE,
    "Master/GetClusterInfo": EVERYONE,
    **{
        f"Master/{m}": LOOKUP
        for m in (
            "TableRegions",
            "GetRegion",
            "LocateRegions",
            "DescribeTable",
            "ListTables",
            "ClusterStatus",
            "GetProcedure",
            "ListProcedures",
            "BalancerStatus",
            "ListDecommissioned",
            "CatalogJanitorStatus",
            "RegionStory",
            "SplitMergeStatus",
            "NormalizerStatus",
        )
    },
    **{
        f"Master/{m}": ADMIN
        for m in (
            "CreateTable",
            "DeleteTable",
            "TruncateTable",
            "EnableTable",
            "DisableTable",
            "ModifyTable",
            "AddFamily",
            "ModifyFamily",
            "DeleteFamily",
            "Assign",
            "Unassign",
            "Move",
            "AbortProcedure",
            "Bypass",
            "Balance",
            "BalancerSwitch",
            "Decommission",
            "Recommission",
            "CatalogJanitorRun",
            "CatalogJanitorSwitch",
            "Hbck",
            "Split",
            "Merge",
            "SplitMergeSwitch",
            "Normalize",
            "NormalizerSwitch",
        )
    },
}
RS_CALLS: dict[str, set[str]] = {
    "RegionServerAdmin/ExecuteProcedures": NODE,
    "RegionServerAdmin/GetOnlineRegions": {"node", "admin"},
    "RegionServerAdmin/SplitPoint": {"node", "admin"},
    "RegionServerAdmin/RegionSizes": {"node", "admin"},
    "RegionServerAdmin/DropRegion": ADMIN,
    "RegionServerAdmin/AdoptRegion": ADMIN,
    **{
        f"RegionData/{m}": LOOKUP
        for m in ("Get", "Mutate", "Increment", "CheckAndPut", "OpenScanner", "ScannerNext", "CloseScanner")
    },
    "RegionData/Compact": ADMIN,
}
ROLE_USER = {"node": tls.NODE, "admin": "admin", "client": "app"}


def _request_of(call: str) -> Any:
    """A request that changes nothing whoever sends it: the handler refuses it for its content (a port 0, a
    region or procedure that does not exist, no orders), so an authorized call ends in its own refusal."""
    method = call.split("/")[1]
    request = message_factory.GetMessageClass(_input_types()[call])()
    if method == "RegionServerStartup":
        request.host, request.port = LOOPBACK, 0
    elif call.startswith("RegionServerStatus/"):
        request.server.CopyFrom(common_pb2.ServerName(host=LOOPBACK, port=0, startcode=0))
    elif method in ("GetRegion", "Assign", "Unassign", "Move", "RegionStory"):
        request.region_id = 10**12
    elif method in ("GetProcedure", "AbortProcedure", "Bypass"):
        request.proc_id = 10**12
    elif call.startswith("RegionData/") and method in ("CheckAndPut", "OpenScanner"):
        request.region_id = 10**12  # answered "not served here"; the empty batches of the others do nothing
    elif method in ("ScannerNext", "CloseScanner"):
        request.scanner_id = 10**12
    elif method == "Balance":
        request.dry_run = True  # plans, moves nothing
    elif method in ("BalancerSwitch", "CatalogJanitorSwitch", "NormalizerSwitch"):
        request.on = True  # on already
    elif method == "Normalize":
        request.dry_run = True  # plans, submits nothing
    elif method in ("Split", "SplitPoint"):
        request.region_id = 10**12
    elif method == "Merge":
        request.region_ids.extend([10**12, 10**12 + 1])
    elif method == "SplitMergeSwitch":
        request.kind, request.on = "split", True
    elif method == "Decommission":
        request.servers.append(f"{LOOPBACK}:1")  # no server there: ServerNotFound
    elif method == "Recommission":
        request.server = f"{LOOPBACK}:1"
    return request


def _input_types() -> dict[str, Any]:
    """ "Service/Method" -> the descriptor of its request message, for every RPC of the protos."""
    out = {}
    for module in (master_pb2, regionserver_pb2, data_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                out[f"{service.name}/{method.name}"] = method.input_type
    return out


def _call(
    transport: Transport, address: str, call: str, request: Any, timeout: float = 5.0
) -> grpc.RpcError | None:
    """Make one call; the error it ended with, or None if it succeeded."""
    with transport.channel(address) as channel:
        invoke = channel.unary_unary(
            f"/regent.v1.{call}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=lambda raw: raw,
        )
        try:
            invoke(request, timeout=timeout)
        except grpc.RpcError as exc:
            return exc
    return None


def _refused_by_authz(exc: grpc.RpcError | None) -> bool:
    return exc is not None and exc.code() in (  # type: ignore[attr-defined]
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    )


def test_the_policies_are_the_table() -> None:
    """Every method of the protos is in a policy, and the policies say what the table above says."""
    for call, roles in {**MASTER_CALLS, **RS_CALLS}.items():
        policy = MASTER_POLICY if call in MASTER_CALLS else RS_POLICY
        assert policy[f"/regent.v1.{call}"].roles == roles, call
    assert set(_input_types()) == set(MASTER_CALLS) | set(RS_CALLS)


def test_a_certificate_without_a_role_is_unauthenticated_and_a_wrong_host_denied() -> None:
    no_role = tls.Identity("", ("x",), "c", "x")
    refusal = authz.check(MASTER_POLICY, "/regent.v1.Master/ListTables", no_role, None)
    assert refusal is not None and refusal.name == "Unauthenticated"
    elsewhere = tls.Identity("node", ("10.1.1.1",), "c", "10.1.1.1")
    request = master_pb2.RegionServerStartupRequest(host=LOOPBACK, port=1, startcode=1)
    refusal = authz.check(
        MASTER_POLICY, "/regent.v1.RegionServerStatus/RegionServerStartup", elsewhere, request
    )
    assert refusal is not None and refusal.name == "PermissionDenied" and "10.1.1.1" in refusal.message
    unknown = authz.check(MASTER_POLICY, "/regent.v1.Master/Shutdown", elsewhere, None)
    assert unknown is not None and "not open to any role" in unknown.message


# ---- a secure cluster, and outsiders ----


@dataclass
class Env:
    cluster: Cluster
    other_certs: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    daemons = Daemons(tmp_path_factory.mktemp("security-logs"))
    cluster = Cluster(daemons, tmp_path_factory.mktemp("security") / "root")
    other = make_test_certs(tmp_path_factory.mktemp("other-cluster") / "certs")
    try:
        cluster.start(servers=2)
        cluster.admin.create_table("t", {"f": {}}, num_regions=6)
        cluster.wait_open("t", 6)
        yield Env(cluster, other)
    except BaseException:
        print(daemons.log_tails())
        raise
    finally:
        cluster.close()
        daemons.kill_all()


def test_every_call_by_every_role_is_allowed_or_refused_as_the_table_says(env: Env) -> None:
    cluster = env.cluster
    master = cluster.masters[0].address
    server = cluster.servers[0].address
    wrong: list[str] = []
    for calls, address in ((MASTER_CALLS, master), (RS_CALLS, server)):
        for call, allowed in calls.items():
            for role, user in ROLE_USER.items():
                exc = _call(secure_transport(user), address, call, _request_of(call))
                refused = _refused_by_authz(exc)
                if refused == (role in allowed):
                    wrong.append(f"{call} as {role}: {'refused' if refused else 'allowed'} ({exc})")
                if refused:
                    assert exc is not None and error_name(exc) in ("PermissionDenied", "Unauthenticated")
                    assert role in exc.details() and "needs role" in exc.details()  # type: ignore[attr-defined]
    assert not wrong, "\n".join(wrong)
    regions = cluster.admin.table_regions("t")
    assert len(regions) == 6 and all(r.state.name == "OPEN" for r in regions)


def _forgeries(cluster: Cluster) -> list[tuple[str, str, Any]]:
    """(address, call, request): what an outsider would send to take regions away or change meta."""
    status = cluster.status()
    regions = cluster.admin.table_regions("t")
    victim = regions[0]
    assert victim.server is not None
    target = common_pb2.ServerName(
        host=victim.server.host, port=victim.server.port, startcode=victim.server.startcode
    )
    rs_address = f"{victim.server.host}:{victim.server.port}"
    master = cluster.masters[0].address
    close = regionserver_pb2.ExecuteProceduresRequest(
        target=target,
        master_epoch=status.master_epoch + 1,
        closes=regionserver_pb2.Closes(region_ids=[victim.region_id], proc_ids=[victim.proc_id or 1]),
    )
    report = master_pb2.ReportRegionStateTransitionRequest(
        server=target,
        transitions=[
            master_pb2.TransitionBatch(
                code=master_pb2.CLOSED_REPORT, region_ids=[victim.region_id], proc_ids=[1]
            )
        ],
    )
    startup = master_pb2.RegionServerStartupRequest(
        host=victim.server.host, port=victim.server.port, startcode=victim.server.startcode + 1
    )
    return [
        (rs_address, "RegionServerAdmin/ExecuteProcedures", close),
        (master, "RegionServerStatus/ReportRegionStateTransition", report),
        (master, "RegionServerStatus/RegionServerStartup", startup),
        (master, "Master/Unassign", master_pb2.RegionRequest(region_id=victim.region_id)),
        (master, "Master/Bypass", master_pb2.BypassRequest(proc_id=1)),
        (master, "Master/CreateTable", master_pb2.CreateTableRequest(name="evil")),
    ]


def test_outsiders_change_nothing(env: Env) -> None:
    """Without a certificate, with a client certificate, with another cluster's node certificate: a
    forged close order, a forged transition report and startup, and admin calls are all refused, and meta
    and every server's regions are as they were."""
    cluster = env.cluster
    before_meta = [(r.region_id, r.state.name, str(r.server)) for r in cluster.admin.table_regions("t")]
    before_served = cluster.served()
    outsiders = {
        "no certificate": INSECURE,
        "a client certificate": secure_transport("app"),
        "another cluster's node certificate": secure_transport(tls.NODE, env.other_certs),
    }
    for who, transport in outsiders.items():
        for address, call, request in _forgeries(cluster):
            exc = _call(transport, address, call, request)
            assert exc is not None, f"{call} by {who} succeeded"
            code = exc.code()  # type: ignore[attr-defined]
            if who == "a client certificate":
                assert code == grpc.StatusCode.PERMISSION_DENIED and error_name(exc) == "PermissionDenied", (
                    exc
                )
                assert "needs role" in exc.details(), exc  # type: ignore[attr-defined]
            else:  # refused at the handshake: no handler ever saw it
                assert code == grpc.StatusCode.UNAVAILABLE, f"{call} by {who}: {exc}"
    assert [
        (r.region_id, r.state.name, str(r.server)) for r in cluster.admin.table_regions("t")
    ] == before_meta
    assert cluster.served() == before_served
    assert "evil" not in [t.name for t in cluster.admin.list_tables()]
    master = cluster.masters[0]
    refused = [e for e in master.events() if e.get("event") == "call_refused"]
    assert refused and refused[-1]["refused_total"] >= 5
    rs_refused = [e for s in cluster.servers for e in s.events() if e.get("event") == "call_refused"]
    assert rs_refused and "ExecuteProcedures" in rs_refused[0]["method"]


def test_a_node_certificate_cannot_speak_for_another_host(env: Env, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ca_dir = Path(os.environ[tls.CERTS_ENV])
    certs.mkdir(mode=0o700)
    for name in ("ca.crt", "ca.key"):
        (certs / name).write_bytes((ca_dir / name).read_bytes())
    create_node(certs, ["10.9.9.9"])  # signed by the cluster CA, for another host
    (address, call, request) = _forgeries(env.cluster)[2]  # RegionServerStartup for a loopback server
    exc = _call(Transport(tls.load(certs)), address, call, request)
    assert _refused_by_authz(exc) and exc is not None
    assert "claims host '127.0.0.1'" in exc.details() and "10.9.9.9" in exc.details()  # type: ignore[attr-defined]


def test_the_sdk_names_the_refusal_and_the_role_needed(env: Env) -> None:
    with regent.connect(env.cluster.master_addresses, user="app", timeout=10) as conn:
        admin = conn.admin()
        assert [r.region_id for r in admin.table_regions("t")]  # look-ups are a client's
        with pytest.raises(PermissionDenied, match="CreateTable needs role admin"):
            admin.create_table("nope", {"f": {}})


# ---- set up the wrong way: clear errors, not hangs ----


def _env_without_certs() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != tls.CERTS_ENV}


def test_a_daemon_without_certificates_or_insecure_refuses_to_start(daemons: Daemons, tmp_path: Path) -> None:
    master = daemons.master(tmp_path / "root", env=_env_without_certs())
    assert master.wait_exit(30) == 1
    assert "no certificates: give --certs-dir DIR" in master.stderr_text()
    assert "--insecure" in master.stderr_text()
    server = daemons.regionserver(tmp_path / "root", f"{LOOPBACK}:1", env=_env_without_certs())
    assert server.wait_exit(30) == 1 and "regent certs create-ca" in server.stderr_text()


def test_plain_text_and_tls_each_get_a_clear_error_from_the_other(
    env: Env, daemons: Daemons, tmp_path: Path
) -> None:
    started = time.monotonic()
    with (
        pytest.raises(TlsMismatch, match="requires mutual TLS"),
        regent.connect(env.cluster.master_addresses, insecure=True, timeout=20) as conn,
    ):
        conn.admin().list_tables()
    plain = daemons.master(tmp_path / "root", extra_args=["--insecure", "--min-servers", "0"])
    plain.wait_reachable()
    assert plain.has_event("running_insecure")
    with (
        pytest.raises(TlsMismatch, match="speaks plain text"),
        regent.connect(plain.address, timeout=20) as conn,
    ):
        conn.admin().list_tables()
    assert time.monotonic() - started < 15, "a mismatch must be reported at once, not after the deadline"


def test_a_regionserver_of_another_cluster_is_refused_at_startup(
    env: Env, daemons: Daemons, tmp_path: Path
) -> None:
    server = daemons.regionserver(
        tmp_path / "root", env.cluster.masters[0].address, extra_args=["--certs-dir", str(env.other_certs)]
    )
    assert server.wait_exit(30) == 1
    err = server.stderr_text()
    assert "belongs to another cluster" in err and tls.ca_cluster(tls.load(env.other_certs)) in err, err
    assert len(env.cluster.status().servers) == 2


def test_a_regionserver_whose_certificate_is_for_another_host_refuses_to_start(
    daemons: Daemons, tmp_path: Path
) -> None:
    server = daemons.regionserver(tmp_path / "root", f"{LOOPBACK}:1", extra_args=["--host", "localhost"])
    # localhost is in the session's node certificate: it starts (and waits for a master); 127.0.0.2 is not.
    wait_until(lambda: server.has_event("regionserver_started"), 30, "the RegionServer to start")
    other = daemons.regionserver(tmp_path / "root", f"{LOOPBACK}:1", extra_args=["--host", "127.0.0.2"])
    assert other.wait_exit(30) == 1 and "not for --host 127.0.0.2" in other.stderr_text()


def test_regent_local_then_the_sdk_with_only_regent_certs_dir(
    tmp_path: Path, processes: ProcessGroups
) -> None:
    """A new user's tour: `regent local`, then the SDK with nothing but $REGENT_CERTS_DIR, securely; and a
    plain-text client is refused with a clear error."""
    port = free_port()
    while any(not _free(p) for p in (port, port + 100)):
        port = free_port()
    rootdir = tmp_path / "root"
    out = tmp_path / "local.out"
    with open(out, "wb") as sink:
        processes.popen(
            [
                sys.executable,
                "-m",
                "regent.cli",
                "local",
                "--no-thrift",
                "--rootdir",
                str(rootdir),
                "--port",
                str(port),
                "--servers",
                "1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_env_without_certs(),
        )
    wait_until(
        lambda: "the active master is" in out.read_text(), 60, "regent local to be up", context=out.read_text
    )
    text = out.read_text()
    certs = rootdir.resolve() / "certs"
    assert f"REGENT_CERTS_DIR={certs}" in text and f'certs_dir="{certs}"' in text
    assert {c.file for c in tls.list_certs(certs)} == {
        "ca.crt",
        "node.crt",
        "client.admin.crt",
        "client.app.crt",
        "client.thrift.crt",
    }
    script = (
        "import regent\n"
        f"with regent.connect('127.0.0.1:{port}', timeout=30) as conn:\n"
        "    admin = conn.admin()\n"
        "    admin.create_table('tour', {'f': {}}, num_regions=2)\n"
        "    print('regions', len(admin.table_regions('tour')))\n"
        "try:\n"
        f"    regent.connect('127.0.0.1:{port}', insecure=True, timeout=10).admin().list_tables()\n"
        "except regent.client_errors.TlsMismatch as exc:\n"
        "    print('plain text refused:', exc)\n"
    ).replace("regent.client_errors", "__import__('client').errors")
    run = subprocess.run(
        [sys.executable, "-c", script],
        env={**_env_without_certs(), tls.CERTS_ENV: str(certs)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "regions 2" in run.stdout and "plain text refused: cannot connect: master" in run.stdout, (
        run.stdout
    )


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def test_a_certificate_expiring_within_30_days_is_logged_at_start(daemons: Daemons, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    create_ca(certs)
    create_node(certs, [LOOPBACK], days=12)
    master = daemons.master(tmp_path / "root", extra_args=["--certs-dir", str(certs), "--min-servers", "0"])
    wait_until(
        lambda: master.has_event("certificate_expires_soon"),
        30,
        "the expiry warning",
        context=master.log_tail,
    )
    (event,) = [e for e in master.events() if e["event"] == "certificate_expires_soon"]
    assert event["file"].endswith("node.crt") and 11 < event["days_left"] <= 12


def test_a_plain_text_regionserver_against_a_tls_master_stops_with_a_clear_error(
    env: Env, daemons: Daemons, tmp_path: Path
) -> None:
    server = daemons.regionserver(
        tmp_path / "root", env.cluster.masters[0].address, extra_args=["--insecure"]
    )
    assert server.wait_exit(30) == 1
    assert "requires mutual TLS and this client connects in plain text" in server.stderr_text()
    assert server.has_event("running_insecure")
