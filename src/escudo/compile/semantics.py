"""Splunk value-matching semantics as sqlglot builders.

Two comparison families exist in SPL and they differ on purpose (docs/semantics.md, "SPL: search and
where matching"):

* ``search`` and ``tstats ... where``: field values compare case-insensitively, ``*`` is a wildcard
  anywhere in the value, and ``field!=value`` needs the field to exist (Splunk Search Reference,
  "search": "Field values are not case sensitive"; Search Manual, "Difference between NOT and !=").
* ``where`` and ``eval``: case-sensitive, no wildcards, numbers compare as numbers (Search Reference,
  "where", "eval": comparison operators).

Every builder returns a sqlglot expression that generates valid SQL for DuckDB and Spark; values always
become literals, never pasted text.

Example::

    >>> from sqlglot import exp
    >>> search_compare(exp.column("process_name"), "=", "NGROK").sql("duckdb")
    "LOWER(process_name) = 'ngrok'"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar, cast

from sqlglot import exp
from sqlglot.generator import Generator

# A Splunk number literal as eval/search recognise it: optional sign, digits with an optional fraction,
# optional exponent (Search Reference, "eval": "numbers ... including decimals and scientific notation").
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")

# Characters with a meaning in a SQL LIKE pattern; escaped with a backslash (explicit ESCAPE '\').
_LIKE_SPECIAL = ("\\", "%", "_")

# Relational operators accepted in the three dialect-neutral spellings SPL uses.
_RELATIONAL: dict[str, type[exp.Expression]] = {
    "<": exp.LT,
    ">": exp.GT,
    "<=": exp.LTE,
    ">=": exp.GTE,
}
_EQUALITY: dict[str, type[exp.Expression]] = {"=": exp.EQ, "==": exp.EQ, "!=": exp.NEQ}

# Expression classes whose SQL value is already numeric (no TRY_CAST needed before arithmetic).
NUMERIC_NODES: tuple[type[exp.Expression], ...] = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Length,
    exp.ArraySize,
    exp.Round,
    exp.Abs,
    exp.Floor,
    exp.Ceil,
    exp.Sqrt,
    exp.Pow,
    exp.Exp,
    exp.Ln,
    exp.Log,
    exp.TimeToUnix,
    exp.Count,
)

DOUBLE = exp.DataType.build("double")
VARCHAR = exp.DataType.build("varchar")


def is_number(text: str) -> bool:
    """True when ``text`` is a Splunk number literal.

    >>> is_number("-1.5e3"), is_number("0x10"), is_number("")
    (True, False, False)
    """
    return bool(NUMBER_RE.match(text.strip()))


def number_literal(text: str) -> exp.Expression:
    """A numeric SQL literal for the Splunk number ``text`` (negatives as ``-(n)``)."""
    text = text.strip()
    if text.startswith("+"):
        text = text[1:]
    if text.startswith("-"):
        return exp.Neg(this=exp.Literal.number(text[1:]))
    return exp.Literal.number(text)


def is_numeric(expression: exp.Expression) -> bool:
    """True when ``expression`` is known to produce a number (literal, arithmetic, numeric function)."""
    if isinstance(expression, exp.Literal):
        return not expression.is_string
    if isinstance(expression, exp.Paren):
        return is_numeric(expression.this)
    if isinstance(expression, exp.Cast):  # also TRY_CAST
        return expression.to.is_type(*exp.DataType.NUMERIC_TYPES)
    if expression.type is not None and expression.type.is_type(*exp.DataType.NUMERIC_TYPES):
        return True  # the compiler may type a column it knows holds numbers (stats count, ...)
    return isinstance(expression, NUMERIC_NODES)


def is_string_literal(expression: exp.Expression) -> bool:
    return isinstance(expression, exp.Literal) and expression.is_string


def to_number(expression: exp.Expression) -> exp.Expression:
    """``expression`` as a DOUBLE: a no-op for known numbers, ``TRY_CAST(... AS DOUBLE)`` otherwise.

    >>> to_number(exp.column("pid")).sql("duckdb")
    'TRY_CAST(pid AS DOUBLE)'
    """
    if is_numeric(expression):
        return expression
    if is_string_literal(expression) and is_number(expression.name):
        return number_literal(expression.name)
    return try_cast(expression, DOUBLE)


def try_cast(expression: exp.Expression, to: exp.DataType | str) -> exp.Expression:
    """``TRY_CAST``: NULL instead of an error, in DuckDB and in Spark (``safe`` keeps sqlglot from
    writing a plain CAST for Spark, which fails in ANSI mode).

    >>> try_cast(exp.column("pid"), "bigint").sql("spark")
    'TRY_CAST(pid AS BIGINT)'
    """
    target = to.copy() if isinstance(to, exp.DataType) else exp.DataType.build(to)
    return exp.TryCast(this=expression, to=target, safe=True)


def number_text(expression: exp.Expression) -> exp.Expression:
    """A number as Splunk prints it: whole numbers without ``.0`` (``1704067200``, not the DOUBLE's
    ``1704067200.0``), so ``min(_time)`` concatenates, fills and ``search``-matches as Splunk shows it.

    >>> from escudo.compile.dialects import EscudoDuckDB
    >>> number_text(exp.Literal.number(3)).sql(EscudoDuckDB)
    'CASE WHEN 3 = FLOOR(3) AND ABS(3) < 1e15 THEN CAST(CAST(3 AS BIGINT) AS TEXT) ELSE CAST(3 AS TEXT) END'
    """
    value = to_number(expression)
    whole = exp.EQ(this=value, expression=exp.Floor(this=value.copy()))
    small = exp.LT(this=exp.Abs(this=value.copy()), expression=exp.Literal.number("1e15"))
    as_int = exp.cast(exp.cast(value.copy(), "bigint"), "varchar")
    return exp.If(
        this=exp.And(this=whole, expression=small),
        true=as_int,
        false=DoubleText(this=value.copy()),
    )


class DoubleText(exp.Expression, exp.Func):
    """A DOUBLE as text the way DuckDB writes it (shortest round-trip digits, Python's ``repr``
    layout: ``1710148521.618``); Spark's CAST writes Java's ``1.710148521618E9``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


