"""The records of the write-ahead log (regionserver.data.wal) and their framing.

A record is framed as a 4-byte big-endian body length, the body's zlib.crc32 (4 bytes, big-endian), and
the body, whose first byte is its kind (HEADER, EDIT or SEAL; the layout of each is in
regionserver.data.wal's doc). `parse` reads a segment's bytes up to a torn tail and raises WalCorrupt for a
bad record that more data follows.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"RGWAL"
VERSION = 1

HEADER, EDIT, SEAL = 1, 2, 3
_FRAME = struct.Struct(">II")
_U8, _U32, _U64 = struct.Struct(">B"), struct.Struct(">I"), struct.Struct(">Q")
_ABSENT = 0xFFFFFFFF

#: One operation: (database, key, value), value None meaning "delete this key".
Op = tuple[int, bytes, bytes | None]


class WalError(Exception):
    """The log cannot be used as asked (it exists already, it is closed, or a write of it failed)."""


class WalCorrupt(WalError):
    """A record in the middle of a segment (more data follows it) is unreadable."""

    def __init__(self, path: Path | str, offset: int, problem: str) -> None:
        super().__init__(f"{path}: corrupt record at offset {offset}: {problem}")
        self.path = str(path)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Edit:
    """Operations on one region, to be logged; the log gives them a sequence number."""

    region: bytes
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class LoggedEdit:
    """An edit read back from the log, with its sequence number."""

    region: bytes
    seq: int
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Seal:
    """Region `region` is taken over by `sealer` (free text, such as a server name)."""

    region: bytes
    sealer: bytes


@dataclass(frozen=True, slots=True)
class Header:
    """The first record of segment `segment`."""

    segment: int
    version: int = VERSION


Record = Header | LoggedEdit | Seal


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a ServerLog: each region written into it with its highest acknowledged seq."""

    number: int
    regions: Mapping[bytes, int]


# ---- framing ----


def _blob(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def encode(record: Record) -> bytes:
    """The framed bytes of `record`."""
    if isinstance(record, Header):
        body = bytes([HEADER]) + MAGIC + _U8.pack(record.version) + _U64.pack(record.segment)
    elif isinstance(record, LoggedEdit):
        parts = [bytes([EDIT]), _blob(record.region), _U64.pack(record.seq), _U32.pack(len(record.ops))]
        for database, key, value in record.ops:
            parts += [_U8.pack(database), _blob(key), _U32.pack(_ABSENT) if value is None else _blob(value)]
        body = b"".join(parts)
    else:
        body = bytes([SEAL]) + _blob(record.region) + _blob(record.sealer)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


class _Body:
    """A cursor over one record's body; ValueError on anything that does not fit."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 1

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.body):
            raise ValueError(f"the body ends {self.at + n - len(self.body)} bytes early")
        data = self.body[self.at : self.at + n]
        self.at += n
        return data

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def blob(self) -> bytes:
        return self.take(self.u32())

    def done(self) -> None:
        if self.at != len(self.body):
            raise ValueError(f"{len(self.body) - self.at} bytes left over after the record")


def decode_body(body: bytes) -> Record:
    """The record of a (crc-checked) body; ValueError if it is not one."""
    if not body:
        raise ValueError("an empty body")
    cursor, kind = _Body(body), body[0]
    record: Record
    if kind == HEADER:
        if cursor.take(len(MAGIC)) != MAGIC:
            raise ValueError(f"a header without the magic {MAGIC!r}")
        version = cursor.u8()
        if version != VERSION:
            raise ValueError(f"format version {version}, expected {VERSION}")
        record = Header(cursor.u64(), version)
    elif kind == EDIT:
        region, seq = cursor.blob(), cursor.u64()
        ops: list[Op] = []
        for _ in range(cursor.u32()):
            database, key, length = cursor.u8(), cursor.blob(), cursor.u32()
            ops.append((database, key, None if length == _ABSENT else cursor.take(length)))
        record = LoggedEdit(region, seq, tuple(ops))
    elif kind == SEAL:
        record = Seal(cursor.blob(), cursor.blob())
    else:
        raise ValueError(f"unknown record kind {kind}")
    cursor.done()
    return record


def parse(data: bytes, name: Path | str, start: int = 0) -> tuple[list[tuple[int, Record]], int]:
    """The (offset, record) pairs of `data` (a segment's bytes from offset `start`) up to a torn tail, and
    the offset where those whole records end (where the torn tail, if any, begins). WalCorrupt for a bad
    record that more data follows."""
    records: list[tuple[int, Record]] = []
    at, end = 0, len(data)
    while end - at >= _FRAME.size:
        length, crc = _FRAME.unpack_from(data, at)
        stop = at + _FRAME.size + length
        if stop > end:
            break  # a body cut short: a torn tail
        body = data[at + _FRAME.size : stop]
        if zlib.crc32(body) != crc:
            if stop == end:
                break  # the last record, torn
            raise WalCorrupt(name, start + at, f"crc {zlib.crc32(body):#010x}, expected {crc:#010x}")
        try:
            records.append((start + at, decode_body(body)))
        except ValueError as exc:
            raise WalCorrupt(name, start + at, str(exc)) from None
        at = stop
    return records, start + at
