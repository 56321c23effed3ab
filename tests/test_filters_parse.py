"""The filter language's parser: every filter and comparator, precedence, quoting, whitespace, errors;
and three properties: generated well-formed strings parse to the filter the grammar says (and print back
to it), and mutated strings either parse or raise FilterSyntaxError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionserver.data.filters import (
    BinaryComparator,
    BinaryPrefixComparator,
    ColumnCountGetFilter,
    ColumnPaginationFilter,
    ColumnPrefixFilter,
    ColumnRangeFilter,
    CompareOp,
    FamilyFilter,
    Filter,
    FilterArgumentError,
    FilterList,
    FilterSyntaxError,
    FirstKeyOnlyFilter,
    InclusiveStopFilter,
    KeyOnlyFilter,
    MultipleColumnPrefixFilter,
    Operator,
    PageFilter,
    PrefixFilter,
    QualifierFilter,
    RegexStringComparator,
    RowFilter,
    SingleColumnValueExcludeFilter,
    SingleColumnValueFilter,
    SkipFilter,
    SubstringComparator,
    TimestampsFilter,
    UnknownComparatorError,
    UnknownFilterError,
    ValueFilter,
    WhileMatchFilter,
    parse_filter,
)
from tests.hypothesis_profiles import examples

K = KeyOnlyFilter()
F = FirstKeyOnlyFilter()
P = PrefixFilter(b"p")


def AND(*fs: Filter) -> FilterList:
    return FilterList(Operator.AND, fs)


def OR(*fs: Filter) -> FilterList:
    return FilterList(Operator.OR, fs)


# -- every filter and comparator ------------------------------------------------------------------------

EACH_FILTER = [
    ("KeyOnlyFilter()", KeyOnlyFilter()),
    ("KeyOnlyFilter(true)", KeyOnlyFilter(True)),
    ("KeyOnlyFilter(FALSE)", KeyOnlyFilter(False)),
    ("FirstKeyOnlyFilter()", FirstKeyOnlyFilter()),
    ("PrefixFilter('row')", PrefixFilter(b"row")),
    ("ColumnPrefixFilter('q')", ColumnPrefixFilter(b"q")),
    ("MultipleColumnPrefixFilter('b', 'a')", MultipleColumnPrefixFilter((b"a", b"b"))),
    ("MultipleColumnPrefixFilter()", MultipleColumnPrefixFilter(())),
    ("ColumnCountGetFilter(3)", ColumnCountGetFilter(3)),
    ("PageFilter(10)", PageFilter(10)),
    ("PageFilter(9223372036854775807)", PageFilter(2**63 - 1)),
    ("ColumnPaginationFilter(2, 5)", ColumnPaginationFilter(2, 5)),
    ("InclusiveStopFilter('row9')", InclusiveStopFilter(b"row9")),
    ("TimestampsFilter(456, 123, 456)", TimestampsFilter((123, 456))),
    ("TimestampsFilter()", TimestampsFilter(())),
    ("RowFilter(=, 'binary:r1')", RowFilter(CompareOp.EQUAL, BinaryComparator(b"r1"))),
    ("FamilyFilter(!=, 'binaryprefix:c')", FamilyFilter(CompareOp.NOT_EQUAL, BinaryPrefixComparator(b"c"))),
    (
        "QualifierFilter(>=, 'binary:xyz')",
        QualifierFilter(CompareOp.GREATER_OR_EQUAL, BinaryComparator(b"xyz")),
    ),
    ("ValueFilter(<, 'binary:5')", ValueFilter(CompareOp.LESS, BinaryComparator(b"5"))),
    ("ValueFilter(<=, 'binary:5')", ValueFilter(CompareOp.LESS_OR_EQUAL, BinaryComparator(b"5"))),
    ("ValueFilter(>, 'binary:5')", ValueFilter(CompareOp.GREATER, BinaryComparator(b"5"))),
    ("ValueFilter(=, 'substring:Err')", ValueFilter(CompareOp.EQUAL, SubstringComparator(b"Err"))),
    (
        "ValueFilter(!=, 'regexstring:^v[0-9]+$')",
        ValueFilter(CompareOp.NOT_EQUAL, RegexStringComparator(b"^v[0-9]+$")),
    ),
    (
        "SingleColumnValueFilter('cf', 'q', =, 'binary:v')",
        SingleColumnValueFilter(b"cf", b"q", CompareOp.EQUAL, BinaryComparator(b"v")),
    ),
    (
        "SingleColumnValueFilter('cf', 'q', !=, 'substring:err', true, false)",
        SingleColumnValueFilter(b"cf", b"q", CompareOp.NOT_EQUAL, SubstringComparator(b"err"), True, False),
    ),
    (
        "SingleColumnValueExcludeFilter('cf', 'q', >, 'binary:1', false, true)",
        SingleColumnValueExcludeFilter(b"cf", b"q", CompareOp.GREATER, BinaryComparator(b"1")),
    ),
    ("ColumnRangeFilter('abc', true, 'xyz', false)", ColumnRangeFilter(b"abc", True, b"xyz", False)),
    ("ColumnRangeFilter('', false, '', true)", ColumnRangeFilter(None, False, None, True)),
]


@pytest.mark.parametrize(("text", "expected"), EACH_FILTER, ids=[t for t, _ in EACH_FILTER])
def test_each_filter_parses_to_its_arguments_and_prints_back(text: str, expected: Filter) -> None:
    parsed = parse_filter(text)
    assert parsed == expected
    assert parse_filter(str(parsed)) == parsed


def test_the_comparator_value_is_everything_after_the_first_colon() -> None:
    assert parse_filter("RowFilter(=, 'binary:a:b:')") == RowFilter(
        CompareOp.EQUAL, BinaryComparator(b"a:b:")
    )
    assert parse_filter("RowFilter(=, 'binary:')") == RowFilter(CompareOp.EQUAL, BinaryComparator(b""))


def test_the_language_guides_examples_parse() -> None:
    """FILTER_LANGUAGE.md §8, valid under HBase's code."""
    for text in [
        "PrefixFilter ('row2') AND QualifierFilter (>=, 'binary:xyz') AND TimestampsFilter (123, 456)",
        "PrefixFilter('Row') AND PageFilter(1) AND FirstKeyOnlyFilter()",
        "(RowFilter(=, 'binary:Row 1') AND TimestampsFilter(74689, 89734)) OR "
        "ColumnRangeFilter('abc', true, 'xyz', false)",
        "SingleColumnValueFilter('cf1', 'qual1', =, 'binary:val1')",
        "WHILE RowFilter(<, 'binary:row-5')",
    ]:
        assert parse_filter(str(parse_filter(text))) == parse_filter(text)


