"""Keys of meta's databases. LMDB orders keys bytewise, so each key is built to sort as we scan.

- `region_state`, `procedures`: 8-byte big-endian ids, so id order is key order (sequential writes).
- `regions`: table, 0x00, escaped start key, region id. The escape keeps byte order for any start key,
  including ones holding 0x00: 0x00 becomes 0x00 0xFF and the key ends with 0x00 0x01.
"""

from __future__ import annotations

_U64 = 1 << 64


def u64(value: int) -> bytes:
    """8-byte big-endian; raise ValueError outside 0..2**64-1."""
    if not 0 <= value < _U64:
        raise ValueError(f"expected an unsigned 64-bit id, got {value}")
    return value.to_bytes(8, "big")


def from_u64(raw: bytes) -> int:
    if len(raw) != 8:
        raise ValueError(f"expected an 8-byte id, got {len(raw)} bytes")
    return int.from_bytes(raw, "big")


def escape(key: bytes) -> bytes:
    """Order-preserving, prefix-free encoding of an arbitrary byte string."""
    return key.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def table_prefix(table: str) -> bytes:
    """Every `regions` key of `table` starts with this, and no other table's does."""
    return table.encode() + b"\x00"


def region_key(table: str, start_key: bytes, region_id: int) -> bytes:
    return table_prefix(table) + escape(start_key) + u64(region_id)


def region_floor_key(table: str, row: bytes) -> bytes:
    """The largest `regions` key of a region that could hold `row` sorts at or before this key."""
    return table_prefix(table) + escape(row) + b"\xff" * 8
