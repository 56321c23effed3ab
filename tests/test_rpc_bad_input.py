"""Every RPC given something it cannot use, and reports that are forged or stale, against one running cluster.

Raw protobuf messages go straight to the daemons through the generated stubs, because the SDK refuses most of
this locally. Each refusal must be a gRPC status with a clear message (and, from the master, the error's name
in "regent-error"); afterwards every daemon still answers, and nothing changed: the master's view of the
table and of the cluster, and each RegionServer's own list of regions, are what they were before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from client.errors import error_name
from meta import ServerName
from meta.states import RegionState
from regent.proto import (
    common_pb2,
    data_pb2,
    data_pb2_grpc,
    master_pb2,
    master_pb2_grpc,
    regionserver_pb2,
    regionserver_pb2_grpc,
)
from tests.cluster import Cluster, Daemons, Master, RegionServer, health_status, open_channel, wait_until

TABLE = "t"
SPLITS = [b"b", b"d", b"f", b"h"]
S = RegionState


@dataclass
class Env:
    """The shared cluster: an active master and a backup, three RegionServers (one restarted, so that its
    first incarnation is a dead one), table `t` of five regions, the last one CLOSED."""

    cluster: Cluster
    active: Master
    backup: Master
    dead: ServerName  # the first incarnation of the restarted server: declared dead
    names: dict[str, ServerName]  # address -> live incarnation
    regions: list[Any]  # RegionLocation, in key order
    rootdir: Path

    @property
    def epoch(self) -> int:
        return int(self.cluster.status().master_epoch)

    def open_region(self, index: int = 0) -> Any:
        return self.regions[index]

    @property
    def closed(self) -> Any:
        return self.regions[-1]

    def server_of(self, region: Any) -> RegionServer:
        return next(s for s in self.cluster.servers if s.alive and s.address == region.server.address)

    def other_server(self, region: Any) -> RegionServer:
        return next(s for s in self.cluster.servers if s.alive and s.address != region.server.address)

    def pb(self, name: ServerName) -> common_pb2.ServerName:
        return common_pb2.ServerName(host=name.host, port=name.port, startcode=name.startcode)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    daemons = Daemons(tmp_path_factory.mktemp("rpc-bad-input-logs"))
    rootdir = tmp_path_factory.mktemp("rpc-bad-input") / "root"
    # Plain text: this module fuzzes the handlers' own checks, which run after authorization (a forged
    # host is refused before its handler sees it); tests/test_security.py checks authorization.
    cluster = Cluster(daemons, rootdir, masters=2, insecure=True)
    try:
        cluster.start(servers=3)
        restarted = cluster.servers[0]
        (dead,) = [s.server for s in cluster.status().servers if s.server.port == restarted.port]
        assert restarted.stop() == 0, restarted.log_tail()
        cluster.start_server(restarted.port)
        wait_until(
            lambda: (
                {s.server.port for s in cluster.status().servers if s.server != dead}
                == {s.port for s in cluster.servers if s.alive}
            ),
            30,
            "the restarted RegionServer to replace its first incarnation",
            context=daemons.log_tails,
        )
        cluster.admin.create_table(TABLE, ["cf"], split_keys=SPLITS)
        regions = cluster.wait_open(TABLE, len(SPLITS) + 1)
        cluster.admin.unassign(regions[-1].region_id, timeout=20.0)
        regions = cluster.admin.table_regions(TABLE)
        active = cluster.active_master()
        assert active is not None
        (backup,) = [m for m in cluster.masters if m is not active]
        names = {s.server.address: s.server for s in cluster.status().servers}
        yield Env(cluster, active, backup, dead, names, regions, rootdir)
    except BaseException:
        print(daemons.log_tails())
        raise
    finally:
        cluster.close()
        daemons.kill_all()


# ---- calling, and checking that nothing changed ----


_STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "Master": master_pb2_grpc.MasterStub,
    "RegionServerStatus": master_pb2_grpc.RegionServerStatusStub,
    "RegionServerAdmin": regionserver_pb2_grpc.RegionServerAdminStub,
    "RegionData": data_pb2_grpc.RegionDataStub,
}


def call(address: str, service: str, method: str, request: Any, timeout: float = 10.0) -> Any:
    """One unary call; `request` is a protobuf message, or raw bytes sent as they are."""
    with open_channel(address, [("grpc.max_send_message_length", 64 << 20)]) as channel:
        if isinstance(request, bytes):
            raw = channel.unary_unary(f"/regent.v1.{service}/{method}")
            return raw(request, timeout=timeout)
        return getattr(_STUBS[service](channel), method)(request, timeout=timeout)


def snapshot(env: Env) -> tuple[Any, ...]:
    """What must not change: the table as the master has it, its view of the cluster (without clocks and
    request counters), each live RegionServer's own regions."""
    status = env.cluster.status()
    servers = sorted((str(s.server), s.region_count) for s in status.servers)
    online = {s.address: s.online() for s in env.cluster.servers if s.alive}
    data = sorted(str(p.relative_to(env.rootdir)) for p in (env.rootdir / "data").rglob("*"))
    return (
        data,
        env.cluster.admin.table_regions(TABLE),
        servers,
        status.regions,
        status.regions_by_state,
        [(r.region_id, r.state, r.proc_id) for r in status.regions_in_transition],
        status.master_epoch,
        online,
    )


def assert_all_answer(env: Env) -> None:
    info = env.active.info()
    assert info is not None and info.active and env.active.health() == "SERVING", env.active.log_tail()
    backup = env.backup.info()
    assert backup is not None and not backup.active, env.backup.log_tail()
    for server in env.cluster.servers:
        if server.alive:
            assert server.online() is not None, server.log_tail()
            assert health_status(server.address) == "SERVING", server.log_tail()