# -- precedence -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KeyOnlyFilter() AND FirstKeyOnlyFilter() OR PrefixFilter('p')", OR(AND(K, F), P)),
        ("KeyOnlyFilter() OR FirstKeyOnlyFilter() AND PrefixFilter('p')", OR(K, AND(F, P))),
        ("KeyOnlyFilter() AND SKIP FirstKeyOnlyFilter() OR PrefixFilter('p')", OR(AND(K, SkipFilter(F)), P)),
        ("SKIP WHILE KeyOnlyFilter()", SkipFilter(WhileMatchFilter(K))),
        ("WHILE KeyOnlyFilter() AND FirstKeyOnlyFilter()", AND(WhileMatchFilter(K), F)),
        ("WHILE (KeyOnlyFilter() AND FirstKeyOnlyFilter())", WhileMatchFilter(AND(K, F))),
        ("KeyOnlyFilter() AND (FirstKeyOnlyFilter() OR PrefixFilter('p'))", AND(K, OR(F, P))),
        ("KeyOnlyFilter() OR FirstKeyOnlyFilter() OR PrefixFilter('p')", OR(K, F, P)),
        ("(KeyOnlyFilter() OR FirstKeyOnlyFilter()) OR PrefixFilter('p')", OR(OR(K, F), P)),
        ("((KeyOnlyFilter()))", K),
    ],
)
def test_and_binds_tighter_than_or_and_skip_and_while_are_unary(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected
    assert parse_filter(str(expected)) == expected


# -- quoting and whitespace -----------------------------------------------------------------------------


def test_two_quotes_inside_a_quoted_string_stand_for_one() -> None:
    assert parse_filter("PrefixFilter('it''s')") == PrefixFilter(b"it's")
    assert parse_filter("PrefixFilter('''')") == PrefixFilter(b"'")
    assert parse_filter("PrefixFilter('')") == PrefixFilter(b"")
    assert str(PrefixFilter(b"it's")) == "PrefixFilter('it''s')"


def test_inside_quotes_commas_parentheses_and_spaces_are_literal() -> None:
    assert parse_filter("PrefixFilter(' a, (b) ')") == PrefixFilter(b" a, (b) ")
    assert parse_filter("PrefixFilter('AND OR SKIP')") == PrefixFilter(b"AND OR SKIP")


def test_arguments_are_bytes_and_a_str_is_taken_as_utf8() -> None:
    assert parse_filter("PrefixFilter('é')") == PrefixFilter("é".encode())
    assert parse_filter(b"PrefixFilter('\xff\x00')") == PrefixFilter(b"\xff\x00")
    assert parse_filter(str(PrefixFilter(b"\xff\x00"))) == PrefixFilter(b"\xff\x00")


def test_spaces_and_tabs_are_skipped_between_tokens() -> None:
    text = " \t KeyOnlyFilter \t( \t) AND  PrefixFilter(\t'p' \t)\t "
    assert parse_filter(text) == AND(K, P)
    assert parse_filter("KeyOnlyFilter()AND(PrefixFilter('p'))") == AND(K, P)
    assert parse_filter("(KeyOnlyFilter())OR(PrefixFilter('p'))") == OR(K, P)
    assert parse_filter("SKIP(KeyOnlyFilter())") == SkipFilter(K)


# -- malformed strings, each with its message -----------------------------------------------------------


def _error(text: str | bytes) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("", 0, "empty filter string: expected a filter"),
        ("  ", 2, "empty filter string"),
        ("KeyOnlyFilter() AND", 19, "expected a filter after AND, found the end of the string"),
        ("KeyOnlyFilter() OR ", 19, "expected a filter after OR, found the end of the string"),
        ("SKIP", 4, "expected a filter after SKIP"),
        ("WHILE ", 6, "expected a filter after WHILE"),
        ("AND KeyOnlyFilter()", 0, "expected a filter before AND, found AND"),
        ("KeyOnlyFilter() AND OR KeyOnlyFilter()", 20, "expected a filter before OR"),
        (
            "KeyOnlyFilter() FirstKeyOnlyFilter()",
            16,
            "expected AND, OR or the end of the string, found 'FirstKeyOnlyFilter'",
        ),
        (
            "KeyOnlyFilter() and PrefixFilter('p')",
            16,
            "expected AND, OR or the end of the string, found 'and'",
        ),
        (
            "KeyOnlyFilter()\tAND PrefixFilter('p')",
            16,
            "AND must have a space or a parenthesis on each side, found a tab",
        ),
        (
            "(KeyOnlyFilter()",
            16,
            "mismatched parenthesis: expected AND, OR or ')' closing the '(' at offset 0",
        ),
        ("KeyOnlyFilter())", 15, "mismatched parenthesis: ')' without a matching '('"),
        ("()", 1, "expected a filter, found ')'"),
        (
            "KeyOnlyFilter",
            13,
            "expected '(' after the filter name KeyOnlyFilter, found the end of the string",
        ),
        ("KeyOnlyFilter x()", 14, "expected '(' after the filter name KeyOnlyFilter, found 'x'"),
        (
            "PrefixFilter('ab",
            13,
            "unterminated quoted string in the arguments of PrefixFilter: expected a closing '",
        ),
        ("PrefixFilter('a''", 13, "unterminated quoted string"),
        (
            "PrefixFilter('a'",
            16,
            "expected ',' or ')' in the arguments of PrefixFilter, found the end of the string",
        ),
        ("PrefixFilter('a' 'b')", 17, "expected ',' or ')' in the arguments of PrefixFilter, found"),
        ("KeyOnlyFilter(true,)", 19, "expected an argument after ',', found ')'"),
        ("KeyOnlyFilter(,)", 14, "expected an argument of KeyOnlyFilter, found ','"),
    ],
)
def test_a_malformed_string_says_where_and_what_was_expected(text: str, offset: int, message: str) -> None:
    error = _error(text)
    assert type(error) is FilterSyntaxError
    assert error.offset == offset
    assert message in str(error)
    assert f"at offset {offset}: " in str(error)


