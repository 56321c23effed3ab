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
#: What a read needs of one column, found once per read whatever the number of rows: its family's name,
#: its qualifier, and the family's max_versions, min_versions and oldest unexpired timestamp.
ColumnRule = tuple[bytes, bytes, int, int, int | None]
#: Columns a RowVisibility remembers (a read of rows with few distinct columns, as most are, decodes each
#: column's name once); past it, the others are decoded every time.
MAX_REMEMBERED_COLUMNS = 4096
_TS_BYTES = keys.TIMESTAMP_BYTES
_TS_MAX = keys.TS_MAX
_unpack_ts = keys.TIMESTAMP.unpack_from
_UNKNOWN: ColumnRule = (b"", b"", 0, 0, None)  # a column not looked at yet


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


class RowVisibility:
    """`visible` for the rows of one read (a scanner's chunk, a get's rows): the same cells, found faster.

    A scan returns up to 1,000 cells per call and this is its hottest loop, so the work `visible` does
    per column is done once per read instead: the part of a key after its row (the escaped family and
    qualifier) names the same column in every row, so each distinct one is decoded once and what the
    read needs of it (its family's settings, whether it is selected) is remembered. The rule is
    `visible`'s; tests/test_row_visibility.py holds the two to the same results.
    """

    __slots__ = ("_high", "_low", "_max_versions", "_now_ms", "_rules", "_selection")

    def __init__(
        self, selection: Selection, now_ms: int, *, max_versions: int = 1, time_range: TimeRange = ALL_TIME
    ) -> None:
        self._selection = selection
        self._now_ms = now_ms
        self._max_versions = max_versions
        self._low, self._high = time_range.min, time_range.max
        self._rules: dict[bytes, ColumnRule | None] = {}  # escaped family and qualifier -> rule or not read

    def cells(self, items: Iterable[Item]) -> list[Cell]:
        """`visible(items, ...)` for the cells of one row."""
        found, _ = self.rows(items, 1)
        return found[0][1] if found else []

    def rows(self, items: Iterable[Item], rows: int) -> tuple[list[tuple[bytes, list[Cell]]], bytes | None]:
        """Up to `rows` rows with visible cells of `items` (the cells of rows one after another, each row's
        in key order) and the row_start of the row after which `items` were left unread
        (None when read to their end): `visible` on each row's items, in one pass. A key's row is looked
        at once per column, not per cell."""
        rules = self._rules
        low, high, wanted = self._low, self._high, self._max_versions
        new = tuple.__new__
        out: list[tuple[bytes, list[Cell]]] = []
        cells: list[Cell] = []
        append = cells.append
        start = b""  # the current row's start (keys.row_start): every key of the row starts with it
        skip = -1  # its length; -1 before the first row
        row = column = family_name = qualifier = b""
        done = True
        max_kept = min_kept = index = taken = 0
        oldest: int | None = None
        for key, value in items:
            head = key[:-_TS_BYTES]
            if head != column:
                column = head
                if skip < 0 or not head.startswith(start):  # a new row
                    if skip >= 0:  # the end of the row before
                        if cells:
                            out.append((row, cells))
                            cells = []
                            append = cells.append
                        if len(out) >= rows:
                            return out, start
                    start = keys.row_prefix(key)
                    row = keys.row_of_start(start)
                    skip = len(start)
                name = head[skip:]
                rule = rules.get(name, _UNKNOWN)
                if rule is _UNKNOWN:
                    rule = self._learn(name, key)
                if rule is None:
                    done = True
                    continue
                family_name, qualifier, max_kept, min_kept, oldest = rule
                index = taken = 0
                done = False
            elif done:
                continue
            else:
                index += 1
            timestamp = _TS_MAX - _unpack_ts(key, -_TS_BYTES)[0]
            if index >= max_kept or (index >= min_kept and oldest is not None and timestamp < oldest):
                done = True  # and so are the older versions: retained ones are a prefix
            elif low <= timestamp < high:
                append(new(Cell, (row, family_name, qualifier, timestamp, value)))
                taken += 1
                done = taken >= wanted
        if cells:
            out.append((row, cells))
        return out, None

    def _learn(self, name: bytes, key: bytes) -> ColumnRule | None:
        """The rule of the column `name` (a key's escaped family and qualifier), from the key."""
        _, family_name, qualifier, _ = keys.decode(key)
        family = self._selection.families.get(family_name)
        rule: ColumnRule | None = None
        if family is not None and self._selection.wants(family_name, qualifier):
            oldest = oldest_unexpired(family, self._now_ms)
            rule = (family_name, qualifier, family.max_versions, family.min_versions, oldest)
        if len(self._rules) < MAX_REMEMBERED_COLUMNS:
            self._rules[name] = rule
        return rule
