"""Every RPC of every service, fuzzed: random requests built from the messages' descriptors, and valid
requests mutated (fields replaced, cleared, columns lengthened), with huge repeated fields, unknown enum
values and ids of things that do not exist, against one running cluster.

Each answer must be a success or a clear refusal: a gRPC status other than UNKNOWN, INTERNAL and
DEADLINE_EXCEEDED (a crash or a hang), with a message. After each call every daemon is still SERVING, and a
refused call changed neither meta nor any region store (both read from disk). At the end a real call still
works. The number of examples follows tests/hypothesis_profiles.py (a few per RPC in `make test`, ten times as
many in `make test-all`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import lmdb
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.errors import error_name
from meta import DATABASES, RegionState, RegionStateRow
from meta.codec import decode_region_state
from meta.states import TRANSIENT
from regent import tls
from regent.proto import common_pb2, data_pb2, master_pb2, regionserver_pb2
from tests.cluster import Cluster, Daemons, health_status, secure_transport, wait_until
from tests.failure_helpers import online_of
from tests.http_helpers import http_url, scrape
from tests.http_helpers import value as sample_value
from tests.hypothesis_profiles import examples

F = FieldDescriptor
TABLE = "t"
#: Codes that mean the daemon crashed in the handler, or hung.
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
CALL_TIMEOUT_S = 20.0
HUGE = 250_000  # entries of a huge repeated field: more than any batch limit of the daemons
#: Reads: an accepted one changes nothing, so the next example needs no wait for the cluster to settle.
READS = {
    "GetClusterInfo",
    "DescribeTable",
    "ListTables",
    "TableRegions",
    "GetRegion",
    "ClusterStatus",
    "ListProcedures",
    "GetProcedure",
    "GetOnlineRegions",
    "Get",
    "OpenScanner",
    "ScannerNext",
    "CloseScanner",
}
#: The session's certificate of each role (tests/conftest.py makes them).
ROLE_USER = {"node": tls.NODE, "admin": "admin", "client": "app"}
#: (daemon, role of the certificate the calls carry, service): each service called with the role it is for.
SERVICES = [
    ("master", "admin", master_pb2.DESCRIPTOR.services_by_name["Master"]),
    ("master", "node", master_pb2.DESCRIPTOR.services_by_name["RegionServerStatus"]),
    ("server", "node", regionserver_pb2.DESCRIPTOR.services_by_name["RegionServerAdmin"]),
    ("server", "client", data_pb2.DESCRIPTOR.services_by_name["RegionData"]),
]
#: Calls for operators (role admin), unlike the rest of their service: the test hooks and compactions.
ADMIN_HOOKS = {"DropRegion", "AdoptRegion", "Compact"}
METHODS: list[tuple[str, str, MethodDescriptor]] = [
    (who, "admin" if m.name in ADMIN_HOOKS else role, m) for who, role, s in SERVICES for m in s.methods
]


# ---- the cluster, and what must not change ----


@dataclass
class Env:
    cluster: Cluster
    rootdir: Path
    ints: list[int]  # real ids and numbers: regions, procedures, ports, startcodes, epoch
    names: list[str]  # real names: the table, its family, servers' addresses
    servers: list[common_pb2.ServerName]
    regions: list[int]
    proc_id: int  # a finished procedure's
    epoch: int
    dirty: bool = False  # an accepted call may still be changing the cluster
    channels: dict[tuple[str, str], grpc.Channel] = field(default_factory=dict)

    def channel(self, address: str, role: str) -> grpc.Channel:
        """A channel with the certificate of `role`, the one its service is for: the fuzzer tests what the
        handlers do with the requests that authorization lets through (tests/test_security.py tests the
        refusals of the other roles)."""
        if (address, role) not in self.channels:
            self.channels[address, role] = secure_transport(ROLE_USER[role]).channel(
                address, [("grpc.max_send_message_length", 64 << 20)]
            )
        return self.channels[address, role]

    def address(self, who: str) -> str:
        """The active master, or the RegionServer of the first region (which `servers[0]` names)."""
        if who == "master":
            master = self.cluster.active_master()
            assert master is not None
            return master.address
        return f"{self.servers[0].host}:{self.servers[0].port}"

    def restore(self) -> None:
        """Before each RPC's examples: table `t` back (enabled, every region open) if an accepted call
        disabled, truncated or deleted it, and the ids of its regions and their server known again."""
        self.settle()
        admin = self.cluster.admin
        for server in admin.list_decommissioned():  # by an accepted Decommission: regions need servers
            admin.recommission(server.address)
        if TABLE not in {t.name for t in admin.list_tables()}:
            admin.create_table(TABLE, ["cf"], split_keys=[b"m"])
        elif admin.describe_table(TABLE).state.name != "ENABLED":
            admin.enable_table(TABLE, timeout=30.0)
        online = [r for r in admin.table_regions(TABLE) if not r.info.offline]  # not split/merged parents
        for region in online:  # unassigned by an accepted call
            if region.state.name != "OPEN" and not region.proc_id:
                admin.assign(region.region_id, timeout=30.0)
        regions = self.cluster.wait_open(TABLE, len(online))
        self.settle()
        self.regions = [r.region_id for r in regions]
        first = regions[0].server
        live = [s.server for s in self.cluster.status().servers]
        ordered = [first, *(s for s in live if s != first)]
        self.servers = [
            common_pb2.ServerName(host=s.host, port=s.port, startcode=s.startcode) for s in ordered
        ]
        self.ints = sorted({*self.ints, *self.regions})

    def settle(self) -> None:
        """Wait until nothing an accepted call started is still moving: no region or table procedure running,
        only the real RegionServers live."""
        real = {s.address for s in self.cluster.servers}

        def quiet() -> bool:
            status = self.cluster.admin.cluster_status(timeout=10.0)
            procs = self.cluster.admin.list_procedures(timeout=10.0)
            return (
                not status.regions_in_transition
                and all(p.state not in ("RUNNABLE", "WAITING") for p in procs)
                and {s.server.address for s in status.servers} == real
            )

        # All at once, not one after the other: a repair may start after one check has passed.
        # - no RegionServer still claiming a store for an open it accepted: a claim in flight is in no
        #   digest nor in what the server says it serves, and its outcome (a forged open's OPENED, refused)
        #   starts a reassignment afterwards (regionserver.claims);
        # - what every server holds is what meta says: a forged order a server accepted is repaired by the
        #   reconciliation that follows (master.reconcile), a close, then a reopen.
        wait_until(
            lambda: quiet() and self.nothing_claiming() and self.served_as_meta_says(),
            60,
            "the cluster to settle: nothing moving, claiming or served other than meta says",
            context=self.cluster.daemons.log_tails,
        )
        self.dirty = False

    def nothing_claiming(self) -> bool:
        return all(
            sample_value(scrape(http_url(server)), "regent_regionserver_regions_claiming") == 0
            for server in self.cluster.servers
        )

    def served_as_meta_says(self) -> bool:
        """Every region at rest in meta (no procedure, no transient state), and every server holding
        exactly the regions meta places OPEN on it, each under meta's open sequence number. A forged open
        a server accepted for a region it already held (a newer number) is repaired by reconciliation, a
        close and then a reopen by a procedure, which change meta; the next example must not see either.
        One read of meta on disk for both, so that a repair starting between two checks is seen."""
        placed: dict[str, dict[int, int]] = {s.address: {} for s in self.cluster.servers}
        for region_id, row in region_states(self.rootdir).items():
            if row.proc_id or row.state in TRANSIENT:
                return False
            if row.state is RegionState.OPEN and row.server is not None:
                placed.setdefault(row.server.address, {})[region_id] = row.open_seq_num
        return all(online_of(address) == held for address, held in placed.items())


def region_states(rootdir: Path) -> dict[int, RegionStateRow]:
    """Meta's region_state rows, read from disk: region id -> row."""
    env = lmdb.open(str(rootdir / "meta"), readonly=True, max_dbs=32)
    try:
        with env.begin() as txn:
            db = env.open_db(b"region_state", txn=txn, create=False)
            return {int.from_bytes(k, "big"): decode_region_state(v) for k, v in txn.cursor(db)}
    finally:
        env.close()


