"""ATT&CK Navigator layers: the 4.5 layout, scores and comments."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pytest

from escudo.content.model import Detection
from escudo.detect.attack import bundled
from escudo.outputs.navigator import RISK_TECHNIQUE_FIELD, coverage, fired, navigator_layer

# Top-level and nested keys of layer format 4.5 (attack-navigator layers/spec/v4.5/layerformat.md).
LAYER_KEYS = {
    "versions", "name", "description", "domain", "customDataURL", "filters", "sorting", "layout",
    "hideDisabled", "techniques", "gradient", "legendItems", "showTacticRowBackground",
    "tacticRowBackground", "selectTechniquesAcrossTactics", "selectSubtechniquesWithParent",
    "selectVisibleTechniques", "metadata", "links",
}  # fmt: skip
TECHNIQUE_KEYS = {
    "techniqueID", "tactic", "comment", "enabled", "score", "color", "metadata", "links",
    "showSubtechniques",
}  # fmt: skip
LAYOUT_KEYS = {
    "layout", "showID", "showName", "showAggregateScores", "countUnscored", "aggregateFunction",
    "expandedSubtechniques",
}  # fmt: skip


def check_layer_format(layer: dict[str, Any]) -> None:
    """The rules of the 4.5 spec, as a validator would apply them."""
    assert set(layer) <= LAYER_KEYS
    assert isinstance(layer["name"], str) and layer["name"]
    assert layer["domain"] == "enterprise-attack"
    versions = layer["versions"]
    assert versions["layer"] == "4.5"
    assert tuple(map(int, versions["navigator"].split("."))) >= (4, 9, 0)
    assert re.fullmatch(r"\d+", versions["attack"])
    assert layer["sorting"] in (0, 1, 2, 3)
    assert set(layer["layout"]) <= LAYOUT_KEYS
    assert layer["layout"]["layout"] in ("side", "flat", "mini")
    assert layer["layout"]["aggregateFunction"] in ("average", "min", "max", "sum")
    assert layer["layout"]["expandedSubtechniques"] in ("none", "all", "annotated")
    gradient = layer["gradient"]
    assert len(gradient["colors"]) >= 2 and gradient["maxValue"] > gradient["minValue"]
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in gradient["colors"])
    assert all(set(item) == {"label", "color"} for item in layer["legendItems"])
    for technique in layer["techniques"]:
        assert set(technique) <= TECHNIQUE_KEYS
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", technique["techniqueID"])
        assert isinstance(technique["score"], int | float)
        assert all(
            set(m) == {"name", "value"} and isinstance(m["value"], str)
            for m in technique["metadata"]
        )
        assert all(link["url"].startswith("https://") for link in technique["links"])
    json.dumps(layer)  # serialisable as is


def seed_like() -> list[Detection]:
    return [
        Detection(
            name="Linux Ngrok Reverse Proxy Usage",
            id="1",
            search="",
            mitre_attack_id=("T1572", "T1090", "T1102"),
        ),
        Detection(
            name="Linux Cloudflared Tunnel Usage",
            id="2",
            search="",
            mitre_attack_id=("T1572", "T1090"),
        ),
        Detection(name="Shell", id="3", search="", mitre_attack_id=("t1059.004", "T1059.004")),
    ]


def test_coverage_layer_scores_detections_per_technique() -> None:
    layer = navigator_layer(coverage(seed_like()), name="coverage", description="three detections")
    check_layer_format(layer)
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert sorted(by_id) == ["T1059.004", "T1090", "T1102", "T1572"]
    assert {k: t["score"] for k, t in by_id.items()} == {
        "T1059.004": 1,
        "T1090": 2,
        "T1102": 1,
        "T1572": 2,
    }
    assert (
        by_id["T1572"]["comment"]
        == "Linux Cloudflared Tunnel Usage; Linux Ngrok Reverse Proxy Usage"
    )
    assert by_id["T1059.004"]["links"] == [
        {"label": "ATT&CK", "url": "https://attack.mitre.org/techniques/T1059/004/"}
    ]
    assert layer["gradient"]["maxValue"] == 2
    assert layer["versions"] == {"attack": "18", "navigator": "5.2.0", "layer": "4.5"}
    assert layer["description"] == "three detections"


def test_unknown_technique_is_kept_and_marked() -> None:
    layer = navigator_layer({"T9999": ["D"]}, name="x", table=bundled())
    check_layer_format(layer)
    assert layer["techniques"][0]["metadata"][-1] == {
        "name": "note",
        "value": "unknown to ATT&CK 18.0",
    }


def test_fired_counts_risk_events_and_detections() -> None:
    risk = pa.table(
        {
            "search_name": ["ESCU - A - Rule", "ESCU - A - Rule", "ESCU - B - Rule", None],
            RISK_TECHNIQUE_FIELD: [["T1572", "T1090"], ["T1572", "T1572"], ["T1572"], None],
        }
    )
    by_technique, counts = fired(risk)
    assert by_technique == {
        "T1090": ["ESCU - A - Rule"],
        "T1572": ["ESCU - A - Rule", "ESCU - B - Rule"],
    }
    assert counts == {"T1090": 1, "T1572": 3}
    layer = navigator_layer(by_technique, name="fired", counts=counts)
    check_layer_format(layer)
    t1572 = next(t for t in layer["techniques"] if t["techniqueID"] == "T1572")
    assert t1572["score"] == 2
    assert {"name": "events", "value": "3"} in t1572["metadata"]


def test_fired_accepts_a_text_column_and_an_empty_table() -> None:
    assert fired(pa.table({RISK_TECHNIQUE_FIELD: ["T1102"]}))[0] == {"T1102": ["unknown"]}
    assert fired(pa.table({"x": pa.array([], pa.string())})) == ({}, {})


@pytest.mark.parametrize("n", [0, 1, 5])
def test_gradient_is_valid_whatever_the_scores(n: int) -> None:
    layer = navigator_layer({"T1572": [f"D{i}" for i in range(n)]}, name="g")
    check_layer_format(layer)
    assert layer["gradient"]["maxValue"] == max(n, 1)