def assert_refused(
    env: Env,
    address: str,
    service: str,
    method: str,
    request: Any,
    code: grpc.StatusCode,
    phrase: str,
    name: str | None = None,
) -> grpc.RpcError:
    """The call fails with `code`, a message matching `phrase` and (if given) the error `name`; every daemon
    still answers and nothing changed."""
    before = snapshot(env)
    with pytest.raises(grpc.RpcError) as raised:
        call(address, service, method, request)
    exc = raised.value
    details = exc.details() or ""  # type: ignore[attr-defined]
    assert exc.code() == code, f"expected {code.name}, got {exc.code().name}: {details}"  # type: ignore[attr-defined]
    assert re.search(phrase, details), f"{details!r} does not say {phrase!r}"
    if name is not None:
        assert error_name(exc) == name, f"expected regent-error {name}, got {error_name(exc)}: {details}"
    assert_all_answer(env)
    assert snapshot(env) == before, "a refused request changed the cluster"
    return exc


# ---- the master's RPCs ----

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def _create(name: str = "u", families: tuple[tuple[str, int], ...] = (("cf", 1),), **kw: Any) -> Any:
    return master_pb2.CreateTableRequest(
        name=name, families=[common_pb2.ColumnFamily(name=n, max_versions=v) for n, v in families], **kw
    )


def _report(env: Env, *batches: master_pb2.TransitionBatch, server: Any = None) -> Any:
    name = server if server is not None else env.pb(env.open_region().server)
    return master_pb2.ReportRegionStateTransitionRequest(server=name, transitions=list(batches))


def _batch(code: int, region_ids: list[int], proc_ids: list[int], seqs: list[int] | None = None) -> Any:
    return master_pb2.TransitionBatch(
        code=code,  # type: ignore[arg-type]
        region_ids=region_ids,
        proc_ids=proc_ids,
        open_seq_nums=seqs if seqs is not None else [],
    )


def _startup(host: str, port: int, startcode: int) -> Any:
    return master_pb2.RegionServerStartupRequest(host=host, port=port, startcode=startcode)


def _heartbeat(server: common_pb2.ServerName | None) -> Any:
    return master_pb2.RegionServerReportRequest(server=server, load=master_pb2.ServerLoad(region_count=1))


def _region(region_id: int, server: str = "") -> Any:
    return master_pb2.RegionRequest(region_id=region_id, server=server)


BIG = 10**12  # no region, table or procedure has such an id
LIVE_PORT_FREE = 1  # nothing listens on port 1 of loopback

