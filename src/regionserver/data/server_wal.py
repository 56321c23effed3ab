"""The write-ahead log of a RegionServer as its region writers use it: the logged groups of all regions
that come in one turn of the event loop are appended together (one write, one fdatasync), and the log's
old segments are freed by flushing the regions that still need them (docs/decisions.md, "A write-ahead
log shared by a server's regions").

Where an append runs is decided as for a small store commit (regionserver.data.commit_place, with a
budget of its own: LOG_PLACEMENT): on the event loop while its fdatasyncs are quick and take a bounded
share of the loop, in a commit thread otherwise. One append is in flight at a time; the groups that
come meanwhile form the next one.

`maintain`, called every second or so on the loop, asks regions for flushes:
- a region whose memory holds FLUSH_BYTES or more, or whose oldest unflushed edit is FLUSH_AFTER_S old;
- while the log has more than MAX_SEGMENTS segments, the regions whose edits keep the oldest one;
- while the memories of all regions hold more than MAX_MEMORY_BYTES, the largest ones;
and it deletes the segments whose every edit is in a store: flushed, or replayed by a new owner (a memory
is given up once a commit of its region was fenced: the new owner's claim, which replays, committed).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from regionserver.data.commit_place import LOG_PLACEMENT, CommitPlacement
from regionserver.data.commit_threads import COMMIT_THREADS, CommitThreads
from regionserver.data.region_memory import RegionMemory
from regionserver.data.wal import Edit, ServerLog

log = structlog.get_logger("regionserver.data.server_wal")

#: A region's memory is flushed once it holds this many bytes (keys and values).
FLUSH_BYTES = 4 * 1024 * 1024
#: ... or once its oldest edit is this old: bounds what a new owner replays, and how long segments live.
FLUSH_AFTER_S = 30.0
#: The log's segments beyond which the regions keeping the oldest are flushed.
MAX_SEGMENTS = 4
#: The memories of all regions together, beyond which the largest are flushed.
MAX_MEMORY_BYTES = 256 * 1024 * 1024

Answer = Callable[[int | BaseException | None], None]


class ServerWal:
    """The server's log, its batching of appends and its retention (see the module's doc)."""

    def __init__(
        self,
        log_: ServerLog,
        *,
        placement: CommitPlacement = LOG_PLACEMENT,
        threads: CommitThreads = COMMIT_THREADS,
        flush_bytes: int = FLUSH_BYTES,
        flush_after_s: float = FLUSH_AFTER_S,
        max_segments: int = MAX_SEGMENTS,
        max_memory_bytes: int = MAX_MEMORY_BYTES,
    ) -> None:
        self.log = log_
        self._placement = placement
        self._threads = threads
        self.flush_bytes = flush_bytes
        self.flush_after_s = flush_after_s
        self.max_segments = max_segments
        self.max_memory_bytes = max_memory_bytes
        self._batch: list[tuple[Edit, Answer]] = []
        self._scheduled = False
        self._busy = False
        self.broken: BaseException | None = None  # a failed append: nothing more is logged
        #: The memories that may hold edits of the log's segments (until flushed clean or sealed).
        self.memories: dict[bytes, RegionMemory] = {}
        self.appends = 0  # appends written (one write and fdatasync each): for tests and metrics
        self.edits = 0

    @property
    def usable(self) -> bool:
        return self.broken is None

    def append(self, memory: RegionMemory, edit: Edit, answer: Answer) -> None:
        """Log `edit` with the others of this turn of the loop; `answer` gets its seq, None when the region
        is sealed (the edit is refused), or the exception that broke the log."""
        self.memories.setdefault(memory.key, memory)
        self._batch.append((edit, answer))
        if not self._scheduled and not self._busy:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._one_more_turn)

    def _one_more_turn(self) -> None:
        asyncio.get_running_loop().call_soon(self._go)

    def _go(self) -> None:
        self._scheduled = False
        if self._busy or not self._batch:
            return
        batch, self._batch = self._batch, []
        edits = [edit for edit, _ in batch]
        if self._placement.on_loop():
            started = time.perf_counter()
            outcome = self._write(edits)
            self._placement.took(time.perf_counter() - started)
            self._answer(batch, outcome)
        else:
            self._busy = True
            done = self._threads.submit(functools.partial(self._write, edits))
            done.add_done_callback(functools.partial(self._written, batch))

    def _write(self, edits: list[Edit]) -> list[int | None] | BaseException:
        try:
            return self.log.append(edits)
        except Exception as exc:  # WalError, OSError: the log is broken, nothing of this append acknowledged
            return exc

    def _written(self, batch: list[tuple[Edit, Answer]], done: asyncio.Future[Any]) -> None:
        self._busy = False
        self._answer(batch, done.result())
        if self._batch and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._go)

    def _answer(self, batch: list[tuple[Edit, Answer]], outcome: list[int | None] | BaseException) -> None:
        if isinstance(outcome, BaseException):
            if self.broken is None:
                log.error("wal_append_failed", directory=str(self.log.directory), error=str(outcome))
            self.broken = outcome
            for _, answer in batch:
                answer(outcome)
            # The failed append's edits may be on disk: every store's next LOGGED must cover them, so that
            # a replay never lays them over later commits; and the memories go to the stores now.
            for memory in self.memories.values():
                memory.max_seq = max(memory.max_seq, self.log.last_seq)
                memory.request_flush()
            return
        self.appends += 1
        self.edits += len(batch)
        for (_, answer), seq in zip(batch, outcome, strict=True):
            answer(seq)

    # ---- retention ----

    def maintain(self, now: float | None = None) -> int:
        """Ask for the flushes the module's doc lists and delete the segments no region needs; how many
        flushes were asked for. On the event loop."""
        now = time.monotonic() if now is None else now
        wanted: dict[bytes, RegionMemory] = {}
        for key, memory in list(self.memories.items()):
            if memory.closed:
                del self.memories[key]  # flushed clean, or taken over: its edits are in a store
            elif memory.active and (
                memory.size_bytes >= self.flush_bytes
                or now - memory.since >= self.flush_after_s
                or self.log.sealed(key)  # a flush finds out whether the new owner replayed it yet
            ):
                wanted[key] = memory
        segments = self.log.segments()
        keeping = [s for s in segments[:-1] if self._needed(s.regions)]
        if keeping:
            oldest = keeping[0]
            deletable = [s.number for s in segments[:-1] if s.number < oldest.number]
            if len(segments) - len(deletable) > self.max_segments:
                for key in oldest.regions:
                    keeper = self.memories.get(key)
                    if keeper is not None and keeper.active:
                        wanted[key] = keeper
        else:
            deletable = [s.number for s in segments[:-1]]
        if deletable:
            self.log.delete_segments_through(deletable[-1])
            log.info("wal_segments_deleted", directory=str(self.log.directory), through=deletable[-1])
        total = sum(m.size_bytes for m in self.memories.values())
        for memory in sorted(self.memories.values(), key=lambda m: m.size_bytes, reverse=True):
            if total <= self.max_memory_bytes:
                break
            wanted[memory.key] = memory
            total -= memory.size_bytes
        for memory in wanted.values():
            memory.request_flush()
        return len(wanted)

    def _needed(self, regions: Mapping[bytes, int]) -> bool:
        """Whether a segment whose regions' highest seqs are `regions` holds an edit not yet in a store."""
        for key, seq in regions.items():
            memory = self.memories.get(key)
            if memory is not None and memory.active and memory.first_seq <= seq:
                return True
        return False

    def close(self) -> None:
        self.log.close()
