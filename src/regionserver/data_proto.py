"""protobuf <-> regionserver.data: the data RPCs' messages (protos/regent/proto/data.proto) turned into the
store's requests, and its answers back into messages. No I/O, no state.

Two kinds of refusal come out of here. InvalidRequest is the whole call's (a malformed request: an unknown
enum value, mismatched lengths, too many rows, an empty column name): nothing of the call is done. A
RowError (regionserver.data.errors) is one row's: the row is left out and answered as refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from regent.proto import common_pb2, data_pb2
from regionserver.data import (
    BadMutation,
    Cell,
    CheckAndPut,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Increment,
    Put,
    RowError,
    RowMutation,
    RowTooLong,
    Scan,
    ScanFilter,
    TimeRange,
)
from regionserver.data.keys import MAX_ROW_BYTES, TS_MAX
from regionserver.data.mutations import Column, Operation

#: Rows of one Get, Mutate or Increment call, over all its regions (the client splits bigger batches).
MAX_ROWS_PER_CALL = 100_000
#: Rows (pieces, with batching) of one scanner reply; more asked for is served as this many.
MAX_ROWS_PER_REPLY = 10_000
DEFAULT_ROWS_PER_REPLY = 1000
#: Bytes of cells in one scanner reply, about (HBase's max result size is 2 MB): the rest comes next.
MAX_REPLY_BYTES = 8 << 20
#: What a refusal quotes of a row key or a value: refusals stay small whatever was sent.
QUOTE_BYTES = 64

MUTATION_KINDS = frozenset(data_pb2.Mutation.Kind.values())


class InvalidRequest(Exception):
    """A request the server cannot take as a whole (regent-error InvalidArgument): nothing was done."""


def quote(raw: bytes) -> str:
    """A row key or value as a refusal shows it: at most QUOTE_BYTES of it, and its length if longer."""
    if len(raw) <= QUOTE_BYTES:
        return repr(raw)
    return f"{raw[:QUOTE_BYTES]!r}... ({len(raw)} bytes)"


def check_row_count(count: int, what: str) -> None:
    if count > MAX_ROWS_PER_CALL:
        raise InvalidRequest(
            f"a {what} call carries at most {MAX_ROWS_PER_CALL} rows, this one {count}: split the batch"
        )


def check_read_row(row: bytes) -> None:
    """A row a read names: 1..MAX_ROW_BYTES bytes (no row can exist outside that)."""
    if not 0 < len(row) <= MAX_ROW_BYTES:
        raise InvalidRequest(f"a row key has 1..{MAX_ROW_BYTES} bytes, got one of {len(row)} bytes")


# ---- columns and reads ----


def column_of(raw: bytes) -> Column:
    """b"family" (every qualifier of it) or b"family:qualifier" (one column)."""
    family, colon, qualifier = raw.partition(b":")
    if not family:
        raise InvalidRequest(f"a column is b'family' or b'family:qualifier', got {quote(raw)}")
    return (family, qualifier) if colon else family


def columns_of(raws: Iterable[bytes]) -> tuple[Column, ...]:
    return tuple(column_of(raw) for raw in raws)


def single_column(raw: bytes) -> tuple[bytes, bytes]:
    """b"family:qualifier" for a write or a check (a bare family names no cell): a RowError if not."""
    family, colon, qualifier = raw.partition(b":")
    if not family or not colon:
        raise BadMutation(f"a counter or checked column is b'family:qualifier', got {quote(raw)}")
    return family, qualifier


def max_versions_of(value: int) -> int:
    return value or 1


def time_range_of(msg: data_pb2.TimeRange, present: bool) -> TimeRange:
    if not present:
        return TimeRange()
    high = msg.max or TS_MAX + 1
    if msg.min > TS_MAX or msg.min >= high:
        raise InvalidRequest(f"a time range needs min < max, got [{msg.min}, {msg.max})")
    return TimeRange(msg.min, high)


def scan_of(spec: data_pb2.ScanSpec, scan_filter: ScanFilter | None) -> Scan:
    return Scan(
        start_row=spec.start_row,
        stop_row=spec.stop_row,
        prefix=spec.prefix if spec.HasField("prefix") else None,
        columns=columns_of(spec.columns),
        max_versions=max_versions_of(spec.max_versions),
        time_range=time_range_of(spec.time_range, spec.HasField("time_range")),
        limit=spec.limit or None,
        reverse=spec.reverse,
        filter=scan_filter,
    )


def rows_per_reply(asked: int) -> int:
    return min(asked or DEFAULT_ROWS_PER_REPLY, MAX_ROWS_PER_REPLY)


# ---- writes ----


def check_kinds(mutations: Iterable[data_pb2.Mutation]) -> None:
    for m in mutations:
        if m.kind not in MUTATION_KINDS:
            raise InvalidRequest(
                f"unknown mutation kind {m.kind}: one of {sorted(MUTATION_KINDS)} "
                "(PUT, DELETE_ROW, DELETE_FAMILY, DELETE_COLUMN, DELETE_VERSION)"
            )


def _timestamp(m: data_pb2.Mutation) -> int | None:
    return m.timestamp if m.HasField("timestamp") else None


def operation_of(m: data_pb2.Mutation) -> Operation:
    """One mutation (its kind checked by check_kinds first)."""
    kind, ts = m.kind, _timestamp(m)
    if kind == data_pb2.Mutation.PUT:
        return Put(m.family, m.qualifier, m.value, ts)
    if kind == data_pb2.Mutation.DELETE_ROW:
        return DeleteRow(ts)
    if kind == data_pb2.Mutation.DELETE_FAMILY:
        return DeleteFamily(m.family, ts)
    if kind == data_pb2.Mutation.DELETE_COLUMN:
        return DeleteColumn(m.family, m.qualifier, ts)
    return DeleteVersion(m.family, m.qualifier, ts)


def row_mutation_of(row: bytes, mutations: Sequence[data_pb2.Mutation]) -> RowMutation:
    return RowMutation(row, tuple(operation_of(m) for m in mutations))


def increment_of(msg: data_pb2.RowIncrement, nonce_group: int = 0) -> Increment:
    """The increments of one row (lengths checked by check_increment first); a RowError for a column that
    names no cell. With a nonce, (nonce_group, nonce) names it across its attempts."""
    amounts = tuple(
        (*single_column(column), amount) for column, amount in zip(msg.columns, msg.amounts, strict=True)
    )
    return Increment(msg.row, amounts, (nonce_group, msg.nonce) if msg.nonce else None)


def check_increment(msg: data_pb2.RowIncrement) -> None:
    if len(msg.columns) != len(msg.amounts):
        raise InvalidRequest(
            f"an increment of row {quote(msg.row)} has {len(msg.columns)} columns and "
            f"{len(msg.amounts)} amounts: one amount per column"
        )


def check_and_put_of(msg: data_pb2.CheckAndPutRequest) -> CheckAndPut:
    family, qualifier = single_column(msg.column)
    expected = msg.expected if msg.HasField("expected") else None
    return CheckAndPut(msg.row, family, qualifier, expected, row_mutation_of(msg.row, msg.mutations))


def check_row(row: bytes) -> None:
    """The store checks every written row; a row refused before it reaches the store says the same."""
    if not 0 < len(row) <= MAX_ROW_BYTES:
        raise RowTooLong(
            f"a row key must have 1..{MAX_ROW_BYTES} bytes, this one has {len(row)}: row refused"
        )


# ---- answers ----


def row_error(exc: RowError) -> data_pb2.RowError:
    return data_pb2.RowError(code=type(exc).__name__, message=str(exc))


def add_row(
    rows: RepeatedCompositeFieldContainer[data_pb2.Row],
    row: bytes,
    cells: Iterable[Cell],
    partial: bool = False,
) -> None:
    """Append a row of cells to a reply's `rows`, built in place: a reply carries up to thousands of
    cells, and a message built apart and then added would be copied into it (half the cost again)."""
    add = rows.add(row=row, partial=partial).cells.add
    for c in cells:
        add(family=c.family, qualifier=c.qualifier, timestamp=c.timestamp, value=c.value)


def region_error(
    reason: data_pb2.RegionError.Reason.ValueType,
    message: str,
    moved_to: common_pb2.ServerName | None = None,
) -> data_pb2.RegionError:
    error = data_pb2.RegionError(reason=reason, message=message)
    if moved_to is not None:
        error.moved_to.CopyFrom(moved_to)
    return error
