"""One ``lower_<command>`` per SPL command, registered in ``COMMANDS``.

The generating commands (tstats, from), search, where and stats live here; field commands in
:mod:`escudo.compile.fields`, row commands in :mod:`escudo.compile.rows`.

Each lowering function receives the command node and the :class:`~escudo.compile.schema.Frame`
and appends SQL stages to it. ``COMMANDS`` is also the source of ``docs/spl-support.md``
(``scripts/gen_spl_support.py``), so each entry says what it supports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from escudo.compile.expressions import (
    frame_resolver,
    lower_aggregation,
    lower_expr,
    lower_predicate,
    time_literal,
)
from escudo.compile.fields import (
    lower_bin,
    lower_convert,
    lower_eval,
    lower_fields,
    lower_fillnull,
    lower_rename,
    lower_table,
)
from escudo.compile.pushdown import requirements_for
from escudo.compile.rawsearch import (
    after_command,
    before_command,
    lower_foreach,
    raw_requirements,
    start_raw_search,
)
from escudo.compile.rows import (
    lower_dedup,
    lower_head,
    lower_lookup,
    lower_regex,
    lower_rex,
    lower_sort,
    lower_tail,
)
from escudo.compile.schema import (
    ORDER_COLUMN,
    Frame,
    Kind,
    OrderKey,
    column,
    ident,
    null_text,
    typed_column,
)
from escudo.datamodels.cim import BASE_FIELDS, Dataset, get_dataset
from escudo.errors import EscudoError, Span, UnsupportedSplError
from escudo.sources.base import RAW_EVENTS
from escudo.spl import ast

Lowering = Callable[[ast.Command, Frame], None]


@dataclass(frozen=True)
class CommandSpec:
    """A supported command: its lowering and a one-line summary of what escudo implements."""

    lower: Lowering
    summary: str
    generating: bool = False  # must be the first command


def _dataset(frame: Frame, name: str, span: Span) -> Dataset:
    try:
        dataset = get_dataset(name)
    except UnsupportedSplError as exc:
        raise frame.unsupported(exc.message, span) from None
    if dataset.name == RAW_EVENTS:  # not a data model: searched by starting from events
        raise frame.unsupported(f"unknown data model dataset {name!r}", span)
    return dataset


def _field_kind(dataset: Dataset, name: str) -> Kind:
    """``_time`` is a timestamp, the data set's multivalue fields are lists, the rest text."""
    if name == "_time":
        return "time"
    return "mv" if name in dataset.multivalue else "text"


def _source_stage(frame: Frame, dataset: Dataset, predicate: exp.Expr | None) -> None:
    """SELECT the data model's columns within the time bounds (and a predicate) as the first stage."""
    conditions: list[exp.Expr] = []
    if frame.earliest is not None:
        conditions.append(exp.GTE(this=column("_time"), expression=time_literal(frame.earliest)))
    if frame.latest is not None:
        conditions.append(exp.LT(this=column("_time"), expression=time_literal(frame.latest)))
    if predicate is not None:
        conditions.append(predicate)
    select = exp.select(*[column(f) for f in dataset.all_fields]).from_(
        exp.Table(this=ident(dataset.relation))
    )
    if conditions:  # fresh trees of this stage: no copies (they can be big, e.g. IN lists)
        select = select.where(exp.and_(*conditions, copy=False), copy=False)
    frame.ctes.append(("s0", select))  # named s0 so stage numbering starts at s1 after it
    frame.relation = "s0"
    frame.columns = {f: _field_kind(dataset, f) for f in dataset.all_fields}
    if dataset.name not in frame.datasets:
        frame.datasets.append(dataset.name)


def _check_first(command: ast.Command, frame: Frame) -> None:
    if frame.started:
        raise frame.unsupported(
            f"{command.name} must be the first command of the search", command.span
        )
    frame.started = True


# --- generating commands ----------------------------------------------------------------------

