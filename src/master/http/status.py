"""What the master's status pages show, as plain data: one document for `/` and `/status.json`.

Reads the master's memory only (no meta transaction, no RPC). Everything bounded: regions in transition
and procedures are cut at a limit, per-table counts are cached for a few seconds (a million regions cost a
tenth of a second to count).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from master.http.chores import chores_document
from master.metrics import RIT_THRESHOLD_S
from meta import RegionState

if TYPE_CHECKING:
    from master.active import ActiveMaster
    from master.daemon import Master
    from master.regions import RegionNode

RIT_SHOWN = 100
RIT_DANGER_S = 120.0  # HBase's danger mark; the warning mark is metrics.RIT_THRESHOLD_S
TABLE_COUNTS_TTL_S = 5.0
HISTORY_SAMPLES = 60  # of history.SAMPLE_S each: the charts' span


@dataclass(slots=True)
class History:
    """Samples taken every few seconds by the page's sampler task: the charts and requests per second."""

    sample_s: float = 5.0
    rit: list[int] = field(default_factory=list)
    transitions: list[int] = field(default_factory=list)
    requests: dict[str, tuple[float, int]] = field(default_factory=dict)  # server -> (monotonic, requests)
    rates: dict[str, float] = field(default_factory=dict)  # server -> requests per second
    _last_transitions: int = -1

    def sample(self, active: ActiveMaster | None, transitions_total: int) -> None:
        if active is None:
            return
        self.rit.append(len(active.am.in_transition))
        done = 0 if self._last_transitions < 0 else transitions_total - self._last_transitions
        self._last_transitions = transitions_total
        self.transitions.append(done)
        del self.rit[:-HISTORY_SAMPLES], self.transitions[:-HISTORY_SAMPLES]
        now = time.monotonic()
        for info in active.servers.infos():
            name = str(info.name)
            before = self.requests.get(name)
            if before is not None and now > before[0]:
                self.rates[name] = max(0.0, (info.requests - before[1]) / (now - before[0]))
            self.requests[name] = (now, info.requests)


class TableCounts:
    """Regions per table and state, recounted at most every TABLE_COUNTS_TTL_S."""

    def __init__(self) -> None:
        self._at = -TABLE_COUNTS_TTL_S
        self._counts: dict[str, Counter[RegionState]] = {}

    def get(self, active: ActiveMaster) -> dict[str, Counter[RegionState]]:
        now = time.monotonic()
        if now - self._at >= TABLE_COUNTS_TTL_S:
            regions = active.catalog.regions
            self._counts = {
                name: Counter(n.state for n in regions.table(name)) for name in active.catalog.tables
            }
            self._at = now
        return self._counts


def document(master: Master, history: History, tables: TableCounts) -> dict[str, Any]:
    """The status of this master and, if it is active, of the cluster."""
    active_master = master.active_master()
    doc: dict[str, Any] = {
        "master": {
            "address": master.config.address,
            "active": master.active is not None,
            "active_master": active_master,
            "backup_masters": sorted(a for a in master.masters() if a != active_master),
            "cluster_id": master.cluster_id,
            "epoch": master.epoch,
        }
    }
    active = master.active
    if active is None:
        doc["master"]["standby_regions"] = len(master.standby.regions) if master.standby else 0
        return doc
    now = time.monotonic()
    am = active.am
    doc["master"].update(
        active_since_ms=active.active_since_ms, startup_assignment_ms=active.startup_assignment_ms
    )
    doc["servers"] = [
        {
            "name": str(info.name),
            "address": info.name.address,
            "start_ms": info.name.startcode,
            "last_heartbeat_age_s": round(active.servers.age_ms(info) / 1000, 3),
            "regions": am.load[info.name],
            "requests": info.requests,
            "requests_per_s": round(history.rates.get(str(info.name), 0.0), 1),
            "decommissioned": info.name.address in active.servers.decommissioned,
        }
        for info in active.servers.infos()
    ]
    doc["dead_servers"] = sorted(str(s) for s in active.servers.dead)
    doc["regions"] = {
        "total": len(am.regions),
        "by_state": {s.name: c for s, c in sorted(am.by_state.items()) if c},
        "in_transition": len(am.in_transition),
        "waiting_for_server": len(am.waiting),
    }
    counts = tables.get(active)
    doc["tables"] = [
        {
            "name": name,
            "state": descriptor.state.name,
            "regions": sum(counts.get(name, Counter()).values()),
            "open": counts.get(name, Counter()).get(RegionState.OPEN, 0),
            "families": sorted(f.name for f in descriptor.families),
        }
        for name, descriptor in sorted(active.catalog.tables.items())
    ]
    rit = am.regions_in_transition(RIT_SHOWN)
    ages = [now - am.stamps.get(n.region_id, now) for n in rit]
    over = sum(1 for stamp in _oldest(am.stamps.values(), now) if now - stamp >= RIT_THRESHOLD_S)
    doc["regions_in_transition"] = {
        "count": len(am.in_transition),
        "over_threshold": over,
        "threshold_s": RIT_THRESHOLD_S,
        "oldest_age_s": round(max(ages, default=0.0), 3),
        "shown": [_rit(n, a) for n, a in sorted(zip(rit, ages, strict=True), key=lambda p: -p[1])],
    }
    views = active.procedures.views()
    doc["procedures"] = {
        "running": sum(1 for v in views if v.state == "RUNNABLE"),
        "kinds": dict(Counter(v.kind for v in views if v.state == "RUNNABLE")),
        "region_transitions": len(am.in_transition),
    }
    doc["chores"] = chores_document(active)
    doc["history"] = {
        "sample_s": history.sample_s,
        "regions_in_transition": list(history.rit),
        "transitions": list(history.transitions),
    }
    return doc


def _oldest(stamps: Any, now: float) -> list[float]:
    """The stamps older than the threshold (they come first: kept in time order)."""
    out = []
    for stamp in stamps:
        if now - stamp < RIT_THRESHOLD_S:
            break
        out.append(stamp)
    return out


def _rit(node: RegionNode, age_s: float) -> dict[str, Any]:
    return {
        "region_id": node.region_id,
        "table": node.info.table,
        "state": node.state.name,
        "server": str(node.server) if node.server else "",
        "proc_id": node.proc_id,
        "procedure": node.kind.name.lower(),
        "attempts": node.attempts,
        "age_s": round(age_s, 3),
        "mark": "danger" if age_s >= RIT_DANGER_S else ("warning" if age_s >= RIT_THRESHOLD_S else ""),
    }


def procedures_document(active: ActiveMaster, limit: int) -> dict[str, Any]:
    """The procedures page: executor procedures, then region transitions, and the table locks."""
    views = active.list_procedures(limit)
    locks: dict[str, dict[str, Any]] = {}
    for table in sorted({v.table for v in views if v.table and v.region_id is None}):
        holder = active.procedures.holder(table)
        queued = active.procedures.queued(table)
        locks[table] = {
            "holder": holder.proc_id if holder is not None else None,
            "holder_kind": holder.KIND if holder is not None else "",
            "queued": [p.proc_id for p in queued if holder is None or p.proc_id != holder.proc_id],
        }
    return {
        "procedures": [
            {
                "proc_id": v.proc_id,
                "kind": v.kind,
                "table": v.table,
                "region_id": v.region_id,
                "step": v.step,
                "state": v.state,
                "done": v.done,
                "total": v.total,
                "age_s": round(v.age_s, 3),
                "lock": v.lock,
                "error": v.error_message,
            }
            for v in views
        ],
        "locks": [{"table": t, **lock} for t, lock in locks.items()],
        "limit": limit,
    }
