"""The balancer's planner: regions, servers and their loads in, moves out. Pure: no I/O, no clock.

The cost of a placement is a weighted sum of skews, each measured in "regions" so that the weights compare
(REFERENCE.md §C, HBase's StochasticLoadBalancer defaults):

- region count: sum over servers of (count - average)^2;
- table skew: the same per table, summed over tables;
- request load and store size: sum over servers of ((load - average) / the average load of one region)^2;

halved and divided by the number of regions, plus `move` / regions for each move. With that scale, one move
from a server with d more regions than another changes the region count part by 500 · (1 - d) / R and costs
7 / R: any imbalance of two regions or more is worth fixing unless the loads strongly disagree, and loads
decide between moves that the counts leave equal.

The search is greedy with incremental cost: every step looks at a few candidate sources (most regions, most
requests, most bytes) and targets (the fewest), computes the exact change of cost of moving each candidate
region (O(1) per candidate: the change of a sum of squares), and takes the best, then repeats the same move
while it keeps lowering the cost and neither server crosses the average. That makes the number of moves the
minimum an even spread needs when the counts dominate, and 100,000 regions plan in a fraction of a second.

The planner acts only when some server is outside the average by more than the slop (HBase's
`hbase.regions.slop`, 0.2), or when a server that may take regions holds none while another holds two or
more (HBASE-24139: a balanced-looking total must not leave a server empty). Servers that must be drained (a
decommission with offload) always give up all their regions, whatever the slop.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from meta import ServerName

SCAN = 16  # regions of a (server, table) examined per step when region loads differ
TABLES = 4  # tables examined per (source, target) pair in one step when region loads differ
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the cost's parts (HBase's defaults for the ones it has)."""

    region_count: float = 500.0
    table_skew: float = 35.0
    requests: float = 5.0
    store_size: float = 5.0
    move: float = 7.0


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """A live RegionServer as the planner sees it.

    `target`: it may receive regions (live and not decommissioned). `drain`: every region on it must leave
    (decommissioned with offload). A server neither target nor drained keeps what it has and takes no part.
    Servers not given at all (dead ones) are ignored, as are the regions on them.
    """

    name: ServerName
    requests_per_s: float = 0.0
    store_bytes: int = 0
    target: bool = True
    drain: bool = False


@dataclass(frozen=True, slots=True)
class RegionLoad:
    """An OPEN region on a server. Loads left None are estimated as the server's load over its regions."""

    region_id: int
    table: str
    server: ServerName
    requests_per_s: float | None = None
    store_bytes: int | None = None
    #: False: it counts where it is but may not move now (its table is locked by a table procedure)
    movable: bool = True


@dataclass(frozen=True, slots=True)
class Move:
    region_id: int
    source: ServerName
    target: ServerName


@dataclass(frozen=True, slots=True)
class Plan:
    moves: tuple[Move, ...]
    cost_before: float
    cost_after: float
    #: why the planner acted ("" if it did not: the cluster is within the slop)
    reason: str
    #: regions on each server taking part, after the moves
    counts: dict[ServerName, int]


