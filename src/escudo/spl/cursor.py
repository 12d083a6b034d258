"""The token cursor every command parser reads with, and the search-predicate parser.

>>> from escudo.spl.tokens import tokenize
>>> cur = Cursor(tokenize("a=1 OR b=2 c=3"), "a=1 OR b=2 c=3", None, 14)
>>> type(parse_predicate(cur)).__name__
'And'
"""

from __future__ import annotations

from escudo.errors import Span, SplSyntaxError, UnsupportedSplError
from escudo.spl import ast
from escudo.spl.limits import MAX_NESTING
from escudo.spl.tokens import Token


class Cursor:
    """Tokens of one command, with the source they came from and error helpers."""

    def __init__(self, tokens: list[Token], source: str, origin: str | None, end: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.source = source
        self.origin = origin
        self.end = end  # offset just past the command (where the next pipe is)
        self.level = 0  # parentheses and NOTs open around the current search term

    def enter(self, tok: Token) -> None:
        """One more level of nesting at ``tok``; :data:`MAX_NESTING` bounds the recursion."""
        self.level += 1
        if self.level > MAX_NESTING:
            raise self.error(f"search nested deeper than {MAX_NESTING} levels", tok)

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self, what: str = "a value") -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {what}, found end of command", None)
        self.pos += 1
        return tok

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        tok = self.peek()
        if tok is not None and tok.kind == kind and (value is None or tok.value == value):
            self.pos += 1
            return tok
        return None

    def accept_word(self, *words: str) -> Token | None:
        tok = self.peek()
        if tok is not None and tok.is_word(*words):
            self.pos += 1
            return tok
        return None

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            raise self.error(f"expected {what}", tok)
        self.pos += 1
        return tok

    def value(self, what: str = "a value") -> Token:
        """A word or a quoted string."""
        tok = self.peek()
        if tok is None or tok.kind not in ("word", "string", "squote"):
            raise self.error(f"expected {what}", tok)
        self.pos += 1
        return tok

    def at_option(self) -> bool:
        """``key=value`` ahead?"""
        a, b = self.peek(), self.peek(1)
        return (
            a is not None
            and a.kind == "word"
            and b is not None
            and b.kind == "op"
            and b.value == "="
        )

    def option(self) -> ast.Option:
        key = self.next()
        self.next()  # "="
        value = self.value(f"a value for {key.value}=")
        return ast.Option(key.value, value.value, key.span.merge(value.span))

    def error(self, message: str, tok: Token | None) -> SplSyntaxError:
        offset = tok.span.start if tok is not None else self.end
        end = tok.span.end if tok is not None else None
        return SplSyntaxError(
            message, source=self.source, offset=offset, end=end, origin=self.origin
        )

    def unsupported(self, message: str, span: Span) -> UnsupportedSplError:
        return UnsupportedSplError(
            message, source=self.source, offset=span.start, end=span.end, origin=self.origin
        )

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok.value!r}", tok)


# --- search predicates ------------------------------------------------------------------------
# Precedence in the search language: parentheses, NOT, OR, then AND (OR binds tighter than the
# implicit or explicit AND). Source: Splunk Search Manual, "Boolean expressions" ("The order in
# which Boolean expressions are evaluated with the search command is: expressions within
# parentheses, NOT clauses, OR clauses, AND clauses").


def _stop(tok: Token | None, stops: tuple[str, ...]) -> bool:
    return tok is None or tok.kind == "rparen" or tok.is_word(*stops)


def parse_predicate(cur: Cursor, stops: tuple[str, ...] = ()) -> ast.Predicate | None:
    """Parse a search predicate up to a stop word (e.g. ``by``), ``)`` or the end of the command."""
    items: list[ast.Predicate] = []
    while not _stop(cur.peek(), stops):
        if cur.accept_word("and") is not None:
            continue
        items.append(_parse_or(cur, stops))
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return ast.And(tuple(items), items[0].span.merge(items[-1].span))


def _parse_or(cur: Cursor, stops: tuple[str, ...]) -> ast.Predicate:
    items = [_parse_not(cur, stops)]
    while cur.accept_word("or") is not None:
        items.append(_parse_not(cur, stops))
    if len(items) == 1:
        return items[0]
    return ast.Or(tuple(items), items[0].span.merge(items[-1].span))


