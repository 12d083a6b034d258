"""Golden SPL -> SQL tests: ``golden/<name>.spl`` against ``<name>.duckdb.sql`` and ``<name>.spark.sql``.

Regenerate after an intended change with ``ESCUDO_REGEN_GOLDEN=1 pytest tests/compile/test_golden.py``
and review the diff. Every golden query must also run on DuckDB over empty data models.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from escudo.compile import CompiledSearch, compile_search
from escudo.compile.dialects import DIALECTS
from escudo.engines.duckdb import DuckDBEngine

GOLDEN = Path(__file__).parent / "golden"
LOOKUPS = {"suspicious_tools": Path(__file__).parent / "lookups" / "suspicious_tools.csv"}
NOW = datetime(2024, 5, 3, 15, 30, tzinfo=UTC)
REGEN = os.environ.get("ESCUDO_REGEN_GOLDEN") == "1"
CASES = sorted(p.stem for p in GOLDEN.glob("*.spl"))


def compile_golden(name: str) -> CompiledSearch:
    spl = (GOLDEN / f"{name}.spl").read_text(encoding="utf-8")
    return compile_search(spl, origin=f"{name}.spl", lookups=LOOKUPS, now=NOW)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_golden_sql(name: str, dialect: str) -> None:
    sql = compile_golden(name).sql(dialect, pretty=True) + "\n"
    path = GOLDEN / f"{name}.{dialect}.sql"
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"missing golden {path.name}; run with ESCUDO_REGEN_GOLDEN=1")
        path.write_text(sql, encoding="utf-8")
    assert sql == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_golden_runs_on_empty_data(name: str) -> None:
    compiled = compile_golden(name)
    with DuckDBEngine() as engine:
        table = engine.run(compiled)
    assert table.num_rows == (1 if name == "rex" else 0)  # stats without by: one row (count 0)
    assert table.column_names == compiled.output_fields


@pytest.mark.parametrize("name", CASES)
def test_golden_spark_sql_reads_back(name: str) -> None:
    """No Spark here: at least the Spark text must parse as Spark SQL and keep its identifiers."""
    import sqlglot

    compiled = compile_golden(name)
    parsed = sqlglot.parse_one(compiled.sql("spark"), read="spark")
    assert [
        s.alias_or_name for s in parsed.selects
    ] == compiled.output_fields or not compiled.output_fields


# Every shipped detection, with the shipped macros, compiles to both dialects (issue 3: "every shipped
# detection also compiles to Spark SQL"); golden files under golden/builtin/, regenerated as above.
BUILTIN_GOLDEN = GOLDEN / "builtin"


def _shipped() -> list[str]:
    from escudo.content.loader import load_content

    return sorted(load_content().detections)


@pytest.mark.parametrize("name", _shipped())
@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_shipped_detections_golden_sql(name: str, dialect: str) -> None:
    from escudo.content.loader import load_content, macros_for

    content = load_content()
    detection = content.detections[name]
    assert detection.path is not None
    compiled = compile_search(
        detection.search,
        macros=macros_for(content, detection),
        lookups=content.lookups,
        now=NOW,
    )
    sql = compiled.sql(dialect, pretty=True) + "\n"
    path = BUILTIN_GOLDEN / f"{detection.path.stem}.{dialect}.sql"
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    assert path.exists(), f"missing golden {path.name}; run with ESCUDO_REGEN_GOLDEN=1"
    assert sql == path.read_text(encoding="utf-8")
