"""Procedures across a master crash (docs/failure-model.md, "Procedures across a master crash").

For every procedure kind and every step it persists, the active master is started with the test-only switch
REGENT_HALT_AFTER="<kind>:<step>" and SIGKILLs itself right after that step's outcome is durable. Then a
backup master takes over, or a new master starts on the same ROOTDIR and port (the cases alternate), and
the procedure must end as it would have without the crash: SUCCESS (or ROLLED_BACK when aborted), the
table in the state and with the families the operation leaves, every region OPEN (enabled table) or
CLOSED (disabled) with no procedure attached, nothing in transition, meta's rows agreeing with what the
master says, and no region store directory left that belongs to no region of the table.

Submissions are sent once, to the master that will halt, and never retried: the SDK would resend a DDL
call whose master died before answering to the next master, which would submit it a second time (see
test_a_ddl_call_retried_after_its_master_died_is_submitted_once). The procedure's id is then found on the
new master, which also shows that exactly one was submitted.

The default suite runs one step of each operation (FAST) and two of the four aborts; the other cases are
marked slow (`make test-all` runs every one).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

import regent
from client import Admin, Connection, ProcedureAborted, ProcedureHandle
from master.procedures import KINDS, ProcState
from meta import RegionState, TableState
from regent.proto.meta_pb2 import TableProcedureData
from tests.cluster import Cluster, Daemons, Master, RegionServer, get_cell, wait_until
from tests.data_calls import RegionRefused
from tests.failure_helpers import events, read_meta_contents, row_in

TABLE = "t"
SPLITS = (b"c", b"f", b"i", b"l", b"o")  # six regions
REGIONS = len(SPLITS) + 1
COLUMN = b"f:q"
SERVERS = 3
#: Heartbeats often, so that RegionServers find the new master quickly; a lease long enough that no
#: RegionServer is declared dead by a loaded machine's hiccup (the server_crash case shortens it).
MASTER_ARGS = ("--heartbeat-ms", "200", "--lease-ms", "3000", "--startup-grace-ms", "1000")
CRASH_MASTER_ARGS = ("--heartbeat-ms", "200", "--lease-ms", "1000", "--startup-grace-ms", "1000")
#: Deadlines, generous for a loaded 2-core machine.
HALT_TIMEOUT_S = 60.0
DONE_TIMEOUT_S = 90.0


# ---- the operations, each with what it needs and what it leaves ----


@dataclass(frozen=True, slots=True)
class Operation:
    """An Admin call that runs one procedure kind, the table it needs first, and what it leaves."""

    name: str
    kind: str
    needs: str  # "nothing", "enabled" or "disabled": table TABLE with a cell in some regions
    leaves: TableState | None  # None: the table is gone
    families: tuple[str, ...] = ("f",)
    start_families: tuple[str, ...] = ("f",)
    data_kept: bool = True  # the cells written before are read back afterwards (when enabled)
    submit: Callable[[Admin], ProcedureHandle] | None = None  # None: not an Admin call


OPERATIONS = {
    op.name: op
    for op in (
        Operation(
            "create_table",
            "create_table",
            "nothing",
            TableState.ENABLED,
            submit=lambda a: a.create_table(TABLE, ["f"], split_keys=list(SPLITS), wait=False),
        ),
        Operation(
            "disable_table",
            "disable_table",
            "enabled",
            TableState.DISABLED,
            submit=lambda a: a.disable_table(TABLE, wait=False),
        ),
        Operation(
            "enable_table",
            "enable_table",
            "disabled",
            TableState.ENABLED,
            submit=lambda a: a.enable_table(TABLE, wait=False),
        ),
        Operation(
            "delete_table",
            "delete_table",
            "disabled",
            None,
            submit=lambda a: a.delete_table(TABLE, wait=False),
        ),
        Operation(
            "truncate_table",
            "truncate_table",
            "disabled",
            TableState.ENABLED,
            data_kept=False,
            submit=lambda a: a.truncate_table(TABLE, wait=False),
        ),
        Operation(
            "modify_table",
            "modify_table",
            "enabled",
            TableState.ENABLED,
            families=("f", "g"),
            submit=lambda a: a.modify_table(TABLE, families=["f", "g"], wait=False),
        ),
        Operation(
            "add_family",
            "modify_table",
            "enabled",
            TableState.ENABLED,
            families=("f", "g"),
            submit=lambda a: a.add_family(TABLE, "g", max_versions=3, wait=False),
        ),
        Operation(
            "delete_family",
            "modify_table",
            "enabled",
            TableState.ENABLED,
            families=("f",),
            start_families=("f", "g"),
            submit=lambda a: a.delete_family(TABLE, "g", wait=False),
        ),
        # A RegionServer SIGKILLed: its crash procedure is submitted when its lease runs out.
        Operation("server_crash", "server_crash", "enabled", TableState.ENABLED),
    )
}

#: Every persisted step of each kind, in order; "submitted" is the submission's own record.
STEPS = {
    "create_table": ("submitted", "add_to_meta", "assign", "finish"),
    "disable_table": ("submitted", "prepare", "close"),
    "enable_table": ("submitted", "prepare", "assign", "finish"),
    "delete_table": ("submitted", "prepare", "remove_meta", "remove_stores"),
    "truncate_table": (
        "submitted",
        "prepare",
        "remove_meta",
        "remove_stores",
        "add_to_meta",
        "assign",
        "finish",
    ),
    "modify_table": ("submitted", "prepare", "reopen"),
    "server_crash": ("submitted", "recover"),
    # their crash cases are in test_split_merge_crashes.py
    "split_region": (
        "submitted",
        "prepare",
        "close",
        "wait_closed",
        "references",
        "commit",
        "open",
        "finish",
    ),
    "merge_regions": (
        "submitted",
        "prepare",
        "close",
        "wait_closed",
        "references",
        "commit",
        "open",
        "finish",
    ),
}


#: The cases of the default suite: one step of each operation, a middle one where there is one, taken over
#: by a backup or by a restart; the other steps are marked slow (`make test-all` runs every case).
FAST = {
    ("create_table", "add_to_meta"),
    ("disable_table", "close"),
    ("enable_table", "assign"),
    ("delete_table", "remove_stores"),
    ("truncate_table", "assign"),
    ("modify_table", "reopen"),
    ("add_family", "reopen"),
    ("delete_family", "prepare"),
    ("server_crash", "recover"),
}


def _cases() -> Iterator[Any]:
    for op in OPERATIONS.values():
        steps = STEPS[op.kind] if op.name == op.kind else ("prepare", "reopen")
        for i, step in enumerate(steps):
            takeover = "restart" if i % 2 else "backup"
            marks = () if (op.name, step) in FAST else (pytest.mark.slow,)
            yield pytest.param(op.name, step, takeover, id=f"{op.name}:{step}-{takeover}", marks=marks)


def test_the_cases_cover_every_persisted_step_of_every_kind() -> None:
    """A step added to a kind without a crash case here fails this test (rollback steps are covered by the
    abort tests below); each operation has a case in the default suite."""
    for kind, cls in KINDS.items():
        forward = [s for s in cls.STEPS if not s.startswith("rb_") and s != "rolled_back"]
        assert set(STEPS[kind]) == {"submitted", *forward}, kind
    assert {name for name, _ in FAST} == set(OPERATIONS)
    assert all(step in (STEPS[OPERATIONS[name].kind]) for name, step in FAST)


# ---- the cluster ----


@dataclass
class Crash:
    """One cluster whose active master halts at `halt` ("<kind>:<step>"); `backup` is running if the
    takeover is by a backup."""

    cluster: Cluster
    halting: Master
    backup: Master | None
    halt: str
    written: dict[int, bytes] = field(default_factory=dict)  # region id -> row of the cell written
    old_ids: set[int] = field(default_factory=set)

    @property
    def rootdir(self) -> Path:
        return self.cluster.rootdir


def start_crash_cluster(
    daemons: Daemons, rootdir: Path, halt: str, takeover: str, master_args: tuple[str, ...] = MASTER_ARGS
) -> Crash:
    cluster = Cluster(daemons, rootdir, masters=2 if takeover == "backup" else 1, master_args=master_args)
    halting = cluster.start_master(0, env={**os.environ, "REGENT_HALT_AFTER": halt})
    halting.wait_active(30)
    backup = None
    if takeover == "backup":
        backup = cluster.start_master(1)
        backup.wait_reachable()
    for _ in range(SERVERS):
        cluster.start_server()
    cluster.wait_live(SERVERS)
    return Crash(cluster, halting, backup, halt)


def prepare(crash: Crash, op: Operation) -> None:
    """The table `op` needs, with a cell in every other region (so that those regions have a store)."""
    if op.needs == "nothing":
        return
    admin = crash.cluster.admin
    admin.create_table(TABLE, list(op.start_families), split_keys=list(SPLITS), timeout=60)
    regions = crash.cluster.wait_open(TABLE, REGIONS)
    servers = {s.address: s for s in crash.cluster.servers}
    for location in regions[::2]:
        row = row_in(location)
        servers[location.server.address].put(location.region_id, row, COLUMN, b"before " + row)
        crash.written[location.region_id] = row
    crash.old_ids = {r.region_id for r in regions}
    assert store_dirs(crash.rootdir) >= set(crash.written), "a region written to has no store directory"
    if op.needs == "disabled":
        admin.disable_table(TABLE, timeout=60)


def wait_halted(crash: Crash) -> None:
    """The halting master must SIGKILL itself at the step; fail clearly if it never got there."""
    master = crash.halting
    with contextlib.suppress(subprocess.TimeoutExpired):
        master.proc.wait(HALT_TIMEOUT_S)
    assert not master.alive, (
        f"the master never halted at {crash.halt} within {HALT_TIMEOUT_S:g}s: the procedure did not "
        f"reach that step, or the switch did not fire\n{master.log_tail()}"
    )
    assert master.returncode == -signal.SIGKILL, (
        f"the master exited with {master.returncode}, not by its SIGKILL at {crash.halt}\n{master.log_tail()}"
    )
    halts = events(master, "halting_for_test")
    kind, step = crash.halt.split(":")
    assert [(e["kind"], e["step"]) for e in halts] == [(kind, step)], halts
    master.kill()  # reaped: the daemons registry forgets it


def take_over(crash: Crash) -> Master:
    """The backup takes over, or a new master (no switch) starts on the dead one's port and ROOTDIR."""
    if crash.backup is not None:
        crash.backup.wait_active(60)
        return crash.backup
    master = crash.cluster.start_master(0)
    master.wait_active(60)
    return master


