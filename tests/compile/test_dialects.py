"""escudo's dialects are subclasses: sqlglot's own DuckDB and Spark stay as shipped."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlglot import exp

from escudo.compile import compile_search
from escudo.compile.dialects import DIALECTS, EscudoDuckDB, EscudoSpark, dialect_for

# A fresh interpreter notes sqlglot's generator tables, imports every escudo module, writes SQL with
# each of escudo's own expression classes in both dialects, then prints what changed in sqlglot.
STOCK_TABLES_SCRIPT = """
import importlib, pkgutil
from sqlglot.dialects.dialect import Dialect

NAMES = ("duckdb", "spark", "spark2", "hive", "databricks")
generators = {name: Dialect.get_or_raise(name).generator_class for name in NAMES}
before = {name: dict(g.TRANSFORMS) for name, g in generators.items()}

import escudo
for module in pkgutil.walk_packages(escudo.__path__, "escudo."):
    importlib.import_module(module.name)
from escudo.compile import compile_search
compiled = compile_search(
    '| tstats count from datamodel=Endpoint.Processes by Processes.process'
    ' | eval a=replace(process, "(a)", "\\\\1"), b=printf("%d", count),'
    ' c=mvdedup(split(process, " ")), d=strptime(process, "%Y-%m-%d")'
)
compiled.sql("duckdb"); compiled.sql("spark")

for name, g in generators.items():
    escudo_keys = sorted(k.__name__ for k in g.TRANSFORMS if k.__module__.startswith("escudo"))
    changed = g.TRANSFORMS != before[name]
    print(name, changed, escudo_keys)
"""


def test_importing_escudo_leaves_sqlglot_dialects_unchanged() -> None:
    out = subprocess.run(
        [sys.executable, "-c", STOCK_TABLES_SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "duckdb False []",
        "spark False []",
        "spark2 False []",
        "hive False []",
        "databricks False []",
    ]


def test_stock_duckdb_does_not_know_escudo_nodes() -> None:
    compiled = compile_search(
        '| from datamodel Endpoint.Processes | eval a=replace(process, "(a)", "\\\\1")'
    )
    assert "REGEXP_REPLACE(" in compiled.sql("duckdb")
    # sqlglot's own DuckDB writes an unknown function as a call of its own name.
    assert "SPLUNK_REPLACE(" in compiled.expression.sql("duckdb")


def test_escudo_dialects_extend_sqlglot_by_subclassing() -> None:
    from sqlglot.dialects.duckdb import DuckDB
    from sqlglot.dialects.spark import Spark

    assert issubclass(EscudoDuckDB, DuckDB) and issubclass(EscudoSpark, Spark)
    assert issubclass(EscudoDuckDB.generator_class, DuckDB.generator_class)
    assert DIALECTS["duckdb"] is EscudoDuckDB and DIALECTS["spark"] is EscudoSpark
    # Everything sqlglot writes stays as DuckDB writes it.
    assert exp.column("a").eq(1).sql(EscudoDuckDB) == exp.column("a").eq(1).sql("duckdb")


def test_unknown_dialect_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown SQL dialect 'postgres' \(escudo writes duckdb"):
        dialect_for("postgres")
