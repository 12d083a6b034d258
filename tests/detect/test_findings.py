"""Findings: TTP findings per row, and the two risk incident rules over accumulated risk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from seed import seed_detection, seed_result, seed_row, ttp_detection

from escudo.content.model import Detection, RiskObject
from escudo.detect.emit import emit
from escudo.detect.findings import detection_findings, detection_severity, risk_severity
from escudo.detect.result import DetectionResult

RULE_24H = "Risk Threshold Exceeded For Object Over 24 Hour Period"
RULE_7D = "ATT&CK Tactic Threshold Exceeded For Object Over Previous 7 Days"


def incidents(findings: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["rule"] == rule]


def seed_runs(*times: str, same_user: bool = False) -> list[DetectionResult]:
    users = ["alice"] * len(times) if same_user else [f"user{i}" for i in range(len(times))]
    rows = [
        seed_row(user=u, last=t, pid=str(i))
        for i, (u, t) in enumerate(zip(users, times, strict=True))
    ]
    return [seed_result(seed_detection(), rows)]


def test_three_seed_results_within_24h_raise_one_host_finding() -> None:
    found = emit(
        seed_runs("2024-05-01T10:00:00", "2024-05-01T20:00:00", "2024-05-02T09:59:59"), "findings"
    )
    [finding] = incidents(found, RULE_24H)
    assert finding["normalized_risk_object"] == "web-02"
    assert finding["risk_object_type"] == "system"
    assert finding["risk_score"] == 150
    assert finding["risk_event_count"] == 3
    assert finding["severity"] == "medium"
    assert finding["source"] == ["ESCU - Linux Ngrok Reverse Proxy Usage - Rule"]
    assert finding["annotations.mitre_attack.mitre_tactic"] == ["Command and Control"]
    assert finding["annotations.mitre_attack.mitre_technique_id"] == ["T1090", "T1102", "T1572"]
    assert finding["_time"] == datetime(2024, 5, 2, 9, 59, 59, tzinfo=UTC)
    assert finding["title"] == "24 hour risk threshold exceeded for system=web-02"
    assert len(finding["risk_event_ids"]) == 3


def test_two_seed_results_do_not() -> None:
    assert (
        incidents(
            emit(seed_runs("2024-05-01T10:00:00", "2024-05-01T20:00:00"), "findings"), RULE_24H
        )
        == []
    )


def test_three_results_spread_over_more_than_24h_do_not() -> None:
    found = emit(
        seed_runs("2024-05-01T10:00:00", "2024-05-01T20:00:00", "2024-05-02T10:00:01"), "findings"
    )
    assert incidents(found, RULE_24H) == []


def test_window_includes_its_earliest_second() -> None:
    found = emit(
        seed_runs("2024-05-01T10:00:00", "2024-05-01T20:00:00", "2024-05-02T10:00:00"), "findings"
    )
    assert len(incidents(found, RULE_24H)) == 1


def test_same_user_raises_one_finding_per_entity() -> None:
    found = emit(
        seed_runs("2024-05-01T10:00", "2024-05-01T11:00", "2024-05-01T12:00", same_user=True),
        "findings",
    )
    keys = sorted(
        (f["risk_object_type"], f["normalized_risk_object"]) for f in incidents(found, RULE_24H)
    )
    assert keys == [("system", "web-02"), ("user", "alice")]


def test_throttle_then_fire_again_a_day_later() -> None:
    times = [f"2024-05-01T{h:02d}:00:00" for h in (1, 2, 3, 4)] + [
        f"2024-05-02T{h:02d}:00:00" for h in (5, 6, 7)
    ]
    found = incidents(emit(seed_runs(*times), "findings"), RULE_24H)
    assert [f["_time"].isoformat() for f in found] == [
        "2024-05-01T03:00:00+00:00",
        "2024-05-02T07:00:00+00:00",
    ]
    assert [f["risk_score"] for f in found] == [
        150,
        150,
    ]  # window 2024-05-01T07:00..2024-05-02T07:00


def test_severity_buckets() -> None:
    assert [risk_severity(s) for s in (101, 249, 250, 499, 500)] == [
        "medium",
        "medium",
        "high",
        "high",
        "critical",
    ]
    assert [detection_severity(s) for s in (0, 20, 21, 40, 41, 60, 61, 80, 81, 100)] == [
        "informational", "informational", "low", "low", "medium", "medium", "high", "high", "critical", "critical",
    ]  # fmt: skip


def tactic_detection(name: str, technique: str) -> Detection:
    return Detection(
        name=name,
        id=name.lower(),
        search="| tstats count from datamodel=Endpoint.Processes",
        type="Anomaly",
        mitre_attack_id=(technique,),
        risk_message="$dest$",
        risk_objects=(RiskObject("dest", "system", 10),),
    )


def one_row(detection: Detection, when: str) -> DetectionResult:
    table = pa.table({"dest": ["db-01"], "lastTime": [when]})
    return DetectionResult(detection, None, table)  # type: ignore[arg-type]


TACTIC_RESULTS = [
    ("Ngrok", "T1572", "2024-05-01T00:00:00"),  # Command and Control
    ("Shell", "T1059.004", "2024-05-03T00:00:00"),  # Execution
    ("Cron", "T1053.003", "2024-05-05T00:00:00"),  # Execution, Persistence, Privilege Escalation
    ("Wipe", "T1070.004", "2024-05-07T23:00:00"),  # Defense Evasion
]


def test_tactic_rule_fires_with_four_detections_and_three_tactics_in_7_days() -> None:
    results = [one_row(tactic_detection(n, t), when) for n, t, when in TACTIC_RESULTS]
    found = emit(results, "findings")
    [finding] = incidents(found, RULE_7D)
    assert finding["normalized_risk_object"] == "db-01"
    assert finding["source_count"] == 4
    assert finding["mitre_tactic_id_count"] == 5
    assert finding["risk_score"] == 40
    assert finding["severity"] == "low"
    assert incidents(found, RULE_24H) == []


def test_tactic_rule_needs_four_detections() -> None:
    results = [one_row(tactic_detection(n, t), when) for n, t, when in TACTIC_RESULTS[:3]]
    assert incidents(emit(results, "findings"), RULE_7D) == []


def test_tactic_rule_window_is_7_days() -> None:
    spread = [*TACTIC_RESULTS[:3], ("Wipe", "T1070.004", "2024-05-08T00:00:01")]
    results = [one_row(tactic_detection(n, t), when) for n, t, when in spread]
    assert incidents(emit(results, "findings"), RULE_7D) == []


def test_ttp_finding_per_row_with_title_template_and_severity() -> None:
    detection = ttp_detection()
    result = seed_result(detection, [seed_row(), seed_row(dest="web-03", pid="7")])
    findings = detection_findings(result)
    assert [f["title"] for f in findings] == [
        "Ngrok tunnel started on web-02 by alice",
        "Ngrok tunnel started on web-03 by alice",
    ]
    assert {f["severity"] for f in findings} == {"high"}  # score 72
    assert findings[0]["nes_fields"] == ["user", "dest"]
    assert (findings[0]["user"], findings[0]["dest"]) == ("alice", "web-02")
    assert findings[0]["description"] == "An ngrok tunnel was started on a Linux host."
    assert findings[0]["finding_id"] != findings[1]["finding_id"]


@pytest.mark.parametrize("schema", ["tags", "rba", "findings"])
def test_anomalies_raise_no_direct_finding(schema: str) -> None:
    assert detection_findings(seed_result(seed_detection(schema), [seed_row()])) == []


def test_correlation_finding_title_is_prefixed_rba() -> None:
    """contentctl's rule_title: the name, with "RBA: " for Correlation (escu-semantics.md 5.2)."""
    correlation = Detection(
        name="Many Tunnels", id="c1", search="", type="Correlation", risk_score=70
    )
    [finding] = detection_findings(DetectionResult(correlation, None, pa.table({"user": ["a"]})))  # type: ignore[arg-type]
    assert (finding["title"], finding["severity"]) == ("RBA: Many Tunnels", "high")
