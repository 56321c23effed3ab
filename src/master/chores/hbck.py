"""The catalog janitor (its report) and hbck: gathering what master.chores.consistency compares, and
carrying out hbck's repairs.

The janitor looks at the master's memory only (cheap: it runs on a period, switched on by default, and
logs one line when it finds something). hbck also asks every live RegionServer what it serves, reads meta's
rows and lists the region directories on disk. What a transition in flight shows is not an inconsistency,
so regions with a procedure are left out, and a suspected finding about what servers serve or what meta
holds must be seen twice, a moment apart, to be reported.

hbck also looks inside the stores that matter (master.chores.store_checks): the REFERENCES files of split
and merge children, and of any region whose directory holds one, read off the event loop.

Repairs (hbck with fix): a region served nowhere is reassigned (a move); a region served where meta does not
place it is closed on that server (a close under a fresh procedure id, which the server carries out and the
master then refuses as stale); a split/merge child left SPLITTING_NEW / MERGING_NEW with no procedure (a
bypass) is opened, and a region left closed with no procedure in an enabled table is assigned, both
through the assignment core and the master's writer; an orphan store directory is removed only when
`remove_orphan_dirs` is asked for as well (the CLI asks the operator first). Holes, overlaps, stuck
regions, unknown servers and what the REFERENCES files say are reported with what to do: no automatic
repair is safe for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from master import split_assign
from master.assignment import CloseOrders, Effects
from master.chores import store_checks
from master.chores.consistency import (
    NEW_STATES,
    PARENT_STATES,
    Finding,
    Kind,
    RegionView,
    hbck_findings,
    janitor_report,
    unserved,
)
from master.chores.parent_cleanup import Cleanup, remove_parents
from master.errors import RegionInTransition, RequestError, TableNotEnabled
from master.procedures.region_change import RegionChange
from meta import RegionState, ServerName, TableState, WriteBatch, keys, references
from meta.codec import decode_region_state

if TYPE_CHECKING:
    from master.active import ActiveMaster

log = structlog.get_logger("master")

RECHECK_S = 0.5  # a suspected finding is looked at again after this long
SERVER_TIMEOUT_S = 5.0
#: Kinds seen twice, a moment apart, before they are reported: what servers serve, meta's rows, and the
#: REFERENCES files (a fold removes one, then the janitor a parent, between two looks).
CHECKED_AGAIN = (
    Kind.NOT_SERVED,
    Kind.SERVED_ELSEWHERE,
    Kind.ORPHAN_ON_SERVER,
    Kind.META_MISMATCH,
    Kind.BROKEN_REFERENCE,
    Kind.STRAY_REFERENCES,
    Kind.ORPHAN_DIR,
)


@dataclass(slots=True)
class Fixed:
    finding: Finding
    fixed: bool = False
    error: str = ""


@dataclass(slots=True)
class CheckReport:
    started_ms: int
    ms: int = 0
    findings: list[Fixed] = field(default_factory=list)
    regions: int = 0
    servers: int = 0
    unreachable: list[str] = field(default_factory=list)
    fix: bool = False
    #: the catalog janitor's removal of split and merged parents (master.chores.parent_cleanup)
    parents: Cleanup | None = None
    trigger: bool = False  # the catalog janitor's run was started by its period


def region_views(active: ActiveMaster) -> list[RegionView]:
    am, now = active.am, time.monotonic()
    stamps, waiting = am.stamps, am.waiting
    return [
        RegionView(
            n.region_id,
            n.info.table,
            n.info.start_key,
            n.info.end_key,
            n.info.offline,
            n.state,
            n.server,
            n.proc_id,
            now - stamps[n.region_id] if n.proc_id and n.region_id in stamps else 0.0,
            n.region_id in waiting,
            n.info.children,
            n.info.parents,
        )
        for n in am.regions
    ]


def enabled_tables(active: ActiveMaster) -> set[str]:
    return {name for name, t in active.catalog.tables.items() if t.state is TableState.ENABLED}


class CatalogJanitor:
    """The janitor on a period (when switched on) and on demand: it removes the split and merged parents
    that no child references any more (master.chores.parent_cleanup), then reports what is inconsistent.
    It keeps its last report."""

    def __init__(self, active: ActiveMaster, period_s: float) -> None:
        self._active = active
        self.period_s = period_s
        self.last: CheckReport | None = None
        self._running = asyncio.Lock()  # one run at a time (an operator's and the period's)

    async def run(self, *, trigger: bool = False) -> CheckReport:
        async with self._running:
            return await self._run(trigger)

    async def _run(self, trigger: bool) -> CheckReport:
        active = self._active
        started_ms, started = int(time.time() * 1000), time.monotonic()
        try:
            cleanup = await remove_parents(active)
        except OSError as exc:  # a REFERENCES directory that cannot be listed, say: report, go on
            cleanup = Cleanup(error=f"split parents not looked at: {exc}")
            log.error("split_parents_failed", error=cleanup.error)
        regions = region_views(active)
        findings = janitor_report(
            regions,
            active.servers.live(),
            active.servers.dead,
            active.config.stuck_after_ms / 1000,
        )
        findings += unserved(regions, enabled_tables(active), busy_tables=_busy(active), closed_too=False)
        report = CheckReport(started_ms, regions=len(regions), parents=cleanup, trigger=trigger)
        report.findings = [Fixed(f) for f in findings]
        report.ms = int((time.monotonic() - started) * 1000)
        self.last = report
        if findings:
            kinds: dict[str, int] = {}
            for f in findings:
                kinds[f.kind.value] = kinds.get(f.kind.value, 0) + 1
            log.warning(
                "catalog_janitor_found", findings=len(findings), kinds=kinds, first=findings[0].detail
            )
        return report

    async def chore(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            if not self._active.chores.switches.now.catalog_janitor_on:
                continue
            try:
                await self.run(trigger=True)
            except Exception:  # a report must never take the master down
                log.exception("catalog_janitor_failed")


class Hbck:
    def __init__(self, active: ActiveMaster) -> None:
        self._active = active

    async def run(self, *, fix: bool = False, remove_orphan_dirs: bool = False) -> CheckReport:
        started = time.monotonic()
        report = CheckReport(int(time.time() * 1000), fix=fix)
        findings = await self._find(report)
        if any(f.kind in CHECKED_AGAIN for f in findings):
            await asyncio.sleep(RECHECK_S)
            again = {_key(f) for f in await self._find(CheckReport(0))}
            findings = [f for f in findings if f.kind not in CHECKED_AGAIN or _key(f) in again]
        report.findings = [Fixed(f) for f in findings]
        if fix:
            await self._fix(report.findings, remove_orphan_dirs)
        report.ms = int((time.monotonic() - started) * 1000)
        log.info(
            "hbck_ran",
            findings=len(findings),
            fix=fix,
            fixed=sum(1 for f in report.findings if f.fixed),
            unreachable=len(report.unreachable),
            ms=report.ms,
        )
        return report

    async def _find(self, report: CheckReport) -> list[Finding]:
        active = self._active
        live = active.servers.live()
        answers = await asyncio.gather(*(active.dispatcher.online_regions(s, SERVER_TIMEOUT_S) for s in live))
        served = {s: a for s, a in zip(live, answers, strict=True) if a is not None}
        report.servers = len(live)
        report.unreachable = [str(s) for s, a in zip(live, answers, strict=True) if a is None]
        regions = region_views(active)  # after the servers answered: a region they report is known here
        report.regions = len(regions)
        meta_rows = await asyncio.to_thread(_meta_rows, active)
        # Children of a split or merge in flight: their directories (REFERENCES written before the point
        # of no return) are not orphans yet.
        unborn = {c for p in active.procedures.running(RegionChange) for c in p.data.children}
        dirs, stores = await asyncio.to_thread(_disk, active.store.path.parent, regions, unborn)
        busy = _busy(active)
        keep = store_checks.referenced(regions, stores.files or {})
        holding = {path for _, region_id, path in dirs if region_id in stores.with_references}
        found = hbck_findings(
            regions,
            served,
            meta_rows,
            [d for d in dirs if (d[0], d[1]) not in keep],
            busy,
            holding_references=holding,
        )
        found += unserved(
            regions,
            enabled_tables(active),
            served={r for online in served.values() for r in online},
            busy_tables=busy,
        )
        return found + store_checks.store_findings(regions, stores, busy)

    async def _fix(self, findings: Sequence[Fixed], remove_orphan_dirs: bool) -> None:
        active, am = self._active, self._active.am
        effects = Effects()
        closes: dict[ServerName, CloseOrders] = {}
        near: dict[int, ServerName] | None = None  # child id -> its parent's last server (computed once)
        removals: list[Fixed] = []  # orphan directories, removed once the region repairs are durable
        for item in findings:
            f = item.finding
            if f.kind is Kind.NOT_SERVED:
                node = am.regions.get(f.region_id)
                if (
                    node is None
                    or node.proc_id
                    or node.state is not RegionState.OPEN
                    or str(node.server) != f.server
                ):
                    item.error = "the region changed meanwhile: run hbck again"
                    continue
                try:
                    _, moved = am.move(f.region_id)
                except RequestError as exc:
                    item.error = str(exc)
                    continue
                effects += moved
                item.fixed = True
            elif f.kind in (Kind.SERVED_ELSEWHERE, Kind.ORPHAN_ON_SERVER):
                server = _live(active, f.server)
                if server is None:
                    item.error = f"server {f.server} is no longer live"
                    continue
                # A fresh procedure id: the server closes only under a procedure newer than its open's.
                orders = closes.setdefault(server, CloseOrders())
                orders.region_ids.append(f.region_id)
                orders.proc_ids.append(am.next_proc_id)
                am.next_proc_id += 1
                item.fixed = True
            elif f.kind in (Kind.UNFINISHED_CHILD, Kind.NOT_DEPLOYED):
                try:
                    if near is None:
                        near = _parents_servers(active)
                    effects += _open_unserved(active, f, near)
                except RequestError as exc:
                    item.error = str(exc)
                    continue
                item.fixed = True
            elif f.kind is Kind.ORPHAN_DIR:
                if not remove_orphan_dirs:
                    item.error = (
                        "not removed: hbck removes orphan directories when asked to (remove_orphan_dirs; the "
                        "CLI asks first)"
                    )
                    continue
                removals.append(item)
        if effects or closes:
            # The counters (procedure ids just taken) are made durable before any order leaves; no await
            # between the decisions above and this commit.
            await active.apply(effects, WriteBatch())
            for server, orders in closes.items():
                active.dispatcher.send(server, closes=orders)
        for item in removals:
            try:
                await asyncio.to_thread(shutil.rmtree, item.finding.path)
            except OSError as exc:
                item.error = f"could not remove it: {exc.strerror}"
                continue
            item.fixed = True
        fixed = [i.finding for i in findings if i.fixed]
        if fixed:
            log.warning("hbck_repaired", repairs=len(fixed), kinds=sorted({f.kind.value for f in fixed}))


def _open_unserved(active: ActiveMaster, f: Finding, near: dict[int, ServerName]) -> Effects:
    """Open a region that nothing serves and no procedure will: an unfinished child through the transition
    its procedure would have made (SPLITTING_NEW / MERGING_NEW -> OPENING: an assign refuses those states),
    any other through an ordinary assign. RequestError when it changed meanwhile or cannot be opened now."""
    am = active.am
    node = am.regions.get(f.region_id)
    if node is None or node.proc_id or node.region_id in am.waiting:
        raise RegionInTransition("the region changed meanwhile: run hbck again")
    if f.kind is Kind.NOT_DEPLOYED:
        return am.assign(f.region_id)[1]
    if node.state not in NEW_STATES:
        raise RegionInTransition(f"the region is {node.state.name} now: run hbck again")
    if not am.table_enabled(node.info.table):
        raise TableNotEnabled(f"table {node.info.table!r} is not enabled: enable it, then run hbck --fix")
    return split_assign.open_children(am, [node], near.get(node.region_id))


def _parents_servers(active: ActiveMaster) -> dict[int, ServerName]:
    """child id -> the live last server of one of its SPLIT/MERGED parents (a retired parent keeps it in
    its row): children open there, as their procedure would have opened them. One pass over the regions."""
    out: dict[int, ServerName] = {}
    for node in active.am.regions:
        last = node.target
        if node.state in PARENT_STATES and last is not None and active.servers.is_live(last):
            for child in node.info.children:
                out.setdefault(child, last)
    return out


def _busy(active: ActiveMaster) -> set[str]:
    """Tables under a table procedure (queued or holding the lock)."""
    return {v.table for v in active.procedures.views() if v.table and v.state in ("RUNNABLE", "WAITING")}


def _key(f: Finding) -> tuple[Kind, int, str]:
    return f.kind, f.region_id, f.server


def _live(active: ActiveMaster, text: str) -> ServerName | None:
    with contextlib.suppress(ValueError):
        name = ServerName.parse(text)
        return name if active.servers.is_live(name) else None
    return None


def _meta_rows(active: ActiveMaster) -> dict[int, tuple[RegionState, ServerName | None]]:
    """Every region_state row of meta, as (state, server) by region id (one snapshot, off the loop)."""
    out: dict[int, tuple[RegionState, ServerName | None]] = {}
    with active.store.snapshot() as snap:
        for key, raw in snap.scan("region_state"):
            row = decode_region_state(raw)
            out[keys.from_u64(key)] = (row.state, row.server)
    return out


def _store_dirs(rootdir: Path) -> list[tuple[str, int, str]]:
    """(table, region id, path) of every region directory under ROOTDIR/data (DESIGN.md §1's layout)."""
    out: list[tuple[str, int, str]] = []
    data = rootdir / "data"
    with contextlib.suppress(FileNotFoundError):
        for table in sorted(p for p in data.iterdir() if p.is_dir()):
            for region in table.iterdir():
                if region.is_dir() and region.name.isdigit():
                    out.append((table.name, int(region.name), str(region)))
    return out


def _disk(
    rootdir: Path, regions: Sequence[RegionView], unborn: set[int]
) -> tuple[list[tuple[str, int, str]], store_checks.Stores]:
    """The region directories (less those of children in the making), and what the stores' REFERENCES
    files say for the regions store_checks.to_read picks: one stat per directory, one read per file
    picked, one stat per parent named (blocking: run it off the loop)."""
    dirs = [d for d in _store_dirs(rootdir) if d[1] not in unborn]
    holders = {region_id for _, region_id, path in dirs if references.path_of(Path(path)).exists()}
    files: dict[int, store_checks.Read] = {}
    paths: dict[int, str] = {}
    present: set[tuple[str, int]] = set()
    for r in store_checks.to_read(regions, holders):
        store = rootdir / "data" / r.table / str(r.region_id)
        paths[r.region_id] = str(references.path_of(store))
        try:
            found = references.read(store)
        except references.ReferencesError as exc:
            files[r.region_id] = str(exc)
            continue
        if found is None:
            del paths[r.region_id]
            continue
        files[r.region_id] = found
        for ref in found:
            if (rootdir / "data" / r.table / str(ref.region_id) / "data.mdb").exists():
                present.add((r.table, ref.region_id))
    return dirs, store_checks.Stores(holders, files, present, paths)
