"""SPL tokenizers: one for the pipeline and search language, one for eval/where expressions.

SPL is not one grammar: ``*.service`` is a search term, but ``a*b`` in ``eval`` is a product. The
pipeline tokenizer (:func:`tokenize`) splits the text into words, quoted strings, operators and
brackets, which is enough to find the pipes and to parse search predicates and command options.
Commands whose arguments are expressions (``eval``, ``where``) re-tokenize their own source range
with :func:`tokenize_expression`. Every token carries its :class:`~escudo.errors.Span` in the text.

>>> [(t.kind, t.value) for t in tokenize('| tstats count where a="b c"')]
[('pipe', '|'), ('word', 'tstats'), ('word', 'count'), ('word', 'where'), ('word', 'a'), ('op', '='), ('string', 'b c')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from escudo.errors import Span, SplSyntaxError

# Token kinds of the pipeline tokenizer: word, string (double-quoted, unescaped), squote
# (single-quoted, eval field name), op (= == != < > <= >=), lparen, rparen, comma, pipe, lbracket,
# rbracket, macro (an unexpanded `backtick` call).
PUNCTUATION = {
    "(": "lparen",
    ")": "rparen",
    ",": "comma",
    "|": "pipe",
    "[": "lbracket",
    "]": "rbracket",
}
OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")
# A bare word stops at whitespace, quotes that open a token, brackets, commas, pipes, operators.
_WORD_STOP = set(' \t\r\n"(),|[]=<>`')


@dataclass(frozen=True)
class Token:
    """One token: ``kind``, ``value`` (strings unescaped) and its ``span`` in the source text."""

    kind: str
    value: str
    span: Span

    def is_word(self, *words: str) -> bool:
        """True if this is a bare word equal (case-insensitively) to one of ``words``."""
        return self.kind == "word" and self.value.lower() in words


# The characters that end a run of plain text inside a quoted string, per quote.
_QUOTED_SPECIAL = {'"': re.compile(r'["\\]'), "'": re.compile(r"['\\]")}


def _read_quoted(
    text: str, start: int, quote: str, origin: str | None, stop: int | None = None
) -> tuple[str, int]:
    """Unescape a quoted string starting at ``start`` (ending before ``stop``); returns (value,
    end offset).

    Splunk treats ``\\"`` and ``\\\\`` as escapes inside quotes and leaves any other backslash alone
    (so regexes like ``"base64\\s+"`` reach rex intact). Source: Splunk Search Reference, "Quotes
    and escaping characters". Plain runs are copied at once, so a 1 MB search tokenizes in linear
    time.
    """
    out: list[str] = []
    special = _QUOTED_SPECIAL[quote]
    n = len(text) if stop is None else stop
    i = start + 1
    while (found := special.search(text, i, n)) is not None:
        j = found.start()
        out.append(text[i:j])
        if text[j] == quote:
            return "".join(out), j + 1
        if j + 1 < n and text[j + 1] in (quote, "\\"):
            out.append(text[j + 1])
            i = j + 2
        else:
            out.append("\\")
            i = j + 1
    raise SplSyntaxError("unterminated quoted string", source=text, offset=start, origin=origin)


def tokenize(text: str, *, origin: str | None = None) -> list[Token]:
    """Split SPL pipeline text into tokens (no end-of-input token).

    Raises :class:`SplSyntaxError` for an unterminated string or macro.

    >>> [t.value for t in tokenize('x IN ("a", b*) | head 5')]
    ['x', 'IN', '(', 'a', ',', 'b*', ')', '|', 'head', '5']
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            value, end = _read_quoted(text, i, '"', origin)
            tokens.append(Token("string", value, Span(i, end)))
            i = end
            continue
        if ch == "'":
            value, end = _read_quoted(text, i, "'", origin)
            tokens.append(Token("squote", value, Span(i, end)))
            i = end
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end == -1:
                raise SplSyntaxError("unterminated macro", source=text, offset=i, origin=origin)
            tokens.append(Token("macro", text[i + 1 : end], Span(i, end + 1)))
            i = end + 1
            continue
        if ch in PUNCTUATION:
            tokens.append(Token(PUNCTUATION[ch], ch, Span(i, i + 1)))
            i += 1
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, Span(i, i + len(op))))
            i += len(op)
            continue
        start = i
        # "!" is an operator only in "!="; otherwise it is part of a word (e.g. "!sh").
        while i < n and text[i] not in _WORD_STOP and not text.startswith("!=", i):
            i += 1
        if i == start:  # a lone "!" followed by "=" is handled above; anything else is a word char
            i += 1
        tokens.append(Token("word", text[start:i], Span(start, i)))
    return tokens


# Expression tokens: number, string, squote (field name), name (field or function name, may hold
# dots and wildcards), op (arithmetic, comparison, "." concatenation), lparen, rparen, comma.
_EXPR_OPS = ("==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", ".")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_@$][A-Za-z0-9_@$]*(?:\.[A-Za-z0-9_@$]+)*")


def tokenize_expression(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Tokenize an eval/where expression in ``text[start:end]`` (spans are offsets into ``text``).

    A dot directly between two name characters belongs to the field name (``Processes.dest``);
    a dot elsewhere is the string-concatenation operator (``a . "x"``).

    >>> [t.value for t in tokenize_expression('x=len(Processes.process)*2 . "s"')]
    ['x', '=', 'len', '(', 'Processes.process', ')', '*', '2', '.', 's']
    """
    stop = len(text) if end is None else end
    tokens: list[Token] = []
    i = start
    while i < stop:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            value, after = _read_quoted(text, i, ch, None, stop)
            tokens.append(Token("string" if ch == '"' else "squote", value, Span(i, after)))
            i = after
            continue
        if ch in "(),":
            tokens.append(Token(PUNCTUATION[ch], ch, Span(i, i + 1)))
            i += 1
            continue
        number = _NUMBER.match(text, i, stop)
        if number and not (
            ch == "." and tokens and tokens[-1].kind in ("name", "squote", "rparen")
        ):
            tokens.append(Token("number", number.group(), Span(i, number.end())))
            i = number.end()
            continue
        name = _NAME.match(text, i, stop)
        if name:
            tokens.append(Token("name", name.group(), Span(i, name.end())))
            i = name.end()
            continue
        op = next((o for o in _EXPR_OPS if text.startswith(o, i) and i + len(o) <= stop), None)
        if op is not None:
            tokens.append(Token("op", op, Span(i, i + len(op))))
            i += len(op)
            continue
        raise SplSyntaxError(f"unexpected character {ch!r}", source=text, offset=i)
    return tokens
