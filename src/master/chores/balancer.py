"""The balancer chore: on a period (and on an operator's demand), snapshot the regions and the servers'
loads, plan with master.chores.balance_plan, and carry the plan out through the throttled Mover.

It runs only when switched on (a switch kept in meta), when no region is in transition and no dead server
is being recovered (unless forced: HBase's `ignoreRegionsInTransition`), and when no earlier run is still
carrying out its moves. A dry run plans and moves nothing (it runs with the switch off too). The last run
is kept (its plan, moves done, cost before and after) for BalancerStatus and the logs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from master import story
from master.assignment import AssignmentManager
from master.chores import balance_plan
from master.chores.balance_plan import Move, Plan, RegionLoad, ServerLoad, Weights
from master.chores.mover import Mover, Progress
from master.chores.switches import SwitchBoard
from master.servers import ServerManager
from meta import RegionState

log = structlog.get_logger("master")

MOVES_KEPT = 1000  # planned moves kept in the last run's record


@dataclass(frozen=True, slots=True)
class BalancerConfig:
    period_s: float = 300.0
    slop: float = 0.2
    #: regions in transition at once while moves are carried out; 0: a tenth of the regions (at least 100)
    max_in_transition: int = 0
    weights: Weights = field(default_factory=Weights)


@dataclass(slots=True)
class BalancerRun:
    """One run: why it ran or was skipped, what it planned, how far its moves got."""

    ran: bool
    reason: str
    dry_run: bool = False
    forced: bool = False
    trigger: bool = False  # started by the period
    started_ms: int = 0
    finished_ms: int = 0
    plan_ms: int = 0
    servers: int = 0
    regions: int = 0
    planned: int = 0
    cost_before: float = 0.0
    cost_after: float = 0.0
    moves: tuple[Move, ...] = ()
    progress: Progress = field(default_factory=Progress)


def snapshot(
    am: AssignmentManager, servers: ServerManager, offload: set[str], locked: Callable[[str], bool]
) -> tuple[list[ServerLoad], list[RegionLoad]]:
    """The planner's input now: live servers with their loads (decommissioned ones drained when their
    address is in `offload`), and the OPEN regions with no procedure on live servers (those of tables
    `locked` by a table procedure stay where they are)."""
    loads = [
        ServerLoad(
            info.name,
            requests_per_s=info.requests_per_s,
            store_bytes=info.store_bytes,
            target=info.name.address not in servers.decommissioned,
            drain=info.name.address in offload,
        )
        for info in servers.infos()
    ]
    live = {s.name for s in loads}
    opened, waiting = RegionState.OPEN, am.waiting
    pinned = {t for t in am.regions.tables() if locked(t)}
    regions = [
        RegionLoad(n.region_id, n.info.table, n.server, movable=n.info.table not in pinned)
        for n in am.regions
        if n.state is opened and not n.proc_id and n.server in live and n.region_id not in waiting
    ]
    return loads, regions


class Balancer:
    def __init__(
        self,
        config: BalancerConfig,
        am: AssignmentManager,
        servers: ServerManager,
        switches: SwitchBoard,
        mover: Mover,
        recovering: Callable[[], bool],
        locked: Callable[[str], bool],
    ) -> None:
        self.config = config
        self._locked = locked
        self._am = am
        self._servers = servers
        self._switches = switches
        self._mover = mover
        self._recovering = recovering
        self.last_run: BalancerRun | None = None
        self._moving: asyncio.Task[None] | None = None
        self._planning = asyncio.Lock()  # one run plans at a time (two operators, or one and the period)

    @property
    def running(self) -> bool:
        return self._moving is not None and not self._moving.done()

    def max_in_transition(self) -> int:
        return self.config.max_in_transition or max(100, len(self._am.regions) // 10)

    async def run(self, *, dry_run: bool = False, force: bool = False, trigger: bool = False) -> BalancerRun:
        """Plan now and start carrying the plan out (not waiting for it); return the run's record."""
        async with self._planning:
            return await self._run(dry_run, force, trigger)

    async def _run(self, dry_run: bool, force: bool, trigger: bool) -> BalancerRun:
        started_ms = int(time.time() * 1000)
        skipped = self._skip(dry_run, force)
        if skipped:
            run = BalancerRun(False, skipped, dry_run, force, trigger, started_ms, started_ms)
            if not dry_run and not self.running:  # a run still moving stays the last run
                self.last_run = run
            log.info("balancer_skipped", reason=skipped, trigger=trigger)
            return run
        servers, regions = snapshot(self._am, self._servers, self._switches.offloaded(), self._locked)
        began = time.monotonic()
        # Pure and over immutable inputs: in a thread, so that heartbeats and reports are answered while
        # a large cluster is planned.
        plan: Plan = await asyncio.to_thread(
            balance_plan.plan, servers, regions, weights=self.config.weights, slop=self.config.slop
        )
        run = BalancerRun(
            ran=bool(plan.reason),
            reason=plan.reason or f"every server is within the slop ({self.config.slop:g}) of the average",
            dry_run=dry_run,
            forced=force,
            trigger=trigger,
            started_ms=started_ms,
            plan_ms=int((time.monotonic() - began) * 1000),
            servers=sum(1 for s in servers if s.target),
            regions=len(regions),
            planned=len(plan.moves),
            cost_before=plan.cost_before,
            cost_after=plan.cost_after,
            moves=plan.moves[:MOVES_KEPT],
        )
        log.info(
            "balancer_planned",
            moves=run.planned,
            cost_before=round(plan.cost_before, 3),
            cost_after=round(plan.cost_after, 3),
            ms=run.plan_ms,
            dry_run=dry_run,
            reason=run.reason,
        )
        if dry_run or not plan.moves:
            run.finished_ms = int(time.time() * 1000)
            if not dry_run:
                self.last_run = run
            return run
        self.last_run = run
        self._moving = asyncio.get_running_loop().create_task(self._carry_out(run, plan.moves))
        return run

    def _skip(self, dry_run: bool, force: bool) -> str:
        if not dry_run and not self._switches.now.balancer_on:
            return "the balancer is switched off (balancer_switch(True) turns it on)"
        if self.running and not dry_run:
            p = self.last_run.progress if self.last_run else Progress()
            return f"the last run is still carrying out its moves ({p.done + p.failed} of {p.submitted} done)"
        if force:
            return ""
        if self._am.in_transition:
            return (
                f"{len(self._am.in_transition)} regions are in transition (force=True balances anyway, "
                "leaving those regions where they are)"
            )
        if self._recovering():
            return "dead servers are being recovered (force=True balances anyway)"
        return ""

    async def _carry_out(self, run: BalancerRun, moves: tuple[Move, ...]) -> None:
        story.caused_by(story.BALANCER)  # this task's transitions, in each region's story
        # Moves not started within a period are left for the next run (HBase: hbase.balancer.max.balancing).
        deadline = time.monotonic() + self.config.period_s
        try:
            await self._mover.carry_out(moves, run.progress, deadline)
        except Exception:  # the balancer must never take the master down (HBASE-25523's lesson)
            log.exception("balancer_moves_failed")
        finally:
            run.finished_ms = int(time.time() * 1000)
            p = run.progress
            log.info(
                "balancer_moves_finished",
                done=p.done,
                failed=p.failed,
                left=p.left,
                ms=run.finished_ms - run.started_ms,
            )

    async def chore(self) -> None:
        """Run every period while switched on; an error in a run is logged, never fatal."""
        while True:
            await asyncio.sleep(self.config.period_s)
            if not self._switches.now.balancer_on:
                continue
            try:
                await self.run(trigger=True)
            except Exception:
                log.exception("balancer_run_failed")

    async def stop(self) -> None:
        if self._moving is not None:
            self._moving.cancel()
            await asyncio.gather(self._moving, return_exceptions=True)
