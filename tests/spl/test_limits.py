"""Nesting limits: hostile searches fail with a located error at the level past MAX_NESTING, never a
RecursionError; searches at the limit still compile (and run: tests/compile/test_hostile.py)."""

from __future__ import annotations

import pytest

from escudo.compile import compile_search
from escudo.errors import SplSyntaxError
from escudo.spl.limits import MAX_NESTING

HEAD = "| tstats count from datamodel=Endpoint.Processes by Processes.process_name | rename Processes.* AS * "


def _nested(prefix: str, inner: str, depth: int, close: str = ")") -> str:
    return prefix * depth + inner + close * depth


CASES = {
    # name: (search with `n` levels, the text at which level MAX_NESTING + 1 starts)
    "eval parentheses": (lambda n: HEAD + "| eval x=" + _nested("(", "1", n), "("),
    "where parentheses": (lambda n: HEAD + "| where " + _nested("(", "count>1", n), "("),
    "eval calls": (lambda n: HEAD + "| eval x=" + _nested("abs(", "count", n), "abs("),
    "eval NOT": (lambda n: HEAD + "| eval x=" + "NOT " * n + "count>1", "NOT "),
    "eval minus": (lambda n: HEAD + "| eval x=" + "-" * n + "count", "-"),
    "search parentheses": (lambda n: HEAD + "| search " + _nested("(", "process_name=a", n), "("),
    "search NOT": (lambda n: HEAD + "| search " + "NOT " * n + "process_name=a", "NOT "),
    "tstats where": (
        lambda n: (
            "| tstats count from datamodel=Endpoint.Processes where "
            + _nested("(", "Processes.process_name=a", n)
        ),
        "(",
    ),
}


@pytest.mark.parametrize("depth", [150, 10_000])
@pytest.mark.parametrize("case", sorted(CASES))
def test_deep_nesting_is_a_located_error(case: str, depth: int) -> None:
    make, opener = CASES[case]
    spl = make(depth)
    with pytest.raises(SplSyntaxError) as info:
        compile_search(spl, origin="deep.yml")
    err = info.value
    assert err.message.endswith(f"nested deeper than {MAX_NESTING} levels")
    # The caret is at the opener of level MAX_NESTING + 1.
    first = spl.index(opener * 2) if opener != "-" else spl.index("-")
    assert err.offset == first + MAX_NESTING * len(opener)
    assert err.line == 1 and err.column == err.offset + 1
    assert "deep.yml" in str(err) and err.render().splitlines()[-1].strip().startswith("^")


@pytest.mark.parametrize("case", sorted(CASES))
def test_nesting_up_to_the_limit_compiles(case: str) -> None:
    make, _ = CASES[case]
    # Two levels for the innermost term (count>1 is a comparison node over a field).
    compiled = compile_search(make(MAX_NESTING - 2))
    assert compiled.sql("duckdb") and compiled.sql("spark")


def test_a_long_arithmetic_chain_is_a_located_error() -> None:
    spl = HEAD + "| eval x=" + "+".join(["count"] * 10_000)
    with pytest.raises(SplSyntaxError) as info:
        compile_search(spl)
    assert info.value.message == f"expression nested deeper than {MAX_NESTING} levels"
    # The first "+" past the limit: "count" is 5 characters, each "+" one.
    assert info.value.offset == spl.index("count+") + (MAX_NESTING - 1) * 6 + 5


@pytest.mark.parametrize("op", ["OR", "AND", "XOR"])
def test_long_boolean_chains_are_balanced_not_deep(op: str) -> None:
    # 300 terms: deeper than MAX_NESTING if left-deep, and than Python's recursion as it was.
    spl = HEAD + "| where " + f" {op} ".join(f"count={i}" for i in range(300))
    sql = compile_search(spl).sql("duckdb")
    assert sql.count("count") > 300 and "299" in sql
