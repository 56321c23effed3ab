"""Admin: DDL, region placement and cluster status, all answered by the active master.

Arguments the SDK can check are checked here, before any RPC, and raise ValueError: a mistake in a split key
list is the caller's bug and should point at the caller's line, not come back as a remote error. Region
procedures (assign, unassign, move) return the master's procedure id; with wait=True the call also waits,
by polling GetRegion, until that procedure no longer holds the region.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from client.errors import ProcedureTimeout
from client.types import (
    ClusterStatus,
    Procedure,
    RegionLocation,
    cluster_status_from_proto,
    location_from_proto,
    procedure_from_proto,
)
from meta.states import RegionState
from meta.types import MAX_BOUNDARY_KEY, ColumnFamily, ServerName, TableDescriptor
from regent.config import parse_address
from regent.proto import common_pb2, master_pb2

if TYPE_CHECKING:
    from client.connection import Connection

#: Polling of a procedure's end: quick at first (most moves on a healthy cluster finish in tens of ms),
#: then slower so that a long wait does not hammer the master.
POLL_START_S = 0.02
POLL_CAP_S = 0.2

#: The largest region count a CreateTableRequest can carry (a uint32 field).
_MAX_NUM_REGIONS = 2**32 - 1


class Admin:
    """Administrative operations. Get one from `Connection.admin()`; it shares the connection's channels,
    so it is cheap and needs no closing of its own."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # ---- tables ----

    def create_table(
        self,
        name: str,
        families: Iterable[str | ColumnFamily],
        *,
        split_keys: Sequence[bytes] | None = None,
        num_regions: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Create table `name` and return the number of regions created.

        `families` are names (max_versions 1) or ColumnFamily values. The regions are given by `split_keys`
        (sorted, distinct, non-empty: n keys make n+1 regions), or `num_regions` spread over the byte key
        space, or neither for one region. The master starts assigning the regions before it answers; their
        placement can be followed with `table_regions()`.
        """
        descriptor = TableDescriptor(name, tuple(_family(f) for f in families))
        request = master_pb2.CreateTableRequest(
            name=descriptor.name,
            families=[
                common_pb2.ColumnFamily(name=f.name, max_versions=f.max_versions) for f in descriptor.families
            ],
        )
        if split_keys is not None and num_regions is not None:
            raise ValueError(f"table {name!r}: give split_keys or num_regions, not both")
        if split_keys is not None:
            request.split_keys.extend(check_split_keys(name, split_keys))
        if num_regions is not None:
            if isinstance(num_regions, bool) or not isinstance(num_regions, int):
                raise ValueError(f"table {name!r}: num_regions must be a whole number, got {num_regions!r}")
            if not 1 <= num_regions <= _MAX_NUM_REGIONS:
                raise ValueError(
                    f"table {name!r}: num_regions must be 1..{_MAX_NUM_REGIONS}, got {num_regions}"
                )
            request.num_regions = num_regions
        response: master_pb2.CreateTableResponse = self._conn._call("CreateTable", request, timeout)
        return response.regions

    def table_regions(self, name: str, *, timeout: float | None = None) -> list[RegionLocation]:
        """Every region of table `name` in key order, with its state and server."""
        request = master_pb2.TableRegionsRequest(name=name)
        response: master_pb2.TableRegionsResponse = self._conn._call("TableRegions", request, timeout)
        return [location_from_proto(loc) for loc in response.regions]

    # ---- regions ----

    def get_region(self, region_id: int, *, timeout: float | None = None) -> RegionLocation:
        """Where region `region_id` is now; RegionNotFound if there is no such region."""
        request = master_pb2.RegionRequest(region_id=region_id)
        response: master_pb2.RegionLocation = self._conn._call("GetRegion", request, timeout)
        return location_from_proto(response)

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
        With wait=True, return once the procedure has finished (see `_wait`).
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
        deadline = time.monotonic() + (self._conn.timeout if timeout is None else timeout)
        request = master_pb2.RegionRequest(region_id=region_id, server=server_text(server))
        response: master_pb2.ProcedureResponse = self._conn._call(
            method, request, max(0.0, deadline - time.monotonic())
        )
        if wait and response.proc_id:
            self._wait(region_id, response.proc_id, deadline)
        return response.proc_id

    def _wait(self, region_id: int, proc_id: int, deadline: float) -> None:
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

    # ---- cluster ----

    def cluster_status(self, *, timeout: float | None = None) -> ClusterStatus:
        """The active master's view: live servers, regions in transition, counts by state, epoch."""
        response: master_pb2.ClusterStatusResponse = self._conn._call(
            "ClusterStatus", master_pb2.ClusterStatusRequest(), timeout
        )
        return cluster_status_from_proto(response)

    # ---- procedures ----

    def list_procedures(self, *, limit: int = 1000, timeout: float | None = None) -> list[Procedure]:
        """The procedures the master is running, with their kind, current step and age (at most `limit`
        region procedures, by procedure id, after every server crash procedure)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 2**32 - 1:
            raise ValueError(f"limit must be a whole number 1..{2**32 - 1}, got {limit!r}")
        request = master_pb2.ListProceduresRequest(limit=limit)
        response: master_pb2.ListProceduresResponse = self._conn._call("ListProcedures", request, timeout)
        return [procedure_from_proto(p) for p in response.procedures]

    def bypass(self, proc_id: int, *, timeout: float | None = None) -> None:
        """Force procedure `proc_id` to end now, as HBCK2's bypass does, for a procedure that is stuck.

        A region transition ends with the region ABNORMALLY_CLOSED and no procedure (a close is sent to its
        server to be sure it serves nothing); assign it again when its cause is fixed. A server crash
        procedure ends without recovering the rest of its regions. ProcedureNotFound if none has that id.
        """
        self._conn._call("Bypass", master_pb2.BypassRequest(proc_id=proc_id), timeout)


def _family(family: str | ColumnFamily) -> ColumnFamily:
    if isinstance(family, ColumnFamily):
        return family
    if isinstance(family, str):
        return ColumnFamily(family)
    raise ValueError(f"a column family is a name (str) or a ColumnFamily, got {family!r}")


def check_split_keys(table: str, split_keys: Sequence[bytes]) -> list[bytes]:
    """Return the split keys as a list, or raise ValueError naming the first bad one.

    They must be bytes, non-empty (the empty key is where the first region already starts), at most
    MAX_BOUNDARY_KEY bytes (meta's key limit) and strictly increasing (sorted, no duplicates).
    """
    given: object = split_keys  # callers without type checking pass one key by mistake
    if isinstance(given, bytes | str):
        raise ValueError(f"table {table!r}: split_keys must be a sequence of bytes keys, not one {given!r}")
    keys = list(split_keys)
    for i, key in enumerate(keys):
        if not isinstance(key, bytes):
            raise ValueError(f"table {table!r}: split key {i} must be bytes, got {key!r}")
        if not key:
            raise ValueError(f"table {table!r}: split key {i} is empty (the first region starts at b'')")
        if len(key) > MAX_BOUNDARY_KEY:
            raise ValueError(
                f"table {table!r}: split key {i} has {len(key)} bytes, at most {MAX_BOUNDARY_KEY} are allowed"
            )
        if i and keys[i - 1] >= key:
            problem = "repeats" if keys[i - 1] == key else "is not after"
            raise ValueError(
                f"table {table!r}: split keys must be sorted and distinct: key {i} {key!r} {problem} "
                f"key {i - 1} {keys[i - 1]!r}"
            )
    return keys


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


__all__ = ["Admin", "check_split_keys", "server_text"]
