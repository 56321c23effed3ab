"""A region's own store: an LMDB environment under ROOTDIR/data/<table>/<region id>/, created on its first
write, holding the owner record and the region's cells.

Ownership is the storage-level fence of DESIGN.md §5: opening a region whose store exists claims it with
the open's sequence number; creating the store claims it; every write checks, inside its write transaction,
that the claim is still the recorded one. LMDB serialises writers across processes, so an old owner that
was paused (SIGSTOP, GC, swap) cannot write once a newer open claimed the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb

from meta import ServerName
from meta.codec import server_from_proto, server_to_proto
from regent.durable import missing_parents, sync_new_entries
from regent.proto import meta_pb2

MAP_SIZE = 1 << 30  # address space; the file grows with the data
_OWNER = b"owner"


class StoreError(Exception):
    """The region store cannot be opened or used."""


class Fenced(StoreError):
    """A newer open of the region owns the store: this server must stop serving the region."""


@dataclass(frozen=True, slots=True)
class Claim:
    server: ServerName
    open_seq_num: int

    def encode(self) -> bytes:
        return meta_pb2.RegionOwner(
            server=server_to_proto(self.server), open_seq_num=self.open_seq_num
        ).SerializeToString()

    @classmethod
    def decode(cls, raw: bytes) -> Claim:
        msg = meta_pb2.RegionOwner.FromString(raw)
        return cls(server_from_proto(msg.server), msg.open_seq_num)


def region_dir(rootdir: Path, table: str, region_id: int) -> Path:
    return rootdir / "data" / table / str(region_id)


def regions_with_store(rootdir: Path, table: str) -> set[int]:
    """Region ids of `table` that have a store: one directory listing for a whole batch of opens."""
    try:
        return {int(name) for name in os.listdir(rootdir / "data" / table) if name.isdigit()}
    except FileNotFoundError:
        return set()


class RegionStore:
    def __init__(self, path: Path, env: Any, claim: Claim) -> None:
        self.path = path
        self._env = env
        self._owner = env.open_db(b"owner")
        self._data = env.open_db(b"data")
        self.claim = claim

    @classmethod
    def open(cls, path: Path, claim: Claim, *, create: bool) -> RegionStore:
        """Open (or create) the store and claim it; raise Fenced if a newer open owns it already."""
        if not create and not (path / "data.mdb").exists():
            raise StoreError(f"region store {path} does not exist")
        try:
            created = missing_parents(path)
            new = not (path / "data.mdb").exists()
            path.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(str(path), map_size=MAP_SIZE, max_dbs=2, sync=True, readahead=False)
            if new:  # the store's file and directories must survive a power cut, not only its commits
                sync_new_entries(path, created)
        except (OSError, lmdb.Error) as exc:
            raise StoreError(f"cannot open region store {path}: {exc}") from None
        store = cls(path, env, claim)
        try:
            store._claim()
        except BaseException:
            env.close()
            raise
        return store

    def _claim(self) -> None:
        with self._env.begin(write=True) as txn:
            raw = txn.get(_OWNER, db=self._owner)
            if raw is not None:
                owner = Claim.decode(raw)
                if owner.open_seq_num > self.claim.open_seq_num:
                    raise Fenced(
                        f"region store {self.path} is owned by {owner.server} with open sequence number "
                        f"{owner.open_seq_num}, newer than this open's {self.claim.open_seq_num}"
                    )
            txn.put(_OWNER, self.claim.encode(), db=self._owner)

    def put(self, key: bytes, value: bytes) -> None:
        """Write one cell, if this server's claim is still the store's owner; else raise Fenced."""
        with self._env.begin(write=True) as txn:
            raw = txn.get(_OWNER, db=self._owner)
            owner = Claim.decode(raw) if raw is not None else None
            if owner != self.claim:
                raise Fenced(
                    f"write refused: region store {self.path} is owned by "
                    f"{owner.server if owner else 'nobody'} (open sequence number "
                    f"{owner.open_seq_num if owner else 0}), not by {self.claim.server} "
                    f"(open sequence number {self.claim.open_seq_num})"
                )
            txn.put(key, value, db=self._data)

    def get(self, key: bytes) -> bytes | None:
        with self._env.begin() as txn:
            value: bytes | None = txn.get(key, db=self._data)
            return value

    def owner(self) -> Claim | None:
        with self._env.begin() as txn:
            raw = txn.get(_OWNER, db=self._owner)
        return Claim.decode(raw) if raw is not None else None

    def close(self) -> None:
        self._env.close()
