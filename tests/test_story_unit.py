"""master.story without a cluster: causes, inheritance by reported outcomes, the bound, what is persisted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from master import story
from master.story import Story, decode, encode
from meta import RegionState, ServerName, WriteBatch
from meta.codec import pack_region_state, server_bytes
from meta.types import TransitKind

A = ServerName("127.0.0.1", 16100, 1)
B = ServerName("127.0.0.1", 16101, 2)


def row(
    region_id: int,
    state: RegionState,
    server: ServerName | None,
    proc_id: int = 0,
    kind: TransitKind = TransitKind.NONE,
) -> tuple[bytes, bytes]:
    return region_id.to_bytes(8, "big"), pack_region_state(
        state, kind, 0, proc_id, 1, server_bytes(server), b""
    )


def test_a_reported_outcome_inherits_the_cause_of_its_procedures_previous_step() -> None:
    s = Story()
    s.record([row(7, RegionState.CLOSING, A, 5, TransitKind.MOVE)], story.MOVE)
    s.record([row(7, RegionState.OPENING, B, 5, TransitKind.MOVE)], "")
    s.record([row(7, RegionState.OPEN, B)], "")  # the OPEN row carries no procedure any more
    steps = s.of(7)
    assert [(x.state, x.cause, x.proc_id, x.procedure) for x in steps] == [
        (RegionState.CLOSING, "move", 5, "move"),
        (RegionState.OPENING, "move", 5, "move"),
        (RegionState.OPEN, "move", 5, "move"),
    ]
    assert steps[-1].server == str(B)


def test_without_a_known_cause_the_row_kind_and_state_say_it() -> None:
    s = Story()
    s.record([row(1, RegionState.OPENING, A, 3, TransitKind.MOVE)], "")
    s.record([row(2, RegionState.ABNORMALLY_CLOSED, None)], "")
    assert s.of(1)[0].cause == "move"
    assert s.of(2)[0].cause == "crash recovery"


def test_a_retry_keeps_the_procedures_cause() -> None:
    s = Story()
    s.record([row(1, RegionState.OPENING, A, 3, TransitKind.ASSIGN)], story.STARTUP)
    s.record([row(1, RegionState.OPENING, B, 3, TransitKind.ASSIGN)], story.RETRY)
    assert [x.cause for x in s.of(1)] == ["startup", "startup"]


def test_other_regions_batches_are_not_in_a_regions_story_and_limit_keeps_the_newest() -> None:
    s = Story()
    for i in range(10):
        s.record(
            [row(1, RegionState.OPENING, A, 10 + i, TransitKind.ASSIGN), row(2, RegionState.OPEN, B)],
            "startup",
        )
    steps = s.of(1, limit=3)
    assert [x.proc_id for x in steps] == [17, 18, 19]
    assert all(x.state is RegionState.OPENING for x in steps)


def test_memory_is_bounded_by_rows_kept() -> None:
    s = Story(max_rows=100)
    for i in range(50):
        s.record([row(i, RegionState.OPEN, A) for _ in range(10)], "startup")
    assert s.rows <= 100
    assert s.of(0) == [] and s.of(49)


def test_small_batches_with_a_named_cause_and_their_outcomes_are_persisted_startup_is_not() -> None:
    s = Story()
    batch = WriteBatch()
    assert not s.persist([row(1, RegionState.OPENING, A, 1, TransitKind.ASSIGN)], batch, story.STARTUP)
    assert not batch.ops
    assert s.persist([row(2, RegionState.CLOSING, A, 2, TransitKind.MOVE)], batch, story.MOVE)
    report = [row(2, RegionState.OPEN, B), row(3, RegionState.OPEN, B)]
    assert s.persist(report, batch, "")
    keys = [op.key for op in batch.ops]
    assert keys == [story.PREFIX + (0).to_bytes(8, "big"), story.PREFIX + (1).to_bytes(8, "big")]
    _, _, rows = decode(batch.ops[1].value or b"")
    assert [r[0] for r in rows] == [(2).to_bytes(8, "big")]  # region 3 was not tracked
    # Region 2's procedure ended (OPEN, no procedure): its next outcomes are no longer persisted.
    later = WriteBatch()
    assert not s.persist([row(2, RegionState.OPEN, B)], later, "")


def test_a_new_master_loads_the_persisted_entries_and_numbers_on_after_them() -> None:
    old = Story()
    batch = WriteBatch()
    old.persist([row(4, RegionState.CLOSING, A, 9, TransitKind.MOVE)], batch, story.MOVE)
    new = Story()
    assert new.load([(op.key, op.value or b"") for op in batch.ops]) == 1
    (step,) = new.of(4)
    assert step.cause == "move" and step.persisted
    more = WriteBatch()
    new.persist([row(4, RegionState.OPEN, B)], more, story.OPERATOR)
    assert more.ops[0].key == story.PREFIX + (1).to_bytes(8, "big")


def test_the_persisted_ring_deletes_its_oldest_entry() -> None:
    s = Story()
    s._seq = story.PERSIST_MAX_ENTRIES
    batch = WriteBatch()
    s.persist([row(1, RegionState.CLOSING, A, 1, TransitKind.MOVE)], batch, story.MOVE)
    assert [op.kind for op in batch.ops] == ["put", "delete"]
    assert batch.ops[1].key == story.PREFIX + (0).to_bytes(8, "big")


def test_procedure_kinds_map_to_causes() -> None:
    assert story.cause_of_procedure("server_crash") == "crash recovery"
    assert story.cause_of_procedure("create_table") == "table ddl"
    assert story.cause_of_procedure("add_family") == "table ddl"
    assert story.cause_of_procedure("split_region") == "split"


@given(
    st.integers(0, 2**63),
    st.text(max_size=30),
    st.lists(st.tuples(st.binary(min_size=8, max_size=8), st.binary(max_size=300)), max_size=20),
)
def test_story_entries_round_trip(time_ms: int, cause: str, rows: list[tuple[bytes, bytes]]) -> None:
    raw_cause = cause.encode()[:255].decode(errors="ignore")
    decoded = decode(encode(time_ms, raw_cause, rows))
    assert decoded == (time_ms, raw_cause, rows)


@given(st.binary(max_size=64))
def test_a_value_that_is_not_a_story_entry_decodes_or_raises_value_error(raw: bytes) -> None:
    try:
        time_ms, cause, rows = decode(raw)
    except ValueError:
        return
    assert decode(encode(time_ms, cause, rows)) == (time_ms, cause, rows)


def test_entries_in_meta_that_do_not_decode_are_skipped_not_fatal() -> None:
    s = Story()
    good = encode(5, "move", [row(1, RegionState.CLOSING, A, 2, TransitKind.MOVE)])
    bad_row = encode(6, "move", [((1).to_bytes(8, "big"), b"not a row")])
    loaded = s.load(
        [
            (story.PREFIX + (0).to_bytes(8, "big"), b"garbage"),
            (story.PREFIX + (1).to_bytes(8, "big"), good),
            (story.PREFIX + (7).to_bytes(8, "big"), bad_row),
        ]
    )
    assert loaded == 2
    assert [x.state for x in s.of(1)] == [RegionState.CLOSING]  # the bad row is left out
    batch = WriteBatch()
    s.persist([row(1, RegionState.OPEN, B)], batch, story.OPERATOR)
    assert batch.ops[0].key == story.PREFIX + (8).to_bytes(8, "big")
