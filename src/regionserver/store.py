"""A region's store as today's single-cell Put/Get RPCs use it: raw keys and values, beside the cells.

The store itself (its environment under ROOTDIR/data/<table>/<region id>/, the owner claim, the fence
checked inside every write) is regionserver.data's: this module keeps the names the RegionServer and the
tests import from here, and the raw `put`/`get` of the RPCs that came before the data path (their
database, "data", lives in the same environment as the cells). The data RPCs will use the cell
operations of `RegionStore.cells` (a regionserver.data.RegionStore) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regionserver.data.environments import MAP_SIZE, Claim, region_dir, regions_with_store
from regionserver.data.errors import Fenced, StoreError
from regionserver.data.region_store import RegionStore as CellStore

__all__ = ["MAP_SIZE", "Claim", "Fenced", "RegionStore", "StoreError", "region_dir", "regions_with_store"]


class RegionStore:
    """Raw single-key cells of today's Put/Get, over a region's cell store."""

    def __init__(self, cells: CellStore) -> None:
        self.cells = cells
        self.path = cells.path
        self.claim = cells.claim

    @classmethod
    def open(cls, path: Path, claim: Claim, *, create: bool, **options: Any) -> RegionStore:
        """Open (or create) the store and claim it; raise Fenced if a newer open owns it already."""
        return cls(CellStore.open(path, claim, create=create, **options))

    @property
    def _env(self) -> Any:
        """The open LMDB environment (for tests that inspect its flags)."""
        return self.cells.environment().env

    def put(self, key: bytes, value: bytes) -> None:
        """Write one raw cell, if this server's claim is still the store's owner; else raise Fenced."""
        raw_db = self.cells.environment().raw_db
        self.cells.write_in(lambda txn, _: txn.put(key, value, db=raw_db))

    def get(self, key: bytes) -> bytes | None:
        env = self.cells.environment()
        with env.env.begin() as txn:
            value: bytes | None = txn.get(key, db=env.raw_db)
            return value

    def owner(self) -> Claim | None:
        return self.cells.owner()

    def close(self) -> None:
        self.cells.close()
