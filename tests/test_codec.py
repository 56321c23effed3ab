"""Properties of meta's record codecs and keys: every record survives a round trip, keys sort as the domain
values they encode, and malformed region_state bytes are refused with a ValueError that says what is wrong."""

from __future__ import annotations

import struct

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from meta import keys
from meta.codec import (
    ROW_HEAD,
    ROW_VERSION,
    RegionStateRow,
    decode_region_info,
    decode_region_state,
    decode_table,
    encode_region_info,
    encode_region_state,
    encode_table,
    pack_region_state,
    unpack_region_state,
)
from meta.states import RegionState
from meta.types import (
    MAX_BOUNDARY_KEY,
    ColumnFamily,
    RegionInfo,
    ServerName,
    TableDescriptor,
    TableState,
    TransitKind,
)

U64 = st.integers(0, 2**64 - 1)
# Any printable host, colons included (IPv6 literals): the name is split at its last two colons.
HOSTS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60) | st.sampled_from(
    ["localhost", "10.0.0.7", "::1", "rs-1.example.com", "fe80::1%eth0"]
)
SERVERS = st.builds(ServerName, host=HOSTS, port=st.integers(0, 65535), startcode=st.integers(0, 2**63 - 1))
ROWS = st.builds(
    RegionStateRow,
    state=st.sampled_from(RegionState),
    server=st.none() | SERVERS,
    proc_id=U64,
    kind=st.sampled_from(TransitKind),
    open_seq_num=U64,
    attempts=st.integers(0, 255),
    target=st.none() | SERVERS,
)
NAME = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]{0,20}\Z")
BOUNDARY = st.binary(max_size=MAX_BOUNDARY_KEY)


# ---- region_state rows ----


@given(ROWS)
@example(RegionStateRow(RegionState.OFFLINE))  # the smallest row: no server, no procedure
@example(RegionStateRow(RegionState.OPEN, ServerName("::1", 16020, 1_700_000_000_000)))
def test_region_state_row_round_trips(row: RegionStateRow) -> None:
    raw = encode_region_state(row)
    assert decode_region_state(raw) == row
    assert unpack_region_state(raw) == (
        row.state,
        row.kind,
        row.attempts,
        row.proc_id,
        row.open_seq_num,
        row.server,
        row.target,
    )


@given(ROWS, st.integers(256, 10_000))
def test_attempts_beyond_a_byte_are_stored_as_255(row: RegionStateRow, attempts: int) -> None:
    row.attempts = attempts
    assert decode_region_state(encode_region_state(row)).attempts == 255


@given(ROWS)
def test_decoded_server_names_are_shared_objects(row: RegionStateRow) -> None:
    assume(row.server is not None)
    first = decode_region_state(encode_region_state(row)).server
    again = decode_region_state(encode_region_state(row)).server
    assert first == row.server and first is again, "one ServerName object per incarnation"


def _malformed(raw: bytes, *fragments: str) -> None:
    for decode in (decode_region_state, unpack_region_state):
        with pytest.raises(ValueError, match="region_state value") as info:
            decode(raw)
        for fragment in fragments:
            assert fragment in str(info.value), f"{decode.__name__}({raw!r}): {info.value}"


def _row(state: int = 2, kind: int = 0, server: bytes = b"h:1:2", target: bytes = b"") -> bytes:
    return pack_region_state(state, kind, 0, 7, 9, server, target)


def test_a_truncated_row_is_refused_naming_its_length() -> None:
    raw = _row()
    _malformed(raw[:-1], f"has {len(raw) - 1} bytes", f"announces {len(raw)}")
    _malformed(raw[: ROW_HEAD.size - 1], "not a version-1 row", f"({ROW_HEAD.size - 1} bytes")
    _malformed(b"", "not a version-1 row", "(0 bytes")


def test_a_row_with_trailing_bytes_is_refused() -> None:
    raw = _row()
    _malformed(raw + b"x", f"has {len(raw) + 1} bytes", f"announces {len(raw)}")


def test_a_row_of_another_version_is_refused_naming_its_first_byte() -> None:
    _malformed(bytes([ROW_VERSION + 1]) + _row()[1:], "not a version-1 row", "first b'\\x02'")


@pytest.mark.parametrize(
    ("state", "kind"), [(len(RegionState), 0), (255, 0), (0, len(TransitKind)), (2, 200)]
)
def test_an_unknown_state_or_transit_kind_is_refused_naming_it(state: int, kind: int) -> None:
    _malformed(_row(state=state, kind=kind), f"state {state}", f"transit kind {kind}")


@pytest.mark.parametrize(
    "server", [b"no-port", b"host:port:1", b":1:2", b"h:1:", b"\xff\xfe:1:2", b"h:-1:2"], ids=repr
)
def test_a_malformed_server_name_is_refused_naming_it(server: bytes) -> None:
    _malformed(_row(server=server), "malformed server name", repr(server), "host:port:startcode")
    _malformed(_row(server=b"h:1:2", target=server), "malformed server name", repr(server))