_TSTATS_OPTIONS = (
    "summariesonly",
    "allow_old_summaries",
    "fillnull_value",
    "chunk_size",
    "include_reduced_buckets",
)


def lower_tstats(command: ast.Command, frame: Frame) -> None:
    """tstats over a data model: where (search language), aggregations, by (with _time span)."""
    assert isinstance(command, ast.Tstats)
    _check_first(command, frame)
    fillnull: str | None = None
    for opt in command.options:
        key = opt.key.lower()
        if key not in _TSTATS_OPTIONS:
            raise frame.unsupported(f"tstats option {opt.key}= is not supported", opt.span)
        if key == "fillnull_value":
            fillnull = opt.value
        # summariesonly / allow_old_summaries choose between accelerated summaries and raw events in
        # Splunk; escudo always computes from the events it reads, which is summariesonly=false.
    if command.datamodel is None:
        raise frame.unsupported("tstats without from datamodel=... is not supported", command.span)
    dataset = _dataset(frame, command.datamodel, command.span)
    prefix = dataset.object_name + "."
    fields = set(dataset.all_fields)

    def resolve(name: str) -> tuple[exp.Expression, Kind]:
        # Splunk addresses data model fields as <Object>.<field>; base fields go unprefixed.
        inner = name[len(prefix) :] if name.startswith(prefix) else name
        if inner in fields and (name.startswith(prefix) or inner in BASE_FIELDS):
            kind = _field_kind(dataset, inner)
            return typed_column(inner, kind), kind
        return null_text(), "text"

    if command.where is not None:
        _reject_nodename(command.where, frame)
    predicate = (
        lower_predicate(command.where, frame, resolve) if command.where is not None else None
    )
    keys: list[tuple[str, exp.Expression, Kind]] = []
    required: list[exp.Expression] = []
    for name in command.by:
        col, kind = resolve(name)
        if kind == "time" and command.span_option is not None:
            from escudo.compile.timefmt import bucket_expression

            opt = command.span_option
            col = bucket_expression(col, opt.value, source=frame.source, offset=opt.span.start)
        elif kind != "time":
            if fillnull is not None:
                # fillnull_value=X: a missing BY field becomes X instead of dropping the event.
                col = exp.Coalesce(this=col, expressions=[exp.Literal.string(fillnull)])
            else:
                required.append(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())))
        keys.append((name, col, kind))
    if command.span_option is not None and not any(k[2] == "time" for k in keys):
        raise frame.unsupported("span= needs _time among the by fields", command.span_option.span)
    conditions = ([predicate] if predicate is not None else []) + required
    _source_stage(frame, dataset, exp.and_(*conditions, copy=False) if conditions else None)
    frame.requirements[dataset.name] = requirements_for(
        dataset.name, command.where, fill_values=(fillnull,) if fillnull else ()
    )
    _aggregate(frame, command.aggregations, keys, command.span, resolve)


def _reject_nodename(predicate: ast.Predicate, frame: Frame) -> None:
    """``where nodename=Object.Child`` picks a data model child node, which escudo does not model;
    as an ordinary field it would be missing and silently match nothing, so it is an error."""
    stack = [predicate]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.And | ast.Or):
            stack.extend(node.items)
        elif isinstance(node, ast.Not):
            stack.append(node.item)
        elif isinstance(node, ast.Compare | ast.InList) and node.field.lower() == "nodename":
            raise frame.unsupported(
                "tstats where nodename= (data model child nodes) is not supported", node.span
            )


