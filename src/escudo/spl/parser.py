"""Parse SPL text (macros already expanded) into a :class:`~escudo.spl.ast.Pipeline`.

Each command has one entry in ``PARSERS``; an unknown command is an :class:`UnsupportedSplError`
at its name, anything malformed an :class:`SplSyntaxError` at the offending token. Nothing is
skipped: an option a command does not know is kept in the node and rejected during lowering.

>>> p = parse('| tstats count from datamodel=Endpoint.Processes by Processes.dest | head 3')
>>> [c.name for c in p.commands]
['tstats', 'head']
"""

from __future__ import annotations

from escudo.errors import Span, SplSyntaxError, UnsupportedSplError
from escudo.spl import ast
from escudo.spl.commands import PARSERS, Parser
from escudo.spl.cursor import Cursor, parse_predicate
from escudo.spl.tokens import Token, tokenize

__all__ = ["PARSERS", "Cursor", "Parser", "parse", "parse_predicate"]


# Commands whose argument is a bracketed pipeline kept as text, not a subsearch.
_BRACKETED = ("foreach",)


def _split_commands(
    tokens: list[Token], source: str, origin: str | None
) -> list[tuple[list[Token], int, int]]:
    """Split at top-level pipes: (tokens, start offset, end offset) per command."""
    groups: list[tuple[list[Token], int, int]] = []
    current: list[Token] = []
    start = 0
    depth = 0  # brackets open in a command that takes a bracketed body (foreach)
    for tok in tokens:
        if depth and tok.kind in ("lbracket", "rbracket", "pipe"):
            depth += 1 if tok.kind == "lbracket" else -1 if tok.kind == "rbracket" else 0
            current.append(tok)
            continue
        if tok.kind == "lbracket" and current and current[0].is_word(*_BRACKETED):
            depth = 1
            current.append(tok)
            continue
        if tok.kind == "lbracket":
            head = current[0] if current else None
            if head is not None and head.kind == "word" and head.value.lower() not in PARSERS:
                # "foreach a* [eval ...]": name the command, not its bracketed argument.
                raise UnsupportedSplError(
                    f"unsupported command {head.value!r}",
                    source=source,
                    offset=head.span.start,
                    end=head.span.end,
                    origin=origin,
                )
            raise UnsupportedSplError(
                "subsearches [...] are not supported",
                source=source,
                offset=tok.span.start,
                origin=origin,
            )
        if tok.kind == "rbracket":
            raise SplSyntaxError(
                "unbalanced ']'", source=source, offset=tok.span.start, origin=origin
            )
        if tok.kind == "macro":
            raise UnsupportedSplError(
                f"macro `{tok.value}` was not expanded",
                source=source,
                offset=tok.span.start,
                end=tok.span.end,
                origin=origin,
            )
        if tok.kind == "pipe":
            groups.append((current, start, tok.span.start))
            current, start = [], tok.span.end
            continue
        current.append(tok)
    groups.append((current, start, len(source)))
    return groups


def parse(text: str, *, origin: str | None = None) -> ast.Pipeline:
    """Parse a search (macros expanded) into a :class:`Pipeline`.

    A search not starting with ``|`` begins with an implicit ``search`` command.

    >>> parse('search a=1 | where b>2', origin="x.yml").commands[1].name
    'where'
    """
    tokens = tokenize(text, origin=origin)
    if not tokens:
        raise SplSyntaxError("empty search", source=text, offset=0, origin=origin)
    groups = _split_commands(tokens, text, origin)
    leading_pipe = tokens[0].kind == "pipe"
    if leading_pipe:
        groups = groups[1:]
    commands: list[ast.Command] = []
    for index, (toks, _start, end) in enumerate(groups):
        if not toks:
            raise SplSyntaxError(
                "empty command between pipes",
                source=text,
                offset=min(end, len(text) - 1) if text else 0,
                origin=origin,
            )
        first = toks[0]
        span = Span(first.span.start, toks[-1].span.end)
        implicit = index == 0 and not leading_pipe and not first.is_word("search")
        if implicit:
            cur = Cursor(toks, text, origin, end)
            commands.append(PARSERS["search"](cur, first, span))
            continue
        if first.kind != "word":
            raise SplSyntaxError(
                f"expected a command name, found {first.value!r}",
                source=text,
                offset=first.span.start,
                end=first.span.end,
                origin=origin,
            )
        parser = PARSERS.get(first.value.lower())
        if parser is None:
            raise UnsupportedSplError(
                f"unsupported command {first.value!r}",
                source=text,
                offset=first.span.start,
                end=first.span.end,
                origin=origin,
            )
        cur = Cursor(toks[1:], text, origin, end)
        commands.append(parser(cur, first, span))
    return ast.Pipeline(tuple(commands), text, Span(0, len(text)), origin)
