"""A child region's parents at its open: its REFERENCES file read, pruned and the parents sealed.

A split daughter or merged child is opened with the REFERENCES file the master's procedure wrote in its
store directory (meta.references, docs/split_merge_contract.md). At the open:

- a malformed file fails the open (the caller reports FAILED_OPEN with the reason), nothing changed;
- an entry whose parent store does not exist (a parent never written) names nothing to read: the file is
  rewritten without it, or removed when no entry is left, since no file means no references (the catalog
  janitor relies on exactly that);
- each remaining parent store is *sealed*: its owner record is raised to the child's open, if it is older,
  so that an old owner of the parent that wakes up from a pause can no longer write it. The child never
  writes a parent's store otherwise.
"""

from __future__ import annotations

from meta import references
from meta.references import Reference, ReferencesError
from regionserver.data.environments import exists
from regionserver.data.errors import StoreError
from regionserver.data.layered import ParentRange
from regionserver.data.region_store import RegionStore


def read(store: RegionStore) -> list[Reference] | None:
    """The store's references (None: no REFERENCES file); StoreError when the file is malformed."""
    try:
        return references.read(store.path)
    except ReferencesError as exc:
        raise StoreError(f"cannot open region store {store.path}: {exc}") from None


def attach(store: RegionStore, refs: list[Reference]) -> tuple[ParentRange, ...]:
    """Prune `refs` of parents without a store (rewriting or removing REFERENCES), seal the others with
    the store's claim, and make the store read them. The parents it reads."""
    table_dir = store.path.parent
    parents = [ParentRange(r, table_dir / str(r.region_id)) for r in refs]
    present = [p for p in parents if exists(p.path)]
    if len(present) != len(parents):
        try:
            if present:
                references.write(store.path, [p.reference for p in present])
            else:
                references.remove(store.path)
        except OSError as exc:
            raise StoreError(f"cannot rewrite the REFERENCES of {store.path}: {exc}") from None
    for parent in present:  # pinned: safe in a thread (the claims of an open order run in one)
        with store.environments.pinned(parent.path) as env:
            env.seal(store.claim, store.takeover)  # what the parent's owner logged is replayed first
    store.parents = tuple(present)
    return store.parents
