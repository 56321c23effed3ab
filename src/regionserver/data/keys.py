"""The key of a cell in a region store: bytewise order is HBase's cell order.

    key = escape(row) escape(family) escape(qualifier) u64(TS_MAX - timestamp)

`escape` (meta.keys') writes each 0x00 as 0x00 0xFF and ends the component with 0x00 0x01, which keeps
any binary string in order and makes the encoding prefix-free: a component that is a prefix of another
ends with 0x00 0x01, smaller than what the longer one has there (a byte >= 0x01 or an escaped 0x00,
0x00 0xFF). So comparing two keys compares rows first, then families, then qualifiers. The timestamp is
stored inverted, big-endian, so that the newest version of a column sorts first, as HBase reads it.

Every key of a row starts with `escape(row)` and no key of another row does, so a row is one key range,
[row_start(row), row_end(row)); the same holds for a family and a column within a row.

Keys can be longer than LMDB's 511 bytes (a row key may have 32,767): regionserver.data.ordered maps
them onto LMDB keys without losing the order.
"""

from __future__ import annotations

import struct

from meta.keys import escape

TS_MAX = 2**63 - 1  # HBase's LATEST_TIMESTAMP: timestamps are 0..TS_MAX milliseconds
MAX_ROW_BYTES = 32_767  # HBase's Short.MAX_VALUE
_TS = struct.Struct(">Q")
TIMESTAMP = _TS  # TS_MAX - timestamp, as a cell key ends with it
TIMESTAMP_BYTES = _TS.size  # a cell key ends with them
_TERMINATOR = b"\x00\x01"  # ends each escaped component
_ESCAPED_ZERO = b"\x00\xff"
_END = b"\x00\x02"  # just above a component's terminator 0x00 0x01: the end of every key it prefixes


def cell_key(row: bytes, family: bytes, qualifier: bytes, timestamp: int) -> bytes:
    return escape(row) + escape(family) + escape(qualifier) + _TS.pack(TS_MAX - timestamp)


def row_start(row: bytes) -> bytes:
    return escape(row)


def row_end(row: bytes) -> bytes:
    """The smallest key above every key of `row`: the start of the rows after it."""
    return _successor(escape(row))


def row_end_of_start(start: bytes) -> bytes:
    """row_end of the row whose row_start is `start`."""
    return _successor(start)


def family_start(row: bytes, family: bytes) -> bytes:
    return escape(row) + escape(family)


def family_end(row: bytes, family: bytes) -> bytes:
    return _successor(family_start(row, family))


def column_start(row: bytes, family: bytes, qualifier: bytes) -> bytes:
    return escape(row) + escape(family) + escape(qualifier)


def column_end(row: bytes, family: bytes, qualifier: bytes) -> bytes:
    return _successor(column_start(row, family, qualifier))


def _successor(prefix: bytes) -> bytes:
    """`prefix` ends with a terminator 0x00 0x01; this is above every key that starts with it."""
    return prefix[:-2] + _END


def decode(key: bytes) -> tuple[bytes, bytes, bytes, int]:
    """(row, family, qualifier, timestamp) of a cell key; ValueError if it is not one."""
    # The first 0x00 0x01 after a component's start is its terminator (an escaped 0x00 is 0x00 0xFF), so
    # one split in C finds all three components; a key that does not split so is decoded slowly, which
    # says what is wrong with it. A scan decodes every column it returns: this is its hottest loop.
    parts = key[: -_TS.size].split(_TERMINATOR)
    if len(parts) != 4 or parts[3] or len(key) < 3 * len(_TERMINATOR) + _TS.size:
        return _decode_slowly(key)
    row, family, qualifier, _ = parts
    if b"\x00" in row or b"\x00" in family or b"\x00" in qualifier:
        return _decode_slowly(key)
    (inverted,) = _TS.unpack_from(key, len(key) - _TS.size)
    return row, family, qualifier, TS_MAX - inverted


def _decode_slowly(key: bytes) -> tuple[bytes, bytes, bytes, int]:
    parts: list[bytes] = []
    at = 0
    for _ in range(3):
        part, at = _unescape(key, at)
        parts.append(part)
    if len(key) - at != _TS.size:
        raise ValueError(f"not a cell key: {len(key) - at} bytes after the qualifier, expected 8")
    (inverted,) = _TS.unpack_from(key, at)
    return parts[0], parts[1], parts[2], TS_MAX - inverted


def _unescape(key: bytes, at: int) -> tuple[bytes, int]:
    # Within an escaped component every 0x00 is followed by 0xFF, so the first 0x00 0x01 from `at` is its
    # terminator: found in C (bytes.find), then the escaped zeros are replaced, also in C. A scan decodes
    # every column it returns, so this is on the read path's hottest loop.
    end = key.find(_TERMINATOR, at)
    if end < 0:
        raise ValueError("not a cell key: a component has no terminator")
    part = key[at:end]
    if b"\x00" in part:
        if part.count(b"\x00") != part.count(_ESCAPED_ZERO):
            raise ValueError("not a cell key: a 0x00 in a component is followed by neither 0x01 nor 0xFF")
        part = part.replace(_ESCAPED_ZERO, b"\x00")
    return part, end + 2


def row_prefix(key: bytes) -> bytes:
    """The escaped row a cell key starts with (equal to row_start of its row): equal for the cells of
    one row, found without decoding the key."""
    end = key.find(_TERMINATOR)
    if end < 0:
        raise ValueError("not a cell key: the row has no terminator")
    return key[: end + 2]


def row_of_start(start: bytes) -> bytes:
    """The row whose row_start is `start` (a row_prefix of a cell key); ValueError if it is not one."""
    row, end = _unescape(start, 0)
    if end != len(start):
        raise ValueError("not a row's start: bytes after the row's terminator")
    return row


def column_of(key: bytes) -> bytes:
    """The column prefix of a cell key (everything but the timestamp): equal for versions of a column."""
    return key[: -_TS.size]


def timestamp_of(key: bytes) -> int:
    (inverted,) = _TS.unpack_from(key, len(key) - _TS.size)
    return TS_MAX - int(inverted)


def next_prefix(prefix: bytes) -> bytes | None:
    """The smallest row above every row that starts with `prefix`; None when there is none (all 0xFF)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
