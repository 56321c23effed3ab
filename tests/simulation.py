"""A deterministic, seeded simulation of the assignment core: no sockets, no LMDB, one process.

The REAL AssignmentManager, ServerManager (on a simulated clock) and Hosting are driven by a thin shell that
follows the rules of the I/O shells they run in (master.active.ActiveMaster, master.dispatch.Dispatcher,
regionserver.daemon.RegionServer):

- meta is a dict of region_state rows (plus counters, server records and server crash procedures); effects are
  applied as ActiveMaster.apply does: rows durable first, orders sent after;
- a report or heartbeat is processed only from a server ServerManager holds live; otherwise it is answered
  "you are dead" (the server stops serving and exits) or "not registered" (it registers again);
- leases expire on the master's side (chores), and every RegionServer bounds its own lease as the daemon does
  (from the time its acknowledged heartbeat was *sent*, two thirds of a lease);
- a master crash loses the master's memory; the next one is rebuilt from meta and runs ActiveMaster._startup
  (wait for servers, server crashes for those that did not come back, take_over, plan, open_chunk, ...);
- a RegionServer crash loses its Hosting; it restarts later with a new startcode on the same address.

Message faults: every message goes through one queue from which the seeded RNG picks what is delivered
(so messages are delayed and reordered); messages may be lost or duplicated. Orders may be lost silently
(harsher than the real dispatcher, which always learns of a failure), fail visibly (dispatch_failed), or be
executed and still fail visibly (the answer was lost). A RegionServer keeps its in-flight report until it is
answered, and on a timeout registers again and re-sends the same report (RegionServer._call).

`Simulation.run()` asserts after every step: (1) at most one live RegionServer serves any region; (2) every
RegionNode's row() equals meta's row; and, once faults stop, (3) every region ends OPEN on a live server that
serves it, with no procedure attached, within a bounded number of steps. A failure names the seed and tells
the story of the offending region.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from master.assignment import AssignmentManager, CloseOrders, Effects, OpenOrders
from master.errors import InvalidArgument, RegionInTransition
from master.regions import RegionMap, RegionNode
from master.servers import ServerManager
from meta import RegionInfo, RegionState, ServerName
from meta.codec import decode_region_state, intern_server, pack_region_state
from regionserver.hosting import OPENED, Hosting, Report

S = RegionState
STEP_S = 0.25  # simulated seconds per step
HEARTBEAT_S = 1.0
LEASE_S = 3.0
RPC_TIMEOUT_S = 2.0
STUCK_AFTER_S = 3.0
GRACE_S = 3.0
STARTUP_CHUNK = 4  # regions per startup order: small, so that the startup pipeline interleaves with the rest
REPORT_LIMIT = 8
TABLE = "t"


@dataclass(slots=True)
class Faults:
    """Probabilities per message (loss, dup, order fates) or per step (crashes, partitions, admin)."""

    loss: float = 0.05
    dup: float = 0.05
    deliver: float = 0.6  # chance a ready message is delivered in a step (the rest wait: delay, reorder)
    max_delay: int = 6  # steps
    order_lost: float = 0.03  # silently: nothing executes, nobody is told
    order_failed: float = 0.03  # not executed, the dispatcher gives it back as failed
    order_executed_failed: float = 0.03  # executed, yet the dispatcher gives it back as failed
    rs_crash: float = 0.004
    rs_restart: float = 0.05
    partition: float = 0.004  # a RegionServer cut off (or paused) for a while
    partition_steps: tuple[int, int] = (4, 30)
    master_crash: float = 0.003
    master_crash_mid_crash_procedure: float = 0.1
    master_down_steps: tuple[int, int] = (1, 12)
    admin: float = 0.08


QUIET = Faults(0, 0, 1.0, 0, 0, 0, 0, 0, 1.0, 0, (0, 0), 0, 0, (0, 0), 0)


@dataclass(slots=True)
class Msg:
    ready: int
    kind: str
    to: str  # "master" or a RegionServer address
    gen: int  # the master incarnation this message belongs to
    data: tuple[Any, ...]


@dataclass(slots=True)
class Meta:
    """What a master persisted: region_state rows, counters, server records, server crash procedures."""

    rows: dict[int, bytes] = field(default_factory=dict)
    next_proc_id: int = 1
    next_open_seq_num: int = 1
    epoch: int = 0
    servers: dict[str, tuple[ServerName, bool]] = field(default_factory=dict)  # address -> (name, dead)
    crashes: dict[int, ServerName] = field(default_factory=dict)  # proc id -> server


class SimServer:
    """One RegionServer address: the incarnation running there (if any), as regionserver.daemon runs it."""

    def __init__(self, address: str, host: str, port: int) -> None:
        self.address, self.host, self.port = address, host, port
        self.name: ServerName | None = None
        self.hosting: Hosting | None = None
        self.epoch = 0
        self.lease_until = float("inf")
        self.registered = False
        self.calls: dict[str, tuple[float, int]] = {}  # kind -> (sent_at, call id)
        self.report: Report | None = None  # taken from the outbox, not yet answered
        self.next_heartbeat = 0.0
        self.partitioned_until = -1
        self.startcodes = 0

    @property
    def up(self) -> bool:
        return self.hosting is not None

    def start(self, now: float) -> None:
        self.startcodes += 1
        self.name = intern_server(ServerName(self.host, self.port, int(now * 1000) * 100 + self.startcodes))
        self.hosting = Hosting()
        self.epoch = 0
        self.lease_until = float("inf")
        self.registered = False
        self.calls = {}
        self.report = None
        self.next_heartbeat = now

    def stop(self) -> None:
        if self.hosting is not None:
            self.hosting.stop_serving()
        self.hosting = None
        self.name = None

    def leased(self, now: float) -> bool:
        return now < self.lease_until

    def renewed(self, sent_at: float) -> None:
        base = self.lease_until if self.lease_until != float("inf") else 0.0
        self.lease_until = max(base, sent_at + LEASE_S * 2 / 3)


class SimMaster:
    """One active master incarnation: ActiveMaster's state, minus the sockets."""

    def __init__(self, sim: Simulation, gen: int) -> None:
        meta = sim.meta
        self.gen = gen
        meta.epoch += 1
        self.epoch = meta.epoch
        self.sm = ServerManager(lease_s=LEASE_S, clock=sim.clock)
        regions = RegionMap()
        regions.add(RegionNode(info, decode_region_state(meta.rows[info.region_id])) for info in sim.infos)
        self.am = AssignmentManager(
            regions,
            self.sm,
            next_proc_id=meta.next_proc_id,
            next_open_seq_num=meta.next_open_seq_num,
            stuck_after_s=STUCK_AFTER_S,
            clock=sim.clock,
        )
        self.known = [name for name, dead in meta.servers.values() if not dead]
        self.sm.dead.update(name for name, dead in meta.servers.values() if dead)
        self.unfinished = dict(meta.crashes)
        self.crashes: dict[int, ServerName] = {}
        self.started = sim.now
        self.planned = False
        self.done = False
        self.plan: dict[ServerName, list[RegionNode]] | None = None
        self.chunk = 0