def _changed_rows(before: dict[int, RegionStateRow], after: dict[int, RegionStateRow]) -> str:
    """The region_state rows that differ, for a person reading a failure."""
    ids = sorted(set(before) | set(after))
    return "\n".join(
        f"  region {i}: {before.get(i)} -> {after.get(i)}" for i in ids if before.get(i) != after.get(i)
    )


def meta_and_stores(rootdir: Path) -> tuple[Any, ...]:
    """Every meta database's content and every region store's data file, read from disk."""
    env = lmdb.open(str(rootdir / "meta"), readonly=True, max_dbs=32)
    try:
        with env.begin() as txn:
            dbs = []
            for name in DATABASES:
                db = env.open_db(name.encode(), txn=txn, create=False)
                dbs.append(hashlib.sha256(b"".join(k + b"=" + v for k, v in txn.cursor(db))).hexdigest())
    finally:
        env.close()
    stores = sorted(
        (str(p.relative_to(rootdir)), _store_content(p.parent)) for p in (rootdir / "data").rglob("data.mdb")
    )
    return tuple(dbs), stores


def _store_content(path: Path) -> str:
    """A hash of every key and value of every database of a region's environment: its content, not its file
    (a reader's open or an owner check may rewrite pages without changing a record)."""
    env = lmdb.open(str(path), readonly=True, max_dbs=64, lock=False)
    try:
        digest = hashlib.sha256()
        with env.begin() as txn:
            names = [key for key, _ in txn.cursor()]
            for name in names:
                digest.update(b"db " + name + b"\n")
                try:
                    db = env.open_db(name, txn=txn, create=False)
                except lmdb.Error:  # a key of the main database that is not a database
                    continue
                for key, value in txn.cursor(db):
                    digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
        return digest.hexdigest()
    finally:
        env.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    daemons = Daemons(tmp_path_factory.mktemp("rpc-fuzz-logs"))
    rootdir = tmp_path_factory.mktemp("rpc-fuzz") / "root"
    cluster = Cluster(daemons, rootdir, master_args=("--heartbeat-ms", "250", "--lease-ms", "2000"))
    try:
        cluster.start(servers=2)
        cluster.admin.create_table(TABLE, ["cf"], split_keys=[b"m"])
        regions = cluster.wait_open(TABLE, 2)
        servers = [s.server for s in cluster.status().servers]
        # a cell, so that a region store exists and must stay unchanged
        holder = next(s for s in cluster.servers if s.address == regions[0].server.address)
        holder.put(regions[0].region_id, b"a", b"cf:q", b"v")
        procs = [p.proc_id for p in cluster.admin.list_procedures()]
        epoch = int(cluster.status().master_epoch)
        ints = [r.region_id for r in regions] + procs + [epoch]
        ints += [n for s in servers for n in (s.port, s.startcode)]
        names = [TABLE, "cf", "cf:q", *(f"{s.host}:{s.port}" for s in servers)]
        pb = [common_pb2.ServerName(host=s.host, port=s.port, startcode=s.startcode) for s in servers]
        region_ids = [r.region_id for r in regions]
        made = Env(cluster, rootdir, ints, names, pb, region_ids, procs[0] if procs else 1, epoch)
        yield made
        for channel in made.channels.values():
            channel.close()
    except BaseException:
        print(daemons.log_tails())
        raise
    finally:
        cluster.close()
        daemons.kill_all()


