"""The RegionServer's write-ahead log (regionserver.data.wal) in one process: framing, torn tails and
corruption, sequence numbers across segments, retention, and the fencing protocol's interleavings, each
one driven to the exact point of the race."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regionserver.data import wal
from regionserver.data.wal import (
    Edit,
    Header,
    LoggedEdit,
    Seal,
    ServerLog,
    WalCorrupt,
    WalError,
    encode,
    parse,
    recover,
    seal,
    segment_numbers,
    segment_path,
)
from tests.hypothesis_profiles import examples

R, R2 = b"region-R", b"region-R2"

ops_strategy = st.lists(
    st.tuples(st.integers(0, 255), st.binary(max_size=40), st.none() | st.binary(max_size=60)), max_size=30
).map(tuple)
edit_strategy = st.builds(LoggedEdit, st.binary(max_size=30), st.integers(1, 2**64 - 1), ops_strategy)
seal_strategy = st.builds(Seal, st.binary(max_size=30), st.binary(max_size=30))
header_strategy = st.builds(Header, st.integers(0, 2**64 - 1))
record_strategy = edit_strategy | seal_strategy | header_strategy


def ops(n: int) -> tuple[tuple[int, bytes, bytes | None], ...]:
    return ((0, b"key-%d" % n, b"value-%d" % n), (1, b"gone-%d" % n, None))


def make(directory: Path, segment_bytes: int = wal.SEGMENT_BYTES) -> ServerLog:
    return ServerLog.create(directory, segment_bytes=segment_bytes)


# ---- framing ----


@given(record_strategy)
def test_every_record_kind_round_trips(record: wal.Record) -> None:
    data = encode(record)
    assert parse(data, "mem") == ([(0, record)], len(data))


@given(st.lists(record_strategy, max_size=20))
def test_records_read_back_in_order_with_their_offsets(records: list[wal.Record]) -> None:
    data, offsets = b"", []
    for record in records:
        offsets.append(len(data))
        data += encode(record)
    assert parse(data, "mem") == (list(zip(offsets, records, strict=True)), len(data))


@settings(
    max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(st.builds(Edit, st.sampled_from([R, R2, b""]), ops_strategy), max_size=5), max_size=8)
)
def test_appended_edits_recover_with_their_sequence_numbers(tmp_path_factory: Any, batches: Any) -> None:
    directory = tmp_path_factory.mktemp("wal") / "log"
    logged: list[LoggedEdit] = []
    with make(directory, segment_bytes=512) as log:
        for batch in batches:
            for edit, seq in zip(batch, log.append(batch), strict=True):
                assert seq is not None
                logged.append(LoggedEdit(edit.region, seq, edit.ops))
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
    for region in (R, R2, b""):
        assert recover(directory, region) == [e for e in logged if e.region == region]


# ---- torn tails and corruption ----


def three_edits(directory: Path) -> tuple[list[LoggedEdit], int]:
    """A log of three edits of R; the offset of the last record in segment 1."""
    with make(directory) as log:
        for n in range(3):
            log.append([Edit(R, ops(n))])
    records, _ = parse(segment_path(directory, 1).read_bytes(), "segment 1")
    edits = [r for _, r in records if isinstance(r, LoggedEdit)]
    return edits, records[-1][0]


def test_a_log_cut_anywhere_in_its_last_record_recovers_what_was_before(tmp_path: Path) -> None:
    edits, last = three_edits(tmp_path / "log")
    path = segment_path(tmp_path / "log", 1)
    for cut in range(path.stat().st_size - 1, last - 1, -1):
        os.truncate(path, cut)
        assert recover(tmp_path / "log", R) == edits[:2], cut


def test_a_last_record_with_a_bad_crc_is_a_torn_tail(tmp_path: Path) -> None:
    edits, _ = three_edits(tmp_path / "log")
    path = segment_path(tmp_path / "log", 1)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(data)
    assert recover(tmp_path / "log", R) == edits[:2]


def test_a_corrupt_record_in_the_middle_names_the_file_and_offset(tmp_path: Path) -> None:
    three_edits(tmp_path / "log")
    path = segment_path(tmp_path / "log", 1)
    records, _ = parse(path.read_bytes(), path)
    middle = records[2][0]  # the second edit
    data = bytearray(path.read_bytes())
    data[middle + 12] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(WalCorrupt) as caught:
        recover(tmp_path / "log", R)
    assert caught.value.offset == middle and caught.value.path == str(path)
    assert str(path) in str(caught.value) and f"offset {middle}" in str(caught.value)


def test_a_torn_tail_at_the_end_of_an_older_segment_is_tolerated(tmp_path: Path) -> None:
    """A sealer that died writing into a segment the owner had already left leaves a torn SEAL there."""
    with make(tmp_path / "log", segment_bytes=1) as log:
        first = log.append([Edit(R, ops(0))])
        log.append([Edit(R, ops(1))])  # rolls to segment 2
        assert log.current_segment == 2
    with segment_path(tmp_path / "log", 1).open("ab") as f:
        f.write(encode(Seal(R, b"died"))[:-3])
    assert [e.seq for e in recover(tmp_path / "log", R)] == [first[0], 2]


def whole_records(path: Path) -> list[wal.Record]:
    """The segment's records, asserting that it ends with a whole one (no torn tail)."""
    data = path.read_bytes()
    records, whole = parse(data, path)
    assert whole == len(data), f"a torn tail from offset {whole} of {len(data)}"
    return [r for _, r in records]


