"""Needles from the ``where LIKE(...)`` of a raw search, through the commands before it.

ESCU's auditd searches filter late: ``type=EXECVE | eval ... | foreach a* [...] | eval
process_exec=trim(mvjoin(relevant_fields, " ")) | rename host as dest | where LIKE(process_exec,
"%modprobe%")``. ``process_exec`` is the EXECVE record's argument values joined by blanks, each
value a piece of ``_raw``: a literal run of the pattern holding no blank lies inside one value, so
inside ``_raw``. This module follows each field's *provenance* through the per-event commands
before the ``where``: a :data:`Seps` set says the value (or each value of a multivalue field) is
pieces of ``_raw`` and text added by the search, the added text made only of those characters and
standing between any two pieces. A run of the pattern without them is then a substring of
``_raw`` (docs/semantics.md, "Raw-event search: the prefilter before parsing").

>>> from escudo.spl.parser import parse
>>> spl = ('sourcetype=linux:audit type=EXECVE | eval r="" | foreach a* [eval r=mvappend(r, '
...        "'<<FIELD>>')] | eval p=trim(mvjoin(r, \\" \\")) | where LIKE(p, \\"% -rf /%\\")")
>>> later_requirements(parse(spl).commands[1:])
((('_raw', '-rf'),),)
"""

from __future__ import annotations

import re

from escudo.compile.rawsearch import FOREACH_FIELD, ascii_needle
from escudo.sources.base import FieldLiteral, Requirements
from escudo.spl import ast

# A value's provenance: the characters of the text the search put around the pieces of _raw it
# holds (frozenset(): a piece of _raw), or None: anything.
Seps = frozenset[str] | None

RAW_PIECE: frozenset[str] = frozenset()
# Raw-event columns that are not pieces of _raw (host: the transport's, sourcetype: the source's).
_NOT_RAW = frozenset({"_time", "host", "source", "sourcetype", "index"})
# Functions whose value is a piece of their first argument's value, or one of their arguments'.
_PIECE_OF_FIRST = frozenset({"trim", "ltrim", "rtrim"})
_ONE_OF = frozenset({"mvappend", "coalesce"})


def _union(*parts: Seps) -> Seps:
    out: set[str] = set()
    for part in parts:
        if part is None:
            return None
        out |= part
    return frozenset(out)


def _literal(node: ast.Expr) -> str | None:
    return node.value if isinstance(node, ast.Literal) and node.kind == "string" else None


def provenance(node: ast.Expr, fields: dict[str, Seps]) -> Seps:
    """The provenance of an eval expression's value, given the fields' (a field not in
    ``fields`` is extracted from ``_raw`` at search time: a piece of it)."""
    if isinstance(node, ast.FieldRef):
        if node.name in fields:
            return fields[node.name]
        return None if node.name in _NOT_RAW or node.name.startswith("__") else RAW_PIECE
    text = _literal(node)
    if text is not None:  # the search's own text: only its characters ("<<FIELD>>": a name)
        return None if FOREACH_FIELD in text else frozenset(text)
    if isinstance(node, ast.BinOp) and node.op in (".", "+"):
        left, right = _literal(node.left), _literal(node.right)
        if left or right:  # a piece, then the literal (or the other way): they cannot merge
            return _union(provenance(node.left, fields), provenance(node.right, fields))
        return None  # two pieces side by side: a run may span both
    if isinstance(node, ast.Call):
        name, args = node.name.lower(), node.args
        if name == "null" and not args:
            return RAW_PIECE
        if name in _PIECE_OF_FIRST and args:
            return provenance(args[0], fields)
        if name in _ONE_OF and args:
            return _union(*(provenance(a, fields) for a in args))
        if name == "if" and len(args) == 3:
            return _union(provenance(args[1], fields), provenance(args[2], fields))
        if name == "case" and len(args) % 2 == 0:
            return _union(*(provenance(a, fields) for a in args[1::2]))
        if name == "mvjoin" and len(args) == 2:
            separator = _literal(args[1])
            if separator:  # each value, then the separator: values cannot merge
                return _union(provenance(args[0], fields), frozenset(separator))
    return None


def _like_runs(pattern: str) -> list[str]:
    """The literal runs of a SQL LIKE pattern (``%``, ``_``; ``\\`` escapes the next one)."""
    runs, run, escaped = [], [], False
    for char in pattern:
        if escaped:
            run.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_":
            runs.append("".join(run))
            run = []
        else:
            run.append(char)
    runs.append("".join(run))
    return runs


