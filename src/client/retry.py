"""What the client does when a RegionServer refuses a region or does not answer: pure decisions, no I/O.

The router (client/routing.py) asks here, after every round of a call, what each refusal means for the
location cache and when to try again. HBase's client is the model (REFERENCE.md §D): a pause of 100 ms times
[1, 2, 3, 5, 10, 20, 40, 100, ...], with jitter so that many clients refused at once do not come back at once,
and never past the call's deadline. A refusal that says where the region went (MOVED with moved_to) is
retried at once, without a pause: the client already knows where to go.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from client.locations import LocationCache

#: HBase's client pause and backoff multipliers (hbase.client.pause, HConstants.RETRY_BACKOFF).
PAUSE_S = 0.1
BACKOFF = (1, 2, 3, 5, 10, 20, 40, 100, 100, 100, 100, 200, 200)
#: Jitter: each pause is lengthened by up to this fraction of itself, at random.
JITTER = 0.25
#: Transport failures: the server is down, restarting, or did not answer this attempt in time.
TRANSPORT_STATUSES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


class Reason(enum.IntEnum):
    """RegionError.Reason of data.proto."""

    NOT_SERVING = 0
    MOVED = 1
    OPENING = 2
    CLOSING = 3
    FENCED = 4
    SPLIT = 5


@dataclass(frozen=True, slots=True)
class Refusal:
    """A RegionServer's refusal of one region, as the router got it: `moved_to` is host:port or ""."""

    region_id: int
    reason: Reason
    moved_to: str = ""
    message: str = ""

    def describe(self, server: str) -> str:
        where = f" (now on {self.moved_to})" if self.moved_to else ""
        text = f": {self.message}" if self.message else ""
        return f"region {self.region_id} on {server}: {self.reason.name}{where}{text}"


def apply_refusal(cache: LocationCache, refusal: Refusal) -> bool:
    """Update `cache` for a refusal; return whether the retry may go at once (the new place is known).

    MOVED with moved_to: the region is cached there and retried at once. OPENING: kept (the same server will
    serve it shortly), retried after a pause. Everything else (NOT_SERVING, MOVED without a destination,
    CLOSING, FENCED, SPLIT): dropped, so the retry looks it up at the master again; after a SPLIT the lookup
    returns the daughters, which replace the parent in the cache.
    """
    if refusal.reason is Reason.MOVED and refusal.moved_to:
        return cache.moved(refusal.region_id, refusal.moved_to)
    if refusal.reason is Reason.OPENING:
        return False
    cache.drop(refusal.region_id)
    return False


def pause(attempt: int, remaining: float, rng: random.Random | None = None) -> float:
    """How long to wait before retry `attempt` (0 = the first retry), at most `remaining` seconds."""
    base = PAUSE_S * BACKOFF[min(attempt, len(BACKOFF) - 1)]
    jitter = (rng or random).random() * JITTER * base
    return max(0.0, min(base + jitter, remaining))


def is_transport_failure(status: str | None) -> bool:
    """Whether a failed RPC's status means the server, not the request, is the problem (retry elsewhere)."""
    return status in TRANSPORT_STATUSES


__all__ = ["BACKOFF", "PAUSE_S", "Reason", "Refusal", "apply_refusal", "is_transport_failure", "pause"]
