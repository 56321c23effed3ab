"""The assignment core: the master's decisions about regions, with no I/O in it.

Requests (assign, unassign, move, startup) and outcomes (reports, failed dispatches) go in; Effects come out:
region_state rows to persist and orders to send once they are durable. The I/O shell (master.active) persists
before it sends, so every transient state is in meta before the order that acts on it leaves the master.

One procedure at most per region: `proc_id` != 0 marks it. A region's transition procedure keeps its state
in the region's own region_state row (kind, target, attempts): a step and the region it moves are one write.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from master import placement
from master.errors import (
    InvalidArgument,
    ProcedureNotFound,
    RegionInTransition,
    RegionNotFound,
    TableNotEnabled,
)
from master.regions import RegionMap, RegionNode
from master.servers import ServerManager
from meta import RegionInfo, RegionState, ServerName, TransitKind
from meta.codec import ROW_HEAD, ROW_VERSION, intern_server, server_bytes
from meta.digest import Digest
from meta.states import ASSIGNABLE, transition, transition_many

S = RegionState
#: Transit kinds whose regions are held by a split_region or merge_regions procedure (master.split_assign).
HELD_KINDS = frozenset({TransitKind.SPLIT, TransitKind.MERGE})
#: States in which a region is (or may be) on its server: a server's death recovers them.
_ON_SERVER = frozenset({S.OPEN, S.OPENING, S.CLOSING, S.SPLITTING, S.MERGING})


@dataclass(slots=True)
class OpenOrders:
    """Opens for one server, columnar: the i-th entry of each list is one open."""

    region_ids: list[int] = field(default_factory=list)
    proc_ids: list[int] = field(default_factory=list)
    open_seq_nums: list[int] = field(default_factory=list)
    infos: list[RegionInfo] = field(default_factory=list)

    def add(self, node: RegionNode) -> None:
        self.region_ids.append(node.region_id)
        self.proc_ids.append(node.proc_id)
        self.open_seq_nums.append(node.open_seq_num)
        self.infos.append(node.info)

    def extend(self, other: OpenOrders) -> None:
        self.region_ids += other.region_ids
        self.proc_ids += other.proc_ids
        self.open_seq_nums += other.open_seq_nums
        self.infos += other.infos


@dataclass(slots=True)
class CloseOrders:
    region_ids: list[int] = field(default_factory=list)
    proc_ids: list[int] = field(default_factory=list)
    #: Where each region goes (a move's or reopen's target), None where unknown: the server tells a late
    #: client "moved to X" (data.proto, RegionError.MOVED).
    destinations: list[ServerName | None] = field(default_factory=list)

    def add(self, node: RegionNode) -> None:
        self.region_ids.append(node.region_id)
        self.proc_ids.append(node.proc_id)
        moving = node.kind is TransitKind.MOVE or node.kind is TransitKind.REOPEN
        self.destinations.append(node.target if moving else None)

    def extend(self, other: CloseOrders) -> None:
        self.region_ids += other.region_ids
        self.proc_ids += other.proc_ids
        self.destinations += other.destinations or [None] * len(other.region_ids)


@dataclass(slots=True)
class Effects:
    """What a decision needs done: rows made durable first, then orders sent."""

    rows: list[tuple[bytes, bytes]] = field(default_factory=list)
    opens: dict[ServerName, OpenOrders] = field(default_factory=dict)
    closes: dict[ServerName, CloseOrders] = field(default_factory=dict)

    def open(self, server: ServerName, node: RegionNode) -> None:
        orders = self.opens.get(server)
        if orders is None:
            orders = self.opens[server] = OpenOrders()
        orders.add(node)

    def close(self, server: ServerName, node: RegionNode) -> None:
        orders = self.closes.get(server)
        if orders is None:
            orders = self.closes[server] = CloseOrders()
        orders.add(node)

    def __iadd__(self, other: Effects) -> Effects:
        self.rows += other.rows
        for server, opens in other.opens.items():
            self.opens.setdefault(server, OpenOrders()).extend(opens)
        for server, closes in other.closes.items():
            self.closes.setdefault(server, CloseOrders()).extend(closes)
        return self

    def __bool__(self) -> bool:
        return bool(self.rows or self.opens or self.closes)


#: Open sequence numbers a FAILED_OPEN may raise the counter to: far beyond any real count, and far from
#: the end of uint64, so that a forged number cannot exhaust them.
MAX_OPEN_SEQ = 2**62
OPENED, FAILED_OPEN, CLOSED = 1, 2, 3  # TransitionCode numbers of protos/regent/proto/master.proto


class AssignmentManager:
    def __init__(
        self,
        regions: RegionMap,
        servers: ServerManager,
        *,
        max_attempts: int = 10,
        next_proc_id: int = 1,
        next_open_seq_num: int = 1,
        stuck_after_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        table_enabled: Callable[[str], bool] = lambda table: True,
    ) -> None:
        self.regions = regions
        self.servers = servers
        self.max_attempts = max_attempts
        self.stuck_after_s = stuck_after_s
        self.clock = clock
        self.table_enabled = table_enabled
        self.stamps: dict[int, float] = {}  # region id -> time of its procedure's last step, oldest first
        self.retries: dict[int, int] = {}  # region id -> orders re-sent for its current step
        self.next_proc_id = next_proc_id
        self.next_open_seq_num = next_open_seq_num
        self.load: Counter[ServerName] = Counter()  # regions open or opening on each server
        self.by_state: Counter[RegionState] = Counter()
        self.in_transition: dict[int, RegionNode] = {}
        self.waiting: dict[int, RegionNode] = {}  # to be assigned when a server is available
        # per server, the digest of the regions meta places OPEN on it (meta.digest; master.reconcile)
        self.digests: dict[ServerName, Digest] = {}
        self.stray_closes: dict[int, int] = {}  # procedure id -> region id of reconciliation's close orders
        # C-level passes: a master taking over a million regions spends well under a second here.
        self.by_state.update(n.state for n in regions)
        self.load.update(n.server for n in regions if n.server is not None and n.state in (S.OPEN, S.OPENING))
        self.in_transition.update((n.region_id, n) for n in regions if n.proc_id)
        for node in [n for n in regions if n.state is S.OPEN and n.server is not None]:
            self._digest(node).add(node.region_id, node.open_seq_num)

    # ---- requests ----

    def assign(self, region_id: int, server: ServerName | None = None) -> tuple[int, Effects]:
        node = self._idle(region_id)
        if not self.table_enabled(node.info.table):
            raise TableNotEnabled(
                f"region {region_id} belongs to table {node.info.table!r}, which is not enabled: "
                "enable the table to assign its regions"
            )
        if node.state not in ASSIGNABLE:
            raise InvalidArgument(
                f"region {region_id} is {node.state.name}: assign needs one of "
                + ", ".join(sorted(s.name for s in ASSIGNABLE))
            )
        target = server or self._pick()  # before attaching: no live server must leave no procedure behind
        effects = Effects()
        proc_id = self._attach(node, TransitKind.ASSIGN)
        node.attempts = 0
        self._open(node, target, effects)
        return proc_id, effects

    def unassign(self, region_id: int) -> tuple[int, Effects]:
        node = self._idle(region_id)
        self._need_open(node, "unassign")
        effects = Effects()
        proc_id = self._attach(node, TransitKind.UNASSIGN)
        self._close(node, effects)
        return proc_id, effects

    def move(self, region_id: int, server: ServerName | None = None) -> tuple[int, Effects]:
        node = self._idle(region_id)
        self._need_open(node, "move")
        if server is not None and server == node.server:
            raise InvalidArgument(f"region {region_id} is already open on {server}")
        effects = Effects()
        proc_id = self._attach(node, TransitKind.MOVE)
        node.target = server
        self._close(node, effects)
        return proc_id, effects

    def close_many(self, nodes: Sequence[RegionNode], kind: TransitKind = TransitKind.UNASSIGN) -> Effects:
        """Close many idle OPEN regions at once (a table disabled: UNASSIGN; reopened: REOPEN, which opens
        each again on the server it was on). Each gets its own procedure id, batched orders per server."""
        effects = Effects()
        if any(node.proc_id for node in nodes):
            busy = next(node for node in nodes if node.proc_id)
            raise RegionInTransition(f"region {busy.region_id} is under procedure {busy.proc_id}")
        self.by_state.subtract(transition_many(nodes, S.CLOSING))
        self.by_state[S.CLOSING] += len(nodes)
        now, rows = self.clock(), effects.rows
        for node in nodes:
            self._digest(node).remove(node.region_id, node.open_seq_num)
            self._attach(node, kind)
            node.target = node.server if kind is TransitKind.REOPEN else None
            self._stamp(node, now)
            rows.append(node.row())
            assert node.server is not None
            effects.close(node.server, node)
        return effects

    def forget_waiting(self, nodes: Iterable[RegionNode]) -> None:
        """These regions are no longer to be assigned when a server comes (their table is being disabled
        or deleted)."""
        for node in nodes:
            self.waiting.pop(node.region_id, None)

    def remove(self, nodes: Sequence[RegionNode]) -> None:
        """Forget idle regions whose rows are being deleted (a table deleted or truncated)."""
        for node in nodes:
            if node.proc_id:
                raise RegionInTransition(f"region {node.region_id} is under procedure {node.proc_id}")
            self.waiting.pop(node.region_id, None)
            self.by_state[node.state] -= 1
            if node.state is S.OPEN and node.server is not None:
                self._digest(node).remove(node.region_id, node.open_seq_num)
            if node.server is not None and node.state in (S.OPEN, S.OPENING) and self.load[node.server] > 0:
                self.load[node.server] -= 1
        self.regions.remove(nodes)

    def add(self, nodes: Sequence[RegionNode]) -> None:
        """New regions (a table created or truncated), never assigned yet."""
        self.regions.add(nodes)
        self.by_state.update(node.state for node in nodes)

    def assign_all(self, nodes: Sequence[RegionNode]) -> Effects:
        """Assign many idle regions at once (startup, new tables): retain, else even contiguous spreads.

        The hot path of a million-region startup: one pass, no objects per region beyond the row bytes.
        """
        effects = Effects()
        live = self.servers.targets()  # live and not decommissioned
        if not live:
            self.waiting.update((n.region_id, n) for n in nodes)
            return effects
        for server, chunk in placement.plan(nodes, live, self.load).items():
            self._open_many(chunk, server, effects)
        return effects

    def plan(self, nodes: Sequence[RegionNode]) -> dict[ServerName, list[RegionNode]]:
        """Where `nodes` would go now (retain, else even contiguous spreads); they wait until opened."""
        self.waiting.update((n.region_id, n) for n in nodes)
        return placement.plan(nodes, self.servers.targets(), self.load)

    def open_chunk(self, server: ServerName, nodes: Sequence[RegionNode]) -> Effects:
        """Open planned regions on `server` (a chunk of a plan: the startup pipelines these).

        Only regions still waiting are opened: between the plan and this chunk, assign_waiting (a server
        registered) may have assigned some of them already.
        """
        effects = Effects()
        pop = self.waiting.pop
        chunk = [node for node in nodes if pop(node.region_id, None) is not None and not node.proc_id]
        if chunk:
            self._open_many(chunk, server, effects)
        return effects

    def take_over(self, nodes: Iterable[RegionNode]) -> tuple[Effects, list[RegionNode]]:
        """A master became active: decide for each region what happens to it.

        Open on a live incarnation: stays. In transition on a live server: its order is sent again (the
        server de-duplicates by procedure id). On a server that is gone: recovered as after a crash (see
        _recover). Idle and not open, in an enabled table: to be assigned. Return the effects and the
        regions to assign.
        """
        effects = Effects()
        to_assign: list[RegionNode] = []
        live = self.servers.is_live
        enabled: dict[str, bool] = {}  # table_enabled, asked once per table rather than once per region
        for node in nodes:
            state, server = node.state, node.server
            if state in (S.SPLIT, S.MERGED) or node.info.offline:
                continue
            if node.proc_id and node.kind in HELD_KINDS:  # its split or merge procedure decides
                self._held_take_over(node, effects)
                continue
            if server is not None and live(server):
                if state is S.OPEN:
                    continue
                if node.proc_id and state is S.OPENING:
                    effects.open(server, node)
                    self._stamp(node)  # so that stuck() sends it again if this order is lost too
                    continue
                if node.proc_id and state is S.CLOSING:
                    effects.close(server, node)
                    self._stamp(node)
                    continue
            if state in (S.OPEN, S.OPENING, S.CLOSING):
                self._recover(node, effects, to_assign)
                continue
            in_flight = node.proc_id != 0
            if in_flight:
                self._detach(node)
            if self._resumes(node, in_flight):
                table = node.info.table
                ok = enabled.get(table)
                if ok is None:
                    ok = enabled[table] = self.table_enabled(table)
                if ok:
                    to_assign.append(node)
        return effects, to_assign

    def _resumes(self, node: RegionNode, in_flight: bool) -> bool:
        """Whether an idle region is assigned when a master takes over (as HBase does at startup).

        Yes: never assigned (OFFLINE), left by a crash (ABNORMALLY_CLOSED), an assign or move that was in
        flight, and a FAILED_OPEN that failed for want of any live server (its attempts are not used up).
        No: CLOSED by an unassign (an operator's decision outlives the master), and a FAILED_OPEN whose
        attempts are used up (an operator fixes the cause, then assigns it).
        """
        state = node.state
        if state not in ASSIGNABLE:
            return False
        if in_flight or state is S.OFFLINE or state is S.ABNORMALLY_CLOSED:
            return True
        return state is S.FAILED_OPEN and node.attempts < self.max_attempts

    def server_dead(self, server: ServerName) -> Effects:
        """`server` died: every region it held or was opening or closing is recovered (batched, contiguous).

        The caller expired the server first, so nothing is placed on it again. `server` may be any equal
        name: it is replaced by the shared one (meta.codec.intern_server), which the loop compares by
        identity.
        """
        server = intern_server(server)
        effects = Effects()
        to_assign: list[RegionNode] = []
        for node in self.regions:
            if node.server is server and node.state in _ON_SERVER:
                self._recover(node, effects, to_assign)
        self.load.pop(server, None)
        self.digests.pop(server, None)
        effects += self.assign_all(to_assign)
        return effects

    def _recover(self, node: RegionNode, effects: Effects, to_assign: list[RegionNode]) -> None:
        """The server of an OPEN, OPENING or CLOSING region is gone: the region is ABNORMALLY_CLOSED, then

        - an unassign in flight, or any region of a table that is not enabled, ends CLOSED;
        - an assign or move in flight carries on, same procedure, on the move's target or another server;
        - an idle region goes to `to_assign` (a new assign, batched by the caller).
        node.server stays as the region's last location, so a later assign may retain it. A split or
        merge parent stays with its procedure (_held_died).
        """
        if node.proc_id and node.kind in HELD_KINDS:
            self._held_died(node, effects)
            return
        self._to(node, S.ABNORMALLY_CLOSED)
        gone = node.server
        if node.kind is TransitKind.UNASSIGN or not self.table_enabled(node.info.table):
            self._to(node, S.CLOSED)
            self._detach(node)
            effects.rows.append(node.row())
            return
        if not node.proc_id:
            # Persisted now, not only when it is assigned: the assign may wait for a server (take_over's
            # plan, no live server), and meta must not say OPEN on a dead server meanwhile.
            effects.rows.append(node.row())
            to_assign.append(node)
            return
        target = node.target if node.kind is TransitKind.MOVE else None
        if target is not None and not self.servers.is_live(target):
            target = None
        try:
            self._open(node, target or self._pick(avoid=gone), effects)
        except InvalidArgument:  # no server is live: the region waits for one
            self._detach(node)
            self.waiting[node.region_id] = node
            effects.rows.append(node.row())

    def stuck(self, now: float) -> Effects:
        """Procedures with no progress for `stuck_after_s` (doubling per retry): their order is sent again.

        Never forgotten: a region stays here until its procedure ends or an operator bypasses it.
        """
        effects = Effects()
        due = []
        for region_id, stamp in self.stamps.items():
            if now - stamp < self.stuck_after_s:
                break  # stamps are kept in time order: the rest is younger
            due.append((region_id, stamp))
        for region_id, stamp in due:
            node = self.regions.get(region_id)
            if node is None or not node.proc_id or node.server is None:
                del self.stamps[region_id]
                continue
            retries = self.retries.get(region_id, 0)
            if now - stamp < min(self.stuck_after_s * 2**retries, 300.0):
                continue
            if node.state is S.OPENING:
                effects.open(node.server, node)
            elif node.state is S.CLOSING:
                effects.close(node.server, node)
            self.retries[region_id] = retries + 1
            self._stamp(node, now)
        return effects

    def bypass(self, proc_id: int) -> Effects:
        """Force the region transition procedure `proc_id` to end (HBCK2's bypass), for a stuck region.

        The region is marked ABNORMALLY_CLOSED where it was in flight (it may or may not be open on its
        server: a close is sent to be sure) and left without procedure, for the operator to assign.
        """
        node = next((n for n in self.in_transition.values() if n.proc_id == proc_id), None)
        if node is None:
            raise ProcedureNotFound(f"no region transition procedure {proc_id} is running")
        effects = Effects()
        server = node.server
        if node.state in (S.OPENING, S.CLOSING):
            self._to(node, S.ABNORMALLY_CLOSED)
            if server is not None and self.servers.is_live(server):
                effects.close(server, node)
        self._detach(node)
        effects.rows.append(node.row())
        return effects

    # ---- repairs (master.reconcile decides which) ----

    def reassign_lost(self, nodes: Sequence[RegionNode]) -> Effects:
        """Idle OPEN regions that their (live) server does not serve: recovered as after that server's crash
        (ABNORMALLY_CLOSED, then assigned again, retaining the server if it is the best place; CLOSED if
        their table is not enabled). Each gets a new assign procedure."""
        effects = Effects()
        to_assign: list[RegionNode] = []
        for node in nodes:
            if node.proc_id or node.state is not S.OPEN or node.server is None:
                raise RegionInTransition(f"region {node.region_id} is not idle and OPEN: {node!r}")
            if self.load[node.server] > 0:
                self.load[node.server] -= 1  # no longer open there; node.server stays as its last location
            self._recover(node, effects, to_assign)
        effects += self.assign_all(to_assign)
        return effects

    def close_strays(self, server: ServerName, region_ids: Sequence[int]) -> tuple[list[int], Effects]:
        """Close orders for regions `server` serves where meta does not place them: each with a new procedure
        id, attached to no region (meta has the region elsewhere, or nowhere), its CLOSED report taken
        without effect. Return the procedure ids and the effects."""
        effects = Effects()
        orders = effects.closes.setdefault(server, CloseOrders())
        proc_ids = []
        for region_id in region_ids:
            proc_id = self.next_proc_id
            self.next_proc_id += 1
            orders.region_ids.append(region_id)
            orders.proc_ids.append(proc_id)
            self.stray_closes[proc_id] = region_id
            proc_ids.append(proc_id)
        return proc_ids, effects

    def assign_waiting(self) -> Effects:
        """Assign the regions that were waiting for a server, if one is live now."""
        if not self.waiting or not self.servers.live():
            return Effects()
        nodes = sorted(self.waiting.values(), key=lambda n: n.region_id)
        self.waiting.clear()
        return self.assign_all(nodes)

    # ---- outcomes ----

    def report(
        self,
        server: ServerName,
        code: int,
        region_ids: Sequence[int],
        proc_ids: Sequence[int],
        open_seq_nums: Sequence[int],
    ) -> tuple[list[tuple[int, str]], Effects]:
        """Apply a batch of reported outcomes from `server` (a live incarnation: the caller checked).

        Return the rejected (index, reason) pairs and the effects of the accepted ones. A report is accepted
        only from the procedure's target server with the matching procedure id; a repeat of an outcome
        already applied is accepted again without effect (a retried report).
        """
        rejected: list[tuple[int, str]] = []
        effects = Effects()
        seqs = open_seq_nums if len(open_seq_nums) == len(region_ids) else [0] * len(region_ids)
        if code == OPENED:
            self._opened(server, region_ids, proc_ids, seqs, rejected, effects)
        else:
            self._report_each(
                server, code, range(len(region_ids)), region_ids, proc_ids, seqs, rejected, effects
            )
        return rejected, effects

    def _opened(
        self,
        server: ServerName,
        region_ids: Sequence[int],
        proc_ids: Sequence[int],
        seqs: Sequence[int],
        rejected: list[tuple[int, str]],
        effects: Effects,
    ) -> None:
        """OPENED reports, the hot path of assignment: regions whose report matches their procedure exactly
        are finished here in one tight loop; anything else goes through _report_each."""
        get, pop, pop_stamp, rows = self.regions.get, self.in_transition.pop, self.stamps.pop, effects.rows
        retries = self.retries
        opening, opened_state, none = S.OPENING, S.OPEN, TransitKind.NONE
        server_raw = server_bytes(server)
        pack, n_server = ROW_HEAD.pack, len(server_raw)
        others: list[int] = []
        matched: list[RegionNode] = []
        match = matched.append
        for i, (region_id, proc_id, seq) in enumerate(zip(region_ids, proc_ids, seqs, strict=True)):
            node = get(region_id)
            if (
                node is None
                or node.proc_id != proc_id
                or node.state is not opening
                or node.open_seq_num != seq
                or (node.server is not server and node.server != server)
            ):
                others.append(i)
            else:
                match(node)
        transition_many(matched, opened_state)
        for node in matched:
            region_id = node.region_id
            node.proc_id, node.kind, node.attempts, node.target = 0, none, 0, None
            pop(region_id, None)
            pop_stamp(region_id, None)
            if retries:
                retries.pop(region_id, None)
            rows.append(
                (
                    region_id.to_bytes(8, "big"),
                    pack(ROW_VERSION, opened_state, 0, 0, 0, node.open_seq_num, n_server, 0) + server_raw,
                )
            )
        self.by_state[opening] -= len(matched)
        self.by_state[opened_state] += len(matched)
        if matched:  # now OPEN on `server`: into its digest, by C-level sums over the columns
            digest = self.digests.setdefault(server, Digest())
            if others:
                digest.add_batch([n.region_id for n in matched], [n.open_seq_num for n in matched])
            else:
                digest.add_batch(region_ids, seqs)
        if others:
            self._report_each(server, OPENED, others, region_ids, proc_ids, seqs, rejected, effects)

    def _report_each(
        self,
        server: ServerName,
        code: int,
        indexes: Iterable[int],
        region_ids: Sequence[int],
        proc_ids: Sequence[int],
        seqs: Sequence[int],
        rejected: list[tuple[int, str]],
        effects: Effects,
    ) -> None:
        get, strays = self.regions.get, self.stray_closes
        for i in indexes:
            region_id, proc_id, seq = region_ids[i], proc_ids[i], seqs[i]
            if code == CLOSED and strays and strays.get(proc_id) == region_id:
                del strays[proc_id]  # a repair's close order, carried out
                continue
            node = get(region_id)
            if node is None:
                rejected.append((i, f"region {region_id} is unknown"))
            elif node.proc_id != proc_id or node.server != server:
                if not (
                    code == OPENED
                    and node.state is S.OPEN
                    and node.server == server
                    and node.open_seq_num == seq
                ):
                    rejected.append((i, self._stale(node, server, proc_id)))
            elif code == OPENED:
                if node.state is not S.OPENING or seq != node.open_seq_num:
                    rejected.append(
                        (
                            i,
                            f"region {region_id} is {node.state.name} with open sequence "
                            f"number {node.open_seq_num}; OPENED reported {seq}",
                        )
                    )
                    continue
                self._to(node, S.OPEN)
                self._detach(node)
                effects.rows.append(node.row())
            elif code == FAILED_OPEN:
                if node.state is not S.OPENING:
                    rejected.append((i, f"region {region_id} is {node.state.name}, not OPENING"))
                    continue
                if self.next_open_seq_num <= seq < MAX_OPEN_SEQ:
                    # fenced by an open this master never gave (a forged order; meta restored from a
                    # backup): the retry must be newer still, or every retry is fenced again
                    self.next_open_seq_num = seq + 1
                self._retry_open(node, effects)
            elif code == CLOSED:
                if node.state is not S.CLOSING:
                    rejected.append((i, f"region {region_id} is {node.state.name}, not CLOSING"))
                    continue
                self._closed(node, effects)
            else:
                rejected.append((i, f"unknown transition code {code}"))

    def dispatch_failed(self, server: ServerName, opens: OpenOrders, closes: CloseOrders) -> Effects:
        """Orders that could not be delivered to `server`: opens are retried elsewhere, without counting an
        attempt (the open did not fail, it never arrived: no number of unreachable servers may leave a region
        FAILED_OPEN). Undelivered closes stay with the server: if it is dead, its crash procedure owns the
        region."""
        effects = Effects()
        for region_id, proc_id in zip(opens.region_ids, opens.proc_ids, strict=True):
            node = self.regions.get(region_id)
            if (
                node is not None
                and node.proc_id == proc_id
                and node.state is S.OPENING
                and node.server == server
            ):
                self._retry_open(node, effects, failed=False)
        return effects

    # ---- queries ----

    def regions_in_transition(self, limit: int | None = None) -> list[RegionNode]:
        """Regions with a procedure attached (at most `limit`), by procedure id.

        With a limit, these are the first `limit` attached while this master was active (procedures it
        inherited come first, in region order): not a scan of every region in transition, which during a
        million-region startup would cost a quarter of a second per status call.
        """
        nodes = self.in_transition.values()
        return sorted(itertools.islice(nodes, limit), key=lambda n: n.proc_id)

    def settled(self) -> bool:
        """Nothing in transition and nothing waiting for a server."""
        return not self.in_transition and not self.waiting

    # ---- steps ----

    def _idle(self, region_id: int) -> RegionNode:
        node = self.regions.get(region_id)
        if node is None:
            raise RegionNotFound(f"region {region_id} does not exist")
        if node.proc_id:
            raise RegionInTransition(
                f"region {region_id} is {node.state.name} under procedure {node.proc_id} "
                f"({node.kind.name.lower()}): one procedure at a time, try again when it is done"
            )
        if node.region_id in self.waiting:
            raise RegionInTransition(f"region {region_id} is waiting for a RegionServer to be assigned to")
        return node

    @staticmethod
    def _need_open(node: RegionNode, what: str) -> None:
        if node.state is not S.OPEN:
            raise InvalidArgument(f"region {node.region_id} is {node.state.name}: {what} needs it OPEN")

    def _pick(self, avoid: ServerName | None = None) -> ServerName:
        server = placement.pick(self.servers.targets(), self.load, avoid)
        if server is None:
            raise InvalidArgument(
                "no RegionServer can take regions (none is live, or every live one is decommissioned): "
                "nothing can be assigned now"
            )
        return server

    def _attach(self, node: RegionNode, kind: TransitKind) -> int:
        node.proc_id = self.next_proc_id
        self.next_proc_id += 1
        node.kind = kind
        self.in_transition[node.region_id] = node
        return node.proc_id

    def _stamp(self, node: RegionNode, now: float | None = None) -> None:
        """Record a step of the region's procedure (moves it to the end: stamps stay in time order)."""
        self.stamps.pop(node.region_id, None)
        self.stamps[node.region_id] = self.clock() if now is None else now

    def _detach(self, node: RegionNode) -> None:
        node.proc_id = 0
        node.kind = TransitKind.NONE
        node.attempts = 0
        node.target = None
        self.in_transition.pop(node.region_id, None)
        self.stamps.pop(node.region_id, None)
        self.retries.pop(node.region_id, None)

    def _to(self, node: RegionNode, state: RegionState) -> None:
        previous = node.state
        transition(node, state)
        self.by_state[previous] -= 1
        self.by_state[state] += 1
        if node.server is not None and (previous is S.OPEN or state is S.OPEN):
            digest = self._digest(node)
            (digest.remove if previous is S.OPEN else digest.add)(node.region_id, node.open_seq_num)

    def _digest(self, node: RegionNode) -> Digest:
        assert node.server is not None
        digest = self.digests.get(node.server)
        if digest is None:
            digest = self.digests[node.server] = Digest()
        return digest

    def _set_server(self, node: RegionNode, server: ServerName | None) -> None:
        if node.server is not None and self.load[node.server] > 0:
            self.load[node.server] -= 1
        node.server = server
        if server is not None:
            self.load[server] += 1

    def _open(self, node: RegionNode, server: ServerName, effects: Effects) -> None:
        self._to(node, S.OPENING)
        self._set_server(node, server)
        node.open_seq_num = self.next_open_seq_num
        self.next_open_seq_num += 1
        self._stamp(node)
        self.retries.pop(node.region_id, None)
        effects.rows.append(node.row())
        effects.open(server, node)

    def _open_many(self, nodes: Sequence[RegionNode], server: ServerName, effects: Effects) -> None:
        """_open for many regions onto one server, with the per-region work cut to the bone."""
        rows = effects.rows
        server_raw = server_bytes(server)
        pack, n_server = ROW_HEAD.pack, len(server_raw)
        opening, assign, in_transition, load = S.OPENING, TransitKind.ASSIGN, self.in_transition, self.load
        by_state, stamps, now = self.by_state, self.stamps, self.clock()
        proc_id, seq = self.next_proc_id, self.next_open_seq_num
        if any(node.proc_id for node in nodes):
            busy = next(node for node in nodes if node.proc_id)
            raise RegionInTransition(f"region {busy.region_id} is under procedure {busy.proc_id}")
        by_state.subtract(transition_many(nodes, opening))  # nothing OPEN may go OPENING: no load to move
        for node in nodes:
            node.server, node.target = server, None
            node.proc_id, node.kind, node.open_seq_num, node.attempts = proc_id, assign, seq, 0
            in_transition[node.region_id] = node
            stamps[node.region_id] = now
            # pack_region_state, inlined: this line runs once per region of a startup
            rows.append(
                (
                    node.region_id.to_bytes(8, "big"),
                    pack(ROW_VERSION, opening, assign, 0, proc_id, seq, n_server, 0) + server_raw,
                )
            )
            proc_id += 1
            seq += 1
        orders = effects.opens.setdefault(server, OpenOrders())
        orders.region_ids += [n.region_id for n in nodes]
        orders.proc_ids += range(self.next_proc_id, proc_id)
        orders.open_seq_nums += range(self.next_open_seq_num, seq)
        orders.infos += [n.info for n in nodes]
        by_state[opening] += len(nodes)
        load[server] += len(nodes)
        self.next_proc_id, self.next_open_seq_num = proc_id, seq

    def _close(self, node: RegionNode, effects: Effects) -> None:
        self._to(node, S.CLOSING)
        self._stamp(node)
        effects.rows.append(node.row())
        assert node.server is not None
        effects.close(node.server, node)

    def _closed(self, node: RegionNode, effects: Effects) -> None:
        source = node.server
        self._to(node, S.CLOSED)
        self._set_server(node, None)
        if node.kind in HELD_KINDS:
            self._held_closed(node, source, effects)
            return
        if node.kind is TransitKind.REOPEN:  # back where it was if that server is still live
            target = node.target if node.target and self.servers.is_live(node.target) else None
            node.target = None
            try:
                self._open(node, target or self._pick(), effects)
            except InvalidArgument:  # no server is live: the region waits for one
                self._detach(node)
                self.waiting[node.region_id] = node
                effects.rows.append(node.row())
            return
        if node.kind is TransitKind.MOVE:
            target = node.target if node.target and self.servers.is_live(node.target) else None
            node.target = None
            try:  # a move without a target goes anywhere but where it was, if there is anywhere else
                self._open(node, target or self._pick(avoid=source), effects)
            except InvalidArgument:  # no server is live: the region waits for one
                self._detach(node)
                self.waiting[node.region_id] = node
                effects.rows.append(node.row())
            return
        self._detach(node)
        node.target = source  # its last location: a later assign (a table enabled again) retains it
        effects.rows.append(node.row())

    # ---- regions held by a split or merge procedure (master.split_assign has the rest) ----

    def _held_closed(self, node: RegionNode, source: ServerName | None, effects: Effects) -> None:
        """A split/merge parent's CLOSED report was accepted: CLOSED, and still attached to its procedure."""
        self.stamps.pop(node.region_id, None)
        self.retries.pop(node.region_id, None)
        node.target = source  # its last location: a rollback opens it there again
        effects.rows.append(node.row())

    def _held_died(self, node: RegionNode, effects: Effects) -> None:
        """The server of a split/merge parent died: ABNORMALLY_CLOSED and still attached (never reassigned
        by crash recovery: its procedure takes it as closed, or reopens it when rolling back)."""
        if node.state is not S.ABNORMALLY_CLOSED:
            self._to(node, S.ABNORMALLY_CLOSED)
        self.stamps.pop(node.region_id, None)
        self.retries.pop(node.region_id, None)
        node.target = node.server
        effects.rows.append(node.row())

    def _held_take_over(self, node: RegionNode, effects: Effects) -> None:
        """A master took over a split/merge parent or child: its close is sent again if it is CLOSING on a
        live server; one whose server is gone is ABNORMALLY_CLOSED; anything else waits for its procedure."""
        live = node.server is not None and self.servers.is_live(node.server)
        if node.state is S.CLOSING and live:
            assert node.server is not None
            effects.close(node.server, node)
            self._stamp(node)
        elif node.state in _ON_SERVER and not live:
            self._held_died(node, effects)

    def _retry_open(self, node: RegionNode, effects: Effects, *, failed: bool = True) -> None:
        failed_on = node.server
        if failed:  # the open failed on the server (not: the order could not be delivered)
            node.attempts += 1
        if node.attempts >= self.max_attempts:
            self._to(node, S.FAILED_OPEN)
            self._set_server(node, None)
            self._detach(node)
            node.attempts = self.max_attempts
            effects.rows.append(node.row())
            return
        try:
            server = self._pick(avoid=failed_on)
        except InvalidArgument:
            self._to(node, S.FAILED_OPEN)
            self._set_server(node, None)
            self._detach(node)
            self.waiting[node.region_id] = node
            effects.rows.append(node.row())
            return
        self._open(node, server, effects)

    @staticmethod
    def _stale(node: RegionNode, server: ServerName, proc_id: int) -> str:
        where = f"on {node.server}" if node.server else "on no server"
        proc = f"procedure {node.proc_id}" if node.proc_id else "no procedure"
        return (
            f"stale report for region {node.region_id} from {server} (procedure {proc_id}): "
            f"the region is {node.state.name} {where} with {proc}"
        )
