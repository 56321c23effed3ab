"""The SDK without a real master: argument checks, the error mapping, and the Connection's choice of master
against tiny fake masters served by a real gRPC server on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

import client
from client import (
    Admin,
    Connection,
    InvalidArgument,
    MasterUnavailable,
    NotActiveMaster,
    ProcedureTimeout,
    RegentError,
    RegionInTransition,
    RegionNotFound,
    TableExists,
    from_rpc_error,
)
from client.admin import check_split_keys, server_text
from client.errors import ERRORS
from meta.states import RegionState
from meta.types import ColumnFamily, ServerName
from regent.proto import common_pb2, master_pb2, master_pb2_grpc
from tests.cluster import add_test_port

# ---- addresses ----


@pytest.mark.parametrize("text", ["", ",", "localhost", "host:", ":16000", "host:0", "host:65536", "host:x1"])
def test_connection_refuses_malformed_master_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        Connection(text)


def test_connection_parses_a_list_of_masters_without_connecting() -> None:
    with Connection("127.0.0.1:16000, 127.0.0.1:16001") as conn:
        assert conn.masters == ("127.0.0.1:16000", "127.0.0.1:16001")
        assert conn.active_master is None


def test_connection_refuses_a_non_positive_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Connection("127.0.0.1:16000", timeout=0)


# ---- create_table argument checks (no master: the Connection points at nothing and is never called) ----


@pytest.fixture
def offline_admin() -> Iterator[Admin]:
    with Connection("127.0.0.1:1", timeout=0.2) as conn:
        yield conn.admin()


@pytest.mark.parametrize(
    ("split_keys", "message"),
    [
        ([b"b", b"a"], "sorted and distinct.*is not after"),
        ([b"a", b"a"], "sorted and distinct.*repeats"),
        ([b"a", b""], "split key 1 is empty"),
        ([b"a", "b"], "split key 1 must be bytes"),
        (b"abc", "sequence of bytes keys"),
        ([b"x" * 257], "at most 256"),
    ],
)
def test_create_table_rejects_bad_split_keys_before_calling(
    offline_admin: Admin, split_keys: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        offline_admin.create_table("t1", ["f"], split_keys=split_keys)


@pytest.mark.parametrize("num_regions", [0, -3])
def test_create_table_rejects_fewer_than_one_region(offline_admin: Admin, num_regions: int) -> None:
    with pytest.raises(ValueError, match="num_regions"):
        offline_admin.create_table("t1", ["f"], num_regions=num_regions)


def test_create_table_rejects_split_keys_and_num_regions_together(offline_admin: Admin) -> None:
    with pytest.raises(ValueError, match="not both"):
        offline_admin.create_table("t1", ["f"], split_keys=[b"m"], num_regions=4)


@pytest.mark.parametrize(
    ("name", "families", "message"),
    [
        ("bad name", ["f"], "table name"),
        ("t1", [], "at least one column family"),
        ("t1", ["f", ColumnFamily("f", 3)], "repeat"),
        ("t1", ["no space"], "column family name"),
        ("t1", [7], "a column family is a name"),
    ],
)
def test_create_table_rejects_bad_descriptors(
    offline_admin: Admin, name: str, families: list[Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        offline_admin.create_table(name, families)


def test_sorted_distinct_split_keys_pass() -> None:
    assert check_split_keys("t1", [b"a", b"b", b"ba"]) == [b"a", b"b", b"ba"]


def test_server_text_accepts_names_addresses_and_nothing() -> None:
    assert server_text(None) == ""
    assert server_text(ServerName("h", 1, 2)) == "h:1:2"
    assert server_text("h:16020") == "h:16020"
    assert server_text(" h:16020:99 ") == "h:16020:99"
    with pytest.raises(ValueError, match="host:port"):
        server_text("h")


# ---- the error mapping ----


class FakeRpcError(grpc.RpcError):
    """What a failed sync call raises, reduced to what from_rpc_error reads."""

    def __init__(
        self, code: grpc.StatusCode, details: str, metadata: tuple[tuple[str, Any], ...] = ()
    ) -> None:
        super().__init__(details)
        self._code, self._details, self._metadata = code, details, metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_named_error_comes_back_as_its_class(name: str) -> None:
    exc = from_rpc_error(
        FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "what went wrong", (("regent-error", name),))
    )
    assert type(exc) is ERRORS[name]
    assert type(exc).__name__ == name
    assert isinstance(exc, RegentError)
    assert str(exc) == "what went wrong"
    assert exc.status == "FAILED_PRECONDITION"


def test_error_name_may_arrive_as_bytes_among_other_metadata() -> None:
    exc = from_rpc_error(
        FakeRpcError(
            grpc.StatusCode.NOT_FOUND, "no t9", (("x-other", "1"), ("regent-error", b"TableNotFound"))
        )
    )
    assert type(exc) is client.TableNotFound


def test_unknown_error_name_keeps_status_name_and_details() -> None:
    exc = from_rpc_error(
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "meta write failed", (("regent-error", "MetaUnavailable"),))
    )
    assert type(exc) is RegentError
    assert "UNAVAILABLE" in str(exc)
    assert "MetaUnavailable" in str(exc)
    assert "meta write failed" in str(exc)


def test_status_without_metadata_is_a_plain_regent_error() -> None:
    exc = from_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, "boom"))
    assert type(exc) is RegentError
    assert str(exc) == "INTERNAL: boom"


def test_master_unavailable_is_also_a_connection_error() -> None:
    assert issubclass(MasterUnavailable, ConnectionError)
    assert issubclass(MasterUnavailable, RegentError)


def test_public_names() -> None:
    expected = {
        "AbortResult",
        "Admin",
        "ClusterStatus",
        "ColumnFamily",
        "Connection",
        "FamilyExists",
        "FamilyNotFound",
        "InvalidArgument",
        "LiveServer",
        "MasterUnavailable",
        "NotActiveMaster",
        "Procedure",
        "ProcedureAborted",
        "ProcedureFailed",
        "ProcedureHandle",
        "ProcedureNotFound",
        "ProcedureTimeout",
        "RegentError",
        "RegionInTransition",
        "RegionLocation",
        "RegionNotFound",
        "RegionStory",
        "ServerNotFound",
        "StoryStep",
        "TableDescription",
        "TableExists",
        "TableLocked",
        "TableNotDisabled",
        "TableNotEnabled",
        "TableNotFound",
        "TableSettings",
        "TableState",
        "TlsMismatch",
        "Unauthenticated",
        "PermissionDenied",
        "BalancerRun",
        "BalancerStatus",
        "DecommissionedServer",
        "PlannedMove",
        "CatalogJanitorStatus",
        "CheckReport",
        "Finding",
        "SplitDisabled",
        "MergeDisabled",
        "RegionHasReferences",
        "SplitRefused",
        "SplitMergeStatus",
        "SplitParent",
        "NormalizationPlan",
        "NormalizerRun",
        "NormalizerStatus",
        "from_rpc_error",
        # the data path (docs/data.md)
        "Table",
        "Batch",
        "RegionCompaction",
        "DataTimeout",
        "RowRefused",
        "RowTooLong",
        "CellTooLarge",
        "NoSuchFamily",
        "NotACounter",
        "BadMutation",
        "RowsFailed",
        "FilterSyntax",
        "ScannerNotFound",
        "TooManyScanners",
    }
    assert set(client.__all__) == expected
    assert all(hasattr(client, name) for name in expected)


def test_regent_connect_returns_a_connection() -> None:
    import regent

    with regent.connect("127.0.0.1:16000", timeout=1.0) as conn:
        assert isinstance(conn, Connection)
        assert conn.timeout == 1.0


# ---- a real gRPC server with fake masters ----


def _abort(
    context: grpc.ServicerContext, code: grpc.StatusCode, name: str, message: str, *trailers: tuple[str, str]
) -> None:
    context.set_trailing_metadata((("regent-error", name), *trailers))
    context.abort(code, message)


class FakeMaster(master_pb2_grpc.MasterServicer):
    """A master whose answers the test sets: active or not, and a scripted GetRegion."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.address = ""
        self.calls: list[str] = []
        self.region_proc_id = 0  # what GetRegion reports as the attached procedure
        self.region_polls = 0
        self.names = ""  # the active master this one names (ClusterInfo.active_master, refusals)
        self.peers: list[str] = []  # ClusterInfo.masters
        self.info_calls = 0

    def GetClusterInfo(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ClusterInfo:
        self.info_calls += 1
        return master_pb2.ClusterInfo(
            active=self.active,
            master_epoch=3,
            master=self.address,
            active_master=self.names,
            masters=self.peers,
        )

    def _require_active(self, context: grpc.ServicerContext) -> None:
        if not self.active:
            trailers = [("regent-active-master", self.names)] if self.names else []
            message = f"{self.address} is a backup"
            _abort(context, grpc.StatusCode.UNAVAILABLE, "NotActiveMaster", message, *trailers)

    def GetRegion(self, request: Any, context: grpc.ServicerContext) -> master_pb2.RegionLocation:
        self.calls.append("GetRegion")
        self._require_active(context)
        if request.region_id == 5:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "RegionInTransition", "region 5 is busy")
        if request.region_id == 404:
            _abort(context, grpc.StatusCode.NOT_FOUND, "RegionNotFound", "region 404 does not exist")
        self.region_polls += 1
        if self.region_polls >= 3 and self.region_proc_id != 999:
            self.region_proc_id = 0  # the procedure finishes on the third poll (999: never)
        loc = master_pb2.RegionLocation(
            info=common_pb2.RegionInfo(region_id=request.region_id, table="t1"),
            state=common_pb2.OPEN if self.region_proc_id == 0 else common_pb2.OPENING,
            proc_id=self.region_proc_id,
        )
        if self.region_proc_id == 0:
            loc.server.CopyFrom(common_pb2.ServerName(host="h", port=1, startcode=2))
        return loc

    def Assign(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        self.calls.append(f"Assign {request.server}")
        self._require_active(context)
        self.region_proc_id = 42 if request.region_id != 7 else 999
        self.region_polls = 0
        return master_pb2.ProcedureResponse(proc_id=self.region_proc_id)

    def CreateTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.CreateTableResponse:
        self.calls.append("CreateTable")
        self._require_active(context)
        if request.name == "exists":
            _abort(context, grpc.StatusCode.ALREADY_EXISTS, "TableExists", "table 'exists' exists")
        return master_pb2.CreateTableResponse(regions=len(request.split_keys) + 1, proc_id=1)

    def GetProcedure(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureInfo:
        self._require_active(context)  # every create_table here has finished by the time it is asked
        return master_pb2.ProcedureInfo(proc_id=request.proc_id, kind="create_table", state="SUCCESS")

    def ClusterStatus(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ClusterStatusResponse:
        self.calls.append("ClusterStatus")
        self._require_active(context)
        return master_pb2.ClusterStatusResponse(
            servers=[
                master_pb2.LiveServer(
                    server=common_pb2.ServerName(host="h", port=1, startcode=2),
                    region_count=4,
                    requests=9,
                    last_heartbeat_age_ms=120,
                )
            ],
            regions_in_transition=[
                master_pb2.RegionLocation(
                    info=common_pb2.RegionInfo(region_id=8, table="t1"), state=common_pb2.OPENING, proc_id=11
                )
            ],
            master_epoch=3,
            regions=5,
            regions_by_state={"OPEN": 4, "OPENING": 1},
            active_since_ms=1000,
            startup_assignment_ms=25,
        )


@pytest.fixture
def fake_masters() -> Iterator[tuple[FakeMaster, FakeMaster]]:
    """Two fake masters on loopback, a backup first in the address list and the active one second."""
    masters = (FakeMaster(active=False), FakeMaster(active=True))
    servers = []
    for master in masters:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        master_pb2_grpc.add_MasterServicer_to_server(master, server)
        master.address = f"127.0.0.1:{add_test_port(server, '127.0.0.1:0')}"
        server.start()
        servers.append(server)
    try:
        yield masters
    finally:
        for server in servers:
            server.stop(None)


def _addresses(masters: tuple[FakeMaster, ...]) -> str:
    return ",".join(m.address for m in masters)


def test_connection_finds_the_active_master_and_maps_its_errors(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    backup, active = fake_masters
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        with pytest.raises(RegionInTransition, match=r"^region 5 is busy$") as caught:
            conn.admin().get_region(5)
        assert caught.value.status == "FAILED_PRECONDITION"
        assert conn.active_master == active.address
        assert backup.calls == []  # the backup was only asked whether it is active
        assert active.calls == ["GetRegion"]


def test_a_refusal_is_raised_at_once_without_retrying(fake_masters: tuple[FakeMaster, FakeMaster]) -> None:
    _, active = fake_masters
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        with pytest.raises(TableExists, match="exists"):
            conn.admin().create_table("exists", ["f"])
        with pytest.raises(RegionNotFound):
            conn.admin().get_region(404)
    assert active.calls == ["CreateTable", "GetRegion"]


def test_a_master_that_stops_being_active_is_left_for_the_new_one(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    first, second = fake_masters
    first.active, second.active = True, False
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        assert conn.admin().create_table("t1", ["f"], split_keys=[b"m"]) == 2
        assert conn.active_master == first.address
        first.active, second.active = False, True  # failover
        assert conn.admin().create_table("t2", ["f"]) == 1
        assert conn.active_master == second.address
    assert first.calls == ["CreateTable", "CreateTable"]  # the second one was refused: NotActiveMaster
    assert second.calls == ["CreateTable"]


def test_given_only_a_backup_the_connection_asks_the_master_it_names(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    backup, active = fake_masters
    backup.names = active.address
    backup.peers = active.peers = [backup.address, active.address]
    with Connection(backup.address, timeout=5.0) as conn:
        assert conn.admin().create_table("t1", ["f"]) == 1
        assert conn.active_master == active.address
        assert conn.masters == (backup.address, active.address)  # learned: followed at the next failover
    assert backup.calls == [] and active.calls == ["CreateTable"]


def test_a_refusal_naming_the_active_master_is_followed_at_once(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    first, second = fake_masters
    first.active, second.active = True, False
    with Connection(first.address, timeout=5.0) as conn:
        assert conn.admin().create_table("t1", ["f"]) == 1
        asked = first.info_calls
        first.active, second.active, first.names = False, True, second.address  # failover
        assert conn.admin().create_table("t2", ["f"]) == 1
        assert conn.active_master == second.address
    assert first.info_calls == asked  # no looking around: the refusal said where to go
    assert second.info_calls == 0 and second.calls == ["CreateTable"]


def test_masters_learned_from_an_answer_are_asked_after_a_failover(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    first, second = fake_masters
    first.active, second.active = True, False
    first.peers = [first.address, second.address]
    with Connection(first.address, timeout=5.0) as conn:
        assert conn.admin().create_table("t1", ["f"]) == 1
        first.active, second.active = False, True  # a failover; the old master names nobody
        assert conn.admin().create_table("t2", ["f"]) == 1
        assert conn.active_master == second.address


def test_with_no_active_master_the_call_gives_up_at_its_deadline(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    for master in fake_masters:
        master.active = False
    conn = Connection(_addresses(fake_masters), timeout=0.5)
    with conn, pytest.raises(MasterUnavailable, match="not the active master") as caught:
        conn.admin().cluster_status()
    assert caught.value.addresses == tuple(m.address for m in fake_masters)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_with_no_master_reachable_the_call_retries_until_its_timeout_then_raises_master_unavailable() -> None:
    """Refused connections fail at once: a call that gave up on the first refusal would end in
    milliseconds. It must keep trying until its own timeout has passed (the lower bound is exact: the
    call only gives up once its deadline is behind it), and raise soon after (the upper bound is slack for
    a loaded machine)."""
    addresses = f"127.0.0.1:{_closed_port()},127.0.0.1:{_closed_port()}"
    timeout = 1.0
    with Connection(addresses, timeout=timeout) as conn:
        started = time.monotonic()
        with pytest.raises(MasterUnavailable) as caught:
            conn.admin().cluster_status()
        elapsed = time.monotonic() - started
    assert timeout <= elapsed < timeout + 1.5, f"gave up after {elapsed:.3f}s with a {timeout:g}s timeout"
    assert f"within {timeout:g}s" in str(caught.value)
    for address in addresses.split(","):
        assert address in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_assign_waits_until_its_procedure_has_left_the_region(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    _, active = fake_masters
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        admin = conn.admin()
        assert admin.assign(3, "h:1") == 42
        assert active.region_polls == 3
        location = admin.get_region(3)
    assert location.state is RegionState.OPEN
    assert location.server == ServerName("h", 1, 2)
    assert location.proc_id == 0
    assert "Assign h:1" in active.calls


def test_assign_without_wait_returns_the_procedure_at_once(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    _, active = fake_masters
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        assert conn.admin().assign(3, ServerName("h", 1, 2), wait=False) == 42
    assert active.region_polls == 0
    assert "Assign h:1:2" in active.calls


def test_a_procedure_that_does_not_finish_raises_procedure_timeout(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    conn = Connection(_addresses(fake_masters), timeout=5.0)
    with conn, pytest.raises(ProcedureTimeout, match=r"region 7: procedure 999.*OPENING") as caught:
        conn.admin().assign(7, timeout=0.3)
    assert caught.value.region_id == 7
    assert caught.value.proc_id == 999
    assert caught.value.last_state is RegionState.OPENING


def test_cluster_status_is_converted_to_domain_types(fake_masters: tuple[FakeMaster, FakeMaster]) -> None:
    with Connection(_addresses(fake_masters), timeout=5.0) as conn:
        status = conn.admin().cluster_status()
    assert [(s.server, s.region_count, s.requests, s.last_heartbeat_age_ms) for s in status.servers] == [
        (ServerName("h", 1, 2), 4, 9, 120)
    ]
    [rit] = status.regions_in_transition
    assert (rit.region_id, rit.state, rit.server, rit.proc_id) == (8, RegionState.OPENING, None, 11)
    assert status.regions_by_state == {"OPEN": 4, "OPENING": 1}
    assert (status.master_epoch, status.regions, status.active_since_ms, status.startup_assignment_ms) == (
        3,
        5,
        1000,
        25,
    )


def test_a_closed_connection_refuses_calls(fake_masters: tuple[FakeMaster, FakeMaster]) -> None:
    conn = Connection(_addresses(fake_masters), timeout=1.0)
    conn.close()
    with pytest.raises(RegentError, match="closed"):
        conn.admin().cluster_status()
    conn.close()  # idempotent


def test_named_errors_are_distinct_classes() -> None:
    assert NotActiveMaster is not InvalidArgument
    assert len(set(ERRORS.values())) == len(ERRORS)


def test_a_hung_master_does_not_delay_finding_the_active_one(
    fake_masters: tuple[FakeMaster, FakeMaster],
) -> None:
    _, active = fake_masters
    with socket.socket() as hung:  # accepts TCP connections (the kernel does) but never speaks HTTP/2
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        addresses = f"127.0.0.1:{hung.getsockname()[1]},{active.address}"
        # A deadline shorter than one probe of the hung master: only parallel probing can meet it.
        with Connection(addresses, timeout=0.8) as conn:
            assert conn.admin().create_table("t1", ["f"]) == 1
            assert conn.active_master == active.address


def test_an_increment_carries_one_nonce_for_all_its_attempts() -> None:
    from client import operations

    item = operations.RowIncrement(b"r", (b"f:a",), (1,))
    built = operations.IncrementRows()
    first, again = (built.request([(7, [item])]) for _ in range(2))
    assert first == again and first.regions[0].rows[0].nonce == item.nonce != 0
    assert first.nonce_group == operations.NONCE_GROUP
    assert operations.RowIncrement(b"r", (b"f:a",), (1,)).nonce != item.nonce  # another increment
    assert operations.RowIncrement(b"r", (b"f:a",), (0,)).nonce == 0  # by nothing: none needed
