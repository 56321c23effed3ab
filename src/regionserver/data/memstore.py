"""A region's recent writes in memory, in front of its LMDB cells: HBase's memstore.

A write group becomes durable in the server's write-ahead log and goes into memory; memory is flushed to
the region's LMDB store in large transactions. This module is the in-memory part only:

- `MemStore`: a sorted map of cell key -> value, or -> DELETED: a marker saying "this key is deleted,
  hide whatever the layers below hold for it". apply (regionserver.data.apply) removes deleted cells at
  once rather than writing tombstones into the store; a marker is what that removal looks like while
  the cell still lives in a layer that memory cannot change (LMDB, or an older memstore being flushed).
  A marker lives only in memory: flushing it deletes the key below and it is gone.
- `MemCells`: the Cells protocol (regionserver.data.ordered.Cells) over layers, newest first: a `top`
  MemStore that takes the writes (a group's pending writes), older read-only MemStores (the active
  memstore, a snapshot being flushed), and the base cells of one LMDB transaction (OrderedCells or
  LayeredCells; None when the region has no store yet). The newest layer that holds a key decides it.
  So apply, versions, the reads and the scanner work on it unchanged.

Everything here is synchronous and meant for one thread, the event loop's: nothing is locked. As with
OrderedCells, do not write through a MemCells (or into a MemStore) while iterating its `items`: collect,
then write (apply does); the layers below `top` must not change while a MemCells over them is in use.

Scans read a chunk and stop, so `items` is lazy. Its common case is one or two small memory layers over
a large base: the memory layers are merged with each other first (pairwise, the newer winning a tie),
then laid over the base in one loop that costs a base cell a comparison or two; a range that no memory
layer touches reads the base's own iterator, with nothing in between.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterator, Sequence
from typing import Final, Literal

from sortedcontainers import SortedDict

from regionserver.data.ordered import Cells, merge_first_wins

Item = tuple[bytes, bytes]


class Marker(enum.Enum):
    DELETED = "deleted"


#: A MemStore's value for a deleted key: the key is absent, whatever the layers below hold.
DELETED: Final = Marker.DELETED
Entry = bytes | Literal[Marker.DELETED]
Edit = tuple[bytes, Entry]


class MemStore:
    """Cell key -> value or DELETED, in key order, with the bytes it holds (keys + values) for deciding
    when to flush. Not thread-safe (see the module's docstring)."""

    __slots__ = ("_entries", "size_bytes")

    def __init__(self) -> None:
        self._entries: SortedDict = SortedDict()
        #: len(key) + len(value) of each entry (a marker's value counts 0)
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def lookup(self, key: bytes) -> Entry | None:
        """The key's value, DELETED, or None when this layer does not know the key."""
        entry: Entry | None = self._entries.get(key)
        return entry

    def _set(self, key: bytes, entry: Entry) -> None:
        old = self._entries.get(key)
        if old is None:
            self.size_bytes += len(key)
        elif old is not DELETED:
            self.size_bytes -= len(old)
        if entry is not DELETED:
            self.size_bytes += len(entry)
        self._entries[key] = entry

    def put(self, key: bytes, value: bytes) -> None:
        self._set(key, value)

    def mark_deleted(self, key: bytes) -> None:
        """Record that `key` is deleted, hiding it in the layers below."""
        self._set(key, DELETED)

    def forget(self, key: bytes) -> None:
        """Drop what this layer holds for `key` (the layers below show through again)."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= len(key) + (0 if old is DELETED else len(old))

    def touches(self, start: bytes, stop: bytes | None) -> bool:
        """Whether any entry (value or marker) has start <= key < stop (no upper bound if stop is None)."""
        entries = self._entries
        low = entries.bisect_left(start)
        high = len(entries) if stop is None else entries.bisect_left(stop)
        return bool(low < high)

    def entries(self, start: bytes, stop: bytes | None = None, *, reverse: bool = False) -> Iterator[Edit]:
        """The entries with start <= key < stop, markers included, in key order or reversed; lazy."""
        entries = self._entries
        for key in entries.irange(start, stop, inclusive=(True, False), reverse=reverse):
            yield key, entries[key]

    def edits(self) -> Iterator[tuple[bytes, bytes | None]]:
        """Everything, in key order: (key, value), or (key, None) for a deleted key (a flush, a log)."""
        for key, entry in self._entries.items():
            yield key, None if entry is DELETED else entry

    def merge_from(self, other: MemStore) -> None:
        """Lay `other`'s entries over this one's: a group's pending writes join the active memstore once
        they are durable. Its markers stay markers: what they hide may live below this layer."""
        for key, entry in other._entries.items():
            self._set(key, entry)

    def flush_into(self, cells: Cells) -> None:
        """Write every entry into `cells` (the layer below, or the LMDB store in one write transaction):
        values put, deleted keys deleted."""
        for key, entry in self._entries.items():
            if entry is DELETED:
                cells.delete(key)
            else:
                cells.put(key, entry)


class MemCells:
    """The Cells protocol over `top` (written), `below` (older memstores, newest first, read only) and
    `base` (the store's cells in one transaction, None when the region has no store yet)."""

    __slots__ = ("_layers", "base", "below", "top")

    def __init__(self, top: MemStore, below: Sequence[MemStore], base: Cells | None) -> None:
        self.top = top
        self.below = tuple(below)
        self.base = base
        self._layers = (top, *self.below)

    def get(self, key: bytes) -> bytes | None:
        for layer in self._layers:
            entry = layer.lookup(key)
            if entry is not None:
                return None if entry is DELETED else entry
        return self.base.get(key) if self.base is not None else None

    def put(self, key: bytes, value: bytes) -> None:
        self.top.put(key, value)

    def delete(self, key: bytes) -> None:
        """Mark `key` deleted in `top`; with no layer below at all, simply drop it. (Checking whether a
        lower layer holds the key would save a marker at the price of a lookup in each layer: apply
        deletes keys it has just read, which nearly always live below, so it always marks.)"""
        if not self.below and self.base is None:
            self.top.forget(key)
        else:
            self.top.mark_deleted(key)

    def items(self, start: bytes, stop: bytes | None = None, *, reverse: bool = False) -> Iterator[Item]:
        """The cells with start <= key < stop (no upper bound if stop is None), in key order or reversed:
        each key once, as its newest layer has it, deleted keys left out. Lazy."""
        memory: Iterator[Edit] | None = None
        for layer in reversed(self._layers):  # oldest first: each newer layer is merged over the result
            if layer.touches(start, stop):
                newer = layer.entries(start, stop, reverse=reverse)
                memory = newer if memory is None else merge_first_wins(newer, memory, reverse)
        if self.base is None:
            return _present(memory) if memory is not None else iter(())
        below = self.base.items(start, stop, reverse=reverse)
        if memory is None:
            return below
        return _over(memory, below, reverse)


def _present(edits: Iterator[Edit]) -> Iterator[Item]:
    for key, entry in edits:
        if entry is not DELETED:
            yield key, entry


def _over(memory: Iterator[Edit], base: Iterator[Item], reverse: bool) -> Iterator[Item]:
    """The memory layers' entries laid over the base's cells, both in key order (or both reversed): a
    scan's hot loop when memory holds cells of the range, so a base cell costs a comparison or two."""
    precedes = operator.gt if reverse else operator.lt
    key, entry = next(memory)  # the caller checked that memory has an entry in the range
    for item in base:
        here = item[0]
        while precedes(key, here):
            if entry is not DELETED:
                yield key, entry
            edit = next(memory, None)
            if edit is None:
                yield item
                yield from base
                return
            key, entry = edit
        if key == here:
            if entry is not DELETED:
                yield key, entry
            edit = next(memory, None)
            if edit is None:
                yield from base
                return
            key, entry = edit
        else:
            yield item
    if entry is not DELETED:
        yield key, entry
    yield from _present(memory)


__all__ = ["DELETED", "Edit", "Entry", "Marker", "MemCells", "MemStore"]