# (id, service, method, build(env) -> request, code, message regex, regent-error name)
MASTER_CASES: list[tuple[str, str, str, Callable[[Env], Any], grpc.StatusCode, str, str]] = [
    (
        "create-bad-table-name",
        "Master",
        "CreateTable",
        lambda e: _create("no spaces"),
        INVALID,
        r"table name 'no spaces' is not valid",
        "InvalidArgument",
    ),
    (
        "create-empty-table-name",
        "Master",
        "CreateTable",
        lambda e: _create(""),
        INVALID,
        r"table name '' is not valid",
        "InvalidArgument",
    ),
    (
        "create-no-family",
        "Master",
        "CreateTable",
        lambda e: _create(families=()),
        INVALID,
        r"at least one column family",
        "InvalidArgument",
    ),
    (
        "create-bad-family-name",
        "Master",
        "CreateTable",
        lambda e: _create(families=(("c:f", 1),)),
        INVALID,
        r"column family name 'c:f' is not valid",
        "InvalidArgument",
    ),
    (
        "create-repeated-family",
        "Master",
        "CreateTable",
        lambda e: _create(families=(("a", 1), ("a", 1))),
        INVALID,
        r"column families repeat",
        "InvalidArgument",
    ),
    (
        "create-max-versions",
        "Master",
        "CreateTable",
        lambda e: _create(families=(("a", 20_000),)),
        INVALID,
        r"max_versions must be 1\.\.10000, got 20000",
        "InvalidArgument",
    ),
    (
        "create-split-keys-out-of-order",
        "Master",
        "CreateTable",
        lambda e: _create(split_keys=[b"m", b"c"]),
        INVALID,
        r"split keys must be strictly increasing",
        "InvalidArgument",
    ),
    (
        "create-split-keys-repeated",
        "Master",
        "CreateTable",
        lambda e: _create(split_keys=[b"c", b"c"]),
        INVALID,
        r"split keys must be strictly increasing",
        "InvalidArgument",
    ),
    (
        "create-empty-split-key",
        "Master",
        "CreateTable",
        lambda e: _create(split_keys=[b"", b"c"]),
        INVALID,
        r"split key #0 is empty",
        "InvalidArgument",
    ),
    (
        "create-split-key-too-long",
        "Master",
        "CreateTable",
        lambda e: _create(split_keys=[b"x" * 300]),
        INVALID,
        r"split key #0 has 300 bytes, at most 256",
        "InvalidArgument",
    ),
    (
        "create-split-keys-and-num-regions",
        "Master",
        "CreateTable",
        lambda e: _create(split_keys=[b"c"], num_regions=4),
        INVALID,
        r"split_keys or num_regions, not both",
        "InvalidArgument",
    ),
    (
        "create-too-many-regions",
        "Master",
        "CreateTable",
        lambda e: _create(num_regions=1_000_001),
        INVALID,
        r"at most 1000000 regions, asked for 1000001",
        "InvalidArgument",
    ),
    (
        "create-existing-table",
        "Master",
        "CreateTable",
        lambda e: _create(TABLE),
        grpc.StatusCode.ALREADY_EXISTS,
        r"table 't' already exists",
        "TableExists",
    ),
    (
        "table-regions-unknown-table",
        "Master",
        "TableRegions",
        lambda e: master_pb2.TableRegionsRequest(name="nope"),
        NOT_FOUND,
        r"table 'nope' does not exist",
        "TableNotFound",
    ),
    (
        "table-regions-empty-name",
        "Master",
        "TableRegions",
        lambda e: master_pb2.TableRegionsRequest(),
        NOT_FOUND,
        r"table '' does not exist",
        "TableNotFound",
    ),
    (
        "get-region-unknown",
        "Master",
        "GetRegion",
        lambda e: _region(BIG),
        NOT_FOUND,
        rf"region {BIG} does not exist",
        "RegionNotFound",
    ),
    (
        "get-region-zero",
        "Master",
        "GetRegion",
        lambda e: _region(0),
        NOT_FOUND,
        r"region 0 does not exist",
        "RegionNotFound",
    ),
    (
        "assign-unknown-region",
        "Master",
        "Assign",
        lambda e: _region(BIG),
        NOT_FOUND,
        rf"region {BIG} does not exist",
        "RegionNotFound",
    ),
    (
        "assign-open-region",
        "Master",
        "Assign",
        lambda e: _region(e.open_region().region_id),
        INVALID,
        r"region \d+ is OPEN: assign needs one of ABNORMALLY_CLOSED, CLOSED",
        "InvalidArgument",
    ),
    (
        "assign-to-unknown-address",
        "Master",
        "Assign",
        lambda e: _region(e.closed.region_id, "nonsense"),
        NOT_FOUND,
        r"no live RegionServer at 'nonsense'",
        "ServerNotFound",
    ),
    (
        "assign-to-garbage-server-name",
        "Master",
        "Assign",
        lambda e: _region(e.closed.region_id, "a:b:c"),
        INVALID,
        r"expected a server name host:port:startcode, got 'a:b:c'",
        "InvalidArgument",
    ),
    (
        "assign-to-dead-incarnation",
        "Master",
        "Assign",
        lambda e: _region(e.closed.region_id, str(e.dead)),
        NOT_FOUND,
        r"server 127\.0\.0\.1:\d+:\d+ is not a live RegionServer",
        "ServerNotFound",
    ),
    (
        "assign-to-port-zero",
        "Master",
        "Assign",
        lambda e: _region(e.closed.region_id, "127.0.0.1:0"),
        NOT_FOUND,
        r"no live RegionServer at '127\.0\.0\.1:0'",
        "ServerNotFound",
    ),
    (
        "unassign-unknown-region",
        "Master",
        "Unassign",
        lambda e: _region(BIG),
        NOT_FOUND,
        rf"region {BIG} does not exist",
        "RegionNotFound",
    ),
    (
        "unassign-closed-region",
        "Master",
        "Unassign",
        lambda e: _region(e.closed.region_id),
        INVALID,
        r"region \d+ is CLOSED: unassign needs it OPEN",
        "InvalidArgument",
    ),
    (
        "move-unknown-region",
        "Master",
        "Move",
        lambda e: _region(BIG),
        NOT_FOUND,
        rf"region {BIG} does not exist",
        "RegionNotFound",
    ),
    (
        "move-closed-region",
        "Master",
        "Move",
        lambda e: _region(e.closed.region_id),
        INVALID,
        r"region \d+ is CLOSED: move needs it OPEN",
        "InvalidArgument",
    ),
    (
        "move-onto-its-own-server",
        "Master",
        "Move",
        lambda e: _region(e.open_region().region_id, e.open_region().server.address),
        INVALID,
        r"region \d+ is already open on 127\.0\.0\.1:\d+:\d+",
        "InvalidArgument",
    ),
    (
        "move-to-nobody",
        "Master",
        "Move",
        lambda e: _region(e.open_region().region_id, f"127.0.0.1:{LIVE_PORT_FREE}"),
        NOT_FOUND,
        r"no live RegionServer at '127\.0\.0\.1:1'",
        "ServerNotFound",
    ),
    (
        "bypass-unknown-procedure",
        "Master",
        "Bypass",
        lambda e: master_pb2.BypassRequest(proc_id=BIG),
        NOT_FOUND,
        rf"no region transition procedure {BIG} is running",
        "ProcedureNotFound",
    ),
    (
        "bypass-procedure-zero",
        "Master",
        "Bypass",
        lambda e: master_pb2.BypassRequest(),
        NOT_FOUND,
        r"no region transition procedure 0 is running",
        "ProcedureNotFound",
    ),
    (
        "startup-port-zero",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("127.0.0.1", 0, 5),
        INVALID,
        r"a port in 1\.\.65535 and a positive startcode, got '127\.0\.0\.1':0:5",
        "InvalidArgument",
    ),
    (
        "startup-port-too-large",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("127.0.0.1", 70_000, 5),
        INVALID,
        r"got '127\.0\.0\.1':70000:5",
        "InvalidArgument",
    ),
    (
        "startup-empty-host",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("", 4000, 5),
        INVALID,
        r"must have a host.*got '':4000:5",
        "InvalidArgument",
    ),
    (
        "startup-startcode-zero",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("127.0.0.1", 4000, 0),
        INVALID,
        r"positive startcode, got '127\.0\.0\.1':4000:0",
        "InvalidArgument",
    ),
    (
        "startup-older-than-live-incarnation",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup(
            e.open_region().server.host, e.open_region().server.port, e.open_region().server.startcode - 1
        ),
        INVALID,
        r"is older than the registered incarnation",
        "InvalidArgument",
    ),
    (
        "startup-dead-incarnation",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup(e.dead.host, e.dead.port, e.dead.startcode),
        PRECONDITION,
        r"server 127\.0\.0\.1:\d+:\d+ was declared dead",
        "YouAreDead",
    ),
    (
        "heartbeat-without-server",
        "RegionServerStatus",
        "RegionServerReport",
        lambda e: _heartbeat(None),
        INVALID,
        r"server must have a host",
        "InvalidArgument",
    ),
    (
        "heartbeat-unregistered",
        "RegionServerStatus",
        "RegionServerReport",
        lambda e: _heartbeat(common_pb2.ServerName(host="127.0.0.1", port=LIVE_PORT_FREE, startcode=7)),
        PRECONDITION,
        r"server 127\.0\.0\.1:1:7 is not registered",
        "ServerNotRegistered",
    ),
    (
        "heartbeat-dead-incarnation",
        "RegionServerStatus",
        "RegionServerReport",
        lambda e: _heartbeat(e.pb(e.dead)),
        PRECONDITION,
        r"was declared dead",
        "YouAreDead",
    ),
    (
        "report-no-batches",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e),
        INVALID,
        r"at least one batch",
        "InvalidArgument",
    ),
    (
        "report-unspecified-code",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(0, [1], [1], [1])),
        INVALID,
        r"batch #0: unknown transition code 0",
        "InvalidArgument",
    ),
    (
        "report-unknown-code",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.OPENED, [1], [1], [1]), _batch(9, [1], [1], [1])),
        INVALID,
        r"batch #1: unknown transition code 9",
        "InvalidArgument",
    ),
    (
        "report-columns-differ",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.CLOSED_REPORT, [1, 2], [1])),
        INVALID,
        r"one procedure id per region, got 2 regions and 1 procedure ids",
        "InvalidArgument",
    ),
    (
        "report-opened-without-sequence-numbers",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.OPENED, [1], [1])),
        INVALID,
        r"OPENED needs one open sequence number per region",
        "InvalidArgument",
    ),
    (
        "report-empty-batch",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.CLOSED_REPORT, [], [])),
        INVALID,
        r"got 0 regions",
        "InvalidArgument",
    ),
    (
        "report-oversized",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.CLOSED_REPORT, [BIG] * 200_001, [BIG] * 200_001)),
        INVALID,
        r"at most 200000 transitions, got 200001",
        "InvalidArgument",
    ),
    (
        "report-server-port-zero",
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(
            e,
            _batch(master_pb2.CLOSED_REPORT, [1], [1]),
            server=common_pb2.ServerName(host="127.0.0.1", port=0, startcode=5),
        ),
        INVALID,
        r"a port in 1\.\.65535",
        "InvalidArgument",
    ),
    (  # found by tests/test_rpc_fuzz.py: the whole name in the message made a trailer gRPC drops
        "create-huge-table-name",
        "Master",
        "CreateTable",
        lambda e: _create("x" * 100_000),
        INVALID,
        r"^table name 'x+\.\.\. \[message cut: \d+ bytes in all\]$",
        "InvalidArgument",
    ),
    (  # found by tests/test_rpc_fuzz.py: answered UNKNOWN, and the master stepped down at its lease's end
        "startup-huge-host",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("x" * 100_000, 16020, 5),
        INVALID,
        r"a host must be a DNS name or an IP address",
        "InvalidArgument",
    ),
    (
        "startup-host-not-a-name",
        "RegionServerStatus",
        "RegionServerStartup",
        lambda e: _startup("host name", 16020, 5),
        INVALID,
        r"a host must be a DNS name or an IP address",
        "InvalidArgument",
    ),
    (
        "decommission-no-server",
        "Master",
        "Decommission",
        lambda e: master_pb2.DecommissionRequest(),
        INVALID,
        r"at least one server",
        "InvalidArgument",
    ),
    (
        "decommission-unknown-server",
        "Master",
        "Decommission",
        lambda e: master_pb2.DecommissionRequest(servers=["127.0.0.1:1"], offload=True),
        NOT_FOUND,
        r"no live RegionServer at '127\.0\.0\.1:1'",
        "ServerNotFound",
    ),
    (
        "decommission-dead-incarnation",
        "Master",
        "Decommission",
        lambda e: master_pb2.DecommissionRequest(servers=[f"{e.open_region().server.address}:1"]),
        NOT_FOUND,
        r"is not a live RegionServer",
        "ServerNotFound",
    ),
    (
        "recommission-no-server",
        "Master",
        "Recommission",
        lambda e: master_pb2.RecommissionRequest(),
        INVALID,
        r"a server must be given",
        "InvalidArgument",
    ),
    (
        "recommission-unknown-region",
        "Master",
        "Recommission",
        lambda e: master_pb2.RecommissionRequest(server=e.open_region().server.address, region_ids=[BIG]),
        NOT_FOUND,
        rf"region {BIG} does not exist",
        "RegionNotFound",
    ),
    (
        "hbck-remove-dirs-without-fix",
        "Master",
        "Hbck",
        lambda e: master_pb2.HbckRequest(remove_orphan_dirs=True),
        INVALID,
        r"remove_orphan_dirs is a repair: it needs fix as well",
        "InvalidArgument",
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "build", "code", "phrase", "name"),
    [case[1:] for case in MASTER_CASES],
    ids=[case[0] for case in MASTER_CASES],
)
def test_master_refuses_bad_input_with_a_clear_status_and_changes_nothing(
    env: Env,
    service: str,
    method: str,
    build: Callable[[Env], Any],
    code: grpc.StatusCode,
    phrase: str,
    name: str,
) -> None:
    assert_refused(env, env.active.address, service, method, build(env), code, phrase, name)