def test_the_message_quotes_the_text_around_the_offset() -> None:
    error = _error("PrefixFilter('row') AND PageFilter(1) OOPS ColumnPrefixFilter('q')")
    assert "at offset 38: '...) AND PageFilter(1) ' >>> 'OOPS ColumnPrefixFil...'" in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Prefixfilter('a')",
            "unknown filter name 'Prefixfilter' (names are case-sensitive: did you mean PrefixFilter?)",
        ),
        ("TimeStampsFilter(1)", "did you mean TimestampsFilter?"),
        (
            "FuzzyRowFilter('a')",
            "unknown filter name 'FuzzyRowFilter': expected one of ColumnCountGetFilter,",
        ),
        (
            "DependentColumnFilter('f', 'q')",
            "filter DependentColumnFilter is in HBase's language but not implemented",
        ),
    ],
)
def test_an_unknown_filter_name_is_its_own_error(text: str, message: str) -> None:
    error = _error(text)
    assert isinstance(error, UnknownFilterError)
    assert error.offset == 0
    assert message in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ValueFilter(=, 'foo:a')",
            "ValueFilter: argument 2 must be a comparator 'TYPE:VALUE' with TYPE one of "
            "binary, binaryprefix, substring, regexstring, found type 'foo'",
        ),
        ("ValueFilter(=, 'Binary:a')", "found type 'Binary'"),
        ("RowFilter(=, 'abc')", "found no ':'"),
    ],
)
def test_an_unknown_comparator_is_its_own_error(text: str, message: str) -> None:
    error = _error(text)
    assert isinstance(error, UnknownComparatorError)
    assert error.offset == text.index("'")
    assert message in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PageFilter(1, 2)", "PageFilter: expected 1 argument (pageSize), got 2"),
        ("PrefixFilter()", "PrefixFilter: expected 1 argument ('rowPrefix'), got 0"),
        ("FirstKeyOnlyFilter(true)", "FirstKeyOnlyFilter: expected 0 arguments (), got 1"),
        ("KeyOnlyFilter(true, true)", "KeyOnlyFilter: expected 0 or 1 arguments ([lenAsValue]), got 2"),
        (
            "SingleColumnValueFilter('f', 'q', =, 'binary:v', true)",
            "expected 4 or 6 arguments ('family', 'qualifier'",
        ),
        (
            "ColumnRangeFilter('a', true, 'b')",
            "ColumnRangeFilter: expected 4 arguments ('minColumn', minInclusive,",
        ),
        ("PrefixFilter(row)", "PrefixFilter: argument 1 must be a quoted string, found row"),
        ("PageFilter('1')", "PageFilter: argument 1 must be an unquoted integer, found '1'"),
        ("PageFilter(1.5)", "argument 1 must be an unquoted integer, found 1.5"),
        ("PageFilter(-1)", "PageFilter: argument 1 must be between 0 and 9223372036854775807, found -1"),
        ("ColumnCountGetFilter(2147483648)", "argument 1 must be between 0 and 2147483647, found 2147483648"),
        ("TimestampsFilter(1, x)", "TimestampsFilter: argument 2 must be an unquoted integer, found x"),
        ("KeyOnlyFilter(yes)", "KeyOnlyFilter: argument 1 must be true or false, found yes"),
        ("KeyOnlyFilter('true')", "argument 1 must be true or false, found 'true'"),
        (
            "RowFilter(==, 'binary:a')",
            "RowFilter: argument 1 must be a compare operator (<, <=, =, !=, >=, >), found ==",
        ),
        ("RowFilter('=', 'binary:a')", "must be a compare operator (<, <=, =, !=, >=, >), found '='"),
        ("RowFilter(=, binary:a)", "RowFilter: argument 2 must be a quoted string, found binary:a"),
        (
            "ValueFilter(<, 'substring:a')",
            "ValueFilter: a substring comparator only supports = and !=, found <",
        ),
        ("QualifierFilter(>=, 'regexstring:a')", "a regexstring comparator only supports = and !=, found >="),
        ("ValueFilter(=, 'regexstring:(')", "ValueFilter: argument 2: bad regular expression: missing )"),
        (
            "MultipleColumnPrefixFilter('a', 'b', 'a')",
            "MultipleColumnPrefixFilter: argument 3 repeats the prefix 'a'",
        ),
        ("MultipleColumnPrefixFilter(a)", "argument 1 must be a quoted string"),
    ],
)
def test_wrong_arguments_to_a_known_filter_are_their_own_error(text: str, message: str) -> None:
    error = _error(text)
    assert isinstance(error, FilterArgumentError)
    assert message in str(error)


