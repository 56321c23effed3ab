"""Concurrent DDL on one table from several clients: serialised or refused, never interleaved (the issue's
concurrency test), with a real master and RegionServers on loopback.

- Several threads, each with a connection of its own, fire disable, enable, add/delete/modify family and
  truncate at one table at once. Each call succeeds or raises one of the named refusals. The procedures
  on the table never overlap: in the master's log (one line per step, written by its one executor), the
  lines of each procedure form one unbroken run, and the runs come in submission (id) order. Replaying
  the procedures in that order through a model of the table predicts every outcome exactly, and the
  table ends as the model says.
- Region procedures (move, assign, unassign) on a table that a table procedure holds are refused with
  TableLocked, naming the holder; once it is done, the same move is accepted.
- create_table of one name from two clients at once: exactly one succeeds, the other gets TableExists.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import regent
from client.errors import (
    FamilyExists,
    FamilyNotFound,
    RegentError,
    TableExists,
    TableLocked,
    TableNotDisabled,
    TableNotEnabled,
)
from meta import RegionState, TableState
from tests.background import CheckedThread, finish_all
from tests.cluster import Cluster, module_cluster, wait_until
from tests.failure_helpers import LONG_LEASE, events, settled

CALL_TIMEOUT_S = 60.0
#: The refusals a DDL call may meet when others change the table under it.
REFUSALS: tuple[type[RegentError], ...] = (
    TableNotEnabled,
    TableNotDisabled,
    FamilyExists,
    FamilyNotFound,
    TableLocked,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module (each test has tables of its own). A long lease: a RegionServer paused
    by a test is not declared dead meanwhile."""
    with module_cluster(tmp_path_factory, servers=3, master_args=LONG_LEASE) as made:
        yield made


def _settled(cluster: Cluster) -> dict[int, Any]:
    """Wait until every region of every enabled table is OPEN on one server, meta and the servers
    agreeing (the module's tables share the servers: each must be named, or its regions look unknown)."""
    tables = {t.name: t.regions for t in cluster.admin.list_tables() if t.enabled}
    return settled(cluster, tables) if tables else {}


# ---- a model of one table, to replay the procedures in order ----


@dataclass
class TableModel:
    state: TableState = TableState.ENABLED
    families: dict[str, int] = field(default_factory=dict)  # name -> max_versions

    def apply(self, op: str, family: str, versions: int) -> str:
        """Run `op` as the master would with nothing else in flight; return "" or the error's name."""
        if op == "disable":
            if self.state is not TableState.ENABLED:
                return "TableNotEnabled"
            self.state = TableState.DISABLED
        elif op in ("enable", "truncate"):
            if self.state is not TableState.DISABLED:
                return "TableNotDisabled"
            self.state = TableState.ENABLED
        elif op == "add_family":
            if family in self.families:
                return "FamilyExists"
            self.families[family] = versions
        elif op == "delete_family":
            if family not in self.families:
                return "FamilyNotFound"
            del self.families[family]
        elif op == "modify_family":
            if family not in self.families:
                return "FamilyNotFound"
            self.families[family] = versions
        else:
            raise AssertionError(f"unknown op {op}")
        return ""


@dataclass(frozen=True)
class Call:
    client: int
    op: str
    family: str = ""
    versions: int = 1


@dataclass
class Outcome:
    call: Call
    proc_id: int = 0  # 0: refused at submission
    error: RegentError | None = None


def _submit(admin: Any, table: str, call: Call) -> Any:
    """Send the call without waiting; return its ProcedureHandle."""
    if call.op == "disable":
        return admin.disable_table(table, wait=False, timeout=CALL_TIMEOUT_S)
    if call.op == "enable":
        return admin.enable_table(table, wait=False, timeout=CALL_TIMEOUT_S)
    if call.op == "truncate":
        return admin.truncate_table(table, wait=False, timeout=CALL_TIMEOUT_S)
    if call.op == "add_family":
        return admin.add_family(
            table, call.family, max_versions=call.versions, wait=False, timeout=CALL_TIMEOUT_S
        )
    if call.op == "delete_family":
        return admin.delete_family(table, call.family, wait=False, timeout=CALL_TIMEOUT_S)
    if call.op == "modify_family":
        return admin.modify_family(
            table, call.family, max_versions=call.versions, wait=False, timeout=CALL_TIMEOUT_S
        )
    raise AssertionError(call.op)


