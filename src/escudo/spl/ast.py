"""The SPL syntax tree: small frozen dataclasses, each node with the ``span`` of its source text.

Three small languages meet in a pipeline: the *search* predicate language (``search``, ``tstats
where``: implicit AND, OR, NOT, ``field=value`` with ``*`` wildcards, ``IN``), the *eval*
expression language (``eval``, ``where``) and per-command arguments. A :class:`Pipeline` is a list
of commands; each command node keeps the options it was given verbatim so lowering can reject
what it does not implement.
"""

from __future__ import annotations

from dataclasses import dataclass

from escudo.errors import Span

NO_SPAN = Span(0, 0)  # default for optional sub-spans

# --- search predicates (search, tstats where) -------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``field op value`` in the search language; ``quoted`` if the value was in double quotes."""

    field: str
    op: str  # = != < > <= >=
    value: str
    quoted: bool
    span: Span


@dataclass(frozen=True)
class InList:
    """``field IN (v1, v2, ...)``."""

    field: str
    values: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Term:
    """A bare search term (matches the raw event text), e.g. ``*`` or ``ngrok``."""

    value: str
    quoted: bool
    span: Span


@dataclass(frozen=True)
class And:
    items: tuple[Predicate, ...]
    span: Span


@dataclass(frozen=True)
class Or:
    items: tuple[Predicate, ...]
    span: Span


@dataclass(frozen=True)
class Not:
    item: Predicate
    span: Span


Predicate = Compare | InList | Term | And | Or | Not

# --- eval expressions (eval, where) -----------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """A field name (bare, or single-quoted in eval)."""

    name: str
    span: Span


@dataclass(frozen=True)
class Literal:
    """A string (``"x"``), number (``1.5``) literal; ``kind`` is ``string`` or ``number``."""

    value: str
    kind: str
    span: Span


@dataclass(frozen=True)
class Call:
    """A function call ``name(args...)``."""

    name: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class BinOp:
    """``left op right``; op is one of + - * / % . = == != < > <= >= AND OR XOR LIKE."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    """``NOT x`` or ``-x``."""

    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True)
class InExpr:
    """``x IN (a, b)`` inside eval/where."""

    operand: Expr
    values: tuple[Expr, ...]
    span: Span


Expr = FieldRef | Literal | Call | BinOp | UnaryOp | InExpr

# --- command arguments ------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    """``func(field) [as alias]`` in stats/tstats; ``field`` is None for bare ``count``."""

    func: str
    field: str | None
    alias: str | None
    span: Span

    @property
    def output_name(self) -> str:
        """The result column Splunk names it: the alias, else ``func(field)``, else ``func``."""
        if self.alias:
            return self.alias
        return f"{self.func}({self.field})" if self.field is not None else self.func


@dataclass(frozen=True)
class Option:
    """``key=value`` given to a command."""

    key: str
    value: str
    span: Span


@dataclass(frozen=True)
class Rename:
    """``old AS new`` (either may hold ``*`` wildcards)."""

    old: str
    new: str
    span: Span


@dataclass(frozen=True)
class SortKey:
    """A sort key: ``field``, descending if written ``-field``; ``mode`` auto|num|str|ip."""

    field: str
    descending: bool
    mode: str
    span: Span


@dataclass(frozen=True)
class Assignment:
    """``field = expression`` in eval."""

    field: str
    expr: Expr
    span: Span


@dataclass(frozen=True)
class Conversion:
    """``func(field) [AS alias]`` in convert."""

    func: str
    field: str
    alias: str | None
    span: Span


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Base of every command node: ``name`` as written lower-cased, ``span`` of the whole command."""

    name: str
    span: Span


@dataclass(frozen=True)
class Tstats(Command):
    aggregations: tuple[Aggregation, ...]
    datamodel: str | None  # "Endpoint.Processes"
    where: Predicate | None
    by: tuple[str, ...]
    span_option: Option | None  # by _time span=1h
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class From(Command):
    datamodel: str
    dataset_span: Span = NO_SPAN


@dataclass(frozen=True)
class Search(Command):
    predicate: Predicate | None  # None: match everything


@dataclass(frozen=True)
class Where(Command):
    expr: Expr


@dataclass(frozen=True)
class Eval(Command):
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class RenameCommand(Command):
    renames: tuple[Rename, ...]


@dataclass(frozen=True)
class Convert(Command):
    conversions: tuple[Conversion, ...]
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Table(Command):
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Fields(Command):
    fields: tuple[str, ...]
    remove: bool = False


@dataclass(frozen=True)
class Stats(Command):
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Dedup(Command):
    fields: tuple[str, ...]
    count: int = 1
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Sort(Command):
    keys: tuple[SortKey, ...]
    limit: int | None = None  # None: Splunk's default of 10000
    reverse: bool = False  # trailing "desc"


@dataclass(frozen=True)
class Head(Command):
    count: int = 10


@dataclass(frozen=True)
class Tail(Command):
    count: int = 10


@dataclass(frozen=True)
class Rex(Command):
    pattern: str
    field: str = "_raw"
    pattern_span: Span = NO_SPAN
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Regex(Command):
    pattern: str
    field: str = "_raw"
    negate: bool = False
    pattern_span: Span = NO_SPAN


@dataclass(frozen=True)
class Fillnull(Command):
    value: str = "0"
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup(Command):
    table: str
    inputs: tuple[Rename, ...]  # lookup field AS event field
    outputs: tuple[Rename, ...]  # lookup field AS event field; empty: every other column
    output_new: bool = False  # OUTPUTNEW
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Bin(Command):
    """``bin``/``bucket`` ``field [AS name]`` with options such as ``span=``."""

    field: str
    alias: str | None = None
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Foreach(Command):
    """``foreach fields [body]``: ``body`` is the bracketed text, parsed once per field after
    ``<<FIELD>>``/``<<MATCHSTR>>`` are replaced (Search Reference, "foreach")."""

    fields: tuple[str, ...]
    body: str
    options: tuple[Option, ...] = ()
    body_span: Span = NO_SPAN


@dataclass(frozen=True)
class Pipeline:
    """A parsed search: its commands in order, the source text it came from."""

    commands: tuple[Command, ...]
    source: str
    span: Span
    origin: str | None = None
