"""Applying one write to a region's cells inside the commit's transaction.

Each row is all or nothing without a nested transaction: a write is first checked completely (row and
cell sizes, families, timestamps, and for increments the counters it reads), and only then written. A
refused row raises a RowError before anything of it is written; the only failures after that are
LMDB's own (a full map), which abort the whole commit.

Deletes remove the versions they cover at once, in the same transaction, rather than writing delete
markers: no read has to merge markers, and compaction only has versions and ttl left to enforce. So a
put written *after* a delete, with an older timestamp than the delete's, is visible here, where HBase
would mask it until a major compaction (HBase's own documented caveat, "deletes mask puts"; the
decision is in docs/decisions.md, "Region store (issue 8)").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meta.types import ColumnFamily
from regionserver.data import keys
from regionserver.data.errors import (
    BadMutation,
    CellTooLarge,
    NoSuchFamily,
    NotACounter,
    RowError,
    RowTooLong,
)
from regionserver.data.mutations import (
    CheckAndPut,
    Counters,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Increment,
    Operation,
    Outcome,
    Put,
    RowMutation,
    Write,
)
from regionserver.data.nonces import Nonces
from regionserver.data.ordered import Cells
from regionserver.data.versions import Selection, retained_count, visible

COUNTER_BYTES = 8
_I64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Context:
    """What a commit applies its writes with: the table's families, the time, the size limit."""

    families: Mapping[bytes, ColumnFamily]
    now_ms: int
    max_cell_bytes: int


def apply(cells: Cells, write: Write, ctx: Context, nonces: Nonces | None = None) -> Outcome:
    """Apply `write`; a refused row comes back as its RowError, with nothing of it written. An increment
    with a nonce is recorded in `nonces`, and one already recorded there answers as it did then."""
    try:
        if isinstance(write, RowMutation):
            _check_mutation(write, ctx)
            _mutate(cells, write, ctx)
            return None
        if isinstance(write, Increment):
            return _increment(cells, write, ctx, nonces)
        return _check_and_put(cells, write, ctx)
    except RowError as exc:
        return exc


def refusal(write: Write, ctx: Context) -> RowError | None:
    """Why `write` would be refused whatever the store holds (its row, families, timestamps and cell
    sizes), or None. The store asks before it creates itself for writes that would all be refused."""
    try:
        if isinstance(write, RowMutation):
            _check_mutation(write, ctx)
        elif isinstance(write, Increment):
            _check_row(write.row)
            for family, _, _ in write.amounts:
                _check_family(family, ctx)
        else:
            _check_row(write.row)
            _check_family(write.family, ctx)
            _check_mutation(write.mutation, ctx)
    except RowError as exc:
        return exc
    return None


def _check_row(row: bytes) -> None:
    if not 0 < len(row) <= keys.MAX_ROW_BYTES:
        raise RowTooLong(
            f"a row key must have 1..{keys.MAX_ROW_BYTES} bytes, this one has {len(row)}: row refused"
        )


def _check_family(family: bytes, ctx: Context) -> None:
    if family not in ctx.families:
        raise NoSuchFamily(f"no column family {family!r}: the table has {sorted(ctx.families)!r}")


def _check_timestamp(timestamp: int | None) -> None:
    if timestamp is not None and not 0 <= timestamp <= keys.TS_MAX:
        raise BadMutation(f"a timestamp must be 0..{keys.TS_MAX} ms, got {timestamp}")


def _check_cell(row: bytes, family: bytes, qualifier: bytes, value: bytes, ctx: Context) -> None:
    size = len(row) + len(family) + len(qualifier) + len(value)
    if size > ctx.max_cell_bytes:
        raise CellTooLarge(
            f"cell {family!r}:{qualifier[:64]!r} of row {row[:64]!r} has {size} bytes, more than the "
            f"maximum of {ctx.max_cell_bytes}: row refused"
        )


def _check_mutation(mutation: RowMutation, ctx: Context) -> None:
    _check_row(mutation.row)
    for op in mutation.operations:
        _check_timestamp(op.timestamp)
        if not isinstance(op, DeleteRow):
            _check_family(op.family, ctx)
        if isinstance(op, Put):
            _check_cell(mutation.row, op.family, op.qualifier, op.value, ctx)


def _mutate(cells: Cells, mutation: RowMutation, ctx: Context) -> None:
    for op in mutation.operations:
        _operate(cells, mutation.row, op, ctx)


