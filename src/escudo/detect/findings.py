"""Findings (ES notables): one per TTP result row, and the risk incident rules over risk events.

The two default Risk Incident Rules of Enterprise Security run in SQL on DuckDB over the ``risk`` table
(``store.create_schema``), with every threshold and window bound as a query parameter.
Windows slide: a rule is evaluated at each risk event's time ``t`` over ``[t - window, t]`` (what an ES
rule scheduled after every event would see), and a rule that fired for an entity stays quiet for that
entity for one window length (ES throttles these rules on ``normalized_risk_object``), so three seed
results within 24 h on one host raise one finding for that host, not one per extra event. The answer
depends on the set of risk events only (ties and sums included), so a store can replace its risk
incident findings with it after every write (``store.replace_risk_findings``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from escudo.detect.result import DetectionResult
from escudo.detect.risk import attack_annotations, event_time, render_message, stable_id

# contentctl v4.4.7 severity buckets of a detection's risk score (escu-semantics.md section 1c),
# as (lowest score, severity), highest first.
DETECTION_SEVERITY: tuple[tuple[int, str], ...] = (
    (81, "critical"),
    (61, "high"),
    (41, "medium"),
    (21, "low"),
    (0, "informational"),
)
# ES 7.0 doc for the 24 h risk incident rule: medium [100, 250), high [250, 500), critical >= 500
# (escu-semantics.md section 6). Below 100 (only the 7-day tactic rule gets there) is escudo's "low".
RISK_SEVERITY: tuple[tuple[float, str], ...] = ((500, "critical"), (250, "high"), (100, "medium"))
RISK_SEVERITY_DEFAULT = "low"

# Detection types whose results raise findings directly (contentctl deployments: notable for TTP and
# Correlation, escu-semantics.md 5.2), with ``nes_fields = user,dest``.
FINDING_TYPES = frozenset({"TTP", "Correlation"})
# contentctl's ``rule_title`` is ``%name%``, prefixed "RBA: " for Correlation (escu-semantics.md 5.2).
TITLE_PREFIX: dict[str, str] = {"Correlation": "RBA: "}
NES_FIELDS: tuple[str, ...] = ("user", "dest")
# ``finding_type`` of the findings the risk incident rules raise (the store replaces them as a set).
RISK_INCIDENT = "risk_incident"


def detection_severity(score: int) -> str:
    """contentctl's severity for a risk score.

    >>> detection_severity(50), detection_severity(20), detection_severity(81)
    ('medium', 'informational', 'critical')
    """
    return next(name for low, name in DETECTION_SEVERITY if score >= low)


def risk_severity(total: float) -> str:
    """ES's severity for a summed risk score.

    >>> risk_severity(150), risk_severity(250), risk_severity(500)
    ('medium', 'high', 'critical')
    """
    return next((name for low, name in RISK_SEVERITY if total >= low), RISK_SEVERITY_DEFAULT)


def detection_findings(result: DetectionResult) -> list[dict[str, Any]]:
    """One finding per result row of a TTP (or Correlation) detection; none for other types.

    >>> import pyarrow as pa
    >>> from escudo.content.model import Detection
    >>> d = Detection(name="D", id="1", search="", type="TTP", risk_score=72)
    >>> [f["severity"] for f in detection_findings(DetectionResult(d, None, pa.table({"user": ["a"]})))]
    ['high']
    """
    detection = result.detection
    if detection.type not in FINDING_TYPES:
        return []
    scores = [o.score for o in detection.risk_objects]
    score = detection.risk_score if detection.risk_score is not None else max(scores, default=0)
    annotations = attack_annotations(detection)
    findings: list[dict[str, Any]] = []
    for row in result.records():
        title = (
            render_message(detection.finding.title, row)
            if detection.finding
            else TITLE_PREFIX.get(detection.type, "") + detection.name
        )
        finding: dict[str, Any] = dict(row)
        finding.update(
            {
                "finding_id": stable_id("finding", detection.id, row),
                "_time": event_time(row, result.info_max_time),
                "rule": detection.name,
                "finding_type": "detection",
                "search_name": detection.search_name,
                "source": detection.search_name,
                "title": title,
                "description": detection.description,
                "severity": detection_severity(score),
                "risk_score": score,
                "nes_fields": list(NES_FIELDS),
                **{name: row.get(name) for name in NES_FIELDS},
                "analyticstories": list(detection.analytic_story),
                **annotations,
            }
        )
        findings.append(finding)
    return findings


@dataclass(frozen=True)
class RiskRule:
    """A risk incident rule: a sliding window, a condition on the window's aggregates, a title."""

    name: str
    search_name: str
    window_seconds: int
    condition: str  # SQL over the aggregates below, with named parameters only
    parameters: Mapping[str, float]
    title: str  # template over the finding's fields


