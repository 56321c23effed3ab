"""The write-ahead log of one RegionServer (HBase's WAL): one log for all the server's regions, so that a
group of writes across regions is durable after one os.write and one fdatasync.

A log is a directory (ROOTDIR/wal/<host>,<port>,<startcode>/) of segment files `%020d.log` numbered from 1.
A segment is a sequence of records, each framed as a 4-byte big-endian body length, the body's zlib.crc32
(4 bytes, big-endian), and the body, whose first byte is its kind:

    HEADER  b"RGWAL", format version (u8), segment number (u64)          the first record of every segment
    EDIT    region (u32 length + bytes), seq (u64), ops (u32 count), each op: database (u8),
            key (u32 length + bytes), value (u32 length + bytes; length 0xFFFFFFFF: absent, a delete)
    SEAL    region (u32 length + bytes), sealer (u32 length + bytes)      appended by another process

A record cut short or failing its crc with nothing after it is a torn tail: it was never acknowledged (an
acknowledged record was written whole and fdatasynced before the append returned) and the reader stops
there. Such a tail is accepted at the end of every segment, not only the last: a sealer may be writing into,
or may have died writing into, a segment the owner has just left (see below). A bad record followed by more
data is corruption: WalCorrupt, naming the file and the offset.

One process owns a log (ServerLog, one incarnation per directory): it alone writes EDITs, with sequence
numbers strictly increasing from 1 across segments. Other processes only append SEAL records (seal()) and
read (recover()).

Fencing: the seal is in the log
-------------------------------
A new owner of region R must know every write of R that the old owner acknowledged or may still acknowledge,
although the old owner may be paused (SIGSTOP) at any instruction and there is no lock. The new owner calls
seal(): append SEAL(R) to the newest segment, fdatasync, list the directory again, and seal the newest
segment again until no newer one appeared. Then it calls recover().

The owner learns every foreign byte of its current segment. Its fd has O_APPEND: after an os.write of n
bytes the fd's position (lseek SEEK_CUR) is the end of that write, whatever was appended later; so
`end - n` is where the write began, and if that is not where the owner's previous write ended, other
processes appended the bytes in between. The owner reads them (they were written whole before its own
write took its place: a local Linux filesystem serialises O_APPEND writes of a file under the inode lock)
and adds the regions of their SEALs to its sealed set, before it answers. An edit whose region is in the
sealed set when the append answers is refused (None); an edit of a region already sealed before it is not
written at all. To roll, the owner creates segment N+1 (header written, fsynced, then linked into place
and the directory fsynced), THEN reads what others appended to segment N beyond its last write, THEN
writes into N+1.

Lemma (refusal is in the file). An edit e of R written into segment K is refused iff a SEAL(R) precedes e
in K. Every byte of K before e is the header, an own record, or a foreign byte the owner read before
answering for e (the gaps of its writes); so a SEAL(R) before e is known and e refused. Conversely R
entered the sealed set either before e was written (then e is not written) or from the gap just before e.

recover(R) returns R's edits, in log order, that no SEAL(R) precedes in their segment: by the lemma, exactly
the written edits that the owner acknowledged or will acknowledge once its append returns (a paused owner
between its fdatasync and its answer). An edit whose region was sealed in an older segment K' < K is not
excluded, and must not be: the owner may not have seen that SEAL (below), and then it acknowledges.

Completeness (nothing of R is acknowledged after seal() returned, so a recover() after it misses nothing).
seal()'s last round wrote SEAL(R) whole into segment M and then listed no segment newer than M. An owner
write into M after that lies after the SEAL: refused (lemma). Segment M+1 was created after that listing,
so after the SEAL was complete; the owner reads M's tail after creating M+1 and sees the SEAL: R is sealed
before anything is written into M+1 or later. This is where the two protocols meet: for a SEAL written into
segment N while the owner rolls to N+1, either the SEAL was complete when the owner read N's tail (the
owner sees it), or it was not, so it completed after N+1 existed, and the sealer's next listing sees N+1
and seals that too. A SEAL the owner reads half-written is the second case: the reader's torn tail.

Torn tails and seals
--------------------
A torn record is left by a write cut short: its writer died in it (a machine's crash; a SIGKILL between two
pages of a large write) or got a short write (ENOSPC). A seal appended after one would be unreadable (a
torn record followed by more data reads as corruption), so the two writers clean up after themselves:

- The owner, when its append fails with bytes written (a short write, or a torn foreign record just
  before its own write), cuts the segment back to the last whole record before them and is broken from
  then on (it acknowledges nothing more). The seals it cuts away were of no use: a broken owner writes no
  edit after them.
- A sealer takes an flock of the segment (sealers of a segment one at a time; the owner does not take it),
  appends its SEAL and then reads what lies between the whole records it knows and its SEAL. An owner's
  write that was in flight when the sealer looked is complete by then (the inode lock), so a torn record
  there is permanent. The owner holds an flock of its log's `owner.lock` for its life; if the sealer can
  take that lock, the owner is gone: it cuts the torn record (never acknowledged: its fdatasync never
  returned) and its own SEAL off and appends the SEAL again. If not, the owner is alive and broken, or about
  to break at its next append and cut the tail itself: the seal fails with WalError and is tried again by
  the next open of the region.

Assumptions: the directory is on a local filesystem (O_APPEND writes serialised and visible through the
page cache to readers on the same machine; not NFS). A corrupted length field at a segment's end looks like
a torn tail (the format does not checksum the lengths).
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import structlog

from regent.durable import missing_parents, sync_new_entries
from regionserver.data.wal_records import (
    Edit,
    Header,
    LoggedEdit,
    Op,
    Record,
    Seal,
    Segment,
    WalCorrupt,
    WalError,
    decode_body,
    encode,
    parse,
)

log = structlog.get_logger("regionserver.data.wal")

#: A segment is rolled once it exceeds this many bytes (by at most one append's records).
SEGMENT_BYTES = 64 * 1024 * 1024
_SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")
#: The file whose flock the owner of a log holds for its life (the module's doc, "Torn tails and seals").
OWNER_LOCK = "owner.lock"


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:020d}.log"


def segment_numbers(directory: Path) -> list[int]:
    """The segments of the log in `directory`, oldest first ([] if there is no such directory)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(_SEGMENT_NAME.match, names) if m)