def _double_text_duckdb(gen: Generator, node: exp.Expression) -> str:
    return exp.cast(node.this, "varchar").sql(gen.dialect)


def _double_text_spark(gen: Generator, node: exp.Expression) -> str:
    # Between 1e-4 and 1e16 DuckDB writes plain digits: a DECIMAL(38, 18) made from the DOUBLE
    # (Spark goes through Double.toString's digits) without its trailing zeros, ".0" kept.
    value = gen.sql(node, "this")
    digits = f"REGEXP_REPLACE(CAST(CAST({value} AS DECIMAL(38, 18)) AS STRING), '0+$', '')"
    plain = f"REGEXP_REPLACE({digits}, '[.]$', '.0')"
    return (
        f"CASE WHEN ABS({value}) >= 0.0001 AND ABS({value}) < 1e16 THEN {plain} "
        f"ELSE CAST({value} AS STRING) END"
    )


class MultivalueArgumentError(ValueError):
    """A list (multivalue field) where a single text value is needed; the caller locates it."""


def to_text(expression: exp.Expression) -> exp.Expression:
    """``expression`` as text: string literals and columns unchanged, numbers as Splunk prints them.

    A multivalue field (a list) has no single text: :class:`MultivalueArgumentError`, rather than
    SQL the engine rejects (``lower(VARCHAR[])``) or renders as ``[a, b]``.
    """
    if isinstance(expression, exp.Array) or (
        expression.type is not None and expression.type.is_type(exp.DataType.Type.ARRAY)
    ):
        raise MultivalueArgumentError(
            "a multivalue field is not supported here (take one value with mvindex or mvjoin)"
        )
    if isinstance(expression, exp.Literal):
        return exp.Literal.string(expression.name)
    if is_numeric(expression):
        return number_text(expression)
    return expression


