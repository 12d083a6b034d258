"""SPL eval functions as a table of sqlglot builders (``FUNCTIONS``) and :func:`lower_function`.

Each entry names the function, its arity and a builder from argument expressions to one sqlglot
expression that is valid for DuckDB and Spark. Source for every behaviour: Splunk Search Reference,
"Evaluation functions" (Comparison and Conditional, Conversion, Cryptographic, Date and Time,
Informational, Mathematical, Multivalue, Text). Decisions are listed in docs/semantics.md.

Multivalue fields are SQL lists. A column is known to be a list when the compiler sets its ``.type``
to an ARRAY type (``exp.DataType.build("array<varchar>")``); list-producing functions (split,
mvappend, ...) are recognised by node class. Anything else is a single value.

Example::

    >>> from sqlglot import exp
    >>> values = exp.column("ips")
    >>> values.type = exp.DataType.build("array<varchar>")
    >>> lower_function("mvindex", [values, exp.Literal.number(1)]).sql("duckdb")
    'CASE WHEN 1 >= 0 AND 1 < ARRAY_LENGTH(ips) THEN ips[2] END'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, cast

from sqlglot import exp
from sqlglot.generator import Generator

from escudo.compile import timefmt
from escudo.compile.semantics import (
    MultivalueArgumentError,
    SqlWriter,
    SqlWriters,
    is_numeric,
    is_string_literal,
    like,
    parenthesize,
    regex_syntax_error,
    to_number,
    to_text,
    try_cast,
)
from escudo.errors import Span, SplError, SplSyntaxError, UnsupportedSplError

__all__ = ["FUNCTIONS", "FunctionSpec", "as_multivalue", "is_multivalue", "lower_function"]

Builder = Callable[[list[exp.Expression]], exp.Expression]


@dataclass(frozen=True)
class FunctionSpec:
    """One eval function: its name, how many arguments it takes (None: any) and its builder."""

    name: str
    min_args: int
    max_args: int | None
    builder: Builder


class _ArgumentError(Exception):
    """A builder's complaint about one argument; :func:`lower_function` adds the SPL location."""


class _InvalidArgument(_ArgumentError):
    """An argument Splunk would refuse too (a malformed regex): a syntax error, not unsupported."""


def _regex_literal(args: list[exp.Expression], index: int) -> exp.Expression:
    """``args[index]``, checked when it is a quoted pattern: malformed in every flavour is an
    error now, with its position, rather than the engine's at run time."""
    arg = args[index]
    if is_string_literal(arg):
        problem = regex_syntax_error(arg.name)
        if problem is not None:
            raise _InvalidArgument(f"invalid regular expression {arg.name!r}: {problem}")
    return arg


# --- helpers ---------------------------------------------------------------------------------------

_LIST_NODES = (
    exp.Array,
    exp.Split,
    exp.ArrayConcat,
    exp.ArrayFilter,
    exp.ArrayDistinct,
    exp.ArraySlice,
    exp.ArraySort,
)
_NULL_TEST = exp.Is


def _and(*conditions: exp.Expression) -> exp.Expression:
    return cast(exp.Expression, exp.and_(*conditions))


def _null(expression: exp.Expression) -> exp.Expression:
    return _NULL_TEST(this=expression.copy(), expression=exp.Null())


def _not_null(expression: exp.Expression) -> exp.Expression:
    return exp.Not(this=_null(expression))


def _when_present(subject: exp.Expression, value: exp.Expression) -> exp.Expression:
    """``value``, or NULL when ``subject`` is missing (keeps Spark's SIZE(NULL) = -1 out)."""
    return exp.Case(ifs=[exp.If(this=_null(subject), true=exp.Null())], default=value)


def is_multivalue(expression: exp.Expression) -> bool:
    """True when ``expression`` is a SQL list (by node class or by ``.type``)."""
    if isinstance(expression, (*_LIST_NODES, SplunkMvDedup)):
        return True
    return expression.type is not None and expression.type.is_type(exp.DataType.Type.ARRAY)


def as_multivalue(expression: exp.Expression) -> exp.Expression:
    """A list for any value: lists unchanged, a single value as a one-element list, NULL stays NULL.

    >>> as_multivalue(exp.column("a")).sql("spark")
    'CASE WHEN a IS NULL THEN NULL ELSE ARRAY(a) END'
    """
    if is_multivalue(expression):
        return expression
    listed = exp.Array(expressions=[to_text(expression)])
    return _when_present(expression, listed)


