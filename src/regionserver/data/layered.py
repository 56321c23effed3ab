"""The cells of a split daughter or merged child that still references its parents' stores (DESIGN §11).

A child starts with a REFERENCES file (meta.references) naming parent stores and the rows of each it
reads. Until the fold (regionserver.data.fold) has copied those cells into the child's own store, its
cells are the union of

- its own store (what it wrote since it opened, and what the fold copied), which wins on an equal key;
- each referenced parent store, clipped to the reference's rows, minus the *masked* keys: the exact cell
  keys of parent cells the child deleted, kept in the child's own environment (the `masked` database),
  since the child never writes a parent's store.

LayeredCells offers the interface of OrderedCells (regionserver.data.ordered.Cells), so that apply,
versions, the reads and the scanner work on it unchanged: a delete of cells (apply removes them at once,
without tombstones) removes them from the own store and masks those that live in a parent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from meta.references import Reference
from regionserver.data import keys
from regionserver.data.errors import StoreError
from regionserver.data.ordered import Cells, merge_first_wins

Item = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class ParentRange:
    """One reference as the child reads it: the parent's store directory and the keys of its rows."""

    reference: Reference
    path: Path

    @property
    def low(self) -> bytes:
        start = self.reference.start_key
        return keys.row_start(start) if start else b""

    @property
    def high(self) -> bytes | None:
        end = self.reference.end_key
        return keys.row_start(end) if end else None

    def holds(self, key: bytes) -> bool:
        high = self.high
        return self.low <= key and (high is None or key < high)

    def clip(self, start: bytes, stop: bytes | None) -> tuple[bytes, bytes | None] | None:
        """[start, stop) within this reference's keys, or None when they do not meet."""
        low = max(start, self.low)
        high = self.high
        if stop is not None:
            high = stop if high is None else min(stop, high)
        if high is not None and low >= high:
            return None
        return low, high


class LayeredCells:
    """A child's own cells over its parents' (`parents`: each range with the parent's cells as one read
    transaction sees them, None when the parent has no store). `own` and `masked` are None for a child
    that has no store yet: then the view is read only."""

    def __init__(
        self, own: Cells | None, masked: Cells | None, parents: Sequence[tuple[ParentRange, Cells | None]]
    ) -> None:
        self.own = own
        self._masked = masked
        self._parents = sorted(parents, key=lambda p: p[0].low)

    def _parent_of(self, key: bytes) -> Cells | None:
        for parent, cells in self._parents:
            if parent.holds(key):
                return cells
        return None

    def _is_masked(self, key: bytes) -> bool:
        return self._masked is not None and self._masked.get(key) is not None

    def in_parent(self, key: bytes) -> bool:
        """Whether a referenced parent holds `key` (masked or not)."""
        cells = self._parent_of(key)
        return cells is not None and cells.get(key) is not None

    def get(self, key: bytes) -> bytes | None:
        if self.own is not None:
            value = self.own.get(key)
            if value is not None:
                return value
        cells = self._parent_of(key)
        if cells is None or self._is_masked(key):
            return None
        return cells.get(key)

    def _writable(self) -> tuple[Cells, Cells]:
        if self.own is None or self._masked is None:
            raise StoreError("a child region without its own store was written through a read-only view")
        return self.own, self._masked

    def put(self, key: bytes, value: bytes) -> None:
        own, _ = self._writable()
        own.put(key, value)

    def delete(self, key: bytes) -> None:
        own, masked = self._writable()
        own.delete(key)
        if self.in_parent(key):
            masked.put(key, b"")

    def parent_items(
        self, start: bytes, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[Item]:
        """The referenced cells not masked, with start <= key < stop, in key order or reversed."""
        order = reversed(self._parents) if reverse else iter(self._parents)
        for parent, cells in order:
            if cells is None:
                continue
            span = parent.clip(start, stop)
            if span is None:
                continue
            for key, value in cells.items(span[0], span[1], reverse=reverse):
                if not self._is_masked(key):
                    yield key, value

    def items(self, start: bytes, stop: bytes | None = None, *, reverse: bool = False) -> Iterator[Item]:
        """The child's cells with start <= key < stop: own and referenced merged, own first on a tie."""
        own = self.own.items(start, stop, reverse=reverse) if self.own is not None else iter(())
        return merge_first_wins(own, self.parent_items(start, stop, reverse=reverse), reverse)
