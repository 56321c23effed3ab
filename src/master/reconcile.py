"""Reconciliation: what each RegionServer holds, compared with what meta says. Pure logic, no I/O.

Every heartbeat carries the server's region digest (meta.digest: a count and a hash over the (region id,
open sequence number) pairs it holds, opening or online), kept up to date by the server on every open and
close. The assignment core keeps the same digest of what meta places OPEN on each server. Equal digests, the
steady state, cost two integer comparisons. When they differ, the master answers "send the list", the server
sends it at once (the next heartbeat, without waiting for the interval), and `heartbeat()` compares it with
meta region by region:

- a region meta says is OPEN there, idle, but not held (closed behind the master's back, lost): reassigned
  (cause `not_served`), as after a crash of that server;
- a region held there that meta places on another server, under another open, or nowhere (opened behind
  its back, left over): a close order (`served_elsewhere`, `served_nowhere`).

Regions with a procedure attached (or waiting for a server) are left to their procedure. A digest is compared
only if its server's regions are idle in meta since before it was taken, so that a report or an order
racing the heartbeat is never "repaired": the master stamps a server with a logical clock tick whenever it
changes one of its regions (`changed`: orders sent to it, its reports handled, its registration); every
heartbeat answer carries a newer tick (the token) and the server puts the last token it received into its
next digest. A digest whose token is not newer than the server's last change, or comes from another
master's epoch, is not compared: the next one will be. A server whose regions change at every heartbeat (a
startup, a long balancing) is thus reconciled once it is quiet; its regions in transition are its
procedures' business meanwhile.

A mismatch explained by regions in transition alone is remembered (the two digests), so the list is not
asked for again until either digest changes.
"""

from __future__ import annotations

import enum
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from master.assignment import AssignmentManager, Effects
from master.errors import InvalidArgument
from master.procedures.executor import RETAIN_S, ProcedureView
from master.regions import RegionNode
from meta import RegionState, ServerName
from meta import digest as digest_mod

S = RegionState
RECENT = 1000  # repairs kept for list_procedures (and for RETAIN_S at most)


class Cause(enum.Enum):
    NOT_SERVED = "not_served"  # meta: OPEN on this server; the server does not hold it
    SERVED_ELSEWHERE = "served_elsewhere"  # held here; meta: on another server, or under another open
    SERVED_NOWHERE = "served_nowhere"  # held here; meta: on no server, or no such region


@dataclass(frozen=True, slots=True)
class HeldDigest:
    """A heartbeat's digest: the server's (count, hash), and the token of the master answer it followed."""

    count: int
    hash: int
    epoch: int
    token: int


@dataclass(frozen=True, slots=True)
class Repair:
    proc_id: int
    region_id: int
    server: ServerName  # the server whose heartbeat showed the mismatch
    cause: Cause
    detail: str  # what meta said, for a person
    kind: str  # "assign": reopened; "unassign": closed where it was held
    table: str
    at: float  # monotonic

    def describe(self) -> str:
        return f"repair ({self.cause.value}): {self.detail}"


@dataclass(slots=True)
class Verdict:
    """The answer to one heartbeat: the token to send back, whether to ask for the list, the repairs."""

    token: int
    send_regions: bool = False
    effects: Effects = field(default_factory=Effects)
    repairs: list[Repair] = field(default_factory=list)
    compared: bool = False  # a full list was compared with meta


