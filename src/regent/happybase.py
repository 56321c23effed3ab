"""happybase on Regent: existing happybase code runs unchanged apart from the import.

    import regent.happybase as happybase

    connection = happybase.Connection("127.0.0.1", 16000)     # any master of the cluster
    table = connection.table("t")
    table.put(b"row1", {b"f:a": b"1"})
    print(table.row(b"row1"))

Connection, ConnectionPool, NoConnectionsAvailable, Table and Batch take happybase's arguments, make its
checks (the same TypeError and ValueError) and return its shapes; what differs, and why, is in
docs/data.md ("happybase on Regent"). In short:

- `host`/`port` name a Regent master (any one: the SDK finds the active master and follows failovers),
  not a Thrift gateway. `host` may also be "host:port[,host:port...]". With no host, $REGENT_MASTER is
  used if set, else localhost; the default port is 16000, where `regent local` puts its first master.
- `timeout` is in milliseconds, as in happybase: the deadline of each call (retries included); None is
  the SDK's 30 s.
- `transport`, `protocol` and `compat` are checked as happybase checks them, then have nothing to choose
  (there is no Thrift); `compat` below 0.96/0.98 refuses sorted_columns/reverse as happybase does.
- Certificates: $REGENT_CERTS_DIR (or the keyword-only `certs_dir=`, `user=`, `insecure=` that happybase
  does not have). Names and values may be str or bytes; what comes back is bytes.
- `create_table` takes happybase's family options: `max_versions` (default 3, as Thrift's
  ColumnDescriptor) and `time_to_live` (seconds; -1 or 2**31-1 for forever) are Regent's; `compression`,
  `in_memory`, `bloom_filter_type`, `bloom_filter_vector_size`, `bloom_filter_nb_hashes` and
  `block_cache_enabled` are accepted and ignored: they tune HBase's storage and change no result.
- `compact_table(name, major)` compacts every region (Regent has one kind of compaction); `wal=False`
  is accepted and ignored (every write is durable before it is acknowledged).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import client
from client.batch import Batch
from client.table import Table as SdkTable
from meta.types import ColumnFamily

__all__ = ["DEFAULT_PORT", "Batch", "Connection", "ConnectionPool", "NoConnectionsAvailable", "Table"]

COMPAT_MODES = ("0.90", "0.92", "0.94", "0.96", "0.98")
THRIFT_TRANSPORTS = ("buffered", "framed")
THRIFT_PROTOCOLS = ("binary", "compact")
DEFAULT_HOST = "localhost"
#: Where `regent local` (and `make run`) puts its first master.
DEFAULT_PORT = 16000
DEFAULT_TRANSPORT = "buffered"
DEFAULT_COMPAT = "0.98"
DEFAULT_PROTOCOL = "binary"
MASTER_ENV = "REGENT_MASTER"

#: Thrift's ColumnDescriptor defaults, which happybase's create_table gives a family.
THRIFT_MAX_VERSIONS = 3
#: HBase's FOREVER for a family's time to live.
FOREVER = 2**31 - 1
#: Family options that tune HBase's storage and change no result: accepted and ignored.
IGNORED_FAMILY_OPTIONS = frozenset(
    {
        "compression",
        "in_memory",
        "bloom_filter_type",
        "bloom_filter_vector_size",
        "bloom_filter_nb_hashes",
        "block_cache_enabled",
    }
)
FAMILY_OPTIONS = IGNORED_FAMILY_OPTIONS | {"name", "max_versions", "time_to_live"}


def _ensure_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"input must be a text or byte string, got {type(value).__name__}")


class Table(SdkTable):
    """happybase's Table: `name` is bytes (with the connection's prefix), as happybase's is."""

    def __init__(self, name: bytes, connection: Connection) -> None:
        super().__init__(connection._sdk(), name, timeout=connection._timeout_s)
        self._happybase = connection

    @property
    def name(self) -> bytes:
        return self.table_name.encode("utf-8")

    def scan(self, *args: Any, **kwargs: Any) -> Iterator[tuple[bytes, dict[bytes, Any]]]:
        # happybase's checks, in its order: the numbers, then what the compat mode allows.
        bound = _scan_arguments(*args, **kwargs)
        scan = self._scan_spec(
            bound["row_start"],
            bound["row_stop"],
            bound["row_prefix"],
            bound["columns"],
            bound["filter"],
            bound["timestamp"],
            bound["batch_size"],
            bound["scan_batching"],
            bound["limit"],
            bound["reverse"],
        )
        compat = self._happybase.compat
        if bound["sorted_columns"] and compat < "0.96":
            raise NotImplementedError("'sorted_columns' is only supported in HBase >= 0.96")
        if bound["reverse"] and compat < "0.98":
            raise NotImplementedError("'reverse' is only supported in HBase >= 0.98")
        if bound["filter"] is not None and compat == "0.90":
            raise NotImplementedError("'filter' is not supported in HBase 0.90")
        return self._scan_rows(scan, bool(bound["include_timestamp"]), bool(bound["sorted_columns"]))


