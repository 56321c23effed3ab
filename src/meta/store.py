"""Meta's LMDB environment: opening (and refusing what is not ours), snapshots, and group-applied batches.

Only meta.writer calls `apply`; everybody else reads through `snapshot()`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from meta import keys
from meta.batch import DATABASES, Op, WriteBatch
from meta.errors import (
    MetaCorruptError,
    MetaForeignError,
    MetaNotInitialised,
    MetaOpenError,
    MetaWriteError,
)
from regent.durable import missing_parents, sync_new_entries

SCHEMA = b"regent-meta/1"
DEFAULT_MAP_SIZE = 1 << 30  # address space only: the file grows with the data, and the map doubles when full
MAX_READERS = 512


class MetaStore:
    """One LMDB environment with the named databases of DESIGN.md §3, opened by one process."""

    def __init__(self, path: Path, env: Any, dbs: dict[str, Any]) -> None:
        self.path = path
        self._env = env
        self._dbs = dbs
        self._resize = _ResizeLock()
        with self.snapshot() as snap:
            self.cluster_id = (snap.get("info", b"cluster_id") or b"").decode()

    # ---- opening ----

    @classmethod
    def open(cls, path: Path, *, map_size: int = DEFAULT_MAP_SIZE, create: bool = True) -> MetaStore:
        """Open meta at `path`, creating it if the directory is new or empty (unless `create` is False:
        a backup master reads meta but never makes it, and gets MetaNotInitialised until it exists).

        Raises MetaOpenError (permission, not a directory), MetaCorruptError (not an LMDB file) or
        MetaForeignError (an LMDB environment that is not Regent's meta) without writing anything.
        """
        path = Path(path)
        created = missing_parents(path)
        _check_directory(path)
        new = not (path / "data.mdb").exists()
        if not create and new:
            raise MetaNotInitialised(f"meta at {path} does not exist yet")
        try:
            env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(DATABASES) + 1,
                max_readers=MAX_READERS,
                sync=True,
                metasync=True,
                readahead=False,
                meminit=False,
            )
        except lmdb.InvalidError as exc:
            raise MetaCorruptError(f"{path}/data.mdb is not a readable LMDB file ({exc})") from None
        except lmdb.VersionMismatchError as exc:
            raise MetaForeignError(f"{path} was written by an incompatible LMDB version ({exc})") from None
        except lmdb.Error as exc:
            raise MetaOpenError(f"cannot open meta at {path}: {exc}") from None
        try:
            dbs = _open_databases(env, path, create)
            if new:  # meta's file and directories must survive a power cut, not only its commits
                sync_new_entries(path, created)
        except OSError as exc:
            env.close()
            raise MetaOpenError(f"cannot make meta at {path} durable: {exc.strerror}") from None
        except lmdb.Error as exc:
            env.close()
            raise MetaCorruptError(f"meta at {path} cannot be read: {exc}") from None
        except BaseException:
            env.close()
            raise
        return cls(path, env, dbs)

    def close(self) -> None:
        self._env.close()

    # ---- reading ----

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent read view. Never blocks the writer; keep it short, never hold it across an await."""
        while True:
            with self._resize.shared():
                try:
                    txn = self._env.begin(buffers=False)
                except lmdb.MapResizedError:
                    pass  # another process (the active master) grew the map: adopt its size below
                else:
                    with txn:
                        yield Snapshot(txn, self._dbs)
                    return
            self._adopt_map_size()

    @property
    def epoch(self) -> int:
        with self.snapshot() as snap:
            raw = snap.get("info", b"master_epoch")
        return keys.from_u64(raw) if raw else 0

    def last_txnid(self) -> int:
        """The id of the last committed write transaction, by any process: it moves when meta changes."""
        return int(self._env.info()["last_txnid"])

    def disk_bytes(self) -> int:
        return int((self.path / "data.mdb").stat().st_size)

    # ---- writing (the single writer only) ----

    def apply(self, batches: Sequence[WriteBatch], *, epoch: int | None = None) -> list[BaseException | None]:
        """Apply `batches` in one transaction and commit it durably; return one outcome per batch.

        Each batch runs in a nested transaction, so one that fails (None for success) leaves nothing behind
        while the others commit. A full map is grown and the whole group retried. With `epoch`, the commit
        is refused (MetaWriteError for every batch) unless meta's master epoch is still `epoch`: a master
        that was replaced cannot write. An error of the commit itself raises MetaWriteError: nothing of the
        group was applied.
        """
        while True:
            try:
                return self._apply_once(batches, epoch)
            except lmdb.MapFullError:
                self._grow()
            except lmdb.Error as exc:
                raise MetaWriteError(
                    f"meta commit failed, nothing of {len(batches)} batches applied: {exc}"
                ) from exc

    def _apply_once(self, batches: Sequence[WriteBatch], epoch: int | None) -> list[BaseException | None]:
        try:
            txn = self._env.begin(write=True)
        except lmdb.MapResizedError:
            self._adopt_map_size()
            txn = self._env.begin(write=True)
        try:
            if epoch is not None and (fenced := self._fenced(txn, epoch)) is not None:
                self._abort(txn)
                return [fenced] * len(batches)
            outcomes = [self._apply_nested(txn, batch) for batch in batches]
        except BaseException:
            self._abort(txn)
            raise
        txn.commit()
        return outcomes

    def _fenced(self, txn: Any, epoch: int) -> MetaWriteError | None:
        raw = txn.get(b"master_epoch", db=self._dbs["info"])
        current = keys.from_u64(raw) if raw else 0
        if current == epoch:
            return None
        return MetaWriteError(
            f"meta belongs to master epoch {current}, this master has epoch {epoch}: write refused"
        )

    def _apply_nested(self, parent: Any, batch: WriteBatch) -> BaseException | None:
        txn = self._env.begin(write=True, parent=parent)
        try:
            for op in batch.ops:
                _apply_op(txn, self._dbs[op.db], op)
        except lmdb.MapFullError:
            self._abort(txn)
            raise
        except Exception as exc:  # this batch only: its nested transaction leaves nothing behind
            self._abort(txn)
            return exc
        txn.commit()
        return None

    def _abort(self, txn: Any) -> None:
        """Abort a write transaction (top-level or nested) while no other thread is inside a snapshot.

        py-lmdb 3.x makes `abort()` of a write transaction wait until no thread of this process is inside
        a read call, and lets new read calls start while it waits: with two or more threads reading back
        to back, the abort (and with it the writer, and the event loop) waits for ever. py-lmdb 1.x does
        not. Holding new snapshots back for the instant of the abort, and letting the current ones end
        (snapshots are short by contract), gives it its moment. Commits do not need this.
        """
        with self._resize.exclusive(others_only=True):
            txn.abort()

    def _adopt_map_size(self) -> None:
        """Take the map size another process set (a standby reading meta that the active master grew)."""
        with self._resize.exclusive():
            self._env.set_mapsize(0)

    def _grow(self) -> None:
        with self._resize.exclusive():
            size = self._env.info()["map_size"] * 2
            self._env.set_mapsize(size)

    def bootstrap_write(self, batch: WriteBatch) -> None:
        """Apply one batch synchronously: for the master's start, before its writer runs (epoch bump)."""
        (outcome,) = self.apply([batch])
        if outcome is not None:
            raise MetaWriteError(f"meta write failed, nothing applied: {outcome}") from outcome


class Snapshot:
    """Reads of one LMDB read transaction."""

    def __init__(self, txn: Any, dbs: dict[str, Any]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, db: str, key: bytes) -> bytes | None:
        value: bytes | None = self._txn.get(key, db=self._dbs[db])
        return value

    def count(self, db: str) -> int:
        return int(self._txn.stat(self._dbs[db])["entries"])

    def scan(self, db: str, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Rows with start <= key < stop, in key order."""
        cursor = self._txn.cursor(db=self._dbs[db])
        if not cursor.set_range(start):
            return
        for key, value in cursor:
            if stop is not None and key >= stop:
                return
            yield key, value

    def floor(self, db: str, key: bytes) -> tuple[bytes, bytes] | None:
        """The row with the largest key <= `key`, if any."""
        cursor = self._txn.cursor(db=self._dbs[db])
        if cursor.set_range(key):
            if cursor.key() == key:
                return cursor.item()  # type: ignore[no-any-return]
            if not cursor.prev():
                return None
        elif not cursor.last():
            return None
        return cursor.item()  # type: ignore[no-any-return]


def _apply_op(txn: Any, db: Any, op: Op) -> None:
    if op.kind == "put_many":
        txn.cursor(db=db).putmulti(op.items)
    elif op.kind == "put":
        txn.put(op.key, op.value, db=db)
    elif op.kind == "delete":
        txn.delete(op.key, db=db)
    else:
        assert op.fn is not None
        new = op.fn(txn.get(op.key, db=db))
        if new is None:
            txn.delete(op.key, db=db)
        else:
            txn.put(op.key, new, db=db)


def _check_directory(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise MetaOpenError(f"meta path {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MetaOpenError(f"cannot create meta directory {path}: {exc.strerror}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise MetaOpenError(f"meta directory {path} is not readable and writable by this user")
    entries = {p.name for p in path.iterdir()}
    stray = entries - {"data.mdb", "lock.mdb"}
    if "data.mdb" not in entries and stray:
        shown = ", ".join(sorted(stray)[:5])
        raise MetaForeignError(f"{path} is not a Regent meta directory: it holds {shown} and no data.mdb")
    for name in ("data.mdb", "lock.mdb"):
        file = path / name
        if file.exists() and not os.access(file, os.R_OK | os.W_OK):
            raise MetaOpenError(f"{file} is not readable and writable by this user")


def _open_databases(env: Any, path: Path, create: bool) -> dict[str, Any]:
    """Open meta's named databases, creating them (and the info rows) only in an empty environment."""
    with env.begin() as txn:
        names = [key for key, _ in txn.cursor()]
    if not names:
        if not create:
            raise MetaNotInitialised(f"meta at {path} is being created: it has no databases yet")
        return _create(env)
    missing = [db for db in DATABASES if db.encode() not in names]
    if missing:
        found = ", ".join(repr(n.decode(errors="replace")) for n in names[:5])
        raise MetaForeignError(f"{path} is an LMDB environment but not Regent's meta (it holds {found})")
    with env.begin() as txn:
        info = _open_db(env, txn, "info", path)
        schema = txn.get(b"schema", db=info)
    if schema != SCHEMA:
        raise MetaForeignError(f"{path} holds meta schema {schema!r}, this Regent reads {SCHEMA!r}")
    # Handles opened in a read transaction die with it: open them for good in a write transaction that
    # changes nothing (LMDB writes no page for it).
    with env.begin(write=True) as txn:
        return {db: _open_db(env, txn, db, path) for db in DATABASES}


def _open_db(env: Any, txn: Any, name: str, path: Path) -> Any:
    """Open the existing database `name`. A row of the main database that bears the name but is not a
    database (or one with other flags) makes LMDB answer MDB_INCOMPATIBLE: that is not Regent's meta."""
    try:
        return env.open_db(name.encode(), txn=txn, create=False)
    except lmdb.IncompatibleError:
        raise MetaForeignError(
            f"{path} is an LMDB environment but not Regent's meta: expected {name!r} to be a database, "
            "found a plain row of that name (or a database with other flags) in its main database"
        ) from None


def _create(env: Any) -> dict[str, Any]:
    """Create meta's databases and info rows in an environment that was empty when last looked at.

    Checked again inside the write transaction (LMDB serialises writers across processes): two masters
    starting together on a new ROOTDIR may both get here, and only the first may write a cluster id and
    epoch 0; the second finds them and leaves them be.
    """
    with env.begin(write=True) as txn:
        dbs = {db: env.open_db(db.encode(), txn=txn, create=True) for db in DATABASES}
        if txn.get(b"schema", db=dbs["info"]) is None:
            txn.put(b"schema", SCHEMA, db=dbs["info"])
            txn.put(b"cluster_id", str(uuid.uuid4()).encode(), db=dbs["info"])
            txn.put(b"master_epoch", keys.u64(0), db=dbs["info"])
    return dbs


class _ResizeLock:
    """Snapshots share it; growing the map (LMDB refuses to resize under open transactions) and aborting a
    write transaction (see MetaStore._abort) take it alone. A waiting exclusive taker holds new snapshots
    back, so a stream of readers cannot starve it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._resizing = False
        self._mine = threading.local()  # .depth: snapshots this thread holds

    def _depth(self) -> int:
        depth: int = getattr(self._mine, "depth", 0)
        return depth

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = self._depth()
        with self._cond:
            while self._resizing and not depth:  # a thread inside a snapshot may nest one: no deadlock
                self._cond.wait()
            self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth -= 1
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self, *, others_only: bool = False) -> Iterator[None]:
        """With `others_only`, wait only for the snapshots of other threads: this thread's own are idle
        while it holds the lock (an abort does not wait for idle read transactions; a resize does)."""
        mine = self._depth() if others_only else 0
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._resizing = True
            while self._readers > mine:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()