def read_segment(directory: Path, number: int) -> list[tuple[int, Record]]:
    """The (offset, record) pairs of segment `number` after its header (checked), up to a torn tail."""
    path = segment_path(directory, number)
    records, _ = parse(path.read_bytes(), path)
    if not records or records[0][1] != Header(number):
        found = records[0][1] if records else "nothing"
        raise WalCorrupt(path, 0, f"expected the header of segment {number}, found {found}")
    return records[1:]


def _create_segment(directory: Path, number: int, after: bytes = b"") -> None:
    """Segment `number` holding its header (and `after`), made whole before it appears: written to a
    temporary file, fsynced, linked into place, then the directory fsynced. FileExistsError if it exists."""
    temporary = directory / f".{number:020d}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        data = encode(Header(number)) + after
        if os.write(fd, data) != len(data):
            raise WalError(f"{temporary}: short write of a new segment")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, segment_path(directory, number))
    finally:
        os.unlink(temporary)
        sync_new_entries(directory, [])


_HEADER_BYTES = len(encode(Header(0)))  # a segment's header, whatever its number


# ---- other processes: seal and recover ----


def _write_seal(fd: int, path: Path, record: bytes) -> int:
    """Append `record` (a SEAL) through `fd` (O_APPEND); the offset where it begins."""
    written = os.write(fd, record)
    if written != len(record):
        raise WalError(f"{path}: short write of a seal ({written} of {len(record)} bytes)")
    return os.lseek(fd, 0, os.SEEK_CUR) - written


def _append_seal(directory: Path, number: int, record: bytes, known_whole: int) -> None:
    """Append a SEAL to segment `number`, whose records are whole up to `known_whole` (0: not known), and
    make sure no torn record precedes it (the module's doc, "Torn tails and seals")."""
    path = segment_path(directory, number)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        _lock_segment(fd, path)
        at = _write_seal(fd, path, record)
        with path.open("rb") as f:
            f.seek(known_whole)
            _, whole = parse(f.read(at - known_whole), path, known_whole)
        if whole != at:
            _cut_after_dead_owner(directory, path, fd, whole)
            if _write_seal(fd, path, record) != whole:
                raise WalError(f"{path}: written to after its owner stopped")
        os.fdatasync(fd)
    finally:
        os.close(fd)


#: How long a sealer waits for another sealer of the same segment (a paused one holds its lock).
SEAL_LOCK_WAIT_S = 10.0
#: How long a new owner waits for its log's lock (a cleaner, finding the log has segments, lets go at once).
OWNER_LOCK_WAIT_S = 2.0