def test_a_seal_after_a_dead_owners_torn_record_cuts_the_record_off(tmp_path: Path) -> None:
    """A machine's crash left the owner's last append torn: the seal must not land after it."""
    directory = tmp_path / "log"
    with make(directory) as log:  # the owner, gone once closed
        log.append([Edit(R, ops(0))])
        log.append([Edit(R2, ops(1))])
    path = segment_path(directory, 1)
    with path.open("ab") as f:
        f.write(encode(LoggedEdit(R, 3, ops(2)))[:-5])
    seal(directory, R, b"new-owner")
    records = whole_records(path)
    assert records[-1] == Seal(R, b"new-owner") and len(records) == 4  # header, two edits, the seal
    assert [e.seq for e in recover(directory, R)] == [1]
    seal(directory, R2, b"another")  # a second seal appends after the first, whole
    assert whole_records(path)[-2:] == [Seal(R, b"new-owner"), Seal(R2, b"another")]


def test_a_seal_after_a_torn_record_of_a_running_owner_fails_until_the_owner_cuts_it(tmp_path: Path) -> None:
    """A sealer that died halfway through its SEAL left it torn while the owner still runs."""
    directory = tmp_path / "log"
    path = segment_path(directory, 1)
    with make(directory) as log:
        log.append([Edit(R, ops(0))])
        with path.open("ab") as f:
            f.write(encode(Seal(R2, b"died"))[:-3])
        with pytest.raises(WalError, match="owner is still running"):
            seal(directory, R, b"new-owner")
        torn_at = (
            path.stat().st_size - len(encode(Seal(R2, b"died"))) + 3 - len(encode(Seal(R, b"new-owner")))
        )
        with pytest.raises(WalCorrupt) as caught:  # the owner's next append breaks the log
            log.append([Edit(R, ops(1))])
        assert caught.value.offset == torn_at
        assert whole_records(path)[-1] == LoggedEdit(R, 1, ops(0))  # ... and cuts what followed its last
        seal(directory, R, b"new-owner")
        assert [e.seq for e in recover(directory, R)] == [1]
        with pytest.raises(WalError, match="cannot be appended"):
            log.append([Edit(R2, ops(2))])


