"""One parser per SPL command, registered in ``PARSERS`` (command name -> parser).

Each parser reads the command's tokens (after its name) through a :class:`Cursor` and returns the
command's AST node; options it does not know stay in the node for lowering to reject.
"""

from __future__ import annotations

from collections.abc import Callable

from escudo.errors import Span
from escudo.spl import ast
from escudo.spl.cursor import Cursor, aggregations, field_list, parse_predicate, read_int
from escudo.spl.expressions import parse_expression
from escudo.spl.tokens import Token

Parser = Callable[[Cursor, Token, Span], ast.Command]


def _parse_tstats(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    while cur.at_option():
        options.append(cur.option())
    aggs = aggregations(cur, ("from", "where", "by"))
    if not aggs:
        raise cur.error("tstats needs an aggregation such as count", cur.peek())
    datamodel = None
    if cur.accept_word("from") is not None:
        key = cur.next("datamodel=")
        if not key.is_word("datamodel"):
            raise cur.unsupported(
                f"tstats from {key.value} (only datamodel=) is not supported", key.span
            )
        cur.expect("op", "'='")
        datamodel = cur.value("a data model name").value
    where = None
    if cur.accept_word("where") is not None:
        where = parse_predicate(cur, ("by",))
        if where is None:
            raise cur.error("empty where clause", cur.peek())
        if (tok := cur.peek()) is not None and tok.kind == "rparen":
            raise cur.error("unbalanced ')'", tok)
    by: list[str] = []
    span_option = None
    if cur.accept_word("by") is not None:
        while not cur.at_end():
            if cur.accept("comma") is not None:
                continue
            if cur.at_option():
                opt = cur.option()
                if opt.key.lower() != "span":
                    raise cur.unsupported(f"tstats by option {opt.key}= is not supported", opt.span)
                span_option = opt
                continue
            by.append(cur.value("a field name").value)
        if not by:
            raise cur.error("expected fields after by", None)
    cur.done()
    return ast.Tstats(
        name.value.lower(),
        span,
        tuple(aggs),
        datamodel,
        where,
        tuple(by),
        span_option,
        tuple(options),
    )


def _parse_from(cur: Cursor, name: Token, span: Span) -> ast.Command:
    tok = cur.next("datamodel")
    text = tok.value
    if tok.is_word("datamodel"):
        cur.accept("op", "=")  # "from datamodel=X.Y" is read like "from datamodel X.Y"
        target = cur.value("a data model name")
        value, vspan = target.value.lstrip(":"), target.span
    elif tok.kind == "word" and text.lower().startswith("datamodel:"):
        value, vspan = text.split(":", 1)[1], tok.span
        if not value:
            target = cur.value("a data model name")
            value, vspan = target.value, target.span
    else:
        raise cur.unsupported(f"from {text} (only datamodel) is not supported", tok.span)
    cur.done()
    return ast.From(name.value.lower(), span, value, vspan)


def _parse_search(cur: Cursor, name: Token, span: Span) -> ast.Command:
    pred = parse_predicate(cur)
    if (tok := cur.peek()) is not None:
        raise cur.error("unbalanced ')'", tok)
    return ast.Search("search", span, pred)


def _expression_range(cur: Cursor) -> tuple[int, int]:
    first = cur.peek()
    start = first.span.start if first is not None else cur.end
    cur.pos = len(cur.tokens)
    return start, cur.end


def _parse_where(cur: Cursor, name: Token, span: Span) -> ast.Command:
    start, end = _expression_range(cur)
    expr = parse_expression(cur.source, start, end, origin=cur.origin)
    return ast.Where("where", span, expr)


def _parse_eval(cur: Cursor, name: Token, span: Span) -> ast.Command:
    from escudo.spl.expressions import parse_assignments

    start, end = _expression_range(cur)
    assignments = parse_assignments(cur.source, start, end, origin=cur.origin)
    return ast.Eval("eval", span, tuple(assignments))


def _parse_rename(cur: Cursor, name: Token, span: Span) -> ast.Command:
    renames: list[ast.Rename] = []
    while not cur.at_end():
        if cur.accept("comma") is not None:
            continue
        old = cur.value("a field name")
        if cur.accept_word("as") is None:
            raise cur.error("expected AS", cur.peek())
        new = cur.value("a new field name")
        renames.append(ast.Rename(old.value, new.value, old.span.merge(new.span)))
    if not renames:
        raise cur.error("rename needs 'field AS newname'", None)
    return ast.RenameCommand("rename", span, tuple(renames))


def _parse_convert(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    conversions: list[ast.Conversion] = []
    while not cur.at_end():
        if cur.accept("comma") is not None:
            continue
        if cur.at_option():
            options.append(cur.option())
            continue
        func = cur.expect("word", "a conversion such as ctime(field)")
        cur.expect("lparen", "'('")
        field_tok = cur.value("a field name")
        close = cur.expect("rparen", "')'")
        alias = None
        end = close.span
        if cur.accept_word("as") is not None:
            alias_tok = cur.value("a name after AS")
            alias, end = alias_tok.value, alias_tok.span
        conversions.append(
            ast.Conversion(func.value.lower(), field_tok.value, alias, func.span.merge(end))
        )
    if not conversions:
        raise cur.error("convert needs a conversion such as ctime(field)", None)
    return ast.Convert("convert", span, tuple(conversions), tuple(options))


def _parse_table(cur: Cursor, name: Token, span: Span) -> ast.Command:
    fields = [t.value for t in field_list(cur)]
    cur.done()
    if not fields:
        raise cur.error("table needs at least one field", None)
    return ast.Table("table", span, tuple(fields))


def _parse_fields(cur: Cursor, name: Token, span: Span) -> ast.Command:
    remove = False
    tok = cur.peek()
    if tok is not None and tok.kind == "word" and tok.value in ("+", "-"):
        remove = tok.value == "-"
        cur.next()
    elif (
        tok is not None
        and tok.kind == "word"
        and tok.value[:1] in ("+", "-")
        and len(tok.value) > 1
    ):
        # "fields -x" written without a space: the sign belongs to the command.
        remove = tok.value[0] == "-"
        cur.tokens[cur.pos] = Token(tok.kind, tok.value[1:], Span(tok.span.start + 1, tok.span.end))
    fields = [t.value for t in field_list(cur)]
    cur.done()
    if not fields:
        raise cur.error("fields needs at least one field", None)
    return ast.Fields("fields", span, tuple(fields), remove)


def _parse_stats(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    while cur.at_option():
        options.append(cur.option())
    aggs = aggregations(cur, ("by",))
    if not aggs:
        raise cur.error("stats needs an aggregation such as count", cur.peek())
    by: list[str] = []
    if cur.accept_word("by") is not None:
        by = [t.value for t in field_list(cur)]
        if not by:
            raise cur.error("expected fields after by", cur.peek())
    cur.done()
    return ast.Stats(name.value.lower(), span, tuple(aggs), tuple(by), tuple(options))


def _parse_dedup(cur: Cursor, name: Token, span: Span) -> ast.Command:
    count = 1
    tok = cur.peek()
    if tok is not None and tok.kind == "word" and tok.value.isdigit():
        count = read_int(cur, cur.next(), "a count")
    options: list[ast.Option] = []
    fields: list[str] = []
    while not cur.at_end():
        if cur.at_option():
            options.append(cur.option())
            continue
        if cur.accept("comma") is not None:
            continue
        tok = cur.value("a field name")
        if tok.is_word("sortby"):
            raise cur.unsupported("dedup sortby is not supported", tok.span)
        fields.append(tok.value)
    if not fields:
        raise cur.error("dedup needs at least one field", None)
    return ast.Dedup("dedup", span, tuple(fields), count, tuple(options))


def _parse_sort(cur: Cursor, name: Token, span: Span) -> ast.Command:
    limit: int | None = None
    tok = cur.peek()
    if tok is not None and tok.kind == "word" and tok.value.isdigit():
        limit = read_int(cur, cur.next(), "a count")
    elif cur.at_option() and tok is not None and tok.value.lower() == "limit":
        opt = cur.option()
        limit = read_int(cur, Token("word", opt.value, opt.span), "a count")
    keys: list[ast.SortKey] = []
    reverse = False
    sign: Token | None = None
    while not cur.at_end():
        tok = cur.next()
        if tok.kind == "comma":
            continue
        if tok.kind == "word" and tok.value in ("+", "-"):
            sign = tok
            continue
        if tok.is_word("d", "desc") and cur.at_end() and keys:
            reverse = True
            continue
        if tok.kind not in ("word", "string"):
            raise cur.error("expected a field to sort by", tok)
        text, start = tok.value, tok.span.start
        descending = sign is not None and sign.value == "-"
        if tok.kind == "word" and text[:1] in ("+", "-") and len(text) > 1:
            descending, text = text[0] == "-", text[1:]
        mode = "auto"
        if (
            tok.kind == "word"
            and text.lower() in ("auto", "num", "str", "ip")
            and cur.accept("lparen")
        ):
            mode = text.lower()
            text = cur.value("a field name").value
            tok = cur.expect("rparen", "')'")
        keys.append(
            ast.SortKey(
                text, descending, mode, Span(sign.span.start if sign else start, tok.span.end)
            )
        )
        sign = None
    if not keys:
        raise cur.error("sort needs at least one field", None)
    return ast.Sort("sort", span, tuple(keys), limit, reverse)


def _parse_head_tail(cur: Cursor, name: Token, span: Span) -> ast.Command:
    count = 10
    if cur.at_option():
        opt = cur.option()
        if opt.key.lower() != "limit":
            raise cur.unsupported(f"{name.value} option {opt.key}= is not supported", opt.span)
        count = read_int(cur, Token("word", opt.value, opt.span), "a count")
    elif not cur.at_end():
        count = read_int(cur, cur.next(), "a count")
    cur.done()
    cls = ast.Head if name.value.lower() == "head" else ast.Tail
    return cls(name.value.lower(), span, count)


def _parse_rex(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    pattern: Token | None = None
    while not cur.at_end():
        if cur.at_option():
            options.append(cur.option())
            continue
        tok = cur.next()
        if tok.kind != "string" or pattern is not None:
            raise cur.error("expected one quoted regular expression", tok)
        pattern = tok
    if pattern is None:
        raise cur.error("rex needs a quoted regular expression", None)
    field_name = "_raw"
    rest = []
    for opt in options:
        if opt.key.lower() == "field":
            field_name = opt.value
        else:
            rest.append(opt)
    return ast.Rex("rex", span, pattern.value, field_name, pattern.span, tuple(rest))


def _parse_regex(cur: Cursor, name: Token, span: Span) -> ast.Command:
    field_name, negate = "_raw", False
    a, b = cur.peek(), cur.peek(1)
    if a is not None and b is not None and a.kind == "word" and b.kind == "op":
        if b.value not in ("=", "!="):
            raise cur.error("expected = or !=", b)
        field_name, negate = a.value, b.value == "!="
        cur.pos += 2
    pattern = cur.expect("string", "a quoted regular expression")
    cur.done()
    return ast.Regex("regex", span, pattern.value, field_name, negate, pattern.span)


def _parse_fillnull(cur: Cursor, name: Token, span: Span) -> ast.Command:
    value = "0"
    fields: list[str] = []
    while not cur.at_end():
        if cur.at_option():
            opt = cur.option()
            if opt.key.lower() != "value":
                raise cur.unsupported(f"fillnull option {opt.key}= is not supported", opt.span)
            value = opt.value
            continue
        if cur.accept("comma") is not None:
            continue
        fields.append(cur.value("a field name").value)
    return ast.Fillnull("fillnull", span, value, tuple(fields))


def _lookup_pairs(cur: Cursor, stops: tuple[str, ...]) -> list[ast.Rename]:
    pairs: list[ast.Rename] = []
    while (tok := cur.peek()) is not None and not tok.is_word(*stops):
        if cur.accept("comma") is not None:
            continue
        src = cur.value("a field name")
        dst = src
        if cur.accept_word("as") is not None:
            dst = cur.value("a field name after AS")
        pairs.append(ast.Rename(src.value, dst.value, src.span.merge(dst.span)))
    return pairs


def _parse_lookup(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    while cur.at_option():
        options.append(cur.option())
    table = cur.value("a lookup name")
    inputs = _lookup_pairs(cur, ("output", "outputnew"))
    if not inputs:
        raise cur.error("lookup needs an input field", cur.peek())
    outputs: list[ast.Rename] = []
    output_new = False
    if (kw := cur.accept_word("output", "outputnew")) is not None:
        output_new = kw.value.lower() == "outputnew"
        outputs = _lookup_pairs(cur, ())
        if not outputs:
            raise cur.error(f"expected fields after {kw.value}", None)
    cur.done()
    return ast.Lookup(
        "lookup", span, table.value, tuple(inputs), tuple(outputs), output_new, tuple(options)
    )


def _parse_bin(cur: Cursor, name: Token, span: Span) -> ast.Command:
    options: list[ast.Option] = []
    field_tok: Token | None = None
    alias: str | None = None
    while not cur.at_end():
        if cur.at_option():
            options.append(cur.option())
            continue
        if field_tok is None:
            field_tok = cur.value("a field name")
            continue
        if alias is None and cur.accept_word("as") is not None:
            alias = cur.value("a name after AS").value
            continue
        tok = cur.next()
        raise cur.error(f"unexpected {tok.value!r}", tok)
    if field_tok is None:
        raise cur.error(f"{name.value} needs a field", None)
    return ast.Bin(name.value.lower(), span, field_tok.value, alias, tuple(options))


def _parse_foreach(cur: Cursor, name: Token, span: Span) -> ast.Command:
    """``foreach a* b [fieldstr=...] [ body ]``: the body stays text (parsed per field)."""
    fields: list[str] = []
    options: list[ast.Option] = []
    while (tok := cur.peek()) is not None and tok.kind != "lbracket":
        if cur.at_option():
            options.append(cur.option())
            continue
        if tok.kind == "comma":
            cur.next()
            continue
        fields.append(cur.value("a field name").value)
    opening = cur.next("'[' and the foreach body")
    closing = cur.tokens[-1]
    if closing.kind != "rbracket" or closing is opening:
        raise cur.error("foreach body needs a closing ']'", closing)
    if not fields:
        raise cur.error("foreach needs fields before its body", opening)
    body_span = Span(opening.span.end, closing.span.start)
    body = cur.source[body_span.start : body_span.end]
    if not body.strip():
        raise cur.error("empty foreach body", closing)
    return ast.Foreach(name.value.lower(), span, tuple(fields), body, tuple(options), body_span)


# command name -> parser. Aliases Splunk accepts map to the same entry.
PARSERS: dict[str, Parser] = {
    "tstats": _parse_tstats,
    "from": _parse_from,
    "search": _parse_search,
    "where": _parse_where,
    "eval": _parse_eval,
    "rename": _parse_rename,
    "convert": _parse_convert,
    "table": _parse_table,
    "fields": _parse_fields,
    "stats": _parse_stats,
    "dedup": _parse_dedup,
    "sort": _parse_sort,
    "head": _parse_head_tail,
    "tail": _parse_head_tail,
    "rex": _parse_rex,
    "regex": _parse_regex,
    "fillnull": _parse_fillnull,
    "lookup": _parse_lookup,
    "bin": _parse_bin,
    "bucket": _parse_bin,
    "foreach": _parse_foreach,
}
