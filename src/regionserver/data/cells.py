"""A cell of HBase's data model, as the store yields it and filters see it.

row -> family:qualifier -> versions, each with a timestamp in milliseconds. Within a row, cells are ordered by
family, then qualifier, then timestamp *descending* (the newest version first), as HBase orders them; rows
are ordered bytewise.
"""

from __future__ import annotations

from typing import NamedTuple


class Cell(NamedTuple):
    """A named tuple rather than a dataclass: a scan makes up to a thousand per call, and a tuple is made
    in about half the time of a frozen dataclass (docs/benchmarks.md, "bench data-path")."""

    row: bytes
    family: bytes
    qualifier: bytes
    timestamp: int  # milliseconds since the epoch
    value: bytes

    @property
    def column(self) -> bytes:
        """`family:qualifier`, as happybase names a column."""
        return self.family + b":" + self.qualifier

    def sort_key(self) -> tuple[bytes, bytes, bytes, int]:
        """The order of cells in a scan: row, family, qualifier, newest first."""
        return self.row, self.family, self.qualifier, -self.timestamp
