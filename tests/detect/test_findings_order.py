"""Stored findings are a function of the set of stored risk events, not of the runs that added them.

The same risk events, fed to a store all at once, in two runs, reversed or one per run, leave the same
findings (ids, times, scores, every field), and never two for one entity inside the throttle window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed import seed_detection, seed_result, seed_row

from escudo.content.model import Detection, RiskObject
from escudo.detect.emit import emit, emit_all
from escudo.detect.findings import RISK_RULES
from escudo.detect.identity import IdentityResolver
from escudo.detect.result import DetectionResult
from escudo.detect.store import Store

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
WINDOWS = {rule.name: timedelta(seconds=rule.window_seconds) for rule in RISK_RULES}

# (field, risk object type, value): "alice" has two aliases in the identity lookup, so the finding's
# ``risk_object`` (the most frequent alias) can tie.
ENTITIES = (
    ("dest", "system", "web-01"),
    ("dest", "system", "web-02"),
    ("user", "user", "alice"),
    ("user", "user", "alice@corp.example"),
)
IDENTITIES = IdentityResolver.from_rows(identities=[{"identity": "alice|alice@corp.example"}])
# (detection, technique): five detections over four tactics, so the 7-day tactic rule can fire too.
SOURCES = (
    ("Ngrok", "T1572"),  # Command and Control
    ("Shell", "T1059.004"),  # Execution
    ("Cron", "T1053.003"),  # Execution, Persistence, Privilege Escalation
    ("Wipe", "T1070.004"),  # Defense Evasion
    ("Chisel", "T1572"),
)
SCORES = (50, 20, 80, 15, 1, 33)

Event = tuple[int, int, int, int, int]  # (index, minutes after START, entity, source, score)


def result(event: Event) -> DetectionResult:
    """One detection result row raising one risk event."""
    index, minutes, entity, source, score = event
    field, kind, value = ENTITIES[entity]
    name, technique = SOURCES[source]
    detection = Detection(
        name=name,
        id=name.lower(),
        search="| tstats count from datamodel=Endpoint.Processes",
        type="Anomaly",
        mitre_attack_id=(technique,),
        risk_message=f"${field}$",
        risk_objects=(RiskObject(field, kind, score),),
    )
    when = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")
    row = {field: [value], "lastTime": [when], "row": [str(index)]}
    return DetectionResult(detection, None, pa.table(row))  # type: ignore[arg-type]


def stored_findings(runs: Sequence[Sequence[Event]], folder: Path) -> list[dict[str, Any]]:
    """Feed each run to the store as ``escudo hunt --store`` does; the findings it ends with."""
    path = folder / "escudo-store"
    for run in runs:
        emit_all([result(e) for e in run], store_path=path, identities=IDENTITIES)
    return Store(path).findings()


def assert_throttled(findings: list[dict[str, Any]]) -> None:
    """At most one finding per rule and entity inside any window length."""
    last: dict[tuple[str, str, str], datetime] = {}
    for finding in sorted(findings, key=lambda f: f["_time"]):
        key = (finding["rule"], finding["normalized_risk_object"], finding["risk_object_type"])
        if key in last:
            assert finding["_time"] - last[key] >= WINDOWS[finding["rule"]], finding["title"]
        last[key] = finding["_time"]


# web-02 crosses 100 at 10:05 with what the first run holds; the late event at 10:01 moves the
# crossing earlier. Alice's two aliases tie; four detections over 4 days trip the 7-day rule on web-01.
DAY = 24 * 60
EVENTS: list[Event] = [
    (0, 0, 1, 0, 50),
    (1, 1, 1, 0, 50),
    (2, 5, 1, 0, 50),
    (3, 1, 1, 4, 50),  # the late one
    (4, 60, 2, 0, 80),
    (5, 61, 3, 0, 80),
    (6, DAY, 0, 1, 15),
    (7, 2 * DAY, 0, 2, 1),
    (8, 3 * DAY, 0, 3, 33),
    (9, 4 * DAY, 0, 0, 20),
    (10, 4 * DAY + 2, 1, 0, 50),
    (11, 4 * DAY + 3, 1, 0, 50),
    (12, 4 * DAY + 4, 1, 0, 50),
]
ARRIVALS = {
    "all at once": [EVENTS],
    "two runs": [EVENTS[:3] + EVENTS[4:], [EVENTS[3]]],
    "reversed": [EVENTS[::-1]],
    "one per run": [[e] for e in EVENTS],
    "one per run, reversed": [[e] for e in EVENTS[::-1]],
}


@pytest.mark.parametrize("arrival", list(ARRIVALS)[1:])
def test_findings_do_not_depend_on_arrival(arrival: str, tmp_path: Path) -> None:
    expected = stored_findings(ARRIVALS["all at once"], tmp_path / "once")
    assert [
        (f["normalized_risk_object"], f["_time"].strftime("%d %H:%M:%S")) for f in expected
    ] == [
        ("web-02", "01 10:01:00"),
        ("alice", "01 11:01:00"),
        ("web-01", "05 10:00:00"),
        ("web-02", "05 10:04:00"),
    ]
    assert expected[1]["risk_object"] == "alice"  # the tie between aliases: the smallest
    found = stored_findings(ARRIVALS[arrival], tmp_path / "runs")
    assert found == expected
    assert_throttled(found)


def test_a_late_event_moves_the_finding_instead_of_adding_one(tmp_path: Path) -> None:
    """The reported case, through ``escudo hunt --store``'s path: the first run's finding at
    10:00:05 is replaced by the one at 10:00:01 once the earlier result arrives."""
    detection = seed_detection()
    late = seed_row(user="u3", last="2024-05-01T10:00:01", pid="3")
    rows = [
        seed_row(user=f"u{i}", last=f"2024-05-01T10:00:0{s}", pid=str(i))
        for i, s in enumerate((0, 1, 5))
    ]
    path = tmp_path / "s-store"
    [first] = emit([seed_result(detection, rows)], "findings", store_path=path)
    [second] = emit([seed_result(detection, [late])], "findings", store_path=path)
    assert (first["_time"].second, second["_time"].second) == (5, 1)
    [stored] = Store(path).findings()
    keys = ("finding_id", "_time", "risk_score", "risk_event_count", "risk_event_ids")
    assert [stored[k] for k in keys] == [second[k] for k in keys]
    assert (stored["risk_score"], stored["risk_event_count"]) == (150, 3)

    together = tmp_path / "together-store"
    emit([seed_result(detection, [*rows, late])], "findings", store_path=together)
    assert Store(together).findings() == [stored]


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Event], list[list[Event]]]:
    """A set of risk-raising results, then the same results permuted and cut into runs."""
    count = draw(st.integers(1, 10))
    events = [
        (
            i,
            draw(st.integers(0, 9 * DAY).map(lambda m: m - m % 30)),  # so that times tie
            draw(st.integers(0, len(ENTITIES) - 1)),
            draw(st.integers(0, len(SOURCES) - 1)),
            draw(st.sampled_from(SCORES)),
        )
        for i in range(count)
    ]
    order = draw(st.permutations(events))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, count - 1)), max_size=min(3, count - 1))))
    bounds = [0, *cuts, count]
    return events, [order[a:b] for a, b in pairwise(bounds)]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_findings_are_a_function_of_the_stored_risk_set(
    case: tuple[list[Event], list[list[Event]]],
) -> None:
    events, runs = case
    with tempfile.TemporaryDirectory() as folder:
        expected = stored_findings([events], Path(folder) / "once")
        found = stored_findings(runs, Path(folder) / "runs")
    assert found == expected
    assert_throttled(found)


def test_fractional_scores_add_up_exactly_in_any_order(tmp_path: Path) -> None:
    """Risk written by another tool may carry fractional scores (ES risk factors): summed as
    decimals, not doubles, whose sum depends on the order the rows are added in."""
    scores = ("0.1", "0.2", "33.3", "33.3", "33.4")
    events = [
        {
            "_time": START + timedelta(minutes=i),
            "risk_event_id": f"e{i}",
            "risk_object": "web-02",
            "normalized_risk_object": "web-02",
            "risk_object_type": "system",
            "risk_score": score,
        }
        for i, score in enumerate(scores)
    ]
    found = []
    for name, order in (("forward", events), ("backward", events[::-1])):
        store = Store(tmp_path / f"{name}-store")
        for event in order:
            store.write(risk_events=[event])
        found.append([(f["finding_id"], f["risk_score"]) for f in store.findings()])
    assert found[0] == found[1]
    assert [score for _, score in found[0]] == [100.3]
