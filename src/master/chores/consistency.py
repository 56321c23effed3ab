"""What the catalog janitor and hbck find, as pure functions over snapshots: no I/O here.

- `holes_and_overlaps`: per table, the online regions (split parents and other offline regions left out)
  in start-key order must tile the whole key space, from the empty key to the empty key.
- `janitor_report`: holes, overlaps, regions on unknown servers (neither live nor known dead), regions
  stuck in transition (a procedure with no step for longer than a threshold).
- `hbck_findings`: the same compared with what every RegionServer says it serves, what meta's rows hold
  and which region directories exist on disk; each finding says whether `--fix` can repair it and how.

The shell (master.chores.hbck) gathers the snapshots and carries out the fixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from meta import RegionState, ServerName


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


#: What --fix does for each kind it can repair; kinds not here are reported only.
FIXES = {
    Kind.NOT_SERVED: "reassign it (a move: closed on its server, opened where the master chooses)",
    Kind.SERVED_ELSEWHERE: "close it on the server that serves it against meta",
    Kind.ORPHAN_ON_SERVER: "close it on that server",
    Kind.ORPHAN_DIR: "remove the directory (only when confirmed)",
}


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


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    detail: str
    table: str = ""
    region_id: int = 0
    server: str = ""  # host:port:startcode (or host:port) concerned
    path: str = ""  # ORPHAN_DIR: the directory

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
) -> list[Finding]:
    """`served`: for each live server that answered, region id -> open sequence number it serves.
    `meta_rows`: region id -> (state, server) as meta's region_state rows hold them (absent: OFFLINE).
    `store_dirs`: (table, region id, path) of each region directory on disk. Regions with a procedure, and
    tables with a table procedure running (`busy_tables`), are left out of the comparisons: what a
    transition in flight shows is not an inconsistency."""
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
        out.append(Finding(Kind.ORPHAN_DIR, f"{path}: {why}", table, region_id, path=path))
    return out