# Valid requests, each of which would change something if a backup acted on it.
BACKUP_CASES: list[tuple[str, str, Callable[[Env], Any]]] = [
    ("Master", "CreateTable", lambda e: _create("from_backup")),
    ("Master", "TableRegions", lambda e: master_pb2.TableRegionsRequest(name=TABLE)),
    ("Master", "GetRegion", lambda e: _region(e.open_region().region_id)),
    ("Master", "Assign", lambda e: _region(e.closed.region_id)),
    ("Master", "Unassign", lambda e: _region(e.open_region().region_id)),
    ("Master", "Move", lambda e: _region(e.open_region().region_id)),
    ("Master", "ClusterStatus", lambda e: master_pb2.ClusterStatusRequest()),
    ("Master", "ListProcedures", lambda e: master_pb2.ListProceduresRequest()),
    ("Master", "Bypass", lambda e: master_pb2.BypassRequest(proc_id=1)),
    ("Master", "Balance", lambda e: master_pb2.BalanceRequest(force=True)),
    ("Master", "BalancerSwitch", lambda e: master_pb2.BalancerSwitchRequest(on=False)),
    (
        "Master",
        "Decommission",
        lambda e: master_pb2.DecommissionRequest(servers=[e.open_region().server.address]),
    ),
    ("Master", "Hbck", lambda e: master_pb2.HbckRequest(fix=True)),
    ("RegionServerStatus", "RegionServerStartup", lambda e: _startup("127.0.0.1", LIVE_PORT_FREE, 5)),
    ("RegionServerStatus", "RegionServerReport", lambda e: _heartbeat(e.pb(e.open_region().server))),
    (
        "RegionServerStatus",
        "ReportRegionStateTransition",
        lambda e: _report(e, _batch(master_pb2.CLOSED_REPORT, [e.open_region().region_id], [0])),
    ),
]


