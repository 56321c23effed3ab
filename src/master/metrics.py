"""The master's Prometheus metrics (served at /metrics by master.http).

One registry per master process (REGISTRY). Two kinds of metric:
- counters and histograms that the master's code moves as things happen, once per batch or per call (never
  per region): the functions below are what it calls;
- gauges read from the master's state when Prometheus scrapes (MasterCollector): regions by state, regions
  in transition, servers, epoch. They cost nothing between scrapes.

Names follow Prometheus' practice (regent_master_<what>_<unit>); labels are small fixed sets (state, kind,
code, method, op), never a region, a row or a client. docs/operations.md lists every metric.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meta import RegionState

if TYPE_CHECKING:
    from master.daemon import Master

REGISTRY = CollectorRegistry(auto_describe=True)

#: Regions in transition longer than this are counted (and marked on the status page): HBase's warning.
RIT_THRESHOLD_S = 60.0

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ROWS = (1, 10, 100, 1_000, 10_000, 100_000)
_PROCEDURE = (0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

REGION_OPS = Counter(
    "regent_master_region_operations",
    "Region transitions submitted, by operation (assign, unassign, move, open, close); per batch",
    ["op"],
    registry=REGISTRY,
)
REGION_OP_FAILURES = Counter(
    "regent_master_region_operation_failures",
    "Region operations that failed: refused requests (assign, unassign, move) and FAILED_OPEN reports (open)",
    ["op"],
    registry=REGISTRY,
)
REGION_OP_SECONDS = Histogram(
    "regent_master_region_operation_seconds",
    "Time from an open or close order to its reported outcome, sampled once per reported batch "
    "(its first region); for assign, unassign, move: the time the master took to accept the request",
    ["op"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "regent_master_region_transitions",
    "Region state changes committed to meta (region_state rows written)",
    registry=REGISTRY,
)
META_COMMITS = Histogram(
    "regent_master_meta_commit_seconds",
    "Duration of one group commit of meta (the write transaction and its fsync)",
    buckets=_LATENCY,
    registry=REGISTRY,
)
META_COMMIT_ROWS = Histogram(
    "regent_master_meta_commit_rows",
    "Rows written by one group commit of meta (the batch size)",
    buckets=_ROWS,
    registry=REGISTRY,
)
HEARTBEATS = Counter(
    "regent_master_heartbeats", "RegionServer heartbeats received (RegionServerReport)", registry=REGISTRY
)
PROCEDURES_FINISHED = Histogram(
    "regent_master_procedure_seconds",
    "Duration of finished procedures (table DDL, server crash recovery), by kind and outcome",
    ["kind", "state"],
    buckets=_PROCEDURE,
    registry=REGISTRY,
)


transitions_total = 0  # the same count as TRANSITIONS, for the status page's chart


def transitions_committed(rows: int) -> None:
    """A batch of `rows` region_state rows became durable."""
    global transitions_total
    transitions_total += rows
    TRANSITIONS.inc(rows)


def meta_committed(seconds: float, rows: int) -> None:
    """One group commit of meta (master.daemon hands this to the MetaWriter)."""
    META_COMMITS.observe(seconds)
    META_COMMIT_ROWS.observe(rows)


def procedure_finished(kind: str, state: str, seconds: float) -> None:
    PROCEDURES_FINISHED.labels(kind, state).observe(seconds)


_op_children: dict[str, tuple[Counter, Histogram]] = {}


def region_op(op: str, count: int, seconds: float | None = None) -> None:
    """`count` region operations of one kind submitted (or reported), and one duration sample."""
    children = _op_children.get(op)
    if children is None:
        children = _op_children[op] = (REGION_OPS.labels(op), REGION_OP_SECONDS.labels(op))
    children[0].inc(count)
    if seconds is not None:
        children[1].observe(seconds)


_REPORTED = {1: "open", 2: "open", 3: "close"}  # TransitionCode: OPENED, FAILED_OPEN, CLOSED


def reported(code: int, count: int, first_stamp: float | None) -> None:
    """A batch of `count` outcomes of one code from a RegionServer; `first_stamp` is the monotonic time of
    its first region's order (the one duration sampled per batch)."""
    op = _REPORTED.get(code)
    if op is None:
        return
    seconds = None if first_stamp is None else max(0.0, time.monotonic() - first_stamp)
    region_op(op, count, seconds)
    if code == 2:
        region_op_failed("open", count)


@contextlib.contextmanager
def region_request(op: str) -> Iterator[None]:
    """An operator's assign, unassign or move: counted, timed, and counted as failed if refused."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        region_op_failed(op)
        raise
    region_op(op, 1, time.perf_counter() - started)


def region_op_failed(op: str, count: int = 1) -> None:
    REGION_OP_FAILURES.labels(op).inc(count)


class MasterCollector(Collector):
    """Gauges read from the master's state at scrape time (see the module doc)."""

    def __init__(self, master: Master) -> None:
        self.master = master

    def collect(self) -> Iterator[Metric]:
        m = self.master
        active = m.active
        yield _gauge(
            "regent_master_active", "1 if this master is the active one, 0 if a backup", 1 if active else 0
        )
        yield _gauge(
            "regent_master_epoch", "The master epoch this master follows (bumped at each takeover)", m.epoch
        )
        if m.standby is not None:
            yield _gauge(
                "regent_master_standby_regions",
                "Regions a backup master holds loaded",
                len(m.standby.regions),
            )
        if active is None:
            return
        yield _gauge(
            "regent_master_active_seconds",
            "Seconds since this master became active",
            time.time() - active.active_since_ms / 1000,
        )
        yield _gauge(
            "regent_master_live_servers", "RegionServers with a valid lease", len(active.servers.live())
        )
        yield _gauge(
            "regent_master_dead_servers", "RegionServer incarnations declared dead", len(active.servers.dead)
        )
        yield _gauge("regent_master_tables", "Tables in meta", len(active.catalog.tables))
        by_state = GaugeMetricFamily("regent_master_regions", "Regions by state", labels=["state"])
        counts = active.am.by_state
        for state in RegionState:
            by_state.add_metric([state.name], counts.get(state, 0))
        yield by_state
        am = active.am
        yield _gauge(
            "regent_master_regions_in_transition", "Regions with a procedure attached", len(am.in_transition)
        )
        now = time.monotonic()
        oldest, over = 0.0, 0
        for stamp in am.stamps.values():  # oldest first: stops at the first younger than the threshold
            oldest = max(oldest, now - stamp)
            if now - stamp < RIT_THRESHOLD_S:
                break
            over += 1
        yield _gauge(
            "regent_master_regions_in_transition_oldest_age_seconds",
            "Age of the oldest step of a region in transition (0 if none)",
            oldest,
        )
        yield _gauge(
            "regent_master_regions_in_transition_over_threshold",
            f"Regions in transition for more than {RIT_THRESHOLD_S:g} s",
            over,
        )
        yield _gauge("regent_master_regions_waiting", "Regions waiting for a RegionServer", len(am.waiting))
        procedures = GaugeMetricFamily(
            "regent_master_procedures",
            "Procedures known to the executor, by kind and state",
            labels=["kind", "state"],
        )
        tally: Tally[tuple[str, str]] = Tally(
            (p.KIND, p.state.name) for p in active.procedures.procs.values()
        )
        for (kind, proc_state), count in sorted(tally.items()):
            procedures.add_metric([kind, proc_state], count)
        yield procedures
        yield _gauge(
            "regent_master_story_rows", "Region transitions kept for the regions' stories", active.story.rows
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
