"""Lowering of the commands that add, change, rename or drop fields.

eval, rename, convert, table, fields, fillnull, bin/bucket; each appends stages to the
:class:`~escudo.compile.schema.Frame` (see ``escudo.compile.commands.COMMANDS``).
"""

from __future__ import annotations

import re

from sqlglot import exp

from escudo.compile import semantics
from escudo.compile.expressions import (
    expr_kind,
    lower_expr,
)
from escudo.compile.schema import (
    DOUBLE,
    HIDDEN_PREFIX,
    Frame,
    Kind,
    OrderKey,
    column,
    ident,
    null_text,
)
from escudo.spl import ast


def assign(frame: Frame, name: str, value: exp.Expression, kind: Kind) -> None:
    """A stage that sets field ``name`` (new fields go last; existing ones keep their place)."""
    frame.touch({name})
    projections = []
    for existing in frame.columns:
        projections.append(exp.alias_(value, ident(name)) if existing == name else column(existing))
    if name not in frame.columns:
        projections.append(exp.alias_(value, ident(name)))
    projections += [column(h) for h in frame.hidden]
    columns = dict(frame.columns)
    columns[name] = kind
    frame.push(frame.select(*projections), columns)


def lower_eval(command: ast.Command, frame: Frame) -> None:
    """eval: assignments left to right, each seeing the ones before it."""
    assert isinstance(command, ast.Eval)
    for assignment in command.assignments:
        if assignment.field.startswith(HIDDEN_PREFIX):
            raise frame.unsupported(
                "field names starting with __escudo_ are reserved", assignment.span
            )
        value = lower_expr(assignment.expr, frame)
        assign(frame, assignment.field, value, expr_kind(assignment.expr, frame, value))


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join("(.*)" if ch == "*" else re.escape(ch) for ch in pattern) + r"\Z")


def _expand_fields(frame: Frame, patterns: tuple[str, ...], *, keep_missing: bool) -> list[str]:
    """Field names matching ``patterns`` (``*`` wildcards), in pattern order, without repeats."""
    out: list[str] = []
    for pattern in patterns:
        if "*" in pattern:
            regex = _wildcard_regex(pattern)
            out += [n for n in frame.columns if regex.match(n) and n not in out]
        elif pattern not in out and (keep_missing or pattern in frame.columns):
            out.append(pattern)
    return out


def lower_rename(command: ast.Command, frame: Frame) -> None:
    """rename old AS new, with * wildcards (drop_dm_object_name is rename X.* AS *)."""
    assert isinstance(command, ast.RenameCommand)
    for rename in command.renames:
        if rename.old.count("*") != rename.new.count("*"):
            raise frame.unsupported(
                "rename needs as many * in the new name as in the old one", rename.span
            )
        regex = _wildcard_regex(rename.old)
        mapping: dict[str, str] = {}
        for name in frame.columns:
            match = regex.match(name)
            if match is None:
                continue
            parts = iter(match.groups())
            mapping[name] = "".join(next(parts) if ch == "*" else ch for ch in rename.new)
        if not mapping:
            continue  # renaming a missing field does nothing (Splunk)
        targets = set(mapping.values())
        # A target that already exists (and is not itself renamed away) is replaced.
        overwritten = {n for n in frame.columns if n in targets and n not in mapping}
        frame.touch(overwritten)
        projections: list[exp.Expr] = []
        columns: dict[str, Kind] = {}
        for name, kind in frame.columns.items():
            if name in overwritten:
                continue
            new = mapping.get(name, name)
            if new in columns:  # two fields renamed to one name: the later one wins
                projections = [p for p in projections if p.alias_or_name != new]
            projections.append(
                exp.alias_(column(name), ident(new)) if new != name else column(name)
            )
            columns[new] = kind
        projections += [column(h) for h in frame.hidden]
        frame.order = [
            OrderKey(mapping.get(k.name, k.name), k.descending, k.mode) for k in frame.order
        ]
        frame.push(frame.select(*projections), columns)