# ---- requests from descriptors ----

_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(f: FieldDescriptor, env: Env) -> st.SearchStrategy[Any]:
    if f.type in _RANGES:
        lo, hi = _RANGES[f.type]
        known = [n for n in env.ints if lo <= n <= hi]
        edges = [v for v in (lo, hi, 0, 1, lo + 1, hi - 1) if lo <= v <= hi]
        return st.sampled_from(known + edges) | st.integers(lo, hi)
    if f.type == F.TYPE_BOOL:
        return st.booleans()
    if f.type == F.TYPE_ENUM:  # proto3 enums are open: unknown numbers go on the wire as they are
        return st.sampled_from([v.number for v in f.enum_type.values]) | st.integers(-(2**31), 2**31 - 1)
    if f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if f.type == F.TYPE_FLOAT else 64)
    if f.type == F.TYPE_STRING:
        return st.sampled_from(env.names) | st.text(max_size=30) | st.just("x" * 100_000)
    if f.type == F.TYPE_BYTES:
        return (
            st.sampled_from([n.encode() for n in env.names])
            | st.binary(max_size=30)
            | st.just(b"\xff" * 100_000)
        )
    raise AssertionError(f"no strategy for field {f.full_name} of type {f.type}")


def _element(f: FieldDescriptor, env: Env, depth: int) -> st.SearchStrategy[Any]:
    if f.type == F.TYPE_MESSAGE:
        return messages(f.message_type, env, depth + 1)
    return _scalar(f, env)


