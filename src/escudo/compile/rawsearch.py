"""Searches that start from events (``sourcetype=linux:audit type=EXECVE ...``), not a data model.

Such a search reads the raw events (``escudo.sources.base.RAW_EVENTS``: ``_time``, ``host``,
``source``, ``sourcetype``, ``_raw``, ``index``) and sees every other field as Splunk does: extracted
from ``_raw`` at search time (``escudo.sources.searchtime``). The frame is *dynamic* while the rows
are still events: before each command, the fields it references that are not columns yet (and
were never assigned, renamed or removed) become columns extracted from ``_raw`` in one stage; a
transforming command (``stats``, ``table``, ``fields`` keeping a list) ends it. Extracting on
first reference gives the same values as Splunk's extracting everything up front, since a field's
extracted value cannot change before the search first touches it.

``foreach`` with wildcards over the dynamic fields (``foreach a* [eval x=mvappend(x, '<<FIELD>>')]``
in ESCU's ``linux_auditd_normalized_execve_process``) cannot list the fields at compile time: it
becomes one fold (DuckDB ``list_reduce``) over the key/value pairs of ``_raw`` whose keys match,
in lexicographic key order (docs/semantics.md, "Raw-event search").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from escudo.compile.schema import (
    HIDDEN_PREFIX,
    VARCHAR,
    Frame,
    OrderKey,
    as_expression,
    column,
    ident,
)
from escudo.errors import SplError
from escudo.sources.base import RAW_EVENTS, FieldLiteral, Requirements
from escudo.sources.searchtime import SEARCH_TIME
from escudo.spl import ast

if TYPE_CHECKING:
    from sqlglot.generator import Generator

# Columns of the raw events relation (datamodels.cim.RAW_EVENTS_DATASET), with their kinds.
RAW_COLUMNS = {
    "_time": "time",
    "host": "text",
    "source": "text",
    "sourcetype": "text",
    "_raw": "text",
    "index": "text",
}
# Search-language names that are not fields (time modifiers, index selectors).
_NOT_FIELDS = frozenset(
    {"earliest", "latest", "starthoursago", "endhoursago", "startdaysago", "enddaysago"}
    | {"index", "splunk_server"}
)
FOREACH_FIELD = HIDDEN_PREFIX + "foreach_field"  # <<FIELD>> while the body is parsed
FOREACH_MATCH = HIDDEN_PREFIX + "foreach_match"  # <<MATCHSTR>>
_KEYS, _VALUES = HIDDEN_PREFIX + "foreach_keys", HIDDEN_PREFIX + "foreach_values"
_ACC, _INDEX = "__acc", "__i"
KEY_CHARS = "[A-Za-z0-9_]*"  # what a wildcard matches in a key (escudo.sources.searchtime.KEY)


def start_raw_search(frame: Frame) -> None:
    """The first stage of a search that starts from events: the raw events within the time
    bounds, newest first (Splunk returns events in reverse time order)."""
    from escudo.compile.expressions import time_literal

    conditions: list[exp.Expr] = []
    if frame.earliest is not None:
        conditions.append(exp.GTE(this=column("_time"), expression=time_literal(frame.earliest)))
    if frame.latest is not None:
        conditions.append(exp.LT(this=column("_time"), expression=time_literal(frame.latest)))
    select = exp.select(*[column(f) for f in RAW_COLUMNS]).from_(exp.Table(this=ident(RAW_EVENTS)))
    if conditions:
        select = select.where(exp.and_(*conditions, copy=False), copy=False)
    frame.ctes.append(("s0", select))
    frame.relation = "s0"
    frame.columns = dict(RAW_COLUMNS)
    frame.datasets.append(RAW_EVENTS)
    frame.requirements[RAW_EVENTS] = ()
    frame.order = [OrderKey("_time", descending=True)]
    frame.started = True
    frame.dynamic = True
    frame.settled = set(RAW_COLUMNS)


def extraction(name: str) -> exp.Expression:
    """Field ``name`` extracted from ``_raw`` by each sourcetype's rule (NULL when absent or empty).

    >>> "REGEXP_EXTRACT" in extraction("comm").sql("duckdb")
    True
    """
    ifs = []
    for sourcetype, rule in SEARCH_TIME.items():
        value: exp.Expression = exp.Nullif(
            this=exp.RegexpExtract(
                this=column("_raw"),
                expression=exp.Literal.string(rule.field_regex(name)),
                group=exp.Literal.number(2),
            ),
            expression=exp.Literal.string(""),
        )
        if rule.quotes:
            value = exp.Trim(this=value, expression=exp.Literal.string(rule.quotes))
        test = exp.EQ(this=column("sourcetype"), expression=exp.Literal.string(sourcetype))
        ifs.append(exp.If(this=test, true=value))
    return exp.Case(ifs=ifs)


# --- what a raw search requires of an event (its prefilter) ---------------------------------------


def ascii_needle(pattern: str) -> str | None:
    """The longest run of ASCII characters between ``pattern``'s ``*`` wildcards, or None.

    The raw-text prefilter compares ASCII case-insensitively, while the search's match folds
    case with the engine's Unicode ``LOWER`` (``CAFÉ`` matches ``café``): only the ASCII runs
    of a literal are sure to be in the raw text as the prefilter compares it (U+212A and U+0130,
    which fold to ASCII letters, make a line always pass: ``base.ALWAYS_PASS``).

    >>> ascii_needle("*/tmp/ngrok*"), ascii_needle("CAFÉ-au-lait"), ascii_needle("*ß*")
    ('/tmp/ngrok', '-au-lait', None)
    """
    runs = [run for piece in pattern.split("*") for run in re.split(r"[^\x00-\x7f]+", piece)]
    return max((r for r in runs if r), key=len, default=None)


def ascii_prefix(pattern: str) -> str:
    """What every value ``pattern`` matches starts with, as the prefilter compares it: the
    pattern up to its first wildcard or non-ASCII character.

    >>> ascii_prefix("/etc/sudoers*"), ascii_prefix("*x"), ascii_prefix("naïve")
    ('/etc/sudoers', '', 'na')
    """
    return re.match(r"[\x00-\x29\x2b-\x7f]*", pattern).group()  # type: ignore[union-attr]


def _field_requirement(field: str, value: str) -> FieldLiteral | None:
    """The requirement ``field=value`` gives, or None: ``sourcetype`` (a column) its longest
    literal run; ``_raw`` its longest ASCII run; a search-time field ``(field, value)``, the
    pattern as written (each source's extraction rule turns it into needles of its raw text:
    ``SEARCH_TIME[...].needles``); the other columns and search-language names nothing."""
    from escudo.compile.pushdown import needle_for

    if field == "sourcetype":
        needle = needle_for(value)
        return ("sourcetype", needle) if needle is not None else None
    if field == "_raw":
        needle = ascii_needle(value)
        return ("_raw", needle) if needle is not None else None
    if field in RAW_COLUMNS or field.lower() in _NOT_FIELDS or "*" in field:
        return None
    if not value:
        return None  # field="" matches nothing (an empty value is no value): nothing to say
    return (field, value)


def raw_requirements(node: ast.Predicate | None) -> Requirements:
    """What every event a raw search's first predicate accepts holds, as a CNF over
    ``("sourcetype", literal)`` (the event's sourcetype contains it), ``("_raw", literal)``
    (its raw text contains it, ASCII case-insensitively) and ``(field, pattern)`` (search-time
    field ``field`` matches ``pattern``, so its extraction rule's text is in the raw text):
    free-text terms' longest ASCII runs, and each ``field=pattern`` or ``IN`` list (docs/
    semantics.md, "Raw-event search", prefilter). NOT, ``!=`` and ``<``/``>`` require nothing.

    >>> from escudo.spl.parser import parse
    >>> raw_requirements(parse('sourcetype=linux:audit comm IN (at, atd) x=*y* ngrok').commands[0].predicate)
    ((('sourcetype', 'linux:audit'),), (('comm', 'at'), ('comm', 'atd')), (('x', '*y*'),), (('_raw', 'ngrok'),))
    """
    from escudo.compile.pushdown import MAX_CLAUSE_NEEDLES, _or

    if node is None:
        return ()
    if isinstance(node, ast.And):
        out: list[tuple[FieldLiteral, ...]] = []
        for item in node.items:
            out += raw_requirements(item)
        return tuple(dict.fromkeys(out))
    if isinstance(node, ast.Or):
        result = raw_requirements(node.items[0])
        for item in node.items[1:]:
            result = _or(result, raw_requirements(item))
        return result
    if isinstance(node, ast.Term):
        needle = ascii_needle(node.value)
        return ((("_raw", needle),),) if needle is not None else ()
    if isinstance(node, ast.Compare | ast.InList):
        values = (node.value,) if isinstance(node, ast.Compare) else node.values
        if isinstance(node, ast.Compare) and node.op not in ("=", "=="):
            return ()
        found = [_field_requirement(node.field, v) for v in values]
        if not found or len(found) > MAX_CLAUSE_NEEDLES or any(f is None for f in found):
            return ()
        return (tuple(dict.fromkeys(f for f in found if f is not None)),)
    return ()  # NOT: nothing required


# --- which fields a command reads ---------------------------------------------------------------


def _expr_fields(node: ast.Expr) -> Iterator[str]:
    if isinstance(node, ast.FieldRef):
        yield node.name
    elif isinstance(node, ast.Call):
        for arg in node.args:
            yield from _expr_fields(arg)
    elif isinstance(node, ast.BinOp):
        yield from _expr_fields(node.left)
        yield from _expr_fields(node.right)
    elif isinstance(node, ast.UnaryOp):
        yield from _expr_fields(node.operand)
    elif isinstance(node, ast.InExpr):
        yield from _expr_fields(node.operand)
        for value in node.values:
            yield from _expr_fields(value)


def _predicate_fields(node: ast.Predicate) -> Iterator[str]:
    if isinstance(node, ast.And | ast.Or):
        for item in node.items:
            yield from _predicate_fields(item)
    elif isinstance(node, ast.Not):
        yield from _predicate_fields(node.item)
    elif isinstance(node, ast.Compare | ast.InList) and node.field.lower() not in _NOT_FIELDS:
        yield node.field


def referenced_fields(command: ast.Command) -> list[str]:
    """The field names ``command`` reads (wildcard patterns included as written)."""
    names: list[str] = []
    if isinstance(command, ast.Search) and command.predicate is not None:
        names += _predicate_fields(command.predicate)
    elif isinstance(command, ast.Where):
        names += _expr_fields(command.expr)
    elif isinstance(command, ast.Eval):
        for assignment in command.assignments:
            names += _expr_fields(assignment.expr)
    elif isinstance(command, ast.RenameCommand):
        names += [r.old for r in command.renames]
    elif isinstance(command, ast.Table | ast.Fields | ast.Dedup):
        names += command.fields
    elif isinstance(command, ast.Stats):
        names += command.by
        names += [a.field for a in command.aggregations if a.field is not None]
    elif isinstance(command, ast.Sort):
        names += [k.field for k in command.keys]
    elif isinstance(command, ast.Rex | ast.Regex | ast.Bin):
        names.append(command.field)
    elif isinstance(command, ast.Fillnull):
        names += command.fields
    elif isinstance(command, ast.Convert):
        names += [c.field for c in command.conversions]
    elif isinstance(command, ast.Lookup):
        names += [r.new for r in command.inputs]
    return list(dict.fromkeys(names))


# --- the dynamic frame ----------------------------------------------------------------------------


def materialize(frame: Frame, names: list[str]) -> None:
    """Make each of ``names`` a column extracted from ``_raw`` unless it is one already or was
    assigned, renamed or removed since the search started (one stage for all)."""
    wanted = [
        n
        for n in dict.fromkeys(names)
        if n not in frame.columns and n not in frame.settled and not n.startswith(HIDDEN_PREFIX)
    ]
    if not wanted or "_raw" not in frame.columns:
        return
    frame.push(
        frame.select(*frame.passthrough(), *[exp.alias_(extraction(n), ident(n)) for n in wanted])
    )
    for name in wanted:
        frame.columns[name] = "text"
        frame.settled.add(name)


def before_command(command: ast.Command, frame: Frame) -> None:
    """In a dynamic frame: extract the fields ``command`` reads; wildcard field lists cannot
    be expanded over fields not extracted yet, so they are an error (except in ``foreach``)."""
    if not frame.dynamic or isinstance(command, ast.Foreach):
        return
    names = referenced_fields(command)
    if isinstance(command, ast.Fillnull) and not command.fields:
        raise frame.unsupported(
            "fillnull without a field list over raw events is not supported "
            "(their fields are extracted on use: list them)",
            command.span,
        )
    for name in names:
        if "*" in name and not (isinstance(command, ast.Fields) and command.remove):
            raise frame.unsupported(
                f"wildcard field name {name!r} over raw events is not supported "
                "(their fields are extracted on use: list them)",
                command.span,
            )
    materialize(frame, [n for n in names if "*" not in n])


def after_command(command: ast.Command, frame: Frame) -> None:
    """Track what the command settled; a transforming command ends the dynamic frame."""
    if not frame.dynamic:
        return
    frame.settled.update(frame.columns)
    if isinstance(command, ast.Fields) and command.remove:
        frame.settled.update(n for n in command.fields if "*" not in n)
    transforming = isinstance(command, ast.Stats | ast.Table) or (
        isinstance(command, ast.Fields) and not command.remove
    )
    if transforming or "_raw" not in frame.columns:
        frame.dynamic = False


# --- expressions the fold needs, written per engine (compile/dialects.py adds SQL_WRITERS) ---------


class KeyOrder(exp.Expression, exp.Func):
    """The 1-based positions of list ``this`` in ascending order of its values, ties in list
    order (DuckDB ``LIST_GRADE_UP``)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class Element(exp.Expression, exp.Func):
    """Element ``expression`` (1-based) of list ``this``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


class FirstPosition(exp.Expression, exp.Func):
    """The 1-based position of the first ``expression`` in list ``this`` (0 or NULL: none)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


def _key_order_spark(gen: Generator, node: exp.Expression) -> str:
    keys = node.this.sql(gen.dialect)
    at_l, at_r = f"ELEMENT_AT({keys}, __l)", f"ELEMENT_AT({keys}, __r)"
    order = (
        f"ARRAY_SORT(SEQUENCE(1, SIZE({keys})), (__l, __r) -> CASE WHEN {at_l} < {at_r} THEN -1 "
        f"WHEN {at_l} > {at_r} THEN 1 ELSE __l - __r END)"
    )
    # SEQUENCE(1, 0) counts down: an empty list has no positions
    return f"IF(SIZE({keys}) = 0, CAST(ARRAY() AS ARRAY<INT>), {order})"


def _call(name: str) -> Callable[[Generator, exp.Expression], str]:
    def write(gen: Generator, node: exp.Expression) -> str:
        args = [node.this, *([node.expression] if node.args.get("expression") else [])]
        return f"{name}({', '.join(a.sql(gen.dialect) for a in args)})"

    return write


def _element_duckdb(gen: Generator, node: exp.Expression) -> str:
    return f"{node.this.sql(gen.dialect)}[{node.expression.sql(gen.dialect)}]"


SQL_WRITERS: dict[str, dict[type[exp.Expr], Callable[..., str]]] = {
    "duckdb": {
        KeyOrder: _call("LIST_GRADE_UP"),
        Element: _element_duckdb,
        FirstPosition: _call("LIST_POSITION"),
    },
    "spark": {
        KeyOrder: _key_order_spark,
        Element: _call("ELEMENT_AT"),
        FirstPosition: _call("ARRAY_POSITION"),
    },
}


# --- foreach ----------------------------------------------------------------------------------------


def _wildcard_regex(pattern: str, group: bool = False) -> str:
    """A foreach pattern as a regex over keys: ``*`` is any run of key characters."""
    star = f"({KEY_CHARS})" if group else KEY_CHARS
    return "".join(star if ch == "*" else re.escape(ch) for ch in pattern)


@contextmanager
def _body_errors(command: ast.Foreach, frame: Frame, name: str) -> Iterator[None]:
    """An error in the body (its text is rewritten per field, so its own offsets do not point
    into the search) is reported on the body, naming the field."""
    try:
        yield
    except SplError as exc:
        span = command.body_span
        raise type(exc)(
            f"in foreach body for {name}: {exc.message}",
            source=frame.source,
            offset=span.start,
            end=span.end,
            origin=frame.origin,
        ) from None


def substitute(body: str, name: str, match: str) -> str:
    """The body's text for one field, as Splunk's ``foreach`` rewrites it (Search Reference,
    "foreach": ``<<FIELD>>`` the field name, ``<<MATCHSTR>>`` what the wildcard matched)."""
    return body.replace("<<FIELD>>", name).replace("<<MATCHSTR>>", match)


def lower_foreach(command: ast.Command, frame: Frame) -> None:
    """foreach fields [eval ...]: the body once per matching field, in lexicographic order."""
    from escudo.compile.commands import lower_command
    from escudo.spl.parser import parse

    assert isinstance(command, ast.Foreach)
    for opt in command.options:
        raise frame.unsupported(f"foreach option {opt.key}= is not supported", opt.span)
    matchers = [re.compile(_wildcard_regex_py(p)) for p in command.fields]
    known = sorted(
        n
        for n in frame.columns
        if not n.startswith(HIDDEN_PREFIX) and any(m.fullmatch(n) for m in matchers)
    )
    if frame.dynamic and any("*" in p for p in command.fields):
        if known:
            raise frame.unsupported(
                f"foreach over raw events with wildcards matching computed fields ({known[0]}) "
                "is not supported",
                command.span,
            )
        _fold(command, frame)
        return
    for name in known if any("*" in p for p in command.fields) else list(command.fields):
        found = next((m.fullmatch(name) for m in matchers if m.fullmatch(name)), None)
        match = found.group(1) if found is not None and found.groups() else name
        with _body_errors(command, frame, name):
            body = parse("| " + substitute(command.body, name, match), origin=frame.origin)
            for inner in body.commands:
                lower_command(inner, frame)


def _wildcard_regex_py(pattern: str) -> str:
    return "".join("(.*?)" if ch == "*" else re.escape(ch) for ch in pattern)


def _replace(
    tree: exp.Expression, columns: dict[str, exp.Expression], strings: dict[str, exp.Expression]
) -> exp.Expression:
    """``tree`` with each column named in ``columns`` and each string literal in ``strings``
    replaced."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in columns:
            return columns[node.name].copy()
        if (
            isinstance(node, exp.Literal)
            and node.is_string
            and any(k in node.name for k in strings)
        ):
            # "<<FIELD>>" inside a string: the name spliced in (foreach substitutes text)
            pattern = "(" + "|".join(re.escape(k) for k in strings) + ")"
            parts = [p for p in re.split(pattern, node.name) if p]
            pieces = [strings[p].copy() if p in strings else exp.Literal.string(p) for p in parts]
            joined = pieces[0]
            for piece in pieces[1:]:
                joined = exp.DPipe(this=joined, expression=piece)
            return joined
        return node

    return as_expression(tree.transform(swap, copy=True))


def _fold(command: ast.Foreach, frame: Frame) -> None:
    """foreach with wildcards over raw events: one ``list_reduce`` over the matching pairs."""
    from escudo.compile.functions import as_multivalue
    from escudo.spl.parser import parse

    text = command.body.replace("<<FIELD>>", FOREACH_FIELD).replace("<<MATCHSTR>>", FOREACH_MATCH)
    with _body_errors(command, frame, "<<FIELD>>"):
        body = parse("| " + text, origin=frame.origin)
    only = body.commands[0] if len(body.commands) == 1 else None
    if not isinstance(only, ast.Eval) or len(only.assignments) != 1:
        raise frame.unsupported(
            "foreach with wildcards over raw events supports one eval assignment as its body",
            command.span,
        )
    target = only.assignments[0].field
    if FOREACH_FIELD in target or FOREACH_MATCH in target:
        raise frame.unsupported(
            "foreach over raw events cannot assign <<FIELD>> (fields extracted on use)",
            command.span,
        )
    reads = [n for n in _expr_fields(only.assignments[0].expr) if not n.startswith(HIDDEN_PREFIX)]
    materialize(frame, [*reads, target])
    stars = [p.count("*") for p in command.fields]
    key_regex = "(?:" + "|".join(_wildcard_regex(p) for p in command.fields) + ")"
    # Stage 1: the matching keys and values of each event (hidden columns).
    keys, values = [], []
    for sourcetype, rule in SEARCH_TIME.items():
        pairs = exp.Literal.string(rule.pairs_regex(key_regex))
        test = exp.EQ(this=column("sourcetype"), expression=exp.Literal.string(sourcetype))
        k = exp.RegexpExtractAll(this=column("_raw"), expression=pairs, group=exp.Literal.number(1))
        v: exp.Expression = exp.RegexpExtractAll(
            this=column("_raw"), expression=pairs.copy(), group=exp.Literal.number(2)
        )
        if rule.quotes:
            trimmed = exp.Trim(this=exp.column("__v"), expression=exp.Literal.string(rule.quotes))
            lam = exp.Lambda(this=trimmed, expressions=[exp.to_identifier("__v")])
            v = exp.Transform(this=v, expression=lam)
        keys.append(exp.If(this=test, true=k))
        values.append(exp.If(this=test.copy(), true=v))
    empty = exp.Cast(this=exp.Array(expressions=[]), to=exp.DataType.build("varchar[]"))
    frame.push(
        frame.select(
            *frame.passthrough({_KEYS, _VALUES}),
            exp.alias_(exp.Case(ifs=keys, default=empty), ident(_KEYS)),
            exp.alias_(exp.Case(ifs=values, default=empty.copy()), ident(_VALUES)),
        )
    )
    frame.hidden += [_KEYS, _VALUES]
    # Stage 2: fold the body over the pairs in key order.
    index = exp.column(_INDEX)
    key = Element(this=column(_KEYS), expression=index)
    value = Element(this=column(_VALUES), expression=index.copy())
    subst: dict[str, exp.Expression] = {
        FOREACH_FIELD: value,
        target: exp.column(_ACC),
    }
    if len(command.fields) == 1 and stars == [1]:
        match_regex = "^" + _wildcard_regex(command.fields[0], group=True) + "$"
        subst[FOREACH_MATCH] = exp.RegexpExtract(
            this=key.copy(), expression=exp.Literal.string(match_regex), group=exp.Literal.number(1)
        )
    kind = frame.kind(target)
    with _body_errors(command, frame, "<<FIELD>>"):
        lowered, result_kind = _lower_body(only.assignments[0].expr, frame, target, kind)
        if result_kind == "mv" and kind != "mv":
            kind = "mv"
            lowered, result_kind = _lower_body(only.assignments[0].expr, frame, target, kind)
    if any(
        isinstance(n, exp.Column) and n.name == FOREACH_MATCH for n in lowered.find_all(exp.Column)
    ) and (FOREACH_MATCH not in subst):
        raise frame.unsupported(
            "<<MATCHSTR>> needs one pattern with one * in foreach over raw events", command.span
        )
    # '<<FIELD>>' reads the field's value, "<<FIELD>>" is its name (the key)
    strings: dict[str, exp.Expression] = {FOREACH_FIELD: key}
    if FOREACH_MATCH in subst:
        strings[FOREACH_MATCH] = subst[FOREACH_MATCH]
    merged = _replace(lowered, subst, strings)
    initial = frame.col(target)
    if kind == "mv":
        initial = as_multivalue(initial)
    else:
        initial = exp.Cast(this=initial, to=VARCHAR.copy())
        merged = exp.Cast(this=merged, to=VARCHAR.copy())
    skip: list[exp.Expression] = [
        exp.EQ(this=value.copy(), expression=exp.Literal.string("")),
        exp.LT(
            this=FirstPosition(this=column(_KEYS), expression=key.copy()),
            expression=index.copy(),
        ),
    ]
    gone = sorted(frame.settled - set(frame.columns))
    if gone:
        listed = exp.Array(expressions=[exp.Literal.string(n) for n in gone])
        skip.append(exp.ArrayContains(this=listed, expression=key.copy()))
    step = exp.If(this=exp.or_(*skip, copy=False), true=exp.column(_ACC), false=merged)
    fold = exp.Reduce(
        this=KeyOrder(this=column(_KEYS)),
        initial=initial,
        merge=exp.Lambda(this=step, expressions=[ident_(_ACC), ident_(_INDEX)]),
    )
    frame.touch({target})
    frame.hidden = [h for h in frame.hidden if h not in (_KEYS, _VALUES)]
    columns = {n: k for n, k in frame.columns.items() if n != target}
    columns[target] = kind
    frame.push(
        frame.select(*frame.passthrough({_KEYS, _VALUES, target}), exp.alias_(fold, ident(target))),
        columns,
    )
    frame.settled.add(target)


def ident_(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


def _lower_body(expr: ast.Expr, frame: Frame, target: str, kind: str) -> tuple[exp.Expression, str]:
    """The body's expression with the placeholders and the target as columns of ``kind``."""
    from dataclasses import replace

    from escudo.compile.expressions import expr_kind, lower_expr

    columns = {**frame.columns, target: kind, FOREACH_FIELD: "text", FOREACH_MATCH: "text"}
    inner = replace(frame, columns=columns)
    lowered = lower_expr(expr, inner)
    return lowered, expr_kind(expr, inner, lowered)
