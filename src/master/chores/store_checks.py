"""What hbck finds inside region stores: the REFERENCES files of split daughters and merged children
(meta.references, docs/split_merge_contract.md), compared with meta. Pure functions, no I/O here: the
shell (master.chores.hbck) lists the directories and reads the files.

A child reads the rows of its parents' stores through its REFERENCES file until its fold has copied them.
So a file that cannot be parsed, or an entry naming a parent that meta does not hold as a SPLIT/MERGED
parent of that child, or whose store is gone, means rows the child cannot read: a data loss risk, reported
and never repaired automatically. A REFERENCES file in a region that is no split/merge child makes its
RegionServer read other stores as that region's rows: reported too.

Which files are read (`to_read`): those of the children that a SPLIT/MERGED parent names, of the regions
that record parents (a merged child), and of the regions whose directory holds such a file. A cluster of
100,000 regions has few of them: nobody opens every store.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import dataclass

from master.chores.consistency import PARENT_STATES, Finding, Kind, RegionView
from meta import RegionState
from meta.references import Reference

#: What a child's REFERENCES holds: its entries, or why it cannot be read (ReferencesError's message).
Read = list[Reference] | str


@dataclass(frozen=True, slots=True)
class Stores:
    """What the shell found on disk.

    `with_references`: region ids (of regions in meta) whose directory holds a REFERENCES file;
    `files`: region id -> what its REFERENCES holds (only the regions `to_read` chose, that have one);
    `present`: (table, region id) of every referenced parent whose store exists (has data)."""

    with_references: Collection[int] = ()
    files: Mapping[int, Read] | None = None
    present: Container[tuple[str, int]] = ()
    paths: Mapping[int, str] | None = None  # region id -> its REFERENCES file's path


def children_of(regions: Iterable[RegionView]) -> dict[int, list[RegionView]]:
    """child id -> the SPLIT/MERGED parents in meta that name it among their children."""
    out: dict[int, list[RegionView]] = {}
    for r in regions:
        if r.state in PARENT_STATES:
            for child in r.children:
                out.setdefault(child, []).append(r)
    return out


def to_read(regions: Iterable[RegionView], with_references: Collection[int]) -> list[RegionView]:
    """The regions whose REFERENCES files the checks need (see the module's docstring)."""
    regions = list(regions)
    named = children_of(regions)
    holders = set(with_references)
    return [r for r in regions if r.region_id in named or r.parents or r.region_id in holders]


def store_findings(
    regions: Iterable[RegionView], stores: Stores, busy_tables: Container[str] = ()
) -> list[Finding]:
    """REFERENCES_UNREADABLE, BROKEN_REFERENCE and STRAY_REFERENCES (see the module's docstring).
    Regions with a procedure, and tables under a table procedure, are left out."""
    regions = list(regions)
    by_id = {r.region_id: r for r in regions}
    named = children_of(regions)
    files = stores.files or {}
    paths = stores.paths or {}
    out: list[Finding] = []
    for child_id, read in sorted(files.items()):
        child = by_id.get(child_id)
        if child is None or child.proc_id or child.table in busy_tables:
            continue
        path = paths.get(child_id, "")
        if isinstance(read, str):
            out.append(
                Finding(
                    Kind.REFERENCES_UNREADABLE,
                    f"{read}: region {child_id} cannot read the rows it still takes from its parents' "
                    "stores (it fails to open; the catalog janitor keeps every parent)",
                    child.table,
                    child_id,
                    path=path,
                )
            )
            continue
        parents = {p.region_id: p for p in named.get(child_id, [])}
        recorded = set(child.parents)
        if not parents and not recorded:
            ids = ", ".join(str(ref.region_id) for ref in read) or "none"
            out.append(
                Finding(
                    Kind.STRAY_REFERENCES,
                    f"region {child_id} has a REFERENCES file ({path}, naming regions {ids}) but is no split "
                    "or merge child in meta: its RegionServer reads those stores as its own rows",
                    child.table,
                    child_id,
                    path=path,
                )
            )
            continue
        for ref in read:
            why = _broken(child, ref, by_id, parents, stores.present)
            if why:
                out.append(
                    Finding(
                        Kind.BROKEN_REFERENCE,
                        f"region {child_id} reads rows [{ref.start_key!r}, {ref.end_key!r}) from region "
                        f"{ref.region_id}, {why}: those rows are unreadable (data loss risk; nothing is "
                        "repaired automatically)",
                        child.table,
                        child_id,
                        path=path,
                    )
                )
    return out


def _broken(
    child: RegionView,
    ref: Reference,
    by_id: Mapping[int, RegionView],
    parents: Mapping[int, RegionView],
    present: Container[tuple[str, int]],
) -> str:
    """Why the entry `ref` of `child`'s REFERENCES cannot be read ("" if it can)."""
    parent = by_id.get(ref.region_id)
    if parent is None:
        return "which meta does not know"
    if ref.region_id not in parents and ref.region_id not in child.parents:
        return f"which meta has {parent.state.name}, not a split or merge parent of it"
    if parent.state not in PARENT_STATES:
        return f"which meta has {parent.state.name}, not SPLIT or MERGED"
    # A parent never written has no store: the child drops the entry when it opens. Once it is open, an
    # entry left names a store that was there at its open: gone since.
    if (child.table, ref.region_id) not in present and child.state is RegionState.OPEN:
        return "whose store directory is gone"
    return ""


def referenced(regions: Iterable[RegionView], files: Mapping[int, Read]) -> set[tuple[str, int]]:
    """(table, region id) of every store a readable REFERENCES file names: not orphans, whatever meta
    says (a child reads them)."""
    by_id = {r.region_id: r for r in regions}
    out: set[tuple[str, int]] = set()
    for child_id, read in files.items():
        child = by_id.get(child_id)
        if child is not None and not isinstance(read, str):
            out.update((child.table, ref.region_id) for ref in read)
    return out
