"""Ports for tests' and benchmarks' daemons (regent.supervise.free_ports): distinct, free, not handed out
again soon, and outside the kernel's ephemeral range, so that a status page bound to port 0 cannot take
one before its daemon binds; $REGENT_PORT_RANGE narrows the range (a parallel test run's workers)."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from regent import supervise


@pytest.fixture(autouse=True)
def default_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(supervise.PORT_RANGE_ENV, raising=False)  # a parallel run's worker sets it


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = supervise.free_ports(50)
    assert len(set(ports)) == 50
    highest = supervise.below_ephemeral_range()
    assert all(supervise._LOWEST_PORT <= p <= highest for p in ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # raises if it were taken


def test_a_port_is_not_handed_out_again_before_many_others() -> None:
    first = set(supervise.free_ports(200))
    second = set(supervise.free_ports(200))
    assert not first & second


def test_in_a_narrow_range_the_oldest_ports_come_back_once_the_rest_were_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(supervise.PORT_RANGE_ENV, "23000-23009")
    monkeypatch.setattr(supervise, "_handed_out", type(supervise._handed_out)())
    first = supervise.free_ports(5)  # at most half of a range is held back
    second = supervise.free_ports(5)
    assert not set(first) & set(second) and all(23000 <= p <= 23009 for p in first + second)
    assert set(supervise.free_ports(5)) == set(first)
    with pytest.raises(RuntimeError, match="no 6 free loopback ports found in 23000-23009"):
        supervise.free_ports(6)


def test_a_port_somebody_holds_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        picks = itertools.chain([taken, taken], range(20000, 30000))
        monkeypatch.setenv(supervise.PORT_RANGE_ENV, "1024-65535")
        monkeypatch.setattr(supervise._random, "randint", lambda low, high: next(picks))
        chosen = supervise.free_ports(1)
    assert chosen != [taken] and 20000 <= chosen[0] < 30000


def test_the_kernels_range_is_read_and_an_unusual_one_falls_back_to_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("40000\t60999\n")
    monkeypatch.setattr(supervise, "_EPHEMERAL_RANGE", ranges)
    assert supervise.below_ephemeral_range() == 39999
    assert supervise.port_range() == (10000, 39999)
    assert all(p <= 39999 for p in supervise.free_ports(5))
    ranges.write_text("1024\t65535\n")  # nothing below the range: the kernel chooses
    assert supervise.port_range() is None
    assert len(set(supervise.free_ports(3))) == 3
    ranges.write_text("garbage")
    assert supervise.below_ephemeral_range() == 32767


@pytest.mark.parametrize("text", ["10", "a-b", "20000-10000", "80-2000", "30000-70000", "-", "1-2-3"])
def test_a_bad_port_range_is_refused_saying_what_it_must_be(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(supervise.PORT_RANGE_ENV, text)
    with pytest.raises(ValueError, match=r"REGENT_PORT_RANGE must be LOW-HIGH with 1024 <= LOW < HIGH"):
        supervise.free_ports(1)
