"""Tokenizer tests: kinds, values, spans, escapes, errors, and a hypothesis property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.errors import SplError, SplSyntaxError
from escudo.spl.tokens import tokenize, tokenize_expression


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.value) for t in tokenize(text)]


def test_pipeline_tokens() -> None:
    assert kinds('| tstats count where Processes.process IN ("*a*", b) by x') == [
        ("pipe", "|"),
        ("word", "tstats"),
        ("word", "count"),
        ("word", "where"),
        ("word", "Processes.process"),
        ("word", "IN"),
        ("lparen", "("),
        ("string", "*a*"),
        ("comma", ","),
        ("word", "b"),
        ("rparen", ")"),
        ("word", "by"),
        ("word", "x"),
    ]


def test_operators_and_words() -> None:
    assert kinds("a!=b c>=1 d<2 e==f !sh") == [
        ("word", "a"), ("op", "!="), ("word", "b"),
        ("word", "c"), ("op", ">="), ("word", "1"),
        ("word", "d"), ("op", "<"), ("word", "2"),
        ("word", "e"), ("op", "=="), ("word", "f"),
        ("word", "!sh"),
    ]  # fmt: skip


def test_string_escapes_keep_regex_backslashes() -> None:
    (tok,) = tokenize(r'"base64\s+(?<f>-{1,2}d\w*) \"q\" \\"')
    assert tok.kind == "string"
    assert tok.value == r"base64\s+(?<f>-{1,2}d\w*) " + '"q" \\'


def test_pipe_inside_quotes_is_not_a_pipe() -> None:
    assert [t.kind for t in tokenize('search process="*|*" | head')] == [
        "word",
        "word",
        "op",
        "string",
        "pipe",
        "word",
    ]


def test_spans_point_into_the_text() -> None:
    text = 'search  user="a b"'
    toks = tokenize(text)
    assert [text[t.span.start : t.span.end] for t in toks] == ["search", "user", "=", '"a b"']


def test_unterminated_string_is_located() -> None:
    with pytest.raises(SplSyntaxError) as info:
        tokenize('search a="oops')
    err = info.value
    assert (err.message, err.line, err.column) == ("unterminated quoted string", 1, 10)
    assert err.render().endswith('  search a="oops\n           ^')


def test_macro_token() -> None:
    assert kinds("| `m(1)` x") == [("pipe", "|"), ("macro", "m(1)"), ("word", "x")]


def test_expression_tokens() -> None:
    toks = tokenize_expression("x = 'odd name' . Processes.dest + -1.5e2 >= len(a)")
    assert [(t.kind, t.value) for t in toks] == [
        ("name", "x"), ("op", "="), ("squote", "odd name"), ("op", "."), ("name", "Processes.dest"),
        ("op", "+"), ("op", "-"), ("number", "1.5e2"), ("op", ">="), ("name", "len"),
        ("lparen", "("), ("name", "a"), ("rparen", ")"),
    ]  # fmt: skip


def test_expression_bad_character() -> None:
    with pytest.raises(SplSyntaxError) as info:
        tokenize_expression("a ; b")
    assert info.value.column == 3


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab |()[],=<>!\"'`*\\.-\n\t1")), max_size=60))
def test_tokenizer_never_crashes_and_spans_cover_input(text: str) -> None:
    try:
        toks = tokenize(text)
    except SplError as exc:
        assert 0 <= exc.offset <= len(text)
        return
    position = 0
    for tok in toks:
        assert tok.span.start >= position and tok.span.end > tok.span.start
        assert text[position : tok.span.start].strip() == ""  # only whitespace between tokens
        position = tok.span.end
    assert text[position:].strip() == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_expression_tokenizer_only_raises_spl_errors(text: str) -> None:
    try:
        toks = tokenize_expression(text)
    except SplError:
        return
    assert all(0 <= t.span.start < t.span.end <= len(text) for t in toks)
