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
from hypothesis import given, settings
from hypothesis import strategies as st
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


def _findings_from_the_query(
    running: object, rules: tuple[RiskRule, ...]
) -> list[dict[str, object]]:
    """The rules as rule_query defines them: every candidate from the engine (its join of each
    event with every other in its window), then the throttle: what risk_incidents did before it
    walked the windows itself."""
    from escudo.detect.findings import _OUTPUT, _rule_finding

    findings = []
    for rule in rules:
        rows = running.run(rule_query(rule)).to_pylist()  # type: ignore[attr-defined]
        entities: dict[tuple[str, str], list[dict[str, object]]] = {}
        for row in rows:
            entities.setdefault((row["obj"], row["typ"]), []).append(row)
        fired = []
        for candidates in entities.values():
            quiet_until = None
            for row in sorted(candidates, key=lambda r: (r["trigger_time"], r["trigger_id"])):
                if quiet_until is None or row["trigger_time"] >= quiet_until:
                    fired.append(row)
                    quiet_until = row["trigger_time"] + timedelta(seconds=rule.window_seconds)
        fired.sort(key=lambda r: (r["trigger_time"], r["obj"], r["typ"]))
        for row in fired:
            found = {field: row[name] for name, field in _OUTPUT if name != "trigger_id"}
            findings.append(_rule_finding(rule, found))
    return findings


_TACTICS = st.lists(st.sampled_from(["TA0001", "TA0002", "TA0011", "TA0004", None]), max_size=3)


@st.composite
def _risk_events(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(0, 40))
    events = []
    for index in range(count):
        tactics = draw(_TACTICS)
        events.append(
            {
                # minutes over ~9 days, with ties: windows of 24 h and 7 days slide over them
                "_time": datetime(2024, 5, 1, tzinfo=UTC)
                + timedelta(
                    minutes=draw(st.sampled_from([0, 1, 30, 600, 1440, 1441, 5000, 12000]))
                ),
                "risk_event_id": f"e{index:03d}",
                "normalized_risk_object": draw(st.sampled_from(["alice", "web-01"])),
                "risk_object": draw(st.sampled_from(["alice", "Alice", "web-01", None])),
                "risk_object_type": draw(st.sampled_from(["user", "system", None])),
                "risk_score": draw(st.sampled_from(["30", "12.5", "0.0000005", "n/a", None])),
                "calculated_risk_score": draw(st.sampled_from(["45", None])),
                "source": draw(st.sampled_from(["S1", "S2", "S3", "S4", "S5", None])),
                "annotations.mitre_attack.mitre_tactic_id": tactics,
                "annotations.mitre_attack.mitre_tactic": [t and t.lower() for t in tactics],
                "annotations.mitre_attack.mitre_technique_id": draw(
                    st.lists(st.sampled_from(["T1572", "T1090", None]), max_size=2)
                ),
            }
        )
    return events


@settings(max_examples=60, deadline=None)
@given(_risk_events())
def test_the_windows_walked_give_the_findings_of_the_query(events: list[dict[str, object]]) -> None:
    rules = (
        *RISK_RULES,
        RiskRule("count", "count", 3600, (("risk_event_count", ">=", 2),), "t"),
        RiskRule("low", "low", 86400, (("risk_score", ">", 40), ("source_count", ">=", 2)), "t"),
    )
    with new_engine("duckdb") as running:
        running.register_arrow(RISK_DATASET, risk_table(events))
        expected = _findings_from_the_query(running, rules)
        assert risk_incidents(running, rules) == expected