def wildcard_to_like(value: str) -> str:
    """The SQL LIKE pattern (escape character ``\\``) for a Splunk value with ``*`` wildcards.

    >>> wildcard_to_like("*50%_off*")
    '%50\\\\%\\\\_off%'
    """
    out = []
    for char in value:
        if char == "*":
            out.append("%")
        elif char in _LIKE_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _lowered(value: str) -> exp.Expression:
    # Python and the engine agree on ASCII case folding; for anything else let the engine lower the
    # literal too, so both sides of the comparison are folded by the same rules.
    if value.isascii():
        return exp.Literal.string(value.lower())
    return exp.Lower(this=exp.Literal.string(value))


def like(text: exp.Expression, pattern: exp.Expression) -> exp.Expression:
    """Case-sensitive SQL ``LIKE`` (``%``, ``_``; ``\\`` escapes) as eval's ``like(X, Y)``.

    ESCAPE is explicit because DuckDB has no default escape character while Spark uses ``\\``.

    >>> like(exp.column("a"), exp.Literal.string("x%")).sql("duckdb")
    "a LIKE 'x%' ESCAPE '\\\\'"
    """
    return exp.Escape(
        this=exp.Like(this=text, expression=pattern), expression=exp.Literal.string("\\")
    )


def _wildcard_match(column: exp.Expression, value: str) -> exp.Expression:
    """Case-insensitive match of ``column`` against ``value`` with ``*`` wildcards (NULL when missing)."""
    if value and set(value) == {"*"}:
        # Search Reference, "search": field=* matches every event that has the field.
        return exp.Not(this=exp.Is(this=column, expression=exp.Null()))
    folded = exp.Lower(this=column)
    if "*" not in value:
        return exp.EQ(this=folded, expression=_lowered(value))
    pattern = wildcard_to_like(value)
    match: exp.Expression = exp.Like(this=folded, expression=_lowered(pattern))
    if "\\" in pattern:
        # Only when something is escaped: a LIKE without ESCAPE stays eligible for DuckDB's
        # contains/prefix/suffix rewrite, and without backslashes both engines agree.
        match = exp.Escape(this=match, expression=exp.Literal.string("\\"))
    return match


def _search_relational(column: exp.Expression, op: str, value: str) -> exp.Expression:
    node = _RELATIONAL[op]
    text = node(this=exp.Lower(this=column), expression=_lowered(value))
    if not is_number(value):
        return text
    # Numeric when both sides are numbers; a non-numeric field value falls back to text order.
    numeric = node(this=to_number(column), expression=number_literal(value))
    return exp.Coalesce(this=numeric, expressions=[text])


def search_compare(
    column: exp.Expression, op: str, value: str, *, quoted: bool = False
) -> exp.Expression:
    """``field<op>value`` as the ``search`` command and ``tstats ... where`` evaluate it.

    ``quoted`` is accepted for the compiler's convenience; Splunk applies ``*`` wildcards and case
    folding the same way to quoted and unquoted values, so it does not change the result.

    >>> search_compare(exp.column("process"), "=", "*tcp*").sql("duckdb")
    "LOWER(process) LIKE '%tcp%'"
    >>> search_compare(exp.column("u"), "!=", "root").sql("duckdb")
    "NOT u IS NULL AND NOT LOWER(u) = 'root'"
    """
    del quoted
    if op in ("=", "=="):
        return parenthesize(_wildcard_match(column, value))
    if op == "!=":
        present = exp.Not(this=exp.Is(this=column, expression=exp.Null()))
        return parenthesize(
            exp.And(this=present, expression=exp.Not(this=_wildcard_match(column, value)))
        )
    if op in _RELATIONAL:
        return parenthesize(_search_relational(column, op, value))
    raise ValueError(f"unknown search comparison operator {op!r}")


def any_element(column: exp.Expression, predicate: exp.Expression, var: str) -> exp.Expression:
    """True when some element of list ``column`` satisfies ``predicate`` (written over column ``var``)."""
    lam = exp.Lambda(this=predicate, expressions=[exp.to_identifier(var)])
    kept = exp.ArrayFilter(this=column, expression=lam)
    return exp.GT(this=exp.ArraySize(this=kept), expression=exp.Literal.number(0))


