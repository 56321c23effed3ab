"""A region's story: its recent transitions with time, state, server, procedure and cause.

Fed by the active master as it commits region_state rows (master.active.apply): one call per committed
batch, which keeps a reference to the batch's rows and costs nothing per region. The rows are decoded only
when someone asks for a region's story, by scanning what is kept (newest first). Memory is bounded by the
number of rows kept (MAX_ROWS): a million-region startup pushes older batches out, as a ring would.

The cause of a batch is set by whoever starts the work, in a context variable (`caused_by`): the startup
and takeover, an operator's call, a procedure (its kind says which cause: crash recovery, DDL, later the
balancer and split), a retry. An outcome reported by a RegionServer has no cause of its own: it carries
the cause of the step of that region's procedure that came before it.

Across a failover, what is cheap to keep is kept in meta: batches started by a named cause (an operator's
move, a crash recovery) of at most PERSIST_MAX_ROWS rows, and the outcomes of those regions' procedures,
are written with the batch itself (the same transaction, in meta's `info` database under b"story:"), the
last PERSIST_MAX_ENTRIES of them. The next active master loads them. Big batches (a startup, the recovery
of a server with thousands of regions) stay in memory only: writing them twice would slow the hot path.
"""

from __future__ import annotations

import contextvars
import struct
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog

from meta import WriteBatch, keys
from meta.codec import unpack_region_state
from meta.states import RegionState
from meta.types import TransitKind

log = structlog.get_logger("master")

MAX_ROWS = 200_000
PERSIST_MAX_ROWS = 256
PERSIST_MAX_ENTRIES = 4096
TRACKED_MAX = 10_000
PREFIX = b"story:"
PREFIX_END = b"story;"

#: The causes a step may have. "" is a reported outcome: it inherits its procedure's cause.
STARTUP, TAKEOVER, OPERATOR, MOVE, CRASH, BALANCER, SPLIT, MERGE, DDL, RETRY = (
    "startup",
    "takeover",
    "operator",
    "move",
    "crash recovery",
    "balancer",
    "split",
    "merge",
    "table ddl",
    "retry",
)

#: Causes of a split or merge besides an operator's: a RegionServer's size policy, the normalizer.
AUTO_SPLIT, NORMALIZER = "auto_split", "normalizer"

#: The cause of the batches being committed by this task (see the module doc).
_CAUSE: contextvars.ContextVar[str] = contextvars.ContextVar("regent_story_cause", default="")

#: A procedure kind (master.procedures) -> the cause of the transitions it makes.
PROCEDURE_CAUSES = {
    "server_crash": CRASH,
    "split_region": SPLIT,
    "merge_regions": MERGE,
    "balance": BALANCER,
}

_KIND_CAUSES = {
    TransitKind.ASSIGN: OPERATOR,
    TransitKind.UNASSIGN: OPERATOR,
    TransitKind.MOVE: MOVE,
    TransitKind.REOPEN: DDL,
}

_HEAD = struct.Struct(">QBBI")  # time ms, len(cause), len(procedure), rows; then the texts and the rows
_ROW = struct.Struct(">8sH")  # region key, len(value); then the value


def caused_by(cause: str) -> None:
    """Set the cause of what this task commits from now on (a task's context is its own)."""
    _CAUSE.set(cause)


def cause_of_procedure(kind: str) -> str:
    return PROCEDURE_CAUSES.get(kind, DDL if kind.endswith("_table") or "famil" in kind else kind)


def current_cause() -> str:
    return _CAUSE.get()


@dataclass(frozen=True, slots=True)
class Step:
    """One transition of one region, as committed to meta."""

    time_ms: int
    state: RegionState
    server: str  # host:port:startcode, "" for none
    proc_id: int  # the procedure that moved it ("" once it is done: then the one just before)
    procedure: str  # the region procedure's kind (assign, unassign, move, reopen) or ""
    cause: str
    persisted: bool = False  # kept in meta (it survives a failover)


@dataclass(slots=True)
class _Entry:
    time_ms: int
    cause: str
    rows: Sequence[tuple[bytes, bytes]]
    persisted: bool = False