def _flock_within(fd: int, seconds: float) -> None:
    """Take an exclusive flock of `fd`, waiting `seconds` at most (BlockingIOError after that)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _lock_segment(fd: int, path: Path) -> None:
    """Take the sealers' flock of the segment open as `fd`, waiting SEAL_LOCK_WAIT_S at most."""
    try:
        _flock_within(fd, SEAL_LOCK_WAIT_S)
    except BlockingIOError:
        raise WalError(f"{path}: another sealer has held it for {SEAL_LOCK_WAIT_S:.0f} s") from None


def _cut_after_dead_owner(directory: Path, path: Path, fd: int, whole: int) -> None:
    """Cut the segment open as `fd` back to `whole`, where a torn record begins, if its owner is gone."""
    with owner_stopped(directory) as stopped:
        if not stopped:
            raise WalError(
                f"{path}: a torn record at offset {whole} and the log's owner is still running (or the log "
                "is being cleaned): the segment cannot be sealed until the owner stops or cuts it"
            )
        os.ftruncate(fd, whole)
        log.warning("wal_torn_record_cut", segment=str(path), offset=whole)


@contextmanager
def owner_stopped(directory: Path) -> Iterator[bool]:
    """Whether the owner of the log in `directory` has stopped: its lock (OWNER_LOCK) is free. If so, the
    lock is held until the block ends, so that no other cleaner or cut works on the log meanwhile."""
    fd = os.open(directory / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)


def seal(directory: Path, region: bytes, sealer: bytes, reader: LogReader | None = None) -> None:
    """Seal `region` in the log in `directory`: once this returns, its owner acknowledges no more edit of
    the region (see the module's doc). A directory without a segment gets segment 1 holding the seal, so
    that an owner that has not created its log yet cannot (ServerLog.create refuses a non-empty log).
    `reader`, a reader of the same log, tells how far the segments are known whole (read less again)."""
    record = encode(Seal(region, sealer))
    sealed = 0
    while True:
        numbers = segment_numbers(directory)
        if not numbers:
            created = missing_parents(directory)
            directory.mkdir(parents=True, exist_ok=True)
            sync_new_entries(directory, created)
            try:
                _create_segment(directory, 1, record)
            except FileExistsError:
                continue  # the owner created it meanwhile: seal it as it is
            sealed = 1
        elif numbers[-1] > sealed:
            sealed = numbers[-1]
            _append_seal(directory, sealed, record, 0 if reader is None else reader.whole_up_to(sealed))
            continue  # list again: the owner may have rolled meanwhile
        log.info("wal_region_sealed", directory=str(directory), region=region, segment=sealed)
        return


def recover(directory: Path, region: bytes, after_seq: int = 0) -> list[LoggedEdit]:
    """The edits of `region` with seq > after_seq that its owner acknowledged or may still acknowledge,
    in log order: every edit of the region but those after a SEAL of it in the same segment (module's doc).
    Read-only; called after seal()."""
    return LogReader(directory).edits(region, after_seq)


