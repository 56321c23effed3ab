"""What the catalog janitor and hbck find, as pure functions over snapshots: no I/O here.

- `holes_and_overlaps`: per table, the online regions (split parents and other offline regions left out)
  in start-key order must tile the whole key space, from the empty key to the empty key.
- `janitor_report`: holes, overlaps, regions on unknown servers (neither live nor known dead), regions
  stuck in transition (a procedure with no step for longer than a threshold).
- `hbck_findings`: the same compared with what every RegionServer says it serves, what meta's rows hold
  and which region directories exist on disk; each finding says whether `--fix` can repair it and how.
- `unserved`: regions no procedure will ever open (split/merge children left unopened by a bypass,
  regions closed or abnormally closed with no procedure in an enabled table), and split/merge parents
  whose children meta has lost. (master.chores.store_checks looks inside the stores.)

The shell (master.chores.hbck) gathers the snapshots and carries out the fixes.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from meta import RegionState, ServerName
from meta.states import ASSIGNABLE


class Kind(Enum):
    HOLE = "hole"  # no online region holds the keys between two regions (or before the first, after the last)
    OVERLAP = "overlap"  # two online regions hold the same keys
    UNKNOWN_SERVER = "unknown_server"  # open on a server that is neither live nor known dead
    STUCK = "stuck"  # in transition with no step for too long
    NOT_SERVED = "not_served"  # OPEN in meta on a live server that does not serve it
    SERVED_ELSEWHERE = "served_elsewhere"  # a server serves it, meta places it on another (or nowhere)
    ORPHAN_ON_SERVER = "orphan_on_server"  # a server serves a region meta does not know
    META_MISMATCH = "meta_mismatch"  # meta's row and the master's memory disagree
    ORPHAN_DIR = "orphan_dir"  # a store directory of no region in meta
    UNFINISHED_CHILD = "unfinished_child"  # a split/merge child SPLITTING_NEW/MERGING_NEW with no procedure
    NOT_DEPLOYED = "not_deployed"  # not open, no procedure, in an enabled table: nothing serves its rows
    ORPHAN_PARENT = "orphan_parent"  # a SPLIT/MERGED parent none of whose children meta knows
    # master.chores.store_checks: what the REFERENCES files in region stores say
    REFERENCES_UNREADABLE = "references_unreadable"  # a REFERENCES file that cannot be read or parsed
    BROKEN_REFERENCE = "broken_reference"  # names a parent meta does not know as such, or whose store is gone
    STRAY_REFERENCES = "stray_references"  # a REFERENCES file in a region that is no split/merge child


#: What --fix does for each kind it can repair; kinds not here are reported only.
FIXES = {
    Kind.NOT_SERVED: "reassign it (a move: closed on its server, opened where the master chooses)",
    Kind.SERVED_ELSEWHERE: "close it on the server that serves it against meta",
    Kind.ORPHAN_ON_SERVER: "close it on that server",
    Kind.ORPHAN_DIR: "remove the directory (only when confirmed)",
    Kind.UNFINISHED_CHILD: "open it (SPLITTING_NEW/MERGING_NEW -> OPENING, as its procedure would have)",
    Kind.NOT_DEPLOYED: "assign it",
}

#: States of a split/merge child not opened yet, and of a retired parent.
NEW_STATES = (RegionState.SPLITTING_NEW, RegionState.MERGING_NEW)
PARENT_STATES = (RegionState.SPLIT, RegionState.MERGED)


@dataclass(frozen=True, slots=True)
class RegionView:
    """One region as the master holds it (memory), for the checks."""

    region_id: int
    table: str
    start_key: bytes
    end_key: bytes
    offline: bool
    state: RegionState
    server: ServerName | None
    proc_id: int
    idle_s: float = 0.0  # with a procedure: since its last step
    waiting: bool = False  # to be assigned as soon as a RegionServer can take it
    children: tuple[int, ...] = ()  # RegionInfo.children (a split/merge parent)
    parents: tuple[int, ...] = ()  # RegionInfo.parents (a merged child)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    detail: str
    table: str = ""
    region_id: int = 0
    server: str = ""  # host:port:startcode (or host:port) concerned
    path: str = ""  # ORPHAN_DIR: the directory; the REFERENCES kinds: the file

    @property
    def fix(self) -> str:
        return FIXES.get(self.kind, "")


def holes_and_overlaps(regions: Iterable[RegionView]) -> list[Finding]:
    by_table: dict[str, list[RegionView]] = {}
    for r in regions:
        if not r.offline and r.state not in (RegionState.SPLIT, RegionState.MERGED):
            by_table.setdefault(r.table, []).append(r)
    out: list[Finding] = []
    for table, rs in sorted(by_table.items()):
        rs.sort(key=lambda r: (r.start_key, r.region_id))
        if rs[0].start_key != b"":
            out.append(Finding(Kind.HOLE, f"no region holds [b'', {rs[0].start_key!r})", table))
        reach = rs[0]  # the region that reaches furthest so far
        for r in rs[1:]:
            end = reach.end_key
            if end == b"" or r.start_key < end:
                out.append(
                    Finding(
                        Kind.OVERLAP,
                        f"regions {reach.region_id} [{reach.start_key!r}, {end!r}) and {r.region_id} "
                        f"[{r.start_key!r}, {r.end_key!r}) overlap",
                        table,
                        r.region_id,
                    )
                )
            elif r.start_key > end:
                out.append(
                    Finding(
                        Kind.HOLE,
                        f"no region holds [{end!r}, {r.start_key!r}) (between regions {reach.region_id} and "
                        f"{r.region_id})",
                        table,
                        r.region_id,
                    )
                )
            if end != b"" and (r.end_key == b"" or r.end_key > end):
                reach = r
        if reach.end_key != b"":
            out.append(Finding(Kind.HOLE, f"no region holds [{reach.end_key!r}, b'') (the end)", table))
    return out


def janitor_report(
    regions: Sequence[RegionView],
    live: Iterable[ServerName],
    dead: Iterable[ServerName],
    stuck_after_s: float,
) -> list[Finding]:
    out = holes_and_overlaps(regions)
    live_set, dead_set = set(live), set(dead)
    for r in regions:
        if (
            r.server is not None
            and r.state in (RegionState.OPEN, RegionState.OPENING, RegionState.CLOSING)
            and r.server not in live_set
            and r.server not in dead_set
        ):
            out.append(
                Finding(
                    Kind.UNKNOWN_SERVER,
                    f"region {r.region_id} is {r.state.name} on {r.server}, which is neither live nor known "
                    "dead",
                    r.table,
                    r.region_id,
                    str(r.server),
                )
            )
        if r.proc_id and r.idle_s >= stuck_after_s:
            out.append(
                Finding(
                    Kind.STUCK,
                    f"region {r.region_id} is {r.state.name} under procedure {r.proc_id} with no step for "
                    f"{r.idle_s:.0f} s (if it does not recover: regent admin bypass {r.proc_id}, then assign "
                    "it)",
                    r.table,
                    r.region_id,
                    str(r.server or ""),
                )
            )
    return out


def hbck_findings(
    regions: Sequence[RegionView],
    served: Mapping[ServerName, Mapping[int, int]],
    meta_rows: Mapping[int, tuple[RegionState, ServerName | None]],
    store_dirs: Iterable[tuple[str, int, str]],
    busy_tables: Iterable[str] = (),
    *,
    holding_references: Container[str] = (),
) -> list[Finding]:
    """`served`: for each live server that answered, region id -> open sequence number it serves.
    `meta_rows`: region id -> (state, server) as meta's region_state rows hold them (absent: OFFLINE).
    `store_dirs`: (table, region id, path) of each region directory on disk. Regions with a procedure, and
    tables with a table procedure running (`busy_tables`), are left out of the comparisons: what a
    transition in flight shows is not an inconsistency. `holding_references`: the paths among
    `store_dirs` that hold a REFERENCES file (said in an orphan's detail)."""
    out = holes_and_overlaps(regions)
    by_id = {r.region_id: r for r in regions}
    busy = set(busy_tables)
    for r in regions:
        if r.proc_id or r.table in busy:
            continue
        stored = meta_rows.get(r.region_id, (RegionState.OFFLINE, None))
        if stored != (r.state, r.server):
            out.append(
                Finding(
                    Kind.META_MISMATCH,
                    f"region {r.region_id}: meta holds {stored[0].name} on {stored[1]}, the master "
                    f"{r.state.name} on {r.server}",
                    r.table,
                    r.region_id,
                )
            )
        if (
            r.state is RegionState.OPEN
            and r.server is not None
            and r.server in served
            and r.region_id not in served[r.server]
        ):
            out.append(
                Finding(
                    Kind.NOT_SERVED,
                    f"region {r.region_id} is OPEN on {r.server} in meta, which does not serve it",
                    r.table,
                    r.region_id,
                    str(r.server),
                )
            )
    for server, online in sorted(served.items(), key=lambda kv: str(kv[0])):
        for region_id in sorted(online):
            found = by_id.get(region_id)
            if found is None:
                out.append(
                    Finding(
                        Kind.ORPHAN_ON_SERVER,
                        f"{server} serves region {region_id}, which meta does not know",
                        "",
                        region_id,
                        str(server),
                    )
                )
            elif (
                not found.proc_id
                and found.table not in busy
                and (found.state is not RegionState.OPEN or found.server != server)
            ):
                where = f"{found.state.name} on {found.server or 'no server'}"
                out.append(
                    Finding(
                        Kind.SERVED_ELSEWHERE,
                        f"{server} serves region {region_id}, which meta has {where}",
                        found.table,
                        region_id,
                        str(server),
                    )
                )
    known = {(r.table, r.region_id) for r in regions}
    tables = {r.table for r in regions}
    for table, region_id, path in sorted(store_dirs):
        if table in busy or (table, region_id) in known:
            continue
        why = "its table does not exist" if table not in tables else "no region of its table has that id"
        if path in holding_references:
            why += (
                "; it holds a REFERENCES file: a split or merge child never made (a split or merge "
                "bypassed or failed before its point of no return)"
            )
        out.append(Finding(Kind.ORPHAN_DIR, f"{path}: {why}", table, region_id, path=path))
    return out


def unserved(
    regions: Sequence[RegionView],
    enabled_tables: Container[str],
    *,
    served: Container[int] = (),
    busy_tables: Container[str] = (),
    closed_too: bool = True,
) -> list[Finding]:
    """Regions whose rows nothing serves and no procedure will (UNFINISHED_CHILD, NOT_DEPLOYED), and
    split/merge parents whose children meta has lost (ORPHAN_PARENT).

    A region waiting for a RegionServer, served somewhere (`served`: SERVED_ELSEWHERE says more), with a
    procedure, or of a table under a table procedure is not reported. `closed_too`: report idle CLOSED and
    FAILED_OPEN regions of enabled tables as well (hbck, as HBase's hbck1 "not deployed"; the periodic
    janitor leaves them out: an operator's unassign, or a failed open already reported, may be meant)."""
    by_id = {r.region_id: r for r in regions}
    out: list[Finding] = []
    for r in regions:
        if r.proc_id or r.waiting or r.table in busy_tables or r.region_id in served:
            continue
        if r.state in PARENT_STATES:
            if not any(c in by_id for c in r.children):
                out.append(_orphan_parent(r))
            continue
        if r.offline:
            continue
        if r.state in NEW_STATES:
            enabled = ""
            if r.table not in enabled_tables:
                enabled = f" (table {r.table!r} is not enabled: enable it first)"
            out.append(
                Finding(
                    Kind.UNFINISHED_CHILD,
                    f"region {r.region_id} is {r.state.name} with no procedure: the split or merge that made "
                    f"it ended (bypassed?) before opening it, and nothing serves its rows{enabled}",
                    r.table,
                    r.region_id,
                )
            )
        elif (
            r.state in ASSIGNABLE
            and r.table in enabled_tables
            and (closed_too or r.state in (RegionState.OFFLINE, RegionState.ABNORMALLY_CLOSED))
        ):
            last = f" (last on {r.server})" if r.server is not None else ""
            out.append(
                Finding(
                    Kind.NOT_DEPLOYED,
                    f"region {r.region_id} is {r.state.name}{last} with no procedure in enabled table "
                    f"{r.table!r}: nothing serves its rows (a bypassed procedure, or an operator's unassign)",
                    r.table,
                    r.region_id,
                )
            )
    return out


def _orphan_parent(r: RegionView) -> Finding:
    kind = "split" if r.state is RegionState.SPLIT else "merge"
    if r.children:
        lost = f"none of its children {', '.join(map(str, r.children))} is in meta"
    else:
        lost = "meta records no child of it"
    return Finding(
        Kind.ORPHAN_PARENT,
        f"{kind} parent {r.region_id} [{r.start_key!r}, {r.end_key!r}) is {r.state.name}, and {lost}: no "
        "region reads its rows any more (its store, if any, still holds them; the catalog janitor keeps it)",
        r.table,
        r.region_id,
    )
