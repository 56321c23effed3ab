"""The normalizer chore: on a period (and on an operator's demand), take the size of every region from the
live RegionServers (RegionSizes, one call per server, all at once), plan with master.chores.normalizer_plan,
and submit each plan as a split or merge procedure (TableAdmin.split / merge, cause "normalizer").

It runs only when switched on (a switch kept in meta; a dry run runs with the switch off too) and when no
region is in transition (HBase skips its run then too). A server that does not answer, or does not report
sizes (UNIMPLEMENTED), leaves its regions unplanned, and the run's reason says so: the normalizer goes on
without them rather than fail (HBASE-25523). A split's key is asked of the region's server (SplitPoint:
the middle row by size). A plan that cannot be submitted (the region moved meanwhile, a table procedure
holds the table, splits switched off) records why and the others go on; the procedures carry themselves
out, so a run ends when its plans are submitted. The last run is kept for NormalizerStatus and the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import structlog

from master.chores import normalizer_plan
from master.chores.normalizer_plan import NormalizerLimits, Plans, RegionInput, TableInput
from master.chores.switches import SwitchBoard
from master.dispatch import ServerCallError, call_error
from master.errors import RequestError, TableNotFound
from master.regions import RegionMap
from master.servers import ServerManager
from meta import RegionState, ServerName, TableDescriptor, TableState

log = structlog.get_logger("master")

CAUSE = "normalizer"
SIZES_TIMEOUT_S = 5.0
SPLIT_POINT_TIMEOUT_S = 10.0
UNANSWERED_SHOWN = 5  # servers named in a run's reason


class Submitter(Protocol):
    """What the normalizer submits through: master.admin.TableAdmin (docs/split_merge_contract.md)."""

    async def split(self, region_id: int, split_key: bytes, *, cause: str = ..., nonce: str = ...) -> int: ...

    async def merge(
        self, region_ids: Sequence[int], *, force: bool = ..., cause: str = ..., nonce: str = ...
    ) -> int: ...


class Sizes(Protocol):
    """The RegionServer calls it needs (master.dispatch.Dispatcher)."""

    async def region_sizes(
        self, server: ServerName, within_s: float = ...
    ) -> dict[int, tuple[int, bool]]: ...

    async def split_point(
        self, server: ServerName, region_id: int, split_key: bytes | None, within_s: float = ...
    ) -> bytes: ...


@dataclass(frozen=True, slots=True)
class NormalizerConfig:
    period_s: float = 300.0
    limits: NormalizerLimits = field(default_factory=NormalizerLimits)


@dataclass(slots=True)
class PlanOutcome:
    kind: str
    table: str
    region_ids: tuple[int, ...]
    bytes: int
    reason: str
    proc_id: int = 0
    error: str = ""


@dataclass(slots=True)
class NormalizerRun:
    ran: bool
    reason: str
    dry_run: bool = False
    trigger: bool = False
    started_ms: int = 0
    finished_ms: int = 0
    tables: int = 0
    regions: int = 0
    plans: list[PlanOutcome] = field(default_factory=list)

    @property
    def submitted(self) -> int:
        return sum(1 for p in self.plans if p.proc_id)


class Normalizer:
    def __init__(
        self,
        config: NormalizerConfig,
        regions: RegionMap,
        tables: Callable[[], dict[str, TableDescriptor]],
        servers: ServerManager,
        switches: SwitchBoard,
        sizes: Sizes,
        submitter: Callable[[], Submitter],
        in_transition: Callable[[], int],
    ) -> None:
        self.config = config
        self._regions = regions
        self._tables = tables
        self._servers = servers
        self._switches = switches
        self._sizes: Sizes = sizes
        self._submitter = submitter
        self._in_transition = in_transition
        self.last_run: NormalizerRun | None = None
        self._running = asyncio.Lock()  # one run at a time (an operator's and the period's)

    async def run(
        self, *, dry_run: bool = False, tables: Sequence[str] = (), trigger: bool = False
    ) -> NormalizerRun:
        """Plan now and, unless a dry run, submit the plans; return the run's record. `tables`: only
        these (each must exist; it is still planned only if it opted in)."""
        known = self._tables()
        missing = sorted({t for t in tables if t not in known})
        if missing:
            raise TableNotFound(f"normalize: no table {', '.join(repr(t) for t in missing)}")
        async with self._running:
            run = await self._run(dry_run, list(dict.fromkeys(tables)), trigger)
        run.finished_ms = int(time.time() * 1000)
        if not dry_run:
            self.last_run = run
        log.info(
            "normalizer_ran",
            ran=run.ran,
            plans=len(run.plans),
            submitted=run.submitted,
            dry_run=dry_run,
            trigger=trigger,
            reason=run.reason,
        )
        return run

    async def _run(self, dry_run: bool, names: list[str], trigger: bool) -> NormalizerRun:
        started_ms = int(time.time() * 1000)
        now = self._switches.now
        if not dry_run and not now.normalizer_on:
            return NormalizerRun(
                False,
                "the normalizer is switched off (normalizer_switch(True) turns it on)",
                dry_run,
                trigger,
                started_ms,
            )
        moving = self._in_transition()
        if moving and not dry_run:
            return NormalizerRun(
                False,
                f"{moving} regions are in transition: the normalizer waits until none is",
                dry_run,
                trigger,
                started_ms,
            )
        descriptors = self._tables()
        # (a table named and deleted since the check in run() is left out)
        chosen = [descriptors[n] for n in names if n in descriptors] if names else list(descriptors.values())
        opted = [d for d in chosen if d.settings.normalization_enabled]
        if not opted:
            what = "none of the tables named" if names else "no table"
            return NormalizerRun(
                False,
                f"{what} has normalization_enabled (modify the table to opt in)",
                dry_run,
                trigger,
                started_ms,
            )
        table_inputs = [
            TableInput(
                d.name,
                d.state is TableState.ENABLED,
                d.settings.normalization_enabled,
                d.settings.split_enabled,
                d.settings.merge_enabled,
            )
            for d in (chosen if names else opted)  # a table named and not opted in: its note says so
        ]
        nodes = [n for d in opted for n in self._regions.table(d.name) if not n.info.offline]
        sizes, unanswered = await self._measure({n.server for n in nodes if n.server is not None})
        region_inputs = []
        for n in nodes:
            measured = sizes.get(n.region_id)
            region_inputs.append(
                RegionInput(
                    n.region_id,
                    n.info.table,
                    n.info.start_key,
                    n.info.end_key,
                    measured[0] if measured is not None else None,
                    settled=n.state is RegionState.OPEN and not n.proc_id,
                    has_references=measured[1] if measured is not None else False,
                )
            )
        plans: Plans = normalizer_plan.plan(
            table_inputs, region_inputs, self.config.limits, split_on=now.split_on, merge_on=now.merge_on
        )
        run = NormalizerRun(
            True,
            _reason(plans, unanswered),
            dry_run,
            trigger,
            started_ms,
            tables=plans.tables,
            regions=plans.regions,
            plans=[PlanOutcome(p.kind, p.table, p.region_ids, p.bytes, p.reason) for p in plans.plans],
        )
        if not dry_run:
            await self._submit(run.plans)
        return run

    async def _measure(self, servers: set[ServerName]) -> tuple[dict[int, tuple[int, bool]], list[str]]:
        """The sizes every live server among `servers` reports; and, for each that did not, why."""
        live = sorted((s for s in servers if self._servers.is_live(s)), key=str)
        unanswered = [f"{s}: not live" for s in sorted(servers - set(live), key=str)]
        answers = await asyncio.gather(
            *(self._sizes.region_sizes(s, SIZES_TIMEOUT_S) for s in live), return_exceptions=True
        )
        sizes: dict[int, tuple[int, bool]] = {}
        for server, answer in zip(live, answers, strict=True):
            if isinstance(answer, ServerCallError):
                unanswered.append(str(answer))
            elif isinstance(answer, BaseException):
                unanswered.append(f"{server}: {answer!r}")
            else:
                # A region counts only where the master places it (not a stray copy elsewhere).
                sizes.update(
                    (rid, v)
                    for rid, v in answer.items()
                    if (n := self._regions.get(rid)) and n.server == server
                )
        return sizes, unanswered

    async def _submit(self, plans: list[PlanOutcome]) -> None:
        submitter = self._submitter()
        for p in plans:
            try:
                if p.kind == "split":
                    p.proc_id = await self._split(submitter, p.region_ids[0])
                else:
                    p.proc_id = await submitter.merge(p.region_ids, cause=CAUSE)
            except (RequestError, ServerCallError) as exc:
                p.error = str(exc)
            except Exception as exc:  # one plan must not stop the others, nor the master (HBASE-25523)
                log.exception("normalizer_plan_failed", kind=p.kind, regions=list(p.region_ids))
                p.error = f"{type(exc).__name__}: {exc}"

    async def _split(self, submitter: Submitter, region_id: int) -> int:
        node = self._regions.get(region_id)
        if node is None or node.server is None or node.state is not RegionState.OPEN:
            raise RequestError(f"region {region_id} is no longer open: not split")
        try:
            key = await self._sizes.split_point(node.server, region_id, None, SPLIT_POINT_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            raise call_error(node.server, exc) from None
        return await submitter.split(region_id, key, cause=CAUSE)

    async def chore(self) -> None:
        """Run every period while switched on; an error in a run is logged, never fatal."""
        while True:
            await asyncio.sleep(self.config.period_s)
            if not self._switches.now.normalizer_on:
                continue
            try:
                await self.run(trigger=True)
            except Exception:
                log.exception("normalizer_run_failed")


def _reason(plans: Plans, unanswered: list[str]) -> str:
    parts = [f"{len(plans.plans)} plans over {plans.tables} tables and {plans.regions} regions"]
    if plans.capped:
        parts.append(f"{plans.capped} more plans left for the next run (max_plans)")
    if unanswered:
        shown = "; ".join(unanswered[:UNANSWERED_SHOWN])
        more = f" and {len(unanswered) - UNANSWERED_SHOWN} more" if len(unanswered) > UNANSWERED_SHOWN else ""
        parts.append(
            f"sizes unknown from {len(unanswered)} servers, their regions not planned ({shown}{more})"
        )
    notes = [f"{t}: {note}" for t, note in sorted(plans.notes.items()) if note]
    if notes:
        parts.append("; ".join(notes))
    return "; ".join(parts)
