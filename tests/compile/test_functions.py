"""SPL eval functions: golden SQL for DuckDB and Spark, Splunk results on real DuckDB, errors.

Regenerate the golden file after an intended change with ``ESCUDO_UPDATE_GOLDEN=1 pytest <this file>``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from escudo.compile.dialects import DIALECTS, EscudoDuckDB
from escudo.compile.functions import FUNCTIONS, as_multivalue, is_multivalue, lower_function
from escudo.errors import Span, SplSyntaxError, UnsupportedSplError

GOLDEN = Path(__file__).parent / "golden_functions" / "functions.json"
L = exp.Literal


def s(text: str) -> exp.Expression:
    return L.string(text)


def n(value: float) -> exp.Expression:
    return exp.Neg(this=L.number(-value)) if value < 0 else L.number(value)


def x() -> exp.Expression:
    return exp.column("x")


def xs() -> exp.Expression:
    col = exp.column("xs")
    col.type = exp.DataType.build("array<varchar>")
    return col


def call(name: str, *args: exp.Expression) -> exp.Expression:
    return lower_function(name, list(args))


def over_elements(predicate: exp.Expression) -> exp.Expression:
    """An mvfilter predicate as the compiler builds it: lowered over ``xs`` as one value, then
    ``xs`` typed back as the list that mvfilter filters."""
    for column in predicate.find_all(exp.Column):
        column.type = xs().type
    return predicate


def split(text: str) -> exp.Expression:
    return call("split", s(text), s(","))


# (case id, expression, x value, xs value, expected Splunk result). Each case is also a golden SQL
# pair, so every function has both its SQL text and its behaviour pinned.
CASES: list[tuple[str, exp.Expression, Any, Any, Any]] = [
    ("if", call("if", call("isnull", x()), s("missing"), x()), None, None, "missing"),
    ("if_mixed_types", call("if", call("isnull", x()), n(0), x()), "a", None, "a"),
    (
        "case",
        call("case", call("like", x(), s("a%")), s("A"), exp.true(), s("other")),
        "b",
        None,
        "other",
    ),
    ("case_no_match", call("case", exp.false(), s("A")), "b", None, None),
    ("coalesce", call("coalesce", x(), s("b")), None, None, "b"),
    ("isnull", call("isnull", x()), None, None, True),
    ("isnotnull", call("isnotnull", x()), "", None, True),
    ("isnum_yes", call("isnum", x()), "-1.5", None, True),
    ("isnum_no", call("isnum", x()), "abc", None, False),
    ("isstr", call("isstr", x()), "abc", None, True),
    ("isstr_number", call("isstr", x()), "12", None, False),
    ("like", call("like", x(), s("ng_ok%")), "ngrok tcp", None, True),
    ("like_case_sensitive", call("like", x(), s("NG%")), "ngrok", None, False),
    ("match_unanchored", call("match", x(), s("tc[pq]")), "ngrok tcp 22", None, True),
    ("match_anchored", call("match", x(), s("^tcp")), "ngrok tcp 22", None, False),
    ("in", call("in", x(), s("a"), s("b")), "b", None, True),
    ("lower", call("lower", x()), "NgRok", None, "ngrok"),
    ("upper", call("upper", x()), "NgRok", None, "NGROK"),
    ("len", call("len", x()), "ngrok", None, 5),
    ("substr", call("substr", x(), n(2), n(3)), "abcdef", None, "bcd"),
    ("substr_negative", call("substr", x(), n(-3)), "abcdef", None, "def"),
    ("substr_negative_len", call("substr", x(), n(-3), n(2)), "abcdef", None, "de"),
    ("substr_zero", call("substr", x(), n(0), n(2)), "abcdef", None, "ab"),
    ("substr_field_start", call("substr", s("abcdef"), x()), "-2", None, "ef"),
    ("replace_dot", call("replace", s("a.b.c"), s("\\."), s("-")), None, None, "a-b-c"),
    (
        "replace_backrefs",
        call("replace", x(), s("(\\w+)@(\\w+)"), s("\\2 at \\1")),
        "bob@host",
        None,
        "host at bob",
    ),
    ("replace_dollar", call("replace", x(), s("a"), s("$")), "banana", None, "b$n$n$"),
    ("split", split("a,b,c"), None, None, ["a", "b", "c"]),
    ("split_regex_chars", call("split", x(), s(".")), "10.0.0.1", None, ["10", "0", "0", "1"]),
    ("mvcount", call("mvcount", xs()), None, ["a", "b"], 2),
    ("mvcount_missing", call("mvcount", xs()), None, None, None),
    ("mvcount_single", call("mvcount", x()), "a", None, 1),
    ("mvindex_last", call("mvindex", xs(), n(-1)), None, ["a", "b", "c"], "c"),
    ("mvindex_first", call("mvindex", xs(), n(0)), None, ["a", "b", "c"], "a"),
    ("mvindex_out_of_range", call("mvindex", xs(), n(5)), None, ["a", "b", "c"], None),
    (
        "mvindex_range",
        call("mvindex", xs(), n(1), n(-1)),
        None,
        ["a", "b", "c", "d"],
        ["b", "c", "d"],
    ),
    ("mvindex_single_value", call("mvindex", x(), n(-1)), "a", None, "a"),
    ("mvjoin", call("mvjoin", xs(), s(";")), None, ["a", "b"], "a;b"),
    ("mvappend", call("mvappend", x(), s("b"), xs()), "a", ["c", "d"], ["a", "b", "c", "d"]),
    ("mvappend_missing", call("mvappend", x(), s("b")), None, None, ["b"]),
    ("mvappend_all_missing", call("mvappend", x(), xs()), None, None, None),
    (
        "mvfilter",
        call("mvfilter", over_elements(call("match", exp.column("xs"), s("^1")))),
        None,
        ["10", "20", "11"],
        ["10", "11"],
    ),
    (
        "mvdedup_keeps_order",
        call("mvdedup", xs()),
        None,
        ["b", "a", "b", "c", "a"],
        ["b", "a", "c"],
    ),
    ("tostring_int", call("tostring", n(5)), None, None, "5"),
    ("tostring_float", call("tostring", exp.Div(this=n(5), expression=n(2))), None, None, "2.5"),
    ("tostring_text", call("tostring", x()), "abc", None, "abc"),
    ("tostring_hex", call("tostring", n(255), s("hex")), None, None, "0xFF"),
    ("tostring_duration", call("tostring", n(3725), s("duration")), None, None, "01:02:05"),
    ("tostring_duration_days", call("tostring", n(90061), s("duration")), None, None, "1+01:01:01"),
    ("tonumber", call("tonumber", x()), "12", None, 12.0),
    ("tonumber_bad", call("tonumber", x()), "12a", None, None),
    ("round", call("round", x(), n(2)), "2.567", None, 2.57),
    ("round_half", call("round", x()), "2.5", None, 3.0),
    ("abs", call("abs", x()), "-4", None, 4.0),
    ("floor", call("floor", x()), "2.7", None, 2.0),
    ("ceil", call("ceil", x()), "2.1", None, 3.0),
    ("ceiling", call("ceiling", x()), "2.1", None, 3.0),
    ("sqrt", call("sqrt", x()), "16", None, 4.0),
    ("pow", call("pow", x(), n(3)), "2", None, 8.0),
    ("exp", call("exp", n(0)), None, None, 1.0),
    ("ln", call("ln", n(1)), None, None, 0.0),
    ("log10", call("log", x()), "100", None, 2.0),
    ("log2", call("log", x(), n(2)), "8", None, 3.0),
    ("min", call("min", n(3), s("2"), x()), "7", None, 2.0),
    ("max", call("max", n(3), s("2"), x()), None, None, 3.0),
    ("relative_time", call("relative_time", x(), s("-1d@d")), "1700000000", None, 1699833600.0),
    (
        "strftime",
        call("strftime", x(), s("%Y-%m-%dT%H:%M:%S")),
        "1700000000",
        None,
        "2023-11-14T22:13:20",
    ),
    (
        "strptime",
        call("strptime", x(), s("%Y-%m-%dT%H:%M:%S")),
        "2023-11-14T22:13:20",
        None,
        1700000000.0,
    ),
    ("strptime_bad", call("strptime", x(), s("%Y-%m-%d")), "yesterday", None, None),
    ("urldecode", call("urldecode", x()), "http%3A%2F%2Fa%20b+c", None, "http://a b c"),
    ("trim", call("trim", x()), " \ta \t", None, "a"),
    ("ltrim_chars", call("ltrim", x(), s("x")), "xxaxx", None, "axx"),
    ("rtrim_chars", call("rtrim", x(), s("x")), "xxaxx", None, "xxa"),
    ("null", call("null"), None, None, None),
    ("true", call("true"), None, None, True),
    ("false", call("false"), None, None, False),
    ("cidrmatch_in", call("cidrmatch", s("10.0.0.0/8"), x()), "10.1.2.3", None, True),
    ("cidrmatch_out", call("cidrmatch", s("10.0.0.0/8"), x()), "11.0.0.1", None, False),
    ("cidrmatch_24", call("cidrmatch", s("192.168.1.0/24"), x()), "192.168.1.255", None, True),
    ("cidrmatch_invalid_ip", call("cidrmatch", s("10.0.0.0/8"), x()), "10.0.0", None, False),
    ("cidrmatch_big_octet", call("cidrmatch", s("10.0.0.0/8"), x()), "10.0.0.256", None, False),
    ("printf", call("printf", s("%05.1f|%s"), n(3.14159), x()), "x", None, "003.1|x"),
    ("md5", call("md5", x()), "a", None, "0cc175b9c0f1b6a831c399e269772661"),
    ("sha1", call("sha1", x()), "a", None, "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
    (
        "sha256",
        call("sha256", x()),
        "a",
        None,
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    ),
    (
        "injection_is_a_value",
        call("lower", s("'); DROP TABLE x; --")),
        None,
        None,
        "'); drop table x; --",
    ),
]

CON = duckdb.connect()


def evaluate(expression: exp.Expression, x_value: Any, xs_value: Any) -> Any:
    sql = expression.sql(dialect=EscudoDuckDB)
    query = f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS x, CAST(? AS VARCHAR[]) AS xs) AS t"
    value = CON.execute(query, [x_value, xs_value]).fetchone()[0]  # type: ignore[index]
    return float(value) if type(value).__name__ == "Decimal" else value


@pytest.mark.parametrize(
    ("case", "expression", "x_value", "xs_value", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_function_gives_splunk_result_on_duckdb(
    case: str, expression: exp.Expression, x_value: Any, xs_value: Any, expected: Any
) -> None:
    assert evaluate(expression, x_value, xs_value) == expected


def test_golden_sql_for_duckdb_and_spark() -> None:
    actual = {case: {d: e.sql(dialect=cls) for d, cls in DIALECTS.items()} for case, e, *_ in CASES}
    if os.environ.get("ESCUDO_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert actual == json.loads(GOLDEN.read_text())


def test_every_function_has_an_execution_case() -> None:
    cases = [case for case, *_ in CASES] + ["searchmatch", "now", "time"]  # tested below
    missing = [name for name in FUNCTIONS if not any(c.startswith(name) for c in cases)]
    assert missing == []


def test_now_and_time_are_epoch_seconds() -> None:
    now = evaluate(call("now"), None, None)
    time = evaluate(call("time"), None, None)
    assert now == int(now) and 1.7e9 < now <= time < now + 3600


def test_multivalue_detection() -> None:
    assert is_multivalue(xs()) and is_multivalue(split("a,b"))
    assert not is_multivalue(x())
    assert evaluate(as_multivalue(x()), "a", None) == ["a"]
    assert evaluate(as_multivalue(x()), None, None) is None


SOURCE = "| eval y=searchmatch(x)"


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("searchmatch", [s("x=1")], "searchmatch(): searchmatch() needs the raw event text"),
        ("nosuchfn", [], "unknown or unsupported eval function nosuchfn()"),
        ("if", [exp.true()], "if() takes 3 argument(s), got 1"),
        ("substr", [x()], "substr() takes 2 to 3 argument(s), got 1"),
        ("coalesce", [], "coalesce() takes at least 1 argument(s), got 0"),
        ("strftime", [x(), x()], "strftime(): argument 2 (format) must be a quoted string literal"),
        ("strftime", [x(), s("%c")], "strftime(): time format specifier '%c' is not supported"),
        ("relative_time", [x(), s("-1fortnight")], "relative_time(): invalid time modifier"),
        ("cidrmatch", [s("fe80::/10"), x()], "cidrmatch(): cidrmatch() supports IPv4 only"),
        ("cidrmatch", [s("10.0.0.0/33"), x()], "cidrmatch(): invalid CIDR"),
        ("case", [exp.true(), s("a"), exp.false()], "case(): case() takes condition, value pairs"),
        ("tonumber", [x(), n(16)], "tonumber(): tonumber() supports base 10 only"),
        ("tostring", [x(), s("commas")], "tostring(): tostring format 'commas' is not supported"),
        (
            "mvfilter",
            [call("like", x(), xs())],
            "mvfilter(): mvfilter() needs an expression over exactly one",
        ),
        ("printf", [s("%s and %s"), x()], "printf(): the format asks for 2 value(s), 1 given"),
        ("printf", [s("%*d%%"), n(5)], "printf(): the format asks for 2 value(s), 1 given"),
        ("round", [x(), n(1.5)], "round(): the number of decimal places must be a whole number"),
        ("round", [x(), s("1.5")], "round(): the number of decimal places must be a whole number"),
    ],
)
def test_errors_name_the_function_and_point_at_the_call(
    name: str, args: list[exp.Expression], message: str
) -> None:
    with pytest.raises(UnsupportedSplError) as info:
        lower_function(name, args, source=SOURCE, span=Span(9, 23))
    error = info.value
    assert error.message.startswith(message)
    assert (error.line, error.column, error.offset, error.end) == (1, 10, 9, 23)
    assert error.render().splitlines()[-1] == "           " + "^" * 14


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("match", [x(), s("(ngrok")], "match(): invalid regular expression '(ngrok': missing ),"),
        ("replace", [x(), s("[a-"), s("b")], "replace(): invalid regular expression '[a-': "),
        ("match", [x(), s("a**")], "match(): invalid regular expression 'a**': multiple repeat"),
    ],
)
def test_a_malformed_quoted_regex_is_a_located_syntax_error(
    name: str, args: list[exp.Expression], message: str
) -> None:
    """Splunk refuses these too: an error at the call (with the detection file), not DuckDB's at
    run time."""
    with pytest.raises(SplSyntaxError) as info:
        lower_function(name, args, source=SOURCE, span=Span(9, 23), origin="d.yml")
    error = info.value
    assert error.message.startswith(message)
    assert (error.line, error.column, error.origin) == (1, 10, "d.yml")
    assert error.render().startswith(f"{message}")


def test_what_compiles_still_compiles_and_runs() -> None:
    """The checks leave valid calls alone: a flavour-specific regex (left to the engine), printf
    with ``%%``/``*``/extra values, round to a whole (or negative, or computed) number of places."""
    assert lower_function("match", [x(), s("(?i)ngrok")]).sql(EscudoDuckDB)
    assert lower_function("printf", [s("%*d|%%"), n(5), n(3), n(4)]).sql(EscudoDuckDB)
    assert evaluate(call("printf", s("%*d|%%"), n(5), n(3)), None, None) == "    3|%"
    assert evaluate(call("round", n(1234.5678), exp.Neg(this=n(2))), None, None) == 1200
    assert evaluate(call("round", n(1234.5678), s("2.0")), None, None) == 1234.57
    # places from a field: computed, so DuckDB needs an INTEGER and a DOUBLE (failed before)
    assert evaluate(call("round", n(1234.5678), x()), "2", None) == 1234.57
    assert evaluate(call("round", x(), x()), "1", None) == 1


def test_function_names_are_case_insensitive() -> None:
    assert lower_function("LOWER", [x()]).sql(EscudoDuckDB) == "LOWER(x)"


def test_spark_goldens_parse_as_spark_sql() -> None:
    # No Spark here: at least the text must be valid Spark SQL for sqlglot's Spark parser.
    for name, sql in ((k, v["spark"]) for k, v in json.loads(GOLDEN.read_text()).items()):
        assert sqlglot.parse_one(f"SELECT {sql} FROM t", read="spark") is not None, name


def test_dialect_hooks_hold_when_sql_was_written_before_they_were_registered() -> None:
    # A fresh interpreter: the first query (no eval) makes sqlglot cache each dialect's writers
    # before a query with replace() and printf(); those must still become SQL that DuckDB and Spark
    # know, not a SPLUNK_REPLACE call (escudo's dialects carry their writers from their creation).
    import subprocess
    import sys

    script = (
        "from escudo.compile import compile_search\n"
        "first = compile_search('| tstats count from datamodel=Endpoint.Processes')\n"
        "first.sql('duckdb'); first.sql('spark')\n"
        "c = compile_search('| tstats count from datamodel=Endpoint.Processes "
        '| eval x=replace("ab", "(a)", "\\\\1-"), y=printf("%d", count)\')\n'
        "print(c.sql('duckdb')); print(c.sql('spark'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    duckdb_sql, spark_sql = out.splitlines()
    assert "REGEXP_REPLACE(" in duckdb_sql and "PRINTF(" in duckdb_sql
    assert "REGEXP_REPLACE(" in spark_sql and "FORMAT_STRING(" in spark_sql
    assert "SPLUNK" not in out.upper()
