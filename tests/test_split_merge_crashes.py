"""Split and merge across a master crash: the active master SIGKILLs itself right after each persisted step
of split_region and merge_regions in turn (REGENT_HALT_AFTER, master.procedures.executor), a backup takes
over or a new master starts on the same ROOTDIR (alternating), and the procedure must end with either the
parents serving (rolled back) or every child serving (done), never both and never neither, with meta's
rows agreeing with the master and no store directory left that belongs to no region.

An abort after a crash before the point of no return rolls back: the parent serves again, the daughters'
directories (with their REFERENCES files) are gone. The cases of the default suite are a few; the rest
are marked slow (`make test-all` runs them).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import regent
from master.procedures import KINDS, ProcState
from meta import RegionState, references
from tests.background import CheckedThread
from tests.cluster import Daemons, wait_until
from tests.failure_helpers import read_meta_contents
from tests.test_procedure_crashes import (
    TABLE,
    Crash,
    SingleAttempt,
    abort_then_resume,
    restart_with_servers_paused,
    start_crash_cluster,
    take_over,
    wait_halted,
)

S = RegionState
STEPS = ("submitted", "prepare", "close", "wait_closed", "references", "commit", "open", "finish")
FAST = {("split_region", "commit"), ("merge_regions", "references")}
DONE_TIMEOUT_S = 90.0


def test_the_cases_cover_every_persisted_step_of_split_and_merge() -> None:
    for kind in ("split_region", "merge_regions"):
        forward = [s for s in KINDS[kind].STEPS if not s.startswith("rb_")]
        assert set(STEPS) == {"submitted", *forward}, kind


def _cases() -> Iterator[Any]:
    for kind in ("split_region", "merge_regions"):
        for i, step in enumerate(STEPS):
            takeover = "restart" if i % 2 else "backup"
            marks = () if (kind, step) in FAST else (pytest.mark.slow,)
            yield pytest.param(kind, step, takeover, id=f"{kind}:{step}-{takeover}", marks=marks)


def prepare(crash: Crash, kind: str) -> tuple[list[int], list[Any]]:
    """The table with rows in every region; returns the parents' ids and the table's regions."""
    admin = crash.cluster.admin
    admin.create_table(TABLE, ["f"], split_keys=[b"g", b"p"], timeout=60)
    regions = crash.cluster.wait_open(TABLE, 3)
    with regent.connect(crash.cluster.master_addresses, timeout=30) as conn:
        table = conn.table(TABLE)
        for row in (b"a", b"h", b"q"):
            table.put(row, {b"f:q": b"v-" + row})
    parents = [regions[0].region_id] if kind == "split_region" else [r.region_id for r in regions[:2]]
    return parents, regions


class Traffic:
    """Writes and reads that run through a whole crash case: each writer round puts one new row and reads
    back an earlier acknowledged one. Every put that returned is acknowledged; after the case, every
    acknowledged row must be readable with its value, and no call may have failed (each has a deadline
    longer than a takeover)."""

    def __init__(self, masters: str) -> None:
        self._conn = regent.connect(masters, timeout=60)
        self._table = self._conn.table(TABLE)
        self.acked: list[bytes] = []
        self._stop = threading.Event()
        self._thread = CheckedThread(self._run, name="split-traffic")

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            row = b"w%06d" % i
            self._table.put(row, {b"f:q": row})
            self.acked.append(row)
            earlier = self.acked[(i * 7919) % len(self.acked)]
            assert self._table.row(earlier) == {b"f:q": earlier}, f"acknowledged row {earlier!r} unreadable"
            i += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self._thread.finish(90)
        finally:
            self._conn.close()

    def check(self, masters: str) -> None:
        """Every acknowledged row is there, read by a scan (each row once: no region served it twice)."""
        with regent.connect(masters, timeout=60) as conn:
            rows = [key for key, _ in conn.table(TABLE).scan(row_start=b"w", row_stop=b"x")]
        assert len(rows) == len(set(rows)), "a row came back twice"
        missing = sorted(set(self.acked) - set(rows))
        assert not missing, f"{len(missing)} acknowledged rows lost, first {missing[:5]}"
        assert len(self.acked) > 0, "no write was acknowledged"


def submit_once(crash: Crash, kind: str, parents: list[int]) -> int | None:
    import grpc

    with SingleAttempt(crash.halting.address) as conn:
        admin = conn.admin()
        try:
            if kind == "split_region":
                (proc_id,) = admin.split(parents[0], b"c", wait=False)
                return int(proc_id)
            return int(admin.merge(parents, wait=False))
        except grpc.RpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc
            return None


def the_procedure(admin: Any, kind: str) -> int:
    found = [p for p in admin.list_procedures() if p.kind == kind]
    assert len(found) == 1, f"expected one {kind} procedure, the master knows {found}"
    return int(found[0].proc_id)


def check_outcome(crash: Crash, admin: Any, parents: list[int], done: bool) -> None:
    """Either every parent serves and no child exists (not done), or every parent is retired and every child
    serves (done); each online region served by exactly the server meta names; meta agrees."""
    problem = ["nothing checked yet"]

    def settled() -> list[Any] | None:
        status = admin.cluster_status(timeout=10)
        if status.regions_in_transition:
            problem[0] = f"in transition: {status.regions_in_transition}"
            return None
        regions = admin.table_regions(TABLE, timeout=10)
        served = crash.cluster.served()
        for r in regions:
            want = [] if r.info.offline else [r.server.address] if r.server else ["(none)"]
            if (
                r.proc_id
                or (not r.info.offline and r.state is not S.OPEN)
                or served.get(r.region_id, []) != want
            ):
                problem[0] = f"region {r.region_id} {r.state.name} proc {r.proc_id}: served by " + str(
                    served.get(r.region_id)
                )
                return None
        return regions

    regions = wait_until(settled, 60, "every region settled and served once", context=lambda: problem[0])
    by_id = {r.region_id: r for r in regions}
    retired = S.SPLIT if len(parents) == 1 else S.MERGED
    if done:
        children = by_id[parents[0]].info.children
        assert children and all(by_id[p].state is retired for p in parents)
        assert all(by_id[c].state is S.OPEN for c in children)
    else:
        assert all(by_id[p].state is S.OPEN and not by_id[p].info.children for p in parents)
        assert len(regions) == 3
    online = sorted((r for r in regions if not r.info.offline), key=lambda r: r.info.start_key)
    assert online[0].info.start_key == b"" and online[-1].info.end_key == b""
    for before, after in itertools.pairwise(online):
        assert before.info.end_key == after.info.start_key, (before, after)  # no hole, no overlap
    master = crash.cluster.active_master()
    assert master is not None
    master.pause()
    try:
        meta = read_meta_contents(crash.rootdir)
    finally:
        master.resume()
    assert {i for i, info in meta.regions.items() if info.table == TABLE} == set(by_id)
    for r in regions:
        row = meta.region_state[r.region_id]
        assert (row.state, row.server, row.proc_id) == (r.state, r.server, r.proc_id), (r, row)
        assert meta.regions[r.region_id] == r.info
    assert not [p for p in meta.procedures.values() if p.state == ProcState.RUNNABLE]
    table_dir = crash.rootdir / "data" / TABLE
    dirs = {int(n.name) for n in table_dir.iterdir()} if table_dir.exists() else set()
    assert dirs <= set(by_id), f"store directories of no region: {sorted(dirs - set(by_id))}"


@pytest.mark.parametrize(("kind", "step", "takeover"), list(_cases()))
def test_a_split_or_merge_halted_after_a_step_ends_on_the_next_master(
    daemons: Daemons, tmp_path: Path, kind: str, step: str, takeover: str
) -> None:
    crash = start_crash_cluster(daemons, tmp_path / "root", f"{kind}:{step}", takeover)
    try:
        parents, _ = prepare(crash, kind)
        masters = crash.cluster.master_addresses
        with Traffic(masters) as traffic:  # writes and reads through the whole case
            wait_until(lambda: len(traffic.acked) >= 20 or None, 60, "the traffic's first writes")
            proc_id = submit_once(crash, kind, parents)
            wait_halted(crash)
            take_over(crash)
            with regent.connect(masters, timeout=30) as conn:
                admin = conn.admin()
                found = the_procedure(admin, kind)
                assert proc_id in (None, found)
                assert admin.procedure(found).wait(DONE_TIMEOUT_S).state == "SUCCESS"
                check_outcome(crash, admin, parents, done=True)
            written = len(traffic.acked)
            wait_until(lambda: len(traffic.acked) >= written + 20 or None, 60, "writes after the outcome")
        traffic.check(masters)
    finally:
        crash.cluster.close()


@pytest.mark.parametrize("step", ["close", pytest.param("references", marks=pytest.mark.slow)])
def test_a_split_aborted_after_a_master_crash_before_its_point_of_no_return_gives_the_parent_back(
    daemons: Daemons, tmp_path: Path, step: str
) -> None:
    crash = start_crash_cluster(daemons, tmp_path / "root", f"split_region:{step}", "restart")
    try:
        parents, _ = prepare(crash, "split_region")
        submit_once(crash, "split_region", parents)
        wait_halted(crash)
        meta = read_meta_contents(crash.rootdir)
        assert meta.region_state[parents[0]].state is (S.CLOSING if step == "close" else S.CLOSED)
        _, servers = restart_with_servers_paused(crash)
        with regent.connect(crash.cluster.master_addresses, timeout=30) as conn:
            admin = conn.admin()
            proc_id = the_procedure(admin, "split_region")
            abort_then_resume(admin, proc_id, servers)
            check_outcome(crash, admin, parents, done=False)
            table_dir = crash.rootdir / "data" / TABLE
            for entry in table_dir.iterdir():
                assert references.read(entry) is None, f"{entry} still has a REFERENCES file"
    finally:
        crash.cluster.close()
