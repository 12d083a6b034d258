"""DuckDB's ILIKE for Splunk's case-insensitive wildcard match (docs/semantics.md, "ILIKE for the
folded match"): the compiled search uses it, and it keeps exactly the rows LOWER(f) LIKE keeps."""

from __future__ import annotations

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.engines.duckdb import DuckDBEngine

VALUES = [
    "Ngrok TCP 22", "ngrok", "NGROK", "\u212a" + "ubectl", "Kubectl", "\u0130nstall", "install",
    "stra\u1e9ee", "STRASSE", "\u03a3igma", "\u03c3igma", "a%b", "a_b", "a\\b", "ax\\b", "", None,
    "/tmp/x.SH", "/TMP/X.sh", "caf\u00c9", "caf\u00e9",
]  # fmt: skip
SEARCHES = [
    'Processes.process="*ngrok*"',
    'Processes.process="kubectl*"',
    'Processes.process="k*"',
    'Processes.process="*install"',
    'Processes.process="a%b" OR Processes.process="a_*"',
    'Processes.process="a\\\\*"',
    'Processes.process="/tmp/*.sh"',
    'Processes.process!="*ngrok*"',
    'NOT Processes.process="*ngrok*"',
    'Processes.process="caf*"',
]


@pytest.mark.parametrize("where", SEARCHES)
def test_ilike_keeps_the_rows_lower_like_keeps(where: str) -> None:
    compiled = compile_search(
        f"| tstats count from datamodel=Endpoint.Processes where {where} by Processes.process"
    )
    sql = compiled.sql("duckdb")
    assert "ILIKE" in sql and "LIKE" not in sql.replace("ILIKE", "")
    lowered = compiled.expression.sql(dialect="duckdb")  # sqlglot's own writer: LOWER(f) LIKE
    assert "LOWER" in lowered and "ILIKE" not in lowered
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"process": VALUES}))
        rows = [sorted(map(str, engine.execute(q).to_pylist())) for q in (sql, lowered)]
    assert rows[0] == rows[1]


def test_a_match_with_escapes_is_guarded_by_one_duckdb_rewrites() -> None:
    """DuckDB's ILIKE with ESCAPE runs its general matcher: the escaped match comes after one
    without ESCAPE (escaped characters as ``_``) that keeps every row it keeps."""
    compiled = compile_search(
        '| tstats count from datamodel=Endpoint.Processes where Processes.process="*ld_pre%*"'
        " by Processes.process"
    )
    sql = compiled.sql("duckdb")
    assert (
        "(\"process\" ILIKE '%ld_pre_%' AND \"process\" ILIKE '%ld\\_pre\\%%' ESCAPE '\\')" in sql
    )
    values = ["LD_PRELOAD=x", "ldXpre%", "ld_pre%", "ld_preX", None, "\u212aLD_PRE%"]
    lowered = compiled.expression.sql(dialect="duckdb")
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"process": values}))
        rows = [sorted(map(str, engine.execute(q).to_pylist())) for q in (sql, lowered)]
    assert rows[0] == rows[1]
    assert [r for r in rows[0] if "ld_pre%" in r.lower()]  # the literal match is found
