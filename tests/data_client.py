"""A small test-side data client: a row routed to its region through the master, then one-cell writes and
reads (RegionData.Mutate and Get, tests/data_calls.py) straight to the RegionServer that serves it, retried
until a per-call deadline (DESIGN.md §8, §11).

What the SDK does properly (src/client), kept to what the tests need: region locations come from
`admin.table_regions` (the whole table, kept sorted by start key); a refusal that means "not here" (any
RegionError of the region, or a server that does not answer) drops the cached locations and looks them up
again, after a short backoff; a region in transition (not OPEN, or on no server) is waited for the same way.
A call that runs out of deadline raises `DataCallTimeout` with what it last met. One gRPC channel per
RegionServer address is kept for the client's life (a channel per call would make the load mostly
connection set-up).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from meta import RegionState
from regent.proto import data_pb2_grpc
from tests import data_calls
from tests.cluster import open_channel

T = TypeVar("T")

#: How long one attempt (one RPC) may take: a server that hangs must not eat the whole call's deadline.
ATTEMPT_TIMEOUT_S = 2.0
#: Backoff between attempts, doubled up to BACKOFF_MAX_S.
BACKOFF_S = 0.005
BACKOFF_MAX_S = 0.1
#: Refusals that mean "ask the master again where the region is".
_RELOCATE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class DataCallTimeout(AssertionError):
    """A Put or Get did not succeed before its deadline."""


class DataClient:
    """Put/Get on one table's rows through the servers that serve them; safe to share between threads."""

    def __init__(self, admin: Any, table: str, *, call_timeout: float = 20.0) -> None:
        self._admin = admin
        self.table = table
        self.call_timeout = call_timeout
        self._lock = threading.Lock()
        self._starts: list[bytes] = []
        self._locations: list[Any] = []
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, data_pb2_grpc.RegionDataStub] = {}
        #: Counters for the test's report: attempts refused or unanswered, and lookups made.
        self.retries = 0
        self.lookups = 0
        #: The longest a call took (seconds) until it succeeded.
        self.slowest = 0.0

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

    def __enter__(self) -> DataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the calls ----

    def put(self, row: bytes, column: bytes, value: bytes) -> None:
        def attempt(stub: Any, region_id: int, timeout: float) -> None:
            data_calls.put(stub, region_id, row, column, value, timeout)

        self._retrying(row, attempt, f"Put {row!r} {column!r}")

    def get(self, row: bytes, column: bytes) -> bytes | None:
        def attempt(stub: Any, region_id: int, timeout: float) -> bytes | None:
            return data_calls.get(stub, region_id, row, column, timeout)

        return self._retrying(row, attempt, f"Get {row!r} {column!r}")

    # ---- routing and retrying ----

    def _retrying(self, row: bytes, attempt: Callable[[Any, int, float], T], what: str) -> T:
        started = time.monotonic()
        deadline = started + self.call_timeout
        backoff = BACKOFF_S
        last = "no attempt made"
        while True:
            location = self._locate(row)
            if location is None:
                last = "the table has no region for the row (not looked up yet, or being recreated)"
            elif location.state is not RegionState.OPEN or location.server is None:
                last = f"region {location.region_id} is {location.state.name} on {location.server}"
            else:
                left = deadline - time.monotonic()
                try:
                    result = attempt(
                        self._stub(location.server.address),
                        location.region_id,
                        max(0.01, min(ATTEMPT_TIMEOUT_S, left)),
                    )
                except data_calls.RegionRefused as exc:  # the region is not served there (any more)
                    last = f"{exc} (from {location.server.address})"
                except grpc.RpcError as exc:
                    code = exc.code() if isinstance(exc, grpc.Call) else None
                    if code not in _RELOCATE_CODES:
                        raise  # a refusal no retry can cure: the test's business
                    last = f"{code.name if code else '?'} from {location.server.address}: {exc.details()}"  # type: ignore[attr-defined]
                else:
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    return result
            self.retries += 1
            if time.monotonic() + backoff >= deadline:
                raise DataCallTimeout(f"{what} did not succeed within {self.call_timeout:g}s; last: {last}")
            threading.Event().wait(backoff)  # a client's backoff between attempts, not a wait for a state
            backoff = min(BACKOFF_MAX_S, backoff * 2)
            self._invalidate(location)

    def _locate(self, row: bytes) -> Any:
        with self._lock:
            locations, starts = self._locations, self._starts
        if not locations:
            locations = self._lookup()
            starts = [loc.info.start_key for loc in locations]
        index = bisect.bisect_right(starts, row) - 1
        if index < 0:
            return None
        location = locations[index]
        return location if location.info.contains(row) else None

    def _lookup(self) -> list[Any]:
        try:
            locations = list(self._admin.table_regions(self.table, timeout=ATTEMPT_TIMEOUT_S))
        except Exception:  # the master is busy or away: the caller retries until its deadline
            return []
        self.lookups += 1
        with self._lock:
            self._locations = locations
            self._starts = [loc.info.start_key for loc in locations]
        return locations

    def _invalidate(self, location: Any) -> None:
        """Drop the cached locations (once per stale view: a thread that already refreshed keeps its)."""
        with self._lock:
            if location is None or location in self._locations:
                self._locations, self._starts = [], []

    def _stub(self, address: str) -> Any:
        with self._lock:
            stub = self._stubs.get(address)
            if stub is None:
                channel = open_channel(
                    address, who="app"
                )  # a client-role certificate: data is what it may do
                self._channels[address] = channel
                stub = self._stubs[address] = data_pb2_grpc.RegionDataStub(channel)
            return stub
