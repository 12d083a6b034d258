"""``escudo navigator`` end to end: built-in content, user content, the store's risk events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from escudo.cli import main
from escudo.content.loader import load_content
from escudo.detect.store import Store

BUILTIN_SEED = (
    Path(__file__).resolve().parents[2]
    / "src/escudo/content/builtin/detections/endpoint/linux_ngrok_reverse_proxy_usage.yml"
)


def read_layer(path: Path) -> dict:
    layer = json.loads(path.read_text())
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    return layer


def test_coverage_of_the_builtin_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "coverage.json"
    assert main(["navigator", "--output", str(out)]) == 0
    assert capsys.readouterr().err.startswith("wrote ")
    layer = read_layer(out)
    detections = load_content().detections.values()
    expected = {
        tid: sum(tid in d.mitre_attack_id for d in detections)
        for d in detections
        for tid in d.mitre_attack_id
    }
    assert {t["techniqueID"]: t["score"] for t in layer["techniques"]} == expected
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert "Linux Ngrok Reverse Proxy Usage" in by_id["T1102"]["comment"]


def test_user_content_adds_its_techniques(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = yaml.safe_load(BUILTIN_SEED.read_text())
    doc["name"] = "Linux Test Shell Detection"
    doc["id"] = "00000000-0000-4000-8000-00000000abcd"
    doc["tags"]["mitre_attack_id"] = ["T1059.004"]
    folder = tmp_path / "content" / "detections" / "endpoint"
    folder.mkdir(parents=True)
    (folder / "linux_test_shell_detection.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["navigator", "--content", str(tmp_path / "content"), "--name", "mine"]) == 0
    layer = json.loads(capsys.readouterr().out)
    assert layer["name"] == "mine"
    shell = next(t for t in layer["techniques"] if t["techniqueID"] == "T1059.004")
    assert (shell["score"], shell["comment"]) == (1, "Linux Test Shell Detection")


def test_fired_layer_from_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "escudo.duckdb")
    when = datetime(2024, 10, 24, 10, 0, tzinfo=UTC)
    events = [
        {
            "risk_event_id": f"e{i}",
            "_time": when,
            "search_name": "ESCU - Linux Ngrok Reverse Proxy Usage - Rule",
            "risk_object": obj,
            "risk_object_type": kind,
            "risk_score": "50",
            "annotations.mitre_attack.mitre_technique_id": ["T1572", "T1090", "T1102"],
        }
        for i, (obj, kind) in enumerate([("alice", "user"), ("web-02", "system")])
    ]
    store.write(risk_events=events)
    out = tmp_path / "fired.json"
    assert main(["navigator", "--fired", "--store", str(store.path), "-o", str(out)]) == 0
    layer = read_layer(out)
    assert [t["techniqueID"] for t in layer["techniques"]] == ["T1090", "T1102", "T1572"]
    for technique in layer["techniques"]:
        assert technique["score"] == 1
        assert technique["comment"] == "ESCU - Linux Ngrok Reverse Proxy Usage - Rule"
        assert {"name": "events", "value": "2"} in technique["metadata"]


def test_fired_with_an_empty_store_gives_an_empty_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["navigator", "--fired", "--store", str(tmp_path / "none.duckdb")]) == 0
    assert json.loads(capsys.readouterr().out)["techniques"] == []


def test_store_without_fired_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["navigator", "--store", str(tmp_path / "s.duckdb")]) == 2
    assert capsys.readouterr().err == "escudo: error: --store is only used with --fired\n"


def test_unwritable_output_names_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "layer.json"
    assert main(["navigator", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"escudo: error: --output: folder not found: {target.parent}\n"
