"""emit(): what `escudo hunt --emit results|risk|findings [--store]` prints and keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from seed import seed_detection, seed_result, seed_row, ttp_detection

from escudo.detect.emit import emit
from escudo.detect.store import Store


def test_results_rows_carry_the_detection_name() -> None:
    rows = emit([seed_result(seed_detection(), [seed_row()])], "results")
    assert rows == [{"detection": "Linux Ngrok Reverse Proxy Usage", **seed_row()}]


def test_risk_rows_are_the_risk_events_in_order() -> None:
    rows = emit(
        [seed_result(seed_detection(), [seed_row(), seed_row(user="bob", pid="2")])], "risk"
    )
    assert [(r["risk_object"], r["risk_object_type"]) for r in rows] == [
        ("alice", "user"),
        ("web-02", "system"),
        ("bob", "user"),
        ("web-02", "system"),
    ]


def test_findings_mix_ttp_findings_and_risk_incidents(tmp_path: Path) -> None:
    ttp = seed_result(ttp_detection(), [seed_row(dest="db-01")])
    anomalies = seed_result(
        seed_detection(),
        [seed_row(user=f"u{i}", pid=str(i), last=f"2024-05-01T0{i}:00:00") for i in range(3)],
    )
    rows = emit([ttp, anomalies], "findings", store_path=tmp_path / "s-store")
    assert [(r["finding_type"], r["title"]) for r in rows] == [
        ("detection", "Ngrok tunnel started on db-01 by alice"),
        ("risk_incident", "24 hour risk threshold exceeded for system=web-02"),
    ]
    store = Store(tmp_path / "s-store")
    assert (
        len(store.results()) == 4 and len(store.risk_events()) == 7 and len(store.findings()) == 2
    )


def test_stored_rows_round_trip(tmp_path: Path) -> None:
    result = seed_result(seed_detection(), [seed_row()])
    emit([result], "results", store_path=tmp_path / "s-store")
    [stored] = Store(tmp_path / "s-store").results("linux ngrok reverse proxy usage")
    assert stored["row"] == seed_row()
    assert stored["detection"] == "Linux Ngrok Reverse Proxy Usage"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown emit kind 'notables'"):
        emit([], "notables")  # type: ignore[arg-type]