def _literal_text(args: list[exp.Expression], index: int, what: str) -> str:
    arg = args[index]
    if not is_string_literal(arg):
        raise _ArgumentError(f"argument {index + 1} ({what}) must be a quoted string literal")
    return arg.name


def _literal_int(arg: exp.Expression) -> int | None:
    if isinstance(arg, exp.Literal) and not arg.is_string and re.fullmatch(r"\d+", arg.name):
        return int(arg.name)
    if isinstance(arg, exp.Neg):
        inner = _literal_int(arg.this)
        return None if inner is None else -inner
    return None


def _unify(values: list[exp.Expression]) -> list[exp.Expression]:
    """Branches of if/case/coalesce with one SQL type: text when numbers and text are mixed."""
    kinds = {is_numeric(v) for v in values if not isinstance(v, exp.Null)}
    if len(kinds) > 1:
        return [v if isinstance(v, exp.Null) else to_text(v) for v in values]
    return values


def _integer(expression: exp.Expression) -> exp.Expression:
    literal = _literal_int(expression)
    if literal is not None:
        return (
            exp.Literal.number(literal)
            if literal >= 0
            else exp.Neg(this=exp.Literal.number(-literal))
        )
    return exp.cast(to_number(expression), "bigint")


# --- conditional and informational ---------------------------------------------------------------


def _if(args: list[exp.Expression]) -> exp.Expression:
    true, false = _unify(args[1:])
    return exp.If(this=args[0], true=true, false=false)


def _case(args: list[exp.Expression]) -> exp.Expression:
    if len(args) % 2:
        raise _ArgumentError("case() takes condition, value pairs")
    values = _unify(args[1::2])
    ifs = [exp.If(this=cond, true=value) for cond, value in zip(args[0::2], values, strict=True)]
    return exp.Case(ifs=ifs)


def _coalesce(args: list[exp.Expression]) -> exp.Expression:
    values = _unify(args)
    return exp.Coalesce(this=values[0], expressions=values[1:])


def _isnum(args: list[exp.Expression]) -> exp.Expression:
    if is_numeric(args[0]):
        return _not_null(args[0])
    return _not_null(try_cast(args[0], "double"))


def _isstr(args: list[exp.Expression]) -> exp.Expression:
    # A field value that reads as a number is a number in Splunk, so it is not a string.
    if is_numeric(args[0]):
        return exp.false()
    return _and(_not_null(args[0]), _null(try_cast(args[0], "double")))


def _in(args: list[exp.Expression]) -> exp.Expression:
    return exp.In(this=to_text(args[0]), expressions=[to_text(a) for a in args[1:]])


# --- text ------------------------------------------------------------------------------------------


def _substr(args: list[exp.Expression]) -> exp.Expression:
    # Splunk: 1-based; a negative start counts from the end. DuckDB and Spark disagree on start 0
    # and on negative starts past the beginning, so the start is always computed to be >= 1.
    text = to_text(args[0])
    start = _literal_int(args[1])
    length = exp.Length(this=text.copy())
    position: exp.Expression
    if start is not None and start >= 1:
        position = exp.Literal.number(start)
    elif start is not None and start <= 0:
        offset = exp.Add(this=length, expression=exp.Literal.number(start + 1))
        position = exp.Greatest(
            this=offset if start < 0 else exp.Literal.number(1),
            expressions=[exp.Literal.number(1)],
            ignore_nulls=True,
        )
    else:
        raw = _integer(args[1])
        from_end = exp.Add(
            this=length, expression=exp.Add(this=raw.copy(), expression=exp.Literal.number(1))
        )
        position = exp.Greatest(
            this=exp.If(
                this=exp.LT(this=raw, expression=exp.Literal.number(0)),
                true=from_end,
                false=raw.copy(),
            ),
            expressions=[exp.Literal.number(1)],
            ignore_nulls=True,
        )
    node = exp.Substring(this=text, start=position)
    if len(args) > 2:
        node.set("length", _integer(args[2]))
    return node