def _aggregate(
    frame: Frame,
    aggregations: tuple[ast.Aggregation, ...],
    keys: list[tuple[str, exp.Expression, Kind]],
    span: Span,
    resolve: Callable[[str], tuple[exp.Expression, Kind]],
) -> None:
    """GROUP BY ``keys``: output the BY fields, then each aggregation, ordered by the BY fields."""
    projections: list[exp.Expr] = []
    columns: dict[str, Kind] = {}
    for name, col, kind in keys:
        projections.append(exp.alias_(col, ident(name)))
        columns[name] = kind
    for agg in aggregations:
        value, kind = lower_aggregation(agg, frame, resolve)
        name = agg.output_name
        if name in columns:
            raise frame.unsupported(f"two output fields named {name!r}", agg.span)
        projections.append(exp.alias_(value, ident(name)))
        columns[name] = kind
    select = frame.select(*projections)
    if keys:
        select = select.group_by(*[col.copy() for _, col, _ in keys])
    frame.hidden = []
    frame.push(select, columns)
    # Splunk returns stats/tstats rows sorted by the BY fields (lexicographically).
    frame.order = [OrderKey(name) for name, _, _ in keys]


def lower_from(command: ast.Command, frame: Frame) -> None:
    """from datamodel X.Y (or datamodel:X.Y): the data model's events, newest first."""
    assert isinstance(command, ast.From)
    _check_first(command, frame)
    dataset = _dataset(frame, command.datamodel, command.dataset_span)
    _source_stage(frame, dataset, None)
    frame.requirements[dataset.name] = ()
    frame.order = [OrderKey("_time", descending=True)]


# --- filtering commands -----------------------------------------------------------------------


def lower_search(command: ast.Command, frame: Frame) -> None:
    """search: the search predicate language over the current results."""
    assert isinstance(command, ast.Search)
    starts = not frame.started
    if starts:  # a search that starts from events: sourcetype=linux:audit ...
        start_raw_search(frame)
        frame.requirements[RAW_EVENTS] = raw_requirements(command.predicate)
        before_command(command, frame)
    if command.predicate is None:
        return
    predicate = lower_predicate(command.predicate, frame, frame_resolver(frame))
    if predicate == exp.true():
        return  # "search *" keeps everything; no stage needed
    frame.push(frame.select(*frame.passthrough()).where(predicate))
    if not starts:
        _refine_requirements(command, frame)


def _refine_requirements(command: ast.Search, frame: Frame) -> None:
    """A search directly after ``from datamodel`` can also prefilter the raw events."""
    if len(frame.datasets) != 1 or [n for n, _ in frame.ctes[:-1]] != ["s0"]:
        return
    name = frame.datasets[0]
    extra = requirements_for(name, command.predicate)
    frame.requirements[name] = frame.requirements.get(name, ()) + extra


def lower_where(command: ast.Command, frame: Frame) -> None:
    """where: an eval expression; rows where it is not true are dropped."""
    assert isinstance(command, ast.Where)
    frame.push(frame.select(*frame.passthrough()).where(lower_expr(command.expr, frame)))


# --- aggregation and ordering -----------------------------------------------------------------


def _split_multivalue(frame: Frame, name: str) -> None:
    """One row per value of multivalue field ``name``: stats groups by each value (SR "stats":
    a multivalue BY field counts the event once under each of its values). One field per stage,
    as Spark allows a single generator per SELECT."""
    frame.touch({name})
    projections: list[exp.Expr] = [
        exp.alias_(exp.Explode(this=column(n)), ident(n)) if n == name else column(n)
        for n in list(frame.columns) + frame.hidden
    ]
    columns = dict(frame.columns)
    columns[name] = "text"
    frame.push(frame.select(*projections), columns)


def lower_stats(command: ast.Command, frame: Frame) -> None:
    """stats aggregations [by fields]: rows missing a BY field are not counted (Splunk)."""
    assert isinstance(command, ast.Stats)
    if command.name != "stats":
        raise frame.unsupported(f"{command.name} is not supported", command.span)
    for opt in command.options:
        raise frame.unsupported(f"stats option {opt.key}= is not supported", opt.span)
    for name in dict.fromkeys(command.by):
        if frame.columns.get(name) == "mv":
            _split_multivalue(frame, name)
    resolve = frame_resolver(frame)
    keys: list[tuple[str, exp.Expression, Kind]] = []
    for name in command.by:
        col, kind = resolve(name)
        keys.append((name, col, kind))
    if keys:
        required = [exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for _, c, _ in keys]
        frame.push(frame.select(*frame.passthrough()).where(exp.and_(*required)))
    _aggregate(frame, command.aggregations, keys, command.span, resolve)


