"""The catalog janitor's removal of split and merged parents: the I/O around master.chores.parent_plan.

One pass: the SPLIT/MERGED parents in the master's memory; the REFERENCES files of their children, read
off the event loop (ROOTDIR/data/<table>/<child>/REFERENCES, meta.references); the decision; then, for
what may go, the parents' store directories removed first (off the loop), and only then one transaction
through the master's writer that deletes the parents' rows (regions and region_state) and rewrites the
RegionInfo of each child whose `parents` listed them. The nodes leave the master's memory once that
transaction is durable.

A crash between the two leaves parents in meta with no store: the next pass removes nothing more on disk
(a missing directory is no error) and commits the rows. A parent's store is never read once no child
names it (REFERENCES files only lose entries), so removing it first is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from master.assignment import Effects
from master.chores import parent_plan
from master.chores.parent_plan import Kept, Named, Region, Removal
from meta import WriteBatch, keys, references
from meta.codec import encode_region_info

if TYPE_CHECKING:
    from master.active import ActiveMaster

log = structlog.get_logger("master")

MAX_PER_RUN = 1000  # parents removed per pass: one bounded transaction; the next pass takes the rest


@dataclass(slots=True)
class Cleanup:
    """What one pass removed, and why the other parents stay."""

    removed: list[Removal] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    error: str = ""  # the pass stopped (a store directory that could not be removed)


def snapshot(active: ActiveMaster) -> dict[int, Region]:
    """The SPLIT/MERGED parents in the master's memory and their children, as the decision sees them
    (one pass over the nodes; nothing is built for the other regions)."""
    regions = active.am.regions
    parents = [n for n in regions if n.state in parent_plan.PARENT_STATES]
    wanted = {n.region_id: n for n in parents}
    for n in parents:
        for child_id in n.info.children:
            child = regions.get(child_id)
            if child is not None:
                wanted[child_id] = child
    return {
        n.region_id: Region(n.region_id, n.info.table, n.state, n.proc_id, n.info.children, n.info.parents)
        for n in wanted.values()
    }


def read_references(rootdir: Path, children: Mapping[int, str]) -> dict[int, Named]:
    """What each child's REFERENCES names (blocking: run it off the loop)."""
    out: dict[int, Named] = {}
    for child, table in children.items():
        try:
            found = references.read(store_dir(rootdir, table, child))
        except references.ReferencesError as exc:
            log.error("references_unreadable", region_id=child, table=table, error=str(exc))
            out[child] = None
            continue
        out[child] = frozenset(r.region_id for r in found or ())
    return out


def store_dir(rootdir: Path, table: str, region_id: int) -> Path:
    return rootdir / "data" / table / str(region_id)  # regionserver.data.environments.region_dir


def _remove_stores(rootdir: Path, removals: list[Removal]) -> None:
    for removal in removals:
        path = store_dir(rootdir, removal.table, removal.parent)
        # No directory: never written, or removed by a pass that crashed before its commit.
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)


async def remove_parents(active: ActiveMaster, limit: int = MAX_PER_RUN) -> Cleanup:
    """One pass (see the module's docstring)."""
    rootdir = active.store.path.parent
    regions = snapshot(active)
    if not regions:
        return Cleanup()
    to_read = parent_plan.children_to_read(regions, limit)
    named = await asyncio.to_thread(read_references, rootdir, to_read)
    # The files were read off the loop: decide on the memory as it is now. What a child names only shrinks
    # (a fold removes its file; a new REFERENCES is written before its child exists in meta), so the
    # answers read stay true.
    regions = snapshot(active)
    decision = parent_plan.decide(regions, named, limit)
    result = Cleanup(kept=list(decision.kept))
    if not decision.removals:
        return result
    removals = list(decision.removals)
    try:
        await asyncio.to_thread(_remove_stores, rootdir, removals)
    except OSError as exc:
        result.error = f"could not remove a parent's store directory: {exc}"
        log.error("split_parents_not_removed", error=result.error, parents=len(removals))
        return result
    removals = await _commit(active, removals, decision.new_parents)
    result.removed = removals
    if not removals:
        return result
    log.info(
        "split_parents_removed",
        parents=len(removals),
        first=removals[0].parent,
        kinds=sorted({r.kind for r in removals}),
        kept=len(result.kept),
    )
    return result


async def _commit(
    active: ActiveMaster, removals: list[Removal], new_parents: dict[int, tuple[int, ...]]
) -> list[Removal]:
    """Drop the parents from memory and commit their rows' deletion; return the removals made (a parent
    taken meanwhile by a procedure, or deleted with its table, is left to that)."""
    am = active.am
    done: list[Removal] = []
    gone = []
    for removal in removals:
        node = am.regions.get(removal.parent)
        if node is not None and node.state in parent_plan.PARENT_STATES and not node.proc_id:
            done.append(removal)
            gone.append(node)
    batch = WriteBatch()
    for node in gone:
        info = node.info
        batch.delete("regions", keys.region_key(info.table, info.start_key, info.region_id))
        batch.delete("region_state", keys.u64(info.region_id))
    removed = {r.parent for r in done}
    for child_id in new_parents:
        child = am.regions.get(child_id)
        if child is None:
            continue
        info = replace(child.info, parents=tuple(p for p in child.info.parents if p not in removed))
        if info != child.info:
            key = keys.region_key(info.table, info.start_key, info.region_id)
            batch.put("regions", key, encode_region_info(info))
            child.info = info
    # Memory first, then the commit, with no await between the checks and the change (as a table
    # procedure's remove step does): a failed write makes this master step down.
    am.remove(gone)
    await active.apply(Effects(), batch)
    return done
