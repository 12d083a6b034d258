"""Parser tests: the AST of each command, search precedence, and located errors with carets."""

from __future__ import annotations

import pytest

from escudo.errors import SplSyntaxError, UnsupportedSplError
from escudo.spl import ast
from escudo.spl.parser import parse

SEED = (
    "| tstats summariesonly=false allow_old_summaries=true fillnull_value=null count min(_time) as firstTime "
    "max(_time) as lastTime from datamodel=Endpoint.Processes where Processes.process_name=ngrok "
    'Processes.process IN ("*start*", "*--config*","*http*") by Processes.dest Processes.user\n'
    '| rename Processes.* AS * | convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(firstTime) | search *'
)


def test_seed_shape() -> None:
    pipeline = parse(SEED)
    assert [c.name for c in pipeline.commands] == ["tstats", "rename", "convert", "search"]
    tstats = pipeline.commands[0]
    assert isinstance(tstats, ast.Tstats)
    assert [(o.key, o.value) for o in tstats.options] == [
        ("summariesonly", "false"), ("allow_old_summaries", "true"), ("fillnull_value", "null"),
    ]  # fmt: skip
    assert [a.output_name for a in tstats.aggregations] == ["count", "firstTime", "lastTime"]
    assert tstats.datamodel == "Endpoint.Processes"
    assert tstats.by == ("Processes.dest", "Processes.user")
    where = tstats.where
    assert isinstance(where, ast.And)
    first, second = where.items
    assert first == ast.Compare("Processes.process_name", "=", "ngrok", False, first.span)
    assert isinstance(second, ast.InList) and second.values == ("*start*", "*--config*", "*http*")
    assert SEED[tstats.span.start : tstats.span.end].startswith("tstats summariesonly")
    search = pipeline.commands[3]
    assert isinstance(search, ast.Search) and search.predicate == ast.Term(
        "*", False, search.predicate.span
    )


def test_or_binds_tighter_than_and() -> None:
    (cmd,) = parse("search a=1 b=2 OR c=3 AND d=4").commands
    assert isinstance(cmd, ast.Search)
    pred = cmd.predicate
    assert isinstance(pred, ast.And) and len(pred.items) == 3
    assert isinstance(pred.items[1], ast.Or)


def test_not_and_parentheses() -> None:
    (cmd,) = parse('search NOT (a="x" OR b!=y) c<5').commands
    assert isinstance(cmd, ast.Search)
    pred = cmd.predicate
    assert isinstance(pred, ast.And)
    neg = pred.items[0]
    assert isinstance(neg, ast.Not) and isinstance(neg.item, ast.Or)
    assert pred.items[1] == ast.Compare("c", "<", "5", False, pred.items[1].span)


def test_in_list_tolerates_a_stray_dot() -> None:
    # ESCU "Linux Curl Upload File" writes ("*.aws/credentials*". "*.aws/config*").
    (cmd,) = parse('search p IN ("*.aws/credentials*". "*.aws/config*")').commands
    assert isinstance(cmd, ast.Search) and isinstance(cmd.predicate, ast.InList)
    assert cmd.predicate.values == ("*.aws/credentials*", ".", "*.aws/config*")


def test_tstats_by_time_span_anywhere() -> None:
    (cmd,) = parse(
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest _time span=10s Processes.user"
    ).commands
    assert isinstance(cmd, ast.Tstats)
    assert cmd.by == ("Processes.dest", "_time", "Processes.user")
    assert cmd.span_option is not None and cmd.span_option.value == "10s"


