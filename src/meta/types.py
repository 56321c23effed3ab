"""Domain types of the catalog: what a table, a region and a RegionServer incarnation are.

Plain frozen dataclasses; protobuf stays at the edges (meta.codec converts).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

#: HBase's rules for table and family names: letters, digits, _ - . and not starting with . or -.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
MAX_NAME_BYTES = 255  # also a file name: ROOTDIR/data/<table>/
MAX_VERSIONS = 10_000
MAX_TTL_SECONDS = 2**31 - 1  # HBase's FOREVER; a larger ttl is a mistake, not a longer forever

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
    REOPEN = 4  # close and open again, on the same server where it is live (a table's new descriptor)
    SPLIT = 5  # held by a split_region procedure: the parent while it closes, the daughters until they open
    MERGE = 6  # held by a merge_regions procedure: the parents while they close, the child until it opens


MAX_HOST = 253  # a DNS name's longest
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]%")


def validate_host(host: str) -> None:
    """Raise ValueError unless `host` can be a RegionServer's host: a DNS name or an IP address, 1..253
    ASCII characters. It ends up in meta keys (limited to 511 bytes) and in channel targets."""
    if not 0 < len(host) <= MAX_HOST or not _HOST_CHARS.issuperset(host):
        shown = repr(host) if len(host) <= 80 else f"{host[:80]!r}... ({len(host)} characters)"
        raise ValueError(
            f"a host must be a DNS name or an IP address (1..{MAX_HOST} characters of letters, digits and "
            f". - _ : [ ] %), got {shown}"
        )


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
    """A column family and its settings. `ttl` is in seconds, None for forever."""

    name: str
    max_versions: int = 1
    min_versions: int = 0
    ttl: int | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "column family")
        where = f"column family {self.name!r}"
        for setting in ("max_versions", "min_versions"):
            if isinstance(getattr(self, setting), bool) or not isinstance(getattr(self, setting), int):
                raise ValueError(f"{where}: {setting} must be a whole number, got {getattr(self, setting)!r}")
        if not 1 <= self.max_versions <= MAX_VERSIONS:
            raise ValueError(f"{where}: max_versions must be 1..{MAX_VERSIONS}, got {self.max_versions}")
        if not 0 <= self.min_versions <= self.max_versions:
            raise ValueError(
                f"{where}: min_versions must be 0..max_versions ({self.max_versions}), "
                f"got {self.min_versions}"
            )
        if self.ttl is not None and (
            isinstance(self.ttl, bool)
            or not isinstance(self.ttl, int)
            or not 1 <= self.ttl <= MAX_TTL_SECONDS
        ):
            raise ValueError(
                f"{where}: ttl must be 1..{MAX_TTL_SECONDS} seconds or None (forever), got {self.ttl!r}"
            )


@dataclass(frozen=True, slots=True)
class TableSettings:
    """Table-level settings (HBase's defaults). `max_region_size` in bytes, None for the cluster default;
    the split, merge and normalization switches are read by the split/merge chores."""

    max_region_size: int | None = None
    split_enabled: bool = True
    merge_enabled: bool = True
    normalization_enabled: bool = False

    def __post_init__(self) -> None:
        size = self.max_region_size
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or not 1 << 20 <= size < 1 << 50
        ):
            raise ValueError(f"max_region_size must be 1 MiB..1 PiB in bytes or None, got {size!r}")
        for switch in ("split_enabled", "merge_enabled", "normalization_enabled"):
            if not isinstance(getattr(self, switch), bool):
                raise ValueError(f"{switch} must be True or False, got {getattr(self, switch)!r}")


@dataclass(frozen=True, slots=True)
class TableDescriptor:
    name: str
    families: tuple[ColumnFamily, ...]
    state: TableState = TableState.ENABLED
    settings: TableSettings = TableSettings()

    def __post_init__(self) -> None:
        validate_table_name(self.name)
        if not self.families:
            raise ValueError(f"table {self.name!r}: at least one column family is needed")
        names = [f.name for f in self.families]
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"table {self.name!r}: column families repeat: {', '.join(repeated)}")

    def family(self, name: str) -> ColumnFamily | None:
        return next((f for f in self.families if f.name == name), None)


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A region: the rows [start_key, end_key) of a table. An empty end_key means the table's end."""

    region_id: int
    table: str
    start_key: bytes
    end_key: bytes
    split: bool = False
    offline: bool = False
    #: Split and merge: on a parent, the regions it became (two daughters, or the merged child); on a
    #: merged child, the regions it was made of. Kept until the catalog janitor removes the parents.
    children: tuple[int, ...] = ()
    parents: tuple[int, ...] = ()

    def contains(self, row: bytes) -> bool:
        return self.start_key <= row and (not self.end_key or row < self.end_key)


def validate_name(name: str, what: str) -> None:
    """Raise ValueError unless `name` follows HBase's rules for table and family names."""
    if not isinstance(name, str):
        raise ValueError(f"a {what} name is a string, got {name!r}")
    if not _NAME.fullmatch(name) or len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"{what} name {name!r} is not valid: 1-{MAX_NAME_BYTES} bytes of letters, digits, _ . - "
            "(not starting with . or -)"
        )


def validate_table_name(name: str) -> None:
    validate_name(name, "table")
