"""Hostile searches (issue 9, point 5): a 1 MB IN list compiles (to one SQL IN, not a 75,000-deep
OR tree) and runs on DuckDB; boolean chains and nesting at the limits compile and run. Times are
measured by benchmarks/bench_hostile_spl.py, not asserted here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

from escudo.compile import compile_search
from escudo.engines.duckdb import DuckDBEngine

ITEMS = 75_000
T0 = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
ROWS: list[dict[str, Any]] = [
    {"_time": T0, "dest": "web1", "process_name": "TOOL074999", "process": "a"},
    {"_time": T0, "dest": "web2", "process_name": "tool000000", "process": "b"},
    {"_time": T0, "dest": "web3", "process_name": "bash", "process": "c"},
    {"_time": T0, "dest": "web4", "process_name": "xsuffix", "process": "d"},
]
HEAD = "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.process_name | rename Processes.* AS * "


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as eng:
        eng.register("Endpoint.Processes", pa.Table.from_pylist(ROWS))
        yield eng


@pytest.fixture(scope="module")
def big_in_list() -> str:
    values = ", ".join(f'"tool{i:06d}"' for i in range(ITEMS))
    spl = (
        "| tstats count from datamodel=Endpoint.Processes "
        f'where Processes.process_name IN ({values}, "*suffix") by Processes.dest'
    )
    assert len(spl) > 1_000_000
    return spl


def test_a_75k_in_list_compiles_to_one_sql_in_and_runs(
    big_in_list: str, engine: DuckDBEngine
) -> None:
    compiled = compile_search(big_in_list)
    in_lists = list(compiled.expression.find_all(exp.In))
    assert [len(node.expressions) for node in in_lists] == [ITEMS]
    # The predicate is shallow: one IN and one LIKE under a single OR.
    assert max(_depth(node) for node in compiled.expression.find_all(exp.Where)) < 12
    # No raw-text prefilter clause with 75,000 needles (past MAX_CLAUSE_NEEDLES it is dropped).
    assert compiled.raw_filters["Endpoint.Processes"].clauses == ()
    rows = engine.run(compiled).to_pylist()
    assert sorted(r["Processes.dest"] for r in rows) == ["web1", "web2", "web4"]
    # Spark gets the same single IN (Spark itself is not installed here; sqlglot writes the list).
    spark = compiled.sql("spark")
    assert spark.count(") IN ('tool000000', 'tool000001', ") == 1  # LOWER(TRANSLATE(...)) IN
    assert spark.count("'tool0") == ITEMS


def _depth(node: exp.Expression) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in current.iter_expressions())
    return deepest


def test_xor_chains_grow_linearly_and_run(engine: DuckDBEngine) -> None:
    """XOR is written as ``<>`` over booleans: sqlglot's DuckDB form of XOR repeats both sides, so a
    chain of n XORs would be 2**n long."""
    two = HEAD + '| where dest="web1" XOR process_name="bash"'
    rows = engine.run(compile_search(two)).to_pylist()
    assert sorted(r["dest"] for r in rows) == ["web1", "web3"]
    chain = HEAD + "| where " + " XOR ".join(f"count={i}" for i in range(40))
    assert len(compile_search(chain).sql("duckdb")) < 20_000
