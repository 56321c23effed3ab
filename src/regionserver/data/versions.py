"""Which versions of a column a read sees: HBase's max_versions, min_versions and ttl, as one rule.

Of a column's versions, newest first, version i is *retained* when

    i < max_versions  and  (i < min_versions  or  timestamp >= now - ttl)

Retained versions form a prefix (timestamps descend, so once one is expired all older ones are). A read
sees only retained versions, then applies its time range and its own max versions; compaction removes
exactly the versions that are not retained. So compaction never changes what a read returns, whether
it ran or not (writes that delete one exact version prune the column's unretained versions at once, so
that an old version cannot resurface: see regionserver.data.apply). Versions older than a time range's
start are still counted: a family's max_versions bounds what is kept, not what a time range may dig up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from meta.types import ColumnFamily
from regionserver.data import keys
from regionserver.data.cells import Cell
from regionserver.data.errors import NoSuchFamily
from regionserver.data.mutations import ALL_TIME, Column, TimeRange

Item = tuple[bytes, bytes]


def oldest_unexpired(family: ColumnFamily, now_ms: int) -> int | None:
    """The oldest timestamp the family's ttl keeps at `now_ms` (None: no ttl)."""
    return None if family.ttl is None else now_ms - family.ttl * 1000


def retained(index: int, timestamp: int, family: ColumnFamily, oldest: int | None) -> bool:
    """Whether the index-th newest version of a column, written at `timestamp`, is retained."""
    if index >= family.max_versions:
        return False
    return index < family.min_versions or oldest is None or timestamp >= oldest


def columns(items: Iterable[Item]) -> Iterator[list[Item]]:
    """Group cells (in key order) into the versions of each column, newest first."""
    group: list[Item] = []
    current = b""
    for key, value in items:
        column = keys.column_of(key)
        if group and column != current:
            yield group
            group = []
        current = column
        group.append((key, value))
    if group:
        yield group


@dataclass(frozen=True, slots=True)
class Selection:
    """The columns a read asked for, checked against the table's families."""

    families: Mapping[bytes, ColumnFamily]
    whole: frozenset[bytes]  # families asked for in full
    qualifiers: frozenset[tuple[bytes, bytes]]  # single columns of other families

    @classmethod
    def of(cls, families: Mapping[bytes, ColumnFamily], wanted: tuple[Column, ...]) -> Selection:
        if not wanted:
            return cls(families, frozenset(families), frozenset())
        whole = frozenset(c for c in wanted if isinstance(c, bytes))
        single = frozenset(c for c in wanted if isinstance(c, tuple) and c[0] not in whole)
        for family in whole | {f for f, _ in single}:
            if family not in families:
                raise NoSuchFamily(f"no column family {family!r}: the table has {sorted(families)!r}")
        return cls(families, whole, single)

    def wants(self, family: bytes, qualifier: bytes) -> bool:
        return family in self.whole or (family, qualifier) in self.qualifiers

    def ranges(self, row: bytes) -> list[tuple[bytes, bytes]]:
        """The key ranges of `row` that hold the selected cells, in key order."""
        spans = [(keys.family_start(row, f), keys.family_end(row, f)) for f in self.whole]
        spans += [(keys.column_start(row, f, q), keys.column_end(row, f, q)) for f, q in self.qualifiers]
        return sorted(spans)


def visible(
    items: Iterable[Item],
    selection: Selection,
    now_ms: int,
    *,
    max_versions: int = 1,
    time_range: TimeRange = ALL_TIME,
) -> list[Cell]:
    """The cells a read returns of `items`: cells in key order, of one column (its versions, newest first)
    or of several (a row's), in one pass: a scan runs this once per row it returns."""
    out: list[Cell] = []
    column = None  # the key of the current column's versions, less the timestamp
    done = True  # nothing more of the current column is returned
    row = family_name = qualifier = b""
    family: ColumnFamily | None = None
    oldest: int | None = None
    index = taken = 0
    for key, value in items:
        head = key[: -keys.TIMESTAMP_BYTES]
        if head != column:
            column, index, taken = head, 0, 0
            row, family_name, qualifier, _ = keys.decode(key)
            family = selection.families.get(family_name)
            done = family is None or not selection.wants(family_name, qualifier)
            if family is not None:
                oldest = oldest_unexpired(family, now_ms)
        else:
            index += 1
        if done:
            continue
        assert family is not None
        timestamp = keys.timestamp_of(key)
        if not retained(index, timestamp, family, oldest):
            done = True  # and so are the older versions: retained ones are a prefix
        elif timestamp in time_range:
            out.append(Cell(row, family_name, qualifier, timestamp, value))
            taken += 1
            done = taken >= max_versions
    return out


def retained_count(versions: list[Item], family: ColumnFamily, now_ms: int) -> int:
    """How many of a column's versions (newest first) are retained: the rest may be removed."""
    oldest = oldest_unexpired(family, now_ms)
    for index, (key, _) in enumerate(versions):
        if not retained(index, keys.timestamp_of(key), family, oldest):
            return index
    return len(versions)