def test_an_argument_error_points_at_the_argument() -> None:
    assert _error("TimestampsFilter(1, x)").offset == len("TimestampsFilter(1, ")
    assert _error("PageFilter(1, 2)").offset == len("PageFilter")


# -- properties -----------------------------------------------------------------------------------------

KW_SPACE = st.sampled_from([" ", "  ", " \t ", " \t\t  "])  # around keywords: a space on each end
OPT_KW_SPACE = st.sampled_from(["", " ", " \t "])
ANY_SPACE = st.sampled_from(["", " ", "\t", " \t ", "  "])
VALUES = st.one_of(
    st.binary(max_size=5),
    st.text(alphabet="ab'(), é:", max_size=6).map(lambda s: s.encode()),
)
REGEXES = st.sampled_from([b"", b"a", b"^a.*z$", b"[0-9]+", b"a|b", b"(x)(y)?", b"it's"])


def _quote(value: bytes) -> bytes:
    return b"'" + value.replace(b"'", b"''") + b"'"


@st.composite
def _boolean(draw: st.DrawFn) -> tuple[bytes, bool]:
    value = draw(st.booleans())
    word = b"true" if value else b"false"
    return draw(st.sampled_from([word, word.upper(), word.capitalize()])), value


@st.composite
def _comparator(draw: st.DrawFn, ordered_op: bool) -> tuple[bytes, object]:
    kinds = ["binary", "binaryprefix"] + ([] if ordered_op else ["substring", "regexstring"])
    kind = draw(st.sampled_from(kinds))
    value = draw(REGEXES if kind == "regexstring" else VALUES)
    cls = {
        "binary": BinaryComparator,
        "binaryprefix": BinaryPrefixComparator,
        "substring": SubstringComparator,
        "regexstring": RegexStringComparator,
    }[kind]
    return _quote(kind.encode() + b":" + value), cls(value)


