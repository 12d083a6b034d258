"""The lowering state: the chain of SQL stages built so far, the current columns and row order.

Each SPL command becomes one or more stages (``WITH s1 AS (...), s2 AS (...) SELECT ... FROM sN``),
each reading the previous one. The compiler always knows the exact column list of the current
stage (data model fields, then what each command adds, renames or drops), which gives Splunk's
missing-field semantics for free: a field not in the current schema is a NULL, never a SQL error.

Row order matters in SPL (``head``, ``tail``, ``dedup``, result order), but SQL keeps no order
between stages, so the frame carries the current order as sort keys over current columns and every
order-dependent stage sorts explicitly. When a command would drop or change a column the order
depends on, the order is first pinned into a hidden row-number column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlglot import exp

from escudo.errors import Span, UnsupportedSplError
from escudo.sources.base import Requirements

VARCHAR = exp.DataType.build("varchar")
DOUBLE = exp.DataType.build("double")
HIDDEN_PREFIX = "__escudo_"
ORDER_COLUMN = HIDDEN_PREFIX + "order"

# Column kinds the compiler tracks: text (VARCHAR, every data model field), time (_time,
# TIMESTAMP WITH TIME ZONE), number (counts, epoch seconds), mv (VARCHAR[]), any (eval results).
Kind = str


def ident(name: str) -> exp.Identifier:
    """A quoted identifier: SPL field names may hold dots, spaces and SQL keywords."""
    return exp.to_identifier(name, quoted=True)


def column(name: str) -> exp.Column:
    """A quoted column reference; the name is never split on dots."""
    return exp.Column(this=ident(name))


def as_expression(node: exp.Expr) -> exp.Expression:
    """sqlglot's builders (``and_``, ``alias_``) are typed as returning ``Expr``; every node they
    build is an ``Expression``."""
    assert isinstance(node, exp.Expression)
    return node


# The SQL type of each kind, attached to column references as sqlglot's ``.type``.
KIND_TYPES: dict[str, str] = {
    "text": "varchar",
    "time": "timestamptz",
    "number": "double",
    "mv": "array<varchar>",
}


def typed_column(name: str, kind: Kind) -> exp.Column:
    """A column reference annotated with the SQL type of ``kind`` (``any``: unknown)."""
    col = column(name)
    if kind in KIND_TYPES:
        col.type = exp.DataType.build(KIND_TYPES[kind])
    return col


def null_text() -> exp.Expression:
    return exp.Cast(this=exp.Null(), to=VARCHAR.copy())


@dataclass(frozen=True)
class OrderKey:
    """One sort key over a current column; ``mode`` auto|num|str|ip|plain (see :func:`order_terms`)."""

    name: str
    descending: bool = False
    mode: str = "plain"


@dataclass
class Frame:
    """Everything lowering has built so far."""

    source: str  # the expanded SPL, for error carets
    origin: str | None
    earliest: datetime | None = None
    latest: datetime | None = None
    now: datetime | None = None
    lookups: dict[str, Path] = field(default_factory=dict)
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    relation: str | None = None  # the stage (or data model relation) the next stage reads
    columns: dict[str, Kind] = field(default_factory=dict)  # visible columns, in output order
    hidden: list[str] = field(default_factory=list)  # carried columns not shown (row order)
    order: list[OrderKey] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    requirements: dict[str, Requirements] = field(default_factory=dict)
    started: bool = False  # a generating command (tstats, from) has run
    # A search over raw events: fields not in ``columns`` are extracted from _raw on first use,
    # except those ``settled`` (once columns: assigned, renamed, removed). compile/rawsearch.py
    dynamic: bool = False
    settled: set[str] = field(default_factory=set)

    # --- errors -------------------------------------------------------------------------------
    def unsupported(self, message: str, span: Span) -> UnsupportedSplError:
        return UnsupportedSplError(
            message, source=self.source, offset=span.start, end=span.end, origin=self.origin
        )

    # --- columns ------------------------------------------------------------------------------
    def col(self, name: str) -> exp.Expression:
        """The current value of field ``name``: its column, or NULL when the field is missing.

        The column carries its SQL type (``.type``) so builders can tell lists from scalars.
        """
        if name in self.columns:
            return typed_column(name, self.columns[name])
        return null_text()

    def kind(self, name: str) -> Kind:
        return self.columns.get(name, "text")

    def passthrough(self, exclude: set[str] | None = None) -> list[exp.Expression]:
        """Projections that keep every visible and hidden column except ``exclude``."""
        skip = exclude or set()
        names = [n for n in self.columns if n not in skip] + [
            h for h in self.hidden if h not in skip
        ]
        return [column(n) for n in names]

    # --- stages -------------------------------------------------------------------------------
    def select(self, *projections: exp.Expr) -> exp.Select:
        """A new SELECT over the current relation."""
        assert self.relation is not None
        return exp.select(*projections).from_(exp.Table(this=ident(self.relation)))

    def push(self, select: exp.Select, columns: dict[str, Kind] | None = None) -> None:
        """Make ``select`` the current stage; ``columns`` replaces the visible schema if given."""
        name = f"s{len(self.ctes)}"
        self.ctes.append((name, select))
        self.relation = name
        if columns is not None:
            self.columns = columns

    # --- order --------------------------------------------------------------------------------
    def order_terms(
        self, keys: list[OrderKey] | None = None, *, reverse: bool = False
    ) -> list[exp.Ordered]:
        """ORDER BY terms for ``keys`` (default: the current order).

        ``auto`` follows Splunk's sort: numbers first in numeric order, then strings in
        lexicographic order (Search Reference, "sort": "numeric data is sorted before string").
        """
        out: list[exp.Ordered] = []
        for key in self.order if keys is None else keys:
            desc = key.descending != reverse
            col: exp.Expression = (
                column(key.name)
                if key.name in self.columns or key.name in self.hidden
                else null_text()
            )
            if key.mode in ("auto", "num"):
                number = exp.TryCast(this=col.copy(), to=DOUBLE.copy())
                if key.mode == "auto":
                    is_text = exp.Is(this=number.copy(), expression=exp.Null())
                    out.append(exp.Ordered(this=is_text, desc=desc, nulls_first=False))
                out.append(exp.Ordered(this=number, desc=desc, nulls_first=False))
                if key.mode == "num":
                    continue
            out.append(exp.Ordered(this=col, desc=desc, nulls_first=False))
        return out

    def pin_order(self) -> None:
        """Materialize the current order as a hidden row number so later stages can drop columns."""
        if not self.order or [k.name for k in self.order] == [ORDER_COLUMN]:
            return
        number = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=self.order_terms()))
        keep = self.passthrough({ORDER_COLUMN})
        self.push(self.select(*keep, exp.alias_(number, ident(ORDER_COLUMN))))
        if ORDER_COLUMN not in self.hidden:
            self.hidden.append(ORDER_COLUMN)
        self.order = [OrderKey(ORDER_COLUMN)]

    def touch(self, names: set[str]) -> None:
        """Call before changing or dropping ``names``: pins the order if it depends on them."""
        if any(k.name in names for k in self.order):
            self.pin_order()

    def final(self) -> exp.Query:
        """The whole query: the stages as CTEs, the visible columns in the current order."""
        assert self.relation is not None
        if not self.columns:
            # Every field was removed: Splunk shows no results. SQL needs one column, which the
            # engine drops again (it keeps only CompiledSearch.output_fields).
            empty = self.select(exp.alias_(exp.Null(), ident(HIDDEN_PREFIX + "none"))).where(
                exp.false()
            )
            for name, cte in self.ctes:
                empty = empty.with_(name, as_=cte.copy(), copy=False)
            return empty
        query = self.select(*[column(n) for n in self.columns])
        terms = self.order_terms()
        if terms:
            query = query.order_by(*terms)
        # One copy of each stage (a 75,000-value IN list is a big stage), not one per CTE added.
        for name, cte in self.ctes:
            query = query.with_(name, as_=cte.copy(), copy=False)
        return query
