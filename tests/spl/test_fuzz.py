"""Hypothesis: parsing and compiling arbitrary SPL-like text only ever fails with escudo errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.compile import compile_search
from escudo.errors import EscudoError, SplError
from escudo.spl.parser import parse

WORDS = [
    "| tstats", "count", "min(_time)", "as", "x", "from", "datamodel=Endpoint.Processes", "where", "by",
    "Processes.dest", "_time", "span=1h", "|", "search", "eval", "y=", "len(", ")", "(", ",", "where",
    "rename", "*", "AS", "table", "fields", "-", "stats", "dc(", "values(", "dedup", "sort", "head",
    "tail", "rex", "field=process", '"(?<n>a)"', "regex", "fillnull", "value=", "NOT", "OR", "AND",
    "IN", '"a b"', "'q'", "=", "!=", "<", ">=", "1", "-2", ".", "+", "convert", "ctime(x)", "lookup",
    "from datamodel Endpoint.Processes", "earliest=-1d", "if(", "process_name=ngrok", "[", "]", "`m`",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_parse_and_compile_fail_only_with_escudo_errors(words: list[str]) -> None:
    text = " ".join(words)
    try:
        parse(text)
    except SplError as exc:
        assert 0 <= exc.offset <= len(text)
    try:
        compiled = compile_search(text)
    except EscudoError:
        return
    compiled.sql("duckdb")
    compiled.sql("spark")


PREFIXES = [
    "| tstats count values(Processes.user) as u min(_time) as t from datamodel=Endpoint.Processes by Processes.dest |",
    "| from datamodel Endpoint.Processes |",
    "| tstats count from datamodel=Endpoint.Processes by _time span=1h Processes.user | rename Processes.* AS * |",
]
COMMANDS = [
    "search u=a*", "search count>1", "search NOT dest=x", "where count > 1", "where u=\"a\"", "eval z=count+1",
    "eval z=u", "eval s=split(dest, \".\")", "eval z=t . \"x\"", "rename dest AS d", "rename * AS f_*",
    "table dest u count", "fields - dest", "stats count by dest", "stats values(u) as v dc(u)", "dedup dest",
    "sort - count", "sort u", "head 2", "tail 1", "rex field=dest \"(?<h>\\w+)\"", "regex dest!=\"^x\"",
    "fillnull", "fillnull value=NA u", "convert ctime(t)", "search _time>0", "where isnull(u)",
    "eval n=mvcount(u)", "stats count", "search *", "fields dest", "bin _time span=1h",
    "dedup 2 dest keepempty=true", "sort num(count)", "where u IN (\"ab\", \"c\")",
    "eval m=mvappend(u, dest), k=mvindex(m, 0)", "search m=a*", "where len(dest) > 1",
    "stats earliest(dest) as e latest(u) as l min(dest) max(count) sum(count) avg(count)",
    "fillnull value=0 count", "rename u AS dest", "table *", "eval t2=strftime(_time, \"%H\")",
    "stats count by u", "lookup update=true x y",
]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(PREFIXES), st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=5))
def test_compiled_pipelines_run_on_duckdb(prefix: str, commands: list[str]) -> None:
    from escudo.engines.duckdb import DuckDBEngine

    text = prefix + " " + " | ".join(commands)
    try:
        compiled = compile_search(text)
    except EscudoError:
        return
    compiled.sql("spark")
    global _ENGINE
    if _ENGINE is None:
        import datetime as dt

        import pyarrow as pa

        when = [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in (1, 2, 3)]
        rows = pa.table({"_time": when, "dest": ["a.b", "x", None], "user": ["ab", None, "c"]})
        _ENGINE = DuckDBEngine()
        _ENGINE.register("Endpoint.Processes", rows)
    table = _ENGINE.run(compiled)
    assert table.column_names == compiled.output_fields


_ENGINE = None
