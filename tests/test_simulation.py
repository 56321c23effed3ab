"""The seeded simulation of the assignment core (tests/simulation.py), and one focused test per bug it found.

Replay a failing seed with `Simulation(seed, servers=..., regions=...).run(steps)`; the failure message names
the seed and tells the story of the offending region.
"""

from __future__ import annotations

import pytest

from master.assignment import FAILED_OPEN as FAILED_OPEN_CODE
from master.assignment import AssignmentManager, CloseOrders
from master.errors import InvalidArgument
from master.regions import RegionMap, RegionNode
from master.servers import ServerManager
from meta import RegionInfo, RegionState, RegionStateRow, ServerName, TransitKind
from meta.codec import decode_region_state, intern_server
from regionserver.hosting import CLOSED, OPENED, Hosting
from tests.clocks import Clock
from tests.simulation import Faults, Simulation

S = RegionState


def _shape(seed: int) -> dict[str, int]:
    return {"servers": 3 + seed % 3, "regions": 20 + (seed * 7) % 31}


@pytest.mark.parametrize("seed", range(150))
def test_simulation_keeps_invariants_and_settles(seed: int) -> None:
    Simulation(seed, **_shape(seed)).run(1000)


@pytest.mark.parametrize("seed", range(50))
def test_simulation_with_harsh_faults_keeps_invariants_and_settles(seed: int) -> None:
    harsh = Faults(loss=0.15, dup=0.1, order_lost=0.08, rs_crash=0.01, partition=0.01, master_crash=0.008)
    Simulation(10_000 + seed, faults=harsh, **_shape(seed)).run(800)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(20))
def test_simulation_sweep(block: int) -> None:
    harsh = Faults(loss=0.15, dup=0.1, order_lost=0.08, rs_crash=0.01, partition=0.01, master_crash=0.008)
    for seed in range(1000 + block * 250, 1000 + (block + 1) * 250):
        Simulation(seed, faults=harsh if seed % 4 == 0 else None, **_shape(seed)).run(3000)


# ---- the bugs the simulation found, one test each ----


def _core(states: list[RegionStateRow]) -> tuple[AssignmentManager, ServerManager, Clock]:
    clock = Clock()
    servers = ServerManager(lease_s=3.0, clock=clock)
    regions = RegionMap()
    regions.add(
        RegionNode(RegionInfo(i, "t", bytes([i]) if i > 1 else b"", bytes([i + 1])), row)
        for i, row in enumerate(states, start=1)
    )
    am = AssignmentManager(regions, servers, stuck_after_s=10.0, clock=clock, next_proc_id=100)
    return am, servers, clock


def _server(host: str, startcode: int = 1) -> ServerName:
    return intern_server(ServerName(host, 16020, startcode))


def test_recovered_region_is_persisted_even_when_no_server_can_take_it() -> None:
    a = _server("a")
    am, servers, _ = _core([RegionStateRow(S.OPEN, a, open_seq_num=1)])
    servers.register(a)
    servers.expire(a)
    effects = am.server_dead(a)
    node = am.regions.get(1)
    assert node is not None and node.state is S.ABNORMALLY_CLOSED
    assert 1 in am.waiting
    assert effects.rows[-1] == node.row()  # meta does not keep saying OPEN on a dead server


def test_region_recovered_at_take_over_is_persisted_before_it_is_assigned() -> None:
    gone = _server("a")
    am, _, _ = _core([RegionStateRow(S.OPEN, gone, open_seq_num=1)])
    effects, to_assign = am.take_over(list(am.regions))
    node = am.regions.get(1)
    assert node is not None and to_assign == [node]
    assert effects.rows == [node.row()]
    assert decode_region_state(effects.rows[0][1]).state is S.ABNORMALLY_CLOSED


def test_assign_with_no_live_server_leaves_no_procedure_attached() -> None:
    am, _, _ = _core([RegionStateRow(S.CLOSED)])
    with pytest.raises(InvalidArgument):
        am.assign(1)
    node = am.regions.get(1)
    assert node is not None and node.proc_id == 0 and node.kind is TransitKind.NONE
    assert not am.in_transition


def test_orders_resent_at_take_over_are_retried_when_stuck() -> None:
    a = _server("a")
    am, servers, clock = _core(
        [
            RegionStateRow(S.OPENING, a, proc_id=7, kind=TransitKind.ASSIGN, open_seq_num=3),
            RegionStateRow(S.CLOSING, a, proc_id=8, kind=TransitKind.UNASSIGN, open_seq_num=4),
        ]
    )
    servers.register(a)
    effects, _ = am.take_over(list(am.regions))
    assert effects.opens[a].proc_ids == [7] and effects.closes[a].proc_ids == [8]
    clock.now += 11.0  # the re-sent orders were lost too
    again = am.stuck(clock.now)
    assert again.opens[a].proc_ids == [7] and again.closes[a].proc_ids == [8]


def test_open_chunk_skips_regions_assigned_since_the_plan() -> None:
    a = _server("a")
    am, servers, _ = _core([RegionStateRow(S.OFFLINE), RegionStateRow(S.OFFLINE)])
    servers.register(a)
    nodes = list(am.regions)
    plan = am.plan(nodes)
    assert am.assign_waiting().opens[a].region_ids == [1, 2]  # a server registered meanwhile
    effects = am.open_chunk(a, plan[a])  # must not raise RegionInTransition nor open them twice
    assert not effects
    assert all(n.state is S.OPENING for n in nodes)