def _client_calls(rng: random.Random, client: int, count: int) -> list[Call]:
    """`count` calls: families x and y come and go; f is changed but never deleted (the table keeps one)."""
    calls = []
    for _ in range(count):
        op = rng.choice(["disable", "enable", "truncate", "add_family", "delete_family", "modify_family"])
        family = rng.choice(["x", "y"]) if op != "modify_family" else rng.choice(["f", "x"])
        calls.append(Call(client, op, family if "family" in op else "", rng.randint(1, 5)))
    return calls


def _fire(cluster: Cluster, table: str, plans: list[list[Call]]) -> list[Outcome]:
    """Each plan on a connection of its own, all starting together; every call's outcome."""
    barrier = threading.Barrier(len(plans))
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def client(plan: list[Call]) -> None:
        with regent.connect(cluster.master_addresses, timeout=CALL_TIMEOUT_S) as conn:
            admin = conn.admin()
            barrier.wait(30)
            for call in plan:
                outcome = Outcome(call)
                try:
                    handle = _submit(admin, table, call)
                    outcome.proc_id = handle.proc_id
                    handle.wait(timeout=CALL_TIMEOUT_S)
                except REFUSALS as exc:
                    outcome.error = exc
                with lock:
                    outcomes.append(outcome)

    threads = [CheckedThread(client, plan, name=f"client-{i}").start() for i, plan in enumerate(plans)]
    finish_all(threads, timeout=CALL_TIMEOUT_S * 2)  # an error other than REFUSALS fails the test here
    return outcomes


def _procedure_runs(cluster: Cluster, table: str) -> list[tuple[int, list[str]]]:
    """The table's procedures as the master's log shows them run: (proc id, its lines), one entry per
    unbroken run of lines of one procedure, in log order."""
    master = cluster.masters[0]
    submitted = {e["proc_id"]: e for e in events(master, "procedure_submitted") if e.get("table") == table}
    runs: list[tuple[int, list[str]]] = []
    for record in master.events():
        if record.get("event") not in ("procedure_stepped", "procedure_finished"):
            continue
        proc_id = record["proc_id"]
        if proc_id not in submitted:
            continue
        line = f"{record['event']} {record.get('step') or record.get('state')}"
        if runs and runs[-1][0] == proc_id:
            runs[-1][1].append(line)
        else:
            runs.append((proc_id, [line]))
    return runs


@pytest.mark.parametrize(
    ("seed", "clients", "calls"),
    [
        (1, 6, 6),
        (2, 6, 6),
        (3, 8, 4),
        pytest.param(4, 12, 20, marks=pytest.mark.slow),
        pytest.param(5, 16, 30, marks=pytest.mark.slow),
    ],
)
def test_concurrent_ddl_from_several_clients_is_serialised_or_refused_never_interleaved(
    cluster: Cluster, seed: int, clients: int, calls: int
) -> None:
    table = f"contended{seed}"
    admin = cluster.admin
    created = admin.create_table(table, {"f": {"max_versions": 1}, "g": None}, num_regions=6, wait=False)
    created.wait(timeout=CALL_TIMEOUT_S)
    rng = random.Random(seed)
    plans = [_client_calls(rng, client, calls) for client in range(clients)]
    outcomes = _fire(cluster, table, plans)
    assert len(outcomes) == sum(map(len, plans))

    # Every call named what it met; a refusal at submission left no procedure.
    for outcome in outcomes:
        if outcome.error is not None:
            assert table in str(outcome.error), f"{outcome.call}: {outcome.error!r} does not name the table"

    # Serialised: each procedure's log lines are one unbroken run, the runs in submission order.
    with_procs = {o.proc_id: o for o in outcomes if o.proc_id}
    finished = wait_until(
        lambda: (
            (runs := _procedure_runs(cluster, table))
            and {p for p, lines in runs if lines[-1].startswith("procedure_finished")} >= set(with_procs)
            and runs
        ),
        30,
        "the master to log the end of every procedure",
    )
    ids = [proc_id for proc_id, _ in finished]
    assert len(ids) == len(set(ids)), f"procedures interleaved on {table}: {finished}"
    assert ids == sorted(ids), f"procedures did not run in submission order: {ids}"
    assert set(ids) == {created.proc_id, *with_procs}, (ids, sorted(with_procs))

    # Replayed in that order, a model of the table predicts every outcome.
    model = TableModel(families={"f": 1, "g": 1})
    for proc_id in ids[1:]:
        outcome = with_procs[proc_id]
        call = outcome.call
        expected = model.apply(call.op, call.family, call.versions)
        got = type(outcome.error).__name__ if outcome.error is not None else ""
        assert got == expected, f"procedure {proc_id} {call}: expected {expected or 'success'}, got {got}"
    refused_late = sum(1 for o in with_procs.values() if o.error is not None)
    refused_early = sum(1 for o in outcomes if not o.proc_id)
    print(
        f"{len(with_procs)} procedures, {refused_late} refused at their turn, {refused_early} at submission"
    )
    kinds = {o.call.op for o in with_procs.values()}
    assert len(kinds) >= 4, f"too few kinds of procedure ran to tell anything: {kinds}"

    described = admin.describe_table(table)
    assert described.state is model.state
    assert {f.name: f.max_versions for f in described.families} == model.families
    _settled(cluster)


