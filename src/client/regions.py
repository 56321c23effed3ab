"""Admin's region calls: where a region is, and assigning, unassigning or moving it.

Region procedures (assign, unassign, move) return the master's procedure id, with wait=False too (a region
transition is one compact procedure in the region's own meta row: once done, the master keeps no record
of it, so there is no outcome to fetch later). With wait=True the call also waits, by polling GetRegion,
until that procedure no longer holds the region; the caller reads the outcome from get_region.
"""

from __future__ import annotations

import time

from client.base import AdminBase
from client.errors import ProcedureTimeout
from client.types import RegionLocation, RegionStory, location_from_proto, story_from_proto
from meta.states import RegionState
from meta.types import ServerName
from regent.config import parse_address
from regent.proto import master_pb2

#: Polling of a region procedure's end: quick at first (most moves on a healthy cluster finish in tens
#: of ms), then slower so that a long wait does not hammer the master.
POLL_START_S = 0.02
POLL_CAP_S = 0.2


class RegionAdmin(AdminBase):
    """Placing regions on RegionServers."""

    def get_region(self, region_id: int, *, timeout: float | None = None) -> RegionLocation:
        """Where region `region_id` is now; RegionNotFound if there is no such region."""
        request = master_pb2.RegionRequest(region_id=region_id)
        response: master_pb2.RegionLocation = self._call("GetRegion", request, self._deadline(timeout))
        return location_from_proto(response)

    def region_story(self, region_id: int, *, limit: int = 100, timeout: float | None = None) -> RegionStory:
        """Region `region_id`'s place and its last `limit` transitions (at most 1000), each with its cause:
        the master keeps them in memory, bounded, and the small ones in meta across a failover."""
        request = master_pb2.RegionStoryRequest(region_id=region_id, limit=limit)
        response: master_pb2.RegionStoryResponse = self._call("RegionStory", request, self._deadline(timeout))
        return story_from_proto(response)

    def assign(
        self,
        region_id: int,
        server: ServerName | str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Open region `region_id` on `server` (or where the master chooses); return the procedure id.

        `server` is a ServerName, "host:port" (the live incarnation there) or "host:port:startcode".
        With wait=True, return once the procedure has finished (see `_wait_region`).
        """
        return self._region_procedure("Assign", region_id, server, wait, timeout)

    def unassign(self, region_id: int, *, wait: bool = True, timeout: float | None = None) -> int:
        """Close region `region_id`, leaving it on no server; return the procedure id."""
        return self._region_procedure("Unassign", region_id, None, wait, timeout)

    def move(
        self,
        region_id: int,
        server: ServerName | str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Move region `region_id` to `server` (or where the master chooses); return the procedure id."""
        return self._region_procedure("Move", region_id, server, wait, timeout)

    def _region_procedure(
        self, method: str, region_id: int, server: ServerName | str | None, wait: bool, timeout: float | None
    ) -> int:
        # One deadline covers both the request and the wait, so `timeout` means what a caller expects.
        deadline = self._deadline(timeout)
        request = master_pb2.RegionRequest(region_id=region_id, server=server_text(server))
        response: master_pb2.ProcedureResponse = self._call(method, request, deadline)
        if wait and response.proc_id:
            self._wait_region(region_id, response.proc_id, deadline)
        return response.proc_id

    def _wait_region(self, region_id: int, proc_id: int, deadline: float) -> None:
        """Poll GetRegion until procedure `proc_id` no longer holds the region, or raise ProcedureTimeout.

        "No longer holds" rather than "the region reached state X": the procedure may end in more than one
        state (FAILED_OPEN after exhausted attempts, say), and the caller reads the outcome from get_region.
        """
        interval = POLL_START_S
        last: RegionState | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            location = self.get_region(region_id, timeout=remaining)
            last = location.state
            if location.proc_id != proc_id:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, POLL_CAP_S)
        seen = last.name if last is not None else "none (no answer yet)"
        raise ProcedureTimeout(
            f"region {region_id}: procedure {proc_id} had not finished at the deadline; "
            f"last state seen {seen}",
            region_id=region_id,
            proc_id=proc_id,
            last_state=last,
        )


def server_text(server: ServerName | str | None) -> str:
    """The RegionRequest.server text for a target server: "" (master's choice), host:port or
    host:port:startcode. A malformed string raises ValueError here rather than a remote InvalidArgument."""
    if server is None:
        return ""
    if isinstance(server, ServerName):
        return str(server)
    if isinstance(server, str):
        text = server.strip()
        try:
            return str(ServerName.parse(text))
        except ValueError:
            pass
        try:
            return str(parse_address(text))
        except ValueError:
            raise ValueError(
                f"a server is a ServerName, 'host:port' or 'host:port:startcode', got {server!r}"
            ) from None
    raise ValueError(f"a server is a ServerName, 'host:port' or 'host:port:startcode', got {server!r}")


__all__ = ["RegionAdmin", "server_text"]