def test_a_short_write_is_cut_back_and_breaks_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short write (the disk full) leaves nothing torn for a sealer to append after."""
    directory = tmp_path / "log"
    path = segment_path(directory, 1)
    with make(directory) as log:
        log.append([Edit(R, ops(0))])
        real_write = os.write
        monkeypatch.setattr(wal.os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
        with pytest.raises(WalError, match="short write"):
            log.append([Edit(R, ops(1)), Edit(R2, ops(2))])
        monkeypatch.setattr(wal.os, "write", real_write)
        assert whole_records(path)[-1] == LoggedEdit(R, 1, ops(0))
        seal(directory, R, b"new-owner")
        assert [e.seq for e in recover(directory, R)] == [1]
        with pytest.raises(WalError, match="cannot be appended"):
            log.append([Edit(R, ops(3))])


def test_a_log_has_one_owner_at_a_time(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    with make(directory), pytest.raises(WalError, match="another process owns"):
        make(directory)


# ---- sequence numbers, segments, retention ----


def test_sequence_numbers_increase_across_segments_and_old_segments_are_deleted(tmp_path: Path) -> None:
    seqs: list[int | None] = []
    with make(tmp_path / "log", segment_bytes=200) as log:
        for n in range(40):
            seqs += log.append([Edit(R, ops(n)), Edit(R2, ops(n))])
        assert seqs == list(range(1, 81))
        segments = log.segments()
        assert [s.number for s in segments] == segment_numbers(tmp_path / "log")
        assert len(segments) > 5 and segments[-1].number == log.current_segment
        highest = {region: max(s.regions.get(region, 0) for s in segments) for region in (R, R2)}
        assert highest == {R: 79, R2: 80}
        old = segments[2]
        log.delete_segments_through(old.number)
        assert segment_numbers(tmp_path / "log")[0] == old.number + 1
        assert [s.number for s in log.segments()] == segment_numbers(tmp_path / "log")
        with pytest.raises(ValueError):
            log.delete_segments_through(log.current_segment)
        kept = recover(tmp_path / "log", R, after_seq=old.regions[R])
        assert [e.seq for e in kept] == list(range(old.regions[R] + 2, 81, 2))


def test_an_existing_log_is_not_opened_again(tmp_path: Path) -> None:
    make(tmp_path / "a" / "b" / "log").close()
    with pytest.raises(WalError, match="already holds a log"):
        make(tmp_path / "a" / "b" / "log")


def test_a_closed_log_refuses_appends(tmp_path: Path) -> None:
    log = make(tmp_path / "log")
    log.close()
    with pytest.raises(WalError, match="closed"):
        log.append([Edit(R, ops(0))])


def test_an_edit_the_format_cannot_hold_writes_nothing(tmp_path: Path) -> None:
    with make(tmp_path / "log") as log:
        with pytest.raises(ValueError):
            log.append([Edit(R, ops(0)), Edit(R, ((256, b"k", b"v"),))])
        assert log.append([Edit(R, ops(1))]) == [1]
    assert [e.seq for e in recover(tmp_path / "log", R)] == [1]


def test_the_fdatasync_comes_after_the_one_write_and_before_append_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []
    real_write, real_sync = os.write, os.fdatasync

    def write(fd: int, data: Any) -> int:
        calls.append(("write", fd))
        return real_write(fd, data)

    def fdatasync(fd: int) -> None:
        calls.append(("fdatasync", fd))
        real_sync(fd)

    with make(tmp_path / "log") as log:
        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        assert log.append([Edit(R, ops(n)) for n in range(50)]) == list(range(1, 51))
        monkeypatch.undo()
        assert [c for c, _ in calls] == ["write", "fdatasync"]
        assert calls[0][1] == calls[1][1]


# ---- fencing, in one process ----


def test_a_sealed_region_is_refused_and_recover_returns_exactly_the_acknowledged(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    with make(directory) as log:
        acknowledged = log.append([Edit(R, ops(0)), Edit(R2, ops(0)), Edit(R, ops(1))])
        seal(directory, R, b"new-owner,16020,2")
        assert not log.sealed(R)  # not yet seen
        assert log.append([Edit(R, ops(2)), Edit(R2, ops(2))]) == [None, 5]
        assert log.sealed(R) and not log.sealed(R2)
        size = segment_path(directory, 1).stat().st_size
        assert log.append([Edit(R, ops(3))]) == [None]
        assert segment_path(directory, 1).stat().st_size == size  # known sealed: not written at all
        assert log.append([Edit(R2, ops(4)), Edit(R, ops(4))]) == [6, None]
    assert [e.seq for e in recover(directory, R)] == [acknowledged[0], acknowledged[2]]
    assert [e.seq for e in recover(directory, R2)] == [2, 5, 6]


def test_the_sealed_set_outlives_a_roll(tmp_path: Path) -> None:
    with make(tmp_path / "log", segment_bytes=100) as log:
        log.append([Edit(R, ops(0))])
        seal(tmp_path / "log", R, b"new-owner")
        for n in range(10):
            assert log.append([Edit(R, ops(n)), Edit(R2, ops(n))])[0] is None
        assert log.current_segment > 2 and log.sealed(R)
    assert [e.seq for e in recover(tmp_path / "log", R)] == [1]


def roll_with(monkeypatch: pytest.MonkeyPatch, log: ServerLog, when: str, action: Callable[[], None]) -> None:
    """Run `action` once, at the next roll of `log`: just after the new segment is created (`created`), or
    just after the old segment's tail is read (`read`)."""
    done: list[bool] = []
    if when == "created":
        real_create = wal._create_segment

        def create(directory: Path, number: int, after: bytes = b"") -> None:
            real_create(directory, number, after)
            if not done:
                done.append(True)
                action()

        monkeypatch.setattr(wal, "_create_segment", create)
    else:
        real_foreign = log._foreign

        def foreign(start: int, stop: int | None, *, tail_ok: bool) -> Any:
            found = real_foreign(start, stop, tail_ok=tail_ok)
            if tail_ok and not done:
                done.append(True)
                action()
            return found

        monkeypatch.setattr(log, "_foreign", foreign)