class LogReader:
    """Another process's view of a log, read incrementally: each `edits` call first reads what was
    appended since the last one (seals included), so a reader kept across the regions of one dead server
    reads its log once however many of its regions are taken over, and each answer is as fresh as a
    `recover` would be. Thread-safe: calls are serialised."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        #: segment -> (offset read up to, its edits and seals read so far, in log order)
        self._segments: dict[int, tuple[int, list[LoggedEdit | Seal]]] = {}

    def edits(self, region: bytes, after_seq: int = 0) -> list[LoggedEdit]:
        """As `recover(directory, region, after_seq)`, from what was read before and what was added since."""
        with self._lock:
            self._catch_up()
            edits: list[LoggedEdit] = []
            last_seq = 0
            for number in sorted(self._segments):
                sealed_here = False
                for record in self._segments[number][1]:
                    if isinstance(record, LoggedEdit):
                        if record.seq <= last_seq:
                            path = segment_path(self.directory, number)
                            raise WalCorrupt(path, 0, f"seq {record.seq} after seq {last_seq}")
                        last_seq = record.seq
                        if record.region == region and not sealed_here and record.seq > after_seq:
                            edits.append(record)
                    elif record.region == region:
                        sealed_here = True
            return edits

    def claims(self) -> set[bytes]:
        """The regions (claims: regionserver.data.takeover.region_key) that the log holds edits of."""
        with self._lock:
            self._catch_up()
            return {
                r.region
                for _, records in self._segments.values()
                for r in records
                if isinstance(r, LoggedEdit)
            }

    def whole_up_to(self, number: int) -> int:
        """How far segment `number` was read as whole records (0: not read)."""
        with self._lock:
            return self._segments.get(number, (0, []))[0]

    def _catch_up(self) -> None:
        numbers = segment_numbers(self.directory)
        for gone in set(self._segments) - set(numbers):  # deleted by the owner: its edits were flushed
            del self._segments[gone]
        for number in numbers:
            offset, records = self._segments.get(number, (0, []))
            path = segment_path(self.directory, number)
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                continue
            parsed, whole = parse(data, path, offset)
            if offset == 0:
                if not parsed or parsed[0][1] != Header(number):
                    if not data:
                        continue  # not written yet
                    found = parsed[0][1] if parsed else "nothing whole"
                    raise WalCorrupt(path, 0, f"expected the header of segment {number}, found {found}")
                parsed = parsed[1:]
            records.extend(r for _, r in parsed if not isinstance(r, Header))
            self._segments[number] = (whole, records)


# ---- the owner ----


class ServerLog:
    """The log of one RegionServer incarnation, written by that server alone.

    Synchronous and not thread-safe: one caller at a time (the commit thread that owns it); it never
    touches asyncio. A failed write leaves it broken: every later append raises WalError.
    """

    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        """Create the log in `directory` (made durably if missing) with its first segment; WalError if the
        directory already holds a segment (one incarnation, one log)."""
        self.directory = directory
        self.segment_bytes = segment_bytes
        created = missing_parents(directory)
        directory.mkdir(parents=True, exist_ok=True)
        sync_new_entries(directory, created)
        self._lock_fd: int | None = os.open(directory / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock_within(self._lock_fd, OWNER_LOCK_WAIT_S)  # a cleaner looks at a log with it for an instant
            if segment_numbers(directory):
                raise WalError(f"{directory} already holds a log: a new incarnation needs a new directory")
            _create_segment(directory, 1)
        except BlockingIOError:
            self._release()
            raise WalError(f"{directory}: another process owns this log") from None
        except FileExistsError:
            self._release()
            raise WalError(f"{directory}: segment 1 appeared meanwhile (sealed before creation?)") from None
        except BaseException:
            self._release()
            raise
        self._number = 1
        self._fd: int | None = os.open(segment_path(directory, 1), os.O_WRONLY | os.O_APPEND)
        self._end = _HEADER_BYTES  # where the owner's last write ended
        self._next_seq = 1
        self._sealed: set[bytes] = set()
        self._segments: dict[int, dict[bytes, int]] = {1: {}}
        self._broken = False

    @classmethod
    def create(cls, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> ServerLog:
        return cls(directory, segment_bytes=segment_bytes)

    @property
    def current_segment(self) -> int:
        return self._number

    @property
    def last_seq(self) -> int:
        """The highest seq given to an edit so far (written or not, if an append failed)."""
        return self._next_seq - 1

    def sealed(self, region: bytes) -> bool:
        """Whether the log knows `region` to be sealed by another process (then its edits are refused)."""
        return region in self._sealed

    def append(self, edits: Sequence[Edit]) -> list[int | None]:
        """Log `edits` in one write and one fdatasync; each one's seq, or None where its region is sealed
        (nothing of it acknowledged: the caller must treat it as not written)."""
        fd = self._writable()
        self._broken = True  # until this append is known whole and durable, or wrote nothing
        if self._end > max(self.segment_bytes, _HEADER_BYTES):  # a segment holds one append at least
            fd = self._roll()
        seqs: list[int | None] = [None] * len(edits)
        records: list[bytes] = []
        first_seq = self._next_seq
        try:
            for i, edit in enumerate(edits):
                if edit.region not in self._sealed:
                    seqs[i] = self._next_seq
                    records.append(encode(LoggedEdit(edit.region, self._next_seq, edit.ops)))
                    self._next_seq += 1
        except struct.error as exc:  # a database over 255, a key over 4 GiB: nothing written
            self._next_seq, self._broken = first_seq, False
            raise ValueError(f"an edit the log cannot hold, nothing written: {exc}") from None
        if not records:
            self._broken = False
            return seqs
        data = b"".join(records)
        written = os.write(fd, data)
        end = os.lseek(fd, 0, os.SEEK_CUR)
        if written != len(data):
            self._cut(fd, end - written)
            raise WalError(f"{self._path()}: short write ({written} of {len(data)} bytes): the log is broken")
        if end - written != self._end:
            try:
                self._learn(self._foreign(self._end, end - written, tail_ok=False))
            except WalCorrupt as exc:
                self._cut(fd, exc.offset)
                raise
        self._end = end
        os.fdatasync(fd)
        self._broken = False
        regions = self._segments[self._number]
        for i, edit in enumerate(edits):
            seq = seqs[i]
            if seq is not None:
                if edit.region in self._sealed:
                    seqs[i] = None
                else:
                    regions[edit.region] = seq
        return seqs

    def segments(self) -> list[Segment]:
        """The log's segments, oldest first, each with its regions' highest acknowledged seq."""
        return [Segment(n, dict(regions)) for n, regions in sorted(self._segments.items())]

    def delete_segments_through(self, number: int) -> None:
        """Remove the segments up to `number` (the caller decided their edits are elsewhere durable);
        never the current one."""
        if number >= self._number:
            raise ValueError(f"segment {number} is not older than the current segment {self._number}")
        for n in [n for n in self._segments if n <= number]:
            segment_path(self.directory, n).unlink(missing_ok=True)
            del self._segments[n]
        sync_new_entries(self.directory, [])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._release()

    def _release(self) -> None:
        """Give up the owner's lock (a sealer may then cut a torn record of this log)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ServerLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- inside ----

    def _path(self) -> Path:
        return segment_path(self.directory, self._number)

    def _writable(self) -> int:
        if self._fd is None:
            raise WalError(f"the log in {self.directory} is closed")
        if self._broken:
            raise WalError(f"a write of the log in {self.directory} failed: the log cannot be appended to")
        return self._fd

    def _roll(self) -> int:
        """Segment N+1 created, THEN N's foreign tail read, THEN N+1 is current (the module's doc)."""
        old, number = self._fd, self._number + 1
        assert old is not None
        _create_segment(self.directory, number)
        self._learn(self._foreign(self._end, None, tail_ok=True))
        fd = os.open(segment_path(self.directory, number), os.O_WRONLY | os.O_APPEND)
        os.close(old)
        self._fd, self._number, self._end = fd, number, _HEADER_BYTES
        self._segments[number] = {}
        log.info("wal_segment_rolled", directory=str(self.directory), segment=number, next_seq=self._next_seq)
        return fd

    def _cut(self, fd: int, offset: int) -> None:
        """A failed append left bytes from `offset` on that are not whole records: cut them off (with
        whatever followed them), so that a sealer can append after the whole ones. The log stays broken."""
        try:
            os.ftruncate(fd, offset)
            os.fdatasync(fd)
        except OSError as exc:
            log.error("wal_cut_failed", segment=str(self._path()), offset=offset, error=str(exc))
        else:
            log.warning("wal_failed_append_cut", segment=str(self._path()), offset=offset)

    def _foreign(self, start: int, stop: int | None, *, tail_ok: bool) -> list[tuple[int, Record]]:
        """What others appended to the current segment from `start` to `stop` (to its end if None). Only
        the gap before the owner's own write is whole: a torn record there is corruption."""
        path = self._path()
        with path.open("rb") as f:
            f.seek(start)
            data = f.read() if stop is None else f.read(stop - start)
        records, whole = parse(data, path, start)
        if not tail_ok and whole != start + len(data):
            raise WalCorrupt(path, whole, "a torn record just before this log's own write")
        return records

    def _learn(self, records: list[tuple[int, Record]]) -> None:
        for offset, record in records:
            if not isinstance(record, Seal):
                raise WalCorrupt(self._path(), offset, f"another process appended {record}, not a seal")
            if record.region not in self._sealed:
                self._sealed.add(record.region)
                log.info(
                    "wal_seal_seen", directory=str(self.directory), region=record.region, by=record.sealer
                )


__all__ = [
    "OWNER_LOCK",
    "SEGMENT_BYTES",
    "Edit",
    "Header",
    "LogReader",
    "LoggedEdit",
    "Op",
    "Record",
    "Seal",
    "Segment",
    "ServerLog",
    "WalCorrupt",
    "WalError",
    "decode_body",
    "encode",
    "owner_stopped",
    "parse",
    "read_segment",
    "recover",
    "seal",
    "segment_numbers",
    "segment_path",
]
