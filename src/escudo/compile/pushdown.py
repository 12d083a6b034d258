"""Derive a sound raw-text prefilter (:class:`~escudo.sources.base.RawFilter`) from a search predicate.

A needle is kept only when every event the predicate can accept must contain it in its raw text
(compared case-insensitively, ASCII). The argument, term by term (docs/semantics.md, "Raw-text
prefilter"):

* ``field=pattern`` (search semantics: case-insensitive, ``*`` wildcards) accepts a value only if
  the value contains each literal run of the pattern. If the field's CIM value is a substring of a
  raw Sysmon field (``Raw``/``Basename`` derivations; ``Lower`` too, since needles ignore ASCII
  case), the raw text holds that run verbatim: a Sysmon field value is the XML text exactly as
  written, escapes kept (``&gt;`` is five characters of the value, as in Splunk's add-on). So the
  longest run, as it is, is a needle; a search literal ``&gt;`` is the needle ``&gt;``.
* A value the pipeline can invent (the CIM ``"unknown"`` fill, ``0`` port fill, a ``fillnull_value``)
  is not in the raw text: a pattern that matches such a value gives no needle.
* Characters whose raw spelling is not fixed (control characters, which rsyslog writes as
  ``#011``; non-ASCII, which JSON carriers may write as ``\\uXXXX``; ``\\`` and ``/``, which JSON
  may escape) cut the run: any piece of a required text is required too.
* AND of terms: the union of their clauses. OR: each clause of one side joined with each of the
  other (distribution), given up (no clause) past a small size. NOT, ``!=``, ``<``, ``>``: nothing.
* Only data sets fed solely by Sysmon for Linux (XML) get needles at all.

>>> from escudo.spl.parser import parse
>>> tstats = parse('| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok').commands[0]
>>> raw_filter_for("Endpoint.Processes", tstats.where).clauses
(('ngrok',),)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from escudo.datamodels import mappings
from escudo.sources.base import RawFilter
from escudo.spl import ast

MAX_CLAUSE_NEEDLES = 32  # an OR distributing into wider clauses than this is dropped (still sound)
MAX_CLAUSES = 32
_XML_SOURCETYPES = frozenset({mappings.SYSMON})
_SUBSTRING_DERIVATIONS = (mappings.Raw, mappings.Basename, mappings.Lower)

_UNSAFE = re.compile(r"[*\\/\x00-\x1f\x7f]|[^\x00-\x7f]")  # wildcards and unsure characters

CNF = tuple[tuple[str, ...], ...]  # () means "no constraint"


def substring_fields(dataset: str) -> frozenset[str]:
    """CIM fields of ``dataset`` whose every value is a substring of the raw XML text (or empty)."""
    found = [m for (_, ds), m in mappings.MAPPINGS.items() if ds.lower() == dataset.lower()]
    if not found or any(m.sourcetype not in _XML_SOURCETYPES for m in found):
        return frozenset()
    sets = [{name for name, d in m.fields if isinstance(d, _SUBSTRING_DERIVATIONS)} for m in found]
    return frozenset(set.intersection(*sets))


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
    """The needle a ``field=pattern`` match requires, or None when none is provably required.

    >>> needle_for("*--config*"), needle_for("* echo 3 &gt; *"), needle_for("*unk*", ["unknown"])
    ('--config', ' echo 3 &gt; ', None)
    >>> needle_for("*/var/spool/cron/*")
    'spool'
    """
    if any(_wildcard_matches(pattern, v) for v in fills):
        return None
    # Any piece of a literal run is required too, so cutting at characters whose raw spelling
    # depends on the transport keeps the filter sound: JSON carriers write "\\" as "\\\\" and may
    # write "/" as "\\/"; control characters and non-ASCII have several spellings (see above).
    pieces = [p for p in _UNSAFE.split(pattern) if p]
    if not pieces:
        return None
    return max(pieces, key=len)  # verbatim: values keep the XML escapes the raw text holds


def _or(left: CNF, right: CNF) -> CNF:
    if not left or not right:
        return ()
    clauses = []
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
        out: list[tuple[str, ...]] = []
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
        return (tuple(dict.fromkeys(n for n in needles if n is not None)),)
    return ()  # NOT, bare terms: no needle


def raw_filter_for(
    dataset: str, predicate: ast.Predicate | None, *, fill_values: Iterable[str] = ()
) -> RawFilter:
    """The prefilter a data set's raw events must pass for ``predicate`` to possibly hold.

    ``fill_values`` are extra values the search can give a field without the raw text holding
    them (tstats ``fillnull_value``).
    """
    if predicate is None:
        return RawFilter()
    fields = substring_fields(dataset)
    if not fields:
        return RawFilter()
    return RawFilter(_cnf(predicate, dataset, fields, tuple(fill_values)))
