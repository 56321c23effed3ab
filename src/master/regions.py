"""The master's in-memory view of every region: one RegionNode per region, indexed by id and by table.

Meta is the durable copy; this is the working copy the assignment core decides on. A node's `state` changes
only through meta.states.transition (called by master.assignment).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from meta import RegionInfo, RegionState, RegionStateRow
from meta.codec import pack_region_state, server_bytes, unpack_region_state


class RegionNode:
    """One region as the master sees it. `proc_id` != 0 while a transition procedure is attached."""

    __slots__ = (
        "attempts",
        "info",
        "kind",
        "open_seq_num",
        "proc_id",
        "region_id",
        "server",
        "state",
        "target",
    )

    def __init__(self, info: RegionInfo, row: RegionStateRow) -> None:
        self.info = info
        self.region_id = info.region_id
        self.update(row)

    def update_raw(self, raw: bytes) -> None:
        """update() straight from a region_state value (a standby catching up on a million rows)."""
        (self.state, self.kind, self.attempts, self.proc_id, self.open_seq_num, self.server, self.target) = (
            unpack_region_state(raw)
        )

    def update(self, row: RegionStateRow) -> None:
        """Take the state meta holds (loading; a standby catching up). Not a transition: the master
        that wrote the row made it through meta.states.transition."""
        self.state = row.state
        self.server = row.server
        self.proc_id = row.proc_id
        self.kind = row.kind
        self.open_seq_num = row.open_seq_num
        self.attempts = row.attempts
        self.target = row.target

    @property
    def in_transition(self) -> bool:
        return self.proc_id != 0

    def row(self) -> tuple[bytes, bytes]:
        """This node as a region_state row (key, value), ready for the writer."""
        return self.region_id.to_bytes(8, "big"), pack_region_state(
            self.state,
            self.kind,
            min(self.attempts, 255),
            self.proc_id,
            self.open_seq_num,
            server_bytes(self.server),
            server_bytes(self.target),
        )

    def __repr__(self) -> str:
        where = f" on {self.server}" if self.server else ""
        proc = f" proc={self.proc_id}({self.kind.name})" if self.proc_id else ""
        return f"<region {self.region_id} {self.info.table} {self.state.name}{where}{proc}>"


class RegionMap:
    """Every region node, by id and, per table, in start-key order."""

    def __init__(self) -> None:
        self._by_id: dict[int, RegionNode] = {}
        self._tables: dict[str, list[RegionNode]] = {}

    def add(self, nodes: Iterable[RegionNode], *, in_key_order: bool = False) -> None:
        """Add nodes. `in_key_order`: they come in meta's `regions` key order (table, start key, id), as a
        scan of meta yields them; added to an empty map, each table's list then needs no sort."""
        was_empty = not self._by_id
        touched: set[str] = set()
        for node in nodes:
            self._by_id[node.region_id] = node
            self._tables.setdefault(node.info.table, []).append(node)
            touched.add(node.info.table)
        if in_key_order and was_empty:
            return
        for table in touched:
            self._tables[table].sort(key=lambda n: (n.info.start_key, n.region_id))

    def remove(self, nodes: Iterable[RegionNode]) -> None:
        """Drop nodes (their rows are deleted): a table deleted or truncated."""
        gone: set[str] = set()
        for node in nodes:
            if self._by_id.pop(node.region_id, None) is not None:
                gone.add(node.info.table)
        for table in gone:
            left = [n for n in self._tables.get(table, []) if n.region_id in self._by_id]
            if left:
                self._tables[table] = left
            else:
                self._tables.pop(table, None)

    def get(self, region_id: int) -> RegionNode | None:
        return self._by_id.get(region_id)

    def table(self, name: str) -> list[RegionNode]:
        return self._tables.get(name, [])

    def tables(self) -> list[str]:
        return list(self._tables)

    def locate(self, table: str, row: bytes) -> RegionNode | None:
        """The region of `table` whose range holds `row` (split parents excluded)."""
        found = self.locate_run(table, row, 1)
        return found[0] if found else None

    def locate_run(self, table: str, row: bytes, count: int, *, backwards: bool = False) -> list[RegionNode]:
        """The online region of `table` holding `row`, then up to count-1 online regions after it (before it,
        backwards), in that order: a client's cache prefetch. Empty when no region holds the row (a hole)."""
        nodes = self.table(table)
        i = bisect.bisect_right(nodes, row, key=lambda n: n.info.start_key) - 1
        while i >= 0 and nodes[i].info.offline:
            i -= 1
        if i < 0 or not nodes[i].info.contains(row):
            return []
        step = -1 if backwards else 1
        out: list[RegionNode] = []
        while 0 <= i < len(nodes) and len(out) < count:
            if not nodes[i].info.offline:
                out.append(nodes[i])
            i += step
        return out

    def __iter__(self) -> Iterator[RegionNode]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def initial_row() -> RegionStateRow:
    """The state of a region that has never been assigned."""
    return RegionStateRow(RegionState.OFFLINE)
