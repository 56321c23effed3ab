"""Every exception the SDK raises, in one module, and the one place where a gRPC status becomes one of them.

The master refuses a request with a gRPC status whose trailing metadata key "regent-error" names the error
(see protos/regent/proto/master.proto) and whose details are the message. The names are the class names
below, so a caller catches the same named error whichever side found the problem:

    RegentError                 base of everything the SDK raises
    ├── MasterUnavailable       no active master answered within the deadline (also a builtin ConnectionError)
    ├── NotActiveMaster         the master asked is a backup (the SDK retries these itself)
    ├── TableExists
    ├── TableNotFound
    ├── TableNotDisabled        the call needs a disabled table (delete, truncate, enable)
    ├── TableNotEnabled         the call needs an enabled table (disable)
    ├── TableLocked             another procedure holds the table and this call does not queue behind it
    ├── FamilyExists
    ├── FamilyNotFound
    ├── RegionNotFound
    ├── RegionInTransition      a procedure is already attached to the region: one at a time
    ├── ServerNotFound
    ├── ProcedureNotFound       no procedure has that id (never had, or finished more than 10 minutes ago)
    ├── InvalidArgument         the master refused the request's arguments
    │   ├── RegionHasReferences a split or merge of a region whose fold has not finished (ask again later)
    │   └── SplitRefused        the region's RegionServer gave no split point (no row to split at, ...)
    ├── Unauthenticated         the caller's certificate carries no Regent role
    ├── PermissionDenied        the caller's certificate has the wrong role for the call (it names the role)
    ├── TlsMismatch             the master speaks plain text and we TLS, or the reverse, or it is of another
    │                           cluster (also a builtin ConnectionError)
    ├── ProcedureTimeout        a procedure did not finish before the caller's deadline
    ├── ProcedureFailed         a procedure ended FAILED or ROLLED_BACK with no more specific name
    │   └── ProcedureAborted    ... ROLLED_BACK because an operator aborted it
    │   the data path (Table, Batch; docs/data.md):
    ├── DataTimeout             a data call's deadline ran out while its regions were unavailable; it names
    │                           the table, the rows and the last cause (also a builtin TimeoutError)
    ├── RowRefused              one row refused for what it is, nothing of it written (also a ValueError)
    │   ├── RowTooLong          a row key over 32,767 bytes, or empty
    │   ├── CellTooLarge        a cell over the cluster's maximum (10 MB by default)
    │   ├── NoSuchFamily        a family the table does not have
    │   ├── NotACounter         an increment of a cell that is not an 8-byte big-endian integer
    │   └── BadMutation         a mutation that cannot mean anything (a timestamp out of range, ...)
    ├── RowsFailed              some rows of a batch were refused (`failed`: row -> RowRefused); the others
    │                           were written
    ├── FilterSyntax            a malformed filter string; the message says where (also a ValueError)
    ├── ScannerNotFound         a scanner expired or was closed (the SDK reopens scans itself)
    └── TooManyScanners         the RegionServer holds as many open scanners as it allows

A procedure that ends FAILED or ROLLED_BACK makes the call that waits for it raise the error its record
names (TableNotEnabled, say, when the table was disabled by a procedure queued ahead of it), with `proc_id`
set; a name the SDK does not know gives ProcedureFailed.

Arguments the SDK can check locally (split keys, family names, ...) raise ValueError before any RPC, as
Python code usually does; InvalidArgument is what the master says about what only it can check.
"""

from __future__ import annotations

from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]

from meta.states import RegionState

#: The trailing metadata key that carries the error's name.
ERROR_KEY = "regent-error"


class RegentError(Exception):
    """Base of every error the SDK raises. `status` is the gRPC status code name when the error came over
    the wire (e.g. "FAILED_PRECONDITION"), None when the SDK raised it itself."""

    status: str | None = None
    #: The procedure whose outcome this error reports, when it came from waiting for one.
    proc_id: int | None = None


