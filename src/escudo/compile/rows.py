"""Lowering of the commands that filter, order or enrich rows.

regex, dedup, sort, head, tail, rex, lookup (see ``escudo.compile.commands.COMMANDS``).
"""

from __future__ import annotations

import csv
import re

from sqlglot import exp

from escudo.compile import semantics
from escudo.compile.fields import assign
from escudo.compile.schema import (
    HIDDEN_PREFIX,
    Frame,
    OrderKey,
    column,
    ident,
    null_text,
)
from escudo.errors import InputError, Span, SplSyntaxError
from escudo.spl import ast


def lower_regex(command: ast.Command, frame: Frame) -> None:
    """regex field=\"re\" / field!=\"re\": keep rows whose field matches (or not)."""
    assert isinstance(command, ast.Regex)
    pattern = _engine_regex(command.pattern, frame, command.pattern_span)[0]
    if command.field not in frame.columns and command.field == "_raw":
        raise frame.unsupported(
            "regex without field= needs _raw, which this data has not", command.span
        )
    match = exp.RegexpLike(
        this=_as_text(frame, command.field), expression=exp.Literal.string(pattern)
    )
    cond: exp.Expression = match
    if command.negate:
        cond = exp.Not(this=exp.Coalesce(this=match, expressions=[exp.false()]))
    frame.push(frame.select(*frame.passthrough()).where(cond))


def lower_dedup(command: ast.Command, frame: Frame) -> None:
    """dedup [N] fields [keepempty=true]: keep the first N rows (current order) per combination."""
    assert isinstance(command, ast.Dedup)
    keepempty = False
    for opt in command.options:
        if opt.key.lower() != "keepempty":
            raise frame.unsupported(f"dedup option {opt.key}= is not supported", opt.span)
        keepempty = opt.value.lower() in ("true", "t", "1")
    cols = [frame.col(f) for f in command.fields]
    number = exp.Window(
        this=exp.RowNumber(),
        partition_by=cols,
        order=exp.Order(expressions=frame.order_terms()) if frame.order else None,
    )
    rn = HIDDEN_PREFIX + "rn"
    frame.push(frame.select(*frame.passthrough(), exp.alias_(number, ident(rn))))
    keep: exp.Expr = exp.LTE(this=column(rn), expression=exp.Literal.number(command.count))
    present = exp.and_(*[exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for c in cols])
    keep = (
        exp.or_(exp.Paren(this=keep), exp.Not(this=exp.Paren(this=present)))
        if keepempty
        else exp.and_(keep, present)
    )
    frame.push(frame.select(*frame.passthrough()).where(keep))


SORT_DEFAULT_LIMIT = (
    10000  # Search Reference, "sort": "By default, sort returns up to 10,000 results"
)


def lower_sort(command: ast.Command, frame: Frame) -> None:
    """sort [N] [+|-]field ... [desc], stable; auto/num/str modes; 10000 rows unless N is given."""
    assert isinstance(command, ast.Sort)
    keys = []
    for key in command.keys:
        if key.mode == "ip":
            raise frame.unsupported("sort ip() is not supported", key.span)
        mode = key.mode
        if key.field in frame.columns and frame.columns[key.field] in ("time", "number"):
            mode = "plain"
        keys.append(OrderKey(key.field, key.descending != command.reverse, mode))
    previous = [k for k in frame.order if k.name not in {x.name for x in keys}]
    frame.order = keys + previous  # earlier order breaks ties: Splunk's sort is stable
    limit = SORT_DEFAULT_LIMIT if command.limit is None else command.limit
    select = frame.select(*frame.passthrough()).order_by(*frame.order_terms())
    if limit:
        select = select.limit(limit)
    frame.push(select)


def _ordered(select: exp.Select, terms: list[exp.Ordered]) -> exp.Select:
    return select.order_by(*terms) if terms else select


def lower_head(command: ast.Command, frame: Frame) -> None:
    """head N: the first N rows in the current order."""
    assert isinstance(command, ast.Head)
    frame.push(
        _ordered(frame.select(*frame.passthrough()), frame.order_terms()).limit(command.count)
    )


def lower_tail(command: ast.Command, frame: Frame) -> None:
    """tail N: the last N rows, returned last first (Splunk)."""
    assert isinstance(command, ast.Tail)
    terms = frame.order_terms(reverse=True)
    frame.push(_ordered(frame.select(*frame.passthrough()), terms).limit(command.count))
    frame.order = [OrderKey(k.name, not k.descending, k.mode) for k in frame.order]