def test_a_seal_of_the_old_segment_before_the_owner_reads_its_tail_is_seen_at_the_roll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "log"
    with make(directory, segment_bytes=1) as log:
        assert log.append([Edit(R, ops(0))]) == [1]
        roll_with(
            monkeypatch,
            log,
            "created",
            lambda: wal._append_seal(directory, 1, encode(Seal(R, b"x")), 0),
        )
        assert log.append([Edit(R, ops(1)), Edit(R2, ops(1))]) == [None, 2]
        assert log.current_segment == 2
    assert [r for _, r in wal.read_segment(directory, 2)] == [LoggedEdit(R2, 2, ops(1))]  # R: not written
    assert [e.seq for e in recover(directory, R)] == [1]


def test_a_seal_of_the_old_segment_after_the_owner_read_its_tail_is_repeated_in_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer's write lands in segment 1 after the owner's last look at it; its listing then finds
    segment 2 and seals it too, before the owner's first write there."""
    directory = tmp_path / "log"
    with make(directory, segment_bytes=1) as log:
        assert log.append([Edit(R, ops(0))]) == [1]

        def late_sealer() -> None:
            wal._append_seal(directory, 1, encode(Seal(R, b"x")), 0)
            seal(directory, R, b"x")  # lists: segment 2 is there now

        roll_with(monkeypatch, log, "read", late_sealer)
        assert log.append([Edit(R, ops(1)), Edit(R2, ops(1))]) == [None, 3]
        assert log.sealed(R)
    assert [e.seq for e in recover(directory, R)] == [1]


