"""Derive source-neutral :data:`~escudo.sources.base.Requirements` from a search predicate.

A requirement ``(field, literal)`` says: every event the predicate can accept has ``literal`` in
the CIM ``field``'s value (compared case-insensitively, ASCII). The compiler knows CIM, not any
log format: each source turns requirements into raw-text needles in its own encoding
(``Source.needles``: Sysmon keeps a literal verbatim, as its values keep their XML escapes). The
argument, term by term (docs/semantics.md, "Raw-text prefilter"):

* ``field=pattern`` (search semantics: case-insensitive, ``*`` wildcards) accepts a value only if
  the value contains each literal run of the pattern; the longest run is the literal.
* A value the pipeline can invent (the CIM ``"unknown"`` fill, ``0`` port fill, a ``fillnull_value``)
  need not hold it: a pattern that matches such a value gives no requirement.
* AND of terms: the union of their clauses. OR: each clause of one side joined with each of the
  other (distribution), given up (no clause) past a small size. NOT, ``!=``, ``<``, ``>``: nothing.
* Whether a field's value is raw text at all (not a constant or a lookup) is the source's
  mapping's business: the source drops a clause it cannot place.

>>> from escudo.spl.parser import parse
>>> tstats = parse('| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok').commands[0]
>>> requirements_for("Endpoint.Processes", tstats.where)
((('process_name', 'ngrok'),),)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from escudo.datamodels import cim, mappings
from escudo.errors import UnsupportedSplError
from escudo.sources.base import FieldLiteral, RawFilter, Requirements
from escudo.spl import ast

MAX_CLAUSE_NEEDLES = 64  # an OR distributing into wider clauses than this is dropped (still sound)
MAX_CLAUSES = 32
CNF = Requirements  # () means "no constraint"


def _fill_values(dataset: str, field: str, extra: Iterable[str]) -> list[str]:
    """Values the pipeline may put in ``field`` that are not in the raw text."""
    values = list(extra)
    if field in mappings.FILL_UNKNOWN.get(dataset, ()):
        values.append("unknown")
    if field in mappings.FILL_ZERO_IF_NOT_NUMBER.get(dataset, ()):
        values.append("0")
    values.append("")  # an empty value (CIM turns "" into a fill; be safe either way)
    return values


def _wildcard_matches(pattern: str, value: str) -> bool:
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def needle_for(pattern: str, fills: Iterable[str] = ()) -> str | None:
    """The literal a ``field=pattern`` match requires (its longest run between wildcards), or
    None when none is provably required.

    >>> needle_for("*--config*"), needle_for("* echo 3 &gt; *"), needle_for("*unk*", ["unknown"])
    ('--config', ' echo 3 &gt; ', None)
    >>> needle_for("*/var/spool/cron/*")
    '/var/spool/cron/'
    """
    if any(_wildcard_matches(pattern, v) for v in fills):
        return None
    pieces = [p for p in pattern.split("*") if p]
    return max(pieces, key=len) if pieces else None


def _or(left: CNF, right: CNF) -> CNF:
    if not left or not right:
        return ()
    clauses: list[tuple[FieldLiteral, ...]] = []
    for a in left:
        for b in right:
            merged = tuple(dict.fromkeys(a + b))
            if len(merged) > MAX_CLAUSE_NEEDLES:
                continue  # dropping a clause only weakens the filter
            clauses.append(merged)
            if len(clauses) > MAX_CLAUSES:
                return tuple(clauses)
    return tuple(clauses)


def _field_name(dataset: str, name: str) -> str:
    """``Processes.process_name`` -> ``process_name`` (tstats names carry the object prefix)."""
    obj = dataset.split(".", 1)[-1] + "."
    return name[len(obj) :] if name.startswith(obj) else name


def _cnf(node: ast.Predicate, dataset: str, fields: frozenset[str], fills: tuple[str, ...]) -> CNF:
    if isinstance(node, ast.And):
        out: list[tuple[FieldLiteral, ...]] = []
        for item in node.items:
            out += _cnf(item, dataset, fields, fills)
        return tuple(dict.fromkeys(out))
    if isinstance(node, ast.Or):
        parts = [_cnf(item, dataset, fields, fills) for item in node.items]
        result = parts[0]
        for part in parts[1:]:
            result = _or(result, part)
        return result
    if isinstance(node, ast.Compare | ast.InList):
        name = _field_name(dataset, node.field)
        if name not in fields:
            return ()
        values = (node.value,) if isinstance(node, ast.Compare) else node.values
        if isinstance(node, ast.Compare) and node.op != "=":
            return ()
        if len(values) > MAX_CLAUSE_NEEDLES:
            return ()  # a clause this wide is dropped, as in _or (a long IN list: no needle)
        needles = [needle_for(v, _fill_values(dataset, name, fills)) for v in values]
        if any(n is None for n in needles):
            return ()
        return (tuple(dict.fromkeys((name, n) for n in needles if n is not None)),)
    return ()  # NOT, bare terms: no needle


def requirements_for(
    dataset: str, predicate: ast.Predicate | None, *, fill_values: Iterable[str] = ()
) -> Requirements:
    """What a data set's events must satisfy for ``predicate`` to possibly hold (see above).

    ``fill_values`` are extra values the search can give a field without the event holding
    them (tstats ``fillnull_value``).
    """
    if predicate is None:
        return ()
    try:
        fields = frozenset(cim.get_dataset(dataset).all_fields)
    except UnsupportedSplError:  # not a CIM data set escudo knows: nothing to require
        return ()
    return _cnf(predicate, dataset, fields, tuple(fill_values))


def raw_filter_for(
    dataset: str,
    predicate: ast.Predicate | None,
    *,
    fill_values: Iterable[str] = (),
    sourcetype: str | None = None,
) -> RawFilter:
    """The needles one source (default: the default source type) derives from
    :func:`requirements_for` (a convenience for tests and tools)."""
    from escudo.sources.registry import get_sourcetype

    requirements = requirements_for(dataset, predicate, fill_values=fill_values)
    return get_sourcetype(sourcetype).needles(dataset, requirements)
