"""Lowering of the three SPL sub-languages to sqlglot: search predicates, eval expressions, aggregations.

The matching rules themselves (case, wildcards, numbers) live in :mod:`escudo.compile.semantics`
and the eval function table in :mod:`escudo.compile.functions`; this module walks the AST and calls
them, resolving field names through a ``resolve`` callback (the current frame's columns, or a data
model's fields inside ``tstats``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlglot import exp

from escudo.compile import semantics
from escudo.compile.schema import DOUBLE, VARCHAR, Frame, Kind, as_expression
from escudo.errors import InputError, Span
from escudo.spl import ast

# (expression for the field, its kind) by field name.
Resolver = Callable[[str], tuple[exp.Expression, Kind]]

# search-language field names that bound time instead of naming a field (Search Reference,
# "search": time modifiers earliest/latest; "Time modifiers": starthoursago/endhoursago).
TIME_MODIFIERS = (
    "earliest",
    "latest",
    "starthoursago",
    "endhoursago",
    "startdaysago",
    "enddaysago",
)


def time_literal(when: datetime) -> exp.Expression:
    """A TIMESTAMP WITH TIME ZONE literal for ``when`` (UTC)."""
    return exp.Cast(this=exp.Literal.string(when.isoformat()), to=exp.DataType.build("timestamptz"))


def _time_bound(frame: Frame, node: ast.Compare, resolve: Resolver) -> exp.Expression:
    """``earliest=-24h`` and friends as a predicate on ``_time``."""
    from escudo.compile.timefmt import parse_time_modifier

    now = frame.now
    assert now is not None
    key = node.field.lower()
    if node.op != "=":
        raise frame.unsupported(f"{node.field}{node.op} (only =) is not supported", node.span)
    try:
        if key in ("earliest", "latest"):
            when = parse_time_modifier(node.value, now)
        else:
            amount = float(node.value)
            when = now - (timedelta(hours=amount) if "hours" in key else timedelta(days=amount))
    except InputError as exc:
        raise frame.unsupported(f"{node.field}=: {exc.message}", node.span) from None
    except (OverflowError, ValueError):
        raise frame.unsupported(
            f"cannot read time {node.value!r} for {node.field}", node.span
        ) from None
    time_col, _ = resolve("_time")
    if key in ("earliest", "starthoursago", "startdaysago"):
        return exp.GTE(this=time_col, expression=time_literal(when))
    return exp.LT(this=time_col, expression=time_literal(when))


def lower_predicate(node: ast.Predicate, frame: Frame, resolve: Resolver) -> exp.Expression:
    """A search-language predicate (``search``, ``tstats where``) as a SQL boolean."""
    if isinstance(node, ast.And):
        items = (_wrap(lower_predicate(i, frame, resolve)) for i in node.items)
        return as_expression(exp.and_(*items, copy=False))  # fresh trees: no copies
    if isinstance(node, ast.Or):
        items = (_wrap(lower_predicate(i, frame, resolve)) for i in node.items)
        return as_expression(exp.or_(*items, copy=False))
    if isinstance(node, ast.Not):
        return semantics.search_not(lower_predicate(node.item, frame, resolve))
    if isinstance(node, ast.Compare | ast.InList) and node.field.lower() in (
        "index",
        "splunk_server",
    ):
        return _index_term(node, frame)
    if isinstance(node, ast.Compare):
        if node.field.lower() in TIME_MODIFIERS:
            return _time_bound(frame, node, resolve)
        col, kind = resolve(node.field)
        if kind == "mv":
            return semantics.search_compare_mv(col, node.op, node.value, quoted=node.quoted)
        return semantics.search_compare(_text(col, kind), node.op, node.value, quoted=node.quoted)
    if isinstance(node, ast.InList):
        col, kind = resolve(node.field)
        if kind == "mv":
            alternatives = [
                semantics.search_compare_mv(col, "=", v) for v in dict.fromkeys(node.values)
            ]
            return as_expression(exp.or_(*alternatives))
        return semantics.search_in(_text(col, kind), list(node.values))
    if isinstance(node, ast.Term):
        if node.value and set(node.value) == {"*"}:
            return exp.true()
        raw, kind = resolve("_raw")
        if isinstance(raw, exp.Cast):  # no _raw in this data: a bare term cannot be evaluated
            raise frame.unsupported(
                f"bare search term {node.value!r} needs the raw event text (_raw), which this data has not; "
                "use field=value",
                node.span,
            )
        return semantics.search_compare(raw, "=", f"*{node.value}*")
    raise AssertionError(node)


def _index_term(node: ast.Compare | ast.InList, frame: Frame) -> exp.Expression:
    """escudo has no indexes: ``index=*`` holds for every event; naming an index is unsupported."""
    values = (node.value,) if isinstance(node, ast.Compare) else node.values
    op = node.op if isinstance(node, ast.Compare) else "="
    if op == "=" and all(v and set(v) == {"*"} for v in values):
        return exp.true()
    if op == "=" and frame.dynamic:
        # A search over events: the inputs escudo reads are the index searched, whatever its
        # name (docs/semantics.md, "Raw-event search").
        return exp.true()
    raise frame.unsupported(
        f"{node.field}= selects Splunk indexes, which escudo does not have (only {node.field}=*)",
        node.span,
    )


def _text(col: exp.Expression, kind: Kind) -> exp.Expression:
    """A value as Splunk's text: ``_time`` as epoch seconds, numbers as Splunk prints them (search
    matches and ``values()``/``dc()`` compare this text)."""
    if kind == "time":
        return semantics.number_text(exp.TimeToUnix(this=col))
    if kind == "number":
        return semantics.number_text(col)
    if kind == "any":
        return exp.Cast(this=col, to=VARCHAR.copy())
    return col


def _wrap(expression: exp.Expression) -> exp.Expression:
    return exp.Paren(this=expression) if isinstance(expression, exp.Connector) else expression


# --- eval / where expressions -----------------------------------------------------------------

_ARITHMETIC: dict[str, type[exp.Expression]] = {
    "-": exp.Sub,
    "*": exp.Mul,
    "/": exp.Div,
    "%": exp.Mod,
}
_BOOLEAN: dict[str, type[exp.Expression]] = {"AND": exp.And, "OR": exp.Or}
_MV_NODES = (
    exp.Split,
    exp.Array,
    exp.ArrayConcat,
    exp.ArrayDistinct,
    exp.ArraySort,
    exp.ArrayFilter,
    exp.ArraySlice,
)


def lower_expr(node: ast.Expr, frame: Frame) -> exp.Expression:
    """An eval/where expression as a SQL expression (case-sensitive comparisons)."""
    if isinstance(node, ast.FieldRef):
        col = frame.col(node.name)
        if frame.kind(node.name) == "time" and node.name in frame.columns:
            # _time is epoch seconds in SPL arithmetic and comparisons.
            return exp.TimeToUnix(this=col)
        return col
    if isinstance(node, ast.Literal):
        if node.kind == "number":
            return semantics.number_literal(node.value)
        return exp.Literal.string(node.value)
    if isinstance(node, ast.BinOp):
        left, right = lower_expr(node.left, frame), lower_expr(node.right, frame)
        op = node.op
        if op in ("=", "!=", "<", ">", "<=", ">="):
            return _compare_mv(node, frame, left, right) or semantics.where_compare(left, op, right)
        if op == "LIKE":
            return semantics.like(left, right)
        if op == "XOR":
            # a XOR b is a <> b over booleans, NULL when either is (three-valued logic). sqlglot
            # writes Xor for DuckDB as (a AND NOT b) OR (NOT a AND b), which doubles both sides:
            # a chain of n XORs would grow as 2**n. Spark has no boolean XOR operator either.
            return semantics.parenthesize(
                exp.NEQ(this=exp.Paren(this=left), expression=exp.Paren(this=right))
            )
        if op in _BOOLEAN:
            return _BOOLEAN[op](this=_wrap(left), expression=_wrap(right))
        if op == ".":
            return exp.DPipe(this=semantics.to_text(left), expression=semantics.to_text(right))
        if op == "+":
            # "+" adds numbers and concatenates strings (Search Reference, "eval" operators).
            if semantics.is_string_literal(left) or semantics.is_string_literal(right):
                return exp.DPipe(this=semantics.to_text(left), expression=semantics.to_text(right))
            return exp.Add(this=semantics.to_number(left), expression=semantics.to_number(right))
        divisor = semantics.to_number(right)
        literal = isinstance(divisor, exp.Literal) and semantics.is_number(divisor.name)
        if op in ("/", "%") and not (literal and float(divisor.name) != 0):
            # Splunk leaves the field empty when dividing by zero; DuckDB would give inf/NaN
            # (or fail for integer %), so the divisor 0 becomes NULL, as in Spark's default mode.
            divisor = exp.Nullif(this=divisor, expression=exp.Literal.number(0))
        return _ARITHMETIC[op](this=semantics.to_number(left), expression=divisor)
    if isinstance(node, ast.UnaryOp):
        operand = lower_expr(node.operand, frame)
        if node.op == "NOT":
            return exp.Not(this=_wrap(operand))
        return exp.Neg(this=semantics.to_number(operand))
    if isinstance(node, ast.InExpr):
        operand = lower_expr(node.operand, frame)
        multivalue = (
            isinstance(node.operand, ast.FieldRef) and frame.columns.get(node.operand.name) == "mv"
        )
        subject = exp.column("_v") if multivalue else operand
        alternatives = [
            semantics.where_compare(subject.copy(), "=", lower_expr(v, frame)) for v in node.values
        ]
        test = as_expression(exp.or_(*alternatives, copy=False))  # fresh trees: no copies
        return semantics.any_element(operand, test, "_v") if multivalue else test
    if isinstance(node, ast.Call):
        from escudo.compile.functions import lower_function

        if node.name.lower() == "mvfilter":
            return _lower_mvfilter(node, frame)
        args = [lower_expr(a, frame) for a in node.args]
        return lower_function(
            node.name, args, source=frame.source, span=node.span, origin=frame.origin
        )
    raise AssertionError(node)


def _lower_mvfilter(node: ast.Call, frame: Frame) -> exp.Expression:
    """mvfilter(predicate): the predicate reads its field as one value (each element in turn), so
    it is lowered with multivalue fields seen as text; the field itself stays the list filtered."""
    from escudo.compile.functions import lower_function

    as_text = {n: "text" if k == "mv" else k for n, k in frame.columns.items()}
    args = [lower_expr(a, replace(frame, columns=as_text)) for a in node.args]
    for col in (c for a in args for c in a.find_all(exp.Column)):
        if frame.columns.get(col.name) == "mv":
            col.type = frame.col(col.name).type
    return lower_function(node.name, args, source=frame.source, span=node.span, origin=frame.origin)


# SPL functions whose result is a multivalue field (SR "Multivalue eval functions"); mvindex with a
# range (three arguments) too. if/case/coalesce take the kind of their branches.
_MV_FUNCTIONS = frozenset(
    {"split", "mvappend", "mvfilter", "mvdedup", "mvsort", "mvzip", "mvmap", "mvrange"}
)
_BRANCHING = {"if": slice(1, None), "case": slice(1, None, 2), "coalesce": slice(0, None)}


def _compare_mv(
    node: ast.BinOp, frame: Frame, left: exp.Expression, right: exp.Expression
) -> exp.Expression | None:
    """A comparison with a multivalue field holds when it holds for any of its values (as in search)."""
    for side, other, mv_left in ((node.left, right, True), (node.right, left, False)):
        if isinstance(side, ast.FieldRef) and frame.columns.get(side.name) == "mv":
            element = exp.column("_v")
            pair = (element, other) if mv_left else (other, element)
            test = semantics.where_compare(pair[0], node.op, pair[1])
            return semantics.any_element(frame.col(side.name), test, "_v")
    return None


def expr_kind(node: ast.Expr, frame: Frame, expression: exp.Expression) -> Kind:
    """What an eval result holds: ``mv`` for lists (multivalue fields), ``number``, or ``any``."""
    if isinstance(node, ast.FieldRef):
        kind = frame.columns.get(node.name, "any")
        return "number" if kind == "time" else kind  # _time reads as epoch seconds in eval
    if isinstance(node, ast.Call):
        if node.name in _MV_FUNCTIONS or (node.name == "mvindex" and len(node.args) == 3):
            return "mv"
        branches = node.args[_BRANCHING[node.name]] if node.name in _BRANCHING else ()
        if any(expr_kind(b, frame, expression) == "mv" for b in branches):
            return "mv"
    if isinstance(expression, _MV_NODES):
        return "mv"
    if semantics.is_numeric(expression):
        return "number"
    return "any"


# --- aggregations (stats, tstats) ---------------------------------------------------------------
# Function names as Splunk writes them, with aliases (Search Reference, "Statistical and charting
# functions"): count/c, distinct_count/dc, values, list, min, max, sum, avg/mean, earliest, latest.
AGGREGATIONS = (
    "count",
    "c",
    "dc",
    "distinct_count",
    "values",
    "list",
    "min",
    "max",
    "sum",
    "avg",
    "mean",
    "earliest",
    "latest",
)


def _not_null(col: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))


def lower_aggregation(
    agg: ast.Aggregation, frame: Frame, resolve: Resolver, span: Span | None = None
) -> tuple[exp.Expression, Kind]:
    """One aggregation as a SQL aggregate and the kind of its result.

    ``values`` is distinct and sorted lexicographically, ``dc`` a distinct count, ``min``/``max`` of
    ``_time`` are epoch seconds; ``min``/``max`` of text are numeric when some values are numbers,
    lexicographic otherwise (Search Reference, "min": "If the values ... are non-numeric, the
    minimum is found using lexicographical ordering").
    """
    func = agg.func
    if func not in AGGREGATIONS:
        raise frame.unsupported(f"aggregation {func}() is not supported", agg.span)
    if agg.field is None:
        if func not in ("count", "c"):
            raise frame.unsupported(f"{func} needs a field, as in {func}(field)", agg.span)
        return exp.Count(this=exp.Star()), "number"
    if "*" in agg.field:
        raise frame.unsupported(
            f"wildcard field {agg.field!r} in {func}() is not supported", agg.span
        )
    col, kind = resolve(agg.field)
    if func in ("count", "c"):
        if kind == "mv":
            total = exp.Sum(this=exp.ArraySize(this=col))
            return exp.Cast(this=total, to=exp.DataType.build("bigint")), "number"
        return exp.Count(this=col), "number"
    if func in ("dc", "distinct_count", "values", "list"):
        element = _text(col, kind)
        gathered: exp.Expression = exp.Filter(
            this=exp.ArrayAgg(this=element), expression=exp.Where(this=_not_null(element))
        )
        if kind == "mv":
            gathered = exp.Flatten(this=gathered)
        if func == "list":
            return gathered, "mv"
        distinct = exp.ArrayDistinct(this=gathered)
        if func == "values":
            return exp.ArraySort(this=distinct), "mv"
        if kind == "mv":
            return exp.Coalesce(
                this=exp.ArraySize(this=distinct), expressions=[exp.Literal.number(0)]
            ), "number"
        return exp.Count(this=exp.Distinct(expressions=[element])), "number"
    if kind == "mv":
        raise frame.unsupported(
            f"{func}() of the multivalue field {agg.field!r} is not supported", agg.span
        )
    if func in ("earliest", "latest"):
        if kind == "time":
            node = exp.Min if func == "earliest" else exp.Max
            return node(this=exp.TimeToUnix(this=col)), "number"
        time_col, _ = resolve("_time")
        node2 = exp.ArgMin if func == "earliest" else exp.ArgMax
        # the value from the earliest (latest) event that has the field
        picked = exp.Filter(
            this=node2(this=col, expression=time_col), expression=exp.Where(this=_not_null(col))
        )
        return picked, kind
    number = exp.TimeToUnix(this=col) if kind == "time" else semantics.to_number(col)
    if func in ("sum", "avg", "mean"):
        node3 = exp.Sum if func == "sum" else exp.Avg
        return node3(this=number), "number"
    extreme = exp.Min if func == "min" else exp.Max
    if kind in ("time", "number"):
        return extreme(this=number), "number"
    # Text: the numeric extreme when any value is a number, else the lexicographic one.
    numeric = semantics.number_text(extreme(this=number))
    return exp.Coalesce(this=numeric, expressions=[extreme(this=col)]), "text"


def frame_resolver(frame: Frame) -> Resolver:
    """Resolve names against the frame's current columns (missing fields are NULL)."""

    def resolve(name: str) -> tuple[exp.Expression, Kind]:
        if name in frame.columns:
            return frame.col(name), frame.columns[name]
        return frame.col(name), "text"

    return resolve


__all__ = [
    "DOUBLE",
    "frame_resolver",
    "lower_aggregation",
    "lower_expr",
    "lower_predicate",
    "time_literal",
]
