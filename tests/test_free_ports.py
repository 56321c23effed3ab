"""Ports for tests and benchmarks' daemons: distinct, free, never handed out twice, and outside the
kernel's ephemeral range, so that a status page bound to port 0 cannot take one before its daemon binds."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from regent import supervise


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = supervise.free_ports(50)
    assert len(set(ports)) == 50
    highest = supervise.below_ephemeral_range()
    assert all(supervise._LOWEST_PORT <= p <= highest for p in ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # raises if it were taken


def test_a_port_is_never_handed_out_twice() -> None:
    first = set(supervise.free_ports(200))
    second = set(supervise.free_ports(200))
    assert not first & second


def test_a_port_somebody_holds_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        picks = itertools.chain([taken, taken], range(20000, 30000))
        monkeypatch.setattr(supervise, "_LOWEST_PORT", 1024)
        monkeypatch.setattr(supervise, "below_ephemeral_range", lambda: 65535)
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
    assert all(p <= 39999 for p in supervise.free_ports(5))
    ranges.write_text("1024\t65535\n")  # nothing below the range: the kernel chooses
    assert len(set(supervise.free_ports(3))) == 3
    ranges.write_text("garbage")
    assert supervise.below_ephemeral_range() == 32767
