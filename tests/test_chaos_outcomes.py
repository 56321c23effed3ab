"""How the chaos monkey counts what its split, merge and move actions met (regent.chaos.admin_actions,
regent.chaos.cluster, regent.chaos.runner): a refusal the cluster was right to make now is "skipped" with
its name and message; anything else that went wrong is "failed", and the summary says how many.

No cluster here: the actions are given an admin that answers as the master would (its named errors), so
that each refusal is checked in milliseconds. The real runs, where the master itself refuses, are in
tests/test_chaos.py (a split of an empty region, of a region with a REFERENCES file).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from client.errors import (
    MasterUnavailable,
    ProcedureAborted,
    ProcedureTimeout,
    RegentError,
    RegionHasReferences,
    RegionInTransition,
    SplitRefused,
    TableLocked,
)
from client.types import RegionLocation
from meta import RegionInfo, RegionState, ServerName
from regent.chaos import admin_actions
from regent.chaos.actions import REGISTRY, Outcome, Step
from regent.chaos.cluster import ChaosCluster
from regent.chaos.model import Limits, Model
from regent.chaos.policies import POLICIES, Policy
from regent.chaos.runner import RunConfig, Runner

SERVER = ServerName("127.0.0.1", 16020, 1)


def _regions() -> list[RegionLocation]:
    keys = [b"", b"g", b"p", b""]
    return [
        RegionLocation(RegionInfo(i + 1, "t", keys[i], keys[i + 1]), RegionState.OPEN, SERVER, 0)
        for i in range(3)
    ]


class Admin:
    """Answers table_regions with three OPEN regions; split, merge and move raise `error` if set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    def table_regions(self, table: str, timeout: float | None = None) -> list[RegionLocation]:
        return _regions()

    def _call(self) -> None:
        if self.error is not None:
            raise self.error

    def split(self, region: int, timeout: float | None = None) -> list[int]:
        self._call()
        return [7]

    def merge(self, region_ids: list[int], timeout: float | None = None) -> int:
        self._call()
        return 8

    def move(self, region: int, destination: str | None, timeout: float | None = None) -> None:
        self._call()

    def get_region(self, region: int, timeout: float | None = None) -> RegionLocation:
        return _regions()[0]


def _cluster(error: BaseException | None = None) -> Any:
    cluster = ChaosCluster.__new__(ChaosCluster)
    cluster.admin = Admin(error)  # type: ignore[assignment]
    cluster.table = "t"
    return cluster


ACTIONS: dict[str, Callable[[Any], Outcome]] = {
    "split": lambda c: admin_actions.split(c, 1),
    "merge": lambda c: admin_actions.merge(c, 0),
    "move": lambda c: c.move(1, None),
}


@pytest.mark.parametrize("action", ["split", "merge"])
@pytest.mark.parametrize(
    "error",
    [
        RegionHasReferences("region 2 still references its parent's store (REFERENCES in /x/2)"),
        SplitRefused("region 2: its RegionServer gave no split point: region 2 has no row to split at"),
        RegionInTransition("region 2 is under procedure 5"),
        TableLocked("table 't' is locked by procedure 4 (modify_table)"),
    ],
    ids=type,
)
def test_a_split_or_merge_the_cluster_refuses_now_is_skipped_with_the_reason(
    action: str, error: RegentError
) -> None:
    outcome = ACTIONS[action](_cluster(error))
    assert outcome.ok and outcome.skipped and outcome.label == "skipped", outcome
    assert outcome.detail["refused"] == type(error).__name__
    assert outcome.detail["message"] == str(error)


@pytest.mark.parametrize("action", ["split", "merge", "move"])
@pytest.mark.parametrize(
    "error",
    [
        ProcedureTimeout("procedure 7 had not finished after 60 s"),
        ProcedureAborted("procedure 7 rolled back", proc_id=7, state="ROLLED_BACK"),
        MasterUnavailable("no active master answered"),
        RegentError("UNAVAILABLE: connection reset"),
    ],
    ids=type,
)
def test_a_split_merge_or_move_that_goes_wrong_otherwise_fails(action: str, error: RegentError) -> None:
    outcome = ACTIONS[action](_cluster(error))
    assert not outcome.ok and outcome.label == "failed", outcome
    assert outcome.detail["error"] == type(error).__name__


def test_a_move_of_a_region_in_transition_is_skipped() -> None:
    outcome = _cluster(RegionInTransition("region 2 is under procedure 5"))
    moved = outcome.move(1, None)
    assert moved.label == "skipped" and moved.detail["refused"] == "RegionInTransition", moved
    assert moved.detail["region_id"] == 2, moved


def test_a_merge_when_fewer_than_two_regions_serve_is_skipped() -> None:
    cluster = _cluster()
    cluster.admin.table_regions = lambda table, timeout=None: _regions()[:1]
    outcome = admin_actions.merge(cluster, 0)
    assert outcome.label == "skipped" and outcome.detail["refused"] == "TooFewRegions", outcome


def test_the_runner_logs_and_counts_ok_skipped_and_failed_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter(
        [Outcome(True), Outcome(True, {"refused": "RegionHasReferences"}, skipped=True), Outcome(False)]
    )
    monkeypatch.setattr(REGISTRY["split_region"], "perform", lambda cluster, step: next(outcomes))
    policy = Policy("splits", "splits only", (("split_region", 1),), (1.0, 1.0))
    model = Model((), (), "t", 3, ("f",), can_signal=False)
    cluster = _cluster()
    cluster.stop = threading.Event()
    cluster.wait_converged = lambda timeout: (True, 0.0, None)
    cluster.resume_all = lambda: None
    records: list[dict[str, Any]] = []
    runner = Runner(cluster, model, RunConfig(1, policy, 3.5, Limits(0)), records.append)
    runner._started = 0.0
    monkeypatch.setattr("regent.chaos.runner.time.monotonic", _clock())
    summary = runner.run()
    actions = [r for r in records if r["event"] == "action"]
    assert [r["outcome"] for r in actions] == ["ok", "skipped", "failed"]
    assert records[-1]["by_kind"] == {"split_region": {"ok": 1, "skipped": 1, "failed": 1}}
    assert records[-1]["failed"] == 1 == summary.failed
    assert "skipped" in summary.table().splitlines()[0]


def _clock() -> Callable[[], float]:
    """A clock that runs 10 s a call, so the runner never waits for an action's time."""
    now = [0.0]

    def monotonic() -> float:
        now[0] += 10.0
        return now[0]

    return monotonic


def test_split_and_merge_are_in_the_policies_that_change_regions_only() -> None:
    for name, policy in POLICIES.items():
        has = {"split_region", "merge_regions"} <= set(policy.kinds)
        assert has == (name in ("default", "regions")), name
    assert Step("split_region", "t region #0").kind in REGISTRY
