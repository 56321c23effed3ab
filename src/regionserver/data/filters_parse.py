"""The parser of HBase's filter string language (FILTER_LANGUAGE.md §2-§5): text in, a Filter tree out.

A recursive-descent parser over the bytes of the string, in the grammar's own shape (or_expr, and_expr,
unary, primary), instead of HBase's operator stack: the precedence is then readable in the code, and each
error can say where it is and what was expected there. It accepts what ParseFilter accepts, with two
differences, both refusals of strings HBase would take by accident: a filter name ends at whitespace, a
parenthesis, a quote or a comma (HBase reads up to `(` or a space, and skips anything between the name and
the first `(`), and only whitespace may stand between a name and its `(`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from regionserver.data import filters_leaf as leaf
from regionserver.data.comparators import COMPARATORS, Comparator, CompareOp
from regionserver.data.errors import (
    FilterArgumentError,
    FilterSyntaxError,
    UnknownComparatorError,
    UnknownFilterError,
)
from regionserver.data.filters_base import Filter
from regionserver.data.filters_lists import FilterList, Operator, SkipFilter, WhileMatchFilter

_SPACE = b" \t"
_NAME_END = b" \t()',"
_BARE_END = b" \t,)"
_INTEGER = re.compile(rb"-?[0-9]+")
_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1
_OPS = {op.value.encode(): op for op in CompareOp}


def parse_filter(text: str | bytes) -> Filter:
    """The filter a filter string describes; FilterSyntaxError (or a subclass) if it is not well formed.

    A str is taken as UTF-8 (lone surrogates from `surrogateescape` stand for raw bytes, so that
    `parse_filter(str(f)) == f` for every filter, whatever bytes its arguments hold).
    """
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
    return _Parser(data).parse()


@dataclass(frozen=True, slots=True)
class _Arg:
    quoted: bool
    value: bytes  # a quoted argument without its quotes, '' turned into '
    offset: int

    def shown(self) -> str:
        text = self.value.decode("utf-8", "backslashreplace")
        return repr(text) if self.quoted else text


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(
        self, problem: str, offset: int | None = None, kind: type[FilterSyntaxError] = FilterSyntaxError
    ) -> FilterSyntaxError:
        return kind(problem, self.data, self.pos if offset is None else offset)

    def found(self) -> str:
        """What stands at the current position, for "expected X, found Y": a word or one character."""
        if self.pos >= len(self.data):
            return "the end of the string"
        end = self.pos + 1
        if self.data[self.pos] not in _NAME_END:
            while end < len(self.data) and self.data[end] not in _NAME_END:
                end += 1
        return repr(self.data[self.pos : end].decode("utf-8", "backslashreplace"))

    def skip_space(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _SPACE:
            self.pos += 1

    def at(self, token: bytes) -> bool:
        return self.data.startswith(token, self.pos)

    def parse(self) -> Filter:
        self.skip_space()
        if self.pos == len(self.data):
            raise self.fail("empty filter string: expected a filter")
        result = self.or_expr()
        self.skip_space()
        if self.pos < len(self.data):
            if self.at(b")"):
                raise self.fail("mismatched parenthesis: ')' without a matching '('")
            raise self.fail(f"expected AND, OR or the end of the string, found {self.found()}")
        return result

    def or_expr(self) -> Filter:
        return self.list_of(Operator.OR, self.and_expr)

    def and_expr(self, after: str | None) -> Filter:
        return self.list_of(Operator.AND, self.unary, after)

    def list_of(
        self, operator: Operator, operand: Callable[[str | None], Filter], after: str | None = None
    ) -> Filter:
        """A run of one binary operator, flattened into one list as HBase does. `after` is the keyword
        before the first operand, named in the error if the operand is missing."""
        filters = [operand(after)]
        while self.binary_keyword(operator.value.encode()):
            filters.append(operand(operator.value))
        return filters[0] if len(filters) == 1 else FilterList(operator, tuple(filters))

    def binary_keyword(self, word: bytes) -> bool:
        """AND / OR: after a space or ')', before a space or '(' (a tab is no boundary). At the end of the
        string it is taken, so that the error is the missing operand's."""
        self.skip_space()
        if not self.at(word):
            return False
        before = self.data[self.pos - 1 : self.pos]
        after = self.data[self.pos + len(word) : self.pos + len(word) + 1]
        if b"\t" in (before, after) and after in (b"\t", b" ", b"(", b""):
            raise self.fail(f"{word.decode()} must have a space or a parenthesis on each side, found a tab")
        if before not in (b" ", b")") or after not in (b" ", b"(", b""):
            return False
        self.pos += len(word)
        return True

    def unary_keyword(self) -> bytes | None:
        """SKIP / WHILE: at the start or after a space or a parenthesis, before a space or '(' (or the end
        of the string, so that the error is the missing operand's)."""
        for word in (b"SKIP", b"WHILE"):
            before = self.data[self.pos - 1 : self.pos]
            after = self.data[self.pos + len(word) : self.pos + len(word) + 1]
            if self.at(word) and before in (b"", b" ", b"(", b")") and after in (b" ", b"(", b""):
                self.pos += len(word)
                return word
        return None

    def unary(self, after: str | None) -> Filter:
        self.skip_space()
        keyword = self.unary_keyword()
        if keyword == b"SKIP":
            return SkipFilter(self.unary("SKIP"))
        if keyword == b"WHILE":
            return WhileMatchFilter(self.unary("WHILE"))
        return self.primary(after)

    def primary(self, after: str | None) -> Filter:
        if self.pos == len(self.data) or self.at(b")") or self.at(b","):
            where = f" after {after}" if after else ""
            raise self.fail(f"expected a filter{where}, found {self.found()}")
        if self.at(b"("):
            opened = self.pos
            self.pos += 1
            inner = self.or_expr()
            self.skip_space()
            if not self.at(b")"):
                raise self.fail(
                    f"mismatched parenthesis: expected AND, OR or ')' closing the '(' at offset {opened}, "
                    f"found {self.found()}"
                )
            self.pos += 1
            return inner
        return self.simple_filter()

    def simple_filter(self) -> Filter:
        start = self.pos
        while self.pos < len(self.data) and self.data[self.pos] not in _NAME_END:
            self.pos += 1
        name = self.data[start : self.pos].decode("utf-8", "backslashreplace")
        if not name:
            raise self.fail(f"expected a filter name, '(', SKIP or WHILE, found {self.found()}")
        if name in ("AND", "OR"):
            raise self.fail(f"expected a filter before {name}, found {name}", start)
        build = _BUILDERS.get(name)
        if build is None:
            raise self.fail(_unknown_filter(name), start, UnknownFilterError)
        self.skip_space()
        if not self.at(b"("):
            raise self.fail(f"expected '(' after the filter name {name}, found {self.found()}")
        opened = self.pos
        self.pos += 1
        args = self.arguments(name)
        return build(_Args(self, name, opened, args))

    def arguments(self, name: str) -> list[_Arg]:
        args: list[_Arg] = []
        self.skip_space()
        if self.at(b")"):
            self.pos += 1
            return args
        while True:
            self.skip_space()
            args.append(self.argument(name, after_comma=bool(args)))
            self.skip_space()
            if self.at(b","):
                self.pos += 1
            elif self.at(b")"):
                self.pos += 1
                return args
            else:
                raise self.fail(f"expected ',' or ')' in the arguments of {name}, found {self.found()}")

    def argument(self, name: str, after_comma: bool) -> _Arg:
        start = self.pos
        if self.at(b"'"):
            value = bytearray()
            i = start + 1
            while i < len(self.data):
                if self.data[i] == ord("'"):
                    if self.data[i + 1 : i + 2] != b"'":
                        self.pos = i + 1
                        return _Arg(True, bytes(value), start)
                    i += 1  # '' is one quote
                value.append(self.data[i])
                i += 1
            raise self.fail(
                f"unterminated quoted string in the arguments of {name}: expected a closing '", start
            )
        while self.pos < len(self.data) and self.data[self.pos] not in _BARE_END:
            self.pos += 1
        if self.pos == start:
            where = "after ','" if after_comma else f"of {name}"
            raise self.fail(f"expected an argument {where}, found {self.found()}")
        return _Arg(False, self.data[start : self.pos], start)


