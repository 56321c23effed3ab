"""An in-memory model of HBase's data semantics as the region store promises them, for the tests.

Written from the rules, not from the store's code: a column is a dict of timestamp -> value; a read sees,
newest first, the first max_versions versions, less the expired ones beyond the first min_versions; then
the read's time range and its max versions. Deletes remove what they cover; deleting one exact version
also drops the versions that were hidden behind it (so that compaction stays invisible to reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meta.types import ColumnFamily
from regionserver.data.cells import Cell

Column = tuple[bytes, bytes, bytes]  # row, family, qualifier


@dataclass
class Model:
    families: dict[bytes, ColumnFamily]
    columns: dict[Column, dict[int, bytes]] = field(default_factory=dict)

    def _seen(self, column: Column, now: int) -> list[tuple[int, bytes]]:
        family = self.families[column[1]]
        versions = sorted(self.columns.get(column, {}).items(), reverse=True)[: family.max_versions]
        if family.ttl is None:
            return versions
        oldest = now - family.ttl * 1000
        return versions[: family.min_versions] + [
            v for v in versions[family.min_versions :] if v[0] >= oldest
        ]

    def kept(self, now: int) -> int:
        """How many cells a full compaction at `now` leaves."""
        return sum(len(self._seen(c, now)) for c in self.columns if c[1] in self.families)

    def put(self, row: bytes, family: bytes, qualifier: bytes, ts: int, value: bytes) -> None:
        self.columns.setdefault((row, family, qualifier), {})[ts] = value

    def delete_upto(self, row: bytes, family: bytes | None, qualifier: bytes | None, ts: int) -> None:
        for column, versions in self.columns.items():
            if column[0] == row and family in (None, column[1]) and qualifier in (None, column[2]):
                for t in [t for t in versions if t <= ts]:
                    del versions[t]

    def delete_version(self, row: bytes, family: bytes, qualifier: bytes, ts: int | None, now: int) -> None:
        column = (row, family, qualifier)
        versions = self.columns.get(column, {})
        if not versions:
            return
        seen = dict(self._seen(column, now))  # before the delete: what was hidden stays hidden
        versions.pop(max(versions) if ts is None else ts, None)
        for t in [t for t in versions if t not in seen]:
            del versions[t]

    def newest(self, row: bytes, family: bytes, qualifier: bytes, now: int) -> tuple[int, bytes] | None:
        seen = self._seen((row, family, qualifier), now)
        return seen[0] if seen else None

    def row(
        self,
        row: bytes,
        now: int,
        *,
        wanted: tuple[bytes | tuple[bytes, bytes], ...] = (),
        max_versions: int = 1,
        time_range: tuple[int, int] = (0, 2**63),
    ) -> list[Cell]:
        out: list[Cell] = []
        for r, f, q in sorted(self.columns):
            if r != row or f not in self.families:
                continue
            if wanted and f not in wanted and (f, q) not in wanted:
                continue
            cells = [(t, v) for t, v in self._seen((r, f, q), now) if time_range[0] <= t < time_range[1]]
            out += [Cell(r, f, q, t, v) for t, v in cells[:max_versions]]
        return out

    def rows(self) -> list[bytes]:
        return sorted({c[0] for c, versions in self.columns.items() if versions})
