"""Table: reading and writing rows, with happybase's methods, arguments, checks and return shapes.

    table = conn.table("t")
    table.put(b"row1", {b"f:a": b"1"})
    table.row(b"row1")                      # {b"f:a": b"1"}
    for key, data in table.scan(row_prefix=b"row"):
        ...

happybase's semantics (its docs and HBase's Thrift gateway): a read with `timestamp` returns versions
strictly older than it; a put with `timestamp` writes that version; a delete with `timestamp` removes
the versions at or below it; `wal` is accepted and ignored (every write is durable before it is
acknowledged); `rows([])` is empty. A single-row write that is refused raises the row's RowRefused
(NoSuchFamily, RowTooLong, ...); a batch raises RowsFailed naming every refused row. docs/data.md explains
the routing and the retries behind each call.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from client.batch import Batch
from client.operations import Cell, GetRows, IncrementRows, MutateRows, RowChange, RowIncrement
from client.scanning import Scan, Scanner
from client.table_args import (
    ALL_VERSIONS,
    Data,
    as_bytes,
    bytes_increment,
    check_columns,
    check_positive,
    check_timestamp,
    delete_mutations,
    make_row,
    put_mutations,
    read_range,
    unique,
)
from meta.types import validate_table_name

if TYPE_CHECKING:
    from client.connection import Connection
    from client.errors import RowRefused

_COUNTER = struct.Struct(">q")


class Table:
    """One table of a Connection (`connection.table(name)`). Thread-safe and cheap: it holds no state of
    its own beyond its name; the location cache and channels are the connection's."""

    def __init__(self, connection: Connection, name: str | bytes, *, timeout: float | None = None) -> None:
        text = name.decode("utf-8") if isinstance(name, bytes) else name
        if not isinstance(text, str):
            raise TypeError(f"a table name is a text or byte string, got {type(name).__name__}")
        validate_table_name(text)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.connection = connection
        self.table_name = text
        self.timeout = connection.timeout if timeout is None else timeout

    @property
    def name(self) -> Any:
        """The table's name (str here; regent.happybase's Table gives bytes, as happybase does)."""
        return self.table_name

    def __repr__(self) -> str:
        return f"<{__name__}.{type(self).__name__} name={self.name!r}>"

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout

    # ---- what the table is ----

    def families(self) -> dict[bytes, dict[str, Any]]:
        """The column families, as happybase describes them: name -> {name, max_versions, time_to_live,
        ...}; settings Regent does not have read as HBase's defaults for them."""
        description = self.connection.admin().describe_table(self.table_name, timeout=self.timeout)
        return {
            f.name.encode(): {
                "name": f.name.encode() + b":",
                "max_versions": f.max_versions,
                "min_versions": f.min_versions,
                "compression": "NONE",
                "in_memory": False,
                "bloom_filter_type": "NONE",
                "bloom_filter_vector_size": 0,
                "bloom_filter_nb_hashes": 0,
                "block_cache_enabled": True,
                "time_to_live": f.ttl if f.ttl else 2**31 - 1,  # HBase's FOREVER
            }
            for f in description.families
        }

    def regions(self) -> list[dict[str, Any]]:
        """The table's regions in key order, as happybase gives them: start_key, end_key, id, name, version,
        server_name, port (server_name b"" and port 0 for a region on no server). Split and merged parents
        are left out, as HBase's region list leaves them: retired, their rows are their children's."""
        out = []
        for loc in self.connection.admin().table_regions(self.table_name, timeout=self.timeout):
            info = loc.info
            if info.offline:
                continue
            out.append(
                {
                    "start_key": info.start_key,
                    "end_key": info.end_key,
                    "id": info.region_id,
                    "name": f"{self.table_name},".encode() + info.start_key + f",{info.region_id}".encode(),
                    "version": 1,
                    "server_name": loc.server.host.encode() if loc.server else b"",
                    "port": loc.server.port if loc.server else 0,
                    "state": loc.state.name,
                }
            )
        return out

    # ---- reads ----

    def row(
        self,
        row: bytes | str,
        columns: Sequence[bytes | str] | None = None,
        timestamp: int | None = None,
        include_timestamp: bool = False,
    ) -> dict[bytes, Any]:
        """One row as {column: value} (or (value, timestamp)), {} if it has no cells."""
        wanted = check_columns(columns)
        ts = check_timestamp(timestamp)
        key = as_bytes(row, "a row key")
        if ts == 0:
            return {}  # nothing is strictly older than 0
        (cells,) = self._get([key], wanted, 1, ts)
        return make_row(cells, include_timestamp)

    def rows(
        self,
        rows: Sequence[bytes | str],
        columns: Sequence[bytes | str] | None = None,
        timestamp: int | None = None,
        include_timestamp: bool = False,
    ) -> list[tuple[bytes, dict[bytes, Any]]]:
        """Many rows, in one parallel call per RegionServer: [(key, {column: value})] in the order asked,
        leaving out rows that have no cells."""
        wanted = check_columns(columns)
        if not rows:
            return []
        ts = check_timestamp(timestamp)
        keys = [as_bytes(r, "a row key") for r in rows]
        if ts == 0:
            return []
        distinct = unique(keys)
        found = dict(zip(distinct, self._get(distinct, wanted, 1, ts), strict=True))
        return [(k, make_row(found[k], include_timestamp)) for k in keys if found[k]]

    def cells(
        self,
        row: bytes | str,
        column: bytes | str,
        versions: int | None = None,
        timestamp: int | None = None,
        include_timestamp: bool = False,
    ) -> list[Any]:
        """The versions of one column, newest first: [value] (or [(value, timestamp)])."""
        if versions is None:
            versions = ALL_VERSIONS
        elif isinstance(versions, bool) or not isinstance(versions, int):
            raise TypeError("'versions' argument must be a number or None")
        elif versions < 1:
            raise ValueError("'versions' argument must be at least 1 (or None)")
        ts = check_timestamp(timestamp)
        key = as_bytes(row, "a row key")
        wanted = as_bytes(column, "a column")
        if ts == 0:
            return []
        (cells,) = self._get([key], [wanted], min(versions, ALL_VERSIONS), ts)
        return [(c.value, c.timestamp) if include_timestamp else c.value for c in cells]

    def _get(
        self, rows: list[bytes], columns: list[bytes], versions: int, ts: int | None
    ) -> list[list[Cell]]:
        op = GetRows(columns, versions, read_range(ts))
        return self.connection.router().execute(self.table_name, op, rows, self._deadline())

    def scan(
        self,
        row_start: bytes | str | None = None,
        row_stop: bytes | str | None = None,
        row_prefix: bytes | str | None = None,
        columns: Sequence[bytes | str] | None = None,
        filter: str | bytes | None = None,
        timestamp: int | None = None,
        include_timestamp: bool = False,
        batch_size: int = 1000,
        scan_batching: int | None = None,
        limit: int | None = None,
        sorted_columns: bool = False,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, dict[bytes, Any]]]:
        """Rows in key order (reverse: descending), as (key, {column: value}), across regions.

        `row_start` inclusive, `row_stop` exclusive (reverse: `row_start` is the highest row and
        `row_stop` the lower, exclusive bound), or `row_prefix` alone; `batch_size` rows per round trip;
        `scan_batching` at most this many cells per piece of a wide row (a row may then come in several
        pieces, as in happybase); `limit` rows in all; `filter` is HBase's filter language.
        """
        scan = self._scan_spec(
            row_start,
            row_stop,
            row_prefix,
            columns,
            filter,
            timestamp,
            batch_size,
            scan_batching,
            limit,
            reverse,
        )
        return self._scan_rows(scan, include_timestamp, sorted_columns)

    def _scan_spec(
        self,
        row_start: object,
        row_stop: object,
        row_prefix: object,
        columns: object,
        filter: object,
        timestamp: object,
        batch_size: object,
        scan_batching: object,
        limit: object,
        reverse: bool,
    ) -> Scan:
        caching = check_positive(batch_size, "batch_size")
        rows_limit = check_positive(limit, "limit", optional=True)
        batching = check_positive(scan_batching, "scan_batching", optional=True)
        prefix: bytes | None = None
        if row_prefix is not None:
            if row_start is not None or row_stop is not None:
                raise TypeError("'row_prefix' cannot be combined with 'row_start' or 'row_stop'")
            prefix = as_bytes(row_prefix, "'row_prefix'")
            after = bytes_increment(prefix) or b""
            # Reverse: from just past the prefix's rows down; the prefix itself bounds the scan (a row
            # equal to the prefix is one of them, so it cannot be the exclusive stop row).
            start, stop = (after, b"") if reverse else (prefix, after)
        else:
            start = b"" if row_start is None else as_bytes(row_start, "'row_start'")
            stop = b"" if row_stop is None else as_bytes(row_stop, "'row_stop'")
        ts = check_timestamp(timestamp)
        if filter is not None and not isinstance(filter, str | bytes):
            raise TypeError(f"'filter' must be a string, got {type(filter).__name__}")
        text = filter.decode("utf-8") if isinstance(filter, bytes) else (filter or "")
        return Scan(
            start_row=start,
            stop_row=stop,
            prefix=prefix,
            columns=check_columns(columns),
            time_range=read_range(ts),
            filter=text,
            limit=rows_limit,
            reverse=bool(reverse),
            caching=caching or 1000,
            batching=batching or 0,
        )

    def _scan_rows(
        self, scan: Scan, include_timestamp: bool, sorted_columns: bool
    ) -> Iterator[tuple[bytes, dict[bytes, Any]]]:
        if scan.time_range is not None and scan.time_range.max == 0:
            return  # nothing is strictly older than 0
        pieces = iter(Scanner(self.connection.router(), self.table_name, scan, self.timeout))
        try:
            for piece in pieces:
                yield piece.row, make_row(piece.cells, include_timestamp, sorted_columns)
        finally:
            pieces.close()  # type: ignore[attr-defined]  # a generator: closes the server-side scanner

    # ---- writes ----

    def put(
        self,
        row: bytes | str,
        data: Data,
        timestamp: int | None = None,
        wal: bool = True,
    ) -> None:
        """Write the columns of `data` in one row, atomically; with `timestamp`, as that version."""
        ts = check_timestamp(timestamp, optional=True)
        self._write_one(RowChange(as_bytes(row, "a row key"), tuple(put_mutations(data, ts))))

    def delete(
        self,
        row: bytes | str,
        columns: Sequence[bytes | str] | None = None,
        timestamp: int | None = None,
        wal: bool = True,
    ) -> None:
        """Delete the row (columns None) or the families and columns given; with `timestamp`, only the
        versions at or below it."""
        ts = check_timestamp(timestamp, optional=True)
        self._write_one(RowChange(as_bytes(row, "a row key"), tuple(delete_mutations(columns, ts))))

    def batch(
        self,
        timestamp: int | None = None,
        batch_size: int | None = None,
        transaction: bool = False,
        wal: bool = True,
    ) -> Batch:
        """A Batch of puts and deletes sent together (a context manager that sends on leaving)."""
        return Batch(self, timestamp=timestamp, batch_size=batch_size, transaction=transaction, wal=wal)

    def _write_one(self, change: RowChange) -> None:
        if not change.mutations:
            return
        (error,) = self.mutate([change])
        if error is not None:
            raise error

    def mutate(self, changes: Sequence[RowChange]) -> list[RowRefused | None]:
        """Apply each row's mutations atomically, many rows in one parallel call per RegionServer; per row
        None (written) or the RowRefused that kept it out. The Batch and put/delete path."""
        if not changes:
            return []
        return self.connection.router().execute(self.table_name, MutateRows(), changes, self._deadline())

    # ---- counters ----

    def counter_get(self, row: bytes | str, column: bytes | str) -> int:
        """The counter's value (0 if it has none), without changing it."""
        return self.counter_inc(row, column, value=0)

    def counter_set(self, row: bytes | str, column: bytes | str, value: int = 0) -> None:
        """Set the counter to `value` (an 8-byte big-endian signed integer, as HBase stores it)."""
        self.put(row, {column: _COUNTER.pack(value)})

    def counter_inc(self, row: bytes | str, column: bytes | str, value: int = 1) -> int:
        """Add `value` to the counter atomically; the new value."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a counter's value must be an integer, got {type(value).__name__}")
        item = RowIncrement(as_bytes(row, "a row key"), (as_bytes(column, "a column"),), (value,))
        (result,) = self.connection.router().execute(
            self.table_name, IncrementRows(), [item], self._deadline()
        )
        if isinstance(result, Exception):
            raise result
        return result[0]

    def counter_dec(self, row: bytes | str, column: bytes | str, value: int = 1) -> int:
        """Subtract `value` from the counter atomically; the new value."""
        return self.counter_inc(row, column, -value)


__all__ = ["Table"]