def _operate(cells: Cells, row: bytes, op: Operation, ctx: Context) -> None:
    at = ctx.now_ms if op.timestamp is None else op.timestamp
    if isinstance(op, Put):
        cells.put(keys.cell_key(row, op.family, op.qualifier, at), op.value)
    elif isinstance(op, DeleteVersion):
        _delete_version(cells, row, op, ctx)
    elif isinstance(op, DeleteColumn):
        # Versions at or below `at` are the end of the column's range (newest first).
        _delete_range(
            cells,
            keys.cell_key(row, op.family, op.qualifier, at),
            keys.column_end(row, op.family, op.qualifier),
            at,
        )
    elif isinstance(op, DeleteFamily):
        _delete_range(cells, keys.family_start(row, op.family), keys.family_end(row, op.family), at)
    else:
        _delete_range(cells, keys.row_start(row), keys.row_end(row), at)


def _delete_range(cells: Cells, start: bytes, stop: bytes, at_or_below: int) -> None:
    doomed = [k for k, _ in cells.items(start, stop) if keys.timestamp_of(k) <= at_or_below]
    for key in doomed:
        cells.delete(key)


def _delete_version(cells: Cells, row: bytes, op: DeleteVersion, ctx: Context) -> None:
    f, q = op.family, op.qualifier
    versions = list(cells.items(keys.column_start(row, f, q), keys.column_end(row, f, q)))
    if not versions:
        return
    target = versions[0][0] if op.timestamp is None else keys.cell_key(row, f, q, op.timestamp)
    # The versions behind the deleted one move up by one: those that were not retained before the delete
    # go with it, so that a version compaction would have removed cannot reappear (the rule of
    # regionserver.data.versions stays compaction-proof).
    keep = retained_count(versions, ctx.families[f], ctx.now_ms)
    for key in {target, *(key for key, _ in versions[keep:])}:
        cells.delete(key)


def newest(
    cells: Cells, row: bytes, family: bytes, qualifier: bytes, ctx: Context
) -> tuple[int, bytes] | None:
    """The newest retained version of a column, as a read sees it: (timestamp, value) or None."""
    versions = list(
        cells.items(keys.column_start(row, family, qualifier), keys.column_end(row, family, qualifier))
    )
    if not versions:
        return None
    seen = visible(versions, Selection(ctx.families, frozenset({family}), frozenset()), ctx.now_ms)
    return (seen[0].timestamp, seen[0].value) if seen else None


def _increment(cells: Cells, inc: Increment, ctx: Context, nonces: Nonces | None) -> Counters:
    _check_row(inc.row)
    totals: dict[tuple[bytes, bytes], int] = {}
    for family, qualifier, amount in inc.amounts:
        _check_family(family, ctx)
        totals[(family, qualifier)] = totals.get((family, qualifier), 0) + amount
    if nonces is not None and inc.nonce is not None:
        answered = nonces.applied(*inc.nonce, ctx.now_ms)
        if answered is not None and len(answered) == len(totals):  # a retry: its first answer
            return dict(zip(totals, answered, strict=True))
    plan: list[tuple[bytes, bytes, int, int]] = []
    for (family, qualifier), amount in totals.items():
        current = newest(cells, inc.row, family, qualifier, ctx)
        value, at = 0, ctx.now_ms
        if current is not None:
            if len(current[1]) != COUNTER_BYTES:
                raise NotACounter(
                    f"cannot increment {family!r}:{qualifier!r} of row {inc.row[:64]!r}: its value has "
                    f"{len(current[1])} bytes, a counter has {COUNTER_BYTES} (big-endian signed)"
                )
            value = int.from_bytes(current[1], "big", signed=True)
            at = max(at, current[0])  # never behind the version it replaces, or it would be hidden
        total = value + amount
        if not _I64[0] <= total <= _I64[1]:
            raise BadMutation(f"incrementing {family!r}:{qualifier!r} by {amount} overflows 64 bits")
        plan.append((family, qualifier, total, at))
    for family, qualifier, total, at in plan:
        cells.put(
            keys.cell_key(inc.row, family, qualifier, at), total.to_bytes(COUNTER_BYTES, "big", signed=True)
        )
    if nonces is not None and inc.nonce is not None:
        nonces.record(*inc.nonce, inc.row, [total for _, _, total, _ in plan], ctx.now_ms)
    return {(family, qualifier): total for family, qualifier, total, _ in plan}


def _check_and_put(cells: Cells, cap: CheckAndPut, ctx: Context) -> bool:
    if cap.mutation.row != cap.row:
        raise BadMutation(f"check-and-put checks row {cap.row[:64]!r} but mutates {cap.mutation.row[:64]!r}")
    _check_row(cap.row)
    _check_family(cap.family, ctx)
    _check_mutation(cap.mutation, ctx)
    current = newest(cells, cap.row, cap.family, cap.qualifier, ctx)
    if (current[1] if current is not None else None) != cap.expected:
        return False
    _mutate(cells, cap.mutation, ctx)
    return True
