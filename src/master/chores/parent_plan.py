"""Which split and merged parents the catalog janitor may remove: a pure decision over a snapshot of
regions and the REFERENCES files already read (docs/split_merge_contract.md). No I/O here.

A SPLIT or MERGED parent may go when no procedure holds it, and each of its children

- is past SPLITTING_NEW / MERGING_NEW (the procedure that made it has opened it, or tried to), and
- names it in no REFERENCES file (no file: the child references nothing; a file that cannot be read is
  taken to name every parent, so that nothing is removed on a guess).

A child no longer in meta counts as referencing nothing: children are written in the same transaction as
the parent's SPLIT/MERGED mark, so a missing child was itself removed later (it split or merged again, which
it could only do once it referenced nothing), and its store is gone with it. Waiting for it would keep the
parent for ever. But a parent none of whose children is in meta is kept: the janitor removes a parent no
later than its children (ids grow, and a child that split or merged again references nothing), so that
happens only when meta lost them, and the parent's store may be the only copy of its rows (hbck reports
it, as `orphan_parent`).

Removing a parent deletes its rows; a child whose `parents` lists it (a merged child) has it taken off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from meta import RegionState

PARENT_STATES = (RegionState.SPLIT, RegionState.MERGED)
NEW_STATES = (RegionState.SPLITTING_NEW, RegionState.MERGING_NEW)


@dataclass(frozen=True, slots=True)
class Region:
    """A region as the decision needs it (the master's memory)."""

    region_id: int
    table: str
    state: RegionState
    proc_id: int = 0
    children: tuple[int, ...] = ()
    parents: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Removal:
    parent: int
    table: str
    kind: str  # "split" or "merge"
    children: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Kept:
    parent: int
    table: str
    kind: str  # "split" or "merge"
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    removals: tuple[Removal, ...]
    kept: tuple[Kept, ...]
    #: child id -> the `parents` it keeps once the removals are done (only children that change)
    new_parents: dict[int, tuple[int, ...]]


#: What a child's REFERENCES says: the parent ids it names, or None when the file could not be read.
Named = frozenset[int] | None


def parents(regions: Iterable[Region]) -> list[Region]:
    """The SPLIT and MERGED parents among `regions`."""
    return [r for r in regions if r.state in PARENT_STATES]


def children_to_read(regions: Mapping[int, Region], limit: int) -> dict[int, str]:
    """The children (id -> table) whose REFERENCES files the decision needs, for at most `limit` parents
    that no procedure holds."""
    out: dict[int, str] = {}
    for parent in parents(regions.values()):
        if limit <= 0:
            break
        if parent.proc_id:
            continue
        limit -= 1
        for child in parent.children:
            if child in regions:
                out[child] = regions[child].table
    return out


def decide(regions: Mapping[int, Region], named: Mapping[int, Named], limit: int) -> Decision:
    """The parents that may go now (at most `limit`), and why each other one stays.

    `named`: for each child whose REFERENCES was read, what it names (see `Named`); a child present in
    meta but not in `named` was not read, and keeps its parents."""
    removals: list[Removal] = []
    kept: list[Kept] = []
    for parent in sorted(parents(regions.values()), key=lambda r: r.region_id):
        why = _why_kept(parent, regions, named)
        if not why and len(removals) >= limit:
            why = f"at most {limit} parents are removed per run: the next run takes it"
        kind = "split" if parent.state is RegionState.SPLIT else "merge"
        if why:
            kept.append(Kept(parent.region_id, parent.table, kind, why))
            continue
        removals.append(Removal(parent.region_id, parent.table, kind, parent.children))
    return Decision(tuple(removals), tuple(kept), _new_parents(regions, removals))


def _why_kept(parent: Region, regions: Mapping[int, Region], named: Mapping[int, Named]) -> str:
    if parent.proc_id:
        return f"procedure {parent.proc_id} still holds it"
    if not parent.children:
        return "meta records no child of it (its children would be lost with it)"
    if not any(c in regions for c in parent.children):
        return "none of its children is in meta (its store may be the only copy of its rows: see hbck)"
    for child_id in parent.children:
        child = regions.get(child_id)
        if child is None:
            continue  # removed since (see the module's docstring)
        if child.state in NEW_STATES:
            return f"child {child_id} is still {child.state.name}"
        if child_id not in named:
            return f"the REFERENCES of child {child_id} was not read"
        names = named[child_id]
        if names is None:
            return f"the REFERENCES of child {child_id} cannot be read (see the master's log)"
        if parent.region_id in names:
            return f"child {child_id} still references its store"
    return ""


def _new_parents(regions: Mapping[int, Region], removals: Sequence[Removal]) -> dict[int, tuple[int, ...]]:
    gone = {r.parent for r in removals}
    out: dict[int, tuple[int, ...]] = {}
    for removal in removals:
        for child_id in removal.children:
            child = regions.get(child_id)
            if child is None or child_id in gone or child_id in out:
                continue
            left = tuple(p for p in child.parents if p not in gone)
            if left != child.parents:
                out[child_id] = left
    return out
