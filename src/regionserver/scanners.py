"""The server-side scanners of one RegionServer (HBase's scanner leases): open scans between RPCs.

A scanner reads one region (regionserver.data.Scanner, which holds no transaction between calls); this
module keeps them by id, cuts rows into pieces for batching (HBase's Scan.setBatch: partial rows), fills
replies up to a number of rows and bytes, and forgets scanners left idle past the timeout. Ids are random
63-bit numbers, so one client cannot guess (or, by a stale id, reach) another's scanner. The number open at
once is bounded: a client that leaks scanners gets a clear refusal rather than the server's memory.

No I/O beyond the store's reads; the clock is given.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from regionserver.data import Cell, Scanner
from regionserver.data.filters import Filter, apply
from regionserver.data.mutations import Row

SCANNER_TIMEOUT_S = 60.0  # HBase's hbase.client.scanner.timeout.period
MAX_SCANNERS = 10_000


class ScannerNotFound(Exception):
    """No such scanner here: never opened, closed, or expired (regent-error ScannerNotFound)."""


class TooManyScanners(Exception):
    """This server has as many open scanners as it allows (regent-error TooManyScanners)."""


class ParsedFilter:
    """regionserver.data.filters' filter behind the Scan.filter protocol, parsed once per scanner.

    It notes whether the rows it was given ran out: when they did not, the filter itself ended the scan
    (HBase's filterAllRemaining), and the whole scan is done, not only this region's part."""

    def __init__(self, parsed: Filter, reversed: bool) -> None:
        self.parsed = parsed
        self.reversed = reversed
        self.source_exhausted = False

    def apply(self, rows: Iterator[Row]) -> Iterator[Row]:
        def watched() -> Iterator[Row]:
            yield from rows
            self.source_exhausted = True

        return apply(self.parsed, watched(), reversed=self.reversed)


@dataclass(slots=True)
class Piece:
    row: bytes
    cells: list[Cell]
    partial: bool


@dataclass(slots=True)
class LiveScanner:
    scanner_id: int
    region_id: int
    open_seq_num: int  # the open of the region it reads: another open means the region went away
    scanner: Scanner
    batching: int  # cells per piece, 0 = whole rows
    scan_filter: ParsedFilter | None
    pieces: deque[Piece] = field(default_factory=deque)  # read, not yet sent

    @property
    def exhausted(self) -> bool:
        return self.scanner.done and not self.pieces

    @property
    def scan_done(self) -> bool:
        """The limit was reached or the filter ended the scan: the client must not go on."""
        limit = self.scanner.scan.limit
        if limit is not None and self.scanner.returned >= limit:
            return True
        f = self.scan_filter
        return f is not None and self.scanner.done and not f.source_exhausted

    def next(self, rows: int, max_bytes: int) -> list[Piece]:
        """Up to `rows` pieces (whole rows without batching), stopping early past `max_bytes` of values."""
        out: list[Piece] = []
        size = 0
        while len(out) < rows and size < max_bytes:
            if not self.pieces:
                if self.scanner.done:
                    break
                for row, cells in self.scanner.next(rows - len(out)):
                    self._cut(row, cells)
                continue
            piece = self.pieces.popleft()
            out.append(piece)
            size += sum([len(c.value) + len(c.qualifier) for c in piece.cells])
        return out

    def _cut(self, row: bytes, cells: list[Cell]) -> None:
        n = self.batching
        if not n or len(cells) <= n:
            self.pieces.append(Piece(row, cells, False))
            return
        for at in range(0, len(cells), n):
            self.pieces.append(Piece(row, cells[at : at + n], at + n < len(cells)))


class Scanners:
    """The open scanners of this server, least recently used first."""

    def __init__(
        self,
        timeout_s: float = SCANNER_TIMEOUT_S,
        capacity: int = MAX_SCANNERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.capacity = capacity
        self.clock = clock
        self._open: OrderedDict[int, tuple[LiveScanner, float]] = OrderedDict()  # id -> (scanner, last use)
        self.expired = 0  # scanners forgotten for idleness: for tests and metrics

    def add(
        self,
        region_id: int,
        open_seq_num: int,
        scanner: Scanner,
        batching: int,
        scan_filter: ParsedFilter | None,
    ) -> LiveScanner:
        self.expire()
        if len(self._open) >= self.capacity:
            raise TooManyScanners(
                f"this RegionServer has {len(self._open)} open scanners, the most it allows: close "
                f"scanners when done (idle ones expire after {self.timeout_s:g} s)"
            )
        scanner_id = secrets.randbits(63) or 1
        while scanner_id in self._open:
            scanner_id = secrets.randbits(63) or 1
        entry = LiveScanner(scanner_id, region_id, open_seq_num, scanner, batching, scan_filter)
        self._open[scanner_id] = (entry, self.clock())
        return entry

    def get(self, scanner_id: int) -> LiveScanner:
        """The scanner, its lease renewed; ScannerNotFound if unknown, closed or expired."""
        self.expire()
        found = self._open.pop(scanner_id, None)
        if found is None:
            raise ScannerNotFound(
                f"no scanner {scanner_id} on this RegionServer: never opened, closed, or expired after "
                f"{self.timeout_s:g} s idle; open a new one from the last row received"
            )
        self._open[scanner_id] = (found[0], self.clock())  # the most recently used now
        return found[0]

    def close(self, scanner_id: int) -> bool:
        return self._open.pop(scanner_id, None) is not None

    def expire(self) -> int:
        """Forget the scanners idle past the timeout (they are kept oldest first: amortised O(1))."""
        now = self.clock()
        expired = 0
        while self._open:
            _, (_, used) = next(iter(self._open.items()))
            if now - used < self.timeout_s:
                break
            self._open.popitem(last=False)
            expired += 1
        self.expired += expired
        return expired

    def __len__(self) -> int:
        return len(self._open)
