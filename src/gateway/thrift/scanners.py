"""The gateway's open scanners: ids handed to Thrift clients, each backed by one SDK scan.

A Thrift client opens a scanner (scannerOpen*), reads it by id (scannerGet, scannerGetList) and closes it
(scannerClose). Clients forget to close, crash, or vanish mid-scan, so the registry bounds what they can
hold and takes back what they left:

- **idle expiry**: a scanner nobody has read for `idle_timeout_s` is closed by `expire()` (the server
  calls it from a sweeper thread, and on every open); reading it afterwards is an unknown id, as in HBase;
- **a bound per connection**: a connection holding `per_connection` scanners is refused another
  (TooManyScanners) until it closes one;
- **a connection's end**: `close_owner()` closes every scanner a connection opened when its socket closes.

Ids are random positive 31-bit integers (Thrift's ScannerID is an i32), never reused while open, so one
client cannot guess another's. A scanner in use (a read in progress on one thread) is never closed under
the reader: a close or an expiry marks it, and the reader's `release()` closes it. Closing a scanner is
its `close` callable (closing the SDK scan's generator, which closes the RegionServer's scanner); it runs
outside the registry's lock. The registry does no I/O of its own and takes its clock as an argument, so its
tests drive time by hand.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: HBase's default scanner lease (hbase.client.scanner.timeout.period): 60 s.
DEFAULT_IDLE_TIMEOUT_S = 60.0
#: How many scanners one Thrift connection may hold open at once.
DEFAULT_PER_CONNECTION = 100
_MAX_ID = 2**31 - 1


class UnknownScanner(LookupError):
    """No open scanner has this id: never opened, closed, expired, or its connection ended."""


class TooManyScanners(RuntimeError):
    """The connection already holds as many open scanners as it may."""


@dataclass(slots=True)
class OpenScanner:
    """One open scanner: its rows (an iterator of whatever the handler yields), who opened it, when it
    was last used, and how many reads hold it right now; `lock` serialises its readers (two threads
    reading one id must not step one iterator at once)."""

    scanner_id: int
    owner: int
    rows: Iterator[Any]
    close: Callable[[], None]
    table: str
    last_used: float
    readers: int = 0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScannerRegistry:
    """Thread-safe: every Thrift connection's thread shares one registry."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        per_connection: int = DEFAULT_PER_CONNECTION,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be positive, got {idle_timeout_s}")
        if per_connection < 1:
            raise ValueError(f"per_connection must be at least 1, got {per_connection}")
        self.idle_timeout_s = idle_timeout_s
        self.per_connection = per_connection
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._lock = threading.Lock()
        self._open: dict[int, OpenScanner] = {}
        self._owned: dict[int, set[int]] = {}
        self.expired_total = 0
        self.opened_total = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def owned_by(self, owner: int) -> int:
        with self._lock:
            return len(self._owned.get(owner, ()))

    def open(self, owner: int, table: str, rows: Iterator[Any], close: Callable[[], None]) -> int:
        """Register a scan for connection `owner`; its id. TooManyScanners (and `close()` is called) when
        the owner holds `per_connection` already; idle scanners are expired first."""
        self.expire()
        with self._lock:
            held = self._owned.setdefault(owner, set())
            if len(held) >= self.per_connection:
                refused = True
            else:
                refused = False
                scanner_id = self._new_id()
                self._open[scanner_id] = OpenScanner(scanner_id, owner, rows, close, table, self._clock())
                held.add(scanner_id)
                self.opened_total += 1
        if refused:
            close()
            raise TooManyScanners(
                f"this connection holds {self.per_connection} open scanners, the most it may: close one "
                "(scannerClose) before opening another"
            )
        return scanner_id

    def _new_id(self) -> int:
        while True:
            candidate = self._rng.randint(1, _MAX_ID)
            if candidate not in self._open:
                return candidate

    def acquire(self, scanner_id: int) -> OpenScanner:
        """The open scanner `scanner_id`, held for a read until `release()`; UnknownScanner if none."""
        with self._lock:
            scanner = self._open.get(scanner_id)
            if scanner is None:
                raise UnknownScanner(
                    f"scanner {scanner_id} is not open: it was never opened, was closed, expired after "
                    f"{self.idle_timeout_s:g}s unused, or its connection ended"
                )
            scanner.readers += 1
            scanner.last_used = self._clock()
            return scanner

    def release(self, scanner: OpenScanner) -> None:
        """End a read of `scanner`. The scanner stays open (a client closes it, even once it is
        exhausted: happybase does); one closed or expired during the read is closed now."""
        with self._lock:
            scanner.readers -= 1
            scanner.last_used = self._clock()
            close_now = scanner.closed and scanner.readers == 0
        if close_now:
            scanner.close()

    def close(self, scanner_id: int) -> None:
        """Close scanner `scanner_id` (UnknownScanner if it is not open)."""
        with self._lock:
            scanner = self._open.get(scanner_id)
            if scanner is None:
                raise UnknownScanner(f"scanner {scanner_id} is not open (closed already, expired, or never)")
            close_now = self._remove(scanner)
        if close_now:
            scanner.close()

    def close_owner(self, owner: int) -> int:
        """Close every scanner connection `owner` holds (its socket closed); how many there were."""
        with self._lock:
            ids = self._owned.pop(owner, set())
            scanners = [self._open[i] for i in ids if i in self._open]
            to_close = [s for s in scanners if self._remove(s)]
        for scanner in to_close:
            scanner.close()
        return len(scanners)

    def expire(self) -> list[OpenScanner]:
        """Close the scanners unused for `idle_timeout_s` (not those being read); return them."""
        limit = self._clock() - self.idle_timeout_s
        with self._lock:
            idle = [s for s in self._open.values() if s.readers == 0 and s.last_used <= limit]
            for scanner in idle:
                self._remove(scanner)
            self.expired_total += len(idle)
        for scanner in idle:
            scanner.close()
        return idle

    def close_all(self) -> int:
        """Close every scanner (the gateway is stopping); how many there were."""
        with self._lock:
            scanners = list(self._open.values())
            to_close = [s for s in scanners if self._remove(s)]
        for scanner in to_close:
            scanner.close()
        return len(scanners)

    def _remove(self, scanner: OpenScanner) -> bool:
        """Forget `scanner` (lock held); whether the caller must close it now (nobody is reading it)."""
        self._open.pop(scanner.scanner_id, None)
        held = self._owned.get(scanner.owner)
        if held is not None:
            held.discard(scanner.scanner_id)
            if not held:
                del self._owned[scanner.owner]
        scanner.closed = True
        return scanner.readers == 0


__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_PER_CONNECTION",
    "OpenScanner",
    "ScannerRegistry",
    "TooManyScanners",
    "UnknownScanner",
]
