"""`regent chaos` against a real `regent local` cluster (mutual TLS with the certificates regent local
makes), while the double-service watch (regent.verify.serving, the one `regent verify serving` runs)
samples every RegionServer and a second watch checks, from /proc, that the monkey never leaves fewer than
--min-live RegionServers running and not paused.

The seed of the default-suite run is chosen so that its 30 s plan holds every kind of action the default
policy has, including a pause longer than the lease (the master declares the server dead while it is
stopped), a decommission and recommission, a merge and a split (of the merged region, once its fold is
done: a split refused for its references is a skip, not a failure), on a table with rows in every region
(a split of an empty region has no row to split at). Found with `regent chaos --dry-run` (25 s plans hold
too few actions for 13 kinds). The run's action log must repeat the plan
`--dry-run` printed for the same seed. The slow test runs twice with one seed on two fresh clusters and
compares the logs. Each kind is also exercised on its own, through the registry, with convergence
checked after each.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import regent
from client.connection import Connection
from client.errors import RegentError
from meta import RegionState, references
from meta.references import Reference
from regent import local_state, tls
from regent.chaos.actions import REGISTRY, Step
from regent.chaos.admin_actions import NOT_NOW, serving_regions
from regent.chaos.cluster import ChaosCluster
from regent.chaos.policies import POLICIES
from regent.chaos.runner import replayed
from regent.transport import Transport
from regent.verify import serving
from regionserver.data.environments import region_dir
from tests.background import CheckedSampler
from tests.cluster import wait_until
from tests.failure_helpers import Clusters, DoubleServingWatch
from tests.processes import ProcessGroups, process_state
from tests.test_local import free_base_port

SERVERS = 3
MIN_LIVE = 2
#: The seed and length of the default-suite run (see the module's docstring).
SEED = 11233
DURATION_S = 30
#: A chaos run's bound: the plan's length, the healing and the convergence wait, on a loaded machine.
RUN_TIMEOUT_S = 240


@dataclass
class LocalCluster:
    rootdir: Path
    supervisor: subprocess.Popen[bytes]
    output: Path

    @property
    def state(self) -> local_state.LocalState:
        return local_state.read_state(self.rootdir)

    def connect(self) -> Connection:
        state = self.state
        return regent.connect(state.masters, certs_dir=state.certs_dir, timeout=30.0)

    def transport(self) -> Transport:
        certs = self.state.certs_dir
        assert certs is not None
        return Transport(tls.load(certs, "admin"))


def start_local(processes: ProcessGroups, root: Path, log: Path) -> LocalCluster:
    """`regent local` with 3 RegionServers and a backup master; wait until the master lists every server."""
    argv = [sys.executable, "-m", "regent.cli", "local", "--rootdir", str(root), "--servers", str(SERVERS)]
    argv += ["--backup-masters", "1", "--port", str(free_base_port(SERVERS, 1)), "--no-thrift"]
    with open(log, "wb") as sink:
        process = processes.popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    cluster = LocalCluster(root.resolve(), process, log)
    wait_until(
        lambda: local_state.state_path(cluster.rootdir).exists() or process.poll() is not None,
        30,
        "regent local's state file",
    )
    assert process.poll() is None, log.read_text()
    with cluster.connect() as connection:
        wait_until(
            lambda: len(connection.admin().cluster_status().servers) == SERVERS,
            60,
            f"{SERVERS} live RegionServers",
            context=lambda: log.read_text()[-3000:],
        )
    return cluster


@pytest.fixture
def local(processes: ProcessGroups, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = start_local(processes, tmp_path / "root", tmp_path / "local.out")
    yield cluster
    cluster.supervisor.terminate()
    cluster.supervisor.wait(30)


def chaos(*args: str, timeout: float = RUN_TIMEOUT_S) -> tuple[int, list[dict[str, Any]], str]:
    """Run `regent chaos ARGS`: (exit code, the JSON records on stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "regent.cli", "chaos", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, records, done.stderr


class ServingCheck(CheckedSampler):
    """The double-service watch over the cluster's RegionServers (their addresses never change: a
    restarted daemon listens where the first one did)."""

    name = "serving-check"
    min_rate = 3.0
    min_samples = 6

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__()
        addresses = [d.address for d in cluster.state.of_role("regionserver")]
        self.probe = serving.OnlineProbe(cluster.transport())
        self.watch = serving.ServingWatch(lambda: addresses, self.probe)

    def sample(self) -> int:
        before = self.watch.answers
        self.watch.sample()
        return self.watch.answers - before

    def stop(self) -> None:
        super().stop()
        self.probe.close()

    def verdict(self) -> None:
        assert not self.watch.found, [str(d) for d in self.watch.found[:10]]


class LiveCheck(CheckedSampler):
    """The fewest RegionServers seen in service: running and not stopped (from /proc, by the state file's
    pids) and not decommissioned (as the master last said, asked at most every DECOMMISSIONED_EVERY_S)."""

    name = "live-check"
    min_rate = 5.0
    pause = 0.01
    DECOMMISSIONED_EVERY_S = 0.2

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.fewest = SERVERS
        self.when = ""
        self.connection = cluster.connect()
        self.decommissioned: set[str] = set()
        self._asked = 0.0

    def _decommissioned(self) -> set[str]:
        if time.monotonic() - self._asked >= self.DECOMMISSIONED_EVERY_S:
            self._asked = time.monotonic()
            with contextlib.suppress(RegentError):  # a failover: keep the last answer
                listed = self.connection.admin().list_decommissioned(timeout=0.5)
                self.decommissioned = {d.address for d in listed}
        return self.decommissioned

    def sample(self) -> int:
        out = self._decommissioned()
        try:
            state = self.cluster.state
        except local_state.LocalStateError:
            return 0  # between a rename and the next
        up = 0
        seen = []
        for record in state.of_role("regionserver"):
            state_letter = process_state(record.pid)
            up += state_letter not in (None, "T", "t", "Z", "X") and record.address not in out
            seen.append(f"{record.name} pid {record.pid}: {state_letter or 'gone'}")
        if up < self.fewest:
            self.fewest, self.when = up, f"at {time.time():.3f}: {seen}, decommissioned {sorted(out)}"
        return 1

    def stop(self) -> None:
        super().stop()
        self.connection.close()

    def verdict(self) -> None:
        assert self.fewest >= MIN_LIVE, f"only {self.fewest} RegionServers were in service {self.when}"


def assert_served_once(cluster: LocalCluster) -> None:
    """Every region of every table (but retired split and merge parents) OPEN on a live server, which
    alone says it serves it."""
    probe = serving.OnlineProbe(cluster.transport(), 2.0)
    addresses = [d.address for d in cluster.state.of_role("regionserver")]
    problem = ["nothing checked"]

    def check() -> bool:
        with cluster.connect() as connection:
            admin = connection.admin()
            regions = [r for t in admin.list_tables() for r in serving_regions(admin, t.name)]
        served: dict[int, list[str]] = {}
        for address in addresses:
            for region_id in probe(address) or {}:
                served.setdefault(region_id, []).append(address)
        for r in regions:
            if (
                r.state is not RegionState.OPEN
                or r.server is None
                or served.get(r.region_id) != [r.server.address]
            ):
                problem[0] = (
                    f"region {r.region_id} {r.state.name} on {r.server}, served by {served.get(r.region_id)}"
                )
                return False
        return bool(regions)

    try:
        wait_until(check, 60, "every region OPEN and served once", context=lambda: problem[0])
    finally:
        probe.close()


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_chaos_run_serves_no_region_twice_keeps_min_live_converges_and_replays_its_plan(
    local: LocalCluster, tmp_path: Path
) -> None:
    common = ["--local", str(local.rootdir), "--seed", str(SEED), "--duration", str(DURATION_S)]
    common += ["--min-live", str(MIN_LIVE), "--policy", "default"]
    with local.connect() as connection:
        _, rows = _table_with_rows(connection, 8)
    code, planned, err = chaos(*common, "--dry-run")
    assert code == 0, err
    plan = [r for r in planned if r["event"] == "action" and r["phase"] == "chaos"]
    assert {r["kind"] for r in plan} == set(POLICIES["default"].kinds), plan
    assert any(r["kind"] == "pause_regionserver" and r["params"]["hold_s"] > 4 for r in plan), plan

    with ServingCheck(local) as watch, LiveCheck(local):
        code, records, err = chaos(*common, "--log", str(tmp_path / "chaos.jsonl"))
    assert code == 0, f"{err}\n{records[-3:]}\n{local.output.read_text()[-3000:]}"

    actions = [r for r in records if r["event"] == "action"]
    failed = [r for r in actions if r["outcome"] == "failed"]
    assert not failed, failed
    skipped = [r for r in actions if r["outcome"] == "skipped"]
    assert all(r["detail"]["refused"] in NOT_NOW_NAMES for r in skipped), skipped
    merged = [r for r in actions if r["kind"] == "merge_regions"]
    assert [r["outcome"] for r in merged] == ["ok"], merged  # its regions were idle and fold-free
    assert replayed(records) == replayed(planned)
    assert all(r["running_regionservers"] >= r["in_service_regionservers"] >= MIN_LIVE for r in actions)
    converged = next(r for r in records if r["event"] == "converged")
    assert converged["ok"], converged
    summary = records[-1]
    assert summary["event"] == "summary" and summary["converged"] and summary["actions"] == len(actions)
    assert sum(c["ok"] + c["failed"] for c in summary["by_kind"].values()) == len(actions)
    assert "converged" in err and "kill_active_master" in err  # the table for people
    assert [json.loads(line) for line in (tmp_path / "chaos.jsonl").read_text().splitlines()] == records
    assert watch.watch.answers > 0
    assert_served_once(local)
    with local.connect() as connection:
        assert dict(connection.table("chaos").rows(list(rows))) == rows


#: The names of the refusals a split, a merge or a move may be skipped for (regent.chaos.admin_actions).
NOT_NOW_NAMES = {cls.__name__ for cls in NOT_NOW} | {"TooFewRegions"}


def test_through_the_master_only_a_run_moves_regions_and_changes_families(clusters: Clusters) -> None:
    cluster = clusters.start(servers=2)
    # Seed 200's 6 s plan: a move, a merge of regions #1 and #2, a split of region #2 (the empty last
    # one: no row to split at, so the split is skipped, not failed), a family added, a move.
    with DoubleServingWatch(cluster):
        code, records, err = chaos(
            "--master", cluster.master_addresses, "--policy", "regions", "--duration", "6", "--seed",
            "200", "--regions", "4",
        )  # fmt: skip
    assert code == 0, f"{err}\n{records[-3:]}"
    start = records[0]
    assert start["event"] == "start" and start["model"]["can_signal"] is False
    actions = [r for r in records if r["event"] == "action"]
    assert [r["kind"] for r in actions] == [
        "move_region", "merge_regions", "split_region", "add_family", "move_region"
    ]  # fmt: skip
    assert [r["outcome"] for r in actions] == ["ok", "ok", "skipped", "ok", "ok"], actions
    split = actions[2]
    assert split["detail"]["refused"] == "SplitRefused", split
    assert "no row to split at" in split["detail"]["message"], split
    moved = [r for r in actions if r["kind"] == "move_region"]
    assert all("to" not in r["params"] and r["detail"]["region_id"] for r in moved), moved
    assert records[-1]["converged"] and records[-1]["failed"] == 0, records[-1]
    assert records[-1]["by_kind"]["split_region"] == {"ok": 0, "skipped": 1, "failed": 0}
    assert {f.name for f in cluster.admin.describe_table("chaos").families} >= {"f", "chaos1"}
    regions = serving_regions(cluster.admin, "chaos")
    assert len(regions) == 3 and all(r.state is RegionState.OPEN for r in regions), regions


#: Each exercised on its own in a test of its own (a table with rows to split at).
SPLIT_MERGE = {"split_region", "merge_regions"}


@pytest.mark.timeout(360)
def test_each_action_on_its_own_leaves_the_cluster_healthy(local: LocalCluster) -> None:
    """Every registered kind (but split and merge: next test), one at a time through the registry (as the
    runner calls it), each followed by convergence: every region OPEN on a live server, served there
    only, every running server live."""
    state = local.state
    rs = [f"regionserver #{i}" for i in range(len(state.of_role("regionserver")))]
    steps = [
        Step("kill_regionserver", rs[0]),
        Step("restart_daemon", rs[0]),
        Step("pause_regionserver", rs[1], {"hold_s": 1.0}),  # inside the lease: it lives on
        Step("pause_regionserver", rs[2], {"hold_s": 4.5}),  # past it: declared dead, restarted
        Step("kill_active_master", "active master"),
        Step("restart_daemon", "master"),
        Step("run_balancer", "balancer", {"force": False}),  # the servers restarted above are empty
        Step("move_region", "chaos region #3", {"region_index": 3, "to": rs[1]}),
        Step("decommission_regionserver", rs[2]),
        Step("recommission_regionserver", rs[2]),
        Step("add_family", "chaos1", {"table": "chaos"}),
        Step("modify_family", "f", {"table": "chaos", "max_versions": 4}),
        Step("delete_family", "chaos1", {"table": "chaos"}),
    ]
    assert {s.kind for s in steps} == set(REGISTRY) - SPLIT_MERGE
    with local.connect() as connection, ServingCheck(local):
        admin = connection.admin()
        admin.create_table("chaos", {"f": {}}, num_regions=6)
        cluster = ChaosCluster(connection, local.rootdir, "chaos")
        for step in steps:
            outcome = REGISTRY[step.kind].perform(cluster, step)
            assert outcome.ok, (step, outcome)
            ok, _, problem = cluster.wait_converged(90)
            assert ok, (step, problem)
            if step.kind == "pause_regionserver":
                expected = "lives on" if step.params["hold_s"] < 3 else "declared dead, exited; restarted"
                assert outcome.detail["after_resume"] == expected, outcome
            if step.kind == "run_balancer":
                assert outcome.detail["ran"] and outcome.detail["moves_done"] > 0, outcome
                assert outcome.detail["moves_failed"] == 0, outcome  # (its periodic run is 5 min away)
                counts = [s.region_count for s in admin.cluster_status().servers]
                assert min(counts) > 0, counts  # the empty server got its share
            if step.kind == "decommission_regionserver":
                address = cluster.daemon(rs[2]).address
                offloaded = outcome.detail["regions"]
                assert offloaded > 0 and outcome.detail["moves"] == offloaded, outcome
                assert [d.address for d in admin.list_decommissioned()] == [address]
                assert _regions_at(admin, address) == 0
            if step.kind == "recommission_regionserver":
                assert outcome.detail["moves"] == offloaded, outcome
                assert admin.list_decommissioned() == []
                assert _regions_at(admin, address) == offloaded
        families = {f.name: f for f in admin.describe_table("chaos").families}
    assert set(families) == {"f"} and families["f"].max_versions == 4
    assert_served_once(local)


def _regions_at(admin: Any, address: str) -> int:
    return sum(s.region_count for s in admin.cluster_status().servers if s.server.address == address)


def _table_with_rows(connection: Connection, regions: int = 4) -> tuple[Any, dict[bytes, dict[bytes, bytes]]]:
    """Table chaos of `regions` regions (4: split at row0500, row1000, row1500), with rows in each."""
    rows = {b"row%04d" % i: {b"f:v": b"%d" % i} for i in range(0, 2000, 7)}
    keys = [b"row%04d" % (2000 * i // regions) for i in range(1, regions)]
    connection.admin().create_table("chaos", {"f": {}}, split_keys=keys)
    table = connection.table("chaos")
    with table.batch() as batch:
        for row, data in rows.items():
            batch.put(row, data)
    return table, rows


def _merge(cluster: ChaosCluster, admin: Any) -> None:
    """merge_regions of regions #1 and #2 (of 4), checked, and the cluster converged after it."""
    before = serving_regions(admin, "chaos")
    step = Step("merge_regions", "chaos regions #1 and #2", {"region_index": 1})
    merge = REGISTRY["merge_regions"].perform(cluster, step)
    assert merge.ok, merge
    assert merge.detail["regions"] == [before[1].region_id, before[2].region_id], merge
    ok, _, problem = cluster.wait_converged(90)
    assert ok, problem
    after = serving_regions(admin, "chaos")
    assert [(r.info.start_key, r.info.end_key) for r in after] == [
        (b"", b"row0500"),
        (b"row0500", b"row1500"),
        (b"row1500", b""),
    ]
    assert merge.detail["merged"] == [after[1].region_id], merge


def _split(cluster: ChaosCluster, admin: Any, index: int) -> None:
    """split_region of region #`index`, checked, and the cluster converged after it."""
    before = serving_regions(admin, "chaos")
    step = Step("split_region", f"chaos region #{index}", {"region_index": index})
    split = REGISTRY["split_region"].perform(cluster, step)
    assert split.ok, split
    parent = before[index]
    assert split.detail["region_id"] == parent.region_id, split
    ok, _, problem = cluster.wait_converged(90)
    assert ok, problem
    after = serving_regions(admin, "chaos")
    daughters = [r for r in after if r.region_id in split.detail["daughters"]]
    assert len(after) == len(before) + 1 and len(daughters) == 2, (split, after)
    assert daughters[0].info.start_key == parent.info.start_key
    assert daughters[0].info.end_key == daughters[1].info.start_key
    assert daughters[1].info.end_key == parent.info.end_key


@pytest.mark.timeout(300)
def test_a_merge_on_its_own_leaves_the_cluster_healthy(local: LocalCluster) -> None:
    with local.connect() as connection, ServingCheck(local):
        _table_with_rows(connection)
        _merge(ChaosCluster(connection, local.rootdir, "chaos"), connection.admin())
    assert_served_once(local)


@pytest.mark.timeout(300)
def test_a_split_on_its_own_leaves_the_cluster_healthy(local: LocalCluster) -> None:
    with local.connect() as connection, ServingCheck(local):
        _table_with_rows(connection)
        cluster, admin = ChaosCluster(connection, local.rootdir, "chaos"), connection.admin()
        # A region that still references a parent's store (as a child whose fold has not finished) is
        # refused by the master: the action is skipped with the refusal, not failed.
        store = region_dir(local.rootdir, "chaos", serving_regions(admin, "chaos")[1].region_id)
        references.write(store, [Reference(10**6, b"row0500", b"row1000")])
        step = Step("split_region", "chaos region #1", {"region_index": 1})
        refused = REGISTRY["split_region"].perform(cluster, step)
        assert refused.label == "skipped" and refused.detail["refused"] == "RegionHasReferences", refused
        references.remove(store)
        _split(cluster, admin, 1)
    assert_served_once(local)


@pytest.mark.timeout(300)
def test_every_row_stays_readable_across_a_merge_and_a_split(local: LocalCluster) -> None:
    with local.connect() as connection:
        table, rows = _table_with_rows(connection)
        cluster = ChaosCluster(connection, local.rootdir, "chaos")
        _merge(cluster, connection.admin())
        assert dict(table.rows(list(rows))) == rows
        # The merged child can split once its fold has copied its parents' cells (a region that still
        # references a parent's store is refused): wait for its REFERENCES file to go.
        child = serving_regions(connection.admin(), "chaos")[1].region_id
        wait_until(
            lambda: references.read(region_dir(local.rootdir, "chaos", child)) is None or None,
            60,
            f"the fold of merged region {child}",
        )
        _split(cluster, connection.admin(), 1)
        assert dict(table.rows(list(rows))) == rows


def test_ctrl_c_ends_the_chaos_then_the_run_heals_and_converges(
    local: LocalCluster, processes: ProcessGroups, tmp_path: Path
) -> None:
    # Seed 4 of policy servers kills regionserver #1 at 2.9 s and #0 at 6.9 s, of a 60 s plan.
    log = tmp_path / "chaos.jsonl"
    argv = [sys.executable, "-m", "regent.cli", "chaos", "--local", str(local.rootdir), "--policy", "servers"]
    argv += ["--seed", "4", "--duration", "60", "--min-live", "1", "--log", str(log)]
    with open(tmp_path / "chaos.err", "wb") as err:
        run = processes.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    wait_until(lambda: any(r.get("kind") == "kill_regionserver" for r in records()), 60, "the first kill")
    run.send_signal(signal.SIGINT)
    assert run.wait(120) == 0, (tmp_path / "chaos.err").read_text()
    done = records()
    chaos_phase = [r for r in done if r.get("phase") == "chaos"]
    healed = [r for r in done if r.get("phase") == "heal"]
    assert len(chaos_phase) < 4 and all(r["outcome"] == "ok" for r in chaos_phase + healed), done
    killed = {r["target"] for r in chaos_phase if r["kind"] == "kill_regionserver"}
    assert {r["target"] for r in healed} == killed and all(r["kind"] == "restart_daemon" for r in healed)
    assert done[-1]["event"] == "summary" and done[-1]["converged"]
    assert "interrupted: healing" in (tmp_path / "chaos.err").read_text()
    assert all(d.running for d in local.state.daemons)
    assert_served_once(local)


def test_bad_arguments_are_refused_with_a_clear_line(tmp_path: Path) -> None:
    cases: list[tuple[list[str], int, str]] = [
        (["--policy", "nope"], 2, "invalid choice: 'nope'"),
        (["--duration", "0"], 2, "expected a positive duration"),
        (["--duration", "soon"], 2, "expected a positive duration"),
        (["--min-live", "-1"], 2, "expected a whole number >= 0"),
        (["--start", "3", "--min-live", "4"], 2, "--min-live 4 is more than the 3 RegionServers"),
        (["--local", str(tmp_path), "--start", "2"], 2, "not allowed with argument"),
        (["--local", str(tmp_path)], 4, f"no local.json in {tmp_path}"),
        (["--master", "127.0.0.1:1", "--insecure", "--policy", "servers"], 2, "only signals processes"),
    ]
    for args, expected, message in cases:
        code, records, err = chaos(*args, timeout=60)
        assert (code, records) == (expected, []), (args, code, err)
        assert message in err, (args, err)
        assert "Traceback" not in err, err


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_runs_from_one_seed_on_fresh_clusters_take_the_same_actions(tmp_path: Path) -> None:
    logs = []
    for run in range(2):
        code, records, err = chaos(
            "--start", "3", "--seed", "1234", "--duration", "60", "--min-live", "2", timeout=600
        )
        assert code == 0, f"run {run}: {err}\n{records[-3:]}"
        assert records[-1]["converged"], records[-2:]
        logs.append(records)
    assert replayed(logs[0]) == replayed(logs[1])
    assert len(replayed(logs[0])) > 10
