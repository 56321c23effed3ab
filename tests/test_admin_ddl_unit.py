"""The Admin's table calls without a real master: what they send, how they wait for their procedure, and
which named error a failed procedure becomes. A scripted fake master is served by a real gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from client import (
    Admin,
    ColumnFamily,
    Connection,
    FamilyNotFound,
    ProcedureAborted,
    ProcedureFailed,
    ProcedureHandle,
    ProcedureNotFound,
    ProcedureTimeout,
    TableNotEnabled,
    TableNotFound,
    TableSettings,
    TableState,
)
from client.procedure import ProcedureHandle as _Handle
from meta.codec import family_from_proto, family_to_proto, settings_from_proto, settings_to_proto
from regent.proto import common_pb2, master_pb2, master_pb2_grpc, meta_pb2
from tests.cluster import add_test_port


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, name: str, message: str) -> None:
    context.set_trailing_metadata((("regent-error", name),))
    context.abort(code, message)


class ScriptedMaster(master_pb2_grpc.MasterServicer):
    """An active master whose procedures end as the test says: each one is RUNNABLE for `polls_to_end`
    GetProcedure calls (with progress), then ends with `outcome` (state, error_code, error_message)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.polls: dict[int, int] = {}
        self.outcome = ("SUCCESS", "", "")
        self.polls_to_end = 2
        self.next_id = 100
        self.address = ""
        self.table = master_pb2.TableDescription(
            name="t1",
            families=[family_to_proto(ColumnFamily("f", max_versions=3, min_versions=1, ttl=60))],
            settings=settings_to_proto(TableSettings(max_region_size=1 << 30, split_enabled=False)),
            state=meta_pb2.ENABLED,
            regions=4,
            regions_by_state={"OPEN": 4},
        )

    def GetClusterInfo(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ClusterInfo:
        return master_pb2.ClusterInfo(active=True, master_epoch=1)

    def _submitted(self, method: str, request: Any) -> master_pb2.ProcedureResponse:
        self.requests.append((method, request))
        self.next_id += 1
        self.polls[self.next_id] = 0
        return master_pb2.ProcedureResponse(proc_id=self.next_id)

    def CreateTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.CreateTableResponse:
        proc_id = self._submitted("CreateTable", request).proc_id
        return master_pb2.CreateTableResponse(regions=len(request.split_keys) + 1, proc_id=proc_id)

    def DisableTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        if request.name == "nope":
            _abort(context, grpc.StatusCode.NOT_FOUND, "TableNotFound", "table 'nope' does not exist")
        return self._submitted("DisableTable", request)

    def EnableTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("EnableTable", request)

    def DeleteTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("DeleteTable", request)

    def TruncateTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("TruncateTable", request)

    def ModifyTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("ModifyTable", request)

    def AddFamily(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("AddFamily", request)

    def ModifyFamily(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("ModifyFamily", request)

    def DeleteFamily(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureResponse:
        return self._submitted("DeleteFamily", request)

    def DescribeTable(self, request: Any, context: grpc.ServicerContext) -> master_pb2.TableDescription:
        if request.name != "t1":
            _abort(
                context, grpc.StatusCode.NOT_FOUND, "TableNotFound", f"table {request.name!r} does not exist"
            )
        return self.table

    def ListTables(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ListTablesResponse:
        other = master_pb2.TableDescription(
            name="a0", families=[common_pb2.ColumnFamily(name="g")], state=meta_pb2.DISABLED
        )
        return master_pb2.ListTablesResponse(tables=[self.table, other])

    def GetProcedure(self, request: Any, context: grpc.ServicerContext) -> master_pb2.ProcedureInfo:
        if request.proc_id not in self.polls:
            _abort(context, grpc.StatusCode.NOT_FOUND, "ProcedureNotFound", f"no procedure {request.proc_id}")
        polls = self.polls[request.proc_id] = self.polls[request.proc_id] + 1
        info = master_pb2.ProcedureInfo(
            proc_id=request.proc_id, kind="disable_table", table="t1", total=4, step="close regions"
        )
        if polls <= self.polls_to_end:
            info.state, info.done, info.abortable = "RUNNABLE", polls, True
        else:
            info.state, info.error_code, info.error_message = self.outcome
            info.done = 4
        return info

    def AbortProcedure(
        self, request: Any, context: grpc.ServicerContext
    ) -> master_pb2.AbortProcedureResponse:
        return master_pb2.AbortProcedureResponse(rolled_back=request.proc_id % 2 == 0, message="as you wish")


@contextmanager
def serving(fake: ScriptedMaster) -> Iterator[ScriptedMaster]:
    """`fake` served on a free loopback port (its `address`) until the block ends."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    master_pb2_grpc.add_MasterServicer_to_server(fake, server)
    fake.address = f"127.0.0.1:{add_test_port(server, '127.0.0.1:0')}"
    server.start()
    try:
        yield fake
    finally:
        server.stop(None)


@pytest.fixture
def master() -> Iterator[ScriptedMaster]:
    with serving(ScriptedMaster()) as fake:
        yield fake


@pytest.fixture
def admin(master: ScriptedMaster) -> Iterator[Admin]:
    with Connection(master.address, timeout=5.0) as conn:
        yield conn.admin()


def test_create_table_sends_families_with_settings_and_waits_for_its_procedure(
    admin: Admin, master: ScriptedMaster
) -> None:
    regions = admin.create_table(
        "t2",
        {"f": {"max_versions": 5, "ttl": 3600}, "g": None, "h": ColumnFamily("h", 2)},
        split_keys=[b"m"],
        max_region_size=1 << 30,
        split_enabled=False,
    )
    assert regions == 2
    [(method, request)] = master.requests
    assert method == "CreateTable"
    assert [family_from_proto(f) for f in request.families] == [
        ColumnFamily("f", max_versions=5, ttl=3600),
        ColumnFamily("g"),
        ColumnFamily("h", 2),
    ]
    assert settings_from_proto(request.settings) == TableSettings(
        max_region_size=1 << 30, split_enabled=False
    )
    assert list(request.split_keys) == [b"m"]
    assert master.polls[101] == 3  # two RUNNABLE answers, then SUCCESS


def test_create_table_without_wait_returns_a_handle_that_reports_progress(
    admin: Admin, master: ScriptedMaster
) -> None:
    handle = admin.create_table("t2", ["f"], num_regions=4, wait=False)
    assert isinstance(handle, ProcedureHandle)
    assert (handle.proc_id, handle.kind, handle.table) == (101, "create_table", "t2")
    assert master.polls[101] == 0
    assert handle.progress() == (1, 4)
    seen: list[tuple[str, int]] = []
    final = handle.wait(on_progress=lambda p: seen.append((p.state, p.done)))
    assert final.state == "SUCCESS" and final.finished and final.fraction == 1.0
    assert seen == [("RUNNABLE", 2), ("SUCCESS", 4)]
    assert handle.done()


@pytest.mark.parametrize(
    ("outcome", "error", "phrase"),
    [
        (("FAILED", "TableNotEnabled", "table 't1' is DISABLED"), TableNotEnabled, "table 't1' is DISABLED"),
        (("FAILED", "MetaUnavailable", "meta is full"), ProcedureFailed, "meta is full"),
        (("ROLLED_BACK", "", ""), ProcedureAborted, "ended ROLLED_BACK"),
    ],
)
def test_a_procedure_that_fails_raises_the_error_it_names(
    admin: Admin, master: ScriptedMaster, outcome: tuple[str, str, str], error: type[Exception], phrase: str
) -> None:
    master.outcome = outcome
    with pytest.raises(error, match=phrase) as caught:
        admin.disable_table("t1")
    assert getattr(caught.value, "proc_id", None) == 101
    assert "procedure 101 (disable_table of table 't1')" in str(caught.value)


def test_a_refusal_at_submission_is_the_named_error_and_nothing_is_waited_for(
    admin: Admin, master: ScriptedMaster
) -> None:
    with pytest.raises(TableNotFound, match="'nope' does not exist"):
        admin.disable_table("nope")
    assert master.polls == {}


def test_a_procedure_that_does_not_end_in_time_raises_procedure_timeout(
    admin: Admin, master: ScriptedMaster
) -> None:
    master.polls_to_end = 10**6
    with pytest.raises(ProcedureTimeout, match=r"procedure 101 .*RUNNABLE.*of 4 regions") as caught:
        admin.enable_table("t1", timeout=0.3)
    assert caught.value.proc_id == 101


def test_long_calls_return_none_when_they_wait_and_a_handle_when_not(
    admin: Admin, master: ScriptedMaster
) -> None:
    assert admin.delete_table("t1") is None
    assert admin.truncate_table("t1", preserve_splits=False) is None
    assert admin.delete_family("t1", "f") is None
    handle = admin.truncate_table("t1", wait=False)
    assert isinstance(handle, _Handle) and handle.kind == "truncate_table"
    methods = [m for m, _ in master.requests]
    assert methods == ["DeleteTable", "TruncateTable", "DeleteFamily", "TruncateTable"]
    assert [r.preserve_splits for m, r in master.requests if m == "TruncateTable"] == [False, True]


def test_modify_table_keeps_what_is_not_given(admin: Admin, master: ScriptedMaster) -> None:
    admin.modify_table("t1", merge_enabled=False)
    [(_, request)] = master.requests
    assert [family_from_proto(f) for f in request.families] == [ColumnFamily("f", 3, 1, 60)]
    assert settings_from_proto(request.settings) == TableSettings(
        max_region_size=1 << 30, split_enabled=False, merge_enabled=False
    )


def test_modify_family_by_name_changes_only_the_settings_given(admin: Admin, master: ScriptedMaster) -> None:
    admin.modify_family("t1", "f", max_versions=7)
    admin.add_family("t1", "g", ttl=10)
    admin.modify_family("t1", ColumnFamily("f"))
    sent = [(m, family_from_proto(r.family)) for m, r in master.requests]
    assert sent == [
        ("ModifyFamily", ColumnFamily("f", 7, 1, 60)),
        ("AddFamily", ColumnFamily("g", ttl=10)),
        ("ModifyFamily", ColumnFamily("f")),
    ]


def test_tables_are_described_in_domain_types(admin: Admin) -> None:
    described = admin.describe_table("t1")
    assert described.families == (ColumnFamily("f", 3, 1, 60),)
    assert described.settings == TableSettings(max_region_size=1 << 30, split_enabled=False)
    assert described.state is TableState.ENABLED and described.enabled and not described.disabled
    assert (described.regions, described.regions_by_state, described.locked_by) == (4, {"OPEN": 4}, 0)
    assert [t.name for t in admin.list_tables()] == ["a0", "t1"]
    assert admin.table_exists("t1") and not admin.table_exists("t9")
    assert admin.is_table_enabled("t1") and not admin.is_table_disabled("t1")
    with pytest.raises(TableNotFound):
        admin.is_table_enabled("t9")


def test_abort_and_get_procedure(admin: Admin, master: ScriptedMaster) -> None:
    handle = admin.disable_table("t1", wait=False)
    info = admin.get_procedure(handle.proc_id)
    assert (info.state, info.done, info.total, info.table, info.abortable) == ("RUNNABLE", 1, 4, "t1", True)
    result = admin.abort_procedure(handle.proc_id)
    assert (result.proc_id, result.rolled_back, result.message) == (101, False, "as you wish")
    assert admin.procedure(102).abort().rolled_back
    with pytest.raises(ProcedureNotFound):
        admin.get_procedure(5)


@pytest.mark.parametrize(
    ("families", "message"),
    [
        ({"f": {"versions": 3}}, "unknown setting"),
        ({"f": ColumnFamily("g")}, "named 'g'"),
        ({"f": 3}, "settings are a dict"),
        ("f", "not one 'f'"),
        ({"f": {"max_versions": 0}}, "max_versions must be"),
    ],
)
def test_create_table_rejects_bad_family_settings_before_calling(
    admin: Admin, master: ScriptedMaster, families: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        admin.create_table("t2", families)
    assert master.requests == []


def test_bad_arguments_of_the_other_calls_raise_value_error_before_calling(
    admin: Admin, master: ScriptedMaster
) -> None:
    with pytest.raises(ValueError, match="table name"):
        admin.disable_table("bad name")
    with pytest.raises(ValueError, match="not both"):
        admin.add_family("t1", ColumnFamily("g"), max_versions=2)
    with pytest.raises(ValueError, match="max_region_size"):
        admin.create_table("t2", ["f"], max_region_size=10)
    with pytest.raises(ValueError, match="procedure id"):
        admin.get_procedure(0)
    with pytest.raises(ValueError, match="column family name"):
        admin.delete_family("t1", "no space")
    assert master.requests == []


def test_modify_family_of_a_missing_family_is_left_to_the_master(
    admin: Admin, master: ScriptedMaster
) -> None:
    admin.modify_family("t1", "zz", max_versions=2)  # the fake accepts it; a real master says FamilyNotFound
    [(_, request)] = master.requests
    assert family_from_proto(request.family) == ColumnFamily("zz", 2)
    assert FamilyNotFound.__name__ == "FamilyNotFound"