def lower_convert(command: ast.Command, frame: Frame) -> None:
    """convert [timeformat=...] ctime(field) [AS name]: epoch seconds to text."""
    assert isinstance(command, ast.Convert)
    from escudo.compile.timefmt import DEFAULT_CONVERT_TIMEFORMAT, ctime_expression

    fmt, fmt_offset = DEFAULT_CONVERT_TIMEFORMAT, command.span.start
    for opt in command.options:
        if opt.key.lower() != "timeformat":
            raise frame.unsupported(f"convert option {opt.key}= is not supported", opt.span)
        fmt, fmt_offset = opt.value, opt.span.start
    for conv in command.conversions:
        if conv.func != "ctime":
            raise frame.unsupported(
                f"convert {conv.func}() is not supported (only ctime)", conv.span
            )
        if "*" in conv.field:
            raise frame.unsupported("wildcard fields in convert are not supported", conv.span)
        if conv.field not in frame.columns:
            continue  # convert leaves a missing field missing
        kind = frame.columns[conv.field]
        col: exp.Expression = column(conv.field)
        if kind == "number":
            col = exp.Cast(this=col, to=DOUBLE.copy())
        elif kind == "time" and conv.field != "_time":
            col = exp.TimeToUnix(this=col)
        value = ctime_expression(col, fmt, source=frame.source, offset=fmt_offset)
        assign(frame, conv.alias or conv.field, value, "text")


def _project(frame: Frame, names: list[str]) -> None:
    frame.touch(set(frame.columns) - set(names))
    # A listed field that does not exist is an empty (NULL) column.
    projections: list[exp.Expr] = [
        column(n) if n in frame.columns else exp.alias_(null_text(), ident(n)) for n in names
    ]
    projections += [column(h) for h in frame.hidden]
    if not projections:  # nothing left: SQL still needs a column (see Frame.final)
        projections.append(exp.alias_(exp.Null(), ident(HIDDEN_PREFIX + "none")))
        frame.hidden.append(HIDDEN_PREFIX + "none")
    frame.push(frame.select(*projections), {n: frame.kind(n) for n in names})


def lower_table(command: ast.Command, frame: Frame) -> None:
    """table f1 f2 (wildcards): exactly these columns, in this order; a missing field is empty."""
    assert isinstance(command, ast.Table)
    _project(frame, _expand_fields(frame, command.fields, keep_missing=True))


def lower_fields(command: ast.Command, frame: Frame) -> None:
    """fields [+] f1 f2 keeps (plus _time), fields - f1 f2 removes; wildcards allowed."""
    assert isinstance(command, ast.Fields)
    listed = _expand_fields(frame, command.fields, keep_missing=False)
    if command.remove:
        names = [n for n in frame.columns if n not in listed]
    else:
        # fields keeps the internal _time/_raw unless removed explicitly (Search Reference, "fields").
        names = listed + [n for n in ("_time", "_raw") if n in frame.columns and n not in listed]
    _project(frame, names)


def lower_fillnull(command: ast.Command, frame: Frame) -> None:
    """fillnull [value=X] [fields]: replace missing values (all fields when none are listed)."""
    assert isinstance(command, ast.Fillnull)
    names = list(command.fields) or [n for n in frame.columns if not n.startswith("_")]
    value = command.value
    for name in names:
        kind = frame.columns.get(name, "text")
        if kind == "time":
            continue
        col = frame.col(name)
        if kind == "mv":
            filled: exp.Expression = exp.Coalesce(
                this=col, expressions=[exp.Array(expressions=[exp.Literal.string(value)])]
            )
        elif kind in ("number", "any") and name in frame.columns:
            if semantics.is_number(value) and kind == "number":
                filled = exp.Coalesce(this=col, expressions=[semantics.number_literal(value)])
            else:
                filled = exp.Coalesce(
                    this=semantics.to_text(col), expressions=[exp.Literal.string(value)]
                )
                kind = "any"
        else:
            filled = exp.Coalesce(this=col, expressions=[exp.Literal.string(value)])
        assign(frame, name, filled, kind)


def lower_bin(command: ast.Command, frame: Frame) -> None:
    """bin/bucket _time span=...: floor times to span buckets (epoch-aligned, UTC)."""
    assert isinstance(command, ast.Bin)
    from escudo.compile.timefmt import bucket_expression

    span = None
    for opt in command.options:
        if opt.key.lower() != "span":
            raise frame.unsupported(f"{command.name} option {opt.key}= is not supported", opt.span)
        span = opt
    if span is None:
        raise frame.unsupported(f"{command.name} without span= is not supported", command.span)
    if command.field not in frame.columns:
        raise frame.unsupported(
            f"{command.name}: no field {command.field!r} in the results at this point", command.span
        )
    if frame.columns[command.field] != "time":
        # Splunk bins numbers into "10-20" style ranges; only time buckets are implemented.
        raise frame.unsupported(
            f"{command.name} of {command.field!r} (only _time) is not supported", command.span
        )
    value = bucket_expression(
        frame.col(command.field), span.value, source=frame.source, offset=span.span.start
    )
    assign(frame, command.alias or command.field, value, "time")