class Story:
    """The recent committed transitions of every region, bounded (see the module doc). No I/O."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._entries: deque[_Entry] = deque()
        self._rows = 0
        self._seq = 0  # next persisted entry number
        self._tracked: OrderedDict[bytes, None] = OrderedDict()  # regions whose outcomes are persisted
        self.batches = 0  # committed batches recorded since start (for /metrics)

    # ---- feeding ----

    def persist(self, rows: Sequence[tuple[bytes, bytes]], batch: WriteBatch, cause: str) -> bool:
        """Before a commit: add this batch's story rows to `batch` if they are cheap to keep (module doc).
        True if it did."""
        if not rows:
            return False
        chosen: Sequence[tuple[bytes, bytes]] = ()
        if cause and cause not in (STARTUP, TAKEOVER) and len(rows) <= PERSIST_MAX_ROWS:
            chosen = rows
            tracked = self._tracked
            for key, _ in rows:
                tracked[key] = None
                tracked.move_to_end(key)
            while len(tracked) > TRACKED_MAX:
                tracked.popitem(last=False)
        elif not cause and self._tracked:
            tracked = self._tracked
            chosen = [row for row in rows if row[0] in tracked]
            for key, value in chosen:
                if _idle(value):
                    tracked.pop(key, None)
        if chosen:
            seq = self._seq
            self._seq += 1
            batch.put("info", PREFIX + keys.u64(seq), encode(int(time.time() * 1000), cause, chosen))
            if seq >= PERSIST_MAX_ENTRIES:
                batch.delete("info", PREFIX + keys.u64(seq - PERSIST_MAX_ENTRIES))
        return bool(chosen)

    def record(self, rows: Sequence[tuple[bytes, bytes]], cause: str, *, persisted: bool = False) -> None:
        """After a commit: keep a reference to the batch's rows (they are not copied nor decoded)."""
        if not rows:
            return
        self._add(_Entry(int(time.time() * 1000), cause, rows, persisted))

    def load(self, entries: Iterable[tuple[bytes, bytes]]) -> int:
        """A new active master: the persisted entries of meta's `info` rows under PREFIX, oldest first."""
        count = 0
        for key, value in entries:
            if len(key) == len(PREFIX) + 8:
                self._seq = max(self._seq, keys.from_u64(key[len(PREFIX) :]) + 1)
            try:
                time_ms, cause, rows = decode(value)
            except ValueError as exc:  # a story is worth less than a takeover: skip what does not decode
                log.warning("story_entry_skipped", key=key.hex(), error=str(exc))
                continue
            self._add(_Entry(time_ms, cause, rows, True))
            count += 1
        return count

    def _add(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._rows += len(entry.rows)
        self.batches += 1
        while self._rows > self.max_rows and len(self._entries) > 1:
            self._rows -= len(self._entries.popleft().rows)

    # ---- asking ----

    def of(self, region_id: int, limit: int = 100) -> list[Step]:
        """The last `limit` steps of a region, oldest first, each with its cause (see the module doc)."""
        key = region_id.to_bytes(8, "big")
        found: list[tuple[_Entry, bytes]] = []
        for entry in reversed(self._entries):
            for row_key, value in reversed(entry.rows):
                if row_key == key:
                    found.append((entry, value))
                    break
            if len(found) > limit:  # one more than asked: the oldest shown inherits its cause from it
                break
        found.reverse()
        steps: list[Step] = []
        previous: Step | None = None
        for entry, value in found:
            try:
                previous = _step(entry, value, previous)
            except ValueError:
                continue  # not a region_state row (a story entry from a newer format)
            steps.append(previous)
        return steps[-limit:]

    @property
    def rows(self) -> int:
        return self._rows


def _idle(value: bytes) -> bool:
    try:
        return unpack_region_state(value)[3] == 0
    except ValueError:
        return True


def _step(entry: _Entry, value: bytes, previous: Step | None) -> Step:
    state, kind, _, proc_id, _, server, _ = unpack_region_state(value)
    procedure = kind.name.lower() if kind is not TransitKind.NONE else ""
    inherits = previous is not None and previous.proc_id and proc_id in (0, previous.proc_id)
    if entry.cause and not (entry.cause == RETRY and inherits):
        cause = entry.cause
    elif inherits and previous is not None:
        cause = previous.cause
    elif state is RegionState.ABNORMALLY_CLOSED:
        cause = CRASH
    else:
        cause = _KIND_CAUSES.get(kind, "report")
    if not proc_id and inherits and previous is not None:
        proc_id, procedure = previous.proc_id, procedure or previous.procedure
    return Step(
        entry.time_ms,
        state,
        str(server) if server is not None else "",
        proc_id,
        procedure,
        cause,
        entry.persisted,
    )


def encode(time_ms: int, cause: str, rows: Sequence[tuple[bytes, bytes]]) -> bytes:
    raw_cause = cause.encode()[:255]
    parts = [_HEAD.pack(time_ms, len(raw_cause), 0, len(rows)), raw_cause]
    for key, value in rows:
        parts.append(_ROW.pack(key, len(value)))
        parts.append(value)
    return b"".join(parts)


def decode(raw: bytes) -> tuple[int, str, list[tuple[bytes, bytes]]]:
    """The inverse of encode. Raises ValueError on a value that is not a story entry."""
    try:
        time_ms, n_cause, n_proc, n_rows = _HEAD.unpack_from(raw)
        at = _HEAD.size
        cause = raw[at : at + n_cause].decode()
        at += n_cause + n_proc
        rows = []
        for _ in range(n_rows):
            key, n_value = _ROW.unpack_from(raw, at)
            at += _ROW.size
            rows.append((key, raw[at : at + n_value]))
            at += n_value
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"a story entry of {len(raw)} bytes does not decode: {exc}") from None
    if at != len(raw):
        raise ValueError(f"a story entry of {len(raw)} bytes has {len(raw) - at} bytes left over")
    return time_ms, cause, rows
