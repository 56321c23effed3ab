"""What a RegionServer hosts, as pure state: orders in, outcomes out, reports' answers applied.

A region is served (in `online`) only after the master accepted its OPENED report. Orders are de-duplicated by
procedure id and open sequence number: a procedure that retries an open on this server sends a new open
sequence number, and that is a new order, not a duplicate. No I/O here: regionserver.daemon moves orders in
and reports out.

An open of a region without a store costs nothing: it is `opening` (OPENED in the outbox) at once. One whose
store exists must claim the store first (a commit, an fsync): it is `claiming` meanwhile, and the claim to
carry out waits in `claims` for the daemon (regionserver.claims runs them in threads, off the event loop);
`claimed()` takes their results, batch by batch. A claim's result counts only if its region is still
claiming under that very open: a close, a newer open or the server stopping meanwhile makes it stale, and
the store it claimed is handed back to be closed.

`digest` is the (count, hash) of every (region id, open sequence number) held, opening or online
(meta.digest), updated on each open and close, never recomputed: each heartbeat carries it (master.reconcile).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meta import ServerName
from meta import digest as digest_mod
from meta.digest import Digest
from meta.types import ColumnFamily
from regionserver.split_policy import SplitSettings

OPENED, FAILED_OPEN, CLOSED = 1, 2, 3  # TransitionCode numbers of protos/regent/proto/master.proto


@dataclass(frozen=True, slots=True)
class OpenFailed:
    """Why an open failed. `fenced_by`: the open sequence number of a newer open that owns the region's
    store (0 if that is not why). It is what the FAILED_OPEN report carries as the open's number, so that
    the master's next open of the region is newer still (master.assignment)."""

    reason: str
    fenced_by: int = 0


@dataclass(slots=True)
class HostedRegion:
    region_id: int
    table: str
    start_key: bytes
    end_key: bytes
    open_seq_num: int
    proc_id: int
    #: The table's families as the open order gave them (keyed as cells name them: b"family").
    families: Mapping[bytes, ColumnFamily] = field(default_factory=dict)
    store: Any = None  # its regionserver.region_stores.RegionData once opened or first used
    # Requests served, kept cheaply (plain integers, no lock: the event loop is the only writer): for a
    # later heartbeat or metrics page.
    reads: int = 0
    writes: int = 0
    online_ms: int = 0  # when the master accepted its OPENED (wall clock ms): the status page's "open since"
    #: The table's split settings as the open order gave them (None: no automatic split).
    split_settings: SplitSettings | None = None

    @property
    def requests(self) -> int:
        """Data requests served for it (rows read and written): the status page's."""
        return self.reads + self.writes

    def contains(self, row: bytes) -> bool:
        return self.start_key <= row and (not self.end_key or row < self.end_key)


@dataclass(slots=True)
class Outbox:
    """Outcomes waiting to be reported, columnar per transition code."""

    region_ids: dict[int, list[int]] = field(
        default_factory=lambda: {OPENED: [], FAILED_OPEN: [], CLOSED: []}
    )
    proc_ids: dict[int, list[int]] = field(default_factory=lambda: {OPENED: [], FAILED_OPEN: [], CLOSED: []})
    seqs: dict[int, list[int]] = field(default_factory=lambda: {OPENED: [], FAILED_OPEN: [], CLOSED: []})

    def add(self, code: int, region_id: int, proc_id: int, seq: int = 0) -> None:
        self.region_ids[code].append(region_id)
        self.proc_ids[code].append(proc_id)
        self.seqs[code].append(seq)

    def __len__(self) -> int:
        return sum(len(v) for v in self.region_ids.values())


Report = list[tuple[int, list[int], list[int], list[int]]]  # (code, region_ids, proc_ids, open_seq_nums)

#: How long a closed region's destination is remembered, and for how many regions at most.
MOVED_MEMORY_S = 120.0
MOVED_MEMORY_REGIONS = 100_000