class MasterUnavailable(RegentError, ConnectionError):
    """No active master could be reached within the call's deadline. `addresses` are the masters tried.

    Also a ConnectionError, so code that handles "the service is not there" generically catches it."""

    def __init__(self, message: str, *, addresses: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.addresses = addresses


class NotActiveMaster(RegentError):
    """The master that answered is not the active one (a backup, or one that just lost the election lock)."""


class TableExists(RegentError):
    pass


class TableNotFound(RegentError):
    pass


class TableNotDisabled(RegentError):
    """The call needs the table DISABLED (delete_table, truncate_table, enable_table) and it is not."""


class TableNotEnabled(RegentError):
    """The call needs the table ENABLED (disable_table) and it is not."""


class TableLocked(RegentError):
    """Another procedure holds the table's lock and this request cannot wait for it."""


class FamilyExists(RegentError):
    pass


class FamilyNotFound(RegentError):
    pass


class RegionNotFound(RegentError):
    pass


class RegionInTransition(RegentError):
    """A procedure is already attached to the region; the master runs one at a time per region."""


class SplitDisabled(RegentError):
    """Splits are switched off: the cluster's split switch (admin.split_switch), or the table's
    split_enabled setting."""


class MergeDisabled(RegentError):
    """Merges are switched off: the cluster's merge switch (admin.merge_switch), or the table's
    merge_enabled setting."""


class ServerNotFound(RegentError):
    pass


class ProcedureNotFound(RegentError):
    """No procedure has that id: it never existed, was bypassed, or finished too long ago (the master
    keeps a finished table procedure's outcome for 10 minutes; a region transition's not at all)."""


class InvalidArgument(RegentError):
    """The master refused a request's arguments; the message says what it expected and what it got."""


class RegionHasReferences(InvalidArgument):
    """A split or merge of a region that still reads a parent's store (a daughter or merged child whose
    background fold has not finished): it can be split or merged once the fold is done."""


class SplitRefused(InvalidArgument):
    """A split without a key of a region whose RegionServer gave no split point: no row to split at
    (empty, or all in one row), not served there now, or still referencing a parent's store."""


class Unauthenticated(RegentError):
    """The daemon found no Regent role in the caller's certificate."""


class PermissionDenied(RegentError):
    """The caller's certificate has a role that may not make this call; the message names the role needed."""


class TlsMismatch(RegentError, ConnectionError):
    """No connection can work as configured: the master speaks plain text and this client mutual TLS (or the
    reverse), or its certificate is of another cluster. Raised at once, not retried."""


class ProcedureTimeout(RegentError):
    """A procedure the caller waits for had not finished at the deadline. It may still finish later: the
    master keeps driving it; only the wait gave up."""

    def __init__(
        self,
        message: str,
        *,
        region_id: int | None = None,
        proc_id: int | None = None,
        last_state: RegionState | None = None,
    ) -> None:
        super().__init__(message)
        self.region_id = region_id
        self.proc_id = proc_id
        self.last_state = last_state


class ProcedureFailed(RegentError):
    """A procedure ended FAILED or ROLLED_BACK and its record names no error the SDK knows.
    `state` is the end state, `error_code` the name the master recorded ("" if none)."""

    def __init__(
        self, message: str, *, proc_id: int | None = None, state: str = "", error_code: str = ""
    ) -> None:
        super().__init__(message)
        self.proc_id = proc_id
        self.state = state
        self.error_code = error_code


class ProcedureAborted(ProcedureFailed):
    """A procedure ended ROLLED_BACK (an operator aborted it, or it failed before its point of no return)
    and names no more specific error: nothing it had done is left."""


class DataTimeout(RegentError, TimeoutError):
    """A data call did not complete within its deadline: its regions kept refusing or its servers did not
    answer. `table`, `rows` (those not done; the others were) and `cause` (the last refusal) say why."""

    def __init__(
        self, message: str, *, table: str = "", rows: tuple[bytes, ...] = (), cause: str = ""
    ) -> None:
        super().__init__(message)
        self.table = table
        self.rows = rows
        self.cause = cause


class RowRefused(RegentError, ValueError):
    """A row refused for what it is: nothing of that row was written. `row` is its key, when known."""

    row: bytes | None = None


class RowTooLong(RowRefused):
    """A row key over HBase's 32,767 bytes, or an empty one."""


class CellTooLarge(RowRefused):
    """A cell over the cluster's maximum cell size (10 MB by default, as hbase.client.keyvalue.maxsize)."""


class NoSuchFamily(RowRefused):
    """A column family the table's descriptor does not have."""


class NotACounter(RowRefused):
    """An increment of a cell whose value is not an 8-byte big-endian signed integer."""


class BadMutation(RowRefused):
    """A mutation that cannot be applied as given (a timestamp out of range, ...)."""


class RowsFailed(RegentError):
    """Some rows of a batch were refused; every other row was written (each row is all or nothing).
    `failed` maps each refused row key to its RowRefused."""

    def __init__(self, message: str, *, failed: dict[bytes, RowRefused]) -> None:
        super().__init__(message)
        self.failed = failed


class FilterSyntax(RegentError, ValueError):
    """A filter string the server's filter language does not accept; the message says where."""


class ScannerNotFound(RegentError):
    """No such scanner on the server: never opened, closed, or expired after 60 s idle."""


class TooManyScanners(RegentError):
    """The RegionServer holds as many open scanners as it allows: finish or close some scans first."""


#: The RowError codes of the data path (RowError.code on the wire) -> class.
ROW_ERRORS: dict[str, type[RowRefused]] = {
    cls.__name__: cls for cls in (RowTooLong, CellTooLarge, NoSuchFamily, NotACounter, BadMutation)
}


def row_error(code: str, message: str, row: bytes | None = None) -> RowRefused:
    """The RowRefused for a RowError of the wire (an unknown code gives the base class)."""
    error = ROW_ERRORS.get(code, RowRefused)(message or code)
    error.row = row
    return error


#: Wire name -> class, for every named error (not the base: an unknown name is a plain RegentError). Kept
#: next to the classes so that an error added without its name stands out here.
ERRORS: dict[str, type[RegentError]] = {
    cls.__name__: cls
    for cls in (
        MasterUnavailable,
        NotActiveMaster,
        TableExists,
        TableNotFound,
        TableNotDisabled,
        TableNotEnabled,
        TableLocked,
        FamilyExists,
        FamilyNotFound,
        RegionNotFound,
        RegionInTransition,
        SplitDisabled,
        MergeDisabled,
        ServerNotFound,
        ProcedureNotFound,
        InvalidArgument,
        RegionHasReferences,
        SplitRefused,
        Unauthenticated,
        PermissionDenied,
        TlsMismatch,
        ProcedureTimeout,
        ProcedureFailed,
        ProcedureAborted,
        FilterSyntax,
        ScannerNotFound,
        TooManyScanners,
        *ROW_ERRORS.values(),
    )
}


def trailing_metadata(exc: Any) -> Any:
    """A failed call's trailing metadata (key, value) pairs, or None if it has none."""
    trailing = getattr(exc, "trailing_metadata", None)
    return trailing() if callable(trailing) else None


def error_name(exc: Any) -> str | None:
    """The "regent-error" name in a failed call's trailing metadata, or None."""
    for key, value in trailing_metadata(exc) or ():
        if key == ERROR_KEY:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None


def status_name(exc: Any) -> str | None:
    """The gRPC status code name of a failed call ("UNAVAILABLE", ...), or None if it has none."""
    code = getattr(exc, "code", None)
    status = code() if callable(code) else None
    return getattr(status, "name", None)


def _details(exc: Any) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else None
    return str(text) if text else ""


def from_rpc_error(exc: grpc.RpcError) -> RegentError:
    """The named RegentError for a failed gRPC call.

    A known "regent-error" name gives that class with the master's message. Anything else (an unknown name,
    a status without metadata such as UNAVAILABLE from the channel itself) gives a plain RegentError whose
    message carries the status code, the name if any, and the details, so nothing the server said is lost.
    """
    name = error_name(exc)
    status = status_name(exc)
    details = _details(exc)
    cls = ERRORS.get(name) if name is not None else None
    if cls is not None:
        error = cls(details or f"the master reported {name} without a message")
    else:
        what = f"{status or 'unknown status'}" + (f" ({name})" if name else "")
        error = RegentError(f"{what}: {details}" if details else what)
    error.status = status
    return error


def procedure_error(proc_id: int, state: str, error_code: str, message: str) -> RegentError:
    """The error a waiting call raises for a procedure that ended `state` (FAILED or ROLLED_BACK): the
    class named by `error_code` when the SDK knows it, else ProcedureAborted (ROLLED_BACK) or
    ProcedureFailed. `proc_id` is set on it either way."""
    cls = ERRORS.get(error_code)
    error: RegentError
    if cls is not None and cls not in (
        ProcedureFailed,
        ProcedureAborted,
        ProcedureTimeout,
        MasterUnavailable,
    ):
        error = cls(message)
    else:
        fallback = ProcedureAborted if state == "ROLLED_BACK" else ProcedureFailed
        error = fallback(message, proc_id=proc_id, state=state, error_code=error_code)
    error.proc_id = proc_id
    return error


__all__ = [
    "ERRORS",
    "ERROR_KEY",
    "ROW_ERRORS",
    "BadMutation",
    "CellTooLarge",
    "DataTimeout",
    "FamilyExists",
    "FamilyNotFound",
    "FilterSyntax",
    "InvalidArgument",
    "MasterUnavailable",
    "MergeDisabled",
    "NoSuchFamily",
    "NotACounter",
    "NotActiveMaster",
    "PermissionDenied",
    "ProcedureAborted",
    "ProcedureFailed",
    "ProcedureNotFound",
    "ProcedureTimeout",
    "RegentError",
    "RegionHasReferences",
    "RegionInTransition",
    "RegionNotFound",
    "RowRefused",
    "RowTooLong",
    "RowsFailed",
    "ScannerNotFound",
    "ServerNotFound",
    "SplitDisabled",
    "SplitRefused",
    "TableExists",
    "TableLocked",
    "TableNotDisabled",
    "TableNotEnabled",
    "TableNotFound",
    "TlsMismatch",
    "TooManyScanners",
    "Unauthenticated",
    "error_name",
    "from_rpc_error",
    "procedure_error",
    "row_error",
    "status_name",
]