# ES's default RIRs (escu-semantics.md section 6; ES 7.0/7.3 docs). Conditions are constant SQL; every
# number is a bound parameter.
RISK_RULES: tuple[RiskRule, ...] = (
    RiskRule(
        name="Risk Threshold Exceeded For Object Over 24 Hour Period",
        search_name="Risk - 24 Hour Risk Threshold Exceeded - Rule",
        window_seconds=24 * 3600,
        condition="risk_score > $risk_threshold",
        parameters={"risk_threshold": 100},
        title="24 hour risk threshold exceeded for $risk_object_type$=$normalized_risk_object$",
    ),
    RiskRule(
        name="ATT&CK Tactic Threshold Exceeded For Object Over Previous 7 Days",
        search_name="Risk - 7 Day ATT&CK Tactic Threshold Exceeded - Rule",
        window_seconds=7 * 24 * 3600,
        condition="tactic_count >= $min_tactics AND source_count >= $min_sources",
        parameters={"min_tactics": 3, "min_sources": 4},
        title="ATT&CK tactic threshold exceeded over previous 7 days for "
        "$risk_object_type$=$normalized_risk_object$",
    ),
)

_RULE_SQL = """
WITH ev AS (
    SELECT normalized_risk_object AS obj, risk_object_type AS typ, _time, risk_event_id,
           risk_object, source,
           -- exact decimals: a sum of doubles would depend on the order it adds them in
           TRY_CAST(coalesce(calculated_risk_score, risk_score) AS DECIMAL(38, 6)) AS score,
           coalesce("annotations.mitre_attack.mitre_tactic_id", []) AS tactic_ids,
           coalesce("annotations.mitre_attack.mitre_tactic", []) AS tactics,
           coalesce("annotations.mitre_attack.mitre_technique_id", []) AS technique_ids
    FROM risk WHERE normalized_risk_object IS NOT NULL AND _time IS NOT NULL
), windows AS (
    SELECT a.obj, a.typ, a._time AS trigger_time, a.risk_event_id AS trigger_id,
           min(b._time) AS first_time,
           coalesce(sum(b.score), 0) AS risk_score,
           count(*) AS risk_event_count,
           list_sort(list(b.risk_object)) AS risk_objects,
           list_sort(list_distinct(list(b.risk_object))) AS all_risk_objects,
           list_sort(list_distinct(flatten(list(b.tactic_ids)))) AS tactic_ids,
           list_sort(list_distinct(flatten(list(b.tactics)))) AS tactics,
           list_sort(list_distinct(flatten(list(b.technique_ids)))) AS technique_ids,
           list_sort(list_distinct(list(b.source))) AS sources,
           list_sort(list(b.risk_event_id)) AS risk_event_ids
    FROM ev a JOIN ev b ON a.obj = b.obj AND a.typ = b.typ
        AND b._time <= a._time AND b._time >= a._time - to_seconds($window)
    GROUP BY a.obj, a.typ, a._time, a.risk_event_id
), candidates AS (
    SELECT *, row_number() OVER (PARTITION BY obj, typ ORDER BY trigger_time, trigger_id) AS rn
    FROM (SELECT *, len(tactic_ids) AS tactic_count, len(sources) AS source_count FROM windows)
    WHERE {condition}
), following AS (
    -- the first candidate once the throttle after candidate c has passed
    SELECT c.obj, c.typ, c.rn, min(n.rn) AS next_rn
    FROM candidates c LEFT JOIN candidates n ON n.obj = c.obj AND n.typ = c.typ
        AND n.trigger_time >= c.trigger_time + to_seconds($window)
    GROUP BY c.obj, c.typ, c.rn
), fired AS (
    WITH RECURSIVE chain(obj, typ, rn) AS (
        SELECT obj, typ, rn FROM candidates WHERE rn = 1
        UNION ALL
        SELECT f.obj, f.typ, f.next_rn FROM chain JOIN following f
            ON f.obj = chain.obj AND f.typ = chain.typ AND f.rn = chain.rn
        WHERE f.next_rn IS NOT NULL
    )
    SELECT * FROM chain
)
SELECT c.obj, c.typ, c.trigger_time, c.first_time, c.risk_score, c.risk_event_count, c.risk_objects,
       c.all_risk_objects, c.tactic_ids, c.tactics, c.technique_ids, c.sources, c.tactic_count,
       c.source_count, c.risk_event_ids
FROM candidates c JOIN fired USING (obj, typ, rn)
ORDER BY c.trigger_time, c.obj, c.typ
"""