@pytest.mark.parametrize(("service", "method", "build"), BACKUP_CASES, ids=[f"{c[1]}" for c in BACKUP_CASES])
def test_backup_master_refuses_every_rpc_as_not_active(
    env: Env, service: str, method: str, build: Callable[[Env], Any]
) -> None:
    assert_refused(
        env,
        env.backup.address,
        service,
        method,
        build(env),
        grpc.StatusCode.UNAVAILABLE,
        rf"master {re.escape(env.backup.address)} is not the active master",
        "NotActiveMaster",
    )


GARBAGE = b"\xff\xff\xff\xff\x0f"  # a truncated varint: no protobuf message parses from it

UNDECODABLE: list[tuple[str, str, str]] = [
    ("master", "Master", "ClusterStatus"),
    ("master", "Master", "ListProcedures"),
    ("master", "Master", "CreateTable"),
    ("master", "RegionServerStatus", "ReportRegionStateTransition"),
    ("server", "RegionServerAdmin", "ExecuteProcedures"),
    ("server", "RegionServerAdmin", "GetOnlineRegions"),
    ("server", "RegionData", "Mutate"),
    ("server", "RegionData", "OpenScanner"),
]


@pytest.mark.parametrize(("who", "service", "method"), UNDECODABLE, ids=[c[2] for c in UNDECODABLE])
def test_bytes_that_are_no_protobuf_message_are_refused(
    env: Env, who: str, service: str, method: str
) -> None:
    address = env.active.address if who == "master" else env.server_of(env.open_region()).address
    # gRPC's own answer to a request it cannot parse: UNKNOWN, naming the message type
    assert_refused(
        env,
        address,
        service,
        method,
        GARBAGE,
        grpc.StatusCode.UNKNOWN,
        r"Error parsing message with type 'regent\.v1\.\w+Request'",
    )


# ---- the RegionServers' RPCs ----


def _orders(
    target: common_pb2.ServerName,
    epoch: int,
    opens: list[regionserver_pb2.TableOpens] | None = None,
    closes: tuple[list[int], list[int]] = ([], []),
) -> regionserver_pb2.ExecuteProceduresRequest:
    return regionserver_pb2.ExecuteProceduresRequest(
        target=target,
        master_epoch=epoch,
        opens=opens or [],
        closes=regionserver_pb2.Closes(region_ids=closes[0], proc_ids=closes[1]),
    )


def _opens(table: str, n_ids: int, n_procs: int, n_seqs: int, n_keys: int) -> regionserver_pb2.TableOpens:
    return regionserver_pb2.TableOpens(
        table=table,
        region_ids=[BIG + i for i in range(n_ids)],
        proc_ids=[BIG + i for i in range(n_procs)],
        open_seq_nums=[BIG + i for i in range(n_seqs)],
        start_keys=[b""] * n_keys,
        end_keys=[b""] * n_keys,
    )


def _mutate(region_id: int, row: bytes, *mutations: data_pb2.Mutation) -> data_pb2.MutateRequest:
    return data_pb2.MutateRequest(
        regions=[
            data_pb2.RegionMutations(
                region_id=region_id, rows=[data_pb2.RowMutation(row=row, mutations=list(mutations))]
            )
        ]
    )


def _get(region_id: int, row: bytes, columns: list[bytes] | None = None) -> data_pb2.GetRequest:
    return data_pb2.GetRequest(
        regions=[data_pb2.RegionRows(region_id=region_id, rows=[row])], columns=columns or []
    )


def _put(family: bytes = b"cf", value: bytes = b"v") -> data_pb2.Mutation:
    return data_pb2.Mutation(kind=data_pb2.Mutation.PUT, family=family, qualifier=b"q", value=value)


def _close_its_region(e: Env) -> tuple[list[int], list[int]]:
    """A close of a region the addressee serves: harmful if it were obeyed."""
    return [e.open_region().region_id], [BIG]


def _addressee(e: Env) -> common_pb2.ServerName:
    return e.pb(e.open_region().server)


REFUSED = "OrderRefused"

