"""Routing of data calls: rows to regions (the location cache), regions to RegionServers, retries.

A multi-row call (`Router.execute`) is done in rounds. Each round groups the rows not done yet by region
and the regions by server (`group_rows`), sends one RPC per server, all in parallel (gRPC futures), and
reads the answers: a region's rows are done, or the region was refused (a RegionError: client/retry.py
decides what that means for the cache), or its server did not answer (a transport failure: every region
cached on that server is forgotten). Only the refused rows go into the next round, after a pause with
backoff and jitter (none when a refusal said where the region went). Rows in no cached region are looked
up at the master in one LocateRegions per run of missing rows, which prefetches the regions after them.
A call of one row whose region is cached is one blocking call without the rounds (`Router._one`); the
rounds take it over only when that call did not do it.

Every call has a deadline; each attempt gets at most `rpc_timeout` of it, so a server that hangs (SIGSTOP)
costs one attempt, not the whole call. When the deadline runs out, DataTimeout names the table, the rows
not done and the last cause. Any other refusal (a malformed request, a bad filter, a missing permission)
is the server's answer and is raised at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import grpc  # type: ignore[import-untyped, unused-ignore]

from client.errors import (
    DataTimeout,
    MasterUnavailable,
    RegentError,
    TableNotEnabled,
    from_rpc_error,
    status_name,
)
from client.locations import CachedRegion, LocationCache, Locations
from client.retry import Reason, Refusal, apply_refusal, is_transport_failure, pause
from meta.states import RegionState
from meta.types import TableState
from regent.proto import data_pb2, data_pb2_grpc, master_pb2

#: Regions asked for per LocateRegions: the one holding the row and the next ones (HBase prefetches ~10).
PREFETCH = 10
#: A run of missing rows longer than this asks for as many regions as it has rows (up to the master's cap).
MAX_PREFETCH = 1000
#: A lookup that waits at the master for its region to open: at most this long per lookup, and never closer
#: than the margin to the call's deadline (the answer must still arrive in time).
LOCATE_WAIT_S = 2.0
LOCATE_WAIT_MARGIN_S = 0.2
#: Rounds retried without a pause when every refused region was dropped from the cache (the next lookup
#: waits at the master instead); after these, HBase's backoff applies.
QUICK_RELOCATES = 2
#: The longest one attempt may take by default (HBase's hbase.rpc.timeout, shorter: a hung server must
#: not eat a whole call's deadline).
RPC_TIMEOUT_S = 10.0
#: How many rows a DataTimeout message quotes.
QUOTED_ROWS = 5

I = TypeVar("I")  # noqa: E741 - an item of a call (a row to read, a row's mutations)
R = TypeVar("R")  # what the call returns for one item
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True)
class RegionReply(Generic[R_co]):
    """One region's part of a reply: refused (`refusal` set, nothing done) or one result per item."""

    refusal: Refusal | None
    results: Sequence[R_co] = ()


class Operation(Protocol[I_contra, R_co]):
    """How one kind of call is built and read (client/operations.py has the kinds)."""

    @property
    def method(self) -> str:
        """The RegionData method: "Get", "Mutate", ..."""
        ...

    def row(self, item: I_contra) -> bytes: ...

    def request(self, regions: Sequence[tuple[int, Sequence[I_contra]]]) -> Any: ...

    def replies(self, request: Any, response: Any) -> Sequence[RegionReply[R_co]]:
        """One per region of the request, in its order."""
        ...


@dataclass(slots=True)
class Grouping:
    """Rows (by index) grouped by server, then by region; `missing`: rows in no cached region."""

    by_server: dict[str, dict[CachedRegion, list[int]]] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    cause: str = ""  # why the first missing row is in no region on a server


def group_rows(cache: LocationCache, rows: Iterable[tuple[int, bytes]]) -> Grouping:
    """Group indexed rows by the cached region holding each, per server (pure: tests drive it alone)."""
    grouping = Grouping()
    for index, row in rows:
        region = cache.find(row)
        if region is None:
            grouping.missing.append(index)
        else:
            grouping.by_server.setdefault(region.server, {}).setdefault(region, []).append(index)
    return grouping


def region_from_location(location: master_pb2.RegionLocation) -> CachedRegion | None:
    """The cache entry for what the master answered; None for a region that is not OPEN on a server (not
    cached: a region opening, closing, splitting or merging is not served yet, DESIGN §4)."""
    if location.state != int(RegionState.OPEN) or not location.HasField("server") or not location.server.host:
        return None
    info = location.info
    server = f"{location.server.host}:{location.server.port}"
    return CachedRegion(info.region_id, info.start_key, info.end_key, server)