def _like_needle(pattern: str, seps: frozenset[str]) -> str | None:
    """The longest ASCII run of ``pattern``'s literal runs split at ``seps``, or None."""
    pieces: list[str] = []
    for run in _like_runs(pattern):
        pieces += re.split("|".join(map(re.escape, sorted(seps))), run) if seps else [run]
    return max((n for p in pieces if (n := ascii_needle(p)) is not None), key=len, default=None)


def where_requirements(node: ast.Expr, fields: dict[str, Seps]) -> Requirements:
    """What a ``where`` expression requires of ``_raw`` (a CNF of ``("_raw", needle)``): its
    ``LIKE``s over fields of known provenance, through AND and OR."""
    from escudo.compile.pushdown import _or

    if isinstance(node, ast.BinOp) and node.op == "AND":
        left = where_requirements(node.left, fields)
        return tuple(dict.fromkeys(left + where_requirements(node.right, fields)))
    if isinstance(node, ast.BinOp) and node.op == "OR":
        return _or(where_requirements(node.left, fields), where_requirements(node.right, fields))
    target: tuple[ast.Expr, ast.Expr] | None = None
    if isinstance(node, ast.BinOp) and node.op == "LIKE":
        target = (node.left, node.right)
    elif isinstance(node, ast.Call) and node.name.lower() == "like" and len(node.args) == 2:
        target = (node.args[0], node.args[1])
    if target is None:
        return ()
    pattern, seps = _literal(target[1]), provenance(target[0], fields)
    if pattern is None or seps is None:
        return ()
    needle = _like_needle(pattern, seps)
    found: tuple[FieldLiteral, ...] = (("_raw", needle),) if needle is not None else ()
    return (found,) if found else ()


def _foreach(command: ast.Foreach, fields: dict[str, Seps]) -> bool:
    """Follow ``foreach`` (one eval assignment, as the raw fold runs it); False: give up."""
    from escudo.compile.rawsearch import _wildcard_regex_py
    from escudo.errors import SplError
    from escudo.spl.parser import parse

    if command.options or "<<MATCHSTR>>" in command.body:
        return False
    matchers = [re.compile(_wildcard_regex_py(p)) for p in command.fields]
    named = [n for n in fields if any(m.fullmatch(n) for m in matchers)]
    field_seps = _union(RAW_PIECE, *(fields[n] for n in named))  # the values it visits
    try:
        body = parse("| " + command.body.replace("<<FIELD>>", FOREACH_FIELD))
    except SplError:
        return False
    only = body.commands[0] if len(body.commands) == 1 else None
    if not isinstance(only, ast.Eval) or len(only.assignments) != 1:
        return False
    target = only.assignments[0].field
    if FOREACH_FIELD in target:
        return False
    seen = fields.get(target, RAW_PIECE)
    for _ in range(4):  # the fold's value: the body over its own last value, to a fixed point
        found = provenance(
            only.assignments[0].expr, {**fields, target: seen, FOREACH_FIELD: field_seps}
        )
        merged = _union(seen, found)
        if merged == seen:
            fields[target] = merged
            return True
        seen = merged
    return False


def later_requirements(commands: list[ast.Command] | tuple[ast.Command, ...]) -> Requirements:
    """Needles the ``where`` commands after a raw search's first ``search`` give, through the
    per-event commands before them (``eval``, ``foreach``, ``rename``, ``where``, ``search``);
    any other command (``stats``, ``dedup``, ``mvexpand``, ``head``...) ends the analysis, since
    past it a row is no longer one event kept or dropped on its own."""
    fields: dict[str, Seps] = {}
    out: list[tuple[FieldLiteral, ...]] = []
    for command in commands:
        if isinstance(command, ast.Eval):
            for assignment in command.assignments:
                fields[assignment.field] = provenance(assignment.expr, fields)
        elif isinstance(command, ast.RenameCommand):
            if any("*" in r.old or "*" in r.new for r in command.renames):
                return tuple(dict.fromkeys(out))
            moved = {r.new: fields.get(r.old, provenance(ast.FieldRef(r.old, r.span), fields))
                     for r in command.renames}  # fmt: skip
            for rename in command.renames:
                fields[rename.old] = None  # gone: NULL (any requirement is then sound)
            fields.update(moved)
        elif isinstance(command, ast.Foreach):
            if not _foreach(command, fields):
                return tuple(dict.fromkeys(out))
        elif isinstance(command, ast.Where):
            out += where_requirements(command.expr, fields)
        elif not isinstance(command, ast.Search):
            break
    return tuple(dict.fromkeys(out))