@st.composite
def _call(draw: st.DrawFn, name: str, args: list[bytes]) -> bytes:
    """`Name ( a , b )` with random spacing where the language allows it."""
    space = lambda: draw(ANY_SPACE).encode()  # noqa: E731
    inner = b",".join(space() + a + space() for a in args) if args else space()
    return name.encode() + space() + b"(" + inner + b")"


@st.composite
def simple_filters(draw: st.DrawFn) -> tuple[bytes, Filter]:
    """A simple filter's text, spaced and quoted at random, with the filter it must parse to."""
    kind = draw(st.sampled_from(range(12)))
    if kind == 0:
        word, value = draw(st.one_of(st.none(), _boolean())) or (None, False)
        return draw(_call("KeyOnlyFilter", [word] if word else [])), KeyOnlyFilter(value)
    if kind == 1:
        return draw(_call("FirstKeyOnlyFilter", [])), FirstKeyOnlyFilter()
    if kind == 2:
        cls = draw(st.sampled_from([PrefixFilter, ColumnPrefixFilter, InclusiveStopFilter]))
        value = draw(VALUES)
        return draw(_call(cls.NAME, [_quote(value)])), cls(value)
    if kind == 3:
        prefixes = draw(st.lists(VALUES, unique=True, max_size=3))
        text = draw(_call("MultipleColumnPrefixFilter", [_quote(p) for p in prefixes]))
        return text, MultipleColumnPrefixFilter(tuple(sorted(prefixes)))
    if kind == 4:
        n = draw(st.integers(0, 2**31 - 1))
        cls2 = draw(st.sampled_from([ColumnCountGetFilter, PageFilter]))
        return draw(_call(cls2.NAME, [str(n).encode()])), cls2(n)
    if kind == 5:
        limit, offset = draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1))
        text = draw(_call("ColumnPaginationFilter", [str(limit).encode(), str(offset).encode()]))
        return text, ColumnPaginationFilter(limit, offset)
    if kind == 6:
        stamps = draw(st.lists(st.integers(0, 2**63 - 1), max_size=4))
        text = draw(_call("TimestampsFilter", [str(t).encode() for t in stamps]))
        return text, TimestampsFilter(tuple(sorted(set(stamps))))
    if kind in (7, 8):
        op = draw(st.sampled_from(list(CompareOp)))
        cmp_text, comparator = draw(_comparator(op.value not in ("=", "!=")))
        if kind == 7:
            cls3 = draw(st.sampled_from([RowFilter, FamilyFilter, QualifierFilter, ValueFilter]))
            return draw(_call(cls3.NAME, [op.value.encode(), cmp_text])), cls3(op, comparator)  # type: ignore[arg-type]
        cls4 = draw(st.sampled_from([SingleColumnValueFilter, SingleColumnValueExcludeFilter]))
        family, qualifier = draw(VALUES), draw(VALUES)
        args = [_quote(family), _quote(qualifier), op.value.encode(), cmp_text]
        flags = draw(st.one_of(st.none(), st.tuples(_boolean(), _boolean())))
        if flags is None:
            return draw(_call(cls4.NAME, args)), cls4(family, qualifier, op, comparator)  # type: ignore[arg-type]
        (w1, missing), (w2, latest) = flags
        text = draw(_call(cls4.NAME, [*args, w1, w2]))
        return text, cls4(family, qualifier, op, comparator, missing, latest)  # type: ignore[arg-type]
    (w1, low_inclusive), (w2, high_inclusive) = draw(_boolean()), draw(_boolean())
    low, high = draw(VALUES), draw(VALUES)
    text = draw(_call("ColumnRangeFilter", [_quote(low), w1, _quote(high), w2]))
    return text, ColumnRangeFilter(low or None, low_inclusive, high or None, high_inclusive)


