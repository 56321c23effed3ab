"""Errors of the master. Each request error has a `code`: the name the client turns back into the same
named exception (the trailing metadata key "regent-error" carries it, see protos/regent/proto/master.proto).
"""

from __future__ import annotations


class MasterError(Exception):
    """Base of the master's errors."""

    code = "MasterError"


class MasterStartError(MasterError):
    """The master cannot start: bad ROOTDIR, port in use, unreadable meta. The message is one line."""


class RequestError(MasterError):
    """A request the master refuses; the message says what was expected and what was found."""

    code = "RequestError"

    def trailers(self) -> tuple[tuple[str, str], ...]:
        """Trailing metadata the refusal carries besides its name."""
        return ()


class InvalidArgument(RequestError):
    code = "InvalidArgument"


class RegionHasReferences(InvalidArgument):
    """The region still reads a parent's store (its REFERENCES file: a split daughter or merged child
    whose background fold has not finished): it cannot be split or merged until the fold is done."""

    code = "RegionHasReferences"


class SplitRefused(InvalidArgument):
    """The region's RegionServer gave no split point: no row to split at (empty, or one row), the region
    not served there now, or it still references a parent's store; the message says which."""

    code = "SplitRefused"


class TableExists(RequestError):
    code = "TableExists"


class TableNotFound(RequestError):
    code = "TableNotFound"


class TableNotDisabled(RequestError):
    """The operation needs the table DISABLED (delete, truncate, enable)."""

    code = "TableNotDisabled"


class TableNotEnabled(RequestError):
    """The operation needs the table ENABLED (disable; assigning one of its regions)."""

    code = "TableNotEnabled"


class TableLocked(RequestError):
    """A table procedure holds the table: region procedures of it are refused until it is done."""

    code = "TableLocked"


class SplitDisabled(RequestError):
    """Splits are switched off (the cluster's split switch, or the table's split_enabled)."""

    code = "SplitDisabled"


class MergeDisabled(RequestError):
    """Merges are switched off (the cluster's merge switch, or the table's merge_enabled)."""

    code = "MergeDisabled"


class FamilyExists(RequestError):
    code = "FamilyExists"


class FamilyNotFound(RequestError):
    code = "FamilyNotFound"


class RegionNotFound(RequestError):
    code = "RegionNotFound"


class RegionInTransition(RequestError):
    """A procedure is already attached to the region: one at a time."""

    code = "RegionInTransition"


class ProcedureNotFound(RequestError):
    code = "ProcedureNotFound"


class ServerNotFound(RequestError):
    code = "ServerNotFound"


class NotActiveMaster(RequestError):
    """Refused by a master that does not serve (yet); `active` is the active master's address if known."""

    code = "NotActiveMaster"

    def __init__(self, message: str, active: str = "") -> None:
        super().__init__(message)
        self.active = active

    def trailers(self) -> tuple[tuple[str, str], ...]:
        return (("regent-active-master", self.active),) if self.active else ()


class YouAreDead(RequestError):
    """Told to a RegionServer incarnation the master has declared dead: it must stop serving and exit."""

    code = "YouAreDead"


class ServerNotRegistered(RequestError):
    """The incarnation is not known to this master (a new master after failover): register again."""

    code = "ServerNotRegistered"