def test_every_command() -> None:
    text = (
        '| from datamodel:Endpoint.Processes | search x=1 | where a>1 | eval b=a+1, c="s" | rename a AS b '
        "| convert ctime(t) AS u | table a b | fields - c | stats count by a | dedup 2 a keepempty=true "
        '| sort 5 - a, +b | head 3 | tail | rex field=a "(?<x>\\d+)" | regex a!="^b" | fillnull value=0 a '
        "| lookup tools name AS a OUTPUTNEW cat AS c"
    )
    cmds = parse(text).commands
    assert [c.name for c in cmds] == [
        "from", "search", "where", "eval", "rename", "convert", "table", "fields", "stats", "dedup",
        "sort", "head", "tail", "rex", "regex", "fillnull", "lookup",
    ]  # fmt: skip
    sort = cmds[10]
    assert isinstance(sort, ast.Sort) and sort.limit == 5
    assert [(k.field, k.descending) for k in sort.keys] == [("a", True), ("b", False)]
    dedup = cmds[9]
    assert isinstance(dedup, ast.Dedup) and dedup.count == 2 and dedup.fields == ("a",)
    tail = cmds[12]
    assert isinstance(tail, ast.Tail) and tail.count == 10
    lookup = cmds[16]
    assert isinstance(lookup, ast.Lookup) and lookup.output_new
    assert [(p.old, p.new) for p in lookup.outputs] == [("cat", "c")]
    fields = cmds[7]
    assert isinstance(fields, ast.Fields) and fields.remove and fields.fields == ("c",)


def test_eval_precedence() -> None:
    (_, cmd) = parse('| from datamodel Endpoint.Processes | eval x=1+2*3 . "a"').commands
    assert isinstance(cmd, ast.Eval)
    expr = cmd.assignments[0].expr
    assert isinstance(expr, ast.BinOp) and expr.op == "."
    assert isinstance(expr.left, ast.BinOp) and expr.left.op == "+"
    assert isinstance(expr.left.right, ast.BinOp) and expr.left.right.op == "*"


def _error(text: str, kind: type[Exception] = SplSyntaxError) -> SplSyntaxError:
    with pytest.raises(kind) as info:
        parse(text, origin="t.yml")
    return info.value  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("text", "message", "line", "column", "caret"),
    [
        ("| tstats count where (a=1", "expected ')'", 1, 26, True),
        ("| tstats count where a=", "expected a value after a=", 1, 24, True),
        ("| head x", "expected a count", 1, 8, True),
        ("| tstats count\n| where a >", "expected a value, found end of expression", 2, 12, True),
        ("| rename a b", "expected AS", 1, 12, True),
        ("| search a=1 ) b", "unbalanced ')'", 1, 14, True),
        ("| tstats count | | head", "empty command between pipes", 1, 18, None),
        ("| search a=1 OR", "expected a search term, found end of command", 1, 16, None),
    ],
)
def test_syntax_errors_are_located(
    text: str, message: str, line: int, column: int, caret: bool | None
) -> None:
    err = _error(text)
    assert type(err) is SplSyntaxError
    assert err.message == message
    assert (err.line, err.column) == (line, column)
    assert str(err).endswith(f"at t.yml: line {line}, column {column}")
    if caret is not None:
        assert err.render().splitlines()[-1].rstrip("^") == " " * (column + 1)


def test_unsupported_command_is_named_at_its_position() -> None:
    err = _error(
        "| tstats count from datamodel=Endpoint.Processes\n| transaction dest maxspan=5m",
        UnsupportedSplError,
    )
    assert err.message == "unsupported command 'transaction'"
    assert (err.line, err.column) == (2, 3)
    assert err.render().splitlines()[-2:] == ["  | transaction dest maxspan=5m", "    ^^^^^^^^^^^"]


def test_subsearch_and_unexpanded_macro_are_unsupported() -> None:
    assert _error("| search [| inputlookup x]", UnsupportedSplError).column == 10
    err = _error("| search `m`", UnsupportedSplError)
    assert err.message == "macro `m` was not expanded" and err.column == 10


def test_bracketed_argument_of_an_unknown_command_names_the_command() -> None:
    err = _error("search x=1 | appendpipe [stats count]", UnsupportedSplError)
    assert err.message == "unsupported command 'appendpipe'" and err.column == 14


@pytest.mark.parametrize(
    "text",
    [
        "| from datamodel Endpoint.Processes",
        "| from datamodel:Endpoint.Processes",
        '| from datamodel:"Endpoint.Processes"',
        "| from datamodel :Endpoint.Processes",
        "| from datamodel=Endpoint.Processes",
    ],
)
def test_from_datamodel_spellings(text: str) -> None:
    (cmd,) = parse(text).commands
    assert isinstance(cmd, ast.From) and cmd.datamodel == "Endpoint.Processes"


def test_from_other_sources_is_unsupported() -> None:
    err = _error("| from inputlookup:x", UnsupportedSplError)
    assert err.message == "from inputlookup:x (only datamodel) is not supported"
