"""Carrying out planned moves, throttled: as region move procedures, in batches, with at most a cap of
regions in transition at once (the balancer's and decommission's shared throttle).

Each batch is one `apply` (one group-committed meta batch, orders grouped per RegionServer: never one RPC
per region). A move is checked again when its turn comes: the region must still be OPEN, idle, on the
server the plan saw, and the target still a live server that takes regions; otherwise it is skipped (it
counts as failed). Moves not started before the deadline are left for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from master.assignment import AssignmentManager, Effects
from master.chores.balance_plan import Move
from master.errors import RequestError
from master.regions import RegionNode
from meta import RegionState, ServerName

log = structlog.get_logger("master")

RECHECK_S = 1.0  # with nothing committed, the deadline and the cap are looked at again this often


@dataclass(slots=True)
class Progress:
    submitted: int = 0
    done: int = 0  # the region is OPEN on the move's target
    failed: int = 0  # skipped when its turn came, or ended elsewhere
    left: int = 0  # not started before the deadline


class Mover:
    def __init__(
        self,
        am: AssignmentManager,
        apply: Callable[[Effects], Awaitable[None]],
        cap: Callable[[], int],
        may_take: Callable[[ServerName], bool],
        check: Callable[[RegionNode], None],
    ) -> None:
        self._am = am
        self._check = check  # raises a RequestError when the region may not move now (a table lock)
        self._apply = apply
        self._cap = cap
        self._may_take = may_take
        self._waiters: set[asyncio.Event] = set()

    def regions_changed(self) -> None:
        """Region rows were committed: moves in flight may have finished, room may have opened."""
        for event in self._waiters:
            event.set()

    async def carry_out(
        self, moves: Sequence[Move], progress: Progress, deadline: float | None = None
    ) -> None:
        pending = deque(moves)
        in_flight: dict[int, tuple[int, ServerName]] = {}  # region id -> (procedure id, target)
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            while pending or in_flight:
                self._settle(in_flight, progress)
                if not pending and not in_flight:
                    break
                if pending and deadline is not None and time.monotonic() >= deadline:
                    progress.left += len(pending)
                    pending.clear()
                    continue
                room = self._cap() - len(self._am.in_transition)
                if pending and room > 0:
                    effects = self._start(pending, room, in_flight, progress)
                    if effects:
                        await self._apply(effects)
                    continue
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), RECHECK_S)
        finally:
            self._waiters.discard(changed)

    def _start(
        self,
        pending: deque[Move],
        room: int,
        in_flight: dict[int, tuple[int, ServerName]],
        progress: Progress,
    ) -> Effects:
        am, effects = self._am, Effects()
        while pending and room > 0:
            move = pending.popleft()
            node = am.regions.get(move.region_id)
            if (
                node is None
                or node.proc_id
                or node.state is not RegionState.OPEN
                or node.server != move.source
                or move.region_id in am.waiting
                or not self._may_take(move.target)
            ):
                progress.failed += 1
                continue
            try:
                self._check(node)
                proc_id, moved = am.move(move.region_id, move.target)
            except RequestError:
                progress.failed += 1
                continue
            effects += moved
            in_flight[move.region_id] = (proc_id, move.target)
            progress.submitted += 1
            room -= 1
        return effects

    def _settle(self, in_flight: dict[int, tuple[int, ServerName]], progress: Progress) -> None:
        get = self._am.regions.get
        finished = []
        for region_id, (proc_id, target) in in_flight.items():
            node = get(region_id)
            if node is None or node.proc_id != proc_id:
                finished.append(region_id)
                if node is not None and node.state is RegionState.OPEN and node.server == target:
                    progress.done += 1
                else:
                    progress.failed += 1
        for region_id in finished:
            del in_flight[region_id]