def search_compare_mv(
    column: exp.Expression, op: str, value: str, *, quoted: bool = False
) -> exp.Expression:
    """:func:`search_compare` for a multivalue (list) column: true when ANY value matches.

    ``field!=value`` on a multivalue field holds when the field exists and some value differs.

    >>> search_compare_mv(exp.column("ips"), "=", "10.*").sql("spark")
    "SIZE(FILTER(ips, _v -> LOWER(_v) LIKE '10.%')) > 0"
    """
    element = exp.column("_v")
    return parenthesize(
        any_element(column, search_compare(element, op, value, quoted=quoted), "_v")
    )


# An IN list with more exact (wildcard-free) values than this compares them in one SQL
# ``LOWER(field) IN (...)`` instead of an OR of equalities: same result, but a 75,000-value list
# stays one node, not a 75,000-deep OR tree (docs/semantics.md, "Limits on search size and nesting").
# Short lists keep the OR form, which reads like the SPL.
IN_LIST_AS_SQL_IN = 16


def search_in(column: exp.Expression, values: list[str], *, quoted: bool = False) -> exp.Expression:
    """``field IN (v1, v2, ...)``: the OR of ``field=v`` (Search Reference, "search", IN operator).

    >>> search_in(exp.column("p"), ["*a*", "b"]).sql("duckdb")
    "LOWER(p) LIKE '%a%' OR LOWER(p) = 'b'"
    >>> search_in(exp.column("p"), [f"v{i}" for i in range(20)] + ["*x*"]).sql("duckdb")[:42]
    "LOWER(p) IN ('v0', 'v1', 'v2', 'v3', 'v4',"
    """
    if not values:
        return exp.false()
    unique = list(dict.fromkeys(values))  # the seed lists "*http*" twice; one test is enough
    exact = [v for v in unique if "*" not in v]
    if len(exact) <= IN_LIST_AS_SQL_IN:
        matches = [search_compare(column, "=", value, quoted=quoted) for value in unique]
    else:
        folded = exp.In(
            this=exp.Lower(this=column.copy()), expressions=[_lowered(v) for v in exact]
        )
        wildcards = [v for v in unique if "*" in v]
        matches = [folded, *(search_compare(column, "=", v, quoted=quoted) for v in wildcards)]
    # Each match is already parenthesized and holds no OR: combining them needs no more copies.
    return cast(exp.Expression, exp.or_(*matches, copy=False))


def search_not(expression: exp.Expression) -> exp.Expression:
    """``NOT expr`` in ``search``: true when the inner predicate is false or unknown (missing field).

    >>> search_not(search_compare(exp.column("u"), "=", "root")).sql("duckdb")
    "NOT COALESCE(LOWER(u) = 'root', FALSE)"
    """
    return parenthesize(exp.Not(this=exp.Coalesce(this=expression, expressions=[exp.false()])))


def where_compare(left: exp.Expression, op: str, right: exp.Expression) -> exp.Expression:
    """``left<op>right`` in ``where``/``eval``: case-sensitive, numeric when both sides are numbers.

    Fields are text, so when neither side is known to be text the comparison is tried numerically
    first (``TRY_CAST``) and falls back to text order: ``COALESCE(numeric, text)``. A missing field
    (NULL) makes the comparison NULL, which ``where`` drops.

    >>> where_compare(exp.column("n"), ">=", exp.Literal.number(200)).sql("duckdb")
    "COALESCE(TRY_CAST(n AS DOUBLE) >= 200, n >= '200')"
    >>> where_compare(exp.column("a"), "=", exp.Literal.string("X")).sql("duckdb")
    "a = 'X'"
    """
    node = _EQUALITY.get(op) or _RELATIONAL.get(op)
    if node is None:
        raise ValueError(f"unknown comparison operator {op!r}")
    if is_numeric(left) and is_numeric(right):
        return parenthesize(node(this=left, expression=right))
    text = node(this=to_text(left), expression=to_text(right))
    if is_string_literal(left) or is_string_literal(right):
        # A quoted literal is a string in eval: compare as text.
        return parenthesize(text)
    numeric = node(this=to_number(left), expression=to_number(right))
    return parenthesize(exp.Coalesce(this=numeric, expressions=[text]))