def _unknown_filter(name: str) -> str:
    if name in _NOT_IMPLEMENTED:
        return f"filter {name} is in HBase's language but not implemented in Regent"
    close = [known for known in _BUILDERS if known.lower() == name.lower()]
    hint = f" (names are case-sensitive: did you mean {close[0]}?)" if close else ""
    return f"unknown filter name {name!r}{hint}: expected one of {', '.join(sorted(_BUILDERS))}"


class _Args:
    """The arguments of one simple filter, read by type, with errors that name the filter and argument."""

    def __init__(self, parser: _Parser, name: str, opened: int, args: list[_Arg]) -> None:
        self.parser = parser
        self.name = name
        self.opened = opened
        self.args = args

    def __len__(self) -> int:
        return len(self.args)

    def fail(
        self, problem: str, arg: _Arg | None = None, kind: type[FilterSyntaxError] = FilterArgumentError
    ) -> FilterSyntaxError:
        return self.parser.fail(f"{self.name}: {problem}", self.opened if arg is None else arg.offset, kind)

    def expect(self, *counts: int) -> None:
        if len(self.args) not in counts:
            expected = " or ".join(str(c) for c in counts)
            raise self.fail(
                f"expected {expected} argument{'s' if counts != (1,) else ''} {_SIGNATURES[self.name]}, "
                f"got {len(self.args)}"
            )

    def string(self, i: int) -> bytes:
        arg = self.args[i]
        if not arg.quoted:
            raise self.fail(f"argument {i + 1} must be a quoted string, found {arg.shown()}", arg)
        return arg.value

    def integer(self, i: int, maximum: int) -> int:
        arg = self.args[i]
        if arg.quoted or not _INTEGER.fullmatch(arg.value):
            raise self.fail(f"argument {i + 1} must be an unquoted integer, found {arg.shown()}", arg)
        value = int(arg.value)
        if not 0 <= value <= maximum:
            raise self.fail(f"argument {i + 1} must be between 0 and {maximum}, found {value}", arg)
        return value

    def boolean(self, i: int) -> bool:
        arg = self.args[i]
        word = arg.value.lower()
        if arg.quoted or word not in (b"true", b"false"):
            raise self.fail(f"argument {i + 1} must be true or false, found {arg.shown()}", arg)
        return word == b"true"

    def op(self, i: int) -> CompareOp:
        arg = self.args[i]
        op = None if arg.quoted else _OPS.get(arg.value)
        if op is None:
            raise self.fail(
                f"argument {i + 1} must be a compare operator (<, <=, =, !=, >=, >), found {arg.shown()}", arg
            )
        return op

    def comparator(self, i: int, op: CompareOp) -> Comparator:
        text = self.string(i)
        arg = self.args[i]
        kind, colon, value = text.partition(b":")
        cls = COMPARATORS.get(kind.decode("utf-8", "backslashreplace")) if colon else None
        if cls is None:
            found = f"type {kind.decode('utf-8', 'backslashreplace')!r}" if colon else "no ':'"
            raise self.fail(
                f"argument {i + 1} must be a comparator 'TYPE:VALUE' with TYPE one of "
                f"{', '.join(COMPARATORS)}, found {found}",
                arg,
                UnknownComparatorError,
            )
        if not cls.ORDERED and op.value not in ("=", "!="):
            raise self.fail(f"a {cls.TYPE} comparator only supports = and !=, found {op.value}", arg)
        try:
            return cls(value)  # type: ignore[call-arg]
        except re.error as e:
            raise self.fail(f"argument {i + 1}: bad regular expression: {e}", arg) from None


