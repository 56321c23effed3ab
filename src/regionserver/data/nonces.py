"""Nonces of increments: an increment retried after it was applied is answered, not applied again.

HBase's client gives each increment a nonce (with a nonce group per client) and the RegionServer remembers
the nonces it applied for a grace period, so that the client's retry of an increment whose answer was lost
(a timeout, a server that died after its commit, a region that moved) does not count twice. Here the record
is written in the same LMDB transaction as the increment's cells, in the region's own store (database
`nonces`), so it is exactly as durable as the increment and follows the region wherever it is opened
next: a retry that reaches another server after a move or a crash finds it there.

    b"n" + group (8 bytes) + nonce (8 bytes)  ->  written_ms (8) + n (4) + n counters (8 each) + row
    b"t" + written_ms (8) + group + nonce     ->  b""      (the same records in the order they expire)

A retry finds the first answer's counter values and returns them. Records expire after NONCE_TTL_MS
(longer than any call's deadline: a retry never comes later); each recording removes up to PURGE_EACH
expired ones, oldest first, so the database stays at about what one grace period writes. A split
daughter or merged child looks up its parents' records too while it reads their stores, and its fold
copies the parents' unexpired records of its rows before it stops reading them (regionserver.data.fold).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from meta.references import Reference

#: How long an applied increment's nonce is remembered (HBase: hbase.server.hashNonce.gracePeriod, 30
#: min). A retry comes within its call's deadline (minutes at most), so this bounds nothing a client sees.
NONCE_TTL_MS = 30 * 60 * 1000
PURGE_EACH = 4  # expired records removed per record written: more than one, so the purge keeps up

_ID = struct.Struct(">QQ")
_HEAD = struct.Struct(">QI")
_MS = struct.Struct(">Q")
_BY_ID, _BY_TIME = b"n", b"t"


@dataclass(frozen=True, slots=True)
class Record:
    written_ms: int
    values: tuple[int, ...]
    row: bytes

    def encode(self) -> bytes:
        n = len(self.values)
        return _HEAD.pack(self.written_ms, n) + struct.pack(f">{n}q", *self.values) + self.row

    @classmethod
    def decode(cls, raw: bytes) -> Record:
        written_ms, n = _HEAD.unpack_from(raw)
        end = _HEAD.size + 8 * n
        return cls(written_ms, struct.unpack_from(f">{n}q", raw, _HEAD.size), bytes(raw[end:]))


def _id_key(group: int, nonce: int) -> bytes:
    return _BY_ID + _ID.pack(group, nonce)


def _time_key(written_ms: int, group: int, nonce: int) -> bytes:
    return _BY_TIME + _MS.pack(written_ms) + _ID.pack(group, nonce)


class Nonces:
    """The nonce records one write transaction of a region's store sees: its own (written here) and,
    for a child that still reads its parents, theirs (looked up only)."""

    def __init__(self, txn: Any, db: Any, parents: Sequence[tuple[Any, Any]] = ()) -> None:
        self._txn = txn
        self._db = db
        self._parents = parents  # (read transaction, nonces database) of each referenced parent

    def applied(self, group: int, nonce: int, now_ms: int) -> tuple[int, ...] | None:
        """The counter values the increment with this nonce answered, if it was applied (and not
        expired); None if it was not."""
        key = _id_key(group, nonce)
        for txn, db in ((self._txn, self._db), *self._parents):
            raw = txn.get(key, db=db)
            if raw is not None:
                record = Record.decode(raw)
                return record.values if now_ms - record.written_ms < NONCE_TTL_MS else None
        return None

    def record(self, group: int, nonce: int, row: bytes, values: Sequence[int], now_ms: int) -> None:
        self.put(group, nonce, Record(now_ms, tuple(values), row))
        self.purge(now_ms, PURGE_EACH)

    def put(self, group: int, nonce: int, record: Record) -> None:
        txn, db = self._txn, self._db
        old = txn.get(_id_key(group, nonce), db=db)
        if old is not None:
            txn.delete(_time_key(Record.decode(old).written_ms, group, nonce), db=db)
        txn.put(_id_key(group, nonce), record.encode(), db=db)
        txn.put(_time_key(record.written_ms, group, nonce), b"", db=db)

    def purge(self, now_ms: int, limit: int) -> int:
        """Remove up to `limit` expired records, oldest first; how many were removed."""
        txn, db = self._txn, self._db
        expired: list[bytes] = []
        cursor = txn.cursor(db=db)
        if cursor.set_range(_BY_TIME):
            for key in cursor.iternext(keys=True, values=False):
                if len(expired) >= limit or not key.startswith(_BY_TIME):
                    break
                (written_ms,) = _MS.unpack_from(key, 1)
                if now_ms - written_ms < NONCE_TTL_MS:
                    break
                expired.append(bytes(key))
        for key in expired:
            txn.delete(key, db=db)
            txn.delete(_BY_ID + key[1 + _MS.size :], db=db)
        return len(expired)


def adopt(own: Nonces, parent: Iterator[tuple[int, int, Record]], reference: Reference, now_ms: int) -> int:
    """Copy a parent's unexpired records of rows in `reference` that `own` does not hold; how many."""
    copied = 0
    for group, nonce, record in parent:
        if (
            reference.contains(record.row)
            and now_ms - record.written_ms < NONCE_TTL_MS
            and own.applied(group, nonce, now_ms) is None
        ):
            own.put(group, nonce, record)
            copied += 1
    return copied


def records(txn: Any, db: Any) -> Iterator[tuple[int, int, Record]]:
    """Every (group, nonce, record) of a store's nonces database, as one transaction sees it."""
    cursor = txn.cursor(db=db)
    if not cursor.set_range(_BY_ID):
        return
    for key, raw in cursor:
        if not key.startswith(_BY_ID):
            return
        group, nonce = _ID.unpack_from(key, 1)
        yield group, nonce, Record.decode(raw)
