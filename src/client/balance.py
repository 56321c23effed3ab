"""Admin's balancer and decommission calls (HBase's balance, balancer_switch, decommission_regionservers,
recommission_regionserver, list_decommissioned_regionservers), and the types they return.

`balance()` returns once the master has planned: the moves go on in the master, throttled; follow them
with `balancer_status().last_run` (moves_done, finished_ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from client.base import AdminBase
from client.regions import server_text
from meta.types import ServerName
from regent.proto import master_pb2


@dataclass(frozen=True, slots=True)
class PlannedMove:
    region_id: int
    source: ServerName
    target: ServerName


@dataclass(frozen=True, slots=True)
class BalancerRun:
    """One run of the balancer. `ran` False: it was skipped, and `reason` says why (switched off, regions
    in transition, a run still moving, nothing outside the slop). `finished_ms` is 0 while its moves are
    being carried out. `moves` lists the first 1000 planned."""

    ran: bool
    reason: str
    dry_run: bool
    forced: bool
    trigger: bool
    started_ms: int
    finished_ms: int
    plan_ms: int
    planned: int
    moves_done: int
    moves_failed: int
    cost_before: float
    cost_after: float
    servers: int
    regions: int
    moves: tuple[PlannedMove, ...]

    @property
    def finished(self) -> bool:
        return self.finished_ms != 0


@dataclass(frozen=True, slots=True)
class BalancerStatus:
    on: bool
    period_s: float
    slop: float
    max_in_transition: int
    running: bool
    last_run: BalancerRun | None


@dataclass(frozen=True, slots=True)
class DecommissionedServer:
    address: str  # host:port: the mark outlives the server's restarts
    offload: bool
    since_ms: int
    live: bool
    regions: int  # regions open on it now


class BalanceAdmin(AdminBase):
    """The balancer and decommissioned RegionServers."""

    def balance(
        self, *, dry_run: bool = False, force: bool = False, timeout: float | None = None
    ) -> BalancerRun:
        """Run the balancer now. dry_run: plan and move nothing. force: even while regions are in
        transition (those stay where they are). Returns once planned; the moves go on in the master."""
        request = master_pb2.BalanceRequest(dry_run=bool(dry_run), force=bool(force))
        return run_from_proto(self._call("Balance", request, self._deadline(timeout)))

    def balancer_switch(self, on: bool, *, timeout: float | None = None) -> bool:
        """Switch the balancer's periodic runs on or off (kept in meta); return the previous state."""
        if not isinstance(on, bool):
            raise ValueError(f"on must be True or False, got {on!r}")
        request = master_pb2.BalancerSwitchRequest(on=on)
        response: master_pb2.BalancerSwitchResponse = self._call(
            "BalancerSwitch", request, self._deadline(timeout)
        )
        return response.previous

    def balancer_status(self, *, timeout: float | None = None) -> BalancerStatus:
        """The switch, the period, the slop, the throttle, and the last run of this master's balancer."""
        request = master_pb2.BalancerStatusRequest()
        r: master_pb2.BalancerStatusResponse = self._call("BalancerStatus", request, self._deadline(timeout))
        return BalancerStatus(
            r.on,
            r.period_s,
            r.slop,
            r.max_in_transition,
            r.running,
            run_from_proto(r.last_run) if r.HasField("last_run") else None,
        )

    def decommission(
        self,
        servers: Iterable[ServerName | str],
        offload: bool = True,
        *,
        timeout: float | None = None,
    ) -> int:
        """Take live RegionServers out of service: no new region goes there, the balancer leaves them out,
        and with offload their regions move off (throttled). Return the number of moves started."""
        if isinstance(servers, (str, ServerName)):
            servers = [servers]
        texts = [server_text(s) for s in servers]
        if not texts or "" in texts:
            raise ValueError("decommission needs one or more servers: 'host:port' or 'host:port:startcode'")
        request = master_pb2.DecommissionRequest(servers=texts, offload=bool(offload))
        response: master_pb2.DecommissionResponse = self._call(
            "Decommission", request, self._deadline(timeout)
        )
        return response.moves

    def recommission(
        self, server: ServerName | str, regions: Sequence[int] = (), *, timeout: float | None = None
    ) -> int:
        """Put a decommissioned server back in service and move `regions` (ids) back to it; return the
        number of moves started."""
        text = server_text(server)
        if not text:
            raise ValueError("recommission needs a server: 'host:port' or 'host:port:startcode'")
        ids = list(regions)
        if any(isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in ids):
            raise ValueError(f"regions must be region ids (positive whole numbers), got {ids!r}")
        request = master_pb2.RecommissionRequest(server=text, region_ids=ids)
        response: master_pb2.RecommissionResponse = self._call(
            "Recommission", request, self._deadline(timeout)
        )
        return response.moves

    def list_decommissioned(self, *, timeout: float | None = None) -> list[DecommissionedServer]:
        request = master_pb2.ListDecommissionedRequest()
        r: master_pb2.ListDecommissionedResponse = self._call(
            "ListDecommissioned", request, self._deadline(timeout)
        )
        return [DecommissionedServer(s.address, s.offload, s.since_ms, s.live, s.regions) for s in r.servers]


def run_from_proto(msg: master_pb2.BalancerRun) -> BalancerRun:
    return BalancerRun(
        msg.ran,
        msg.reason,
        msg.dry_run,
        msg.forced,
        msg.trigger,
        msg.started_ms,
        msg.finished_ms,
        msg.plan_ms,
        msg.planned,
        msg.moves_done,
        msg.moves_failed,
        msg.cost_before,
        msg.cost_after,
        msg.servers,
        msg.regions,
        tuple(
            PlannedMove(m.region_id, ServerName.parse(m.source), ServerName.parse(m.target))
            for m in msg.moves
        ),
    )


__all__ = ["BalanceAdmin", "BalancerRun", "BalancerStatus", "DecommissionedServer", "PlannedMove"]