SERVER_CASES: list[tuple[str, str, str, Callable[[Env], Any], grpc.StatusCode, str, str | None]] = [
    (
        "orders-for-another-startcode",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(
            common_pb2.ServerName(
                host=e.open_region().server.host,
                port=e.open_region().server.port,
                startcode=e.open_region().server.startcode - 1,
            ),
            e.epoch,
            closes=_close_its_region(e),
        ),
        PRECONDITION,
        r"orders for 127\.0\.0\.1:\d+:\d+ reached 127\.0\.0\.1:\d+:\d+: refused",
        REFUSED,
    ),
    (
        "orders-for-nobody",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(common_pb2.ServerName(), e.epoch, closes=_close_its_region(e)),
        PRECONDITION,
        r"orders for :0:0 reached",
        REFUSED,
    ),
    (
        "orders-from-an-older-epoch",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch - 1, closes=_close_its_region(e)),
        PRECONDITION,
        r"orders from master epoch \d+, this server follows \d+",
        REFUSED,
    ),
    (
        "orders-empty",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch),
        PRECONDITION,
        r"at least one open or close",
        REFUSED,
    ),
    (
        "orders-oversized",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch, closes=([BIG] * 200_001, list(range(1, 200_002)))),
        PRECONDITION,
        r"at most 200000 orders per call, got 200001",
        REFUSED,
    ),
    (
        "orders-open-columns-differ",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch, opens=[_opens(TABLE, 2, 2, 1, 2)]),
        PRECONDITION,
        r"table 't': open columns differ in length \[2, 2, 1, 2, 2\]",
        REFUSED,
    ),
    (
        "orders-close-columns-differ",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch, closes=([e.open_region().region_id], [])),
        PRECONDITION,
        r"closes need one procedure id per region",
        REFUSED,
    ),
    (
        "orders-bad-table-name",
        "RegionServerAdmin",
        "ExecuteProcedures",
        lambda e: _orders(_addressee(e), e.epoch, opens=[_opens("../../etc", 1, 1, 1, 1)]),
        PRECONDITION,
        r"table name '\.\./\.\./etc' is not valid",
        REFUSED,
    ),
    (
        "mutate-unknown-mutation-kind",
        "RegionData",
        "Mutate",
        lambda e: _mutate(e.open_region().region_id, b"a", data_pb2.Mutation(kind=99, family=b"cf")),  # type: ignore[arg-type]
        INVALID,
        r"unknown mutation kind 99",
        "InvalidArgument",
    ),
    (
        "mutate-too-many-rows",
        "RegionData",
        "Mutate",
        lambda e: data_pb2.MutateRequest(
            regions=[
                data_pb2.RegionMutations(
                    region_id=e.open_region().region_id, rows=[data_pb2.RowMutation(row=b"a")] * 100_001
                )
            ]
        ),
        INVALID,
        r"a Mutate call carries at most 100000 rows, this one 100001",
        "InvalidArgument",
    ),
    (
        "increment-columns-and-amounts-differ",
        "RegionData",
        "Increment",
        lambda e: data_pb2.IncrementRequest(
            regions=[
                data_pb2.RegionIncrements(
                    region_id=e.open_region().region_id,
                    rows=[data_pb2.RowIncrement(row=b"a", columns=[b"cf:a", b"cf:b"], amounts=[1])],
                )
            ]
        ),
        INVALID,
        r"has 2 columns and 1 amounts: one amount per column",
        "InvalidArgument",
    ),
    (
        "get-row-too-long",
        "RegionData",
        "Get",
        lambda e: _get(e.open_region().region_id, b"a" * 40_000),
        INVALID,
        r"a row key has 1\.\.32767 bytes, got one of 40000 bytes",
        "InvalidArgument",
    ),
    (
        "get-empty-column",
        "RegionData",
        "Get",
        lambda e: _get(e.open_region().region_id, b"a", columns=[b":q"]),
        INVALID,
        r"a column is b'family' or b'family:qualifier', got b':q'",
        "InvalidArgument",
    ),
    (
        "get-unknown-family",
        "RegionData",
        "Get",
        lambda e: _get(e.open_region().region_id, b"a", columns=[b"nope"]),
        INVALID,
        r"no column family b'nope'",
        "NoSuchFamily",
    ),
    (
        "get-empty-time-range",
        "RegionData",
        "Get",
        lambda e: data_pb2.GetRequest(
            regions=[data_pb2.RegionRows(region_id=e.open_region().region_id, rows=[b"a"])],
            time_range=data_pb2.TimeRange(min=5, max=5),
        ),
        INVALID,
        r"a time range needs min < max, got \[5, 5\)",
        "InvalidArgument",
    ),
    (
        "scan-malformed-filter",
        "RegionData",
        "OpenScanner",
        lambda e: data_pb2.OpenScannerRequest(
            region_id=e.open_region().region_id, scan=data_pb2.ScanSpec(filter="PrefixFilter('a'")
        ),
        INVALID,
        r"filter refused: .*at offset \d+",
        "FilterSyntax",
    ),
    (
        "scanner-next-unknown",
        "RegionData",
        "ScannerNext",
        lambda e: data_pb2.ScannerNextRequest(scanner_id=BIG),
        NOT_FOUND,
        rf"no scanner {BIG} on this RegionServer: never opened, closed, or expired",
        "ScannerNotFound",
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "build", "code", "phrase", "name"),
    [case[1:] for case in SERVER_CASES],
    ids=[case[0] for case in SERVER_CASES],
)
def test_regionserver_refuses_bad_input_with_a_clear_status_and_changes_nothing(
    env: Env,
    service: str,
    method: str,
    build: Callable[[Env], Any],
    code: grpc.StatusCode,
    phrase: str,
    name: str | None,
) -> None:
    # Every case goes to the server of region 0 (the data cases name other regions of it, or none).
    address = env.server_of(env.open_region()).address
    request = build(env)
    assert_refused(env, address, service, method, request, code, phrase, name)


# ---- data calls refused per region or per row: the answer says why, nothing is written ----

DATA_REFUSALS: list[tuple[str, Callable[[Env], data_pb2.MutateRequest], str, str]] = [
    (
        "unknown-region",
        lambda e: _mutate(BIG, b"a", _put()),
        "region:NOT_SERVING",
        rf"region {BIG} is not served by",
    ),
    (
        "closed-region",
        lambda e: _mutate(e.closed.region_id, b"z", _put()),
        "region:NOT_SERVING",
        r"region \d+ is not served by 127\.0\.0\.1:\d+:\d+",
    ),
    (
        "row-outside-the-region",
        lambda e: _mutate(e.open_region().region_id, b"zz", _put()),
        "region:NOT_SERVING",
        r"row b'zz' is outside region \d+ \[b'', b'b'\): look the row up again",
    ),
    (
        "row-too-long",
        lambda e: _mutate(e.open_region().region_id, b"a" * 40_000, _put()),
        "row:RowTooLong",
        r"a row key must have 1\.\.32767 bytes, this one has 40000: row refused",
    ),
    (
        "empty-row",
        lambda e: _mutate(e.open_region().region_id, b"", _put()),
        "row:RowTooLong",
        r"this one has 0",
    ),
    (
        "cell-too-large",
        lambda e: _mutate(e.open_region().region_id, b"a", _put(value=b"x" * (10 * 1024 * 1024))),
        "row:CellTooLarge",
        r"has 10485764 bytes, more than the maximum of 10485760: row refused",
    ),
    (
        "unknown-family",
        lambda e: _mutate(e.open_region().region_id, b"a", _put(family=b"nope")),
        "row:NoSuchFamily",
        r"no column family b'nope': the table has \[b'cf'\]",
    ),
    (
        "timestamp-out-of-range",
        lambda e: _mutate(
            e.open_region().region_id,
            b"a",
            data_pb2.Mutation(kind=data_pb2.Mutation.PUT, family=b"cf", qualifier=b"q", timestamp=2**64 - 1),
        ),
        "row:BadMutation",
        r"a timestamp must be 0\.\.9223372036854775807 ms",
    ),
]