class Reconciler:
    def __init__(
        self, am: AssignmentManager, epoch: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.am = am
        self.epoch = epoch
        self.clock = clock
        self.counts: Counter[str] = Counter()  # repairs by cause
        self.recent: deque[Repair] = deque(maxlen=RECENT)
        self._tick = 0
        self._changed: dict[ServerName, int] = {}  # server -> tick of its regions' last change in meta
        self._explained: dict[ServerName, tuple[int, int, int, int]] = {}

    def _next(self) -> int:
        self._tick += 1
        return self._tick

    def token(self) -> int:
        """A fresh token, for a heartbeat answer sent after changes (a repair's orders): the next digest
        is compared, its repairs' own orders being skipped as in transition until they arrive."""
        return self._next()

    def changed(self, servers: Sequence[ServerName]) -> None:
        """Regions of these servers changed in meta (or orders left for them): their digests taken until
        the next heartbeat answer are not compared."""
        tick = self._next()
        for server in servers:
            self._changed[server] = tick

    def forget(self, server: ServerName) -> None:
        """A server is gone (dead): nothing of it is kept."""
        self._changed.pop(server, None)
        self._explained.pop(server, None)

    def heartbeat(
        self, server: ServerName, digest: HeldDigest | None, held: Sequence[tuple[int, int]] | None
    ) -> Verdict:
        """One heartbeat of live `server`: its digest (None from a server that sends none) and, when the
        master asked for it, every pair it holds. Raise InvalidArgument if the list is not the digest's."""
        verdict = Verdict(token=self._next())
        if held is not None:
            if digest is None:
                raise InvalidArgument(f"server {server}: a list of regions needs the digest it goes with")
            if digest_mod.of(held) != (digest.count, digest.hash):
                raise InvalidArgument(
                    f"server {server}: its list of {len(held)} regions does not match the digest it came "
                    f"with (count {digest.count}, hash {digest.hash:016x})"
                )
        if digest is None or not self._comparable(server, digest):
            return verdict
        mine = self.am.digests.get(server)
        expected = mine.value() if mine is not None else (0, 0)
        if (digest.count, digest.hash) == expected:
            self._explained.pop(server, None)
            return verdict
        key = (digest.count, digest.hash, *expected)
        if held is None:
            verdict.send_regions = self._explained.get(server) != key
            return verdict
        verdict.compared = True
        self._compare(server, held, verdict)
        if verdict.repairs:
            self._explained.pop(server, None)
        else:
            self._explained[server] = key
        return verdict

    def _comparable(self, server: ServerName, digest: HeldDigest) -> bool:
        """Whether every region of `server` is idle in meta since before `digest` was taken."""
        return digest.epoch == self.epoch and digest.token > self._changed.get(server, 0)

    def _compare(self, server: ServerName, held: Sequence[tuple[int, int]], verdict: Verdict) -> None:
        am, now = self.am, self.clock()
        get, waiting = am.regions.get, am.waiting
        closing = set(am.stray_closes.values())  # close orders of earlier repairs, still on their way
        matched = 0
        strays: list[tuple[int, Cause, str, str]] = []  # region id, cause, detail, table
        for region_id, seq in held:
            node = get(region_id)
            if node is None and region_id in closing:
                continue
            if node is None:
                strays.append((region_id, Cause.SERVED_NOWHERE, "no such region in meta", ""))
                continue
            if region_id in closing:
                continue  # being closed by an earlier repair
            if node.proc_id or region_id in waiting:
                # In transition: its procedure's business, unless held under an open sequence number this
                # master never gave. No open of its can replace that one (the server keeps the newest):
                # closed, so that the procedure's next retry of its open is taken.
                if seq >= am.next_open_seq_num:
                    strays.append(
                        (region_id, Cause.SERVED_ELSEWHERE, _meta_says(node, server, seq), node.info.table)
                    )
                continue
            if node.state is S.OPEN and node.server == server and node.open_seq_num == seq:
                matched += 1
                continue
            cause = Cause.SERVED_ELSEWHERE if node.server is not None else Cause.SERVED_NOWHERE
            strays.append((region_id, cause, _meta_says(node, server, seq), node.info.table))
        mine = am.digests.get(server)
        lost = self._lost(server, held) if mine is not None and mine.count > matched else []
        # Held under another open than meta's: a new open replaces the one held if it is newer (open
        # sequence numbers only grow), so reopening is enough. One held under a number this master never
        # gave is closed first; it is found missing, and reopened, at the next comparison.
        held_seq = dict(held)
        lost_ids = {n.region_id for n in lost}
        newest = am.next_open_seq_num
        lost = [n for n in lost if held_seq.get(n.region_id, 0) < newest]
        strays = [s for s in strays if s[0] not in lost_ids or held_seq[s[0]] >= newest]
        if lost:
            details = {n.region_id: _meta_says(n, server, None) for n in lost}
            verdict.effects += am.reassign_lost(lost)
            for node in lost:
                self._record(
                    verdict,
                    Repair(
                        node.proc_id,
                        node.region_id,
                        server,
                        Cause.NOT_SERVED,
                        details[node.region_id],
                        "assign",
                        node.info.table,
                        now,
                    ),
                )
        if strays:
            proc_ids, effects = am.close_strays(server, [rid for rid, _, _, _ in strays])
            verdict.effects += effects
            for proc_id, (region_id, cause, detail, table) in zip(proc_ids, strays, strict=True):
                self._record(
                    verdict, Repair(proc_id, region_id, server, cause, detail, "unassign", table, now)
                )

    def _lost(self, server: ServerName, held: Sequence[tuple[int, int]]) -> list[RegionNode]:
        """Idle regions meta places OPEN on `server` that it does not hold. A pass over every region: taken
        only when the counts say that some are missing, which is rare (a region lost)."""
        pairs = set(held)
        return [
            n
            for n in self.am.regions
            if n.server == server
            and n.state is S.OPEN
            and not n.proc_id
            and (n.region_id, n.open_seq_num) not in pairs
        ]

    def _record(self, verdict: Verdict, repair: Repair) -> None:
        verdict.repairs.append(repair)
        self.recent.append(repair)
        self.counts[repair.cause.value] += 1

    # ---- what list_procedures shows ----

    def running(self, repair: Repair) -> bool:
        if repair.kind == "unassign":
            return repair.proc_id in self.am.stray_closes
        node = self.am.regions.get(repair.region_id)
        return node is not None and node.proc_id == repair.proc_id

    def views(self) -> list[ProcedureView]:
        """The repairs of the last RETAIN_S seconds (running ones first), newest first."""
        now = self.clock()
        views = []
        for repair in reversed(self.recent):
            if now - repair.at > RETAIN_S:
                break
            running = self.running(repair)
            step = repair.describe()
            node = self.am.regions.get(repair.region_id)
            if running and node is not None and repair.kind == "assign":
                step += f"; {node.state.name} on {node.server}"
            views.append(
                ProcedureView(
                    repair.proc_id,
                    repair.kind,
                    step,
                    now - repair.at,
                    repair.region_id,
                    state="RUNNABLE" if running else "SUCCESS",
                    table=repair.table,
                    submitted_age_s=now - repair.at,
                )
            )
        views.sort(key=lambda v: v.state != "RUNNABLE")
        return views


def _meta_says(node: RegionNode, server: ServerName, seq: int | None) -> str:
    held = f"held by {server} under open {seq}" if seq is not None else f"not held by {server}"
    where = f"on {node.server}" if node.server is not None else "on no server"
    return f"region {node.region_id}: {held}; meta: {node.state.name} {where}, open {node.open_seq_num}"