class SplunkReplace(exp.Expression, exp.Func):
    """``replace(X, regex, replacement)``: every match replaced; ``\\1`` back-references."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True, "replacement": True}


def _java_replacement(text: str) -> str:
    # Spark (Java) writes group n as $n and escapes with backslash; Splunk/RE2 write \n.
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        nxt = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and nxt.isdigit():
            out.append("$" + nxt)
            index += 2
            continue
        if char == "\\" and nxt:
            out.append("\\" + nxt)
            index += 2
            continue
        out.append("\\$" if char == "$" else ("\\\\" if char == "\\" else char))
        index += 1
    return "".join(out)


def _replace_duckdb(gen: Generator, node: exp.Expression) -> str:
    call = exp.Anonymous(
        this="REGEXP_REPLACE",
        expressions=[node.this, node.expression, node.args["replacement"], exp.Literal.string("g")],
    )
    return call.sql(gen.dialect)


def _replace_spark(gen: Generator, node: exp.Expression) -> str:
    replacement = node.args["replacement"]
    if is_string_literal(replacement):
        replacement = exp.Literal.string(_java_replacement(replacement.name))
    call = exp.Anonymous(
        this="REGEXP_REPLACE", expressions=[node.this, node.expression, replacement]
    )
    return call.sql(gen.dialect)


def _replace(args: list[exp.Expression]) -> exp.Expression:
    return SplunkReplace(
        this=to_text(args[0]), expression=_regex_literal(args, 1), replacement=args[2]
    )


def _match(args: list[exp.Expression]) -> exp.Expression:
    return exp.RegexpLike(this=to_text(args[0]), expression=_regex_literal(args, 1))


def _trim(position: str | None) -> Builder:
    def build(args: list[exp.Expression]) -> exp.Expression:
        # Splunk trims spaces and tabs by default (Text functions, trim/ltrim/rtrim).
        chars = args[1] if len(args) > 1 else exp.Literal.string(" \t")
        node = exp.Trim(this=to_text(args[0]), expression=chars)
        if position:
            node.set("position", position)
        return node

    return build


def _urldecode(args: list[exp.Expression]) -> exp.Expression:
    # '+' decodes to a space in both engines (Spark's URLDecoder does so; DuckDB needs the REPLACE).
    spaced = exp.Anonymous(
        this="REPLACE",
        expressions=[to_text(args[0]), exp.Literal.string("+"), exp.Literal.string(" ")],
    )
    return exp.Anonymous(this="URL_DECODE", expressions=[spaced])


class SplunkPrintf(exp.Expression, exp.Func):
    """``printf(format, ...)``: C-style formatting (DuckDB PRINTF, Spark FORMAT_STRING)."""

    arg_types: ClassVar[dict[str, bool]] = {"expressions": True}
    is_var_len_args = True


# A printf conversion: flags, width, precision (either may be ``*``, taking a value), length, type.
_CONVERSION = re.compile(
    r"%(?:%|[-+ #0']*(\*|\d+)?(?:\.(\*|\d*))?(?:hh|h|ll|l|L|q|j|z|t)?([a-zA-Z]))"
)


def _printf(args: list[exp.Expression]) -> exp.Expression:
    """printf with a quoted format: it must not ask for more values than it is given (DuckDB and
    Spark would fail at run time; extra values are ignored, as by C's printf)."""
    if is_string_literal(args[0]):
        wanted = sum(
            1 + (m.group(1) == "*") + (m.group(2) == "*")
            for m in _CONVERSION.finditer(args[0].name)
            if m.group(3)
        )
        if wanted > len(args) - 1:
            raise _ArgumentError(f"the format asks for {wanted} value(s), {len(args) - 1} given")
    return SplunkPrintf(expressions=args)


def _printf_writer(name: str) -> SqlWriter:
    def write(gen: Generator, node: exp.Expression) -> str:
        return exp.Anonymous(this=name, expressions=list(node.expressions)).sql(gen.dialect)

    return write


# --- conversion ------------------------------------------------------------------------------------


def _duration(value: exp.Expression) -> exp.Expression:
    # tostring(X, "duration"): [D+]HH:MM:SS of a number of seconds.
    seconds = exp.cast(exp.Floor(this=value), "bigint")

    def part(divisor: int, modulo: int | None) -> exp.Expression:
        piece: exp.Expression = exp.Div(this=seconds.copy(), expression=exp.Literal.number(divisor))
        piece = exp.cast(exp.Floor(this=piece), "bigint")
        if modulo is not None:
            piece = exp.Mod(this=piece, expression=exp.Literal.number(modulo))
        return exp.Pad(
            this=exp.cast(piece, "varchar"),
            expression=exp.Literal.number(2),
            fill_pattern=exp.Literal.string("0"),
            is_left=True,
        )

    days = exp.cast(
        exp.Floor(this=exp.Div(this=seconds.copy(), expression=exp.Literal.number(86400))), "bigint"
    )
    prefix = exp.If(
        this=exp.GTE(this=seconds.copy(), expression=exp.Literal.number(86400)),
        true=exp.DPipe(this=exp.cast(days, "varchar"), expression=exp.Literal.string("+")),
        false=exp.Literal.string(""),
    )
    colon = exp.Literal.string(":")
    clock = exp.DPipe(
        this=exp.DPipe(
            this=exp.DPipe(this=part(3600, 24), expression=colon), expression=part(60, 60)
        ),
        expression=exp.DPipe(this=colon.copy(), expression=part(1, 60)),
    )
    return exp.DPipe(this=prefix, expression=clock)


def _tostring(args: list[exp.Expression]) -> exp.Expression:
    if len(args) == 1:
        return to_text(args[0])
    option = _literal_text(args, 1, "format").lower()
    value = to_number(args[0])
    if option == "hex":
        return exp.DPipe(
            this=exp.Literal.string("0x"), expression=exp.Hex(this=exp.cast(value, "bigint"))
        )
    if option == "duration":
        return _duration(value)
    raise _ArgumentError(f"tostring format {option!r} is not supported (supported: hex, duration)")


def _tonumber(args: list[exp.Expression]) -> exp.Expression:
    if len(args) > 1 and _literal_int(args[1]) != 10:
        raise _ArgumentError("tonumber() supports base 10 only")
    return try_cast(to_text(args[0]), "double")


# --- math ------------------------------------------------------------------------------------------


def _unary(node: type[exp.Expression]) -> Builder:
    return lambda args: node(this=to_number(args[0]))


def _whole_literal(expression: exp.Expression) -> int | float | None:
    """The value of a numeric literal (sign and parentheses allowed): an int when it is whole
    (``2``, ``2.0``, ``-1``, ``1e2``), the float when not, None for anything else."""
    sign = 1
    while isinstance(expression, exp.Paren | exp.Neg):
        sign = -sign if isinstance(expression, exp.Neg) else sign
        expression = expression.this
    if not isinstance(expression, exp.Literal) or expression.is_string:
        return None
    try:
        value = sign * float(expression.name)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def _round(args: list[exp.Expression]) -> exp.Expression:
    value = to_number(args[0])
    if len(args) == 1:
        return exp.Round(this=value)
    places = to_number(args[1])  # a quoted number is a number
    literal = _whole_literal(places)
    if isinstance(literal, int):
        return exp.Round(this=value, decimals=exp.Literal.number(literal))
    if literal is not None:
        raise _ArgumentError(f"the number of decimal places must be a whole number, not {literal}")
    # Computed places: DuckDB's ROUND takes an INTEGER, and a DOUBLE when the places are not
    # constant (a DECIMAL literal would need them constant).
    return exp.Round(this=exp.cast(value, "double"), decimals=exp.cast(places, "int"))


def _log(args: list[exp.Expression]) -> exp.Expression:
    base = to_number(args[1]) if len(args) > 1 else exp.Literal.number(10)
    return exp.Log(this=base, expression=to_number(args[0]))


def _extreme(node: type[exp.Expression]) -> Builder:
    # Numeric min/max over the arguments, ignoring missing ones (both engines skip NULLs).
    def build(args: list[exp.Expression]) -> exp.Expression:
        numbers = [to_number(a) for a in args]
        if len(numbers) == 1:
            return numbers[0]
        return node(this=numbers[0], expressions=numbers[1:], ignore_nulls=True)

    return build


# --- multivalue ------------------------------------------------------------------------------------


def _mvcount(args: list[exp.Expression]) -> exp.Expression:
    if is_multivalue(args[0]):
        return _when_present(args[0], exp.ArraySize(this=args[0].copy()))
    return _when_present(args[0], exp.Literal.number(1))


def _index0(position: exp.Expression, size: exp.Expression) -> exp.Expression:
    """A 0-based index from a Splunk mvindex position (negative: from the end), computed not sliced."""
    literal = _literal_int(position)
    if literal is not None and literal >= 0:
        return exp.Literal.number(literal)
    if literal is not None:
        return exp.Add(this=size, expression=exp.Literal.number(literal))
    raw = _integer(position)
    negative = exp.LT(this=raw, expression=exp.Literal.number(0))
    return exp.If(this=negative, true=exp.Add(this=size, expression=raw.copy()), false=raw.copy())


def _mvindex(args: list[exp.Expression]) -> exp.Expression:
    position = _literal_int(args[1])
    if len(args) == 2 and not is_multivalue(args[0]) and position is not None:
        # A single value is a one-value list: index 0 or -1 is the value, anything else missing.
        return args[0] if position in (0, -1) else exp.Null()
    values = as_multivalue(args[0])
    size = exp.ArraySize(this=values.copy())
    start = _index0(args[1], size)
    in_range = _and(
        exp.GTE(this=start.copy(), expression=exp.Literal.number(0)),
        exp.LT(this=start.copy(), expression=size.copy()),
    )
    if len(args) == 2:
        element = exp.Bracket(this=values, expressions=[start], offset=0)
        return exp.Case(ifs=[exp.If(this=in_range, true=element)])
    end = _index0(args[2], size.copy())
    count = exp.Add(
        this=exp.Sub(this=end, expression=start.copy()), expression=exp.Literal.number(1)
    )
    sliced = exp.ArraySlice(
        this=values.copy(),
        start=exp.Add(this=start.copy(), expression=exp.Literal.number(1)),
        end=count.copy(),
        is_length=True,
    )
    ok = _and(in_range, exp.GT(this=count, expression=exp.Literal.number(0)))
    return exp.Case(ifs=[exp.If(this=ok, true=sliced)])


def _mvjoin(args: list[exp.Expression]) -> exp.Expression:
    return exp.ArrayToString(this=as_multivalue(args[0]), expression=args[1])


def _mvappend(args: list[exp.Expression]) -> exp.Expression:
    lam = exp.Lambda(this=_not_null(exp.column("_mv")), expressions=[exp.to_identifier("_mv")])
    if not any(is_multivalue(a) for a in args):
        merged: exp.Expression = exp.Array(expressions=[to_text(a) for a in args])
    else:
        empty = exp.cast(exp.Array(expressions=[]), exp.DataType.build("array<varchar>"))
        parts = [
            exp.Coalesce(this=a, expressions=[empty.copy()])
            if is_multivalue(a)
            else exp.Array(expressions=[to_text(a)])
            for a in args
        ]
        merged = (
            parts[0] if len(parts) == 1 else exp.ArrayConcat(this=parts[0], expressions=parts[1:])
        )
    kept = exp.ArrayFilter(this=merged, expression=lam)
    # Splunk: appending only missing values gives a missing value, not an empty list.
    is_empty = exp.EQ(this=exp.ArraySize(this=kept.copy()), expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=is_empty, true=exp.Null())], default=kept)


