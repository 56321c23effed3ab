"""The chaos actions carried out through the master's Admin calls alone: run the balancer, decommission and
recommission a RegionServer, split a region, merge two adjacent ones. Each waits (on conditions, with
deadlines) until what it started has finished, and returns an Outcome; none raises for what the cluster
does.

Regions are taken in key order among those that serve the table: a split or merged parent stays in meta
(SPLIT or MERGED, offline) until the catalog janitor removes it, and is no region to act on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from client import Admin
from client.errors import (
    MergeDisabled,
    RegentError,
    RegionHasReferences,
    RegionInTransition,
    SplitDisabled,
    SplitRefused,
    TableLocked,
)
from client.types import RegionLocation
from meta.states import RegionState
from regent import local_state
from regent.chaos.actions import Outcome

if TYPE_CHECKING:
    from regent.chaos.cluster import ChaosCluster

T = TypeVar("T")


def failed(exc: BaseException) -> Outcome:
    return Outcome(False, {"error": type(exc).__name__, "message": " ".join(str(exc).split())[:500]})


#: What a split or merge may rightly be refused for now, as the cluster stands: a region whose fold has
#: not finished (docs/split_merge_contract.md), one with no row to split at, one in transition (moved,
#: reopened, split by another action), a table procedure holding the table, a switch off. HBase's
#: SplitRandomRegionOfTableAction and MergeRandomAdjacentRegionsOfTableAction log such refusals and go
#: on; so does the monkey (outcome "skipped"). Anything else (a procedure that failed or did not finish,
#: no master) is a failure.
NOT_NOW: tuple[type[RegentError], ...] = (
    RegionHasReferences,
    SplitRefused,
    RegionInTransition,
    TableLocked,
    SplitDisabled,
    MergeDisabled,
)


def refused(exc: RegentError, detail: dict[str, Any] | None = None) -> Outcome:
    """A refusal of NOT_NOW: skipped, with its name and message."""
    message = " ".join(str(exc).split())[:500]
    return Outcome(True, {**(detail or {}), "refused": type(exc).__name__, "message": message}, skipped=True)


#: How long a balancer run's moves, an offload, or a split or merge may take.
ACTION_S = 60.0
#: States of a parent that a split or merge has retired (kept in meta for the janitor).
RETIRED = frozenset({RegionState.SPLIT, RegionState.MERGED})


def serving_regions(admin: Admin, table: str, timeout: float = ACTION_S) -> list[RegionLocation]:
    """The table's regions in key order, without the parents splits and merges retired."""
    return [
        loc
        for loc in admin.table_regions(table, timeout=timeout)
        if loc.state not in RETIRED and not loc.info.split and not loc.info.offline
    ]


def _wait(cluster: ChaosCluster, predicate: Callable[[], T | None], timeout: float = ACTION_S) -> T | None:
    """`predicate()`'s first true value, or None at the deadline (an admin error counts as not yet)."""

    def asked() -> T | None:
        try:
            return predicate()
        except RegentError:
            return None

    return cluster._wait(asked, timeout)


# ---- the balancer ----


def balance(cluster: ChaosCluster, force: bool) -> Outcome:
    """admin.balance(force=...), then wait until that run has carried out its moves. A run the master
    skips (switched off, regions in transition when not forced, a run still moving) is an ok outcome that
    says why: the monkey asked, the master decided."""
    started = time.monotonic()
    try:
        run = cluster.admin.balance(force=force, timeout=ACTION_S)
    except RegentError as exc:
        return failed(exc)
    detail: dict[str, Any] = {"ran": run.ran, "reason": run.reason, "planned": run.planned}
    if not run.ran or run.finished:
        return Outcome(True, {**detail, "took_s": round(time.monotonic() - started, 3)})

    def finished() -> Any:
        last = cluster.admin.balancer_status(timeout=10.0).last_run
        return last if last is not None and last.started_ms == run.started_ms and last.finished else None

    last = _wait(cluster, finished)
    if last is None:
        return Outcome(
            False, {**detail, "error": "MovesNotFinished", "message": f"not within {ACTION_S:g} s"}
        )
    detail.update(moves_done=last.moves_done, moves_failed=last.moves_failed)
    return Outcome(True, {**detail, "took_s": round(time.monotonic() - started, 3)})


# ---- decommission ----


def _address(cluster: ChaosCluster, target: str) -> str:
    return cluster.daemon(target).address


def _regions_on(cluster: ChaosCluster, address: str) -> list[int]:
    return [
        loc.region_id
        for table in cluster.admin.list_tables(timeout=10.0)
        for loc in cluster.admin.table_regions(table.name, timeout=10.0)
        if loc.server is not None and loc.server.address == address and loc.state is RegionState.OPEN
    ]


def decommission(cluster: ChaosCluster, target: str) -> Outcome:
    """Decommission RegionServer `target` with offload; wait until it holds no region. The regions it
    held are remembered for the recommission (as HBase's region mover unloads and loads back)."""
    started = time.monotonic()
    try:
        address = _address(cluster, target)
        held = _regions_on(cluster, address)
        moves = cluster.admin.decommission([address], offload=True, timeout=ACTION_S)
    except (RegentError, ValueError, local_state.LocalStateError) as exc:
        return failed(exc)
    cluster.offloaded[address] = held
    detail: dict[str, Any] = {"address": address, "regions": len(held), "moves": moves}

    def emptied() -> bool:
        status = cluster.admin.cluster_status(timeout=10.0)
        return not any(s.region_count for s in status.servers if s.server.address == address)

    if not _wait(cluster, emptied):
        return Outcome(
            False, {**detail, "error": "NotEmptied", "message": f"regions left after {ACTION_S:g} s"}
        )
    return Outcome(True, {**detail, "took_s": round(time.monotonic() - started, 3)})


