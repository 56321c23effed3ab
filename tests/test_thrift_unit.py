"""The gateway's pure parts without sockets: the scanner registry (expiry, bounds, connections ending,
readers), the frame-size state machine, the conversions, the error mapping, and the IDL."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import happybase
import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.errors import NoSuchFamily, RowTooLong, TableExists, TableNotFound
from client.operations import Kind
from gateway.thrift import convert
from gateway.thrift.errors import BadArgument, declared, to_thrift
from gateway.thrift.handler import UNSUPPORTED, Handler
from gateway.thrift.idl import IDL_PATH, METHODS, AlreadyExists, IllegalArgument, IOError, Mutation
from gateway.thrift.scanners import ScannerRegistry, TooManyScanners, UnknownScanner
from gateway.thrift.wire import FrameSizes, WireError
from tests.clocks import Clock


def registry(clock: Clock, **kw: object) -> ScannerRegistry:
    return ScannerRegistry(clock=clock, rng=random.Random(7), **kw)  # type: ignore[arg-type]


def opened(reg: ScannerRegistry, owner: int, closed: list[int], rows: int = 3) -> int:
    box: list[int] = []
    scanner_id = reg.open(owner, "t", iter(range(rows)), lambda: closed.append(box[0]))
    box.append(scanner_id)
    return scanner_id


# ---- the scanner registry ----


def test_an_idle_scanner_expires_and_a_read_one_does_not() -> None:
    clock, closed = Clock(0.0), []
    reg = registry(clock, idle_timeout_s=10)
    idle, read = opened(reg, 1, closed), opened(reg, 1, closed)
    clock.now = 6
    reg.release(reg.acquire(read))
    clock.now = 11
    assert [s.scanner_id for s in reg.expire()] == [idle]
    assert closed == [idle]
    with pytest.raises(UnknownScanner, match="expired after 10s"):
        reg.acquire(idle)
    clock.now = 17
    assert [s.scanner_id for s in reg.expire()] == [read]
    assert reg.expired_total == 2 and len(reg) == 0


def test_a_scanner_being_read_is_closed_by_its_reader_not_under_it() -> None:
    clock, closed = Clock(0.0), []
    reg = registry(clock, idle_timeout_s=1)
    sid = opened(reg, 1, closed)
    held = reg.acquire(sid)
    clock.now = 100
    assert reg.expire() == []  # in use: not expired
    reg.close(sid)
    assert closed == []  # still being read
    reg.release(held)
    assert closed == [sid]


def test_the_bound_is_per_connection() -> None:
    clock, closed = Clock(0.0), []
    reg = registry(clock, per_connection=2)
    first = opened(reg, 1, closed)
    opened(reg, 1, closed)
    refused: list[bool] = []
    with pytest.raises(TooManyScanners, match="holds 2 open scanners"):
        reg.open(1, "t", iter(()), lambda: refused.append(True))
    assert refused == [True]  # the refused scan was closed
    opened(reg, 2, closed)  # another connection may
    reg.close(first)
    opened(reg, 1, closed)
    assert reg.owned_by(1) == 2 and reg.owned_by(2) == 1


def test_a_connection_ending_closes_its_scanners_only() -> None:
    clock, closed = Clock(0.0), []
    reg = registry(clock)
    mine = {opened(reg, 1, closed) for _ in range(3)}
    theirs = opened(reg, 2, closed)
    assert reg.close_owner(1) == 3
    assert set(closed) == mine
    reg.acquire(theirs)
    assert reg.close_owner(1) == 0


def test_unknown_and_closed_ids_are_unknown() -> None:
    reg = registry(Clock(0.0))
    with pytest.raises(UnknownScanner):
        reg.acquire(42)
    sid = opened(reg, 1, [])
    reg.close(sid)
    with pytest.raises(UnknownScanner):
        reg.close(sid)


def test_ids_are_positive_i32_and_distinct() -> None:
    reg = registry(Clock(0.0), per_connection=1000)
    ids = [opened(reg, 1, []) for _ in range(500)]
    assert len(set(ids)) == 500 and all(0 < i < 2**31 for i in ids)


def test_close_all_closes_everything() -> None:
    closed: list[int] = []
    reg = registry(Clock(0.0))
    for owner in (1, 2, 3):
        opened(reg, owner, closed)
    assert reg.close_all() == 3 and len(closed) == 3 and len(reg) == 0


# ---- frames ----


@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(1, 50), min_size=1, max_size=30),
)
def test_frame_boundaries_are_followed_whatever_the_chunking(sizes: list[int], cuts: list[int]) -> None:
    stream = b"".join(struct.pack(">i", n) + b"x" * n for n in sizes) + struct.pack(">i", 301)
    frames = FrameSizes(300)
    position, end, i = 0, 0, 0
    with pytest.raises(WireError, match="a frame of 301 bytes"):
        while position < len(stream):
            end = position + cuts[i % len(cuts)]
            frames.feed(stream[position:end])
            position, i = end, i + 1
    assert end >= len(stream)  # refused by the chunk that completes the last, oversized, header only


@pytest.mark.parametrize("size", [0, -1, -(2**31)])
def test_empty_and_negative_frames_are_refused(size: int) -> None:
    with pytest.raises(WireError):
        FrameSizes(100).feed(struct.pack(">i", size))


# ---- conversions ----


def test_deletes_go_before_puts_and_a_timestamped_delete_masks_its_put() -> None:
    mutations = [
        Mutation(column=b"f:a", value=b"1"),
        Mutation(isDelete=True, column=b"f:a"),
        Mutation(column=b"f:b", value=b"2"),
        Mutation(isDelete=True, column=b"g"),
        Mutation(column=b"g:x", value=None),
    ]
    now = convert.row_change(b"r", mutations, None)
    assert [m.kind for m in now.mutations] == [
        Kind.DELETE_COLUMN,
        Kind.DELETE_FAMILY,
        Kind.PUT,
        Kind.PUT,
        Kind.PUT,
    ]
    assert now.mutations[-1].value == b""
    at = convert.row_change(b"r", mutations, 100)
    assert [(m.kind, m.family, m.qualifier) for m in at.mutations if m.kind is Kind.PUT] == [
        (Kind.PUT, b"f", b"b")
    ]
    assert all(m.timestamp == 100 for m in at.mutations)


def test_bad_mutations_name_what_is_wrong() -> None:
    with pytest.raises(BadArgument, match=r"Mutation\.column is missing"):
        convert.row_change(b"r", [Mutation(value=b"v")], None)
    with pytest.raises(BadArgument, match="mutations must be a list"):
        convert.row_change(b"r", None, None)
    with pytest.raises(BadArgument, match="must be bytes"):
        convert.row_change(b"r", [Mutation(column="f:a", value=b"v")], None)


def test_region_names_split_into_table_and_row() -> None:
    assert convert.split_region_name(b"t,row,99999999999999") == ("t", b"row")
    assert convert.split_region_name(b"t,a,b,123") == ("t", b"a,b")
    assert convert.split_region_name(b"t,row") == ("t", b"row")
    with pytest.raises(BadArgument):
        convert.split_region_name(b"no-comma")


def test_read_timestamps_latest_means_every_version() -> None:
    assert convert.read_timestamp(convert.LATEST_TIMESTAMP) is None
    assert convert.read_timestamp(5) == 5
    with pytest.raises(BadArgument):
        convert.read_timestamp(-1)
    with pytest.raises(BadArgument, match="timestamp is missing"):
        convert.read_timestamp(None)


# ---- errors ----


def test_errors_become_the_exception_their_method_declares() -> None:
    assert isinstance(to_thrift("createTable", TableExists("t exists")), AlreadyExists)
    assert isinstance(to_thrift("createTable", BadArgument("no families")), IllegalArgument)
    assert isinstance(to_thrift("getRow", BadArgument("row is missing")), IOError)  # getRow declares io only
    refused = to_thrift("mutateRow", NoSuchFamily("no column family b'x'"))
    assert isinstance(refused, IOError)  # an IOException in HBase, not an argument error
    assert refused.message.startswith("org.apache.hadoop.hbase.regionserver.NoSuchColumnFamilyException: ")
    assert isinstance(to_thrift("mutateRow", RowTooLong("row too long")), IllegalArgument)
    missing = to_thrift("getRow", TableNotFound("table 'x' does not exist"))
    assert missing.message == "org.apache.hadoop.hbase.TableNotFoundException: table 'x' does not exist"
    assert declared("scannerGet") == {"io", "ia"}


# ---- the IDL ----


def test_the_idl_is_happybases_own() -> None:
    theirs = Path(happybase.__file__).with_name("Hbase.thrift")
    assert IDL_PATH.read_bytes() == theirs.read_bytes()


def test_every_method_of_the_idl_is_served() -> None:
    for name in METHODS:
        assert callable(getattr(Handler, name)), name
    assert set(UNSUPPORTED) <= set(METHODS)
