"""Watching for double service: two RegionServers serving one region at the same moment.

One implementation for `regent verify serving` and for the tests' DoubleServingWatch: a `ServingWatch`
asks every RegionServer in turn for the regions it serves (RegionServerAdmin.GetOnlineRegions, region id ->
open sequence number), keeps a short window of those answers, and reports every region that two servers
provably served at once (`doubly_served`). It does no threading and no scheduling: the caller calls
`sample()` in a loop (the CLI in its main thread, the tests in a background thread).

Why a window and not one snapshot: two servers' lists are never read at the same instant, so "both listed
region r" may be a move seen half before and half after. What cannot be a move: server X lists r with the
same open sequence number in two consecutive answers of X, so X served that one open of r all along in
between (a new open always gets a new sequence number), and another server Y lists r in an answer made in
between. Answers are strictly sequential (one call after the other), which is what makes "in between" mean
something; asking the servers in parallel would lose that.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from regent.proto import regionserver_pb2, regionserver_pb2_grpc
from regent.transport import Transport

#: How long one server may take to answer while sampling: a paused server must not stall the sampler.
PROBE_TIMEOUT_S = 0.5
#: A server that did not answer is asked again only after this long (doubling up to the cap), so that a
#: paused or dead server costs one probe timeout now and then rather than one per round.
SILENT_BACKOFF_S = 0.25
SILENT_BACKOFF_CAP_S = 2.0


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer of GetOnlineRegions: which server, when (wall clock, seconds), and what it served
    (region id -> open sequence number)."""

    server: str
    at: float
    online: dict[int, int]


@dataclass(frozen=True, slots=True)
class DoubleService:
    """Region `region_id` served by `server` (under `open_seq_num`, seen at `held_from` and again at
    `held_until`) and, in between, by `other` (under `other_open_seq_num`, seen at `at`)."""

    region_id: int
    server: str
    open_seq_num: int
    held_from: float
    held_until: float
    other: str
    other_open_seq_num: int
    at: float

    @property
    def key(self) -> tuple[int, str, int, str, int]:
        """What identifies one double service (the same one seen in several windows counts once)."""
        return (self.region_id, self.server, self.open_seq_num, self.other, self.other_open_seq_num)

    def __str__(self) -> str:
        return (
            f"region {self.region_id} served by {self.server} (open sequence number {self.open_seq_num}, "
            f"seen at {self.held_from:.3f} and {self.held_until:.3f}) and by {self.other} (open sequence "
            f"number {self.other_open_seq_num}, seen at {self.at:.3f})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "region_id": self.region_id,
            "servers": [self.server, self.other],
            "open_seq_nums": [self.open_seq_num, self.other_open_seq_num],
            "at": self.at,
            "held_from": self.held_from,
            "held_until": self.held_until,
        }


def doubly_served(observations: Sequence[Observation]) -> list[DoubleService]:
    """Regions two servers served at the same instant, from sequential observations (oldest first): see
    the module's docstring for why only a steady hold with another server's listing in between counts."""
    by_server: dict[str, list[int]] = {}
    for index, observation in enumerate(observations):
        by_server.setdefault(observation.server, []).append(index)
    found = []
    for server, indexes in by_server.items():
        for a, b in itertools.pairwise(indexes):
            held, later = observations[a], observations[b]
            steady = {rid for rid, seq in held.online.items() if later.online.get(rid) == seq}
            if not steady:
                continue
            for c in range(a + 1, b):
                other = observations[c]
                if other.server == server:
                    continue
                for rid in sorted(steady & other.online.keys()):
                    found.append(
                        DoubleService(
                            region_id=rid,
                            server=server,
                            open_seq_num=held.online[rid],
                            held_from=held.at,
                            held_until=later.at,
                            other=other.server,
                            other_open_seq_num=other.online[rid],
                            at=other.at,
                        )
                    )
    return found


#: What a probe of a server that is gone or going gets: no answer, not an error of the watch.
NO_ANSWER = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


class OnlineProbe:
    """GetOnlineRegions over one cached channel per server address (a TLS handshake per probe would cost
    more than the probe). Returns None for a server that does not answer in time (dead, paused, exiting:
    UNAVAILABLE, DEADLINE_EXCEEDED, or CANCELLED, which a server that stops while the call is in flight
    answers); raises grpc.RpcError for any other refusal (PERMISSION_DENIED: the certificate is not
    admin's)."""

    def __init__(self, transport: Transport, timeout: float = PROBE_TIMEOUT_S) -> None:
        self.transport = transport
        self.timeout = timeout
        self._stubs: dict[str, regionserver_pb2_grpc.RegionServerAdminStub] = {}
        self._channels: list[Any] = []

    def __call__(self, address: str) -> dict[int, int] | None:
        stub = self._stubs.get(address)
        if stub is None:
            channel = self.transport.channel(address)
            self._channels.append(channel)
            stub = self._stubs[address] = regionserver_pb2_grpc.RegionServerAdminStub(channel)
        try:
            response = stub.GetOnlineRegions(regionserver_pb2.GetOnlineRegionsRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code in NO_ANSWER:
                return None
            raise
        return dict(zip(response.region_ids, response.open_seq_nums, strict=True))

    def close(self) -> None:
        for channel in self._channels:
            with contextlib.suppress(Exception):
                channel.close()
        self._channels.clear()
        self._stubs.clear()


class ServingWatch:
    """Rounds of sequential GetOnlineRegions over the servers `servers()` names, and the double services
    they show.

    `servers`: the addresses to ask, called once per round (the CLI refreshes them from the master's
    ClusterStatus, the tests from the daemons they started). `probe`: one server's answer or None.
    `clock`: wall-clock seconds for the observations' times. Each double service is reported once
    (`found`, in the order seen); `answers` counts the answers received, `rounds` the rounds made.
    """

    def __init__(
        self,
        servers: Callable[[], Iterable[str]],
        probe: Callable[[str], dict[int, int] | None],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = servers
        self.probe = probe
        self.clock = clock
        self.monotonic = monotonic
        self.found: list[DoubleService] = []
        self.answers = 0
        self.rounds = 0
        self.last_round: list[str] = []
        self._seen: set[tuple[int, str, int, str, int]] = set()
        self._window: list[Observation] = []
        self._silent: dict[str, tuple[float, float]] = {}  # address -> (ask again at, backoff)

    def sample(self) -> list[DoubleService]:
        """One round: ask each server in turn; return the double services seen for the first time."""
        addresses = list(dict.fromkeys(self.servers()))
        self.last_round = addresses
        now = self.monotonic()
        for address in addresses:
            silent = self._silent.get(address)
            if silent is not None and now < silent[0]:
                continue
            online = self.probe(address)
            if online is None:
                backoff = min(2 * silent[1], SILENT_BACKOFF_CAP_S) if silent else SILENT_BACKOFF_S
                self._silent[address] = (self.monotonic() + backoff, backoff)
                continue
            self._silent.pop(address, None)
            self._window.append(Observation(address, self.clock(), online))
            self.answers += 1
        self.rounds += 1
        # Two observations of one server with every other server's in between fit in two rounds.
        self._window = self._window[-(2 * len(addresses) + 2) :]
        new = [d for d in doubly_served(self._window) if d.key not in self._seen]
        for double in new:
            self._seen.add(double.key)
        self.found += new
        return new


__all__ = [
    "PROBE_TIMEOUT_S",
    "DoubleService",
    "Observation",
    "OnlineProbe",
    "ServingWatch",
    "doubly_served",
]
