"""The risk incident rules as sqlglot trees that every engine runs.

Golden SQL: ``golden_rules/<rule>.<dialect>.sql`` for every rule and every dialect in ``DIALECTS``;
regenerate after an intended change with ``ESCUDO_REGEN_GOLDEN=1`` and review the diff.
``golden_rules/attack_data_findings.jsonl`` holds the findings the rules raised (written when they were
DuckDB SQL text) over ``attack_data_risk.jsonl``, the risk events of the bundled attack data
(``escudo hunt src/escudo/data/attack_data/datasets/attack_techniques/T1572/*/*.log --emit risk``).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from escudo.compile.dialects import DIALECTS, dialect_for
from escudo.detect.findings import (
    RISK_DATASET,
    RISK_RULES,
    RiskRule,
    risk_incidents,
    risk_incidents_of,
    rule_query,
)
from escudo.detect.store import from_json, risk_rows, to_json
from escudo.engines import ENGINES, new_engine

GOLDEN = Path(__file__).parent / "golden_rules"
REGEN = os.environ.get("ESCUDO_REGEN_GOLDEN") == "1"
RULES = {re.sub(r"[^a-z0-9]+", "_", rule.name.lower()).strip("_"): rule for rule in RISK_RULES}
# DuckDB-only constructs a Spark engine cannot run (docs/architecture.md, "Engines").
# (TRY_CAST is Spark SQL since 3.2, and what ANSI mode needs to make a bad number NULL.)
NOT_SPARK = ("QUALIFY", "RECURSIVE", "TIME_BUCKET", "STRPTIME", "LIST_", "[-", "::")


def risk_table(events: list[dict[str, object]]) -> pa.Table:
    return risk_rows(events).drop_columns(["event_json"])


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_golden_sql(name: str, dialect: str) -> None:
    sql = rule_query(RULES[name]).sql(dialect, pretty=True) + "\n"
    path = GOLDEN / f"{name}.{dialect}.sql"
    if REGEN:
        path.write_text(sql, encoding="utf-8")
    assert path.exists(), f"missing golden {path.name}; run with ESCUDO_REGEN_GOLDEN=1"
    assert sql == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_spark_sql_is_portable(name: str) -> None:
    """No Spark here: the Spark text avoids DuckDB-only constructs and reads back as Spark SQL."""
    sql = rule_query(RULES[name]).sql("spark")
    assert [word for word in NOT_SPARK if word in sql.upper()] == []
    parsed = sqlglot.parse_one(sql, read=dialect_for("spark"))
    assert parsed.sql(dialect=dialect_for("spark")) == sql


def test_thresholds_and_window_are_literals_in_the_tree() -> None:
    rule = RiskRule(
        name="R",
        search_name="R - Rule",
        window_seconds=90,
        thresholds=(("risk_score", ">", 7), ("source_count", ">=", 2)),
        title="t",
    )
    tree = rule_query(rule).expression
    compared = {
        (node.this.name, type(node).__name__, node.expression.this)
        for node in tree.find_all(exp.GT, exp.GTE)
        if isinstance(node.expression, exp.Literal)
    }
    assert compared == {("risk_score", "GT", "7"), ("source_count", "GTE", "2")}
    assert [i.this.this for i in tree.find_all(exp.Interval)] == ["90"]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_attack_data_findings_are_byte_identical_on_every_engine(engine: str) -> None:
    lines = (GOLDEN / "attack_data_risk.jsonl").read_text(encoding="utf-8").splitlines()
    risk = risk_table([from_json(line) for line in lines])
    found = "".join(to_json(f) + "\n" for f in risk_incidents_of(risk, engine))
    expected = (GOLDEN / "attack_data_findings.jsonl").read_text(encoding="utf-8")
    assert found.count("\n") == 9
    assert found == expected


def _event(index: int, risk_object: str, minutes: int) -> dict[str, object]:
    return {
        "_time": datetime(2024, 5, 1, 10, tzinfo=UTC) + timedelta(minutes=minutes),
        "risk_event_id": f"e{index}",
        "normalized_risk_object": "alice",
        "risk_object": risk_object,
        "risk_object_type": "user",
        "risk_score": "30",
        "calculated_risk_score": "30",
        "source": "S",
    }


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_rules_run_on_a_registered_engine_and_ties_pick_the_smallest_risk_object(
    engine: str,
) -> None:
    # b, a, b, a, c within 24 h: a and b tie (twice each), the smallest wins whatever the order.
    names = ["b", "a", "b", "a", "c"]
    events = [_event(i, name, i) for i, name in enumerate(names)]
    with new_engine(engine) as running:
        running.register_arrow(RISK_DATASET, risk_table(events[::-1]))
        findings = risk_incidents(running)
    assert [(f["risk_object"], f["risk_score"], f["risk_event_count"]) for f in findings] == [
        ("a", 120, 4)
    ]
    assert findings[0]["all_risk_objects"] == ["a", "b"]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_risk_score_that_is_not_a_number_counts_as_none_on_every_engine(engine: str) -> None:
    """DuckDB's TRY_CAST makes ``n/a`` NULL (left out of the sum); Spark in ANSI mode (its default
    since 4.0) fails a plain CAST, so the rules ask it for TRY_CAST too."""
    events = [_event(i, "a", i) for i in range(5)]
    events[2] = {**events[2], "risk_score": "n/a", "calculated_risk_score": "n/a"}
    with new_engine(engine) as running:
        running.register_arrow(RISK_DATASET, risk_table(events))
        findings = risk_incidents(running)
    assert [(f["risk_score"], f["risk_event_count"]) for f in findings] == [(120, 5)]
