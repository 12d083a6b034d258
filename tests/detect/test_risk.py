"""Risk events: golden events for the seed in all three YAML schemas, messages, ids, identities."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seed import SCHEMAS, as_jsonl, seed_detection, seed_result, seed_row

from escudo.detect.identity import IdentityResolver
from escudo.detect.risk import render_message, risk_events
from escudo.errors import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "risk"

MESSAGE = (
    "A reverse proxy was identified spawning from bash -  ngrok on endpoint web-02 by user alice."
)


def two_rows() -> list[dict[str, str]]:
    return [
        seed_row(),
        seed_row(user="bob", dest="web-03", parent="sh", last="2024-05-01T11:30:00"),
    ]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_golden_risk_events(schema: str) -> None:
    events = risk_events(seed_result(seed_detection(schema), two_rows()))
    golden = FIXTURES / f"golden_risk_{schema}.jsonl"
    if os.environ.get("ESCUDO_UPDATE_GOLDEN"):
        golden.write_text(as_jsonl(events))
    assert as_jsonl(events) == golden.read_text()


@pytest.mark.parametrize("schema", SCHEMAS)
def test_two_events_per_seed_result(schema: str) -> None:
    events = risk_events(seed_result(seed_detection(schema), [seed_row()]))
    assert [(e["risk_object"], e["risk_object_type"], e["risk_score"]) for e in events] == [
        ("alice", "user", 50),
        ("web-02", "system", 50),
    ]
    for event in events:
        assert event["risk_message"] == MESSAGE
        assert event["threat_object"] == ["bash", "ngrok"]
        assert (
            event["search_name"]
            == event["source"]
            == "ESCU - Linux Ngrok Reverse Proxy Usage - Rule"
        )
        assert event["annotations.mitre_attack"] == ["T1572", "T1090", "T1102"]
        assert event["annotations.mitre_attack.mitre_tactic"] == ["Command and Control"]
        assert event["annotations.mitre_attack.mitre_tactic_id"] == ["TA0011"]
        assert event["analyticstories"] == ["Reverse Network Proxy"]
        assert event["normalized_risk_object"] == event["risk_object"]
        assert event["_time"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
        assert event["process"] == "/usr/local/bin/ngrok tcp 22"  # the row's own fields ride along


@pytest.mark.parametrize("kind", ["Hunting", "Correlation", "Baseline"])
def test_only_ttp_and_anomaly_detections_write_risk(kind: str) -> None:
    # contentctl deploys the risk action for TTP and Anomaly only: ESCU's v4 Hunting detections
    # still carry a risk_score in their tags, and wrote one risk event per row here.
    from dataclasses import replace

    detection = seed_detection("tags")
    assert len(risk_events(seed_result(replace(detection, type="Anomaly"), [seed_row()]))) == 2
    assert risk_events(seed_result(replace(detection, type=kind), [seed_row()])) == []


def test_threat_object_types_follow_the_schema() -> None:
    tags = risk_events(seed_result(seed_detection("tags"), [seed_row()]))[0]
    rba = risk_events(seed_result(seed_detection("rba"), [seed_row()]))[0]
    assert tags["threat_object_type"] == ["process", "process"]  # contentctl 4 observable mapping
    assert rba["threat_object_type"] == ["parent_process_name", "process_name"]


def test_risk_event_ids_are_stable_and_distinct() -> None:
    detection = seed_detection()
    first = risk_events(seed_result(detection, two_rows()))
    again = risk_events(seed_result(detection, two_rows()))
    assert [e["risk_event_id"] for e in first] == [e["risk_event_id"] for e in again]
    assert len({e["risk_event_id"] for e in first}) == 4
    other = risk_events(seed_result(detection, [seed_row(pid="4243")]))
    assert other[0]["risk_event_id"] != first[0]["risk_event_id"]


def test_missing_risk_object_gives_no_event_and_missing_token_stays() -> None:
    row = seed_row()
    row["user"] = None
    events = risk_events(seed_result(seed_detection(), [row]))
    assert [e["risk_object"] for e in events] == ["web-02"]
    assert events[0]["risk_message"].endswith("by user $user$.")


def test_message_keeps_spacing_and_unknown_tokens() -> None:
    assert render_message("$a$  $b$ $c$ $$", {"a": "x", "b": ["y", "z"]}) == "x  y, z $c$ $$"


@given(
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.text(max_size=8), max_size=4)
)
def test_message_without_tokens_is_unchanged(row: dict[str, str]) -> None:
    template = "no tokens here - just text"
    assert render_message(template, row) == template


def test_identity_and_asset_lookups_merge_aliases(tmp_path: Path) -> None:
    identities = tmp_path / "identities.csv"
    identities.write_text(
        "identity,email,priority\nalice.smith|alice|asmith,alice@corp.example,high\n"
    )
    assets = tmp_path / "assets.csv"
    assets.write_text("ip,mac,nt_host,dns\n10.0.0.5,,WEB-02,web-02.corp.example|web-02\n")
    resolver = IdentityResolver.from_csv(identities, assets)
    events = risk_events(seed_result(seed_detection(), [seed_row()]), identities=resolver)
    assert [e["normalized_risk_object"] for e in events] == ["alice.smith", "WEB-02"]
    assert [e["risk_object"] for e in events] == ["alice", "web-02"]
    assert resolver.normalize("ALICE@corp.example", "user") == "alice.smith"
    assert resolver.normalize("alice", "other") == "alice"


def test_bad_lookup_file_names_path_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "identities.csv"
    bad.write_text("name,priority\nalice,high\n")
    with pytest.raises(InputError) as info:
        IdentityResolver.from_csv(bad)
    assert str(info.value) == f"{bad}:1: lookup header needs one of identity, email"
