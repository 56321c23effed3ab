"""Domain types of the catalog: what a table, a region and a RegionServer incarnation are.

Plain frozen dataclasses; protobuf stays at the edges (meta.codec converts).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_FAMILY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")

#: The longest region boundary (start or end key) meta accepts: LMDB keys are at most 511 bytes and the
#: `regions` key holds the table name and an escaped start key.
MAX_BOUNDARY_KEY = 256


class TableState(enum.IntEnum):
    """Numbers are stored in meta and match TableStateCode in protos/regent/proto/meta.proto."""

    ENABLED = 0
    DISABLED = 1
    ENABLING = 2
    DISABLING = 3


class TransitKind(enum.IntEnum):
    """What a region's attached transition procedure is doing. Stored in the region_state row."""

    NONE = 0
    ASSIGN = 1
    UNASSIGN = 2
    MOVE = 3


@dataclass(frozen=True, slots=True)
class ServerName:
    """One incarnation of a RegionServer. `host:port:startcode` is unique per incarnation."""

    host: str
    port: int
    startcode: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}:{self.startcode}"

    @classmethod
    def parse(cls, text: str) -> ServerName:
        """Parse `host:port:startcode`; raise ValueError saying what is wrong."""
        host, sep, rest = text.rpartition(":")
        host, sep2, port = host.rpartition(":")
        if not (sep and sep2 and host and port.isdigit() and rest.isdigit()):
            raise ValueError(f"expected a server name host:port:startcode, got {text!r}")
        return cls(host, int(port), int(rest))


@dataclass(frozen=True, slots=True)
class ColumnFamily:
    name: str
    max_versions: int = 1

    def __post_init__(self) -> None:
        if not _FAMILY_NAME.match(self.name):
            raise ValueError(
                f"column family name {self.name!r} is not valid: 1-64 characters of letters, digits, _ . -"
            )
        if not 1 <= self.max_versions <= 10_000:
            raise ValueError(
                f"column family {self.name!r}: max_versions must be 1..10000, got {self.max_versions}"
            )


@dataclass(frozen=True, slots=True)
class TableDescriptor:
    name: str
    families: tuple[ColumnFamily, ...]
    state: TableState = TableState.ENABLED

    def __post_init__(self) -> None:
        validate_table_name(self.name)
        if not self.families:
            raise ValueError(f"table {self.name!r}: at least one column family is needed")
        names = [f.name for f in self.families]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r}: column families repeat: {names}")


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A region: the rows [start_key, end_key) of a table. An empty end_key means the table's end."""

    region_id: int
    table: str
    start_key: bytes
    end_key: bytes
    split: bool = False
    offline: bool = False

    def contains(self, row: bytes) -> bool:
        return self.start_key <= row and (not self.end_key or row < self.end_key)


def validate_table_name(name: str) -> None:
    if not _TABLE_NAME.match(name):
        raise ValueError(
            f"table name {name!r} is not valid: 1-128 characters of letters, digits, _ . - "
            "(not starting with . or -)"
        )