class _State:
    """The placement being improved: counts and loads per server, regions per (server, table)."""

    def __init__(self, servers: Sequence[ServerLoad], regions: Sequence[RegionLoad], weights: Weights):
        self.weights = weights
        self.names = [s.name for s in servers if s.target]
        index = {name: i for i, name in enumerate(self.names)}
        n = len(self.names)
        self.count = [0] * n
        self.req = [0.0] * n
        self.size = [0.0] * n
        self.table_count: list[dict[str, int]] = [defaultdict(int) for _ in range(n)]
        self.buckets: dict[tuple[int, str], list[int]] = defaultdict(list)  # movable regions (indexes)
        self.region_ids: list[int] = []
        self.region_table: list[str] = []
        self.region_req: list[float] = []
        self.region_size: list[float] = []
        self.drained: list[tuple[int, ServerName]] = []  # (region index, source) to place somewhere
        self.uniform = True  # no region carries its own load: all regions of a bucket are alike
        by_name = {s.name: s for s in servers}
        on_server: dict[ServerName, int] = defaultdict(int)
        for r in regions:
            on_server[r.server] += 1
        for r in regions:
            server = by_name.get(r.server)
            if server is None or not (server.target or server.drain):
                continue
            share = on_server[r.server]
            req = r.requests_per_s if r.requests_per_s is not None else server.requests_per_s / share
            size = r.store_bytes if r.store_bytes is not None else server.store_bytes / share
            if r.requests_per_s is not None or r.store_bytes is not None:
                self.uniform = False
            i = len(self.region_ids)
            self.region_ids.append(r.region_id)
            self.region_table.append(r.table)
            self.region_req.append(float(req))
            self.region_size.append(float(size))
            if server.drain:
                if r.movable:
                    self.drained.append((i, r.server))
                continue
            s = index[r.server]
            self.count[s] += 1
            self.req[s] += req
            self.size[s] += size
            self.table_count[s][r.table] += 1
            if r.movable:
                self.buckets[(s, r.table)].append(i)
        self.regions = sum(self.count) + len(self.drained)
        total = max(1, self.regions)
        self.avg = total / max(1, n)
        tables: dict[str, int] = defaultdict(int)
        for i in range(len(self.region_ids)):
            tables[self.region_table[i]] += 1
        self.table_avg = {t: c / max(1, n) for t, c in tables.items()}
        all_req = sum(self.region_req)
        all_size = sum(self.region_size)
        self.avg_req = all_req / max(1, n)
        self.avg_size = all_size / max(1, n)
        # One region's average load: the unit the load skews are measured in (0 when there is no load).
        self.inv_req2 = _inverse_square(all_req / total)
        self.inv_size2 = _inverse_square(all_size / total)

    def cost(self, moves: int) -> float:
        w = self.weights
        count = sum((c - self.avg) ** 2 for c in self.count)
        table = sum((tc.get(t, 0) - avg) ** 2 for tc in self.table_count for t, avg in self.table_avg.items())
        req = sum((r - self.avg_req) ** 2 for r in self.req) * self.inv_req2
        size = sum((b - self.avg_size) ** 2 for b in self.size) * self.inv_size2
        skew = w.region_count * count + w.table_skew * table + w.requests * req + w.store_size * size
        return (skew / 2 + w.move * moves) / max(1, self.regions)

    def delta(self, i: int, a: int, b: int) -> float:
        """2R * the change of cost if region i moves from server a to server b (a move's cost included)."""
        w, t = self.weights, self.region_table[i]
        x, y = self.region_req[i], self.region_size[i]
        d = w.region_count * (2 * (self.count[b] - self.count[a]) + 2)
        d += w.table_skew * (2 * (self.table_count[b].get(t, 0) - self.table_count[a].get(t, 0)) + 2)
        if self.inv_req2:
            d += w.requests * (2 * x * (self.req[b] - self.req[a]) + 2 * x * x) * self.inv_req2
        if self.inv_size2:
            d += w.store_size * (2 * y * (self.size[b] - self.size[a]) + 2 * y * y) * self.inv_size2
        return d + 2 * w.move

    def place(self, i: int, b: int) -> None:
        """Region i (not in any bucket: it moves, and moves once) lands on server b."""
        t = self.region_table[i]
        self.count[b] += 1
        self.req[b] += self.region_req[i]
        self.size[b] += self.region_size[i]
        self.table_count[b][t] += 1

    def take(self, i: int, a: int) -> None:
        t = self.region_table[i]
        self.count[a] -= 1
        self.req[a] -= self.region_req[i]
        self.size[a] -= self.region_size[i]
        self.table_count[a][t] -= 1


def _inverse_square(unit: float) -> float:
    """1 / unit^2, 0 for a load too small to measure skews in (loads are at least a millionth)."""
    return 1 / (unit * unit) if unit > 1e-6 else 0.0