@given(st.binary(max_size=ROW_HEAD.size + 40))
@example(_row()[:5])
@example(struct.pack(">BBBBQQHH", 1, 2, 0, 0, 0, 0, 3, 0) + b"a:b")
def test_arbitrary_bytes_decode_or_raise_a_value_error_that_names_the_row(raw: bytes) -> None:
    """Never an IndexError, struct.error or a half-decoded row: either a row that re-encodes to a row
    decoding the same, or a ValueError about the region_state value."""
    try:
        row = decode_region_state(raw)
    except ValueError as exc:
        assert "region_state value" in str(exc)
        with pytest.raises(ValueError, match="region_state value"):
            unpack_region_state(raw)
        return
    assert decode_region_state(encode_region_state(row)) == row


# ---- RegionInfo and TableDescriptor ----


@given(
    st.builds(
        RegionInfo,
        region_id=U64,
        table=NAME,
        start_key=BOUNDARY,
        end_key=BOUNDARY,
        split=st.booleans(),
        offline=st.booleans(),
        children=st.lists(U64, max_size=3).map(tuple),
        parents=st.lists(U64, max_size=3).map(tuple),
    )
)
def test_region_info_round_trips(info: RegionInfo) -> None:
    assert decode_region_info(encode_region_info(info)) == info


def test_a_region_info_written_before_split_and_merge_reads_with_no_children_or_parents() -> None:
    from regent.proto import common_pb2

    old = common_pb2.RegionInfo(region_id=7, table="t", start_key=b"a", end_key=b"b").SerializeToString()
    info = decode_region_info(old)
    assert (info.children, info.parents) == ((), ())


FAMILIES = st.lists(
    st.builds(ColumnFamily, name=NAME, max_versions=st.integers(1, 10_000)),
    min_size=1,
    max_size=5,
    unique_by=lambda family: family.name,
).map(tuple)


@given(st.builds(TableDescriptor, name=NAME, families=FAMILIES, state=st.sampled_from(TableState)))
def test_table_descriptor_round_trips(table: TableDescriptor) -> None:
    assert decode_table(encode_table(table)) == table


# ---- keys ----


@given(st.binary(max_size=40), st.binary(max_size=40))
@example(b"", b"\x00")
@example(b"a", b"a\x00")
@example(b"a\x00", b"a\x00\x00")
@example(b"a\x00\xff", b"a\x01")
@example(b"a\x00", b"a\x01")
def test_escape_keeps_byte_order_and_is_prefix_free(a: bytes, b: bytes) -> None:
    assume(a != b)
    low, high = sorted((a, b))
    assert keys.escape(low) < keys.escape(high), (low, high)
    assert not keys.escape(high).startswith(keys.escape(low)), "an escaped key is a prefix of another"


REGION_KEYS = st.tuples(NAME, BOUNDARY, U64)


@given(REGION_KEYS, REGION_KEYS)
@example(("t", b"", 5), ("t", b"\x00", 1))
@example(("t", b"a", 2**64 - 1), ("t", b"a\x00", 0))
@example(("t", b"\xff" * 3, 0), ("t.a", b"", 0))
@example(("a", b"\xff", 0), ("ab", b"", 0))
def test_region_keys_sort_by_table_then_start_key_then_region_id(
    a: tuple[str, bytes, int], b: tuple[str, bytes, int]
) -> None:
    key_a, key_b = keys.region_key(*a), keys.region_key(*b)
    domain_a, domain_b = (a[0].encode(), a[1], a[2]), (b[0].encode(), b[1], b[2])
    assert (key_a < key_b) == (domain_a < domain_b) and (key_a == key_b) == (domain_a == domain_b)
    assert key_a.startswith(keys.table_prefix(a[0]))
    assert key_b.startswith(keys.table_prefix(a[0])) == (a[0] == b[0]), "a table prefix matched another table"


@given(NAME, BOUNDARY, U64, BOUNDARY)
@example("t", b"a", 2**64 - 1, b"a")
@example("t", b"a\x00", 0, b"a")
@example("t", b"a", 0, b"a\x00")
def test_floor_key_sorts_after_regions_starting_at_or_before_the_row(
    table: str, start_key: bytes, region_id: int, row: bytes
) -> None:
    region, floor = keys.region_key(table, start_key, region_id), keys.region_floor_key(table, row)
    assert (region <= floor) == (start_key <= row)


@given(U64)
def test_u64_round_trips_and_keeps_order(value: int) -> None:
    assert keys.from_u64(keys.u64(value)) == value
    if value:
        assert keys.u64(value - 1) < keys.u64(value)


@pytest.mark.parametrize("value", [-1, 2**64])
def test_u64_refuses_values_outside_64_bits(value: int) -> None:
    with pytest.raises(ValueError, match=f"expected an unsigned 64-bit id, got {value}"):
        keys.u64(value)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 7, b"\x00" * 9])
def test_from_u64_refuses_other_lengths(raw: bytes) -> None:
    with pytest.raises(ValueError, match=f"expected an 8-byte id, got {len(raw)} bytes"):
        keys.from_u64(raw)