def _parse_not(cur: Cursor, stops: tuple[str, ...]) -> ast.Predicate:
    tok = cur.peek()
    if tok is not None and tok.is_word("not") and not _is_comparison_ahead(cur):
        cur.next()
        cur.enter(tok)
        item = _parse_not(cur, stops)
        cur.level -= 1
        return ast.Not(item, tok.span.merge(item.span))
    return _parse_atom(cur, stops)


def _is_comparison_ahead(cur: Cursor) -> bool:
    nxt = cur.peek(1)
    return nxt is not None and nxt.kind == "op"


def _parse_atom(cur: Cursor, stops: tuple[str, ...]) -> ast.Predicate:
    tok = cur.next("a search term")
    if tok.kind == "lparen":
        cur.enter(tok)
        inner = parse_predicate(cur, stops)
        cur.level -= 1
        close = cur.expect("rparen", "')'")
        if inner is None:
            raise cur.error("empty parentheses", close)
        return inner
    if tok.kind not in ("word", "string", "squote"):
        raise cur.error(f"unexpected {tok.value!r} in search", tok)
    if tok.is_word("and", "or"):
        raise cur.error(f"{tok.value} needs a term on each side", tok)
    nxt = cur.peek()
    if nxt is not None and nxt.kind == "op":
        cur.next()
        value = cur.peek()
        if value is None or value.kind not in ("word", "string", "squote"):
            raise cur.error(f"expected a value after {tok.value}{nxt.value}", value)
        cur.next()
        op = "=" if nxt.value == "==" else nxt.value
        return ast.Compare(
            tok.value, op, value.value, value.kind == "string", tok.span.merge(value.span)
        )
    if (
        nxt is not None
        and nxt.is_word("in")
        and (after := cur.peek(1)) is not None
        and after.kind == "lparen"
    ):
        cur.next()
        cur.next()
        values: list[str] = []
        # Items are comma-separated; a stray bare item such as the "." in ("a". "b") (seen in
        # ESCU "Linux Curl Upload File") is kept as one more alternative, as Splunk tolerates it.
        while True:
            item = cur.next("')'")
            if item.kind == "rparen":
                break
            if item.kind == "comma":
                continue
            if item.kind not in ("word", "string", "squote"):
                raise cur.error("expected a value in the IN list", item)
            values.append(item.value)
        if not values:
            raise cur.error("empty IN list", item)
        return ast.InList(tok.value, tuple(values), tok.span.merge(item.span))
    return ast.Term(tok.value, tok.kind == "string", tok.span)


# --- helpers ----------------------------------------------------------------------------------


def field_list(cur: Cursor, stops: tuple[str, ...] = ()) -> list[Token]:
    """Field names separated by spaces and/or commas, up to a stop word or the end."""
    out: list[Token] = []
    while (tok := cur.peek()) is not None and not tok.is_word(*stops):
        if tok.kind == "comma":
            cur.next()
            continue
        if cur.at_option():
            break
        out.append(cur.value("a field name"))
    return out


def aggregations(cur: Cursor, stops: tuple[str, ...]) -> list[ast.Aggregation]:
    """``func(field) [as alias]`` or bare ``count``/``c`` ... up to a stop word."""
    aggs: list[ast.Aggregation] = []
    while (tok := cur.peek()) is not None and not tok.is_word(*stops):
        if tok.kind == "comma":
            cur.next()
            continue
        if tok.kind != "word":
            raise cur.error("expected an aggregation such as count or values(field)", tok)
        cur.next()
        func = tok.value
        field_name: str | None = None
        end = tok.span
        if cur.accept("lparen") is not None:
            arg = cur.peek()
            if arg is not None and arg.is_word("eval"):
                raise cur.unsupported(f"{func}(eval(...)) is not supported", arg.span)
            field_tok = cur.value("a field name")
            field_name = field_tok.value
            end = cur.expect("rparen", "')'").span
        alias = None
        if cur.accept_word("as") is not None:
            alias_tok = cur.value("a name after AS")
            alias = alias_tok.value
            end = alias_tok.span
        aggs.append(ast.Aggregation(func.lower(), field_name, alias, tok.span.merge(end)))
    return aggs


def read_int(cur: Cursor, tok: Token, what: str) -> int:
    try:
        value = int(tok.value)
    except ValueError:
        raise cur.error(f"expected {what}", tok) from None
    if value < 0:
        raise cur.error(f"expected {what}", tok)
    return value