class Violation(AssertionError):
    pass


class Simulation:
    def __init__(
        self,
        seed: int,
        *,
        servers: int = 4,
        regions: int = 30,
        faults: Faults | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.now = 0.0
        self.step_no = 0
        self.infos = [
            RegionInfo(i, TABLE, _key(i), _key(i + 1) if i < regions else b"") for i in range(1, regions + 1)
        ]
        self.meta = Meta(
            rows={i.region_id: pack_region_state(S.OFFLINE, 0, 0, 0, 0, b"", b"") for i in self.infos}
        )
        self.servers = {f"rs{i}:16020": SimServer(f"rs{i}:16020", f"rs{i}", 16020) for i in range(servers)}
        self.queue: list[Msg] = []
        self.stories: dict[int, deque[str]] = {i.region_id: deque(maxlen=80) for i in self.infos}
        self.events: deque[str] = deque(maxlen=60)
        self.all_events: list[str] | None = None  # every event, when debugging a seed
        self.master: SimMaster | None = None
        self.master_gen = 0
        self.master_down_until = 0
        self.call_ids = 0
        self.unassigned_by_admin: set[int] = set()
        self.stats: dict[str, int] = {}
        for rs in self.servers.values():
            rs.start(self.now)
        self._start_master()

    # ---- bookkeeping ----

    def clock(self) -> float:
        return self.now

    def count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

    def log(self, text: str, regions: Iterable[int] = ()) -> None:
        line = f"[{self.step_no} t={self.now:.2f}] {text}"
        self.events.append(line)
        if self.all_events is not None:
            self.all_events.append(line)
        for rid in regions:
            story = self.stories.get(rid)
            if story is not None:
                story.append(line)

    def story(self, region_id: int) -> str:
        return "\n".join(self.stories.get(region_id, ()))

    def fail(self, what: str, region_id: int | None = None) -> None:
        text = f"seed {self.seed}, step {self.step_no}: {what}"
        if region_id is not None:
            text += f"\n--- story of region {region_id} ---\n{self.story(region_id)}"
        text += "\n--- last events ---\n" + "\n".join(self.events)
        raise Violation(text)

    # ---- the network ----

    def send(self, kind: str, to: str, gen: int, *data: Any, faulty: bool = True) -> None:
        f = self.faults
        if faulty and f.loss and self.rng.random() < f.loss:
            self.count("lost")
            return
        copies = 2 if faulty and f.dup and self.rng.random() < f.dup else 1
        for _ in range(copies):
            delay = self.rng.randint(0, f.max_delay) if f.max_delay else 0
            self.queue.append(Msg(self.step_no + 1 + delay, kind, to, gen, data))

    def deliver(self) -> None:
        ready = [m for m in self.queue if m.ready <= self.step_no]
        if not ready:
            return
        self.rng.shuffle(ready)
        chosen = [m for m in ready if self.rng.random() < self.faults.deliver]
        taken = {id(m) for m in chosen}
        self.queue = [m for m in self.queue if id(m) not in taken]
        for msg in chosen:
            if msg.to == "master":
                self.at_master(msg)
            else:
                self.at_server(self.servers[msg.to], msg)

    def cut_off(self, rs: SimServer) -> bool:
        return rs.partitioned_until >= self.step_no

    # ---- master: carrying out decisions (ActiveMaster.apply) ----

    def apply(self, effects: Effects, finished: Iterable[int] = ()) -> None:
        m = self.master
        assert m is not None
        finished = list(finished)
        for key, value in effects.rows:
            rid = int.from_bytes(key, "big")
            self.meta.rows[rid] = value
            self.log(f"persisted {_row(value)}", [rid])
        if effects.rows or finished:
            self.meta.next_proc_id = max(self.meta.next_proc_id, m.am.next_proc_id)
            self.meta.next_open_seq_num = max(self.meta.next_open_seq_num, m.am.next_open_seq_num)
        for proc_id in finished:
            self.meta.crashes.pop(proc_id, None)
            m.crashes.pop(proc_id, None)
        for server, opens in effects.opens.items():
            self.dispatch(server, opens, CloseOrders())
        for server, closes in effects.closes.items():
            self.dispatch(server, OpenOrders(), closes)
        if not m.done and m.planned and m.am.settled():
            m.done = True
            self.log("startup assignment finished")

    def dispatch(self, server: ServerName, opens: OpenOrders, closes: CloseOrders) -> None:
        """Dispatcher.send: the order reaches the server, or fails visibly (on_failed), or is lost."""
        m = self.master
        assert m is not None
        ids = [*opens.region_ids, *closes.region_ids]
        self.log(
            f"order to {server}: open {_orders(opens)} "
            f"close {list(zip(closes.region_ids, closes.proc_ids, strict=True))}",
            ids,
        )
        f, r = self.faults, self.rng.random()
        if r < f.order_lost:
            self.count("order_lost")
            self.log(f"order to {server} lost", ids)
            return
        if r < f.order_lost + f.order_failed:
            self.count("order_failed")
            self.send("dispatch_failed", "master", m.gen, server, opens, closes, "UNAVAILABLE", faulty=False)
            return
        if r < f.order_lost + f.order_failed + f.order_executed_failed:
            self.count("order_executed_failed")
            self.send("dispatch_failed", "master", m.gen, server, opens, closes, "DEADLINE", faulty=False)
        copies = 2 if f.dup and self.rng.random() < f.dup else 1
        for _ in range(copies):
            delay = self.rng.randint(0, f.max_delay) if f.max_delay else 0
            self.queue.append(
                Msg(
                    self.step_no + 1 + delay, "order", server.address, m.gen, (server, m.epoch, opens, closes)
                )
            )

    # ---- master: lifecycle ----

    def _start_master(self) -> None:
        self.master_gen += 1
        self.master = SimMaster(self, self.master_gen)
        self.log(f"master {self.master_gen} active, epoch {self.master.epoch}")

    def crash_master(self) -> None:
        self.count("master_crash")
        self.log(f"master {self.master_gen} crashed")
        self.master = None
        lo, hi = self.faults.master_down_steps
        self.master_down_until = self.step_no + self.rng.randint(lo, hi)

    def startup_step(self) -> None:
        """ActiveMaster._startup, one await at a time."""
        m = self.master
        assert m is not None
        if not m.planned:
            live = m.sm.live()
            back = {s.address for s in live}
            known = {s.address for s in m.known}
            if not live or (not known <= back and self.now < m.started + GRACE_S):
                return
            for proc_id, server in m.unfinished.items():
                m.crashes[proc_id] = server
                m.sm.dead.add(server)
            for server in m.known:
                if not m.sm.is_live(server) and server not in m.sm.dead:
                    self.record_crash(server, "did not come back after the master changed")
            effects, to_assign = m.am.take_over(list(m.am.regions))
            to_assign.sort(key=lambda n: n.region_id)
            m.plan = m.am.plan(to_assign)
            m.planned = True
            self.log(f"startup: take_over, {len(to_assign)} to assign, plan on {len(m.plan)} servers")
            self.apply(effects, finished=list(m.crashes))
            return
        if m.plan is None:
            return
        rounds = max((len(nodes) for nodes in m.plan.values()), default=0)
        if m.chunk < rounds:
            for server, nodes in m.plan.items():
                chunk = nodes[m.chunk : m.chunk + STARTUP_CHUNK]
                if chunk and m.sm.is_live(server):
                    self.apply(m.am.open_chunk(server, chunk))
            m.chunk += STARTUP_CHUNK
            return
        m.plan = None
        self.apply(m.am.assign_waiting())

    def record_crash(self, server: ServerName, reason: str) -> int:
        m = self.master
        assert m is not None
        m.sm.expire(server)
        m.sm.dead.add(server)
        proc_id = m.am.next_proc_id
        m.am.next_proc_id += 1
        m.crashes[proc_id] = server
        self.meta.crashes[proc_id] = server
        if m.sm.by_address(server.address) is None:  # as ActiveMaster._record_crash: never over a newer one
            self.meta.servers[server.address] = (server, True)
        self.meta.next_proc_id = max(self.meta.next_proc_id, m.am.next_proc_id)
        self.log(f"server {server} declared dead: {reason} (crash procedure {proc_id})")
        return proc_id

    def server_died(self, server: ServerName, reason: str) -> None:
        m = self.master
        assert m is not None
        if server in m.crashes.values():
            return
        proc_id = self.record_crash(server, reason)
        if self.rng.random() < self.faults.master_crash_mid_crash_procedure:
            self.crash_master()  # between the two writes of a server crash procedure
            return
        effects = m.am.server_dead(server)
        self.apply(effects, finished=[proc_id])

    def chores(self) -> None:
        m = self.master
        assert m is not None
        if not m.planned:
            return
        for server in m.sm.expired():
            self.server_died(server, f"no heartbeat for {LEASE_S} s")
            if self.master is not m:
                return
        effects = m.am.stuck(self.now)
        if effects:
            self.count("stuck_retried")
            self.log("stuck procedures retried", [*_ids(effects)])
            self.apply(effects)

    # ---- master: RPCs ----

    def at_master(self, msg: Msg) -> None:
        m = self.master
        if m is None or msg.gen != m.gen:
            return  # the connection died with the master it was made to
        kind = msg.kind
        if kind == "dispatch_failed":
            server, opens, closes, _ = msg.data
            if m.sm.is_live(server):  # Dispatcher: on_failed only for a live server
                self.log(f"orders to {server} undeliverable", [*opens.region_ids, *closes.region_ids])
                self.apply(m.am.dispatch_failed(server, opens, closes))
            return
        name: ServerName = msg.data[0]
        if kind == "register":
            sent_at = msg.data[1]
            if name in m.sm.dead:
                self.send("dead", name.address, m.gen, name)
                return
            try:
                replaced = m.sm.register(name)
            except ValueError:  # an older incarnation than the registered one: InvalidArgument
                return
            self.meta.servers[name.address] = (name, False)
            self.log(f"server {name} registered with master {m.gen}")
            self.send("registered", name.address, m.gen, name, sent_at, m.epoch)
            for old in replaced:
                self.server_died(old, f"a new incarnation {name} started on its address")
                if self.master is not m:
                    return
            if m.planned:
                self.apply(m.am.assign_waiting())
            return
        if kind == "heartbeat":
            if m.sm.heartbeat(name, 0, 0):
                self.send("hb_ack", name.address, m.gen, name, msg.data[1])
            else:
                self.not_live(name, "heartbeat", msg.data[1])
            return
        if kind == "report":
            call_id, report = msg.data[1], msg.data[2]
            if not m.sm.is_live(name):
                self.not_live(name, "report", call_id)
                return
            server = m.sm.by_address(name.address)
            assert server is not None
            results, effects = [], Effects()
            for code, region_ids, proc_ids, seqs in report:
                rejected, batch_effects = m.am.report(server, code, region_ids, proc_ids, seqs)
                results.append([i for i, _ in rejected])
                effects += batch_effects
                for i, rid in enumerate(region_ids):
                    why = next((r for j, r in rejected if j == i), None)
                    self.log(
                        f"report from {name}: {_code(code)} proc={proc_ids[i]} seq={seqs[i]} "
                        + (f"REJECTED ({why})" if why else "accepted"),
                        [rid],
                    )
            self.apply(effects)
            self.send("answer", name.address, m.gen, name, call_id, results)
            return
        raise AssertionError(kind)

    def not_live(self, name: ServerName, call: str, tag: Any) -> None:
        m = self.master
        assert m is not None
        if name in m.sm.dead:
            self.send("dead", name.address, m.gen, name)
        else:
            self.send("not_registered", name.address, m.gen, name, call, tag)

    # ---- RegionServers (regionserver.daemon.RegionServer) ----

    def at_server(self, rs: SimServer, msg: Msg) -> None:
        if not rs.up or self.cut_off(rs):
            if msg.kind == "order" and self.master is not None and msg.gen == self.master.gen:
                self.send(
                    "dispatch_failed", "master", msg.gen, msg.data[0], msg.data[2], msg.data[3], "UNAVAILABLE"
                )
            return
        assert rs.hosting is not None and rs.name is not None
        if msg.kind == "order":
            target, epoch, opens, closes = msg.data
            ids = [*opens.region_ids, *closes.region_ids]
            if target != rs.name or epoch < rs.epoch:
                self.log(f"order for {target} (epoch {epoch}) refused by {rs.name} (epoch {rs.epoch})", ids)
                self.send("dispatch_failed", "master", msg.gen, target, opens, closes, "FAILED_PRECONDITION")
                return
            rs.epoch = epoch
            if opens.region_ids:
                rs.hosting.open_many(
                    TABLE,
                    opens.region_ids,
                    opens.proc_ids,
                    opens.open_seq_nums,
                    [i.start_key for i in opens.infos],
                    [i.end_key for i in opens.infos],
                )
            if closes.region_ids:
                rs.hosting.close_many(closes.region_ids, closes.proc_ids)
            self.log(f"{rs.name} executed orders (epoch {epoch})", ids)
            return
        name = msg.data[0]
        if name != rs.name:
            return  # an answer to a call of an earlier incarnation: its connection is gone
        if msg.kind == "dead":
            self.log(f"{rs.name} told it is dead: stops serving and exits", list(rs.hosting.online))
            self.count("told_dead")
            rs.stop()
        elif msg.kind == "registered":
            _, sent_at, epoch = msg.data
            if rs.calls.get("register", (None,))[0] == sent_at:
                del rs.calls["register"]
                rs.epoch = max(rs.epoch, epoch)
                rs.renewed(sent_at)
                rs.registered = True
        elif msg.kind == "hb_ack":
            sent_at = msg.data[1]
            if rs.calls.get("heartbeat", (None,))[0] == sent_at:
                del rs.calls["heartbeat"]
                rs.renewed(sent_at)
                rs.next_heartbeat = self.now + HEARTBEAT_S
        elif msg.kind == "not_registered":
            _, call, tag = msg.data
            current = rs.calls.get(call)
            if current is not None and tag in current:
                del rs.calls[call]
                rs.registered = False
        elif msg.kind == "answer":
            _, call_id, results = msg.data
            current = rs.calls.get("report")
            if current is not None and current[1] == call_id and rs.report is not None:
                del rs.calls["report"]
                closed = rs.hosting.answered(rs.report, results)
                for (code, ids, _, _), refused in zip(rs.report, results, strict=True):
                    for i, rid in enumerate(ids):
                        if code == OPENED:
                            state = "now serves it" if rid in rs.hosting.online else "does not serve it"
                            if i in refused:
                                state = "closed it (OPENED rejected)" if rid in closed else "OPENED rejected"
                            self.log(f"{rs.name} got the answer for region {rid}: {state}", [rid])
                rs.report = None
        else:
            raise AssertionError(msg.kind)

    def server_tick(self, rs: SimServer) -> None:
        if not rs.up:
            return
        assert rs.name is not None and rs.hosting is not None
        gen = self.master.gen if self.master is not None else -1
        for call, (sent_at, _) in list(rs.calls.items()):
            if self.now - sent_at > RPC_TIMEOUT_S:  # DEADLINE_EXCEEDED / UNAVAILABLE: register again
                del rs.calls[call]
                if call != "register":
                    rs.registered = False
        if not rs.registered:
            if "register" not in rs.calls:
                rs.calls["register"] = (self.now, 0)
                self._rs_send(rs, "register", gen, rs.name, self.now)
            return
        if "heartbeat" not in rs.calls and self.now >= rs.next_heartbeat:
            rs.calls["heartbeat"] = (self.now, 0)
            self._rs_send(rs, "heartbeat", gen, rs.name, self.now)
        if "report" not in rs.calls:
            if rs.report is None and len(rs.hosting.outbox):
                rs.report = rs.hosting.take_report(REPORT_LIMIT)
            if rs.report is not None:
                self.call_ids += 1
                rs.calls["report"] = (self.now, self.call_ids)
                self._rs_send(rs, "report", gen, rs.name, self.call_ids, rs.report)

    def _rs_send(self, rs: SimServer, kind: str, gen: int, *data: Any) -> None:
        if gen < 0 or self.cut_off(rs):
            return
        self.send(kind, "master", gen, *data)

    # ---- the invariants ----

    def check(self) -> None:
        # (1) at most one live, leased RegionServer serves a region
        serving: dict[int, ServerName] = {}
        for rs in self.servers.values():
            if not rs.up or not rs.leased(self.now):
                continue
            assert rs.hosting is not None and rs.name is not None
            for rid in rs.hosting.online:
                other = serving.get(rid)
                if other is not None:
                    self.fail(f"region {rid} is served by both {other} and {rs.name}", rid)
                serving[rid] = rs.name
        # (2) meta and memory agree
        m = self.master
        if m is not None:
            for node in m.am.regions:
                _, value = node.row()
                persisted = self.meta.rows.get(node.region_id)
                if persisted is not None and persisted != value:
                    self.fail(
                        f"region {node.region_id}: memory {_row(value)} but meta {_row(persisted)}",
                        node.region_id,
                    )

    def settled_and_served(self) -> tuple[bool, str, int | None]:
        """(3): every region OPEN on a live server that serves it, no procedure attached."""
        m = self.master
        if m is None:
            return False, "no master", None
        if not m.done:
            return False, "startup assignment not finished", None
        for node in m.am.regions:
            if node.state is not S.OPEN or node.proc_id or node.server is None:
                return False, f"region {node.region_id} is {node!r}", node.region_id
            if not m.sm.is_live(node.server):
                return False, f"region {node.region_id} is OPEN on {node.server}, not live", node.region_id
            rs = self.servers[node.server.address]
            if rs.name != node.server or rs.hosting is None or node.region_id not in rs.hosting.online:
                return (
                    False,
                    f"region {node.region_id} is OPEN on {node.server}, which does not serve it",
                    node.region_id,
                )
        return True, "", None

    # ---- the driver ----

    def admin(self) -> None:
        m = self.master
        assert m is not None
        rid = self.rng.choice(self.infos).region_id
        op = self.rng.choice(("assign", "unassign", "move", "move"))
        live = m.sm.live()
        target = self.rng.choice(live) if live and self.rng.random() < 0.5 else None
        try:
            if op == "assign":
                _, effects = m.am.assign(rid, target)
            elif op == "unassign":
                _, effects = m.am.unassign(rid)
            else:
                _, effects = m.am.move(rid, target)
        except (RegionInTransition, InvalidArgument) as exc:
            self.count(f"admin_{op}_refused")
            self.log(f"admin {op} refused: {exc}", [rid])
            return
        self.count(f"admin_{op}")
        self.log(f"admin {op} {'to ' + str(target) if target else ''}", [rid])
        if op == "unassign":
            self.unassigned_by_admin.add(rid)
        else:
            self.unassigned_by_admin.discard(rid)
        self.apply(effects)

    def step(self) -> None:
        self.step_no += 1
        self.now = round(self.now + STEP_S, 6)
        f, rng = self.faults, self.rng
        # faults
        if self.master is not None and rng.random() < f.master_crash:
            self.crash_master()
        if self.master is None and self.step_no >= self.master_down_until:
            self._start_master()
        for rs in self.servers.values():
            if rs.up and rng.random() < f.rs_crash:
                self.count("rs_crash")
                self.log(f"{rs.name} crashed", list(rs.hosting.online) if rs.hosting else [])
                rs.stop()
            elif not rs.up and rng.random() < f.rs_restart:
                rs.start(self.now)
                self.log(f"{rs.name} started")
            elif rs.up and not self.cut_off(rs) and rng.random() < f.partition:
                lo, hi = f.partition_steps
                rs.partitioned_until = self.step_no + rng.randint(lo, hi)
                self.count("partition")
                self.log(f"{rs.name} cut off until step {rs.partitioned_until}")
        # messages, RegionServers, master chores
        self.deliver()
        for rs in self.servers.values():
            self.server_tick(rs)
        if self.master is not None:
            self.startup_step()
        if self.master is not None:
            self.chores()
        if self.master is not None and self.master.planned and rng.random() < f.admin:
            self.admin()
        self.check()

    def quiet(self) -> None:
        """Faults stop: partitions heal, crashed RegionServers and the master come back."""
        self.faults = QUIET
        for rs in self.servers.values():
            rs.partitioned_until = -1
        self.master_down_until = min(self.master_down_until, self.step_no + 1)
        self.log("faults stopped")

    def run(self, steps: int, quiet_steps: int = 1500) -> int:
        """`steps` with faults, then up to `quiet_steps` without; return the steps it took to settle."""
        for _ in range(steps):
            self.step()
        self.quiet()
        for n in range(quiet_steps):
            self.step()
            m = self.master
            if m is not None and m.planned and n % 20 == 0:
                # the operator assigns again what it unassigned itself
                for rid in sorted(self.unassigned_by_admin):
                    node = m.am.regions.get(rid)
                    if node is not None and not node.proc_id and node.state in (S.CLOSED, S.OFFLINE):
                        try:
                            _, effects = m.am.assign(rid)
                        except (RegionInTransition, InvalidArgument):
                            continue
                        self.unassigned_by_admin.discard(rid)
                        self.apply(effects)
            ok, _, _ = self.settled_and_served()
            if ok:
                return n
        ok, why, rid = self.settled_and_served()
        self.fail(f"not settled {quiet_steps} steps after faults stopped: {why}", rid)
        return quiet_steps


def _key(i: int) -> bytes:
    return b"" if i == 1 else i.to_bytes(4, "big")


def _ids(effects: Effects) -> list[int]:
    out: list[int] = []
    for opens in effects.opens.values():
        out += opens.region_ids
    for closes in effects.closes.values():
        out += closes.region_ids
    return out


def _orders(opens: OpenOrders) -> list[tuple[int, int, int]]:
    return list(zip(opens.region_ids, opens.proc_ids, opens.open_seq_nums, strict=True))


def _code(code: int) -> str:
    return {1: "OPENED", 2: "FAILED_OPEN", 3: "CLOSED"}.get(code, str(code))


def _row(raw: bytes) -> str:
    row = decode_region_state(raw)
    text = row.state.name
    if row.server is not None:
        text += f" on {row.server}"
    if row.proc_id:
        text += f" proc={row.proc_id}({row.kind.name}) attempts={row.attempts}"
    if row.target is not None:
        text += f" target={row.target}"
    return text + f" seq={row.open_seq_num}"