# --- rex ----------------------------------------------------------------------------------------

_NAMED_GROUP = re.compile(r"\(\?(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")


def _group_numbers(pattern: str) -> dict[str, int]:
    """Named capture groups and their numbers, counted as PCRE does: every ``(`` that is not
    escaped, not inside ``[...]`` and not a ``(?...)`` construct opens a group; named groups count."""
    groups: dict[str, int] = {}
    number = 0
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif ch == "(":
            named = _NAMED_GROUP.match(pattern, i)
            if named is not None:
                number += 1
                groups[named.group(1) or named.group(2)] = number
            elif not pattern.startswith("(?", i):
                number += 1
        i += 1
    return groups


def _engine_regex(pattern: str, frame: Frame, span: Span) -> tuple[str, dict[str, int]]:
    """A PCRE pattern as RE2/Java both read it: named groups made plain, with their numbers.

    ``(?<name>...)`` is PCRE's named group; DuckDB's RE2 wants ``(?P<name>...)`` and Java
    ``(?<name>...)``, so names are removed and groups addressed by number. Features RE2 lacks
    (backreferences, lookaround) are rejected here rather than failing in the engine.
    """
    for construct in ("(?=", "(?!", "(?<=", "(?<!", "(?>"):
        if construct in pattern:
            raise frame.unsupported(
                f"regular expression construct {construct!r} is not supported", span
            )
    if re.search(r"\\[1-9]", pattern):
        raise frame.unsupported("regular expression backreferences are not supported", span)
    engine_pattern = _NAMED_GROUP.sub("(", pattern)
    _check_regex_syntax(engine_pattern, frame, span)
    return engine_pattern, _group_numbers(pattern)


def _check_regex_syntax(pattern: str, frame: Frame, span: Span) -> None:
    problem = semantics.regex_syntax_error(pattern)
    if problem is not None:
        raise SplSyntaxError(
            f"invalid regular expression: {problem}",
            source=frame.source,
            offset=span.start,
            end=span.end,
            origin=frame.origin,
        )


def _as_text(frame: Frame, name: str) -> exp.Expression:
    kind = frame.kind(name)
    col = frame.col(name)
    if kind == "mv":
        return exp.ArrayToString(this=col, expression=exp.Literal.string("\n"))
    return (
        semantics.to_text(col)
        if kind != "time"
        else semantics.number_text(exp.TimeToUnix(this=col))
    )


def lower_rex(command: ast.Command, frame: Frame) -> None:
    """rex [field=f] \"(?<name>re)\": named groups become fields; no match keeps old values."""
    assert isinstance(command, ast.Rex)
    for opt in command.options:
        key = opt.key.lower()
        if key == "max_match" and opt.value == "1":
            continue
        raise frame.unsupported(f"rex option {opt.key}={opt.value} is not supported", opt.span)
    pattern, groups = _engine_regex(command.pattern, frame, command.pattern_span)
    if not groups:
        raise frame.unsupported(
            "rex needs at least one named group (?<name>...)", command.pattern_span
        )
    if command.field == "_raw" and "_raw" not in frame.columns:
        raise frame.unsupported(
            "rex without field= needs _raw, which this data has not", command.span
        )
    text = _as_text(frame, command.field)
    matched = exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))
    for name, number in groups.items():
        extracted = exp.RegexpExtract(
            this=text.copy(),
            expression=exp.Literal.string(pattern),
            group=exp.Literal.number(number),
        )
        value = exp.Case(ifs=[exp.If(this=matched.copy(), true=extracted)], default=frame.col(name))
        assign(frame, name, value, "text")


# --- lookup -------------------------------------------------------------------------------------


def _read_lookup(frame: Frame, command: ast.Lookup) -> tuple[list[str], list[list[str]]]:
    path = frame.lookups.get(command.table) or frame.lookups.get(command.table.removesuffix(".csv"))
    if path is None:
        raise frame.unsupported(
            f"unknown lookup {command.table!r} (no CSV lookup by that name)", command.span
        )
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise InputError(f"cannot read lookup: {exc.strerror}", path=str(path)) from None
    if not rows:
        raise InputError("lookup file is empty", path=str(path), line=1)
    return rows[0], rows[1:]