class SingleAttempt(Connection):
    """A client that sends each call once, to one master, and never retries: a DDL call whose master dies
    before answering fails here instead of being sent again to the next master."""

    def __init__(self, address: str) -> None:
        super().__init__(address, timeout=30.0)
        self._address = address

    def _call(
        self,
        method_name: str,
        request: Any,
        timeout: float | None = None,
        *,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Any:
        method = getattr(self._stub(self._address), method_name)
        return method(
            request, timeout=self.timeout if timeout is None else timeout, metadata=metadata or None
        )


def submit_once(crash: Crash, op: Operation) -> int | None:
    """Submit `op` to the halting master once; its procedure id, or None if the master died first."""
    assert op.submit is not None
    with SingleAttempt(crash.halting.address) as conn:
        try:
            return op.submit(conn.admin()).proc_id
        except grpc.RpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc
            return None


def the_procedure(admin: Admin, kind: str, table: str | None) -> int:
    """The id of the one procedure of `kind` (on `table`) the new master knows."""
    found = [p for p in admin.list_procedures() if p.kind == kind and (table is None or p.table == table)]
    assert len(found) == 1, f"expected one {kind} procedure, the master knows {found}"
    return found[0].proc_id


# ---- what must hold at the end ----


def store_dirs(rootdir: Path) -> set[int]:
    """The region ids under ROOTDIR/data/TABLE/ (any other entry fails: nothing else belongs there)."""
    table_dir = rootdir / "data" / TABLE
    if not table_dir.exists():
        return set()
    names = os.listdir(table_dir)
    assert all(n.isdigit() for n in names), f"{table_dir} holds {sorted(names)}"
    return {int(n) for n in names}


def check_settled(
    crash: Crash, admin: Admin, master: Master, op: Operation, state: TableState | None, proc_id: int
) -> None:
    """The table as `op` leaves it (`state`, None for gone), regions settled, meta agreeing, no orphan."""
    expected_region_state = RegionState.OPEN if state is TableState.ENABLED else RegionState.CLOSED
    problem = ["nothing checked yet"]

    def regions_settled() -> tuple[list[Any]] | None:
        status = admin.cluster_status(timeout=10)
        if status.regions_in_transition:
            problem[0] = f"in transition: {status.regions_in_transition}"
            return None
        if state is None:
            return ([],)
        regions = admin.table_regions(TABLE, timeout=10)
        live = {s.server for s in status.servers}
        for r in regions:
            placed = r.server in live if expected_region_state is RegionState.OPEN else r.server is None
            if r.state is not expected_region_state or r.proc_id or not placed:
                problem[0] = (
                    f"region {r.region_id} is {r.state.name} on {r.server} with procedure {r.proc_id}"
                )
                return None
        return (regions,) if regions else None

    (regions,) = wait_until(
        regions_settled,
        30,
        f"every region {expected_region_state.name} with no procedure, none in transition",
        interval=0.05,
        context=lambda: f"last problem: {problem[0]}\n{crash.cluster.daemons.log_tails()}",
    )
    if state is None:
        assert not admin.table_exists(TABLE)
    else:
        described = admin.describe_table(TABLE)
        assert described.state is state
        assert [f.name for f in described.families] == list(op.families)
        assert described.regions == len(regions) and described.locked_by == 0
    if state is not None:
        assert [r.info.start_key for r in regions] == [b"", *SPLITS], "the region boundaries changed"
    check_meta(crash, master, regions, state, op, proc_id)
    check_stores(crash, {r.region_id for r in regions}, op)
    if state is TableState.ENABLED:
        check_cells(crash, regions, op)


def check_meta(
    crash: Crash, master: Master, regions: list[Any], state: TableState | None, op: Operation, proc_id: int
) -> None:
    """Meta's rows, read from LMDB while the master is paused, are what the master says."""
    master.pause()
    try:
        meta = read_meta_contents(crash.rootdir)
    finally:
        master.resume()
    if state is None:
        assert TABLE not in meta.tables
    else:
        assert meta.tables[TABLE].state is state
    ids = {r.region_id for r in regions}
    assert {i for i, info in meta.regions.items() if info.table == TABLE} == ids
    assert set(meta.region_state) == set(meta.regions), "region_state rows without a region, or the reverse"
    for r in regions:
        row = meta.region_state[r.region_id]
        assert (row.state, row.server, row.proc_id) == (r.state, r.server, r.proc_id), (r, row)
        assert meta.regions[r.region_id] == r.info
    unfinished = [p for p in meta.procedures.values() if p.state == ProcState.RUNNABLE]
    assert not unfinished, f"procedures left unfinished in meta: {unfinished}"
    if op.kind == "modify_table" and proc_id in meta.procedures:  # not when rolled back before it ran
        below = TableProcedureData.FromString(meta.procedures[proc_id].payload).reopen_below_seq
        stale = [i for i in ids if meta.region_state[i].open_seq_num < below]
        assert below and not stale, f"regions not reopened since the new descriptor: {stale}"


def check_stores(crash: Crash, ids: set[int], op: Operation) -> None:
    dirs = store_dirs(crash.rootdir)
    assert dirs <= ids, f"orphaned region store directories: {sorted(dirs - ids)} (regions now {sorted(ids)})"
    if op.data_kept and op.leaves is not None:
        assert set(crash.written) <= dirs, "a region store that held data is gone"
    if op.name == "truncate_table":
        assert not dirs & crash.old_ids


def check_cells(crash: Crash, regions: list[Any], op: Operation) -> None:
    """The cells written before are there (or gone after a truncate), read through whichever region now
    holds their row."""
    for row in crash.written.values():
        (region,) = [r for r in regions if r.info.contains(row)]
        expected = (b"before " + row) if op.data_kept else None

        def read(region: Any = region, row: bytes = row) -> tuple[bytes | None] | None:
            try:
                return (get_cell(region.server.address, region.region_id, row, COLUMN),)
            except (grpc.RpcError, RegionRefused):  # not serving yet: it re-registers first
                return None

        (value,) = wait_until(read, 30, f"a Get of {row!r} in region {region.region_id}")
        assert value == expected, (row, value)


# ---- the crash cases ----


@pytest.mark.parametrize(("name", "step", "takeover"), list(_cases()))
def test_a_procedure_halted_after_a_step_completes_on_the_next_master(
    daemons: Daemons, tmp_path: Path, name: str, step: str, takeover: str
) -> None:
    op = OPERATIONS[name]
    halt = f"{op.kind}:{step}"
    args = CRASH_MASTER_ARGS if op.kind == "server_crash" else MASTER_ARGS
    crash = start_crash_cluster(daemons, tmp_path / "root", halt, takeover, args)
    try:
        prepare(crash, op)
        victim: RegionServer | None = None
        proc_id = None
        if op.kind == "server_crash":
            victim = crash.cluster.servers[1]
            assert victim.kill() == -signal.SIGKILL
        else:
            proc_id = submit_once(crash, op)
        wait_halted(crash)
        master = take_over(crash)
        with regent.connect(crash.cluster.master_addresses, timeout=30) as conn:
            admin = conn.admin()
            table = None if op.kind == "server_crash" else TABLE
            found = the_procedure(admin, op.kind, table)  # resumed from its record: known at once
            if step == "submitted":  # it halted before answering: the caller never learned the id
                assert proc_id is None
            assert proc_id in (None, found)
            done = admin.procedure(found).wait(DONE_TIMEOUT_S)
            assert done.state == "SUCCESS"
            check_settled(crash, admin, master, op, op.leaves, found)
            if victim is not None:
                live = {s.server.address for s in admin.cluster_status().servers}
                assert victim.address not in live
    finally:
        crash.cluster.close()


# ---- aborts of a procedure that a master's death interrupted ----


def restart_with_servers_paused(crash: Crash) -> tuple[Master, list[RegionServer]]:
    """A new master on the halted one's port, with every RegionServer paused: it is active (it answers
    admin calls) but cannot take over the regions, so no step of any procedure runs until they resume."""
    servers = [s for s in crash.cluster.servers if s.alive]
    for server in servers:
        server.pause()
    master = crash.cluster.start_master(0)
    master.wait_active(60)
    return master, servers


def abort_then_resume(admin: Admin, proc_id: int, servers: list[RegionServer]) -> None:
    result = admin.abort_procedure(proc_id)
    assert result.rolled_back, result.message
    for server in servers:
        server.resume()
    with pytest.raises(ProcedureAborted):
        admin.procedure(proc_id).wait(DONE_TIMEOUT_S)
    assert admin.get_procedure(proc_id).state == "ROLLED_BACK"


S = RegionState
#: (halt, table state and region states durable at the halt, table state after the rollback); the
#: aborts after "prepare" are marked slow.
ABORTS = [
    pytest.param(halt, at, regions, after, id=name, marks=[pytest.mark.slow] if "prepare" in name else [])
    for name, halt, at, regions, after in (
        ("disable-prepare", "disable_table:prepare", TableState.DISABLING, {S.OPEN}, TableState.ENABLED),
        ("disable-close", "disable_table:close", TableState.DISABLING, {S.CLOSING}, TableState.ENABLED),
        ("enable-prepare", "enable_table:prepare", TableState.ENABLING, {S.CLOSED}, TableState.DISABLED),
        ("enable-assign", "enable_table:assign", TableState.ENABLING, {S.OPENING}, TableState.DISABLED),
    )
]


@pytest.mark.parametrize(("halt", "at_halt", "regions_at_halt", "after"), ABORTS)
def test_a_disable_or_enable_aborted_after_a_master_crash_mid_way_is_rolled_back(
    daemons: Daemons,
    tmp_path: Path,
    halt: str,
    at_halt: TableState,
    regions_at_halt: set[RegionState],
    after: TableState,
) -> None:
    """A disable halted once DISABLING is durable, or once every region's close is; an enable halted once
    ENABLING is, or every region's open: aborted on the next master, it rolls back, and the table ends as it
    was before (ENABLED with every region OPEN and its data kept, or DISABLED with every region CLOSED)."""
    op = OPERATIONS[halt.split(":")[0]]
    crash = start_crash_cluster(daemons, tmp_path / "root", halt, "restart")
    try:
        prepare(crash, op)
        submit_once(crash, op)
        wait_halted(crash)
        meta = read_meta_contents(crash.rootdir)  # nothing writes it now: the master is dead
        assert meta.tables[TABLE].state is at_halt
        assert {r.state for i, r in meta.region_state.items() if i in crash.old_ids} == regions_at_halt
        master, servers = restart_with_servers_paused(crash)
        with regent.connect(crash.cluster.master_addresses, timeout=30) as conn:
            admin = conn.admin()
            proc_id = the_procedure(admin, op.kind, TABLE)
            abort_then_resume(admin, proc_id, servers)
            check_settled(crash, admin, master, op, after, proc_id)
    finally:
        crash.cluster.close()


# ---- a DDL call whose master died before answering ----


def test_a_ddl_call_retried_after_its_master_died_is_submitted_once(daemons: Daemons, tmp_path: Path) -> None:
    """The SDK resends a call that failed with UNAVAILABLE to the next master. A DDL submission whose
    record was durable before its master died must not become a second procedure there."""
    crash = start_crash_cluster(daemons, tmp_path / "root", "disable_table:submitted", "backup")
    try:
        prepare(crash, OPERATIONS["disable_table"])
        with regent.connect(crash.cluster.master_addresses, timeout=60) as conn:
            admin = conn.admin()
            handle = admin.disable_table(TABLE, wait=False)
            wait_halted(crash)
            handle.wait(DONE_TIMEOUT_S)
            kinds = [p.kind for p in admin.list_procedures() if p.table == TABLE]
            assert kinds.count("disable_table") == 1, admin.list_procedures()
    finally:
        crash.cluster.close()