@pytest.mark.parametrize(
    ("build", "refusal", "phrase"), [c[1:] for c in DATA_REFUSALS], ids=[c[0] for c in DATA_REFUSALS]
)
def test_data_write_refused_for_its_region_or_row_says_why_and_changes_nothing(
    env: Env, build: Callable[[Env], data_pb2.MutateRequest], refusal: str, phrase: str
) -> None:
    address = env.server_of(env.open_region()).address
    before = snapshot(env)
    response = call(address, "RegionData", "Mutate", build(env))
    (outcome,) = response.regions
    where, name = refusal.split(":")
    if where == "region":
        assert outcome.HasField("error") and not outcome.row_errors, outcome
        assert data_pb2.RegionError.Reason.Name(outcome.error.reason) == name, outcome.error
        message = outcome.error.message
    else:
        assert not outcome.HasField("error") and list(outcome.row_errors) == [0], outcome
        assert outcome.row_errors[0].code == name, outcome.row_errors[0]
        message = outcome.row_errors[0].message
    assert re.search(phrase, message), f"{message!r} does not say {phrase!r}"
    assert len(message) < 500, f"a refusal of {len(message)} characters"
    assert_all_answer(env)
    assert snapshot(env) == before, "a refused write changed the cluster (or created a store)"


# ---- forged and stale reports (DESIGN.md §4: a report is accepted only from the procedure's target, with
# its procedure id and the server's current startcode, while the master considers that server alive) ----


def _unregistered(e: Env) -> common_pb2.ServerName:
    return common_pb2.ServerName(host="127.0.0.1", port=LIVE_PORT_FREE, startcode=7)


def _older_startcode(e: Env) -> common_pb2.ServerName:
    name = e.open_region().server
    return common_pb2.ServerName(host=name.host, port=name.port, startcode=name.startcode - 1)


@pytest.mark.parametrize(
    ("sender", "code", "phrase", "name"),
    [
        (_unregistered, PRECONDITION, r"server 127\.0\.0\.1:1:7 is not registered", "ServerNotRegistered"),
        (
            _older_startcode,
            PRECONDITION,
            r"server 127\.0\.0\.1:\d+:\d+ is not registered",
            "ServerNotRegistered",
        ),
        (
            lambda e: e.pb(e.dead),
            PRECONDITION,
            r"server 127\.0\.0\.1:\d+:\d+ was declared dead",
            "YouAreDead",
        ),
    ],
    ids=["unregistered-server", "live-address-older-startcode", "dead-incarnation"],
)
@pytest.mark.parametrize(
    "transition", [master_pb2.OPENED, master_pb2.CLOSED_REPORT, master_pb2.FAILED_OPEN_REPORT]
)
def test_report_from_a_server_that_is_not_a_live_incarnation_is_rejected_and_changes_nothing(
    env: Env,
    sender: Callable[[Env], common_pb2.ServerName],
    code: grpc.StatusCode,
    phrase: str,
    name: str,
    transition: int,
) -> None:
    region = env.open_region()
    seq = (env.server_of(region).online() or {})[region.region_id]
    batch = _batch(transition, [region.region_id], [0], [seq])
    assert_refused(
        env,
        env.active.address,
        "RegionServerStatus",
        "ReportRegionStateTransition",
        _report(env, batch, server=sender(env)),
        code,
        phrase,
        name,
    )


def _assert_rejected_in_response(env: Env, request: Any, phrase: str) -> list[str]:
    """The master answers the report, rejecting every transition with a reason matching `phrase`; nothing
    changed and every daemon still answers. Return the reasons."""
    before = snapshot(env)
    response = call(env.active.address, "RegionServerStatus", "ReportRegionStateTransition", request)
    assert len(response.results) == len(request.transitions)
    reasons = []
    for batch, result in zip(request.transitions, response.results, strict=True):
        assert list(result.rejected) == list(range(len(batch.region_ids))), f"accepted: {result}"
        assert len(result.reasons) == len(result.rejected)
        for reason in result.reasons:
            assert re.search(phrase, reason), f"{reason!r} does not say {phrase!r}"
        reasons += list(result.reasons)
    assert_all_answer(env)
    assert snapshot(env) == before, "a rejected report changed the cluster"
    return reasons


def test_report_from_the_right_server_with_a_wrong_procedure_id_is_rejected(env: Env) -> None:
    region = env.open_region()
    seq = (env.server_of(region).online() or {})[region.region_id]
    request = _report(
        env,
        _batch(master_pb2.OPENED, [region.region_id], [BIG], [seq + 1]),
        _batch(master_pb2.CLOSED_REPORT, [region.region_id], [BIG]),
        _batch(master_pb2.FAILED_OPEN_REPORT, [region.region_id], [BIG]),
    )
    where = re.escape(str(region.server))
    reasons = _assert_rejected_in_response(
        env,
        request,
        rf"stale report for region {region.region_id} from {where} \(procedure {BIG}\): "
        rf"the region is OPEN on {where} with no procedure",
    )
    assert len(reasons) == 3


def test_repeated_opened_for_the_open_a_server_holds_is_accepted_without_effect(env: Env) -> None:
    """The other side of the rule: a RegionServer retries a report whose answer it lost, and a rejected
    OPENED would make it close the region. An OPENED from the region's server naming the open it holds
    (its open sequence number) is accepted again, whatever the procedure id (the procedure has ended: meta
    keeps no id to compare with), and changes nothing."""
    region = env.open_region()
    seq = (env.server_of(region).online() or {})[region.region_id]
    before = snapshot(env)
    response = call(
        env.active.address,
        "RegionServerStatus",
        "ReportRegionStateTransition",
        _report(env, _batch(master_pb2.OPENED, [region.region_id], [BIG], [seq])),
    )
    assert [list(r.rejected) for r in response.results] == [[]]
    assert snapshot(env) == before


