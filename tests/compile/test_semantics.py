"""Splunk search/where matching: golden SQL for DuckDB and Spark, execution on real DuckDB, properties.

Regenerate the golden file after an intended change with ``ESCUDO_UPDATE_GOLDEN=1 pytest <this file>``
and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from escudo.compile.dialects import DIALECTS, EscudoDuckDB
from escudo.compile.semantics import (
    is_number,
    like,
    parenthesize,
    search_compare,
    search_compare_mv,
    search_in,
    search_not,
    where_compare,
    wildcard_to_like,
)

GOLDEN = Path(__file__).parent / "golden_functions" / "semantics.json"
X = exp.column("x")
Y = exp.column("y")


def _mv() -> exp.Expression:
    col = exp.column("xs")
    col.type = exp.DataType.build("array<varchar>")
    return col


CASES: dict[str, Callable[[], exp.Expression]] = {
    "search_eq_plain": lambda: search_compare(X, "=", "NGROK"),
    "search_eq_wildcard": lambda: search_compare(X, "=", "*tcp*"),
    "search_eq_star": lambda: search_compare(X, "=", "*"),
    "search_eq_escapes": lambda: search_compare(X, "=", "*50%_off\\*"),
    "search_eq_quote": lambda: search_compare(X, "=", "'); drop table x; --"),
    "search_eq_unicode": lambda: search_compare(X, "=", "ÉTÉ*"),
    "search_neq": lambda: search_compare(X, "!=", "root"),
    "search_gt_number": lambda: search_compare(X, ">", "5"),
    "search_lte_negative": lambda: search_compare(X, "<=", "-1.5"),
    "search_lt_text": lambda: search_compare(X, "<", "M"),
    "search_in": lambda: search_in(X, ["*start*", "*--config*", "*http*", "*http*"]),
    "search_in_empty": lambda: search_in(X, []),
    "search_not": lambda: search_not(search_compare(X, "=", "a")),
    "search_not_or": lambda: search_not(search_in(X, ["a", "b"])),
    "search_mv_eq": lambda: search_compare_mv(_mv(), "=", "10.*"),
    "search_mv_neq": lambda: search_compare_mv(_mv(), "!=", "a"),
    "where_eq_string": lambda: where_compare(X, "=", exp.Literal.string("Ab")),
    "where_gte_number": lambda: where_compare(X, ">=", exp.Literal.number(200)),
    "where_fields": lambda: where_compare(X, "<", Y),
    "where_numbers": lambda: where_compare(exp.Length(this=X), "==", exp.Literal.number(3)),
    "where_neq_string": lambda: where_compare(X, "!=", exp.Literal.string("a'b")),
    "like": lambda: like(X, exp.Literal.string("a\\_%")),
}


def _generate() -> dict[str, dict[str, str]]:
    return {
        name: {dialect: build().sql(dialect=cls) for dialect, cls in DIALECTS.items()}
        for name, build in CASES.items()
    }


def test_golden_sql_for_duckdb_and_spark() -> None:
    actual = _generate()
    if os.environ.get("ESCUDO_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert actual == expected


# --- execution on DuckDB -------------------------------------------------------------------------

CON = duckdb.connect()


def evaluate(
    expression: exp.Expression, rows: list[tuple[Any, ...]], columns: str = "x"
) -> list[Any]:
    """The value of ``expression`` for each row of a tiny table (columns VARCHAR unless given)."""
    names = [c.strip() for c in columns.split(",")]
    types = {"xs": "VARCHAR[]"}
    select = ", ".join(f"CAST(? AS {types.get(n, 'VARCHAR')}) AS {n}" for n in names)
    sql = expression.sql(dialect=EscudoDuckDB)
    out = []
    for row in rows:
        out.append(
            CON.execute(f"SELECT {sql} FROM (SELECT {select}) AS t", list(row)).fetchone()[0]
        )
    return out


def matches(expression: exp.Expression, values: list[Any]) -> list[bool]:
    # WHERE keeps TRUE only: NULL counts as no match, as a Splunk filter drops the event.
    return [bool(v) for v in evaluate(expression, [(v,) for v in values])]


def test_search_equality_is_case_insensitive_and_exact() -> None:
    values = ["ngrok", "NGROK", "Ngrok", "ngrok2", "xngrok", None]
    assert matches(search_compare(X, "=", "NGROK"), values) == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_search_wildcards_match_anywhere_including_empty_runs() -> None:
    values = ["ngrok tcp 22", "tcp", "TCP", "ngrok http", None]
    assert matches(search_compare(X, "=", "*tcp*"), values) == [True, True, True, False, False]
    assert matches(search_compare(X, "=", "ng*k"), ["ngk", "ngrok", "ngrokx"]) == [
        True,
        True,
        False,
    ]


def test_search_star_alone_means_field_exists() -> None:
    assert matches(search_compare(X, "=", "*"), ["", "a", None]) == [True, True, False]


def test_search_like_metacharacters_are_literal() -> None:
    assert matches(search_compare(X, "=", "50%"), ["50%", "500", "50x"]) == [True, False, False]
    assert matches(search_compare(X, "=", "a_c*"), ["a_c", "abc", "a_cd"]) == [True, False, True]
    assert matches(search_compare(X, "=", "c:\\temp\\*"), ["C:\\Temp\\x", "c:/temp/x"]) == [
        True,
        False,
    ]


def test_injection_attempts_are_inert_values() -> None:
    evil = "'); drop table x; --"
    assert matches(search_compare(X, "=", evil), [evil, "x"]) == [True, False]
    assert matches(search_compare(X, "=", f"*{evil}*"), [f"a{evil}b"]) == [True]
    assert matches(where_compare(X, "=", exp.Literal.string(evil)), [evil]) == [True]


def test_not_equal_requires_the_field_while_not_matches_missing() -> None:
    values = ["root", "ROOT", "alice", None]
    assert matches(search_compare(X, "!=", "root"), values) == [False, False, True, False]
    assert matches(search_not(search_compare(X, "=", "root")), values) == [False, False, True, True]


def test_search_not_of_or_and_and() -> None:
    values = ["a", "b", "c", None]
    assert matches(search_not(search_in(X, ["a", "B"])), values) == [False, False, True, True]


def test_search_relational_numeric_when_both_numbers_else_text() -> None:
    # 10 > 9 numerically although "10" < "9" as text; "abc" > "5" as text.
    assert matches(search_compare(X, ">", "9"), ["10", "9", "8.5", "abc", None]) == [
        True,
        False,
        False,
        True,
        False,
    ]
    assert matches(search_compare(X, "<=", "-1.5"), ["-2", "-1.5", "0"]) == [True, True, False]
    assert matches(search_compare(X, "<", "m"), ["Alpha", "zulu", "M"]) == [True, False, False]


def test_search_in_is_or_of_wildcard_equalities() -> None:
    predicate = search_in(X, ["*start*", "*--config*", "*http*", "*authtoken*", "*http*", "*tcp*"])
    values = ["ngrok tcp 22", "ngrok HTTP 80", "ngrok version", None]
    assert matches(predicate, values) == [True, True, False, False]
    assert matches(search_in(X, []), ["a"]) == [False]


def test_multivalue_matches_when_any_value_matches() -> None:
    rows = [(["10.0.0.1", "192.168.0.1"],), (["192.168.0.1"],), (None,), ([],)]
    assert [bool(v) for v in evaluate(search_compare_mv(_mv(), "=", "10.*"), rows, "xs")] == [
        True,
        False,
        False,
        False,
    ]
    rows = [(["a", "b"],), (["a"],), (None,)]
    assert [bool(v) for v in evaluate(search_compare_mv(_mv(), "!=", "A"), rows, "xs")] == [
        True,
        False,
        False,
    ]


def test_where_is_case_sensitive_without_wildcards() -> None:
    assert matches(where_compare(X, "=", exp.Literal.string("Ab")), ["Ab", "ab", "A*"]) == [
        True,
        False,
        False,
    ]
    assert matches(where_compare(X, "=", exp.Literal.string("A*")), ["Ab", "A*"]) == [False, True]


def test_where_numbers_compare_numerically_and_missing_is_null() -> None:
    predicate = where_compare(X, ">=", exp.Literal.number(200))
    assert evaluate(predicate, [("1000",), ("200",), ("30",), ("abc",), (None,)]) == [
        True,
        True,
        False,
        True,  # not a number: text order, "abc" >= "200"
        None,
    ]
    assert evaluate(where_compare(X, "!=", exp.Literal.number(5)), [("5.0",), ("6",)]) == [
        False,
        True,
    ]


def test_where_two_fields() -> None:
    rows = [("10", "9"), ("b", "a"), ("1", None)]
    assert evaluate(where_compare(X, ">", Y), rows, "x, y") == [True, True, None]


def test_like_uses_percent_and_underscore() -> None:
    assert matches(like(X, exp.Literal.string("a_c%")), ["abcd", "ABCD", "ac"]) == [
        True,
        False,
        False,
    ]
    assert matches(like(X, exp.Literal.string("a\\_c")), ["a_c", "abc"]) == [True, False]


def test_parenthesize_keeps_precedence() -> None:
    a, b, c = exp.column("a"), exp.column("b"), exp.column("c")
    tree = exp.And(
        this=exp.Or(this=a, expression=b), expression=exp.Not(this=exp.Or(this=b, expression=c))
    )
    assert parenthesize(tree).sql() == "(a OR b) AND NOT (b OR c)"


def test_unknown_operator_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="operator"):
        search_compare(X, "=~", "a")
    with pytest.raises(ValueError, match="operator"):
        where_compare(X, "<>", Y)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", True),
        ("-1.5", True),
        ("1e3", True),
        (".5", True),
        ("0x10", False),
        ("", False),
        ("1.2.3", False),
    ],
)
def test_is_number(text: str, expected: bool) -> None:
    assert is_number(text) is expected


# --- properties ----------------------------------------------------------------------------------

ALPHABET = "aAbB%_\\'*. "


def reference_match(pattern: str, text: str) -> bool:
    """Splunk field=value matching in plain Python: case-insensitive, ``*`` any run, rest literal."""
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern.lower())
    return re.fullmatch(regex, text.lower(), flags=re.DOTALL) is not None


@settings(max_examples=200, deadline=None)
@given(pattern=st.text(ALPHABET, max_size=8), text=st.text(ALPHABET, max_size=10))
def test_wildcard_matching_equals_python_reference(pattern: str, text: str) -> None:
    assert matches(search_compare(X, "=", pattern), [text]) == [reference_match(pattern, text)]


@settings(max_examples=60, deadline=None)
@given(pattern=st.text(ALPHABET, max_size=8))
def test_like_pattern_round_trips_through_duckdb_like(pattern: str) -> None:
    # The LIKE pattern with '*' removed matches exactly the literal text (every special escaped).
    literal = pattern.replace("*", "")
    compiled = exp.Literal.string(wildcard_to_like(literal))
    assert matches(like(X, compiled), [literal]) == [True]


NUMBERISH = st.sampled_from(
    ["0", "5", "10", "-2", "2.5", "1e3", "007", "abc", "Abc", "b", "", "10a", " 5"]
)
OPS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", ">": "__gt__", "<=": "__le__", ">=": "__ge__"}


def _as_number(text: str) -> float | None:
    return float(text) if is_number(text) else None  # surrounding blanks allowed, as TRY_CAST does


@settings(max_examples=150, deadline=None)
@given(left=NUMBERISH, right=NUMBERISH, op=st.sampled_from(sorted(OPS)))
def test_where_compare_equals_reference(left: str, right: str, op: str) -> None:
    # where: numbers compare as numbers when both sides are numbers, otherwise as text (codepoints).
    a, b = _as_number(left), _as_number(right)
    pair: tuple[Any, Any] = (a, b) if a is not None and b is not None else (left, right)
    expected = getattr(pair[0], OPS[op])(pair[1])
    assert evaluate(where_compare(X, op, Y), [(left, right)], "x, y") == [expected]


@settings(max_examples=150, deadline=None)
@given(
    field=NUMBERISH,
    value=NUMBERISH.filter(lambda v: v.strip() == v and v),
    op=st.sampled_from(["<", ">", "<=", ">="]),
)
def test_search_relational_equals_reference(field: str, value: str, op: str) -> None:
    a, b = _as_number(field), _as_number(value)
    pair: tuple[Any, Any] = (
        (a, b) if a is not None and b is not None else (field.lower(), value.lower())
    )
    assert matches(search_compare(X, op, value), [field]) == [getattr(pair[0], OPS[op])(pair[1])]


def test_spark_goldens_parse_as_spark_sql() -> None:
    # No Spark here: at least the text must be valid Spark SQL for sqlglot's Spark parser.
    for name, sql in ((k, v["spark"]) for k, v in json.loads(GOLDEN.read_text()).items()):
        assert sqlglot.parse_one(f"SELECT {sql} FROM t", read="spark") is not None, name


def test_where_text_comparison_casts_a_typed_numeric_column() -> None:
    count = exp.column("x")
    count.type = exp.DataType.build("bigint")
    predicate = where_compare(count, "=", exp.Literal.string("abc"))
    assert predicate.sql(EscudoDuckDB).startswith("CASE WHEN x = FLOOR(x)")
    assert CON.execute(
        f"SELECT {predicate.sql(EscudoDuckDB)} FROM (SELECT 5::BIGINT AS x)"
    ).fetchone() == (False,)


@pytest.mark.parametrize(
    ("value", "text"), [("5::BIGINT", "5"), ("1704067200.0::DOUBLE", "1704067200"), ("2.5", "2.5")]
)
def test_numbers_become_text_as_splunk_prints_them(value: str, text: str) -> None:
    # A whole DOUBLE (min(_time) epoch seconds) prints without ".0", so it compares and
    # concatenates as Splunk shows it.
    number = exp.column("x")
    number.type = exp.DataType.build("double")
    predicate = where_compare(number, "=", exp.Literal.string(text))
    assert CON.execute(
        f"SELECT {predicate.sql(EscudoDuckDB)} FROM (SELECT {value} AS x)"
    ).fetchone() == (True,)