_COLUMNS = (
    "normalized_risk_object", "risk_object_type", "_time", "firstTime", "risk_score",
    "risk_event_count", "risk_object", "all_risk_objects", "annotations.mitre_attack.mitre_tactic_id",
    "annotations.mitre_attack.mitre_tactic", "annotations.mitre_attack.mitre_technique_id", "source",
    "mitre_tactic_id_count", "source_count", "risk_event_ids",
)  # fmt: skip


def risk_incidents(
    con: duckdb.DuckDBPyConnection, rules: tuple[RiskRule, ...] = RISK_RULES
) -> list[dict[str, Any]]:
    """Run the risk incident rules over the connection's ``risk`` table; one finding per firing.

    >>> from escudo.detect.store import create_schema
    >>> con = duckdb.connect(); create_schema(con)
    >>> risk_incidents(con)
    []
    """
    findings: list[dict[str, Any]] = []
    for rule in rules:
        sql = _RULE_SQL.format(condition=rule.condition)
        params = {"window": rule.window_seconds, **rule.parameters}
        for values in con.execute(sql, params).fetchall():
            findings.append(_rule_finding(rule, dict(zip(_COLUMNS, values, strict=True))))
    return findings


def most_frequent(values: Sequence[str]) -> str | None:
    """SPL ``mode``: the most frequent value; among equally frequent ones the smallest, so the
    answer does not depend on the order the values were stored in (Splunk's docs say nothing of
    ties; escudo's choice).

    >>> most_frequent(["b", "a", "b", "a", "c"]), most_frequent([])
    ('a', None)
    """
    counts = Counter(v for v in values if v is not None)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None


def _rule_finding(rule: RiskRule, found: dict[str, Any]) -> dict[str, Any]:
    trigger: datetime = found["_time"]
    found["risk_object"] = most_frequent(found["risk_object"])
    score = float(found["risk_score"])
    found["risk_score"] = int(score) if score.is_integer() else score
    found["annotations.mitre_attack"] = found["annotations.mitre_attack.mitre_technique_id"]
    found["mitre_technique_id_count"] = len(found["annotations.mitre_attack"])
    return {
        "finding_id": stable_id(
            rule.name, found["normalized_risk_object"], found["risk_object_type"], trigger
        ),
        "rule": rule.name,
        "finding_type": RISK_INCIDENT,
        "search_name": rule.search_name,
        "title": render_message(rule.title, found),
        "severity": risk_severity(score),
        "info_min_time": trigger - timedelta(seconds=rule.window_seconds),
        "info_max_time": trigger,
        "lastTime": trigger,
        **found,
    }
