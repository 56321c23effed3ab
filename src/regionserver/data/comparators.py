"""The comparators and compare operators of HBase's filter language (FILTER_LANGUAGE.md §4).

A compare filter keeps a row or cell when `FIELD op VALUE` holds, FIELD being the row key, family, qualifier
or value. HBase computes this backwards (`comparator.compareTo(field)` says whether to filter *out*); here
`Comparator.compare(field)` returns the sign of FIELD against VALUE, so `CompareOp.holds` reads naturally.

- `binary:V`: unsigned bytewise comparison of the whole field with V.
- `binaryprefix:V`: the first len(V) bytes of the field (all of it if shorter) compared with V.
- `regexstring:R`: R (DOTALL) *found anywhere* in the field decoded as UTF-8 counts as equal. Python's `re`
  stands in for java.util.regex: the common syntax is the same; Java-only constructs (possessive `*+`,
  `\\p{javaLowerCase}`) are refused when the filter is parsed, not at scan time.
- `substring:S`: the field decoded as UTF-8 contains S, both lowercased: equal; otherwise not equal.
  The last two only support `=` and `!=` (the parser refuses the others, as HBase's compare filters do).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field


class CompareOp(enum.Enum):
    """HBase's CompareOperator, spelled as the language writes it (NO_OP cannot be written, so is absent)."""

    LESS = "<"
    LESS_OR_EQUAL = "<="
    EQUAL = "="
    NOT_EQUAL = "!="
    GREATER_OR_EQUAL = ">="
    GREATER = ">"

    def holds(self, sign: int) -> bool:
        """Whether `FIELD op VALUE` is true, given the sign of FIELD compared with VALUE."""
        return _HOLDS[self](sign)

    def __str__(self) -> str:
        return self.value


_HOLDS: dict[CompareOp, Callable[[int], bool]] = {
    CompareOp.LESS: lambda s: s < 0,
    CompareOp.LESS_OR_EQUAL: lambda s: s <= 0,
    CompareOp.EQUAL: lambda s: s == 0,
    CompareOp.NOT_EQUAL: lambda s: s != 0,
    CompareOp.GREATER_OR_EQUAL: lambda s: s >= 0,
    CompareOp.GREATER: lambda s: s > 0,
}

#: Operators allowed with comparators that only tell "equal" from "not equal".
EQUALITY_OPS = frozenset({CompareOp.EQUAL, CompareOp.NOT_EQUAL})


def _sign(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)  # Python compares bytes unsigned and lexicographically, as Bytes.compareTo


class Comparator:
    """Compares a field (row key, family, qualifier or value) with the comparator's value."""

    TYPE = ""
    #: Whether <, <=, >, >= mean anything (they do not for regex and substring matches).
    ORDERED = True
    value: bytes

    def compare(self, field: bytes) -> int:
        """The sign of FIELD compared with the value: -1, 0 or 1 (0 is "matches" for the unordered ones)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{self.TYPE}:" + self.value.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class BinaryComparator(Comparator):
    TYPE = "binary"
    value: bytes

    def compare(self, field: bytes) -> int:
        return _sign(field, self.value)


@dataclass(frozen=True, slots=True)
class BinaryPrefixComparator(Comparator):
    TYPE = "binaryprefix"
    value: bytes

    def compare(self, field: bytes) -> int:
        return _sign(field[: len(self.value)], self.value)


@dataclass(frozen=True, slots=True)
class SubstringComparator(Comparator):
    TYPE = "substring"
    ORDERED = False
    value: bytes
    _needle: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_needle", self.value.decode("utf-8", "replace").lower())

    def compare(self, field: bytes) -> int:
        return 0 if self._needle in field.decode("utf-8", "replace").lower() else 1


@dataclass(frozen=True, slots=True)
class RegexStringComparator(Comparator):
    """Raises re.error from the constructor for a pattern Python cannot compile."""

    TYPE = "regexstring"
    ORDERED = False
    value: bytes
    _pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(self.value.decode("utf-8", "replace"), re.DOTALL))

    def compare(self, field: bytes) -> int:
        return 0 if self._pattern.search(field.decode("utf-8", "replace")) else 1


#: The comparator types by the name the language gives them (lowercase, exact).
COMPARATORS: dict[str, type[Comparator]] = {
    cls.TYPE: cls
    for cls in (BinaryComparator, BinaryPrefixComparator, SubstringComparator, RegexStringComparator)
}
