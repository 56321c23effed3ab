"""Decommissioned RegionServers (HBase's draining servers): no new region is placed on them, the balancer
leaves them out of its targets, and with offload their regions are moved off, throttled as the balancer's
moves are. Recommissioning clears the mark and may move chosen regions back.

A mark is kept by host:port in meta (master.chores.switches): it survives a master failover and a
restart of the server itself, until an operator recommissions it. A new master carries on offloading
(`resume`), and every balancer run drains what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from master import story
from master.assignment import AssignmentManager
from master.chores import balance_plan
from master.chores.balance_plan import Move
from master.chores.balancer import snapshot
from master.chores.mover import Mover, Progress
from master.chores.switches import SwitchBoard
from master.errors import InvalidArgument, RegionNotFound
from master.servers import ServerManager
from meta import RegionState, ServerName

log = structlog.get_logger("master")


@dataclass(frozen=True, slots=True)
class DecommissionedView:
    address: str
    offload: bool
    since_ms: int
    live: bool
    regions: int


class Decommissions:
    def __init__(
        self,
        am: AssignmentManager,
        servers: ServerManager,
        switches: SwitchBoard,
        mover: Mover,
        locked: Callable[[str], bool],
    ) -> None:
        self._am = am
        self._locked = locked
        self._servers = servers
        self._switches = switches
        self._mover = mover
        self._tasks: set[asyncio.Task[None]] = set()
        self._offloading: asyncio.Task[None] | None = None  # the one offload in progress
        servers.decommissioned.update(switches.now.addresses())

    async def decommission(self, servers: Sequence[ServerName], offload: bool) -> tuple[list[str], int]:
        """Mark `servers` (live incarnations) decommissioned, durably; with offload start moving their
        regions off. Return their addresses and the number of moves started."""
        addresses = sorted({s.address for s in servers})
        if not addresses:
            raise InvalidArgument("decommission needs at least one server")
        await self._switches.decommission(addresses, offload)
        self._servers.decommissioned.update(addresses)
        log.warning("servers_decommissioned", servers=addresses, offload=offload)
        return addresses, await self.offload() if offload else 0

    async def offload(self) -> int:
        """Start moving every region off the servers decommissioned with offload (replacing an offload in
        progress: one plan for all of them); return how many moves."""
        if self._offloading is not None:
            self._offloading.cancel()  # its moves in flight finish as the procedures they are
        servers, regions = snapshot(self._am, self._servers, self._switches.offloaded(), self._locked)
        plan = await asyncio.to_thread(balance_plan.plan, servers, regions, balance=False)
        self._offloading = self._start(plan.moves, "offload") if plan.moves else None
        return len(plan.moves)

    async def recommission(self, server: ServerName, region_ids: Sequence[int]) -> int:
        """Clear the mark of `server` (a live incarnation); move `region_ids` back to it. Return the moves."""
        moves = []
        for region_id in region_ids:
            node = self._am.regions.get(region_id)
            if node is None:
                raise RegionNotFound(f"region {region_id} does not exist")
            if node.state is not RegionState.OPEN or node.server is None:
                raise InvalidArgument(
                    f"region {region_id} is {node.state.name}: only OPEN regions can be moved back"
                )
            if node.server != server:
                moves.append(Move(region_id, node.server, server))
        if not await self._switches.recommission(server.address):
            raise InvalidArgument(f"server {server.address} is not decommissioned")
        self._servers.decommissioned.discard(server.address)
        log.warning("server_recommissioned", server=str(server), moves=len(moves))
        if self._offloading is not None and not self._offloading.done():
            await self.offload()  # the server is no longer to be emptied: plan again for the others
        if moves:
            self._start(moves, "recommission")
        return len(moves)

    def views(self) -> list[DecommissionedView]:
        out = []
        for d in self._switches.now.decommissioned:
            name = self._servers.by_address(d.address)
            regions = self._am.load[name] if name is not None else 0
            out.append(DecommissionedView(d.address, d.offload, d.since_ms, name is not None, regions))
        return out

    def _start(self, moves: Sequence[Move], why: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._carry_out(moves, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _carry_out(self, moves: Sequence[Move], why: str) -> None:
        story.caused_by(story.OPERATOR)  # an operator's decommission or recommission moves these regions
        progress = Progress()
        try:
            await self._mover.carry_out(moves, progress)
        except Exception:
            log.exception("decommission_moves_failed", why=why)
            return
        log.info(f"{why}_moves_finished", done=progress.done, failed=progress.failed)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
