"""What one claim of a region has logged and not yet flushed into its store: its memstore and the
bookkeeping of the flushes (docs/decisions.md, "A write-ahead log shared by a server's regions").

The region's writer (regionserver.data.writer) puts a logged group's writes here once the log made them
durable (`merged`); the region store's reads lay `active` over its LMDB cells
(regionserver.data.memstore.MemCells); every write transaction of the store, a flush included, writes the
memory into the store and records how far (`flush_into`, then `flushed` once it committed). The server's
log (regionserver.data.server_wal) asks for flushes by size, by age, and to free old log segments.

Used on the event loop, and by a commit thread while the region's writer waits for it (the writer then
merges nothing): a reader on the loop takes `active` before it opens its LMDB read transaction, so that a
flush that replaces `active` after its commit never hides cells from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from regionserver.data.memstore import MemStore
from regionserver.data.ordered import Cells
from regionserver.data.takeover import CLEAN


class RegionMemory:
    """The memstore of one claim (`key`: its name in the log, regionserver.data.takeover.region_key)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.active = MemStore()
        #: The store records that this claim logs (its LOGGED record exists), and the wish that the next
        #: commit record it (the writer's, before the claim's first logged group).
        self.armed = False
        self.arm = False
        #: Closing: the next flush records CLEAN, and nothing may be logged after it.
        self.closing = False
        self.closed = False
        self.max_seq = 0  # the highest log seq merged in (in `active` or flushed)
        self.first_seq = 0  # the lowest log seq in `active`; 0 when it is empty
        self.since = 0.0  # monotonic time of the oldest edit in `active`
        self.flushes = 0
        #: Asks the region's writer for a flush (set by the writer; the server's log calls it).
        self.request_flush: Callable[[], None] = lambda: None

    @property
    def size_bytes(self) -> int:
        return self.active.size_bytes

    def can_log(self) -> bool:
        """Whether the next group may go to the log rather than into a store transaction."""
        return self.armed and not self.closing

    def merged(self, pending: MemStore, seq: int) -> None:
        """A group's writes are durable in the log as `seq`: they join the memory (on the event loop)."""
        if not self.active:
            self.first_seq, self.since = seq, time.monotonic()
        self.active.merge_from(pending)
        self.max_seq = seq

    def flush_into(self, cells: Cells) -> tuple[MemStore, int | None]:
        """Write the memory into `cells` (a store write transaction); what was written and the LOGGED
        value to record with it (None: none, the claim has not logged and does not mean to), for
        `flushed` once the transaction committed."""
        flushing = self.active
        flushing.flush_into(cells)
        if not (self.armed or self.arm):
            return flushing, None
        return flushing, CLEAN if self.closing else self.max_seq

    def flushed(self, flushing: MemStore, logged: int | None) -> None:
        """The transaction that wrote `flushing` and recorded `logged` committed."""
        if logged is not None:
            self.armed = True
        if logged == CLEAN:
            self.closed = True
        if flushing is self.active and flushing:
            self.active, self.first_seq = MemStore(), 0
            self.flushes += 1