def _key_only(a: _Args) -> Filter:
    a.expect(0, 1)
    return leaf.KeyOnlyFilter(a.boolean(0) if len(a) else False)


def _first_key_only(a: _Args) -> Filter:
    a.expect(0)
    return leaf.FirstKeyOnlyFilter()


def _prefix(a: _Args) -> Filter:
    a.expect(1)
    return leaf.PrefixFilter(a.string(0))


def _column_prefix(a: _Args) -> Filter:
    a.expect(1)
    return leaf.ColumnPrefixFilter(a.string(0))


def _multiple_column_prefix(a: _Args) -> Filter:
    prefixes = [a.string(i) for i in range(len(a))]
    for i, prefix in enumerate(prefixes):
        if prefix in prefixes[:i]:
            raise a.fail(f"argument {i + 1} repeats the prefix {a.args[i].shown()}", a.args[i])
    return leaf.MultipleColumnPrefixFilter(tuple(sorted(prefixes)))


def _column_count_get(a: _Args) -> Filter:
    a.expect(1)
    return leaf.ColumnCountGetFilter(a.integer(0, _INT_MAX))


def _page(a: _Args) -> Filter:
    a.expect(1)
    return leaf.PageFilter(a.integer(0, _LONG_MAX))


def _column_pagination(a: _Args) -> Filter:
    a.expect(2)
    return leaf.ColumnPaginationFilter(a.integer(0, _INT_MAX), a.integer(1, _INT_MAX))


