"""An ordered map of cell keys of any length over one LMDB database, whose keys hold at most 511 bytes.

A key of at most SHORT bytes is stored as itself. A longer key is stored in a *bucket*: the LMDB key
`key[:SHORT] + b"\\xff"` (SHORT + 1 bytes, so never equal to a stored short key), whose value holds every
long key with that prefix, sorted, with their values. The map from key to LMDB key is monotone (if
a < b then lmdb_key(a) <= lmdb_key(b): a short key and a long one compare within the first SHORT bytes,
or the short one is a prefix of the long one and sorts first), so an LMDB cursor walks the cells in key
order with each bucket expanded in place.

Only row keys longer than about 500 bytes make long keys, and then every cell of the row lands in the
row's bucket: a write rewrites the bucket. That is the price of HBase's 32 KB row keys on LMDB, paid only
by rows that use them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

SHORT = 510  # LMDB's default maximum key size is 511
_BUCKET = b"\xff"
_LEN = struct.Struct(">I")
#: An item of a sorted stream: (key, anything).
KeyedItem = TypeVar("KeyedItem", bound=tuple[bytes, Any])


def lmdb_key(key: bytes) -> bytes:
    return key if len(key) <= SHORT else key[:SHORT] + _BUCKET


def _is_bucket(stored: bytes) -> bool:
    return len(stored) > SHORT


def _unpack(raw: bytes) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    at = 0
    view = memoryview(raw)
    while at < len(raw):
        (n,) = _LEN.unpack_from(raw, at)
        key = bytes(view[at + 4 : at + 4 + n])
        at += 4 + n
        (m,) = _LEN.unpack_from(raw, at)
        out.append((key, bytes(view[at + 4 : at + 4 + m])))
        at += 4 + m
    return out


def _pack(entries: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(_LEN.pack(len(k)) + k + _LEN.pack(len(v)) + v for k, v in entries)


def first_key(stored: bytes, raw: bytes) -> bytes:
    """The first cell key an LMDB entry holds: itself, or a bucket's first key."""
    return _unpack(raw)[0][0] if _is_bucket(stored) else stored


class Cells(Protocol):
    """What apply, versions and the reads use of a region's cells: OrderedCells over one database, or
    regionserver.data.layered.LayeredCells over a child's own store and its parents' (split, merge)."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def items(
        self, start: bytes, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]: ...


class OrderedCells:
    """The cells database of a region store as seen by one transaction."""

    def __init__(self, txn: Any, db: Any) -> None:
        self._txn = txn
        self._db = db

    def get(self, key: bytes) -> bytes | None:
        stored = lmdb_key(key)
        raw: bytes | None = self._txn.get(stored, db=self._db)
        if raw is None or not _is_bucket(stored):
            return raw
        return dict(_unpack(raw)).get(key)

    def put(self, key: bytes, value: bytes) -> None:
        stored = lmdb_key(key)
        if not _is_bucket(stored):
            self._txn.put(key, value, db=self._db)
            return
        raw = self._txn.get(stored, db=self._db)
        entries = dict(_unpack(raw)) if raw is not None else {}
        entries[key] = value
        self._txn.put(stored, _pack(sorted(entries.items())), db=self._db)

    def delete(self, key: bytes) -> None:
        stored = lmdb_key(key)
        if not _is_bucket(stored):
            self._txn.delete(key, db=self._db)
            return
        raw = self._txn.get(stored, db=self._db)
        if raw is None:
            return
        entries = [(k, v) for k, v in _unpack(raw) if k != key]
        if entries:
            self._txn.put(stored, _pack(entries), db=self._db)
        else:
            self._txn.delete(stored, db=self._db)

    def items(
        self, start: bytes, stop: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """The cells with start <= key < stop (no upper bound if stop is None), in key order or reversed.

        Do not write through this transaction while iterating: collect, then write."""
        low = lmdb_key(start)
        high = lmdb_key(stop) if stop is not None else None
        cursor = self._txn.cursor(db=self._db)
        if not reverse:
            return _forward(cursor.iternext(), start, stop, high) if cursor.set_range(low) else iter(())
        positioned = cursor.set_range(high) if high is not None else cursor.last()
        if not positioned:
            positioned = cursor.last()
        return _backward(cursor.iterprev(), start, stop, low, high) if positioned else iter(())


def _forward(
    walk: Iterator[tuple[bytes, bytes]], start: bytes, stop: bytes | None, high: bytes | None
) -> Iterator[tuple[bytes, bytes]]:
    """OrderedCells.items forward, from the cursor placed at lmdb_key(start): a scan's hot loop.

    A short stored key at or after lmdb_key(start) is at or after `start` (a long start's LMDB key has
    511 bytes, more than a short key, so a short key above it differs from it, and from `start`, before
    that), and a short key at or after `stop` ends the walk: a later bucket holds keys above it."""
    for stored, raw in walk:
        if len(stored) > SHORT:  # a bucket
            if high is not None and stored > high:
                return
            for key, value in _unpack(raw):
                if start <= key and (stop is None or key < stop):
                    yield key, value
        elif stop is not None and stored >= stop:
            return
        else:
            yield stored, raw


def _backward(
    walk: Iterator[tuple[bytes, bytes]], start: bytes, stop: bytes | None, low: bytes, high: bytes | None
) -> Iterator[tuple[bytes, bytes]]:
    """OrderedCells.items reversed, from the cursor placed at or after lmdb_key(stop)."""
    for stored, raw in walk:
        if high is not None and stored > high:
            continue
        if stored < low:
            return
        if _is_bucket(stored):
            for key, value in reversed(_unpack(raw)):
                if start <= key and (stop is None or key < stop):
                    yield key, value
        elif start <= stored and (stop is None or stored < stop):
            yield stored, raw


def merge_first_wins(
    first: Iterator[KeyedItem], second: Iterator[KeyedItem], reverse: bool
) -> Iterator[KeyedItem]:
    """Two streams of (key, ...) in key order (or both reversed) as one; on an equal key, `first`'s item
    only (a child's own cells over its parents', a newer memstore over an older one)."""
    a = next(first, None)
    b = next(second, None)
    while a is not None and b is not None:
        if a[0] == b[0]:
            yield a
            a, b = next(first, None), next(second, None)
        elif (a[0] < b[0]) != reverse:
            yield a
            a = next(first, None)
        else:
            yield b
            b = next(second, None)
    if a is not None:
        yield a
        yield from first
    if b is not None:
        yield b
        yield from second
