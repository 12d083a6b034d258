"""Splunk time: ctime/strftime/strptime on DuckDB against Python references, modifiers, spans.

Regenerate the golden file after an intended change with ``ESCUDO_UPDATE_GOLDEN=1 pytest <this file>``
and review the diff.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from escudo.compile.dialects import DIALECTS, EscudoDuckDB
from escudo.compile.timefmt import (
    DEFAULT_CONVERT_TIMEFORMAT,
    bucket_expression,
    ctime_expression,
    parse_relative,
    parse_time_modifier,
    relative_time_expression,
    span_seconds,
    strftime_expression,
    strptime_expression,
)
from escudo.errors import InputError, SplSyntaxError, UnsupportedSplError

GOLDEN = Path(__file__).parent / "golden_functions" / "timefmt.json"
EPOCH = exp.column("epoch")
TIME = exp.column("_time")
TEXT = exp.column("text")

CON = duckdb.connect()
# _time text must not depend on the session time zone: run every DuckDB check in a non-UTC one.
CON.execute("SET TimeZone = 'America/New_York'")


def evaluate(expression: exp.Expression, *, epoch: Any = None, text: Any = None) -> Any:
    sql = expression.sql(dialect=EscudoDuckDB)
    query = (
        f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS epoch, CAST(? AS VARCHAR) AS text, "
        "TO_TIMESTAMP(CAST(? AS DOUBLE)) AS _time) AS t"
    )
    return CON.execute(query, [epoch, text, epoch]).fetchone()[0]  # type: ignore[index]


GOLDEN_CASES: dict[str, exp.Expression] = {
    "ctime_security_content": ctime_expression(EPOCH, "%Y-%m-%dT%H:%M:%S"),
    "ctime_default": ctime_expression(EPOCH, DEFAULT_CONVERT_TIMEFORMAT),
    "ctime_time_column": ctime_expression(TIME, "%Y-%m-%d %H:%M:%S"),
    "ctime_number": ctime_expression(exp.cast(EPOCH, "double"), "%F %T"),
    "strftime_specials": strftime_expression(EPOCH, "%j %e %k %s %Z %z %% %3N %Q"),
    "strftime_letters": strftime_expression(EPOCH, "%b %B %a %A %p %I %y"),
    "strptime": strptime_expression(TEXT, "%Y-%m-%dT%H:%M:%S.%3N%z"),
    "strptime_quote": strptime_expression(TEXT, "%d %b %Y at %H'%M"),
    "relative_day": relative_time_expression(EPOCH, "-1d@d"),
    "relative_week": relative_time_expression(EPOCH, "-1w@w1"),
    "relative_month": relative_time_expression(EPOCH, "-1mon@q"),
    "bucket_1h": bucket_expression(TIME, "1h"),
    "bucket_epoch": bucket_expression(EPOCH, "30m"),
}


def test_golden_sql_for_duckdb_and_spark() -> None:
    actual = {
        k: {d: e.sql(dialect=cls) for d, cls in DIALECTS.items()} for k, e in GOLDEN_CASES.items()
    }
    if os.environ.get("ESCUDO_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert actual == json.loads(GOLDEN.read_text())


# --- ctime / strftime ----------------------------------------------------------------------------


def test_security_content_ctime() -> None:
    assert evaluate(ctime_expression(EPOCH, "%Y-%m-%dT%H:%M:%S"), epoch="1700000000") == (
        "2023-11-14T22:13:20"
    )


def test_convert_default_timeformat() -> None:
    rendered = ctime_expression(EPOCH, DEFAULT_CONVERT_TIMEFORMAT)
    assert evaluate(rendered, epoch="1700000000") == "11/14/2023 22:13:20"


def test_ctime_of_time_column_is_utc_whatever_the_session_zone() -> None:
    assert evaluate(ctime_expression(TIME, "%Y-%m-%dT%H:%M:%S %Z"), epoch="1700000000") == (
        "2023-11-14T22:13:20 UTC"
    )


def test_ctime_leaves_text_that_is_not_a_number_and_missing_stays_missing() -> None:
    rendered = ctime_expression(EPOCH, "%Y")
    assert evaluate(rendered, epoch="not a time") == "not a time"
    assert evaluate(rendered, epoch=None) is None
    assert evaluate(strftime_expression(EPOCH, "literal"), epoch=None) is None


def test_subseconds() -> None:
    fmt = "%S.%3N|%6N|%9N|%Q|%f"
    assert evaluate(strftime_expression(EPOCH, fmt), epoch="1700000000.123456") == (
        "20.123|123456|123456000|123|123456"
    )


# Every supported specifier against Python's time.strftime (the reference for the C library Splunk
# follows), on random instants; %e/%k/%s/%Z/%z/%N/%Q have their own checks.
PYTHON_SPECS = "%Y %m %d %H %M %S %b %B %a %A %j %y %p %I %T %F %D %R %h %%"


@settings(max_examples=60, deadline=None)
@given(seconds=st.integers(min_value=0, max_value=4_102_444_800))
def test_strftime_matches_python_reference(seconds: int) -> None:
    expected = time.strftime(PYTHON_SPECS, time.gmtime(seconds))
    extra = time.gmtime(seconds)
    expected += f" {extra.tm_mday:2d} {extra.tm_hour:2d} {seconds} UTC +0000"
    rendered = strftime_expression(EPOCH, PYTHON_SPECS + " %e %k %s %Z %z")
    assert evaluate(rendered, epoch=str(seconds)) == expected


@pytest.mark.parametrize("spec", ["%c", "%x", "%U", "%Ez", "%+", "%"])
def test_unsupported_specifier_is_located(spec: str) -> None:
    source = f'| convert timeformat="{spec}" ctime(x)'
    with pytest.raises(UnsupportedSplError) as info:
        ctime_expression(EPOCH, spec, source=source, offset=10)
    assert repr(spec[:2]) in info.value.message
    assert (info.value.line, info.value.column) == (1, 11)


# --- strptime ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2023-11-14T22:13:20", "%Y-%m-%dT%H:%M:%S", 1700000000.0),
        ("14/11/2023", "%d/%m/%Y", 1699920000.0),
        ("Nov 14 2023 10:13:20 PM", "%b %d %Y %I:%M:%S %p", 1700000000.0),
        ("2023-11-14 22:13:20.250", "%Y-%m-%d %H:%M:%S.%3N", 1700000000.25),
        ("2023-11-14T23:13:20+0100", "%Y-%m-%dT%H:%M:%S%z", 1700000000.0),
        ("garbage", "%Y-%m-%d", None),
    ],
)
def test_strptime(text: str, fmt: str, expected: float | None) -> None:
    assert evaluate(strptime_expression(TEXT, fmt), text=text) == expected


def test_strptime_unsupported_specifier() -> None:
    with pytest.raises(UnsupportedSplError, match="'%s'"):
        strptime_expression(TEXT, "%s")


# --- time modifiers ------------------------------------------------------------------------------

NOW = datetime(2024, 5, 15, 13, 45, 30, 250000, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("modifier", "expected"),
    [
        ("now", "2024-05-15T13:45:30.250000"),
        ("0", "1970-01-01T00:00:00"),
        ("1700000000", "2023-11-14T22:13:20"),
        ("-24h", "2024-05-14T13:45:30.250000"),
        ("-7d@d", "2024-05-08T00:00:00"),
        ("-1d@d", "2024-05-14T00:00:00"),
        ("@h", "2024-05-15T13:00:00"),
        ("+1h", "2024-05-15T14:45:30.250000"),
        ("-30m@m", "2024-05-15T13:15:00"),
        ("-15s@s", "2024-05-15T13:45:15"),
        ("@w0", "2024-05-12T00:00:00"),
        ("@w", "2024-05-12T00:00:00"),
        ("-1w@w0", "2024-05-05T00:00:00"),
        ("@w3", "2024-05-15T00:00:00"),
        ("@w4", "2024-05-09T00:00:00"),
        ("@w7", "2024-05-12T00:00:00"),
        ("-1mon", "2024-04-15T13:45:30.250000"),
        ("@mon", "2024-05-01T00:00:00"),
        ("-1y@y", "2023-01-01T00:00:00"),
        ("@q", "2024-04-01T00:00:00"),
        ("-2q@q", "2023-10-01T00:00:00"),
        ("-1d@d+3h", "2024-05-14T03:00:00"),
        ("-60minutes", "2024-05-15T12:45:30.250000"),
        ("-h", "2024-05-15T12:45:30.250000"),
        ("05/01/2024:10:00:00", "2024-05-01T10:00:00"),
    ],
)
def test_parse_time_modifier(modifier: str, expected: str) -> None:
    moment = parse_time_modifier(modifier, NOW)
    assert moment.tzinfo is not None
    assert moment.replace(tzinfo=None).isoformat() == expected


def test_month_offset_clamps_to_the_last_day() -> None:
    end_of_march = datetime(2024, 3, 31, 12, tzinfo=UTC)
    assert parse_time_modifier("-1mon", end_of_march) == datetime(2024, 2, 29, 12, tzinfo=UTC)


def test_naive_now_is_utc() -> None:
    assert parse_time_modifier("@d", datetime(2024, 5, 15, 13)) == datetime(2024, 5, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad", ["yesterday", "-1x", "@d@", "1d", "-1d@w9", "13/45/2024:00:00:00", "--1d"]
)
def test_bad_time_modifier_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError, match="invalid time modifier"):
        parse_time_modifier(bad, NOW)


@pytest.mark.parametrize("far", ["-99999999999999999999999s", "99999999999999", "+99999y"])
def test_time_modifier_beyond_year_9999_is_an_input_error(far: str) -> None:
    with pytest.raises(InputError, match="out of range"):
        parse_time_modifier(far, NOW)


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("earliest=-99999999999999999999999s", "out of range"),
        ('latest="13/45/2024:00:00:00"', "invalid time modifier"),
        ("starthoursago=1e20", "cannot read time '1e20'"),
    ],
)
def test_bad_time_term_in_search_is_located(term: str, message: str) -> None:
    from escudo.compile import compile_search

    spl = f"| from datamodel Endpoint.Processes | search {term}"
    with pytest.raises(UnsupportedSplError, match=message) as info:
        compile_search(spl, now=NOW)
    assert info.value.offset == spl.index(term)


def test_relative_time_modifier_error_is_located() -> None:
    with pytest.raises(SplSyntaxError) as info:
        parse_relative("-1fortnight", source="x", offset=0)
    assert "invalid time modifier" in info.value.message


MODIFIERS = [
    "-1d@d",
    "@h",
    "-30m@m",
    "-1w@w0",
    "@w1",
    "+1h",
    "-1mon",
    "@mon",
    "-1y@y",
    "@q",
    "-1d@d+3h",
]


@settings(max_examples=25, deadline=None)
@given(seconds=st.integers(min_value=86_400 * 8, max_value=4_000_000_000))
def test_relative_time_sql_matches_python(seconds: int) -> None:
    now = datetime.fromtimestamp(seconds, UTC)
    for modifier in MODIFIERS:
        expected = parse_time_modifier(modifier, now).timestamp()
        assert (
            evaluate(relative_time_expression(EPOCH, modifier), epoch=str(seconds)) == expected
        ), modifier


# --- spans and buckets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "seconds"),
    [
        ("10s", 10),
        ("30m", 1800),
        ("1h", 3600),
        ("1d", 86400),
        ("1w", 604800),
        ("10", 10),
        ("2hr", 7200),
    ],
)
def test_span_seconds(span: str, seconds: int) -> None:
    assert span_seconds(span) == seconds


@pytest.mark.parametrize(
    ("span", "error", "message"),
    [
        ("1mon", UnsupportedSplError, "calendar units"),
        ("abc", SplSyntaxError, "invalid span"),
        ("5parsecs", SplSyntaxError, "invalid span unit"),
        ("0s", SplSyntaxError, "positive"),
    ],
)
def test_span_errors_are_located(span: str, error: type[Exception], message: str) -> None:
    source = f"| tstats count by _time span={span}"
    with pytest.raises(error, match=message) as info:
        span_seconds(span, source=source, offset=source.index("span"))
    assert info.value.column == source.index("span") + 1  # type: ignore[attr-defined]


def test_bucket_floors_time_to_the_span() -> None:
    bucket = bucket_expression(TIME, "1h")
    value = evaluate(bucket, epoch="1700000000")
    assert value.timestamp() == 1699999200  # 22:00:00 UTC
    assert evaluate(bucket_expression(EPOCH, "30m"), epoch="1700000000") == 1699999200


def test_spark_goldens_parse_as_spark_sql() -> None:
    # No Spark here: at least the text must be valid Spark SQL for sqlglot's Spark parser.
    for name, sql in ((k, v["spark"]) for k, v in json.loads(GOLDEN.read_text()).items()):
        assert sqlglot.parse_one(f"SELECT {sql} FROM t", read="spark") is not None, name