_SCAN_DEFAULTS: dict[str, Any] = {
    "row_start": None,
    "row_stop": None,
    "row_prefix": None,
    "columns": None,
    "filter": None,
    "timestamp": None,
    "include_timestamp": False,
    "batch_size": 1000,
    "scan_batching": None,
    "limit": None,
    "sorted_columns": False,
    "reverse": False,
}


def _scan_arguments(*args: Any, **kwargs: Any) -> dict[str, Any]:
    names = list(_SCAN_DEFAULTS)
    if len(args) > len(names):
        raise TypeError(f"scan() takes at most {len(names)} positional arguments ({len(args)} given)")
    bound = dict(_SCAN_DEFAULTS)
    for name, value in zip(names, args, strict=False):
        bound[name] = value
    for name, value in kwargs.items():
        if name not in bound:
            raise TypeError(f"scan() got an unexpected keyword argument {name!r}")
        if names.index(name) < len(args):
            raise TypeError(f"scan() got multiple values for argument {name!r}")
        bound[name] = value
    return bound


class Connection:
    """A connection to a Regent cluster with happybase's Connection interface (see the module's doc)."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = DEFAULT_PORT,
        timeout: int | None = None,
        autoconnect: bool = True,
        table_prefix: str | bytes | None = None,
        table_prefix_separator: str | bytes = b"_",
        compat: str = DEFAULT_COMPAT,
        transport: str = DEFAULT_TRANSPORT,
        protocol: str = DEFAULT_PROTOCOL,
        *,
        certs_dir: str | None = None,
        user: str = "admin",
        insecure: bool = False,
    ) -> None:
        if transport not in THRIFT_TRANSPORTS:
            raise ValueError("'transport' must be one of {}".format(", ".join(THRIFT_TRANSPORTS)))
        prefix: bytes | None = None
        if table_prefix is not None:
            if not isinstance(table_prefix, str | bytes):
                raise TypeError("'table_prefix' must be a string")
            prefix = _ensure_bytes(table_prefix)
        if not isinstance(table_prefix_separator, str | bytes):
            raise TypeError("'table_prefix_separator' must be a string")
        if compat not in COMPAT_MODES:
            raise ValueError("'compat' must be one of {}".format(", ".join(COMPAT_MODES)))
        if protocol not in THRIFT_PROTOCOLS:
            raise ValueError("'protocol' must be one of {}".format(", ".join(THRIFT_PROTOCOLS)))
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
            raise TypeError(f"'timeout' must be a number of milliseconds or None, got {timeout!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"'timeout' must be positive (milliseconds), got {timeout}")
        self.host = host or os.environ.get(MASTER_ENV) or DEFAULT_HOST
        self.port = port or DEFAULT_PORT
        self.timeout = timeout
        self.table_prefix = prefix
        self.table_prefix_separator = _ensure_bytes(table_prefix_separator)
        self.compat = compat
        self.transport = transport
        self.protocol = protocol
        self._timeout_s = timeout / 1000.0 if timeout is not None else None
        self._options: dict[str, Any] = {"certs_dir": certs_dir, "user": user, "insecure": insecure}
        if self._timeout_s is not None:
            self._options["timeout"] = self._timeout_s
        self._lock = threading.Lock()
        self._connection: client.Connection | None = None
        if autoconnect:
            self.open()

    @property
    def masters(self) -> str:
        """The master address(es) this connection goes to: host:port, or host as given if it has a port."""
        return self.host if ":" in self.host else f"{self.host}:{self.port}"

    def _sdk(self) -> client.Connection:
        self.open()
        assert self._connection is not None
        return self._connection

    def _admin(self) -> client.Admin:
        return self._sdk().admin()

    def _table_name(self, name: str | bytes) -> str:
        raw = _ensure_bytes(name)
        if self.table_prefix is not None:
            raw = self.table_prefix + self.table_prefix_separator + raw
        return raw.decode("utf-8")

    # ---- lifecycle ----

    def open(self) -> None:
        """Open the connection (idempotent). Nothing is sent until a call needs it."""
        with self._lock:
            if self._connection is None:
                self._connection = client.Connection(self.masters, **self._options)

    def close(self) -> None:
        """Close the connection (idempotent); a later call opens it again, as happybase's does."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- tables ----

    def table(self, name: str | bytes, use_prefix: bool = True) -> Table:
        raw = _ensure_bytes(name)
        full = self._table_name(raw) if use_prefix else raw.decode("utf-8")
        return Table(full.encode("utf-8"), self)

    def tables(self) -> list[bytes]:
        names = [t.name.encode("utf-8") for t in self._admin().list_tables(timeout=self._timeout_s)]
        if self.table_prefix is not None:
            prefix = self.table_prefix + self.table_prefix_separator
            names = [n[len(prefix) :] for n in names if n.startswith(prefix)]
        return names

    def create_table(self, name: str | bytes, families: dict[str | bytes, Mapping[str, Any] | None]) -> None:
        full = self._table_name(name)
        if not isinstance(families, dict):
            raise TypeError("'families' arg must be a dictionary")
        if not families:
            raise ValueError(f"Cannot create table {full.encode()!r} (no column families specified)")
        self._admin().create_table(
            full, [_family(n, o) for n, o in families.items()], timeout=self._timeout_s
        )

    def delete_table(self, name: str | bytes, disable: bool = False) -> None:
        if disable and self.is_table_enabled(name):
            self.disable_table(name)
        self._admin().delete_table(self._table_name(name), timeout=self._timeout_s)

    def enable_table(self, name: str | bytes) -> None:
        self._admin().enable_table(self._table_name(name), timeout=self._timeout_s)

    def disable_table(self, name: str | bytes) -> None:
        self._admin().disable_table(self._table_name(name), timeout=self._timeout_s)

    def is_table_enabled(self, name: str | bytes) -> bool:
        return self._admin().is_table_enabled(self._table_name(name), timeout=self._timeout_s)

    def compact_table(self, name: str | bytes, major: bool = False) -> None:
        self._admin().compact(self._table_name(name), timeout=self._timeout_s)

    def __repr__(self) -> str:
        return f"<{__name__}.Connection masters={self.masters!r}>"


