"""The data path's exceptions, in one tree: what a caller of the region store, or of the filter language, can
be told.

    StoreError                the store cannot be opened or used (the region cannot be served here)
    ├── Fenced                a newer open of the region owns the store: stop serving the region
    └── RowError              one row of a batch is refused, nothing of that row written
        ├── RowTooLong        a row key over MAX_ROW_BYTES (or an empty one)
        ├── CellTooLarge      a cell over the store's max_cell_bytes
        ├── NoSuchFamily      a family the table descriptor does not have
        ├── NotACounter       an increment of a cell that is not an 8-byte big-endian integer
        └── BadMutation       a mutation that cannot mean anything (a negative timestamp, a wrong row)
    FilterSyntaxError         (a ValueError) a filter string the language does not accept
    ├── UnknownFilterError
    ├── UnknownComparatorError
    └── FilterArgumentError

Row errors are values in a batch's answer (a batch reports which rows failed); Fenced and StoreError are
raised, because they concern the whole region. Every error of the filter language is a FilterSyntaxError, so
a gateway needs one `except` to turn a bad filter string into an "invalid argument" answer.
"""

from __future__ import annotations


class StoreError(Exception):
    """The region store cannot be opened or used."""


class MapFull(StoreError):
    """The store's memory map is full and was not grown (a commit outside the event loop): nothing
    written; the caller retries where growing is safe."""


class Fenced(StoreError):
    """A newer open of the region owns the store: this server must stop serving the region.

    `owner_seq` is that newer open's sequence number, when known (0 otherwise)."""

    def __init__(self, message: str, owner_seq: int = 0) -> None:
        super().__init__(message)
        self.owner_seq = owner_seq


class RowError(StoreError):
    """One row of a write is refused; nothing of that row was written."""


class RowTooLong(RowError):
    """A row key longer than HBase's 32,767 bytes, or empty."""


class CellTooLarge(RowError):
    """A cell (row, family, qualifier and value together) over the store's maximum cell size."""


class NoSuchFamily(RowError):
    """A column family the table's descriptor does not have."""


class NotACounter(RowError):
    """An increment of a cell whose value is not an 8-byte big-endian signed integer."""


class BadMutation(RowError):
    """A mutation that cannot be applied as given (a timestamp out of range, a check on another row)."""


class FilterSyntaxError(ValueError):
    """A filter string that the language does not accept.

    `offset` is the byte offset in the filter string (as UTF-8) where the problem was found, `text` the
    filter string; the message says what was expected and what was found, and quotes the text around the
    offset (`'before' >>> 'after'`), so a client can see the spot without counting bytes.
    """

    def __init__(self, problem: str, text: bytes, offset: int) -> None:
        self.problem = problem
        self.text = text
        self.offset = offset
        super().__init__(f"{problem}, at offset {offset}: {_around(text, offset)}")


class UnknownFilterError(FilterSyntaxError):
    """A filter name that is not one of the language's registered names (names are case-sensitive)."""


class UnknownComparatorError(FilterSyntaxError):
    """A comparator whose type is not binary, binaryprefix, substring or regexstring (or has no ':')."""


class FilterArgumentError(FilterSyntaxError):
    """A known filter given the wrong number of arguments, or an argument of the wrong type or range."""


_CONTEXT = 20  # bytes shown on each side of the offset


def _around(text: bytes, offset: int) -> str:
    """`'...before' >>> 'after...'`: where in the string the problem is, readable in one log line."""
    start = max(0, offset - _CONTEXT)
    end = min(len(text), offset + _CONTEXT)
    before = ("..." if start > 0 else "") + text[start:offset].decode("utf-8", "backslashreplace")
    after = text[offset:end].decode("utf-8", "backslashreplace") + ("..." if end < len(text) else "")
    return f"{before!r} >>> {after!r}"