def test_report_for_a_region_that_is_not_there_or_not_in_transition_is_rejected(env: Env) -> None:
    region = env.open_region()
    request = _report(
        env,
        _batch(master_pb2.OPENED, [BIG], [1], [1]),
        _batch(master_pb2.CLOSED_REPORT, [region.region_id], [0]),  # no procedure: nothing to close
        _batch(master_pb2.OPENED, [region.region_id], [0], [1]),  # an open that never happened
    )
    _assert_rejected_in_response(env, request, rf"region {BIG} is unknown|region {region.region_id} is OPEN")


def test_opened_for_a_region_open_on_another_server_is_rejected(env: Env) -> None:
    region = env.open_region()
    seq = (env.server_of(region).online() or {})[region.region_id]
    forger = env.names[env.other_server(region).address]
    request = _report(env, _batch(master_pb2.OPENED, [region.region_id], [0], [seq]), server=env.pb(forger))
    _assert_rejected_in_response(
        env,
        request,
        rf"stale report for region {region.region_id} from {re.escape(str(forger))} .*"
        rf"OPEN on {re.escape(str(region.server))}",
    )
    assert region.region_id not in (env.other_server(region).online() or {})


def test_opened_from_another_server_for_an_open_in_flight_is_rejected_whatever_its_sequence_number(
    env: Env,
) -> None:
    """The region is OPENING on Y (paused, so its open stays in flight); X reports OPENED with the region's
    procedure id and every plausible open sequence number: all rejected, the region stays OPENING on Y, and
    ends OPEN on Y once Y runs again, under one of the numbers X tried."""
    region = env.regions[1]
    source = env.server_of(region)
    destination, forger = [s for s in env.cluster.servers if s.alive and s is not source]
    highest = max(seq for s in env.cluster.servers if s.alive for seq in (s.online() or {}).values())
    tried = list(range(highest + 1, highest + 201))

    destination.pause()
    try:
        proc_id = env.cluster.admin.move(region.region_id, destination.address, wait=False)
        in_flight = wait_until(
            lambda: (
                loc
                if (loc := env.cluster.admin.get_region(region.region_id)).state is S.OPENING
                and loc.server.address == destination.address
                else None
            ),
            10,
            "the move to reach its open on the paused server",
        )
        assert in_flight.proc_id == proc_id
        forged = _report(
            env,
            _batch(master_pb2.OPENED, [region.region_id] * len(tried), [proc_id] * len(tried), tried),
            server=env.pb(env.names[forger.address]),
        )
        response = call(env.active.address, "RegionServerStatus", "ReportRegionStateTransition", forged)
        (result,) = response.results
        assert list(result.rejected) == list(range(len(tried))), "a forged OPENED was accepted"
        assert all(f"stale report for region {region.region_id}" in r for r in result.reasons), (
            result.reasons[0]
        )
        assert env.cluster.admin.get_region(region.region_id) == in_flight
        # The procedure's own target, with a wrong procedure id: rejected as well.
        wrong = _report(
            env,
            _batch(master_pb2.OPENED, [region.region_id] * len(tried), [proc_id + BIG] * len(tried), tried),
            server=env.pb(env.names[destination.address]),
        )
        response = call(env.active.address, "RegionServerStatus", "ReportRegionStateTransition", wrong)
        (result,) = response.results
        assert list(result.rejected) == list(range(len(tried))), (
            "an OPENED with a wrong procedure id was accepted"
        )
        assert f"procedure {proc_id + BIG}" in result.reasons[0], result.reasons[0]
        assert env.cluster.admin.get_region(region.region_id) == in_flight
    finally:
        destination.resume()

    opened = wait_until(
        lambda: loc if (loc := env.cluster.admin.get_region(region.region_id)).state is S.OPEN else None,
        20,
        "the moved region to open on its destination",
    )
    assert opened.server is not None and opened.server.address == destination.address and not opened.proc_id
    seq = wait_until(
        lambda: (destination.online() or {}).get(region.region_id), 10, "the destination to serve it"
    )
    assert seq in tried, (
        f"the real open sequence number {seq} was not among those forged: the test proves less"
    )
    assert region.region_id not in (forger.online() or {})
    assert region.region_id not in (source.online() or {})
    env.regions = env.cluster.admin.table_regions(TABLE)


# ---- last, on purpose: a failure here leaves the shared cluster's server of region 0 refusing orders ----


def test_refused_orders_do_not_change_the_epoch_a_regionserver_follows(env: Env) -> None:
    """Orders refused for their content must leave the server as it was: a refused call carrying a newer
    epoch must not make the server refuse the real master's orders afterwards. (Placed last in the module, on
    purpose: if it fails, the server of region 0 may no longer take orders, and the tests after it on the
    shared cluster would fail for its reason; test_the_epoch_test_is_the_last_of_the_module checks the
    placement.)"""
    region = env.open_region()
    server = env.server_of(region)
    for bad in (
        _orders(_addressee(env), env.epoch + 1000),
        _orders(_addressee(env), env.epoch + 1000, opens=[_opens(TABLE, 2, 1, 2, 2)]),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(server.address, "RegionServerAdmin", "ExecuteProcedures", bad)
        assert raised.value.code() == PRECONDITION  # type: ignore[attr-defined]

    destination = env.other_server(region)
    env.cluster.admin.move(region.region_id, destination.address, timeout=10.0)
    env.cluster.admin.move(region.region_id, server.address, timeout=10.0)

    moved = env.cluster.admin.get_region(region.region_id)
    assert (moved.state, moved.server) == (S.OPEN, region.server)
    wait_until(lambda: region.region_id in (server.online() or {}), 10, "the region back on its server")


def test_the_epoch_test_is_the_last_of_the_module() -> None:
    """The test above must be the last one on the shared cluster: pytest runs a module's tests in the order
    they are defined, which is the order of the module's names."""
    defined = [name for name in globals() if name.startswith("test_")]
    assert defined[-2:] == [
        "test_refused_orders_do_not_change_the_epoch_a_regionserver_follows",
        "test_the_epoch_test_is_the_last_of_the_module",
    ], defined[-3:]
