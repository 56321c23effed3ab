"""Batch: puts and deletes collected and sent together, as happybase's Batch.

    with table.batch(batch_size=1000) as b:
        for key, data in items:
            b.put(key, data)

A batch is sent by `send()`, by leaving the `with` block, and (with `batch_size`) whenever that many
mutations have been collected. Each row's mutations go in one RowChange, applied in order and all or
nothing; the rows are routed like any multi-row call (one parallel RPC per RegionServer). Rows refused for
what they are raise RowsFailed after the send, carrying each refused row's error; every other row was
written. `transaction=True` only means what it means in happybase: a `with` block that raises sends
nothing (there are no transactions across rows).
"""

from __future__ import annotations

from numbers import Integral
from types import TracebackType
from typing import TYPE_CHECKING

from client.errors import RowRefused, RowsFailed
from client.operations import Mutation, RowChange
from client.table_args import Data, as_bytes, check_timestamp, delete_mutations, put_mutations

if TYPE_CHECKING:
    from client.table import Table

#: How many refused rows a RowsFailed message quotes.
QUOTED_ROWS = 5


class Batch:
    """Mutations of many rows, sent together. Not thread-safe (use one per thread)."""

    def __init__(
        self,
        table: Table,
        timestamp: int | None = None,
        batch_size: int | None = None,
        transaction: bool = False,
        wal: bool = True,
    ) -> None:
        given: object = timestamp  # unchecked callers pass anything
        if not (given is None or isinstance(given, Integral)):
            raise TypeError("'timestamp' must be an integer or None")
        if batch_size is not None:
            if transaction:
                raise TypeError("'transaction' cannot be used when 'batch_size' is specified")
            if not batch_size > 0:
                raise ValueError("'batch_size' must be > 0")
        self._table = table
        self._timestamp = check_timestamp(timestamp, optional=True)
        self._batch_size = batch_size
        self._transaction = transaction
        self._wal = wal
        self._reset()

    def _reset(self) -> None:
        self._mutations: dict[bytes, list[Mutation]] = {}
        self._count = 0

    def put(self, row: bytes | str, data: Data, wal: bool | None = None) -> None:
        """Add a put of the columns of `data` to `row` (`wal` is accepted and ignored: writes are durable)."""
        self._add(row, put_mutations(data, self._timestamp))

    def delete(
        self, row: bytes | str, columns: list[bytes | str] | None = None, wal: bool | None = None
    ) -> None:
        """Add a delete of the row (columns None) or of the families and columns given."""
        self._add(row, delete_mutations(columns, self._timestamp))

    def _add(self, row: bytes | str, mutations: list[Mutation]) -> None:
        self._mutations.setdefault(as_bytes(row, "a row key"), []).extend(mutations)
        self._count += len(mutations)  # happybase counts mutations, not rows
        if self._batch_size and self._count >= self._batch_size:
            self.send()

    def send(self) -> None:
        """Send what was collected. RowsFailed if rows were refused (the others are written)."""
        changes = [RowChange(row, tuple(m)) for row, m in self._mutations.items() if m]
        self._reset()
        if not changes:
            return
        outcomes = self._table.mutate(changes)
        failed: dict[bytes, RowRefused] = {
            change.row: error for change, error in zip(changes, outcomes, strict=True) if error is not None
        }
        if failed:
            raise RowsFailed(_message(self._table.table_name, failed, len(changes)), failed=failed)

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._transaction and exc_type is not None:
            return
        self.send()


def _message(table: str, failed: dict[bytes, RowRefused], total: int) -> str:
    quoted = "; ".join(f"{row!r}: {type(e).__name__} ({e})" for row, e in list(failed.items())[:QUOTED_ROWS])
    more = f"; and {len(failed) - QUOTED_ROWS} more" if len(failed) > QUOTED_ROWS else ""
    return f"table {table!r}: {len(failed)} of {total} rows refused, nothing of them written: {quoted}{more}"


__all__ = ["Batch"]