def recommission(cluster: ChaosCluster, target: str) -> Outcome:
    """Recommission RegionServer `target` (its live incarnation), moving back the regions offloaded from
    it that are still OPEN; wait until those moves are done."""
    started = time.monotonic()
    try:
        address = _address(cluster, target)
        wanted = set(cluster.offloaded.get(address, ()))
        back = [
            loc.region_id
            for table in cluster.admin.list_tables(timeout=10.0)
            for loc in cluster.admin.table_regions(table.name, timeout=10.0)
            if loc.region_id in wanted and loc.state is RegionState.OPEN and not loc.proc_id
        ]
        moves = cluster.admin.recommission(address, back, timeout=ACTION_S)
    except (RegentError, ValueError, local_state.LocalStateError) as exc:
        return failed(exc)
    cluster.offloaded.pop(address, None)
    detail: dict[str, Any] = {"address": address, "moves": moves}

    def moved_back() -> bool:
        return set(_regions_on(cluster, address)) >= set(back) or _gone(cluster, set(back))

    if moves and not _wait(cluster, moved_back):
        return Outcome(False, {**detail, "error": "NotMovedBack", "message": f"not within {ACTION_S:g} s"})
    return Outcome(True, {**detail, "took_s": round(time.monotonic() - started, 3)})


def _gone(cluster: ChaosCluster, ids: set[int]) -> bool:
    """Some region of `ids` is no longer OPEN (split, merged, moved by another action): do not wait for
    it; the convergence check at the end is what judges the cluster."""
    states = {
        loc.region_id: loc.state
        for table in cluster.admin.list_tables(timeout=10.0)
        for loc in cluster.admin.table_regions(table.name, timeout=10.0)
        if loc.region_id in ids
    }
    return any(states.get(i) is not RegionState.OPEN for i in ids)


# ---- split and merge ----


def split(cluster: ChaosCluster, region_index: int) -> Outcome:
    """Split serving region #`region_index` (modulo their count) of the table at its middle row."""
    started = time.monotonic()
    try:
        regions = serving_regions(cluster.admin, cluster.table)
        if not regions:
            return Outcome(False, {"error": "NoRegions", "message": f"table {cluster.table} has none"})
        parent = regions[region_index % len(regions)]
    except (RegentError, ValueError) as exc:
        return failed(exc)
    try:
        proc_ids = cluster.admin.split(parent.region_id, timeout=ACTION_S)
        after = serving_regions(cluster.admin, cluster.table)
    except NOT_NOW as exc:
        return refused(exc, {"region_id": parent.region_id})
    except (RegentError, ValueError) as exc:
        return failed(exc)
    daughters = [loc.region_id for loc in after if _within(loc, parent)]
    return Outcome(
        True,
        {
            "region_id": parent.region_id,
            "proc_ids": list(proc_ids),
            "daughters": daughters,
            "regions_after": len(after),
            "took_s": round(time.monotonic() - started, 3),
        },
    )


def merge(cluster: ChaosCluster, region_index: int) -> Outcome:
    """Merge serving regions #k and #k+1 (k = `region_index` modulo their count less one) of the table."""
    started = time.monotonic()
    try:
        regions = serving_regions(cluster.admin, cluster.table)
        if len(regions) < 2:  # the model counted splits that were refused: nothing to merge
            message = f"table {cluster.table} serves {len(regions)} region(s)"
            return Outcome(True, {"refused": "TooFewRegions", "message": message}, skipped=True)
        k = region_index % (len(regions) - 1)
        a, b = regions[k], regions[k + 1]
    except (RegentError, ValueError) as exc:
        return failed(exc)
    try:
        proc_id = cluster.admin.merge([a.region_id, b.region_id], timeout=ACTION_S)
        after = serving_regions(cluster.admin, cluster.table)
    except NOT_NOW as exc:
        return refused(exc, {"regions": [a.region_id, b.region_id]})
    except (RegentError, ValueError) as exc:
        return failed(exc)
    merged = [
        loc.region_id
        for loc in after
        if loc.info.start_key == a.info.start_key and loc.info.end_key == b.info.end_key
    ]
    return Outcome(
        True,
        {
            "regions": [a.region_id, b.region_id],
            "proc_id": proc_id,
            "merged": merged,
            "regions_after": len(after),
            "took_s": round(time.monotonic() - started, 3),
        },
    )


def _within(loc: RegionLocation, parent: RegionLocation) -> bool:
    start, end = parent.info.start_key, parent.info.end_key
    return (
        loc.region_id != parent.region_id
        and start <= loc.info.start_key
        and (not end or (loc.info.end_key != b"" and loc.info.end_key <= end))
    )


__all__ = [
    "NOT_NOW",
    "RETIRED",
    "balance",
    "decommission",
    "merge",
    "recommission",
    "refused",
    "serving_regions",
    "split",
]
