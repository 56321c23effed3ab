"""The active master's background work, wired together: the switches loaded from meta, the throttled
mover, the balancer and its chore, decommissioned servers, the catalog janitor, hbck and the normalizer.
master.active holds one `Chores`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

import structlog

from master.chores import switches as switches_mod
from master.chores.balancer import Balancer, BalancerConfig
from master.chores.decommission import Decommissions
from master.chores.hbck import CatalogJanitor, Hbck
from master.chores.mover import Mover
from master.chores.normalizer import Normalizer, Submitter
from master.chores.switches import SwitchBoard
from master.procedures import ServerCrash
from master.regions import RegionNode
from meta import ServerName, WriteBatch

if TYPE_CHECKING:
    from master.active import ActiveMaster


log = structlog.get_logger("master")


class Chores:
    def __init__(
        self,
        active: ActiveMaster,
        config: BalancerConfig,
        persist: Callable[[WriteBatch], Awaitable[None]],
    ) -> None:
        self._active = active
        self.switches = SwitchBoard(switches_mod.load(active.store), persist)
        self.mover = Mover(active.am, active.apply, self._cap, self._may_take, self._movable)
        self.balancer = Balancer(
            config, active.am, active.servers, self.switches, self.mover, self._recovering, self._locked
        )
        self.decommissions = Decommissions(active.am, active.servers, self.switches, self.mover, self._locked)
        self.janitor = CatalogJanitor(active, active.config.catalog_janitor_period_s)
        self.normalizer = Normalizer(
            active.config.normalizer,
            active.am.regions,
            lambda: active.catalog.tables,
            active.servers,
            self.switches,
            active.dispatcher,
            self._submitter,
            lambda: len(active.am.in_transition),
        )
        self.hbck = Hbck(active)

    def _submitter(self) -> Submitter:
        # TableAdmin.split / merge come with the split and merge procedures (docs/split_merge_contract.md).
        return cast(Submitter, self._active.tables)

    def _cap(self) -> int:
        return self.balancer.max_in_transition()

    def _may_take(self, server: ServerName) -> bool:
        servers = self._active.servers
        return servers.is_live(server) and server.address not in servers.decommissioned

    def _locked(self, table: str) -> bool:
        """A table procedure holds the table (or waits for it): its regions are not moved meanwhile."""
        return self._active.procedures.holder(table) is not None

    def _movable(self, node: RegionNode) -> None:
        self._active.tables.check_region_procedure(node, "move")

    def _recovering(self) -> bool:
        return bool(self._active.procedures.running(ServerCrash))

    def regions_changed(self) -> None:
        self.mover.regions_changed()

    async def run(self) -> None:
        """Once the takeover is decided, carry on offloading what a previous master left; then the
        balancer's period."""
        await self._active.wait_planned()
        try:
            await self.decommissions.offload()
        except Exception:  # never fatal: the balancer's runs drain what is left
            log.exception("offload_resume_failed")
        await asyncio.gather(self.balancer.chore(), self.janitor.chore(), self.normalizer.chore())

    async def stop(self) -> None:
        await self.balancer.stop()
        await self.decommissions.stop()