def test_seal_lists_again_and_seals_the_segment_the_owner_rolled_to_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """seal() listed segment 1 as the newest; before its SEAL reaches segment 1 the owner rolls to segment 2
    (its look at segment 1's tail finds nothing): seal()'s next listing finds segment 2 and seals it too."""
    directory = tmp_path / "log"
    real_append_seal = wal._append_seal
    with make(directory, segment_bytes=1) as log:
        assert log.append([Edit(R, ops(0))]) == [1]

        def owner_rolls_first(at: Path, number: int, record: bytes, known_whole: int) -> None:
            if number == 1:
                assert log.append([Edit(R2, ops(1))]) == [2]  # the roll to segment 2
                assert log.current_segment == 2
            real_append_seal(at, number, record, known_whole)

        monkeypatch.setattr(wal, "_append_seal", owner_rolls_first)
        seal(directory, R, b"new-owner")
        assert log.append([Edit(R, ops(2)), Edit(R2, ops(2))]) == [None, 3]  # rolled: R known sealed
    assert seals_in(directory, R) == [1, 2]
    assert [e.seq for e in recover(directory, R)] == [1]


def seals_in(directory: Path, region: bytes) -> list[int]:
    return [
        n
        for n in segment_numbers(directory)
        if any(r == Seal(region, b"new-owner") for _, r in wal.read_segment(directory, n))
    ]


def test_without_the_sealers_second_listing_the_owner_acknowledges_and_recover_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why seal() lists again: a SEAL that only reached the segment the owner left fences nothing, and
    recover, consistently, keeps the owner's later edits of the region (they were acknowledged)."""
    directory = tmp_path / "log"
    with make(directory, segment_bytes=1) as log:
        log.append([Edit(R, ops(0))])
        roll_with(
            monkeypatch,
            log,
            "read",
            lambda: wal._append_seal(directory, 1, encode(Seal(R, b"x")), 0),
        )
        assert log.append([Edit(R, ops(1))]) == [2]
    assert [e.seq for e in recover(directory, R)] == [1, 2]


def test_seal_of_a_log_not_yet_created_keeps_its_owner_from_creating_it(tmp_path: Path) -> None:
    seal(tmp_path / "wal" / "host,16020,1", R, b"new-owner")
    assert recover(tmp_path / "wal" / "host,16020,1", R) == []
    with pytest.raises(WalError):
        make(tmp_path / "wal" / "host,16020,1")


def test_foreign_bytes_that_are_not_a_seal_break_the_log(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    with make(directory) as log:
        log.append([Edit(R, ops(0))])
        with segment_path(directory, 1).open("ab") as f:
            f.write(b"garbage")
        with pytest.raises(WalCorrupt, match="torn record"):
            log.append([Edit(R2, ops(1))])
        with pytest.raises(WalError, match="cannot be appended"):
            log.append([Edit(R2, ops(2))])


@settings(
    max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.lists(st.sampled_from([R, R2, b"R3"]), min_size=1, max_size=4)),
            st.tuples(st.just("seal"), st.sampled_from([R, R2, b"R3"])),
        ),
        max_size=30,
    )
)
def test_recover_is_exactly_what_the_owner_acknowledged_under_any_order_of_appends_and_seals(
    tmp_path_factory: Any, steps: list[Any]
) -> None:
    directory = tmp_path_factory.mktemp("wal") / "log"
    acknowledged: dict[bytes, list[int]] = {R: [], R2: [], b"R3": []}
    sealed_at: dict[bytes, int] = {}
    with make(directory, segment_bytes=150) as log:
        for n, (what, arg) in enumerate(steps):
            if what == "seal":
                seal(directory, arg, b"new-owner")
                sealed_at.setdefault(arg, n)
                continue
            for region, seq in zip(arg, log.append([Edit(r, ops(n)) for r in arg]), strict=True):
                if seq is not None:
                    assert region not in sealed_at  # nothing acknowledged after seal() returned
                    acknowledged[region].append(seq)
                else:
                    assert region in sealed_at
    for region, seqs in acknowledged.items():
        assert [e.seq for e in recover(directory, region)] == seqs