COMMANDS: dict[str, CommandSpec] = {
    "tstats": CommandSpec(
        lower_tstats,
        "count, count(f), dc, values, list, min, max, sum, avg, earliest, latest with AS; from datamodel=X.Y; where in the search language; by fields and _time span=; summariesonly, allow_old_summaries, fillnull_value",
        generating=True,
    ),
    "from": CommandSpec(
        lower_from, "from datamodel X.Y / datamodel:X.Y (events, newest first)", generating=True
    ),
    "search": CommandSpec(
        lower_search,
        "=, !=, <, >, <=, >=, IN, NOT, AND, OR, parentheses, * wildcards (case-insensitive); earliest=, latest=, starthoursago=, endhoursago=; bare terms only with _raw",
    ),
    "where": CommandSpec(lower_where, "eval expressions, case-sensitive comparisons"),
    "foreach": CommandSpec(
        lower_foreach,
        "fields with * wildcards [ body ] with <<FIELD>>, <<MATCHSTR>>; over raw events' search-time fields: one eval assignment",
    ),
    "eval": CommandSpec(
        lower_eval,
        "several assignments, operators + - * / % . and comparisons, functions from the FUNCTIONS table",
    ),
    "rename": CommandSpec(lower_rename, "old AS new, * wildcards, quoted names"),
    "convert": CommandSpec(lower_convert, "ctime(field) [AS name] with timeformat="),
    "table": CommandSpec(lower_table, "fields with * wildcards, in order"),
    "fields": CommandSpec(lower_fields, "fields [+|-] with * wildcards"),
    "stats": CommandSpec(
        lower_stats, "the tstats aggregations, by fields (a multivalue BY field counts each value)"
    ),
    "dedup": CommandSpec(lower_dedup, "dedup [N] fields [keepempty=]"),
    "sort": CommandSpec(lower_sort, "[N] [+|-]field, auto/num/str(), desc; default limit 10000"),
    "head": CommandSpec(lower_head, "head [N] / limit=N"),
    "tail": CommandSpec(lower_tail, "tail [N]"),
    "rex": CommandSpec(lower_rex, "field=, named groups (PCRE (?<name>...)), max_match=1"),
    "regex": CommandSpec(lower_regex, 'field="re" / field!="re"'),
    "fillnull": CommandSpec(lower_fillnull, "value=, field list (default: all fields)"),
    "bin": CommandSpec(lower_bin, "bin _time span=... [AS name] (time buckets only)"),
    "bucket": CommandSpec(lower_bin, "same as bin"),
    "lookup": CommandSpec(
        lower_lookup,
        "CSV lookups: field [AS f], OUTPUT/OUTPUTNEW, update=/local= (exact, case-sensitive; several matches give multivalue outputs)",
    ),
}


def lower_command(command: ast.Command, frame: Frame) -> None:
    """Lower one command through the table; a command parsed but not lowered is unsupported."""
    spec = COMMANDS.get(command.name)
    if spec is None:
        raise frame.unsupported(f"unsupported command {command.name!r}", command.span)
    if not frame.started and not spec.generating and command.name != "search":
        raise frame.unsupported(
            f"{command.name} cannot start a search; begin with | tstats, | from datamodel or events",
            command.span,
        )
    try:
        before_command(command, frame)
        spec.lower(command, frame)
        after_command(command, frame)
    except EscudoError:
        raise
    except ValueError as exc:  # a builder rejected an operator or value
        raise frame.unsupported(str(exc), command.span) from None


__all__ = ["COMMANDS", "ORDER_COLUMN", "CommandSpec", "lower_command"]
