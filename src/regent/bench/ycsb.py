"""YCSB's core workloads as `regent bench data` runs them (REFERENCE.md §D): records, keys, request
distributions and operation mixes, without I/O.

As YCSB's CoreWorkload with its defaults: a record is 10 fields of 100 bytes (`field0`..`field9`); keys are
"user" followed by the FNV-1a 64-bit hash of the record number (`insertorder=hashed`), so consecutive records
land all over the key space; requests pick record numbers by a scrambled zipfian distribution (constant 0.99,
the hot records scattered by the same hash); a read reads every field, an update writes one field, an insert
writes a whole record under the next record number, and a scan reads 1 to 100 records (uniform) from a
zipfian-chosen start key.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

FIELDS = 10
FIELD_BYTES = 100
FAMILY = b"cf"
ZIPFIAN_CONSTANT = 0.99
MAX_SCAN_LENGTH = 100
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 2**64 - 1


def fnv1a64(value: int) -> int:
    """YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes of `value`, low byte first, as a non-negative
    Java long (the absolute value of the signed result)."""
    h = _FNV_OFFSET
    for _ in range(8):
        h ^= value & 0xFF
        h = (h * _FNV_PRIME) & _MASK
        value >>= 8
    return abs(h - 2**64) if h >= 2**63 else h


def key(record: int) -> bytes:
    """The row key of record number `record` (YCSB's buildKeyName with hashed insert order)."""
    return b"user%d" % fnv1a64(record)


def column(field: int) -> bytes:
    return FAMILY + b":field%d" % field


COLUMNS = [column(i) for i in range(FIELDS)]


def record(rng: random.Random) -> dict[bytes, bytes]:
    """A whole record: every field, random bytes."""
    return {c: rng.randbytes(FIELD_BYTES) for c in COLUMNS}


def split_keys(records: int, regions: int) -> list[bytes]:
    """Split keys that give `regions` regions an equal share of the first `records` records' keys."""
    keys = sorted(key(i) for i in range(records))
    return [keys[i * records // regions] for i in range(1, regions)]


class Zipfian:
    """Gray et al.'s zipfian generator over [0, items), as YCSB's ZipfianGenerator (constant 0.99).

    `zeta` (the sum over the items) costs O(items) unless given."""

    def __init__(self, items: int, constant: float = ZIPFIAN_CONSTANT, zeta: float | None = None) -> None:
        if items < 1:
            raise ValueError(f"a zipfian distribution needs at least 1 item, got {items}")
        self.items = items
        self.theta = constant
        self.zeta2 = 1 + 0.5**constant
        self.zetan = zeta if zeta is not None else sum(1 / (i + 1) ** constant for i in range(items))
        self.alpha = 1 / (1 - constant)
        self.eta = (1 - (2 / items) ** (1 - constant)) / (1 - self.zeta2 / self.zetan)

    def next(self, rng: random.Random) -> int:
        u = rng.random()
        uz = u * self.zetan
        if uz < 1:
            return 0
        if uz < self.zeta2:
            return 1
        return min(self.items - 1, int(self.items * (self.eta * u - self.eta + 1) ** self.alpha))


class ScrambledZipfian:
    """YCSB's ScrambledZipfianGenerator: zipfian popularity, the popular records spread over [0, items).

    As YCSB: a zipfian over 10^10 items (whose zeta YCSB precomputed), hashed, modulo `items`."""

    ITEMS = 10_000_000_000
    ZETAN = 26.46902820178302

    def __init__(self, items: int) -> None:
        if items < 1:
            raise ValueError(f"a zipfian distribution needs at least 1 item, got {items}")
        self.items = items
        self.zipf = Zipfian(self.ITEMS, zeta=self.ZETAN)

    def next(self, rng: random.Random) -> int:
        return fnv1a64(self.zipf.next(rng)) % self.items


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    read: float = 0.0
    update: float = 0.0
    scan: float = 0.0
    insert: float = 0.0

    def __post_init__(self) -> None:
        if abs(self.read + self.update + self.scan + self.insert - 1.0) > 1e-9:
            raise ValueError(f"workload {self.name}: the proportions must add up to 1")

    def choose(self, rng: random.Random) -> str:
        u = rng.random()
        for op in ("read", "update", "scan", "insert"):
            share: float = getattr(self, op)
            if u < share:
                return op
            u -= share
        return "read" if self.read else "scan"


#: YCSB's workloads/workload{a,b,c,e}.
WORKLOADS = {
    "A": Workload("A", read=0.5, update=0.5),
    "B": Workload("B", read=0.95, update=0.05),
    "C": Workload("C", read=1.0),
    "E": Workload("E", scan=0.95, insert=0.05),
}


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # read, update, scan, insert
    row: bytes
    field: int = 0  # update: which field
    length: int = 0  # scan: how many records


class Stream:
    """One client thread's operations: a workload's mix over `records` loaded records. Inserts take record
    numbers from `next_insert` upward, stepping by `stride` (the number of streams), so no two streams
    insert the same record."""

    def __init__(self, workload: Workload, records: int, seed: int, *, next_insert: int, stride: int) -> None:
        self.workload = workload
        self.rng = random.Random(seed)
        self.keys = ScrambledZipfian(records)
        self.next_insert = next_insert
        self.stride = stride

    def next(self) -> Op:
        kind = self.workload.choose(self.rng)
        if kind == "insert":
            row = key(self.next_insert)
            self.next_insert += self.stride
            return Op("insert", row)
        row = key(self.keys.next(self.rng))
        if kind == "update":
            return Op("update", row, field=self.rng.randrange(FIELDS))
        if kind == "scan":
            return Op("scan", row, length=self.rng.randint(1, MAX_SCAN_LENGTH))
        return Op("read", row)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the (sorted) values lie (nearest rank)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]
