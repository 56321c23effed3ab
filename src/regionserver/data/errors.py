"""The errors of the data path's pure modules (filters for now), in one tree.

Every error of the filter language is a FilterSyntaxError, so a gateway needs one `except` to turn a bad
filter string into an "invalid argument" answer; the subclasses let tests and callers tell the kinds apart.
"""

from __future__ import annotations


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