def refusal_from_proto(error: data_pb2.RegionError, region_id: int) -> Refusal:
    moved_to = f"{error.moved_to.host}:{error.moved_to.port}" if error.HasField("moved_to") else ""
    try:
        reason = Reason(error.reason)
    except ValueError:
        reason = Reason.NOT_SERVING
    return Refusal(region_id, reason, moved_to if error.moved_to.host else "", error.message)


class Router:
    """The data path of one Connection: location caches, a channel per RegionServer, the retry loop."""

    def __init__(
        self,
        master_call: Callable[..., Any],
        channel_factory: Callable[[str], Any],
        *,
        rpc_timeout: float = RPC_TIMEOUT_S,
    ) -> None:
        self._master_call = master_call
        self._channel_factory = channel_factory
        self.rpc_timeout = rpc_timeout
        self.locations = Locations()
        self._lock = threading.Lock()
        self._channels: dict[str, Any] = {}
        self._stubs: dict[str, data_pb2_grpc.RegionDataStub] = {}
        self._closed = False
        self._rng = random.Random()

    # ---- RegionServers ----

    def stub(self, server: str) -> data_pb2_grpc.RegionDataStub:
        with self._lock:
            if self._closed:
                raise RegentError("the connection is closed")
            stub = self._stubs.get(server)
            if stub is None:
                channel = self._channels[server] = self._channel_factory(server)
                stub = self._stubs[server] = data_pb2_grpc.RegionDataStub(channel)
            return stub

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channels = list(self._channels.values())
            self._channels.clear()
            self._stubs.clear()
        for channel in channels:
            channel.close()

    def attempt_timeout(self, deadline: float) -> float:
        return max(0.0, min(self.rpc_timeout, deadline - time.monotonic()))

    def pause(self, attempt: int, deadline: float) -> None:
        time.sleep(pause(attempt, deadline - time.monotonic(), self._rng))

    def server_failed(self, server: str) -> None:
        """`server` did not answer: forget every region cached on it, in every table."""
        self.locations.drop_server(server)

    # ---- the master ----

    def locate(
        self,
        table: str,
        row: bytes,
        deadline: float,
        *,
        count: int = PREFETCH,
        backwards: bool = False,
        wait: bool = False,
    ) -> list[master_pb2.RegionLocation]:
        """Ask the master for the region holding `row` and the `count`-1 after it (before it, backwards),
        and cache those that are OPEN on a server. Returns what the master answered. With `wait`, the
        master answers once the region holding `row` is open (or after LOCATE_WAIT_S, or near the
        deadline): a region being moved, split or merged is found the moment it serves again."""
        wait_s = min(LOCATE_WAIT_S, deadline - time.monotonic() - LOCATE_WAIT_MARGIN_S) if wait else 0.0
        request = master_pb2.LocateRegionsRequest(
            table=table,
            row=row,
            count=min(count, MAX_PREFETCH),
            backwards=backwards,
            wait_ms=max(0, int(wait_s * 1000)),
        )
        response: master_pb2.LocateRegionsResponse = self._ask_master(
            table, row, "LocateRegions", request, deadline
        )
        regions = [region_from_location(loc) for loc in response.regions]
        self.locations.table(table).add(r for r in regions if r is not None)
        return list(response.regions)

    def _ask_master(self, table: str, row: bytes, method: str, request: Any, deadline: float) -> Any:
        """Master.<method> within the rest of a data call's deadline. No master answering by then is the
        data call's deadline running out (DataTimeout, the master's unavailability its cause), as any
        other reason would be: a data call raises only for its deadline or for what the cluster refused."""
        remaining = max(0.001, deadline - time.monotonic())
        try:
            return self._master_call(method, request, remaining)
        except MasterUnavailable as exc:
            rows = (row,) if row else ()
            raise DataTimeout(
                f"table {table!r}: no active master answered within the data call's deadline ({exc})",
                table=table,
                rows=rows,
                cause=str(exc),
            ) from None

    def region_for(self, table: str, row: bytes, deadline: float) -> tuple[CachedRegion | None, str]:
        """The region holding `row`, from the cache or the master; None and why when it is on no server."""
        cache = self.locations.table(table)
        region = cache.find(row)
        if region is not None:
            return region, ""
        answered = self.locate(table, row, deadline)
        region = cache.find(row)
        return region, "" if region is not None else self._unplaced(table, answered, row, deadline)

    def region_before(self, table: str, key: bytes, deadline: float) -> tuple[CachedRegion | None, str]:
        """The region holding the keys just below `key` (b"": the table's last region), for reverse scans."""
        cache = self.locations.table(table)
        region = cache.find_before(key)
        if region is not None:
            return region, ""
        # The master finds the region holding a row: `key` itself is in the region after the one wanted
        # (or, b"", the first), so ask backwards from it, or from the largest key there can be.
        row = key if key else b"\xff" * 32767
        answered = self.locate(table, row, deadline, backwards=True)
        region = cache.find_before(key)
        return region, "" if region is not None else self._unplaced(table, answered, key, deadline)

    def _unplaced(
        self, table: str, answered: Sequence[master_pb2.RegionLocation], row: bytes, deadline: float
    ) -> str:
        """Why the master's answer placed `row` in no region on a server (a DataTimeout's cause, if it
        lasts). A region on no server may be in transition, or its table disabled: the master is asked
        which, and a disabled table raises TableNotEnabled at once rather than at the deadline."""
        if not answered:
            return f"the master knows no online region holding row {row!r}"
        first = answered[0]
        if region_from_location(first) is not None:
            return f"the master's answer for row {row!r} named no region holding it"
        self.refuse_if_disabled(table, deadline)
        try:
            state = RegionState(first.state).name
        except ValueError:
            state = str(first.state)
        return f"region {first.info.region_id} is on no server (state {state})"

    def refuse_if_disabled(self, table: str, deadline: float) -> None:
        """TableNotEnabled if `table` is disabled or being disabled (its rows cannot be served)."""
        described = self._ask_master(
            table, b"", "DescribeTable", master_pb2.TableRequest(name=table), deadline
        )
        state = TableState(described.state)
        if state in (TableState.DISABLED, TableState.DISABLING):
            raise TableNotEnabled(f"table {table!r} is {state.name}: enable it to read or write its rows")

    # ---- the retry loop ----

    def execute(self, table: str, op: Operation[I, R], items: Sequence[I], deadline: float) -> list[R]:
        """Run `op` for every item, in rounds until each is done; results in the items' order."""
        cause = ""
        if len(items) == 1:
            done, cause = self._one(table, op, items[0], deadline)
            if done is not None:
                return done
        results: dict[int, R] = {}
        pending = dict(enumerate(items))
        cache = self.locations.table(table)
        attempt = 0
        while pending:
            if time.monotonic() >= deadline:
                raise self._timeout(table, op, [pending[i] for i in sorted(pending)], cause)
            grouping = self._group(table, cache, op, pending, deadline)
            if grouping.missing:
                cause = grouping.cause or cause
            at_once, cause = self._round(table, cache, op, pending, grouping, results, deadline, cause)
            if pending and not at_once:
                if attempt < QUICK_RELOCATES and not group_rows(cache, self._rows(op, pending)).by_server:
                    # Every refused row's region was dropped from the cache: the next round asks the master,
                    # which answers when the region is open again (no pause needed for that).
                    attempt += 1
                    continue
                self.pause(attempt, deadline)
                attempt += 1
        return [results[i] for i in range(len(items))]

    def _one(self, table: str, op: Operation[I, R], item: I, deadline: float) -> tuple[list[R] | None, str]:
        """A single row whose region is cached, in one blocking call without the rounds' bookkeeping (a
        happybase `row` or `put`, the commonest call): (its result, ""), or (None, why) if it is not
        done: the region is not cached, it was refused (the cache told, as a round would), or its server
        did not answer (forgotten); the rounds then take the row from the start within the same deadline,
        and name the cause if the deadline runs out first."""
        cache = self.locations.table(table)
        region = cache.find(op.row(item))
        if region is None or time.monotonic() >= deadline:
            return None, ""
        server = region.server
        request = op.request([(region.region_id, [item])])
        try:
            response = getattr(self.stub(server), op.method)(request, timeout=self.attempt_timeout(deadline))
        except grpc.RpcError as exc:
            if not is_transport_failure(status_name(exc)):
                raise from_rpc_error(exc) from None
            self.server_failed(server)
            return None, _no_answer(server, exc)
        replies = op.replies(request, response)
        if len(replies) != 1 or (replies[0].refusal is None and len(replies[0].results) != 1):
            return None, f"server {server} did not answer for region {region.region_id}"
        reply = replies[0]
        if reply.refusal is not None:
            apply_refusal(cache, reply.refusal)
            return None, reply.refusal.describe(server)
        return list(reply.results), ""

    @staticmethod
    def _rows(op: Operation[I, R], pending: dict[int, I]) -> list[tuple[int, bytes]]:
        return sorted(((i, op.row(item)) for i, item in pending.items()), key=lambda x: x[1])

    def _group(
        self, table: str, cache: LocationCache, op: Operation[I, R], pending: dict[int, I], deadline: float
    ) -> Grouping:
        grouping = group_rows(cache, self._rows(op, pending))
        lookups = 0
        while grouping.missing and lookups < len(pending):
            # One lookup per run of missing rows: it caches the region of the first and those after it.
            missing = [(i, op.row(pending[i])) for i in grouping.missing]
            row = missing[0][1]
            count = max(PREFETCH, len(missing))
            answered = self.locate(table, row, deadline, count=count)
            found = group_rows(cache, missing)
            if found.missing and found.missing[0] == grouping.missing[0]:
                # The region holding it is not open (moving, splitting, merging): ask again, and let the
                # master answer when it opens rather than polling with backoff.
                answered = self.locate(table, row, deadline, count=count, wait=True)
                found = group_rows(cache, missing)
            lookups += 1
            for server, regions in found.by_server.items():
                mine = grouping.by_server.setdefault(server, {})
                for region, indexes in regions.items():
                    mine.setdefault(region, []).extend(indexes)
            if found.missing and found.missing[0] == grouping.missing[0]:
                grouping.missing = found.missing
                grouping.cause = self._unplaced(table, answered, row, deadline)
                break  # the first missing row is on no server: wait, and look again next round
            grouping.missing = found.missing
        return grouping

    def _round(
        self,
        table: str,
        cache: LocationCache,
        op: Operation[I, R],
        pending: dict[int, I],
        grouping: Grouping,
        results: dict[int, R],
        deadline: float,
        cause: str,
    ) -> tuple[bool, str]:
        """Send one RPC per server in parallel and take in the answers; (retry at once?, last cause)."""
        timeout = self.attempt_timeout(deadline)
        calls = []
        single = len(grouping.by_server) == 1
        for server, regions in grouping.by_server.items():
            order = list(regions.items())
            request = op.request([(r.region_id, [pending[i] for i in idx]) for r, idx in order])
            method = getattr(self.stub(server), op.method)
            # One server: a blocking call, which costs gRPC less than a future (no hand-off to a thread).
            future = _Called(method, request, timeout) if single else method.future(request, timeout=timeout)
            calls.append((server, order, request, future))
        at_once = bool(calls)
        for server, order, request, future in calls:
            try:
                response = future.result()
            except grpc.RpcError as exc:
                if not is_transport_failure(status_name(exc)):
                    for _, _, _, other in calls:
                        other.cancel()
                    raise from_rpc_error(exc) from None
                self.server_failed(server)
                cause = _no_answer(server, exc)
                at_once = False
                continue
            replies = op.replies(request, response)
            for (_, indexes), reply in zip(order, replies, strict=False):
                if reply.refusal is not None:
                    at_once = apply_refusal(cache, reply.refusal) and at_once
                    cause = reply.refusal.describe(server)
                    continue
                for index, result in zip(indexes, reply.results, strict=True):
                    results[index] = result
                    del pending[index]
            if len(replies) < len(order):
                cause = f"server {server} answered {len(replies)} of {len(order)} regions"
                at_once = False
        return at_once, cause

    def _timeout(self, table: str, op: Operation[I, R], items: Sequence[I], cause: str) -> DataTimeout:
        rows = tuple(dict.fromkeys(op.row(item) for item in items))
        quoted = ", ".join(repr(r) for r in rows[:QUOTED_ROWS])
        more = f" and {len(rows) - QUOTED_ROWS} more" if len(rows) > QUOTED_ROWS else ""
        return DataTimeout(
            f"table {table!r}: {op.method} of row(s) {quoted}{more} not done within the deadline; "
            f"last cause: {cause or 'none recorded'}",
            table=table,
            rows=rows,
            cause=cause,
        )


class _Called:
    """A blocking call made when its result is asked for, in a future's shape (result, cancel)."""

    def __init__(self, method: Any, request: Any, timeout: float) -> None:
        self._method, self._request, self._timeout = method, request, timeout

    def result(self) -> Any:
        return self._method(self._request, timeout=self._timeout)

    def cancel(self) -> bool:
        return True


def _no_answer(server: str, exc: Any) -> str:
    """The cause of a call that `server` did not answer (a transport failure)."""
    return f"server {server}: {status_name(exc)} ({_details(exc)})"


def _details(exc: Any) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else ""
    return str(text or "")


__all__ = [
    "MAX_PREFETCH",
    "PREFETCH",
    "RPC_TIMEOUT_S",
    "Grouping",
    "Operation",
    "RegionReply",
    "Router",
    "group_rows",
    "refusal_from_proto",
    "region_from_location",
]