class MovedRegions:
    """Where regions closed here went (Closes.destinations), for a bounded time and number: the answer to
    a late client is "moved to X" rather than "not here"."""

    def __init__(self, ttl_s: float = MOVED_MEMORY_S, capacity: int = MOVED_MEMORY_REGIONS) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._to: OrderedDict[int, tuple[ServerName, float]] = OrderedDict()  # oldest first

    def remember(self, region_id: int, destination: ServerName, now: float) -> None:
        self._to.pop(region_id, None)
        self._to[region_id] = (destination, now + self.ttl_s)
        while len(self._to) > self.capacity:
            self._to.popitem(last=False)

    def forget(self, region_id: int) -> None:
        self._to.pop(region_id, None)

    def destination(self, region_id: int, now: float) -> ServerName | None:
        while self._to:  # expire from the oldest end: amortised O(1) per call
            oldest, (_, until) = next(iter(self._to.items()))
            if until > now:
                break
            del self._to[oldest]
        entry = self._to.get(region_id)
        return entry[0] if entry is not None else None

    def __len__(self) -> int:
        return len(self._to)


class Hosting:
    def __init__(self) -> None:
        self.online: dict[int, HostedRegion] = {}
        self.opening: dict[int, HostedRegion] = {}  # opened, OPENED reported, not yet accepted
        # (procedure id, open sequence number or 0 for a close, region id) of orders not yet finished
        # (de-duplication). The region is part of the key: one merge closes all its parents under one
        # procedure id, and each close is an order of its own.
        self.procs: set[tuple[int, int, int]] = set()
        self.outbox = Outbox()
        self.digest = Digest()
        self.moved = MovedRegions()
        self.closing: set[int] = set()  # dropped, their store still finishing its last writes
        #: Accepted opens whose store's claim is in flight (not yet opening: no outcome, not in the digest)
        self.claiming: dict[int, HostedRegion] = {}
        self.claims: list[HostedRegion] = []  # claims to carry out (take_claims), in order

    def open_many(
        self,
        table: str,
        region_ids: Sequence[int],
        proc_ids: Sequence[int],
        seqs: Sequence[int],
        start_keys: Sequence[bytes],
        end_keys: Sequence[bytes],
        with_store: Collection[int] = (),
        families: Mapping[bytes, ColumnFamily] | None = None,
        split_settings: SplitSettings | None = None,
    ) -> tuple[int, int]:
        """Take open orders; return (accepted, duplicates).

        A region that never held data has no store and opening it costs nothing: OPENED at once. One in
        `with_store` is `claiming` until `claimed()` says how its store's claim went (take_claims() gives
        the claims to carry out).
        """
        accepted = duplicates = 0
        procs, opening, online, claiming = self.procs, self.opening, self.online, self.claiming
        # OPENED outcomes, gathered here and added to the outbox at once (the common case by far)
        opened_ids: list[int] = []
        opened_procs: list[int] = []
        opened_seqs: list[int] = []
        again: list[tuple[int, int]] = []  # opens already held, reported again: not new in the digest
        for rid, proc, seq, start, end in zip(region_ids, proc_ids, seqs, start_keys, end_keys, strict=True):
            order = (proc, seq, rid)
            if order in procs:
                duplicates += 1  # a repeat
                continue
            current = online.get(rid)
            claim = claiming.get(rid) if claiming else None  # (no lookups in the common case: none held)
            if (current is not None or claim is not None or rid in opening) and seq < _newest_seq(
                opening.get(rid), current, claim
            ):
                duplicates += 1  # an older open than the one held: superseded
                continue
            procs.add(order)
            accepted += 1
            if claim is not None:
                self.cancel_claim(rid)  # in flight for an older open: its result will be stale
            if current is None or current.open_seq_num != seq:
                region = HostedRegion(
                    rid, table, start, end, seq, proc, families or {}, split_settings=split_settings
                )
                if rid in with_store:
                    claiming[rid] = region
                    self.claims.append(region)
                    continue
                self._to_opening(region)
            else:  # already open under this very open: reported again
                again.append((rid, seq))
            opened_ids.append(rid)
            opened_procs.append(proc)
            opened_seqs.append(seq)
        self.digest.add_batch(opened_ids, opened_seqs)
        for rid, seq in again:
            self.digest.remove(rid, seq)
        self._report_opened(opened_ids, opened_procs, opened_seqs)
        return accepted, duplicates

    def _to_opening(self, region: HostedRegion) -> None:
        """`region` opened here (its OPENED is to be reported), replacing an older open still opening (the
        caller adds it to the digest)."""
        superseded = self.opening.get(region.region_id)
        if superseded is not None:
            self.digest.remove(region.region_id, superseded.open_seq_num)
        self.opening[region.region_id] = region

    def _report_opened(self, ids: list[int], procs: list[int], seqs: list[int]) -> None:
        box = self.outbox
        box.region_ids[OPENED] += ids
        box.proc_ids[OPENED] += procs
        box.seqs[OPENED] += seqs

    def take_claims(self) -> list[HostedRegion]:
        """The store claims to carry out (regions `claiming`), in the order they were accepted."""
        claims, self.claims = self.claims, []
        return [r for r in claims if self.claiming.get(r.region_id) is r]  # not those cancelled already

    def claimed(
        self, results: Sequence[tuple[HostedRegion, OpenFailed | None]]
    ) -> tuple[list[HostedRegion], list[HostedRegion]]:
        """How claims went (None: the store is claimed, `region.store` set; else why the open failed).
        Return (opened, stale): the regions now opening, and those whose claim succeeded but no longer
        counts (closed, superseded by a newer open, or the server stopped meanwhile): the caller closes
        their stores. A failed open is reported FAILED_OPEN, with the number of the newer open that fenced
        it if that is why, and not kept for de-duplication (its report may carry another number)."""
        opened: list[HostedRegion] = []
        stale: list[HostedRegion] = []
        claiming = self.claiming
        for region, failed in results:
            rid = region.region_id
            if claiming.get(rid) is not region:
                if failed is None:
                    stale.append(region)
                continue
            del claiming[rid]
            if failed is not None:
                self.procs.discard((region.proc_id, region.open_seq_num, rid))
                self.outbox.add(FAILED_OPEN, rid, region.proc_id, max(region.open_seq_num, failed.fenced_by))
                continue
            self._to_opening(region)
            opened.append(region)
        ids = [r.region_id for r in opened]
        seqs = [r.open_seq_num for r in opened]
        self.digest.add_batch(ids, seqs)
        self._report_opened(ids, [r.proc_id for r in opened], seqs)
        return opened, stale

    def cancel_claim(self, region_id: int) -> None:
        """Forget the claim in flight for `region_id`, if any (its result will be stale), and its order:
        it will have no outcome, so a repeat of it is carried out afresh."""
        region = self.claiming.pop(region_id, None)
        if region is not None:
            self.procs.discard((region.proc_id, region.open_seq_num, region_id))

    def close_many(
        self,
        region_ids: Sequence[int],
        proc_ids: Sequence[int],
        destinations: Sequence[ServerName | None] = (),
        now: float = 0.0,
    ) -> tuple[int, int]:
        """Stop serving at once, then report CLOSED (a region this server does not hold is closed already).

        A close whose procedure is not newer than the open held is stale (a late repeat of a close that was
        followed by a new open here, e.g. a move back to this server under the same procedure): ignored.
        Procedure ids only grow, and a region has one procedure at a time, so a close the master still
        waits for is always newer than the open it closes. `destinations` (as many as region_ids, or none)
        say where moved regions go (None: unknown); they are remembered from `now` on.
        """
        accepted = duplicates = 0
        opening, online, claiming = self.opening, self.online, self.claiming
        for i, (rid, proc) in enumerate(zip(region_ids, proc_ids, strict=True)):
            held = [r.proc_id for r in (opening.get(rid), online.get(rid), claiming.get(rid)) if r]
            if (proc, 0, rid) in self.procs or (held and proc <= max(held)):
                duplicates += 1
                continue
            self.procs.add((proc, 0, rid))
            self.drop(rid)
            self.cancel_claim(rid)
            destination = destinations[i] if destinations else None
            if destination is not None:
                self.moved.remember(rid, destination, now)
            self.outbox.add(CLOSED, rid, proc)
            accepted += 1
        return accepted, duplicates

    def take_report(self, limit: int) -> Report:
        """Up to `limit` outcomes, columnar, leaving the rest for the next report."""
        report: Report = []
        box = self.outbox
        for code in (OPENED, FAILED_OPEN, CLOSED):
            ids = box.region_ids[code]
            if not ids or limit <= 0:
                continue
            n = min(limit, len(ids))
            report.append((code, ids[:n], box.proc_ids[code][:n], box.seqs[code][:n]))
            del ids[:n], box.proc_ids[code][:n], box.seqs[code][:n]
            limit -= n
        return report

    def answered(self, report: Report, rejected: Sequence[Sequence[int]]) -> list[int]:
        """Apply the master's answer; return the regions closed because their OPENED was rejected."""
        closed = []
        now_ms = int(time.time() * 1000)
        for (code, ids, procs, seqs), refused in zip(report, rejected, strict=True):
            refused_set = set(refused)
            for i, (rid, proc, seq) in enumerate(zip(ids, procs, seqs, strict=True)):
                self.procs.discard((proc, seq, rid))
                if code != OPENED:
                    continue
                region = self.opening.get(rid)
                if region is None or region.proc_id != proc or region.open_seq_num != seq:
                    continue  # the answer to an earlier open of this region
                if i in refused_set:
                    self.drop(rid)
                    closed.append(rid)
                else:
                    del self.opening[rid]
                    older = self.online.get(rid)
                    if older is not None:  # an older open of it, reopened here: the new one replaces it
                        self.digest.remove(rid, older.open_seq_num)
                    region.online_ms = now_ms
                    self.online[rid] = region
                    self.moved.forget(rid)
        return closed

    def drop(self, region_id: int) -> None:
        """Stop serving a region at once and close its store (its writer first commits what it was given:
        meanwhile the region is `closing`). A claim in flight for a newer open of it is left alone (the
        master refused an older open, or a write found the older open fenced by the newer one's claim):
        `cancel_claim` forgets it."""
        for regions in (self.online, self.opening):
            region = regions.pop(region_id, None)
            if region is None:
                continue
            self.digest.remove(region_id, region.open_seq_num)
            if region.store is not None:
                self.closing.add(region_id)
                region.store.close(lambda rid=region_id: self.closing.discard(rid))

    def region_loads(self) -> list[tuple[int, int, int]]:
        """(region id, reads, writes) of every online region: the counters the data RPCs keep, for a
        heartbeat or a metrics page (one pass, no lock)."""
        return [(r.region_id, r.reads, r.writes) for r in self.online.values()]

    def adopt(self, region: HostedRegion) -> None:
        """Serve a region without any order (the test hook AdoptRegion: a region opened behind the master's
        back, for the reconciliation tests)."""
        self.drop(region.region_id)
        self.cancel_claim(region.region_id)
        self.online[region.region_id] = region
        self.digest.add(region.region_id, region.open_seq_num)

    def held(self) -> list[tuple[int, int]]:
        """Every (region id, open sequence number) held, opening or online: what `digest` sums up."""
        return [(r.region_id, r.open_seq_num) for r in (*self.opening.values(), *self.online.values())]

    def check_digest(self) -> bool:
        """Whether the running digest equals one computed afresh (the tests' invariant)."""
        return digest_mod.of(self.held()) == self.digest.value()

    def stop_serving(self) -> int:
        """Drop every region (fenced or declared dead) and forget the claims in flight; return how many
        were served."""
        served = len(self.online)
        for region_id in [*self.online, *self.opening]:
            self.drop(region_id)
        for region_id in list(self.claiming):
            self.cancel_claim(region_id)
        self.claims.clear()
        return served


def _newest_seq(*held: HostedRegion | None) -> int:
    """The open sequence number of the newest open of a region this server holds (0 if none)."""
    return max((r.open_seq_num for r in held if r is not None), default=0)
