"""Splunk time: strftime/strptime formats, ``convert ctime``, time modifiers and ``span=`` buckets.

Time in escudo is UTC everywhere: ``_time`` is ``TIMESTAMP WITH TIME ZONE`` and every text rendering of
a time (``convert ctime``, ``strftime``) is UTC wall-clock time. DuckDB output does not depend on the
session time zone (timestamps are moved to UTC first); Spark renders in ``spark.sql.session.timeZone``,
which the Spark engine must set to ``UTC``.

Splunk sources: Search Reference, "Date and time format variables"; "convert" (``ctime``, default
``timeformat="%m/%d/%Y %H:%M:%S"``); Search Manual, "Specify time modifiers in your search"; Search
Reference, "bin"/"tstats" (``span``).

Example::

    >>> from sqlglot import exp
    >>> ctime_expression(exp.column("_time"), "%Y-%m-%dT%H:%M").sql("spark")
    "DATE_FORMAT(FROM_UTC_TIMESTAMP(_time, 'UTC'), 'yyyy-MM-dd') || 'T' || DATE_FORMAT(FROM_UTC_TIMESTAMP(_time, 'UTC'), 'HH:mm')"
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from sqlglot import exp
from sqlglot.generator import Generator

from escudo.compile.semantics import SqlWriters, is_numeric, parenthesize, to_number
from escudo.errors import InputError, SplSyntaxError, UnsupportedSplError

__all__ = [
    "DEFAULT_CONVERT_TIMEFORMAT",
    "bucket_expression",
    "ctime_expression",
    "parse_time_modifier",
    "relative_time_expression",
    "span_seconds",
    "strftime_expression",
    "strptime_expression",
    "to_epoch",
    "to_timestamp",
]

# Search Reference, "convert": timeformat defaults to "%m/%d/%Y %H:%M:%S".
DEFAULT_CONVERT_TIMEFORMAT = "%m/%d/%Y %H:%M:%S"

_TOKEN = re.compile(r"%(?:[0-9]?[NQ]|[A-Za-z%])|%.?|[^%]+")
# Shorthands expanded before rendering (Date and time format variables: %T, %F, %D, %R, %h).
_SHORTHAND = {"%T": "%H:%M:%S", "%F": "%Y-%m-%d", "%D": "%m/%d/%y", "%R": "%H:%M", "%h": "%b"}
# Specifiers sqlglot maps between strftime (DuckDB) and Java patterns (Spark) one to one.
_STANDARD = frozenset({"Y", "m", "d", "H", "M", "S", "b", "B", "a", "A", "y", "p", "I"})
# Literal characters that are literal in both strftime and Java DateTimeFormatter patterns.
_SAFE_LITERAL = frozenset("-:/ ,.")
_LITERAL_RUN = re.compile(r"[-:/ ,.]+|[^-:/ ,.]+")
_TIMESTAMP_NODES = (exp.UnixToTime, exp.StrToTime, exp.CurrentTimestamp, exp.TimestampTrunc)
_TIME_COLUMN = "_time"


def _is_timestamp(expression: exp.Expression) -> bool:
    """True for ``_time`` and timestamp-valued expressions (or any node whose ``.type`` says so)."""
    if isinstance(expression, exp.Column) and expression.name == _TIME_COLUMN:
        return True
    if expression.type is not None and expression.type.is_type(*exp.DataType.TEMPORAL_TYPES):
        return True
    return isinstance(expression, _TIMESTAMP_NODES)


def to_epoch(expression: exp.Expression) -> exp.Expression:
    """Epoch seconds (DOUBLE) of a timestamp, or of a number/text holding epoch seconds.

    >>> to_epoch(exp.column("_time")).sql("duckdb")
    'EPOCH(_time)'
    """
    if _is_timestamp(expression):
        return exp.TimeToUnix(this=expression)
    return to_number(expression)


def to_timestamp(expression: exp.Expression) -> exp.Expression:
    """A UTC timestamp without zone for a timestamp or epoch seconds (microsecond precision).

    >>> to_timestamp(exp.column("_time")).sql("duckdb")
    "_time AT TIME ZONE 'UTC'"
    """
    if isinstance(expression, exp.TimeToUnix) and _is_timestamp(expression.this):
        expression = expression.this  # the epoch of a timestamp: format the timestamp itself
    if _is_timestamp(expression):
        return exp.AtTimeZone(this=expression, zone=exp.Literal.string("UTC"))
    # 1e6 is a DOUBLE literal in both engines: integer epochs do not overflow INT32 arithmetic.
    micros = exp.Mul(this=to_number(expression), expression=exp.Literal.number("1e6"))
    return exp.UnixToTime(this=exp.cast(micros, "bigint"), scale=exp.UnixToTime.MICROS)


def _text(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, "varchar")


def _lpad(expression: exp.Expression, width: int, fill: str) -> exp.Expression:
    return exp.Pad(
        this=_text(expression),
        expression=exp.Literal.number(width),
        fill_pattern=exp.Literal.string(fill),
        is_left=True,
    )


def _subseconds(epoch: exp.Expression, digits: int) -> exp.Expression:
    # Microseconds from the fraction, rounded first so 0.123 (0.12299999...) stays 123 ms.
    micros: exp.Expression = exp.Round(
        this=exp.Mul(
            this=exp.Sub(this=epoch, expression=exp.Floor(this=epoch.copy())),
            expression=exp.Literal.number(1000000),
        )
    )
    micros = exp.Least(this=micros, expressions=[exp.Literal.number(999999)], ignore_nulls=True)
    shown = min(digits, 6)
    value = exp.Floor(this=exp.Div(this=micros, expression=exp.Literal.number(10 ** (6 - shown))))
    piece: exp.Expression = _lpad(exp.cast(value, "bigint"), shown, "0")
    if digits > 6:  # %9N: the engines keep microseconds; the nanosecond digits are zeros
        piece = exp.DPipe(this=piece, expression=exp.Literal.string("0" * (digits - 6)))
    return piece


def _special(spec: str, column: exp.Expression) -> exp.Expression | None:
    """SQL for specifiers rendered by computation rather than by a format string."""
    if len(spec) < 2:
        return None
    kind = spec[-1]
    width = int(spec[1:-1]) if len(spec) > 2 else None
    if kind == "N":  # %N defaults to %9N
        return _subseconds(to_epoch(column), width or 9)
    if kind == "Q":  # %Q defaults to %3Q (milliseconds)
        return _subseconds(to_epoch(column), width or 3)
    if width is not None:
        return None
    builders: dict[str, Callable[[], exp.Expression]] = {
        "f": lambda: _subseconds(to_epoch(column), 6),
        "s": lambda: _text(exp.cast(exp.Floor(this=to_epoch(column)), "bigint")),
        "j": lambda: _lpad(exp.DayOfYear(this=to_timestamp(column)), 3, "0"),
        "e": lambda: _lpad(exp.Day(this=to_timestamp(column)), 2, " "),
        "k": lambda: _lpad(exp.Hour(this=to_timestamp(column)), 2, " "),
        "Z": lambda: exp.Literal.string("UTC"),  # every rendering is UTC (module docstring)
        "z": lambda: exp.Literal.string("+0000"),
        "%": lambda: exp.Literal.string("%"),
    }
    builder = builders.get(kind)
    return builder() if builder else None


def _tokens(fmt: str) -> list[str]:
    for short, full in _SHORTHAND.items():
        fmt = fmt.replace(short, full)
    return _TOKEN.findall(fmt)


def strftime_expression(
    column: exp.Expression, fmt: str, *, source: str = "", offset: int = 0
) -> exp.Expression:
    """eval ``strftime(X, Y)``: epoch seconds (or a timestamp) as UTC text in Splunk format ``fmt``.

    Raises UnsupportedSplError (at ``source``/``offset``) for a specifier escudo does not render.

    >>> strftime_expression(exp.column("_time"), "%Y").sql("spark")
    "DATE_FORMAT(FROM_UTC_TIMESTAMP(_time, 'UTC'), 'yyyy')"
    """
    pieces: list[exp.Expression] = []
    group: list[str] = []  # strftime text rendered by one TimeToStr call
    timed = False

    def flush() -> None:
        text = "".join(group)
        group.clear()
        if "%" in text:
            pieces.append(exp.TimeToStr(this=to_timestamp(column), format=exp.Literal.string(text)))
        elif text:
            pieces.append(exp.Literal.string(text))

    for token in _tokens(fmt):
        if len(token) == 2 and token[0] == "%" and token[1] in _STANDARD:
            group.append(token)
            timed = True
        elif not token.startswith("%"):
            # Letters and quotes mean something in Java patterns: render them as separate literals.
            for run in _LITERAL_RUN.findall(token):
                if run[0] in _SAFE_LITERAL:
                    group.append(run)
                else:
                    flush()
                    pieces.append(exp.Literal.string(run))
        else:
            special = _special(token, column)
            if special is None:
                raise UnsupportedSplError(
                    f"time format specifier {token!r} is not supported",
                    source=source,
                    offset=offset,
                )
            flush()
            timed = timed or not isinstance(special, exp.Literal)
            pieces.append(special)
    flush()
    if not pieces:
        return exp.Literal.string("")
    result = pieces[0]
    for piece in pieces[1:]:
        result = exp.DPipe(this=result, expression=piece)
    if not timed:  # a format without specifiers is still NULL for a missing time
        result = exp.If(
            this=exp.Is(this=column, expression=exp.Null()), true=exp.Null(), false=result
        )
    return parenthesize(result)


def ctime_expression(
    column: exp.Expression, splunk_format: str, *, source: str = "", offset: int = 0
) -> exp.Expression:
    """``convert timeformat=... ctime(field)``: epoch seconds (or a timestamp) to UTC text.

    A text value that is not a number is left unchanged, as ``convert`` leaves values it cannot convert.

    >>> ctime_expression(exp.column("_time"), "%H:%M").sql("duckdb")
    "STRFTIME(_time AT TIME ZONE 'UTC', '%H:%M')"
    """
    rendered = strftime_expression(column, splunk_format, source=source, offset=offset)
    if _is_timestamp(column) or is_numeric(column):
        return rendered
    return exp.Coalesce(this=rendered, expressions=[column])


# --- time modifiers -------------------------------------------------------------------------------
# Search Manual, "Specify time modifiers in your search": [+|-]<int><unit> offsets and @<unit> snaps,
# applied left to right; w0..w6 snap to a weekday (0 = Sunday, 7 = Sunday too); an integer alone is
# epoch seconds; absolute times use %m/%d/%Y:%H:%M:%S.

_UNIT_NAMES: dict[str, str] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "week", "weeks"), "w"),
    **dict.fromkeys(("mon", "month", "months"), "mon"),
    **dict.fromkeys(("q", "qtr", "qtrs", "quarter", "quarters"), "q"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "y"),
}
UNIT_SECONDS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CALENDAR_MONTHS: dict[str, int] = {"mon": 1, "q": 3, "y": 12}
_STEP = re.compile(r"([+-])(\d*)([A-Za-z]+)|@([A-Za-z]+?)([0-7]?)(?=[+-@]|\Z)")
_ABSOLUTE_FORMAT = "%m/%d/%Y:%H:%M:%S"


@dataclass(frozen=True)
class Offset:
    """Move by ``amount`` units (``unit`` canonical: s m h d w mon q y)."""

    amount: int
    unit: str


@dataclass(frozen=True)
class Snap:
    """Round down to the start of ``unit``; for ``w``, to the last ``weekday`` (0 = Sunday)."""

    unit: str
    weekday: int = 0


def canonical_unit(text: str) -> str | None:
    """The canonical unit for a Splunk time unit spelling, or None.

    >>> canonical_unit("mins"), canonical_unit("mon"), canonical_unit("fortnight")
    ('m', 'mon', None)
    """
    return _UNIT_NAMES.get(text.lower())


def parse_relative(text: str, *, source: str = "", offset: int = 0) -> list[Offset | Snap]:
    """The steps of a relative modifier (``-7d@d``); ``now`` and ``""`` have none.

    >>> parse_relative("-1w@w1")
    [Offset(amount=-1, unit='w'), Snap(unit='w', weekday=1)]
    """
    body = text.strip()
    if body.lower() in ("now", ""):
        return []
    steps: list[Offset | Snap] = []
    position = 0
    for match in _STEP.finditer(body):
        if match.start() != position:
            break
        position = match.end()
        sign, amount, unit_text, snap_text, weekday = match.groups()
        unit = canonical_unit(unit_text or snap_text)
        if unit is None or (weekday and unit != "w"):
            break
        if sign:
            steps.append(Offset(int(amount or "1") * (-1 if sign == "-" else 1), unit))
        else:
            steps.append(Snap(unit, int(weekday or "0") % 7))
    if position != len(body) or not steps:
        raise SplSyntaxError(f"invalid time modifier {text!r}", source=source, offset=offset)
    return steps


def _add_months(moment: datetime, months: int) -> datetime:
    # Month arithmetic keeps the day, clamped to the target month's length (Jan 31 - 1mon... Feb 28).
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _snap(moment: datetime, step: Snap) -> datetime:
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if step.unit == "w":
        splunk_weekday = (moment.weekday() + 1) % 7  # Python: Monday = 0; Splunk: Sunday = 0
        return midnight - timedelta(days=(splunk_weekday - step.weekday) % 7)
    if step.unit in ("mon", "q", "y"):
        first_month = {"mon": moment.month, "q": (moment.month - 1) // 3 * 3 + 1, "y": 1}
        return midnight.replace(month=first_month[step.unit], day=1)
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % UNIT_SECONDS[step.unit], UTC)


def parse_time_modifier(text: str, now: datetime) -> datetime:
    """The UTC instant a Splunk time modifier names, relative to ``now`` (naive ``now`` is UTC).

    Raises InputError for text that is not a time modifier.

    >>> parse_time_modifier("-1d@d", datetime(2024, 5, 3, 15, 30, tzinfo=UTC)).isoformat()
    '2024-05-02T00:00:00+00:00'
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    body = text.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", body):
            return datetime.fromtimestamp(float(body), UTC)
        try:
            return datetime.strptime(body, _ABSOLUTE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            pass
        try:
            steps = parse_relative(body)
        except SplSyntaxError:
            raise InputError(
                f"invalid time modifier {text!r} (expected e.g. now, -24h, -7d@d, @w0, "
                f"an epoch or {_ABSOLUTE_FORMAT})"
            ) from None
        moment = now
        for step in steps:
            if isinstance(step, Snap):
                moment = _snap(moment, step)
            elif step.unit in UNIT_SECONDS:
                moment = moment + timedelta(seconds=step.amount * UNIT_SECONDS[step.unit])
            else:
                moment = _add_months(moment, step.amount * _CALENDAR_MONTHS[step.unit])
        return moment
    except (OverflowError, ValueError):  # a well-formed modifier beyond the years 1..9999
        raise InputError(f"time modifier {text!r} is out of range (years 1 to 9999)") from None


# --- strptime -------------------------------------------------------------------------------------

# Splunk specifier -> (DuckDB strptime specifier, Java DateTimeFormatter pattern for Spark).
_PARSE: dict[str, tuple[str, str]] = {
    "%Y": ("%Y", "yyyy"),
    "%m": ("%m", "MM"),
    "%d": ("%d", "dd"),
    "%e": ("%-d", "d"),
    "%H": ("%H", "HH"),
    "%k": ("%-H", "H"),
    "%M": ("%M", "mm"),
    "%S": ("%S", "ss"),
    "%b": ("%b", "MMM"),
    "%B": ("%B", "MMMM"),
    "%a": ("%a", "EEE"),
    "%A": ("%A", "EEEE"),
    "%j": ("%j", "DDD"),
    "%y": ("%y", "yy"),
    "%p": ("%p", "a"),
    "%I": ("%I", "hh"),
    "%z": ("%z", "Z"),
    "%Z": ("%Z", "z"),
    "%3N": ("%g", "SSS"),
    "%6N": ("%f", "SSSSSS"),
    "%3Q": ("%g", "SSS"),
    "%Q": ("%g", "SSS"),
    "%6Q": ("%f", "SSSSSS"),
    "%f": ("%f", "SSSSSS"),
    "%%": ("%%", "%"),
}


def _java_literal(text: str) -> str:
    # Java patterns reserve ASCII letters and quotes: quote any run that holds one.
    if all(char in _SAFE_LITERAL for char in text):
        return text
    return "'" + text.replace("'", "''") + "'"


def _parse_formats(fmt: str, source: str, offset: int) -> tuple[str, str]:
    duck: list[str] = []
    java: list[str] = []
    for token in _tokens(fmt):
        if token.startswith("%") and len(token) > 1:
            mapped = _PARSE.get(token)
            if mapped is None:
                raise UnsupportedSplError(
                    f"strptime format specifier {token!r} is not supported",
                    source=source,
                    offset=offset,
                )
            duck.append(mapped[0])
            java.append(mapped[1])
        else:
            duck.append(token.replace("%", "%%"))
            java.append(_java_literal(token))
    return "".join(duck), "".join(java)


class SplunkStrptime(exp.Expression, exp.Func):
    """Text parsed with a Splunk format into epoch seconds; NULL when it does not parse."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,
        "duckdb_format": True,
        "spark_format": True,
    }


def _strptime_duckdb(gen: Generator, node: exp.Expression) -> str:
    parsed = exp.Anonymous(this="TRY_STRPTIME", expressions=[node.this, node.args["duckdb_format"]])
    return exp.TimeToUnix(this=parsed).sql(gen.dialect)


def _strptime_spark(gen: Generator, node: exp.Expression) -> str:
    call = exp.Anonymous(this="UNIX_TIMESTAMP", expressions=[node.this, node.args["spark_format"]])
    return call.sql(gen.dialect)


# How each engine writes SplunkStrptime; added to escudo's dialects (escudo.compile.dialects).
SQL_WRITERS: SqlWriters = {
    "duckdb": {SplunkStrptime: _strptime_duckdb},
    "spark": {SplunkStrptime: _strptime_spark},
}


def strptime_expression(
    column: exp.Expression, fmt: str, *, source: str = "", offset: int = 0
) -> exp.Expression:
    """eval ``strptime(X, Y)``: text in Splunk format ``fmt`` (UTC unless it holds ``%z``) to epoch seconds.

    >>> from escudo.compile.dialects import EscudoDuckDB  # writes SplunkStrptime
    >>> strptime_expression(exp.column("t"), "%d/%m/%Y").sql(EscudoDuckDB)
    "EPOCH(TRY_STRPTIME(t, '%d/%m/%Y'))"
    """
    duck, java = _parse_formats(fmt, source, offset)
    return SplunkStrptime(
        this=column,
        duckdb_format=exp.Literal.string(duck),
        spark_format=exp.Literal.string(java),
    )


# --- spans, buckets and relative time -------------------------------------------------------------

_SPAN = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*\Z")


def span_seconds(text: str, *, source: str = "", offset: int = 0) -> int:
    """Seconds in a ``span=`` value: ``10s``, ``30m``, ``1h``, ``1d``, ``1w`` (no unit: seconds).

    >>> span_seconds("30m"), span_seconds("1h"), span_seconds("10")
    (1800, 3600, 10)
    """
    match = _SPAN.match(text)
    if match is None:
        raise SplSyntaxError(f"invalid span {text!r}", source=source, offset=offset)
    amount, unit_text = int(match.group(1)), match.group(2) or "s"
    unit = canonical_unit(unit_text)
    if unit is None:
        raise SplSyntaxError(f"invalid span unit {unit_text!r}", source=source, offset=offset)
    if unit not in UNIT_SECONDS:
        raise UnsupportedSplError(
            f"span in {unit} (calendar units) is not supported", source=source, offset=offset
        )
    if amount <= 0:
        raise SplSyntaxError(f"span must be positive: {text!r}", source=source, offset=offset)
    return amount * UNIT_SECONDS[unit]


def bucket_expression(
    time_col: exp.Expression, span: str, *, source: str = "", offset: int = 0
) -> exp.Expression:
    """``_time`` floored to ``span`` buckets aligned on the epoch (UTC), with ``time_col``'s type.

    >>> bucket_expression(exp.column("_time"), "1h").sql("duckdb")
    'TO_TIMESTAMP(FLOOR(EPOCH(_time) / 3600) * 3600)'
    """
    seconds = exp.Literal.number(span_seconds(span, source=source, offset=offset))
    floored = exp.Mul(
        this=exp.Floor(this=exp.Div(this=to_epoch(time_col), expression=seconds)),
        expression=seconds.copy(),
    )
    if _is_timestamp(time_col):
        return parenthesize(exp.UnixToTime(this=floored))
    return parenthesize(floored)


_CALENDAR_TRUNC = {"mon": "MONTH", "q": "QUARTER", "y": "YEAR"}


def _apply_step(epoch: exp.Expression, step: Offset | Snap) -> exp.Expression:
    if isinstance(step, Offset):
        if step.unit in UNIT_SECONDS:
            delta = exp.Literal.number(step.amount * UNIT_SECONDS[step.unit])
            return exp.Add(this=epoch, expression=delta)
        months = exp.Literal.number(step.amount * _CALENDAR_MONTHS[step.unit])
        moved = exp.Add(
            this=to_timestamp(epoch), expression=exp.Interval(this=months, unit=exp.var("MONTH"))
        )
        return exp.TimeToUnix(this=moved)
    if step.unit == "w":
        # Day number since 1970-01-01 (a Thursday, weekday 4 with Sunday = 0), back to weekday N.
        days = exp.Floor(this=exp.Div(this=epoch, expression=exp.Literal.number(86400)))
        weekday = exp.Mod(
            this=exp.Paren(
                this=exp.Add(this=days, expression=exp.Literal.number(4 - step.weekday + 7 * 1000))
            ),
            expression=exp.Literal.number(7),
        )
        start = exp.Sub(this=days.copy(), expression=weekday)
        return exp.Mul(this=exp.Paren(this=start), expression=exp.Literal.number(86400))
    if step.unit in UNIT_SECONDS:
        size = exp.Literal.number(UNIT_SECONDS[step.unit])
        return exp.Mul(
            this=exp.Floor(this=exp.Div(this=epoch, expression=size)), expression=size.copy()
        )
    truncated = exp.TimestampTrunc(
        this=to_timestamp(epoch), unit=exp.var(_CALENDAR_TRUNC[step.unit])
    )
    return exp.TimeToUnix(this=truncated)


def relative_time_expression(
    column: exp.Expression, modifier: str, *, source: str = "", offset: int = 0
) -> exp.Expression:
    """eval ``relative_time(X, "modifier")``: epoch seconds moved/snapped by a relative modifier.

    >>> relative_time_expression(exp.column("t"), "-1d@d").sql("duckdb")
    'FLOOR((TRY_CAST(t AS DOUBLE) + -86400) / 86400) * 86400'
    """
    steps = parse_relative(modifier, source=source, offset=offset)
    result = to_epoch(column)
    for step in steps:
        result = _apply_step(result, step)
    return parenthesize(result)