def test_region_procedures_on_a_table_held_by_a_table_procedure_are_refused_as_locked(
    cluster: Cluster,
) -> None:
    table = "held"
    admin = cluster.admin
    admin.create_table(table, ["f"], num_regions=6, timeout=CALL_TIMEOUT_S)
    regions = {r.region_id: r for r in _settled(cluster).values() if r.info.table == table}
    by_server: dict[str, list[int]] = {}
    for region in regions.values():
        assert region.server is not None
        by_server.setdefault(region.server.address, []).append(region.region_id)
    assert len(by_server) >= 2, f"the regions are on one server: {by_server}"
    paused_address, other_address = sorted(by_server)[:2]
    paused = next(s for s in cluster.servers if s.address == paused_address)
    moved = by_server[other_address][0]
    target = next(r.server for r in regions.values() if r.server and r.server.address == paused_address)

    # A disable whose closes on a paused server cannot finish: it holds the table meanwhile.
    paused.pause()
    try:
        handle = admin.disable_table(table, wait=False)
        wait_until(
            lambda: admin.describe_table(table).locked_by == handle.proc_id,
            10,
            "the disable to hold the table",
        )
        region_calls: list[tuple[str, Callable[[], Any]]] = [
            ("move", lambda: admin.move(moved, target)),
            ("move anywhere", lambda: admin.move(moved)),
            ("assign", lambda: admin.assign(moved)),
            ("unassign", lambda: admin.unassign(moved)),
        ]
        for what, region_call in region_calls:
            with pytest.raises(TableLocked) as refused:
                region_call()
            message = str(refused.value)
            assert f"procedure {handle.proc_id}" in message and "disable_table" in message, (what, message)
            assert table in message, (what, message)
        assert admin.describe_table(table).locked_by == handle.proc_id, "the disable ended while paused"
    finally:
        paused.resume()
    handle.wait(timeout=CALL_TIMEOUT_S)
    admin.enable_table(table, timeout=CALL_TIMEOUT_S)
    _settled(cluster)

    # Unlocked, the same move is accepted and done.
    assert admin.describe_table(table).locked_by == 0
    admin.move(moved, target)
    wait_until(
        lambda: (
            (r := admin.get_region(moved)).state is RegionState.OPEN and r.server == target and not r.proc_id
        ),
        30,
        f"region {moved} to move to {target}",
    )


def test_create_table_of_one_name_from_two_clients_at_once_succeeds_once(cluster: Cluster) -> None:
    for attempt in range(3):  # a few rounds: the race is won by either client
        table = f"twin{attempt}"
        barrier = threading.Barrier(2)
        results: dict[int, str] = {}

        def create(
            client: int,
            table: str = table,
            barrier: threading.Barrier = barrier,
            results: dict[int, str] = results,
        ) -> None:
            with regent.connect(cluster.master_addresses, timeout=CALL_TIMEOUT_S) as conn:
                admin = conn.admin()
                barrier.wait(30)
                try:
                    admin.create_table(table, [f"c{client}"], num_regions=2 + client)
                except TableExists as exc:
                    assert table in str(exc), exc
                    results[client] = "TableExists"
                else:
                    results[client] = "created"

        threads = [CheckedThread(create, client, name=f"create-{client}").start() for client in (0, 1)]
        finish_all(threads, timeout=CALL_TIMEOUT_S)
        assert sorted(results.values()) == ["TableExists", "created"], results
        (winner,) = [c for c, r in results.items() if r == "created"]
        described = cluster.admin.describe_table(table)
        assert [f.name for f in described.families] == [f"c{winner}"], described
        assert described.regions == 2 + winner
        _settled(cluster)
