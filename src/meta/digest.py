"""The region digest: what a RegionServer holds, in two numbers (docs/architecture.md, "Reconciliation").

A digest is a count of (region id, open sequence number) pairs and the xor of `mix(pair)` over them. Both
the RegionServer (what it holds) and the master (what meta places OPEN on it) keep theirs up to date on every
open and close, so a heartbeat carries it for free and the master compares two pairs of integers; only when
they differ does the full list travel (master.reconcile).

xor makes adding and removing a pair the same cheap step, in any order. `mix` is a multiplicative hash: each
factor is odd, so for a fixed open sequence number it is a bijection of the region id modulo 2**64, and two
different sets of pairs collide only by accident (about 2**-64 per comparison). Hot loops inline it and mask
once at the end: the low 64 bits of a product depend only on the low 64 bits of its factors.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = (1 << 64) - 1
K1 = 0x9E3779B97F4A7C15  # odd: 2**64 / golden ratio
K2 = 0xBF58476D1CE4E5B9  # odd: splitmix64's first multiplier


def mix(region_id: int, open_seq_num: int) -> int:
    """One pair's contribution to a digest's hash."""
    return ((region_id * K1 ^ open_seq_num) * K2) & MASK


def of(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(count, hash) of `pairs`, computed afresh (the master checks a full list against its digest)."""
    count = acc = 0
    for region_id, seq in pairs:
        acc ^= (region_id * K1 ^ seq) * K2
        count += 1
    return count, acc & MASK


class Digest:
    """A running (count, hash): add and remove pairs as regions open and close."""

    __slots__ = ("count", "hash")

    def __init__(self) -> None:
        self.count = 0
        self.hash = 0

    def add(self, region_id: int, open_seq_num: int) -> None:
        self.count += 1
        self.hash ^= mix(region_id, open_seq_num)

    def remove(self, region_id: int, open_seq_num: int) -> None:
        self.count -= 1
        self.hash ^= mix(region_id, open_seq_num)

    def add_many(self, count: int, unmasked: int) -> None:
        """Add `count` pairs whose inlined mixes xor to `unmasked` (a hot loop's accumulator)."""
        self.count += count
        self.hash ^= unmasked & MASK

    def value(self) -> tuple[int, int]:
        return self.count, self.hash

    def __repr__(self) -> str:
        return f"<Digest count={self.count} hash={self.hash:016x}>"