def lower_lookup(command: ast.Command, frame: Frame) -> None:
    """lookup name field [AS f] [OUTPUT|OUTPUTNEW ...]: exact, case-sensitive match on a CSV lookup.

    When some key matches several rows, the outputs become multivalue fields (the values of the
    matching rows in file order), as Splunk returns them (SR "lookup"); with one match each, they
    stay single values.
    """
    assert isinstance(command, ast.Lookup)
    for opt in command.options:
        # local= and update= choose where Splunk runs the lookup; the match is the same.
        if opt.key.lower() not in ("local", "update"):
            raise frame.unsupported(f"lookup option {opt.key}= is not supported", opt.span)
    header, rows = _read_lookup(frame, command)
    for pair in command.inputs + command.outputs:
        if pair.old not in header:
            raise frame.unsupported(
                f"lookup {command.table!r} has no column {pair.old!r}", pair.span
            )
    for pair in command.inputs:
        if frame.columns.get(pair.new) == "mv":
            raise frame.unsupported(
                f"lookup on the multivalue field {pair.new!r} is not supported", pair.span
            )
    inputs = [p.old for p in command.inputs]
    outputs = list(command.outputs) or [
        ast.Rename(h, h, command.span) for h in header if h not in inputs
    ]
    index = {h: i for i, h in enumerate(header)}
    matches: dict[tuple[str, ...], list[list[str]]] = {}
    for row in rows:
        row = row + [""] * (len(header) - len(row))
        key = tuple(row[index[c]] for c in inputs)
        values = [row[index[p.old]] for p in outputs]
        matches.setdefault(key, [[] for _ in outputs])
        for column_values, value in zip(matches[key], values, strict=True):
            if value != "":  # an empty CSV cell is no value
                column_values.append(value)
    multivalue = any(len(v) > 1 for per_key in matches.values() for v in per_key)

    def cell(values: list[str]) -> exp.Expression:
        if not values:
            return exp.Cast(
                this=exp.Null(),
                to=exp.DataType.build("array<varchar>" if multivalue else "varchar"),
            )
        if multivalue:
            return exp.Array(expressions=[exp.Literal.string(v) for v in values])
        return exp.Literal.string(values[0])

    alias = [f"k{i}" for i in range(len(inputs))] + [f"v{i}" for i in range(len(outputs))]
    table_rows = [
        tuple([exp.Literal.string(k) for k in key] + [cell(v) for v in per_key])
        for key, per_key in matches.items()
    ] or [tuple([null_text() for _ in inputs] + [cell([]) for _ in outputs])]
    table = exp.values(table_rows, alias="lk", columns=alias)
    targets = {p.new: i for i, p in enumerate(outputs)}
    frame.touch(set(targets))
    on = exp.and_(
        *[
            exp.EQ(
                this=exp.Column(this=ident(p.new), table=ident("e"))
                if p.new in frame.columns
                else null_text(),
                expression=exp.Column(this=ident(f"k{i}"), table=ident("lk")),
            )
            for i, p in enumerate(command.inputs)
        ]
    )
    projections: list[exp.Expr] = [
        exp.Column(this=ident(name), table=ident("e"))
        for name in list(frame.columns) + frame.hidden
        if name not in targets
    ]
    columns = {n: k for n, k in frame.columns.items() if n not in targets}
    kind = "mv" if multivalue else "text"
    for name, i in targets.items():
        found: exp.Expression = exp.Column(this=ident(f"v{i}"), table=ident("lk"))
        if command.output_new and name in frame.columns:
            existing: exp.Expression = exp.Column(this=ident(name), table=ident("e"))
            if multivalue and frame.columns[name] != "mv":
                existing = exp.Case(
                    ifs=[
                        exp.If(
                            this=exp.Not(this=exp.Is(this=existing.copy(), expression=exp.Null())),
                            true=exp.Array(expressions=[existing.copy()]),
                        )
                    ]
                )
            found = exp.Coalesce(this=existing, expressions=[found])
        projections.append(exp.alias_(found, ident(name)))
        columns[name] = kind
    assert frame.relation is not None
    select = (
        exp.select(*projections)
        .from_(exp.Table(this=ident(frame.relation), alias=exp.TableAlias(this=ident("e"))))
        .join(table, on=on, join_type="left")
    )
    frame.push(select, columns)