# --- regular expressions ---------------------------------------------------------------------------
# Errors that are syntax errors in every regex flavour (PCRE, RE2, Java, Python), so Python's parser
# can report them at compile time, with a position, instead of the engine at run time.
_UNIVERSAL_REGEX_ERRORS = (
    "missing ), unterminated subpattern",
    "unbalanced parenthesis",
    "unterminated character set",
    "nothing to repeat",
    "multiple repeat",
)


def regex_syntax_error(pattern: str) -> str | None:
    """Why ``pattern`` is malformed in every regex flavour, or None (valid, or maybe valid for the
    engine's flavour: RE2 / Java decide at run time).

    >>> regex_syntax_error("a(b"), regex_syntax_error("(?<n>a)"), regex_syntax_error(r"\\d+")
    ('missing ), unterminated subpattern', None, None)
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        return exc.msg if exc.msg.startswith(_UNIVERSAL_REGEX_ERRORS) else None
    return None


# --- dialect hooks ---------------------------------------------------------------------------------
# A few Splunk behaviours need text that differs per engine and that sqlglot does not transpile (regex
# back-references, strptime patterns). They are small expression classes of ours; the module defining
# one lists how DuckDB and Spark write it in a ``SQL_WRITERS`` table, and escudo's own dialects
# (``escudo.compile.dialects``: sqlglot's DuckDB and Spark, subclassed) add those writers to their
# generator's ``TRANSFORMS``. sqlglot's own dialect classes are never changed.

SqlWriter = Callable[[Generator, exp.Expression], str]
SqlWriters = dict[str, dict[type[exp.Expr], SqlWriter]]

SQL_WRITERS: SqlWriters = {
    "duckdb": {DoubleText: _double_text_duckdb},
    "spark": {DoubleText: _double_text_spark},
}


# --- parentheses -----------------------------------------------------------------------------------
# sqlglot writes a tree as built, without adding parentheses for precedence, so builders run their
# result through parenthesize(). Levels follow SQL (and SPL eval): OR < AND < NOT < comparison <
# + - || < * / % < unary minus.

_LEVELS: tuple[tuple[int, tuple[type, ...]], ...] = (
    (1, (exp.Or,)),
    (2, (exp.And,)),
    (3, (exp.Not,)),
    (4, (exp.Predicate, exp.Escape, exp.EQ, exp.NEQ, exp.Is, exp.Like, exp.ILike)),
    (5, (exp.Add, exp.Sub, exp.DPipe)),
    (6, (exp.Mul, exp.Div, exp.Mod, exp.IntDiv)),
    (7, (exp.Neg,)),
)


def _level(node: exp.Expression) -> int | None:
    for level, classes in _LEVELS:
        if isinstance(node, classes):
            return level
    return None


def _fix_parens(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Bracket) and not isinstance(node.this, (exp.Column, exp.Paren)):
        node.set("this", exp.Paren(this=node.this))
        return node
    parent = _level(node)
    if parent is None:
        return node
    for key in ("this", "expression"):
        child = node.args.get(key)
        if not isinstance(child, exp.Expression):
            continue
        level = _level(child)
        if level is not None and (level < parent or (level == parent and key == "expression")):
            node.set(key, exp.Paren(this=child))
    return node


def parenthesize(tree: exp.Expression) -> exp.Expression:
    """A copy of ``tree`` with the parentheses its shape needs when written as SQL.

    >>> a, b, c = exp.column("a"), exp.column("b"), exp.column("c")
    >>> parenthesize(exp.Mul(this=exp.Sub(this=a, expression=b), expression=c)).sql()
    '(a - b) * c'
    """
    return tree.transform(_fix_parens)
