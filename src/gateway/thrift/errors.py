"""How the gateway's failures reach a Thrift client: as the exceptions HBase's Thrift1 service declares.

Each method of `Hbase` declares which of IOError, IllegalArgument and AlreadyExists it may raise (every
one declares IOError). An SDK error becomes the most precise one its method declares:

- TableExists -> AlreadyExists (createTable);
- a bad argument (ValueError, TypeError, FilterSyntax, a row refused for its content) -> IllegalArgument
  where the method declares it, else IOError, as HBase's handler does for IllegalArgumentException;
- everything else -> IOError.

The message starts with the name of the Java exception HBase would have raised
(`org.apache.hadoop.hbase.TableNotFoundException: ...`), because HBase's IOError messages do (they carry
the Java stack trace's first line) and programs written against HBase look for those names; what follows is
the SDK's own message, which says what was expected and what was found.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from client.errors import (
    BadMutation,
    CellTooLarge,
    DataTimeout,
    FilterSyntax,
    MasterUnavailable,
    NoSuchFamily,
    NotACounter,
    PermissionDenied,
    RegentError,
    RowsFailed,
    RowTooLong,
    TableExists,
    TableNotDisabled,
    TableNotEnabled,
    TableNotFound,
    Unauthenticated,
)
from gateway.thrift.idl import AlreadyExists, Hbase, IllegalArgument, IOError

_HBASE = "org.apache.hadoop.hbase."


class BadArgument(ValueError):
    """An argument the gateway itself refuses (missing, of the wrong shape): IllegalArgument/IOError."""


class Unsupported(RuntimeError):
    """A method of HBase's IDL that the gateway does not serve."""


#: The Java exception HBase raises for what each SDK error says (its IOError messages start with it).
JAVA_NAMES: dict[type[BaseException], str] = {
    TableNotFound: _HBASE + "TableNotFoundException",
    TableExists: _HBASE + "TableExistsException",
    TableNotDisabled: _HBASE + "TableNotDisabledException",
    TableNotEnabled: _HBASE + "TableNotEnabledException",
    NoSuchFamily: _HBASE + "regionserver.NoSuchColumnFamilyException",
    NotACounter: _HBASE + "DoNotRetryIOException",
    BadMutation: _HBASE + "DoNotRetryIOException",
    CellTooLarge: _HBASE + "DoNotRetryIOException",
    RowTooLong: "java.lang.IllegalArgumentException",
    FilterSyntax: "java.lang.IllegalArgumentException",
    DataTimeout: _HBASE + "client.RetriesExhaustedException",
    RowsFailed: _HBASE + "client.RetriesExhaustedWithDetailsException",
    MasterUnavailable: _HBASE + "MasterNotRunningException",
    PermissionDenied: _HBASE + "security.AccessDeniedException",
    Unauthenticated: _HBASE + "security.AccessDeniedException",
    Unsupported: "java.lang.UnsupportedOperationException",
    ValueError: "java.lang.IllegalArgumentException",
    TypeError: "java.lang.IllegalArgumentException",
}


def is_argument_error(exc: BaseException) -> bool:
    """Whether `exc` says the caller's arguments are wrong (HBase: IllegalArgumentException), rather than
    what the cluster holds (an IOException, e.g. NoSuchColumnFamilyException, though the SDK's RowRefused
    are ValueErrors too)."""
    if isinstance(exc, RowTooLong | FilterSyntax):
        return True
    return isinstance(exc, ValueError | TypeError) and not isinstance(exc, RegentError)


def java_name(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        name = JAVA_NAMES.get(cls)
        if name is not None:
            return name
    return _HBASE + "DoNotRetryIOException" if isinstance(exc, LookupError) else "java.io.IOException"


@cache
def declared(method: str) -> frozenset[str]:
    """The exception names `method` declares ("io", "ia", "exist"), from the IDL."""
    result = getattr(Hbase, f"{method}_result")
    return frozenset(spec[1] for spec in result.thrift_spec.values() if spec[1] != "success")


def to_thrift(method: str, exc: BaseException) -> Any:
    """The Thrift exception, declared by `method`, that tells the client about `exc`."""
    names = declared(method)
    message = f"{java_name(exc)}: {exc}"
    if isinstance(exc, TableExists) and "exist" in names:
        return AlreadyExists(message=message)
    if "ia" in names and is_argument_error(exc):
        return IllegalArgument(message=message)
    return IOError(message=message)


__all__ = [
    "JAVA_NAMES",
    "BadArgument",
    "Unsupported",
    "declared",
    "is_argument_error",
    "java_name",
    "to_thrift",
]