def plan(
    servers: Sequence[ServerLoad],
    regions: Sequence[RegionLoad],
    *,
    weights: Weights = Weights(),
    slop: float = 0.2,
    max_moves: int | None = None,
    balance: bool = True,
) -> Plan:
    """The moves that lower the cost of placing `regions` on `servers` (see the module's docstring).

    `balance` False: only drain (the moves off servers with `drain`), whatever the slop says."""
    if not 0 <= slop < 1:
        raise ValueError(f"slop must be in [0, 1), got {slop}")
    state = _State(servers, regions, weights)
    names = state.names
    before = state.cost(0)
    moves: list[Move] = []
    if not names:
        return Plan((), before, before, "", {})
    if state.drained:
        _drain(state, moves)
    reason = outside_slop(_counts(state), slop)
    if not balance:
        reason = f"{len(state.drained)} regions on decommissioned servers" if state.drained else ""
        return Plan(tuple(moves), before, state.cost(len(moves)), reason, _counts(state))
    if state.drained:
        reason = f"{len(state.drained)} regions on decommissioned servers" + (f"; {reason}" if reason else "")
    elif not reason:
        return Plan((), before, before, "", _counts(state))
    limit = max_moves if max_moves is not None else state.regions
    _improve(state, moves, limit)
    _fill_empty(state, moves)
    return Plan(tuple(moves), before, state.cost(len(moves)), reason, _counts(state))


def _counts(state: _State) -> dict[ServerName, int]:
    return dict(zip(state.names, state.count, strict=True))


def outside_slop(counts: dict[ServerName, int], slop: float) -> str:
    """Why these counts need balancing ("" if they do not): a server outside [floor(avg * (1 - slop)),
    ceil(avg * (1 + slop))], or a server with no region while another has two or more."""
    if not counts:
        return ""
    avg = sum(counts.values()) / len(counts)
    high, low = math.ceil(avg * (1 + slop)), math.floor(avg * (1 - slop))
    most = max(counts, key=lambda s: counts[s])
    least = min(counts, key=lambda s: counts[s])
    if counts[most] > high:
        return f"{most} holds {counts[most]} regions, more than {high} (average {avg:.1f}, slop {slop:g})"
    if counts[least] < low:
        return f"{least} holds {counts[least]} regions, fewer than {low} (average {avg:.1f}, slop {slop:g})"
    if counts[least] == 0 and counts[most] >= 2:
        return f"{least} holds no region while {most} holds {counts[most]}"
    return ""


def minimum_moves(counts: Sequence[int]) -> int:
    """The fewest moves that give every server floor or ceil of the average (an even spread)."""
    if not counts:
        return 0
    total, n = sum(counts), len(counts)
    low, extra = divmod(total, n)
    # The servers holding the most keep the extra regions: that is what costs the fewest moves.
    ordered = sorted(counts, reverse=True)
    return sum(max(0, c - (low + (1 if k < extra else 0))) for k, c in enumerate(ordered))


def _drain(state: _State, moves: list[Move]) -> None:
    """Every region of a drained server goes to the target where it costs least (whatever the cost)."""
    n = len(state.names)
    for i, source in state.drained:
        best = min(range(n), key=lambda b: _landing_cost(state, i, b))
        state.place(i, best)
        moves.append(Move(state.region_ids[i], source, state.names[best]))


def _landing_cost(state: _State, i: int, b: int) -> float:
    """What placing region i (from nowhere) on server b adds to 2R * the cost."""
    w, t = state.weights, state.region_table[i]
    x, y = state.region_req[i], state.region_size[i]
    d = w.region_count * (2 * (state.count[b] - state.avg) + 1)
    d += w.table_skew * (2 * (state.table_count[b].get(t, 0) - state.table_avg[t]) + 1)
    d += w.requests * (2 * x * (state.req[b] - state.avg_req) + x * x) * state.inv_req2
    d += w.store_size * (2 * y * (state.size[b] - state.avg_size) + y * y) * state.inv_size2
    return d


def _candidates(values: Sequence[float], k: int, *, largest: bool) -> list[int]:
    order = heapq.nlargest if largest else heapq.nsmallest
    return order(k, range(len(values)), key=values.__getitem__)


