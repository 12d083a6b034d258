"""Fuzzing SPL: the tokenizer, parser, macro expander and compiler, and the compiled SQL on DuckDB.

Searches are built from real SPL: the shipped detections, the compile golden inputs and every
eval function, recombined as pipelines, then mutated (brackets, quotes, backticks, pipes,
escapes, odd numbers and Unicode inserted; spans cut, repeated and swapped). Macro sets are
random too: definitions from the same fragments, with arguments, calls to each other and to
themselves (recursion). Whatever the text, each stage fails only with one of escudo's own errors
(SplSyntaxError, UnsupportedSplError, ... from ``escudo.errors``), an SPL error points inside
the text it was raised for, and a search that compiles generates DuckDB and Spark SQL and runs
on DuckDB over a small table (an EngineError is then an escudo error too).

``benchmarks/fuzz.py`` runs these same properties (``TARGETS``) for minutes instead of seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escudo.compile import compile_search
from escudo.compile.functions import FUNCTIONS
from escudo.content.loader import BUILTIN_DIR
from escudo.content.model import Macro
from escudo.errors import EscudoError, SplError
from escudo.spl.macros import expand_macros
from escudo.spl.parser import parse
from escudo.spl.tokens import tokenize

GOLDEN = Path(__file__).parents[1] / "compile" / "golden"
NOW = dt.datetime(2024, 3, 11, 12, 0, tzinfo=dt.UTC)

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _corpus() -> list[str]:
    """Real searches: the shipped detections (search and drilldowns) and the golden inputs."""
    texts = [p.read_text(encoding="utf-8").strip() for p in sorted(GOLDEN.glob("*.spl"))]
    for path in sorted((BUILTIN_DIR / "detections").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        texts.append(doc["search"])
        texts += [d["search"] for d in doc.get("drilldown_searches") or [] if "search" in d]
    return texts


SEARCHES = _corpus()
MACROS = {
    p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
    for p in sorted((BUILTIN_DIR / "macros").glob("*.yml"))
}
# Commands of the real searches, cut at pipes outside quotes (a fragment may still be odd).
COMMANDS = sorted(
    {
        part.strip()
        for text in SEARCHES
        for part in re.split(r"\|(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text)
        if part.strip()
    }
)
FIRST = sorted({c for c in COMMANDS if c.startswith(("tstats", "from"))})
FIELDS = ["dest", "user", "process", "process_name", "_time", "count", "Processes.dest", "x"]
LITERALS = ['"a"', '"*.exe"', "1", "-2.5", "0", '"10.0.0.0/8"', '"%Y-%m-%d"', '","', "null()"]
AGGREGATIONS = ["count", "dc", "values", "min", "max", "sum", "avg", "earliest", "latest", "list"]
WORDS = sorted({w for text in SEARCHES for w in text.split()} | set(FIELDS) | set(LITERALS))
# Fragments mutations insert: delimiters, escapes, macro syntax, odd numbers, odd characters.
INSERTS = [
    "(", ")", '"', "'", "`", "|", "[", "]", "=", "==", "!=", "<", ">=", ",", "\\", "\\\\", "*",
    "$x$", "$", " ", "\n", "\t", "\x00", "é", "\u212a", "\U0001f600", "\ufeff", "\udcff", "-", ".", "+",
    "AND", "OR", "NOT", "IN", "as", "by", "where", "span=", "span=0s", "1e309", "-0",
    "99999999999999999999999", "0x1f", "`m`", "`m(1,2)`", "`x_filter`", "`drop_dm_object_name(a)`",
    "| search *", "| eval", "[| makeresults]", "datamodel=", "Processes.", "_time", "count",
]  # fmt: skip


@st.composite
def eval_command(draw: st.DrawFn) -> str:
    """``eval z=f(...)`` with any eval function and arguments of any shape."""
    arg = st.sampled_from(FIELDS + LITERALS) | st.builds(
        lambda f, a: f"{f}({a})", st.sampled_from(sorted(FUNCTIONS)), st.sampled_from(FIELDS)
    )
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    args = draw(st.lists(arg, max_size=4))
    return f"eval z={name}({', '.join(args)})"


FIELD = st.sampled_from(FIELDS)
LITERAL = st.sampled_from(LITERALS)
# Commands by template, over the fields and literals above (the corpus has few of some).
TEMPLATES = st.one_of(
    st.builds("stats {}({}) as a by {}".format, st.sampled_from(AGGREGATIONS), FIELD, FIELD),
    st.builds("where {} {} {}".format, FIELD, st.sampled_from(["=", "!=", "<", ">="]), LITERAL),
    st.builds("search {}={} {}".format, FIELD, LITERAL, st.sampled_from(["", "OR x=1", "NOT"])),
    st.builds("rename {} AS {}".format, FIELD, FIELD),
    st.builds("table {} {}".format, FIELD, FIELD),
    st.builds("dedup {}".format, FIELD),
    st.builds("sort - {}".format, FIELD),
    st.builds("head {}".format, st.sampled_from(["0", "1", "-1", "3"])),
    st.builds("fillnull value={} {}".format, LITERAL, FIELD),
    st.builds('rex field={} "(?<r>{})"'.format, FIELD, st.sampled_from(["a", ".*", "\\d+"])),
    st.builds('regex {}!="{}"'.format, FIELD, st.sampled_from(["^x", "a|b", "("])),
    st.builds("bin {} span={}".format, FIELD, st.sampled_from(["1h", "0s", "15m", "1d"])),
    st.builds("convert ctime({})".format, FIELD),
    st.builds("eval {}=mvindex(split({}, {}), {})".format, FIELD, FIELD, LITERAL, LITERAL),
)
COMMAND = st.sampled_from(COMMANDS) | eval_command() | TEMPLATES


@st.composite
def mutate(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        op = draw(st.sampled_from(["insert", "insert", "delete", "dup", "swap", "cut"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(INSERTS) | st.sampled_from(WORDS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif op == "dup":
            end = min(len(text), pos + draw(st.integers(1, 40)))
            text = text[:end] + text[pos:end] + text[end:]
        elif op == "swap" and text:
            other = draw(st.integers(0, len(text) - 1))
            a, b = sorted((pos, other))
            text = text[b:] + text[a:b] + text[:a] if draw(st.booleans()) else text[a:] + text[:a]
        elif op == "cut":
            text = text[:pos]
    return text


@st.composite
def search_text(draw: st.DrawFn) -> str:
    """A real search, a pipeline of real commands, or a soup of real words; then mutated."""
    kind = draw(st.sampled_from(["search", "pipeline", "pipeline", "pipeline", "words", "text"]))
    if kind == "search":
        text = draw(st.sampled_from(SEARCHES))
    elif kind == "pipeline":
        first = draw(st.sampled_from(FIRST))
        rest = draw(st.lists(COMMAND, max_size=4))
        text = " | ".join(["| " + first, *rest])
    elif kind == "words":
        text = " ".join(draw(st.lists(st.sampled_from(WORDS + INSERTS), max_size=16)))
    else:  # any text at all, after a real generating command
        text = "| " + draw(st.sampled_from(FIRST)) + draw(st.text(max_size=40))
    return draw(mutate(text))


NAMES = ["m", "n", "x_filter", "drop_dm_object_name", "security_content_ctime", "linux_shells"]


@st.composite
def macro_set(draw: st.DrawFn) -> dict[str, Macro]:
    """The shipped macros plus random ones calling each other, themselves, with ``$arg$``s."""
    macros = {
        macro.key: macro
        for macro in (
            Macro(name, doc["definition"], tuple(doc.get("arguments") or ()))
            for name, doc in MACROS.items()
        )
    }
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(NAMES))
        arguments = tuple(draw(st.lists(st.sampled_from(["a", "b", "field"]), max_size=2)))
        parts = draw(
            st.lists(
                st.sampled_from(["search *", "x=1", "(a OR b)", "$a$", "$field$", "| stats count"])
                | st.sampled_from([f"`{n}`" for n in NAMES])
                | st.sampled_from([f"`{n}($a$)`" for n in NAMES])
                | st.sampled_from(COMMANDS),
                max_size=3,
            )
        )
        macro = Macro(name, draw(mutate(" ".join(parts))), arguments)
        macros[macro.key] = macro
    return macros


# --- properties (shared with benchmarks/fuzz.py) ------------------------------------------------


def _located(exc: SplError, text: str) -> None:
    assert 0 <= exc.offset <= len(text), (exc.offset, len(text))
    assert exc.end is None or exc.offset <= exc.end <= len(text) + 1, (exc.offset, exc.end)
    exc.render()


def check_tokenize(text: str) -> None:
    """The tokenizer: tokens inside the text, in order, or an SPL error located in it."""
    try:
        tokens = tokenize(text)
    except SplError as exc:
        _located(exc, text)
        return
    ends = [0] + [t.span.end for t in tokens]
    for token, before in zip(tokens, ends, strict=False):
        assert before <= token.span.start <= token.span.end <= len(text), token


def check_parse(text: str) -> None:
    """The parser: a pipeline, or an SPL error located in the text."""
    try:
        parse(text)
    except SplError as exc:
        _located(exc, text)


def check_expand(text: str, macros: dict[str, Macro]) -> None:
    """The macro expander (recursive macros included): text, or an SPL error located in it."""
    try:
        expand_macros(text, macros)
    except SplError as exc:
        _located(exc, text)


_ENGINE: Any = None


def _engine() -> Any:
    """One DuckDB for the whole run, with a few rows of processes (nulls and odd values)."""
    global _ENGINE
    if _ENGINE is None:
        from escudo.engines.duckdb import DuckDBEngine

        when = [dt.datetime(2024, 3, 11, h, tzinfo=dt.UTC) for h in (1, 2, 3)]
        rows = pa.table(
            {
                "_time": when,
                "dest": ["web-01", "10.0.0.1", None],
                "user": ["root", None, "O'Brien"],
                "process": ["/tmp/ngrok tcp 22", "", "curl -x 'a|b'"],
                "process_name": ["ngrok", "curl", None],
                "process_id": ["41233", "-1", "x"],
            }
        )
        _ENGINE = DuckDBEngine(threads=1)
        _ENGINE.register("Endpoint.Processes", rows)
    return _ENGINE


def check_compile(text: str, macros: dict[str, Macro], run: bool = True) -> None:
    """Expand, parse, lower; then DuckDB and Spark SQL and a run on DuckDB: escudo errors only."""
    try:
        compiled = compile_search(text, macros=macros, now=NOW)
    except SplError as exc:
        assert 0 <= exc.offset <= len(exc.source), (exc.offset, len(exc.source))
        return
    except EscudoError:
        return
    compiled.sql("duckdb")
    compiled.sql("spark")
    if run:
        try:
            table = _engine().run(compiled)
        except EscudoError:
            return
        if compiled.output_fields is not None:
            assert table.column_names == compiled.output_fields


TEXT_ARGS: dict[str, st.SearchStrategy[Any]] = {"text": search_text()}
MACRO_ARGS: dict[str, st.SearchStrategy[Any]] = {"text": search_text(), "macros": macro_set()}


@st.composite
def deep_search(draw: st.DrawFn) -> str:
    """A search nested hundreds to thousands of levels deep (brackets, NOT, functions, operators,
    macro chains): another change owns recursion limits (issue 9), so not in CI."""
    depth = draw(st.integers(50, 5000))
    shape = draw(st.sampled_from(["paren", "not", "call", "plus", "or", "macro"]))
    head = "| from datamodel Endpoint.Processes | "
    if shape == "paren":
        return head + "search " + "(" * depth + "dest=a" + ")" * depth
    if shape == "not":
        return head + "search " + "NOT " * depth + "dest=a"
    if shape == "call":
        return head + "eval z=" + "abs(" * depth + "1" + ")" * depth
    if shape == "plus":
        return head + "eval z=" + "1+" * depth + "1"
    if shape == "or":
        return head + "where " + " OR ".join(["dest=1"] * depth)
    return head + "search `m0`"


def check_deep(text: str) -> None:
    depth = text.count("`m0`")
    macros = {f"m{i}": Macro(f"m{i}", f"`m{i + 1}`") for i in range(40)} if depth else {}
    check_compile(text, macros, run=False)


# Targets the benchmark runs but CI does not, with why: name -> (property, strategies, why)
KNOWN_TARGETS: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]], str]] = {}
DEEP_ARGS: dict[str, st.SearchStrategy[Any]] = {"text": deep_search()}

# name -> (property, its arguments' strategies, examples in CI)
TARGETS: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]], int]] = {
    "spl.tokenize": (check_tokenize, TEXT_ARGS, 150),
    "spl.parse": (check_parse, TEXT_ARGS, 150),
    "spl.macros": (check_expand, MACRO_ARGS, 150),
    "spl.compile": (check_compile, MACRO_ARGS, 150),
    "spl.deep": (check_deep, DEEP_ARGS, 4),
}


@settings(FUZZ, max_examples=TARGETS["spl.tokenize"][2])
@given(**TEXT_ARGS)
def test_tokenizer(text: str) -> None:
    check_tokenize(text)


@settings(FUZZ, max_examples=TARGETS["spl.parse"][2])
@given(**TEXT_ARGS)
def test_parser(text: str) -> None:
    check_parse(text)


@settings(FUZZ, max_examples=TARGETS["spl.macros"][2])
@given(**MACRO_ARGS)
def test_macro_expander(text: str, macros: dict[str, Macro]) -> None:
    check_expand(text, macros)


@settings(FUZZ, max_examples=TARGETS["spl.compile"][2])
@given(**MACRO_ARGS)
def test_compiler_and_duckdb(text: str, macros: dict[str, Macro]) -> None:
    check_compile(text, macros)


@settings(FUZZ, max_examples=TARGETS["spl.deep"][2])
@given(**DEEP_ARGS)
def test_deep_nesting_raises_only_escudo_errors(text: str) -> None:
    check_deep(text)