@st.composite
def filter_strings(draw: st.DrawFn, depth: int = 3) -> tuple[bytes, Filter]:
    """or_expr of the grammar: a well-formed string with the filter tree the grammar gives it."""
    return draw(_expr(depth, Operator.OR))


@st.composite
def _expr(draw: st.DrawFn, depth: int, operator: Operator) -> tuple[bytes, Filter]:
    operand = _expr(depth, Operator.AND) if operator is Operator.OR else _unary(depth)
    items = draw(st.lists(operand, min_size=1, max_size=3 if depth > 0 else 1))
    text = (draw(KW_SPACE).encode() + operator.value.encode() + draw(KW_SPACE).encode()).join(
        t for t, _ in items
    )
    filters = tuple(f for _, f in items)
    return text, filters[0] if len(filters) == 1 else FilterList(operator, filters)


@st.composite
def _unary(draw: st.DrawFn, depth: int) -> tuple[bytes, Filter]:
    choice = draw(
        st.sampled_from(["simple", "simple", "group", "SKIP", "WHILE"] if depth > 0 else ["simple"])
    )
    if choice == "simple":
        return draw(simple_filters())
    if choice == "group":
        text, inner = draw(_expr(depth - 1, Operator.OR))
        return b"(" + draw(OPT_KW_SPACE).encode() + text + draw(ANY_SPACE).encode() + b")", inner
    text, inner = draw(_unary(depth - 1))
    space = draw(OPT_KW_SPACE if text.startswith(b"(") else KW_SPACE).encode()
    wrapper = SkipFilter if choice == "SKIP" else WhileMatchFilter
    return choice.encode() + space + text, wrapper(inner)


@settings(max_examples=examples(50))
@given(filter_strings(), OPT_KW_SPACE, ANY_SPACE)
def test_well_formed_strings_parse_to_the_grammars_tree_and_print_back(
    case: tuple[bytes, Filter], lead: str, trail: str
) -> None:
    text, expected = case
    parsed = parse_filter(lead.encode() + text + trail.encode())
    assert parsed == expected
    printed = str(parsed)
    assert parse_filter(printed) == parsed
    assert str(parse_filter(printed)) == printed  # the canonical form is a fixed point


_SIGNIFICANT = b"'(), \t:=<>!ANDORSKIPWHILE"


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(filter_strings(depth=2))[0])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate"]))
        if how == "delete" and data:
            del data[at : at + draw(st.integers(1, 3))]
        elif how == "insert":
            data[at:at] = draw(
                st.sampled_from([bytes([b]) for b in _SIGNIFICANT] + [b"AND ", b" OR", b"SKIP "])
            )
        elif how == "replace" and at < len(data):
            data[at] = draw(st.sampled_from([*list(_SIGNIFICANT), 255, 0]))
        elif how == "truncate":
            del data[at:]
        elif how == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@settings(max_examples=examples(50))
@given(_mutated())
def test_a_mutated_string_parses_or_raises_filter_syntax_error(text: bytes) -> None:
    try:
        parsed = parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.offset <= len(text)
        return
    assert parse_filter(str(parsed)) == parsed


@given(st.binary(max_size=40))
def test_any_bytes_parse_or_raise_filter_syntax_error(text: bytes) -> None:
    with contextlib.suppress(FilterSyntaxError):
        parse_filter(text)


def test_the_public_face_exports_the_parser_the_loop_and_one_error_tree() -> None:
    from regionserver.data import filters

    assert [name for name in filters.__all__ if not hasattr(filters, name)] == []
    assert {"parse_filter", "apply", "Filter", "ReturnCode", "FilterSyntaxError"} <= set(filters.__all__)
    for error in (UnknownFilterError, UnknownComparatorError, FilterArgumentError):
        assert issubclass(error, FilterSyntaxError)
    assert issubclass(FilterSyntaxError, ValueError)  # a gateway's "invalid argument"