def _huge(f: FieldDescriptor, env: Env) -> st.SearchStrategy[list[Any]]:
    if f.type == F.TYPE_MESSAGE:
        one = message_factory.GetMessageClass(f.message_type)()
        return st.just([one] * 10_000)
    if f.type in (F.TYPE_STRING, F.TYPE_BYTES):  # many short ones: a few MB, under the message limit
        return _scalar(f, env).filter(lambda v: len(v) < 100).map(lambda v: [v] * 20_000)
    return _scalar(f, env).map(lambda v: [v] * HUGE)


def _field(f: FieldDescriptor, env: Env, depth: int) -> st.SearchStrategy[Any]:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        key, value = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        return st.dictionaries(_scalar(key, env), _element(value, env, depth), max_size=3)
    if f.is_repeated:
        return st.lists(_element(f, env, depth), max_size=4) | _huge(f, env)
    return _element(f, env, depth)


def _assign(msg: Any, f: FieldDescriptor, value: Any) -> None:
    target = getattr(msg, f.name)
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        for k, v in value.items():
            if f.message_type.fields_by_name["value"].type == F.TYPE_MESSAGE:
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif f.is_repeated:
        target.extend(value)
    elif f.type == F.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(msg, f.name, value)


def messages(desc: Descriptor, env: Env, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of type `desc` with any subset of their fields set to anything their type allows."""
    cls = message_factory.GetMessageClass(desc)
    if depth > 2:
        return st.just(cls())
    parts = {f.name: _field(f, env, depth) for f in desc.fields}

    def build(values: dict[str, Any]) -> Any:
        msg = cls()
        for name, value in values.items():
            _assign(msg, desc.fields_by_name[name], value)
        return msg

    return st.fixed_dictionaries({}, optional=parts).map(build)


# Valid requests to mutate, by method (the method's empty request when it has none here).
def _valid(env: Env, method: str) -> list[Any]:
    region = env.regions[0]
    server = env.servers[0]
    table = master_pb2.TableRequest(name=TABLE)
    batch = master_pb2.TransitionBatch(
        code=master_pb2.OPENED, region_ids=[region], proc_ids=[1], open_seq_nums=[1]
    )
    opens = regionserver_pb2.TableOpens(
        table=TABLE,
        region_ids=[region],
        proc_ids=[10**9],
        open_seq_nums=[10**9],
        start_keys=[b""],
        end_keys=[b"m"],
    )
    family = common_pb2.ColumnFamily(name="cf2", max_versions=1)
    put = data_pb2.Mutation(kind=data_pb2.Mutation.PUT, family=b"cf", qualifier=b"q", value=b"v2")
    cases: dict[str, list[Any]] = {
        "CreateTable": [master_pb2.CreateTableRequest(name="u", families=[family], split_keys=[b"k"])],
        "TruncateTable": [master_pb2.TruncateTableRequest(name=TABLE, preserve_splits=True)],
        "DeleteTable": [table],
        "EnableTable": [table],
        "DisableTable": [table],
        "DescribeTable": [table],
        "ModifyTable": [master_pb2.ModifyTableRequest(name=TABLE, families=[family])],
        "AddFamily": [master_pb2.FamilyRequest(table=TABLE, family=family)],
        "ModifyFamily": [master_pb2.FamilyRequest(table=TABLE, family=family)],
        "DeleteFamily": [master_pb2.DeleteFamilyRequest(table=TABLE, family="cf")],
        "TableRegions": [master_pb2.TableRegionsRequest(name=TABLE)],
        "Assign": [master_pb2.RegionRequest(region_id=region)],
        "Unassign": [master_pb2.RegionRequest(region_id=region)],
        "Move": [master_pb2.RegionRequest(region_id=region, server=env.names[-1])],
        "GetRegion": [master_pb2.RegionRequest(region_id=region)],
        "ListProcedures": [master_pb2.ListProceduresRequest(limit=5)],
        "GetProcedure": [master_pb2.ProcedureRequest(proc_id=env.proc_id)],
        "AbortProcedure": [master_pb2.ProcedureRequest(proc_id=env.proc_id)],
        "Bypass": [master_pb2.BypassRequest(proc_id=env.proc_id)],
        "RegionServerStartup": [
            master_pb2.RegionServerStartupRequest(host=server.host, port=server.port, startcode=1)
        ],
        "RegionServerReport": [
            master_pb2.RegionServerReportRequest(server=server, load=master_pb2.ServerLoad())
        ],
        "ReportRegionStateTransition": [
            master_pb2.ReportRegionStateTransitionRequest(server=server, transitions=[batch])
        ],
        "ExecuteProcedures": [
            regionserver_pb2.ExecuteProceduresRequest(target=server, master_epoch=env.epoch, opens=[opens])
        ],
        "Mutate": [
            data_pb2.MutateRequest(
                regions=[
                    data_pb2.RegionMutations(
                        region_id=region,
                        rows=[data_pb2.RowMutation(row=b"b", mutations=[put, data_pb2.Mutation(kind=1)])],
                    )
                ]
            )
        ],
        "Get": [
            data_pb2.GetRequest(
                regions=[data_pb2.RegionRows(region_id=region, rows=[b"a"])],
                columns=[b"cf:q"],
                max_versions=2,
            )
        ],
        "Increment": [
            data_pb2.IncrementRequest(
                regions=[
                    data_pb2.RegionIncrements(
                        region_id=region,
                        rows=[data_pb2.RowIncrement(row=b"c", columns=[b"cf:n"], amounts=[1])],
                    )
                ]
            )
        ],
        "CheckAndPut": [
            data_pb2.CheckAndPutRequest(
                region_id=region, row=b"a", column=b"cf:q", expected=b"v", mutations=[put]
            )
        ],
        "OpenScanner": [
            data_pb2.OpenScannerRequest(
                region_id=region,
                scan=data_pb2.ScanSpec(start_row=b"a", limit=5, filter="PrefixFilter('a')", batching=1),
                rows=2,
            )
        ],
        "ScannerNext": [data_pb2.ScannerNextRequest(scanner_id=1, rows=2)],
        "CloseScanner": [data_pb2.CloseScannerRequest(scanner_id=1)],
        "Compact": [data_pb2.CompactRequest(region_ids=[region])],
        "DropRegion": [regionserver_pb2.DropRegionRequest(region_id=region)],
        "AdoptRegion": [regionserver_pb2.AdoptRegionRequest(table=TABLE, region_id=region, open_seq_num=1)],
    }
    return cases.get(method, [])


def mutated(method: MethodDescriptor, env: Env) -> st.SearchStrategy[Any]:
    """A valid request of `method` with some fields replaced by anything, some cleared."""
    desc = method.input_type
    valid = _valid(env, method.name) or [message_factory.GetMessageClass(desc)()]
    names = [f.name for f in desc.fields]

    def mutate(base: Any, replace: Any, clear: list[str]) -> Any:
        msg = type(base)()
        msg.CopyFrom(base)
        for name in clear:
            msg.ClearField(name)
        msg.MergeFrom(replace)  # repeated fields are appended to: columns of different lengths
        return msg

    clear = st.lists(st.sampled_from(names), max_size=2) if names else st.just([])
    return st.builds(mutate, st.sampled_from(valid), messages(desc, env), clear)


def _replaces_a_live_server(env: Env, request: Any) -> bool:
    """A RegionServerStartup naming a live server's host:port with a newer startcode: by the protocol, the
    old incarnation is dead and is told so (it exits). Not bad input but a forged identity, which the mutual
    TLS of DESIGN §14 (node certificates matching the reporting server) is there to refuse."""
    return any(
        (request.host, request.port) == (s.host, s.port) and request.startcode > s.startcode
        for s in env.servers
    )


def requests(method: MethodDescriptor, env: Env) -> st.SearchStrategy[Any]:
    made = messages(method.input_type, env) | mutated(method, env)
    if method.name == "RegionServerStartup":
        return made.filter(lambda r: not _replaces_a_live_server(env, r))
    return made


# ---- calling and judging ----


def check_one(env: Env, who: str, role: str, method: MethodDescriptor, request: Any) -> None:
    if env.dirty:
        env.settle()
    before, rows_before = meta_and_stores(env.rootdir), region_states(env.rootdir)
    address = env.address(who)
    call: Callable[..., Any] = env.channel(address, role).unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString,
    )
    shown = str(request)[:300]
    try:
        call(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""  # type: ignore[attr-defined]
        assert code not in FORBIDDEN, f"{method.name}: {code.name}: {details}\nrequest: {shown}"
        assert details.strip(), f"{method.name}: {code.name} without a message\nrequest: {shown}"
        if code == grpc.StatusCode.UNAVAILABLE:  # only the master's own refusals, never a crashed daemon
            assert error_name(exc) in ("NotActiveMaster", "MetaUnavailable"), f"{method.name}: {details}"
        after = meta_and_stores(env.rootdir)
        assert after == before, (
            f"{method.name} was refused ({code.name}: {details}) but changed meta or a store\n"
            f"region_state rows changed:\n{_changed_rows(rows_before, region_states(env.rootdir))}"
        )
    else:
        if method.name not in READS:
            env.dirty = True
    for daemon in [*env.cluster.masters, *env.cluster.servers]:
        assert daemon.alive, f"{daemon.name} died\n{daemon.log_tail()}"
        # SERVING again within seconds: a lease that lapsed on a loaded machine is not the request's fault
        wait_until(
            lambda d=daemon: health_status(d.address) == "SERVING",
            15,
            f"{daemon.name} SERVING",
            context=daemon.log_tail,
        )


@pytest.mark.parametrize(
    ("who", "role", "method"), METHODS, ids=[f"{m.containing_service.name}.{m.name}" for _, _, m in METHODS]
)
def test_every_rpc_answers_random_and_mutated_requests_with_a_clear_status(
    env: Env, who: str, role: str, method: MethodDescriptor
) -> None:
    @settings(
        max_examples=examples(25),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(requests(method, env))
    def run(request: Any) -> None:
        check_one(env, who, role, method, request)

    env.restore()
    run()


def test_the_cluster_still_works_after_the_fuzzing(env: Env) -> None:
    """Last in the module: whatever was accepted, a real table can still be made, served and written."""
    env.settle()
    admin = env.cluster.admin
    admin.create_table("after_fuzz", ["cf"], num_regions=2)
    regions = env.cluster.wait_open("after_fuzz", 2)
    holder = next(s for s in env.cluster.servers if s.address == regions[0].server.address)
    holder.put(regions[0].region_id, regions[0].info.start_key + b"\x00", b"cf:q", b"v")
