"""Taking a region store over from an owner that logged into its write-ahead log (docs/decisions.md, "A
write-ahead log shared by a server's regions").

A claim logs a region's small writes into its server's log (regionserver.data.wal) only once the store
records that it does: the key LOGGED of the store's owner database holds the highest log sequence number
of the owner's edits that are in the store already (a flush), or CLEAN once the owner closed the region
with everything flushed. No LOGGED: the owner never logged (or a claim since then replayed its log).

A new owner (an open's claim, or a child raising its parent's owner record) whose store names an owner
with LOGGED set and not CLEAN takes the region over:

1. it seals the region in the old owner's log (wal.seal): from then on that owner acknowledges no edit of
   it, whether it is dead, paused, or still running;
2. in ONE write transaction of the store, it reads the owner record and LOGGED again, replays the old
   owner's edits of the region with a higher sequence number from the log (wal.LogReader), records itself
   as the owner and removes LOGGED.

The old owner writes the store only in transactions that check the owner record, and records LOGGED in
the same transaction as the memory it flushes; LMDB serialises those with step 2. So step 2 sees exactly
the edits not in the store yet: the log's edits after LOGGED, up to the seal. If the owner record changed
between the steps (another owner took it meanwhile, or the old one started logging), the claim starts
again from step 1 for the owner it now finds.

A log's region is "<table>/<region id>@<open sequence number>": each claim logs under its own name, so a
seal of one claim never refuses the edits of a later claim of the same server, and a replay never brings
back an earlier claim's edits (those were flushed, or replayed by the claim that followed it).
"""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from meta import ServerName
from regionserver.data.errors import StoreError
from regionserver.data.wal import LogReader, WalError, seal, segment_numbers

log = structlog.get_logger("regionserver.data.takeover")

#: The key of the owner database that says what of the owner's log is in the store (see the module's doc).
LOGGED = b"logged"
#: LOGGED's value once the owner closed the region with everything flushed: nothing to replay.
CLEAN = (1 << 64) - 1
_U64 = struct.Struct(">Q")
#: A LogReader unused this long is dropped (the edits it holds are a dead server's, read once).
READER_IDLE_S = 60.0


def log_dir(rootdir: Path, server: ServerName) -> Path:
    """The write-ahead log of one server incarnation: ROOTDIR/wal/<host>,<port>,<startcode>."""
    return rootdir / "wal" / f"{server.host},{server.port},{server.startcode}"


def region_key(store_path: Path, open_seq_num: int) -> bytes:
    """The name under which the claim `open_seq_num` of the store at `store_path` logs its region."""
    return f"{store_path.parent.name}/{store_path.name}@{open_seq_num}".encode()


def encode_logged(seq: int) -> bytes:
    return _U64.pack(seq)


def decode_logged(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    if len(raw) != _U64.size:
        raise StoreError(f"a malformed {LOGGED.decode()} record of {len(raw)} bytes")
    value: int = _U64.unpack(raw)[0]
    return value


def must_replay(logged: int | None) -> bool:
    """Whether an owner whose store holds `logged` may have edits in its log that the store lacks."""
    return logged is not None and logged != CLEAN


class TakeOver:
    """Seals and replays the logs of a store's previous owners, for the claims of one server (`sealer`).
    Thread-safe: claims run in threads (regionserver.claims)."""

    def __init__(self, rootdir: Path, sealer: str) -> None:
        self.rootdir = rootdir
        self.sealer = sealer.encode()
        self._readers: dict[Path, tuple[LogReader, float]] = {}
        self._lock = threading.Lock()
        self.replayed_edits = 0  # for tests and the logs

    def seal(self, store_path: Path, owner: Any) -> None:
        """Step 1 of the module's doc for `owner` (a Claim) of the store at `store_path`."""
        directory = log_dir(self.rootdir, owner.server)
        if not segment_numbers(directory):
            return  # no log (removed once replayed everywhere): nothing to seal, nor to replay
        try:
            seal(directory, region_key(store_path, owner.open_seq_num), self.sealer, self._reader(directory))
        except (OSError, WalError) as exc:
            raise StoreError(f"cannot seal {store_path} in the log {directory}: {exc}") from None

    def replay(self, txn: Any, cells_db: Any, store_path: Path, owner: Any, logged: int) -> int:
        """Step 2's replay, inside the store's write transaction `txn`: the edits of `owner`'s log after
        `logged` written into the cells. How many edits."""
        directory = log_dir(self.rootdir, owner.server)
        if not segment_numbers(directory):
            log.warning("region_log_missing", store=str(store_path), log=str(directory), logged=logged)
            return 0
        key = region_key(store_path, owner.open_seq_num)
        try:
            edits = self._reader(directory).edits(key, logged)
        except (OSError, WalError) as exc:
            raise StoreError(f"cannot read the log {directory} for {store_path}: {exc}") from None
        for edit in edits:
            for db, cell, value in edit.ops:
                if db != 0:
                    raise StoreError(f"the log {directory} holds an edit of {key!r} in unknown database {db}")
                if value is None:
                    txn.delete(cell, db=cells_db)
                else:
                    txn.put(cell, value, db=cells_db)
        if edits:
            log.info(
                "region_log_replayed",
                store=str(store_path),
                log=str(directory),
                edits=len(edits),
                after_seq=logged,
                last_seq=edits[-1].seq,
            )
        with self._lock:
            self.replayed_edits += len(edits)
        return len(edits)

    def _reader(self, directory: Path) -> LogReader:
        now = time.monotonic()
        with self._lock:
            for path, (_, used) in list(self._readers.items()):
                if now - used > READER_IDLE_S:
                    del self._readers[path]
            reader = self._readers[directory][0] if directory in self._readers else LogReader(directory)
            self._readers[directory] = (reader, now)
            return reader