def _family(name: str | bytes, options: Mapping[str, Any] | None) -> ColumnFamily:
    """A happybase family spec as Regent's ColumnFamily; TypeError for an option happybase lacks too."""
    text = _ensure_bytes(name).decode("utf-8").rstrip(":")
    opts = dict(options or {})
    unknown = sorted(set(opts) - FAMILY_OPTIONS)
    if unknown:
        raise TypeError(f"column family {text!r}: unknown option(s) {', '.join(unknown)}")
    max_versions = opts.get("max_versions", THRIFT_MAX_VERSIONS)
    ttl = opts.get("time_to_live", -1)
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError(f"column family {text!r}: 'time_to_live' must be an integer, got {ttl!r}")
    return ColumnFamily(text, max_versions=max_versions, ttl=None if ttl in (-1, 0, FOREVER) else ttl)


class NoConnectionsAvailable(RuntimeError):
    """No connection could be taken from the pool within the timeout."""


class ConnectionPool:
    """A thread-safe pool of `size` Connections, as happybase's: `with pool.connection() as c: ...`.

    A thread that asks again while it holds one gets the same one back. Connections are opened lazily
    (one is opened at once, so that a wrong address or missing certificates raise here)."""

    def __init__(self, size: int, **kwargs: Any) -> None:
        if not isinstance(size, int):
            raise TypeError("Pool 'size' arg must be an integer")
        if not size > 0:
            raise ValueError("Pool 'size' arg must be greater than zero")
        kwargs["autoconnect"] = False
        self._queue: queue.LifoQueue[Connection] = queue.LifoQueue(maxsize=size)
        self._local = threading.local()
        for _ in range(size):
            self._queue.put(Connection(**kwargs))
        with self.connection():
            pass

    def _acquire(self, timeout: float | None) -> Connection:
        try:
            return self._queue.get(True, timeout)
        except queue.Empty:
            raise NoConnectionsAvailable(
                "No connection available from pool within specified timeout"
            ) from None

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection]:
        """A connection for the `with` block; NoConnectionsAvailable if none is free within `timeout` s."""
        connection: Connection | None = getattr(self._local, "current", None)
        owner = connection is None
        if connection is None:
            connection = self._acquire(timeout)
            self._local.current = connection
        try:
            connection.open()
            yield connection
        finally:
            if owner:
                del self._local.current
                self._queue.put(connection)
