"""A RegionServer's Prometheus metrics (served at /metrics by regionserver.http).

One registry per RegionServer process (REGISTRY). The data path calls the functions below, once per RPC or
per batch, never per cell; nothing is labelled by region. Gauges that describe what the server holds
(regions served, store bytes) are read at scrape time by RegionServerCollector. docs/operations.md lists
every metric.

For the data path (regionserver.data_service and friends):
- `data_op(kind, seconds, rows=1)`: one data RPC of `kind` (get, mutate, increment, check_and_put,
  scan_open, scan_next, scan_close, compact) took `seconds` and touched `rows` rows;
- `data_op_failed(kind, error)`: it failed with the named Regent error (NotServingRegion, ...);
- `scanners(count)`: the number of open server-side scanners, set when it changes;
- `environments(count)`: the number of region store environments open (the LRU's size), likewise.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from regionserver.data.commit_place import LOG_PLACEMENT, PLACEMENT

if TYPE_CHECKING:
    from regionserver.daemon import RegionServer

REGISTRY = CollectorRegistry(auto_describe=True)

DATA_KINDS = (
    "get",
    "mutate",
    "increment",
    "check_and_put",
    "scan_open",
    "scan_next",
    "scan_close",
    "compact",
)
_LATENCY = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)

OPENS = Counter("regent_regionserver_region_opens", "Region open orders accepted", registry=REGISTRY)
CLOSES = Counter("regent_regionserver_region_closes", "Region close orders accepted", registry=REGISTRY)
FAILED_OPENS = Counter(
    "regent_regionserver_region_failed_opens",
    "Region opens that failed (reported FAILED_OPEN)",
    registry=REGISTRY,
)
DATA_OPS = Histogram(
    "regent_regionserver_data_op_seconds",
    "Time to serve one data RPC, by kind",
    ["kind"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
DATA_ROWS = Counter(
    "regent_regionserver_data_rows", "Rows read or written by data RPCs, by kind", ["kind"], registry=REGISTRY
)
DATA_ERRORS = Counter(
    "regent_regionserver_data_op_errors",
    "Data RPCs that failed, by kind and Regent error name",
    ["kind", "error"],
    registry=REGISTRY,
)
SCANNERS = Gauge("regent_regionserver_scanners", "Open server-side scanners", registry=REGISTRY)
ENVIRONMENTS = Gauge(
    "regent_regionserver_open_environments", "Region store LMDB environments held open", registry=REGISTRY
)

_children: dict[str, tuple[Histogram, Counter]] = {}


def data_op(kind: str, seconds: float, rows: int = 1) -> None:
    """One data RPC of `kind` served in `seconds`, touching `rows` rows."""
    children = _children.get(kind)
    if children is None:
        children = _children[kind] = (DATA_OPS.labels(kind), DATA_ROWS.labels(kind))
    children[0].observe(seconds)
    if rows:
        children[1].inc(rows)


@contextmanager
def timed(kind: str, rows: int = 1) -> Iterator[None]:
    """`with timed("get"):` around a data RPC's work: data_op on success, data_op_failed on error."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        data_op_failed(kind, type(exc).__name__)
        raise
    data_op(kind, time.perf_counter() - started, rows)


def data_op_failed(kind: str, error: str) -> None:
    DATA_ERRORS.labels(kind, error).inc()


def scanners(count: int) -> None:
    SCANNERS.set(count)


def environments(count: int) -> None:
    ENVIRONMENTS.set(count)


class RegionServerCollector(Collector):
    """Gauges (and the commit placement's counts) read from the RegionServer's state at scrape time."""

    def __init__(self, server: RegionServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        rs = self.server
        yield GaugeMetricFamily(
            "regent_regionserver_regions",
            "Regions served (their OPENED accepted by the master)",
            value=len(rs.hosting.online),
        )
        yield GaugeMetricFamily(
            "regent_regionserver_regions_opening",
            "Regions opened here whose OPENED report the master has not answered yet",
            value=len(rs.hosting.opening),
        )
        yield GaugeMetricFamily(
            "regent_regionserver_regions_claiming",
            "Regions being opened here whose store's claim is in flight (before their OPENED report)",
            value=len(rs.hosting.claiming),
        )
        yield GaugeMetricFamily(
            "regent_regionserver_store_bytes",
            "Bytes on disk of the region stores this server holds open (data.mdb files)",
            value=store_bytes(rs),
        )
        yield GaugeMetricFamily(
            "regent_regionserver_master_epoch", "The master epoch this server follows", value=rs.epoch
        )
        left = rs.lease_until - time.monotonic()
        yield GaugeMetricFamily(
            "regent_regionserver_lease_remaining_seconds",
            "Time left on this server's lease before it stops serving on its own (fencing)",
            value=max(0.0, left) if left != float("inf") else 0.0,
        )
        commits = CounterMetricFamily(
            "regent_regionserver_small_commits",
            "Small group commits of region stores, by where they ran: on the event loop while the disk's "
            "commits are quick, else in a commit thread (regionserver.data.commit_place)",
            labels=["on"],
        )
        commits.add_metric(["loop"], PLACEMENT.on_loop_commits)
        commits.add_metric(["thread"], PLACEMENT.in_thread_commits)
        yield commits
        yield from wal_metrics(rs)


def wal_metrics(rs: RegionServer) -> Iterator[Metric]:
    """The write-ahead log's: appends by where they ran, edits, segments, memory, replays."""
    wal = rs.wal
    if wal is not None:
        appends = CounterMetricFamily(
            "regent_regionserver_wal_appends",
            "Appends to this server's write-ahead log (one write and fdatasync each), by where they ran",
            labels=["on"],
        )
        appends.add_metric(["loop"], LOG_PLACEMENT.on_loop_commits)
        appends.add_metric(["thread"], LOG_PLACEMENT.in_thread_commits)
        yield appends
        yield CounterMetricFamily(
            "regent_regionserver_wal_edits",
            "Region edits (a region's group of writes) logged",
            value=wal.edits,
        )
        yield GaugeMetricFamily(
            "regent_regionserver_wal_segments",
            "Segments of this server's log on disk",
            value=len(wal.log.segments()),
        )
        yield GaugeMetricFamily(
            "regent_regionserver_memstore_bytes",
            "Bytes logged and not yet flushed into the region stores (keys and values)",
            value=sum(m.size_bytes for m in wal.memories.values()),
        )
    yield CounterMetricFamily(
        "regent_regionserver_wal_replayed_edits",
        "Edits of earlier owners' logs replayed into stores this server took over",
        value=rs.stores.takeover.replayed_edits,
    )
    yield CounterMetricFamily(
        "regent_regionserver_wal_logs_removed",
        "Logs of stopped servers this server's log cleaner removed (regionserver.data.log_cleaner)",
        value=rs.logs_removed,
    )
    yield GaugeMetricFamily(
        "regent_regionserver_wal_stopped_logs_kept",
        "Logs of stopped servers that the cleaner's last look kept: a region they logged for is not taken "
        "over yet, or the log could not be read",
        value=rs.stopped_logs_kept,
    )


def store_bytes(rs: RegionServer) -> int:
    """The size of the open stores' files (one stat per store; regions without a store cost nothing)."""
    total = 0
    for region in list(rs.hosting.online.values()):
        store = region.store
        if store is None:
            continue
        path = getattr(store, "path", None)
        if path is None:
            continue
        try:
            total += (path / "data.mdb").stat().st_size
        except OSError:
            continue
    return total