def _mvfilter(args: list[exp.Expression]) -> exp.Expression:
    names = sorted({column.name for column in args[0].find_all(exp.Column)})
    if len(names) != 1:
        raise _ArgumentError("mvfilter() needs an expression over exactly one field")
    (name,) = names
    subject = next(c for c in args[0].find_all(exp.Column) if c.name == name)
    body = (
        args[0]
        .copy()
        .transform(
            lambda node: (
                exp.column("_mv") if isinstance(node, exp.Column) and node.name == name else node
            )
        )
    )
    lam = exp.Lambda(this=body, expressions=[exp.to_identifier("_mv")])
    return exp.ArrayFilter(this=as_multivalue(subject.copy()), expression=lam)


class SplunkMvDedup(exp.Expression, exp.Func):
    """``mvdedup(X)``: distinct values in first-seen order (DuckDB's LIST_DISTINCT loses the order)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


def _mvdedup_duckdb(gen: Generator, node: exp.Expression) -> str:
    values = node.this.sql(gen.dialect)
    return f"LIST_FILTER({values}, LAMBDA _mv, _i : LIST_POSITION({values}, _mv) = _i)"


def _mvdedup_spark(gen: Generator, node: exp.Expression) -> str:
    return exp.ArrayDistinct(this=node.this).sql(gen.dialect)


# --- time, network, hashes -------------------------------------------------------------------------


def _now(args: list[exp.Expression]) -> exp.Expression:
    # now(): the search start as whole epoch seconds; time(): with the fraction.
    return exp.Floor(this=exp.TimeToUnix(this=exp.CurrentTimestamp()))


def _time(args: list[exp.Expression]) -> exp.Expression:
    return exp.TimeToUnix(this=exp.CurrentTimestamp())


def _relative_time(args: list[exp.Expression]) -> exp.Expression:
    modifier = _literal_text(args, 1, "time modifier")
    try:
        return timefmt.relative_time_expression(args[0], modifier)
    except SplError as error:
        raise _ArgumentError(error.message) from None


def _strftime(args: list[exp.Expression]) -> exp.Expression:
    fmt = _literal_text(args, 1, "format")
    try:
        return timefmt.strftime_expression(args[0], fmt)
    except SplError as error:
        raise _ArgumentError(error.message) from None


def _strptime(args: list[exp.Expression]) -> exp.Expression:
    fmt = _literal_text(args, 1, "format")
    try:
        return timefmt.strptime_expression(to_text(args[0]), fmt)
    except SplError as error:
        raise _ArgumentError(error.message) from None


_IPV4_RE = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"


def _cidrmatch(args: list[exp.Expression]) -> exp.Expression:
    cidr = _literal_text(args, 0, "CIDR")
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise _ArgumentError(f"invalid CIDR {cidr!r}") from None
    if network.version != 4:
        raise _ArgumentError("cidrmatch() supports IPv4 only")
    ip = to_text(args[1])
    # The address as an integer from its four octets: plain arithmetic, the same in every engine.
    total: exp.Expression | None = None
    for part, weight in zip((1, 2, 3, 4), (16777216, 65536, 256, 1), strict=True):
        octet = try_cast(
            exp.SplitPart(
                this=ip.copy(),
                delimiter=exp.Literal.string("."),
                part_index=exp.Literal.number(part),
            ),
            "bigint",
        )
        term = exp.Mul(this=octet, expression=exp.Literal.number(weight)) if weight > 1 else octet
        total = term if total is None else exp.Add(this=total, expression=term)
    assert total is not None
    low, high = int(network.network_address), int(network.broadcast_address)
    valid = exp.RegexpLike(this=ip, expression=exp.Literal.string(_IPV4_RE))
    within = exp.Between(this=total, low=exp.Literal.number(low), high=exp.Literal.number(high))
    return _and(valid, within)


def _unsupported(reason: str) -> Builder:
    def build(args: list[exp.Expression]) -> exp.Expression:
        raise _ArgumentError(reason)

    return build


# How each engine writes the nodes above (sqlglot has no spelling for them); escudo's dialects add
# these to their generators (escudo.compile.dialects), sqlglot's own DuckDB and Spark stay as shipped.
SQL_WRITERS: SqlWriters = {
    "duckdb": {
        SplunkReplace: _replace_duckdb,
        SplunkPrintf: _printf_writer("PRINTF"),
        SplunkMvDedup: _mvdedup_duckdb,
    },
    "spark": {
        SplunkReplace: _replace_spark,
        SplunkPrintf: _printf_writer("FORMAT_STRING"),
        SplunkMvDedup: _mvdedup_spark,
    },
}


def _spec(
    name: str, min_args: int, max_args: int | None, builder: Builder
) -> tuple[str, FunctionSpec]:
    return name, FunctionSpec(name, min_args, max_args, builder)


FUNCTIONS: dict[str, FunctionSpec] = dict(
    [
        # Comparison and Conditional functions
        _spec("if", 3, 3, _if),
        _spec("case", 2, None, _case),
        _spec("coalesce", 1, None, _coalesce),
        _spec("like", 2, 2, lambda a: like(to_text(a[0]), a[1])),
        _spec("match", 2, 2, _match),
        _spec("in", 2, None, _in),
        _spec("null", 0, 0, lambda a: exp.Null()),
        _spec("true", 0, 0, lambda a: exp.true()),
        _spec("false", 0, 0, lambda a: exp.false()),
        _spec("cidrmatch", 2, 2, _cidrmatch),
        _spec(
            "searchmatch",
            1,
            1,
            _unsupported("searchmatch() needs the raw event text; not supported"),
        ),
        # Informational functions
        _spec("isnull", 1, 1, lambda a: _null(a[0])),
        _spec("isnotnull", 1, 1, lambda a: _not_null(a[0])),
        _spec("isnum", 1, 1, _isnum),
        _spec("isstr", 1, 1, _isstr),
        # Text functions
        _spec("lower", 1, 1, lambda a: exp.Lower(this=to_text(a[0]))),
        _spec("upper", 1, 1, lambda a: exp.Upper(this=to_text(a[0]))),
        _spec("len", 1, 1, lambda a: exp.Length(this=to_text(a[0]))),
        _spec("substr", 2, 3, _substr),
        _spec("replace", 3, 3, _replace),
        _spec("split", 2, 2, lambda a: exp.Split(this=to_text(a[0]), expression=a[1])),
        _spec("trim", 1, 2, _trim(None)),
        _spec("ltrim", 1, 2, _trim("LEADING")),
        _spec("rtrim", 1, 2, _trim("TRAILING")),
        _spec("urldecode", 1, 1, _urldecode),
        _spec("printf", 1, None, _printf),
        # Conversion functions
        _spec("tostring", 1, 2, _tostring),
        _spec("tonumber", 1, 2, _tonumber),
        # Mathematical functions
        _spec("round", 1, 2, _round),
        _spec("abs", 1, 1, _unary(exp.Abs)),
        _spec("floor", 1, 1, _unary(exp.Floor)),
        _spec("ceil", 1, 1, _unary(exp.Ceil)),
        _spec("ceiling", 1, 1, _unary(exp.Ceil)),
        _spec("sqrt", 1, 1, _unary(exp.Sqrt)),
        _spec("exp", 1, 1, _unary(exp.Exp)),
        _spec("ln", 1, 1, _unary(exp.Ln)),
        _spec("log", 1, 2, _log),
        _spec("pow", 2, 2, lambda a: exp.Pow(this=to_number(a[0]), expression=to_number(a[1]))),
        # Statistical eval functions
        _spec("min", 1, None, _extreme(exp.Least)),
        _spec("max", 1, None, _extreme(exp.Greatest)),
        # Multivalue eval functions
        _spec("mvcount", 1, 1, _mvcount),
        _spec("mvindex", 2, 3, _mvindex),
        _spec("mvjoin", 2, 2, _mvjoin),
        _spec("mvappend", 1, None, _mvappend),
        _spec("mvfilter", 1, 1, _mvfilter),
        _spec("mvdedup", 1, 1, lambda a: SplunkMvDedup(this=as_multivalue(a[0]))),
        # Date and Time functions
        _spec("now", 0, 0, _now),
        _spec("time", 0, 0, _time),
        _spec("relative_time", 2, 2, _relative_time),
        _spec("strftime", 2, 2, _strftime),
        _spec("strptime", 2, 2, _strptime),
        # Cryptographic functions
        _spec("md5", 1, 1, lambda a: exp.MD5(this=to_text(a[0]))),
        _spec("sha1", 1, 1, lambda a: exp.SHA(this=to_text(a[0]))),
        _spec(
            "sha256", 1, 1, lambda a: exp.SHA2(this=to_text(a[0]), length=exp.Literal.number(256))
        ),
    ]
)


def lower_function(
    name: str,
    args: list[exp.Expression],
    *,
    source: str = "",
    span: Span | None = None,
    origin: str | None = None,
) -> exp.Expression:
    """The sqlglot expression for eval function ``name(args...)``.

    Raises UnsupportedSplError at ``span`` in ``source`` (of ``origin``, e.g. a detection file) for an
    unknown function, a wrong number of arguments or an argument escudo cannot translate, and
    SplSyntaxError for an argument Splunk refuses too (a malformed quoted regex).

    >>> lower_function("lower", [exp.column("a")]).sql("duckdb")
    'LOWER(a)'
    """
    offset = span.start if span else 0
    end = span.end if span else None
    spec = FUNCTIONS.get(name.lower())
    if spec is None:
        raise UnsupportedSplError(
            f"unknown or unsupported eval function {name}()",
            source=source,
            offset=offset,
            end=end,
            origin=origin,
        )
    count = len(args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        if spec.max_args is None:
            expected = f"at least {spec.min_args}"
        elif spec.min_args == spec.max_args:
            expected = str(spec.min_args)
        else:
            expected = f"{spec.min_args} to {spec.max_args}"
        raise UnsupportedSplError(
            f"{spec.name}() takes {expected} argument(s), got {count}",
            source=source,
            offset=offset,
            end=end,
            origin=origin,
        )
    try:
        return parenthesize(spec.builder(args))
    except _InvalidArgument as error:
        raise SplSyntaxError(
            f"{spec.name}(): {error}", source=source, offset=offset, end=end, origin=origin
        ) from None
    except (_ArgumentError, MultivalueArgumentError) as error:
        raise UnsupportedSplError(
            f"{spec.name}(): {error}", source=source, offset=offset, end=end, origin=origin
        ) from None
