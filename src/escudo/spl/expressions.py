"""Parse eval/where expressions (precedence climbing over :func:`tokenize_expression` tokens).

Precedence, lowest first: ``OR``, ``XOR``, ``AND``, ``NOT``, comparisons (``= == != < > <= >=
LIKE IN``), ``+ - .``, ``* / %``, unary ``-``. Source: Splunk Search Reference, "eval" (operators)
and "Boolean expressions" (for eval/where: NOT, AND, OR as in most languages).

>>> parse_expression('a + 1 > 2 AND NOT isnull(b)').op
'AND'
"""

from __future__ import annotations

from escudo.errors import Span, SplSyntaxError
from escudo.spl import ast
from escudo.spl.limits import MAX_NESTING
from escudo.spl.tokens import Token, tokenize_expression

_COMPARISONS = ("=", "==", "!=", "<", ">", "<=", ">=")


class _ExprParser:
    def __init__(self, source: str, start: int, end: int, origin: str | None) -> None:
        self.source = source
        self.end = end
        self.origin = origin
        try:
            self.tokens = tokenize_expression(source, start, end)
        except SplSyntaxError as exc:
            raise SplSyntaxError(
                exc.message, source=source, offset=exc.offset, origin=origin
            ) from None
        self.pos = 0
        self.level = 0  # parentheses, calls, NOT and unary minus open around the current token
        self.depths: dict[int, int] = {}  # id(node) -> depth of the tree under it (leaves: 1)

    def enter(self, tok: Token) -> None:
        """One more level of nesting at ``tok``; :data:`MAX_NESTING` bounds the recursion."""
        self.level += 1
        if self.level > MAX_NESTING:
            raise self.too_deep(tok)

    def too_deep(self, tok: Token) -> SplSyntaxError:
        return self.error(f"expression nested deeper than {MAX_NESTING} levels", tok)

    def node(self, node: ast.Expr, tok: Token, *children: ast.Expr) -> ast.Expr:
        """``node`` (made from ``children`` at ``tok``), refused past :data:`MAX_NESTING` levels."""
        depth = 1 + max((self.depths.get(id(c), 1) for c in children), default=1)
        if depth > MAX_NESTING:
            raise self.too_deep(tok)
        self.depths[id(node)] = depth
        return node

    def chain(self, op: str, items: list[ast.Expr], ops: list[Token]) -> ast.Expr:
        """``items[0] op items[1] op ...`` for an associative ``op`` (AND, OR, XOR): left to right
        when short, balanced when long, so a where clause of 10,000 ORs nests 14 levels, not
        10,000 (AND, OR and XOR are associative in SQL's three-valued logic, as in Splunk)."""
        if len(items) <= 8:
            left = items[0]
            for tok, right in zip(ops, items[1:], strict=True):
                left = self.node(ast.BinOp(op, left, right, _span(left, right)), tok, left, right)
            return left
        middle = len(items) // 2
        left = self.chain(op, items[:middle], ops[: middle - 1])
        right = self.chain(op, items[middle:], ops[middle:])
        return self.node(
            ast.BinOp(op, left, right, _span(left, right)), ops[middle - 1], left, right
        )

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def error(self, message: str, tok: Token | None) -> SplSyntaxError:
        offset = tok.span.start if tok is not None else self.end
        end = tok.span.end if tok is not None else None
        return SplSyntaxError(
            message, source=self.source, offset=offset, end=end, origin=self.origin
        )

    def next(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {what}, found end of expression", None)
        self.pos += 1
        return tok

    def keyword(self, *words: str) -> Token | None:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.value.upper() in words:
            self.pos += 1
            return tok
        return None

    def op(self, *ops: str) -> Token | None:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.value in ops:
            self.pos += 1
            return tok
        return None

    # precedence levels
    def parse_or(self) -> ast.Expr:
        items, ops = [self.parse_xor()], []
        while (tok := self.keyword("OR")) is not None:
            ops.append(tok)
            items.append(self.parse_xor())
        return self.chain("OR", items, ops)

    def parse_xor(self) -> ast.Expr:
        items, ops = [self.parse_and()], []
        while (tok := self.keyword("XOR")) is not None:
            ops.append(tok)
            items.append(self.parse_and())
        return self.chain("XOR", items, ops)

    def parse_and(self) -> ast.Expr:
        items, ops = [self.parse_not()], []
        while (tok := self.keyword("AND")) is not None:
            ops.append(tok)
            items.append(self.parse_not())
        return self.chain("AND", items, ops)

    def parse_not(self) -> ast.Expr:
        tok = self.keyword("NOT")
        if tok is not None:
            self.enter(tok)
            operand = self.parse_not()
            self.level -= 1
            return self.node(
                ast.UnaryOp("NOT", operand, tok.span.merge(operand.span)), tok, operand
            )
        return self.parse_comparison()

    def parse_comparison(self) -> ast.Expr:
        left = self.parse_additive()
        if (tok := self.op(*_COMPARISONS)) is not None:
            right = self.parse_additive()
            op = "=" if tok.value == "==" else tok.value
            return self.node(ast.BinOp(op, left, right, _span(left, right)), tok, left, right)
        if (tok := self.keyword("LIKE")) is not None:
            right = self.parse_additive()
            return self.node(ast.BinOp("LIKE", left, right, _span(left, right)), tok, left, right)
        if (tok := self.keyword("IN")) is not None:
            open_tok = self.next("'('")
            if open_tok.kind != "lparen":
                raise self.error("expected '(' after IN", open_tok)
            self.enter(open_tok)
            values = self.arguments()
            self.level -= 1
            close = self.tokens[self.pos - 1]
            node = ast.InExpr(left, tuple(values), left.span.merge(close.span))
            return self.node(node, tok, left, *values)
        return left

    def parse_additive(self) -> ast.Expr:
        left = self.parse_multiplicative()
        while (tok := self.op("+", "-", ".")) is not None:
            right = self.parse_multiplicative()
            left = self.node(
                ast.BinOp(tok.value, left, right, _span(left, right)), tok, left, right
            )
        return left

    def parse_multiplicative(self) -> ast.Expr:
        left = self.parse_unary()
        while (tok := self.op("*", "/", "%")) is not None:
            right = self.parse_unary()
            left = self.node(
                ast.BinOp(tok.value, left, right, _span(left, right)), tok, left, right
            )
        return left

    def parse_unary(self) -> ast.Expr:
        tok = self.op("-", "+")
        if tok is not None:
            self.enter(tok)
            operand = self.parse_unary()
            self.level -= 1
            if tok.value == "+":
                return operand
            return self.node(ast.UnaryOp("-", operand, tok.span.merge(operand.span)), tok, operand)
        return self.parse_primary()

    def parse_primary(self) -> ast.Expr:
        tok = self.next("a value")
        if tok.kind == "lparen":
            self.enter(tok)
            inner = self.parse_or()
            self.level -= 1
            close = self.next("')'")
            if close.kind != "rparen":
                raise self.error("expected ')'", close)
            return inner
        if tok.kind == "number":
            return ast.Literal(tok.value, "number", tok.span)
        if tok.kind == "string":
            return ast.Literal(tok.value, "string", tok.span)
        if tok.kind == "squote":
            return ast.FieldRef(tok.value, tok.span)
        if tok.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "lparen":
                self.pos += 1
                self.enter(tok)
                args = self.arguments()
                self.level -= 1
                close = self.tokens[self.pos - 1]
                call = ast.Call(tok.value.lower(), tuple(args), tok.span.merge(close.span))
                return self.node(call, tok, *args)
            if tok.value.upper() in ("AND", "OR", "NOT", "XOR", "LIKE", "IN"):
                raise self.error(f"{tok.value} needs an operand", tok)
            return ast.FieldRef(tok.value, tok.span)
        raise self.error(f"unexpected {tok.value!r}", tok)

    def arguments(self) -> list[ast.Expr]:
        """Comma-separated expressions up to and including ``)``."""
        args: list[ast.Expr] = []
        tok = self.peek()
        if tok is not None and tok.kind == "rparen":
            self.pos += 1
            return args
        while True:
            args.append(self.parse_or())
            tok = self.next("')'")
            if tok.kind == "rparen":
                return args
            if tok.kind != "comma":
                raise self.error("expected ',' or ')'", tok)


def _span(left: ast.Expr, right: ast.Expr) -> Span:
    return left.span.merge(right.span)


def parse_expression(
    source: str, start: int = 0, end: int | None = None, *, origin: str | None = None
) -> ast.Expr:
    """Parse one expression in ``source[start:end]``; it must use the whole range."""
    p = _ExprParser(source, start, len(source) if end is None else end, origin)
    if not p.tokens:
        raise p.error("expected an expression", None)
    expr = p.parse_or()
    if (tok := p.peek()) is not None:
        raise p.error(f"unexpected {tok.value!r}", tok)
    return expr


def parse_assignments(
    source: str, start: int = 0, end: int | None = None, *, origin: str | None = None
) -> list[ast.Assignment]:
    """Parse ``field=expr, field2=expr2`` (eval's arguments).

    >>> [a.field for a in parse_assignments('x=1, "y z"=x+1')]
    ['x', 'y z']
    """
    p = _ExprParser(source, start, len(source) if end is None else end, origin)
    out: list[ast.Assignment] = []
    while True:
        target = p.next("a field name")
        if target.kind not in ("name", "string", "squote"):
            raise p.error("expected a field name", target)
        eq = p.next("'='")
        if eq.kind != "op" or eq.value != "=":
            raise p.error("expected '='", eq)
        expr = p.parse_or()
        out.append(ast.Assignment(target.value, expr, target.span.merge(expr.span)))
        tok = p.peek()
        if tok is None:
            return out
        if tok.kind != "comma":
            raise p.error(f"unexpected {tok.value!r}", tok)
        p.pos += 1