def _inclusive_stop(a: _Args) -> Filter:
    a.expect(1)
    return leaf.InclusiveStopFilter(a.string(0))


def _timestamps(a: _Args) -> Filter:
    return leaf.TimestampsFilter(tuple(sorted({a.integer(i, _LONG_MAX) for i in range(len(a))})))


def _compare(cls: type[leaf.CompareFilter]) -> Callable[[_Args], Filter]:
    def build(a: _Args) -> Filter:
        a.expect(2)
        op = a.op(0)
        return cls(op, a.comparator(1, op))

    return build


def _single_column_value(cls: type[leaf.SingleColumnValueFilter]) -> Callable[[_Args], Filter]:
    def build(a: _Args) -> Filter:
        a.expect(4, 6)
        family, qualifier, op = a.string(0), a.string(1), a.op(2)
        comparator = a.comparator(3, op)
        if len(a) == 4:
            return cls(family, qualifier, op, comparator)
        return cls(family, qualifier, op, comparator, a.boolean(4), a.boolean(5))

    return build


def _column_range(a: _Args) -> Filter:
    a.expect(4)
    low, high = a.string(0), a.string(2)
    return leaf.ColumnRangeFilter(low or None, a.boolean(1), high or None, a.boolean(3))


_SINGLE_COLUMN_VALUE = "('family', 'qualifier', op, 'comparator'[, filterIfMissing, latestVersionOnly])"
_SIGNATURES = {
    "KeyOnlyFilter": "([lenAsValue])",
    "FirstKeyOnlyFilter": "()",
    "PrefixFilter": "('rowPrefix')",
    "ColumnPrefixFilter": "('qualifierPrefix')",
    "ColumnCountGetFilter": "(limit)",
    "PageFilter": "(pageSize)",
    "ColumnPaginationFilter": "(limit, offset)",
    "InclusiveStopFilter": "('stopRow')",
    "RowFilter": "(op, 'comparator')",
    "FamilyFilter": "(op, 'comparator')",
    "QualifierFilter": "(op, 'comparator')",
    "ValueFilter": "(op, 'comparator')",
    "SingleColumnValueFilter": _SINGLE_COLUMN_VALUE,
    "SingleColumnValueExcludeFilter": _SINGLE_COLUMN_VALUE,
    "ColumnRangeFilter": "('minColumn', minInclusive, 'maxColumn', maxInclusive)",
}

_BUILDERS: dict[str, Callable[[_Args], Filter]] = {
    "KeyOnlyFilter": _key_only,
    "FirstKeyOnlyFilter": _first_key_only,
    "PrefixFilter": _prefix,
    "ColumnPrefixFilter": _column_prefix,
    "MultipleColumnPrefixFilter": _multiple_column_prefix,
    "ColumnCountGetFilter": _column_count_get,
    "PageFilter": _page,
    "ColumnPaginationFilter": _column_pagination,
    "InclusiveStopFilter": _inclusive_stop,
    "TimestampsFilter": _timestamps,
    "RowFilter": _compare(leaf.RowFilter),
    "FamilyFilter": _compare(leaf.FamilyFilter),
    "QualifierFilter": _compare(leaf.QualifierFilter),
    "ValueFilter": _compare(leaf.ValueFilter),
    "SingleColumnValueFilter": _single_column_value(leaf.SingleColumnValueFilter),
    "SingleColumnValueExcludeFilter": _single_column_value(leaf.SingleColumnValueExcludeFilter),
    "ColumnRangeFilter": _column_range,
}

#: Registered by HBase's ParseFilter, not built here yet (an error says so rather than "unknown").
_NOT_IMPLEMENTED = frozenset({"DependentColumnFilter", "ColumnValueFilter"})