def test_retried_open_of_a_procedure_with_a_new_open_sequence_number_is_not_a_duplicate() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1], [7], [10], [b""], [b""])
    report = hosting.take_report(10)  # OPENED seq 10 in flight ...
    # ... the master gave up on that attempt, tried another server, then came back here with seq 12
    accepted, duplicates = hosting.open_many("t", [1], [7], [12], [b""], [b""])
    assert (accepted, duplicates) == (1, 0)
    hosting.answered(report, [[0]])  # seq 10 rejected: the newer open must survive
    assert hosting.opening[1].open_seq_num == 12
    second = hosting.take_report(10)
    assert second == [(OPENED, [1], [7], [12])]
    hosting.answered(second, [[]])
    assert 1 in hosting.online


def test_an_open_older_than_the_one_held_is_ignored() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1], [7], [12], [b""], [b""])
    hosting.answered(hosting.take_report(10), [[]])
    assert hosting.open_many("t", [1], [7], [10], [b""], [b""]) == (0, 1)  # a late repeat of seq 10
    assert hosting.online[1].open_seq_num == 12 and not len(hosting.outbox)


def test_late_close_after_a_reopen_under_the_same_procedure_is_ignored() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1], [3], [1], [b""], [b""])
    hosting.answered(hosting.take_report(10), [[]])
    hosting.close_many([1], [9])  # a move, procedure 9: close here ...
    hosting.answered(hosting.take_report(10), [[]])
    hosting.open_many("t", [1], [9], [2], [b""], [b""])  # ... and open here again (no other server)
    hosting.answered(hosting.take_report(10), [[]])
    assert hosting.close_many([1], [9]) == (0, 1)  # the stuck retry of the close, arriving late
    assert 1 in hosting.online and not len(hosting.outbox)
    assert hosting.close_many([1], [11]) == (1, 0)  # a newer procedure's close still closes it
    assert 1 not in hosting.online
    assert hosting.take_report(10) == [(CLOSED, [1], [11], [0])]


def test_closes_of_a_merges_parents_under_one_procedure_are_each_taken() -> None:
    # A merge closes every parent with its own procedure's id: each close is an order of its own, not a
    # repeat of the first (it was, and the second parent closed only at the master's stuck retry, 10 s on).
    hosting = Hosting()
    hosting.open_many("t", [1, 2], [3, 4], [1, 1], [b"", b"m"], [b"m", b""])
    hosting.answered(hosting.take_report(10), [[]])
    assert hosting.close_many([1, 2], [9, 9]) == (2, 0)
    assert not hosting.online and hosting.take_report(10) == [(CLOSED, [1, 2], [9, 9], [0, 0])]
    assert hosting.close_many([2], [9]) == (0, 1)  # a repeat of one of them, before its answer: ignored


def test_undeliverable_opens_do_not_use_up_the_attempts() -> None:
    a, b = _server("a"), _server("b")
    am, servers, _ = _core([RegionStateRow(S.OFFLINE)])
    servers.register(a)
    servers.register(b)
    _, effects = am.assign(1)
    for _ in range(3 * am.max_attempts):
        ((server, opens),) = effects.opens.items()
        effects = am.dispatch_failed(server, opens, CloseOrders())
    node = am.regions.get(1)
    assert node is not None and node.state is S.OPENING and node.attempts == 0
    assert am.report(node.server, FAILED_OPEN_CODE, [1], [node.proc_id], [node.open_seq_num])[1].rows
    assert node.attempts == 1  # a real failed open still counts


def test_take_over_assigns_what_was_never_assigned_or_crashed_but_not_what_an_operator_closed() -> None:
    a = _server("a")
    am, servers, _ = _core(
        [
            RegionStateRow(S.OFFLINE),  # 1: never assigned
            RegionStateRow(S.CLOSED),  # 2: unassigned by an operator
            RegionStateRow(S.ABNORMALLY_CLOSED),  # 3: its server crashed
            RegionStateRow(S.FAILED_OPEN, attempts=0),  # 4: no server was live to retry on
            RegionStateRow(S.FAILED_OPEN, attempts=10),  # 5: every attempt failed
            RegionStateRow(S.CLOSED, proc_id=7, kind=TransitKind.MOVE),  # 6: a move between close and open
        ]
    )
    servers.register(a)
    _, to_assign = am.take_over(list(am.regions))
    assert sorted(n.region_id for n in to_assign) == [1, 3, 4, 6]


def test_a_report_refused_whole_closes_its_opens_and_a_resent_order_is_carried_out_again() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1, 2], [7, 8], [10, 11], [b"", b"a"], [b"a", b""])
    report = hosting.take_report(10)
    # the master refused the whole report: the daemon answers it as every transition rejected
    closed = hosting.answered(report, [range(len(ids)) for _, ids, _, _ in report])
    assert sorted(closed) == [1, 2] and not hosting.opening and not hosting.online
    # the master's stuck-procedure retry sends the same orders again: not duplicates, opened afresh
    assert hosting.open_many("t", [1, 2], [7, 8], [10, 11], [b"", b"a"], [b"a", b""]) == (2, 0)
    assert hosting.take_report(10) == [(OPENED, [1, 2], [7, 8], [10, 11])]
