"""YCSB's core workloads as `regent bench data` runs them: keys, the zipfian request distribution, the
operation mixes and the latency summary. Pure (no I/O), after YCSB's CoreWorkload:

- A record is 10 fields of 100 bytes (`field0` .. `field9`), its key "user" + FNV-64 of its insertion number
  (so that keys are spread over the key space whatever order they were inserted in), here zero-padded to 20
  digits so that the key space splits evenly into regions (`split_keys`).
- Requests pick records with YCSB's ScrambledZipfianGenerator (Gray et al.'s zipfian, constant 0.99, over
  10^10 items, hashed onto the loaded records), so a few records are hot and they are spread over regions.
- A: 50% read / 50% update; B: 95% / 5%; C: 100% read; E: 95% scan (length uniform 1..100) / 5% insert.
  An update writes one field; a read and a scan read every field.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

FIELDS = 10
FIELD_BYTES = 100
FIELD_NAMES = tuple(b"f:field%d" % i for i in range(FIELDS))
FAMILY = "f"
MAX_SCAN = 100

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 1099511628211
_MASK = 2**64 - 1


def fnv64(value: int) -> int:
    """YCSB's Utils.fnvhash64: FNV-1 over the 8 bytes of `value`, least significant first."""
    hashed = _FNV_OFFSET
    for _ in range(8):
        octet = value & 0xFF
        value >>= 8
        hashed = (hashed ^ octet) * _FNV_PRIME & _MASK
    return hashed


def key(number: int) -> bytes:
    """The row key of record `number`."""
    return b"user%020d" % fnv64(number)


def split_keys(regions: int) -> list[bytes]:
    """Keys cutting the key space of `key` into `regions` even ranges."""
    return [b"user%020d" % (i * 2**64 // regions) for i in range(1, regions)]


def record(rng: random.Random) -> dict[bytes, bytes]:
    return {name: rng.randbytes(FIELD_BYTES) for name in FIELD_NAMES}


class ScrambledZipfian:
    """YCSB's ScrambledZipfianGenerator over `items` records: zipfian over 10^10 items (zeta precomputed,
    as YCSB does), each drawn number hashed onto 0..items-1."""

    ITEM_COUNT = 10_000_000_000
    ZETAN = 26.46902820178302  # zeta(10^10, 0.99), YCSB's constant
    THETA = 0.99

    def __init__(self, items: int, rng: random.Random) -> None:
        self.items = items
        self.rng = rng
        theta = self.THETA
        zeta2 = 1 + 0.5**theta
        self.alpha = 1 / (1 - theta)
        self.eta = (1 - (2 / self.ITEM_COUNT) ** (1 - theta)) / (1 - zeta2 / self.ZETAN)
        self.half_pow_theta = 1 + 0.5**theta

    def _zipfian(self) -> int:
        u = self.rng.random()
        uz = u * self.ZETAN
        if uz < 1:
            return 0
        if uz < self.half_pow_theta:
            return 1
        return int(self.ITEM_COUNT * math.pow(self.eta * u - self.eta + 1, self.alpha))

    def next(self) -> int:
        return fnv64(self._zipfian()) % self.items


@dataclass(frozen=True, slots=True)
class Workload:
    """An operation mix: the fraction of each operation (read, update, scan, insert)."""

    name: str
    read: float = 0.0
    update: float = 0.0
    scan: float = 0.0
    insert: float = 0.0

    def choose(self, rng: random.Random) -> str:
        u = rng.random()
        for op in ("read", "update", "scan", "insert"):
            u -= getattr(self, op)
            if u < 0:
                return op
        return "read"


WORKLOADS = {
    "A": Workload("A", read=0.5, update=0.5),
    "B": Workload("B", read=0.95, update=0.05),
    "C": Workload("C", read=1.0),
    "E": Workload("E", scan=0.95, insert=0.05),
}


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(latencies_ms: Sequence[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    return {
        "ops_per_s": round(len(ordered) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
    }


__all__ = [
    "FAMILY",
    "FIELDS",
    "FIELD_BYTES",
    "FIELD_NAMES",
    "MAX_SCAN",
    "WORKLOADS",
    "ScrambledZipfian",
    "Workload",
    "fnv64",
    "key",
    "percentile",
    "record",
    "split_keys",
    "summary",
]