def _best(state: _State) -> tuple[float, int, int, str, int] | None:
    """The best single move now: (2R * change of cost, source, target, table, region index)."""
    n = len(state.names)
    sources = set(_candidates(state.count, 2, largest=True))
    targets = set(_candidates(state.count, 2, largest=False))
    if state.inv_req2:
        sources.update(_candidates(state.req, 1, largest=True))
        targets.update(_candidates(state.req, 1, largest=False))
    if state.inv_size2:
        sources.update(_candidates(state.size, 1, largest=True))
        targets.update(_candidates(state.size, 1, largest=False))
    best: tuple[float, int, int, str, int] | None = None
    buckets = state.buckets
    for a in sources:
        tables = [t for t, c in state.table_count[a].items() if c and buckets.get((a, t))]
        for b in targets:
            if a == b or b >= n:
                continue
            tb, ta = state.table_count[b], state.table_count[a]
            # Only the table term of a move depends on its table: with alike regions, the table where a
            # has the largest excess over b is the best; otherwise a few of the largest are examined.
            k = 1 if state.uniform else TABLES
            chosen = heapq.nlargest(k, tables, key=lambda t: ta[t] - tb.get(t, 0))
            for t in chosen:
                bucket = buckets[(a, t)]
                span = bucket[-1:] if state.uniform else bucket[-SCAN:]
                for i in span:
                    d = state.delta(i, a, b)
                    if best is None or d < best[0]:
                        best = (d, a, b, t, i)
    return best


def _improve(state: _State, moves: list[Move], limit: int) -> None:
    while len(moves) < limit:
        found = _best(state)
        if found is None or found[0] >= -EPSILON:
            return
        _, a, b, t, i = found
        if not _repeat(state, a, b, limit - len(moves), moves):
            _move(state, i, a, b, t, moves)  # the best move was in a table the pair's order put later


def _budget(state: _State, a: int, b: int) -> int:
    """How many moves from a to b may be made in a row: as long as neither crosses the average count. A
    move made then is never undone by a later one (that keeps the number of moves at the minimum), and no
    server fills up with regions that moved there (a region moves once per plan: those are stuck)."""
    return max(1, int(min(state.count[a] - state.avg, state.avg - state.count[b])))


def _repeat(state: _State, a: int, b: int, limit: int, moves: list[Move]) -> int:
    """Move regions from a to b while that lowers the cost, up to the budget, taking each time the table
    with the largest excess of a over b (a heap, updated as regions move). Return the moves made."""
    buckets, ta, tb = state.buckets, state.table_count[a], state.table_count[b]
    heap = [(tb.get(t, 0) - c, t) for t, c in ta.items() if c and buckets.get((a, t))]
    heapq.heapify(heap)
    budget = min(_budget(state, a, b), limit)
    done = 0
    while done < budget and heap:
        key, t = heap[0]
        bucket = buckets[(a, t)]
        if not bucket:
            heapq.heappop(heap)
            continue
        gap = tb.get(t, 0) - ta[t]
        if key != gap:
            heapq.heapreplace(heap, (gap, t))
            continue
        at = len(bucket) - 1
        if not state.uniform:
            at = min(range(max(0, at - SCAN + 1), at + 1), key=lambda k: state.delta(bucket[k], a, b))
        if state.delta(bucket[at], a, b) >= -EPSILON:
            break
        _move(state, bucket[at], a, b, t, moves, at)
        heapq.heapreplace(heap, (gap + 2, t))
        done += 1
    return done


def _move(state: _State, i: int, a: int, b: int, t: str, moves: list[Move], at: int | None = None) -> None:
    bucket = state.buckets[(a, t)]
    at = bucket.index(i) if at is None else at
    bucket[at] = bucket[-1]
    bucket.pop()
    state.take(i, a)
    state.place(i, b)
    moves.append(Move(state.region_ids[i], state.names[a], state.names[b]))


def _fill_empty(state: _State, moves: list[Move]) -> None:
    """HBASE-24139: whatever the weights, no server that may take regions is left with none while another
    holds two or more."""
    names = state.names
    for b in range(len(names)):
        if state.count[b]:
            continue
        for a in sorted(range(len(names)), key=lambda s: -state.count[s]):
            if state.count[a] < 2:
                return
            bucket = next((bk for (s, _), bk in state.buckets.items() if s == a and bk), None)
            if bucket is None:
                continue
            i = bucket.pop()
            state.take(i, a)
            state.place(i, b)
            moves.append(Move(state.region_ids[i], names[a], names[b]))
            break
