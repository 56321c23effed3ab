"""The pure core of `regent verify linked-list` (issue 13, point 1), after HBase's
IntegrationTestBigLinkedList: the lists a writer builds, and the tally that finds lost or damaged nodes.
No I/O here: the command that writes the nodes through the SDK's Table and scans them back is built on
this once the client's data path has landed.

**Generating.** A writer makes `batches` batches of `width` nodes with random keys (so every region gets
writes). Node i of batch b names node i of batch b-1 as its predecessor; the first batch names nothing
until the end, when it is written again naming the last batch's nodes. So a writer's nodes form `width`
circular lists of `batches` nodes each, and every node is referenced exactly once. A node is only ever
written after the node it names (except the first batch's final rewrite, which completes the circles),
so a writer that dies midway leaves lists whose heads are unreferenced but nothing undefined.

**Verifying.** Every node (key, predecessor) read back is tallied: `referenced` (defined, and named by
exactly one node), `unreferenced` (defined, named by none: a list's head while the writers have not
finished, or the node after a damaged one), `undefined` (named, but not read back: a lost write),
`extra_references` (defined and named by more than one node: an overwritten pointer). A complete,
undamaged run has only referenced nodes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

KEY_BYTES = 16


@dataclass(frozen=True, slots=True)
class Node:
    """One node: its row key, its predecessor's key (None: the first batch before the circles close),
    which writer made it and its number in that writer's sequence (for walking and for reports)."""

    key: bytes
    prev: bytes | None
    writer: int
    count: int


def writer_batches(seed: int, writer: int, width: int, batches: int) -> Iterator[list[Node]]:
    """The batches writer `writer` writes, in order, the last one being the first batch rewritten to
    close the circles. Memory: two batches. Keys come from the seed and the writer's number only."""
    if width < 1 or batches < 1:
        raise ValueError(f"width and batches must be >= 1, got {width} and {batches}")
    rng = random.Random(f"{seed}:{writer}")
    first: list[bytes] = []
    previous: list[bytes] = []
    count = 0
    for batch in range(batches):
        keys = [rng.randbytes(KEY_BYTES) for _ in range(width)]
        nodes = []
        for i, key in enumerate(keys):
            nodes.append(Node(key, previous[i] if batch else None, writer, count))
            count += 1
        if batch == 0:
            first = keys
        previous = keys
        yield nodes
    yield [Node(key, previous[i], writer, i) for i, key in enumerate(first)]


@dataclass(frozen=True, slots=True)
class Counts:
    referenced: int
    unreferenced: int
    undefined: int
    extra_references: int

    @property
    def intact(self) -> bool:
        return not (self.unreferenced or self.undefined or self.extra_references)

    def to_json(self) -> dict[str, int]:
        return {
            "referenced": self.referenced,
            "unreferenced": self.unreferenced,
            "undefined": self.undefined,
            "extra_references": self.extra_references,
        }


class Tally:
    """The nodes read back, fed in any order (scans of several regions in parallel each feed one tally,
    then `merge`); `counts()` classifies them, `undefined_keys()` etc. name the damaged ones."""

    def __init__(self) -> None:
        self.defined: set[bytes] = set()
        self.references: dict[bytes, int] = {}

    def add(self, key: bytes, prev: bytes | None) -> None:
        self.defined.add(key)
        if prev is not None:
            self.references[prev] = self.references.get(prev, 0) + 1

    def add_all(self, nodes: Iterable[tuple[bytes, bytes | None]]) -> Tally:
        for key, prev in nodes:
            self.add(key, prev)
        return self

    def merge(self, other: Tally) -> None:
        self.defined |= other.defined
        for key, n in other.references.items():
            self.references[key] = self.references.get(key, 0) + n

    def undefined_keys(self) -> list[bytes]:
        return sorted(k for k in self.references if k not in self.defined)

    def unreferenced_keys(self) -> list[bytes]:
        return sorted(k for k in self.defined if k not in self.references)

    def extra_referenced_keys(self) -> list[bytes]:
        return sorted(k for k, n in self.references.items() if n > 1 and k in self.defined)

    def counts(self) -> Counts:
        referenced = sum(1 for k in self.defined if self.references.get(k) == 1)
        return Counts(
            referenced=referenced,
            unreferenced=len(self.unreferenced_keys()),
            undefined=len(self.undefined_keys()),
            extra_references=len(self.extra_referenced_keys()),
        )


@dataclass(frozen=True, slots=True)
class Walk:
    """A walk from `start` along predecessors: `steps` taken, and how it ended: "circle" (back at the
    start), "undefined" (at `at`, a key no node has), "no predecessor" (a first-batch node before the
    circles close), or "limit"."""

    start: bytes
    steps: int
    end: str
    at: bytes


def walk(prev_of: Callable[[bytes], bytes | None], start: bytes, limit: int) -> Walk:
    """Follow predecessors from `start`. `prev_of(key)` returns the node's predecessor, None if it has
    none, and raises KeyError if there is no such node."""
    key = start
    for steps in range(limit):
        try:
            prev = prev_of(key)
        except KeyError:
            return Walk(start, steps, "undefined", key)
        if prev is None:
            return Walk(start, steps, "no predecessor", key)
        if prev == start:
            return Walk(start, steps + 1, "circle", prev)
        key = prev
    return Walk(start, limit, "limit", key)


__all__ = ["KEY_BYTES", "Counts", "Node", "Tally", "Walk", "walk", "writer_batches"]
