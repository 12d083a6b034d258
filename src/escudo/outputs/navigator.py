"""ATT&CK Navigator layers (layer format 4.5) of detection coverage or of techniques that fired.

Format: ``mitre-attack/attack-navigator`` ``layers/spec/v4.5/layerformat.md``: ``versions`` (``layer``
must be "4.5", ``navigator`` at least "4.9.0"), ``name`` and ``domain`` required, ``techniques[]`` with
``techniqueID`` (sub-techniques as ``T####.###``), optional ``tactic`` shortname (absent = the entry
applies under every tactic of the technique), ``score``, ``comment``, ``enabled``, ``metadata`` of
``{name, value}``; ``gradient`` needs at least two colours and ``maxValue > minValue``.

>>> layer = navigator_layer({"T1572": ["Linux Ngrok Reverse Proxy Usage"]}, name="coverage")
>>> layer["versions"]["layer"], layer["techniques"][0]["score"]
('4.5', 1)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import pyarrow as pa

from escudo.content.model import Detection
from escudo.detect.attack import AttackTable, active, normalize_id

LAYER_FORMAT = "4.5"
NAVIGATOR_VERSION = "5.2.0"  # the spec's own example; any Navigator >= 4.9.0 reads layer 4.5
DOMAIN = "enterprise-attack"
# white (no detection) to the Navigator's default "good" green; scores count detections
GRADIENT_COLORS = ["#ffffff", "#8ec843"]
TECHNIQUE_URL = "https://attack.mitre.org/techniques/{}/"
RISK_TECHNIQUE_FIELD = "annotations.mitre_attack.mitre_technique_id"


def navigator_layer(
    techniques: Mapping[str, Collection[str]],
    *,
    name: str,
    description: str = "",
    counts: Mapping[str, int] | None = None,
    table: AttackTable | None = None,
) -> dict[str, Any]:
    """A layer scoring each technique id by the number of distinct detections listed for it.

    ``techniques`` maps a technique id to detection names; the comment and the metadata list them.
    ``counts`` (optional) adds an "events" metadata entry per technique, e.g. risk events that fired.
    Ids unknown to the ATT&CK table are kept (the Navigator ignores ids it does not know) and
    marked with an "unknown to ATT&CK <version>" metadata entry.

    >>> empty = navigator_layer({}, name="empty")
    >>> empty["techniques"], empty["gradient"]["maxValue"]
    ([], 1)
    """
    table = table or active()
    by_id: dict[str, set[str]] = {}
    for key, names in techniques.items():
        by_id.setdefault(normalize_id(key), set()).update(names)
    events: dict[str, int] = {}
    for key, n in (counts or {}).items():
        events[normalize_id(key)] = events.get(normalize_id(key), 0) + n
    entries: list[dict[str, Any]] = []
    for tid, names in sorted(by_id.items()):
        detections = sorted(names)
        metadata = [{"name": "detection", "value": d} for d in detections]
        if counts is not None:
            metadata.append({"name": "events", "value": str(events.get(tid, 0))})
        technique = table.lookup(tid)
        if technique is None:
            metadata.append({"name": "note", "value": f"unknown to ATT&CK {table.version}"})
        entries.append(
            {
                "techniqueID": tid,
                "score": len(detections),
                "comment": "; ".join(detections),
                "enabled": True,
                "metadata": metadata,
                "links": [{"label": "ATT&CK", "url": TECHNIQUE_URL.format(tid.replace(".", "/"))}],
                "showSubtechniques": False,
            }
        )
    top = max((e["score"] for e in entries), default=0)
    return {
        "name": name,
        "versions": {
            "attack": table.version.split(".")[0],
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_FORMAT,
        },
        "domain": DOMAIN,
        "description": description,
        "sorting": 3,  # descending by score: best-covered first
        "layout": {
            "layout": "side",
            "aggregateFunction": "max",
            "showID": True,
            "showName": True,
            "showAggregateScores": True,
            "countUnscored": False,
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": GRADIENT_COLORS, "minValue": 0, "maxValue": max(top, 1)},
        "legendItems": [
            {"label": "no detection", "color": GRADIENT_COLORS[0]},
            {"label": f"{max(top, 1)} detection(s)", "color": GRADIENT_COLORS[-1]},
        ],
        "metadata": [{"name": "ATT&CK data", "value": f"{table.version} ({table.source})"}],
        "links": [],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def coverage(detections: Iterable[Detection]) -> dict[str, list[str]]:
    """Technique id -> names of the detections whose ``mitre_attack_id`` names it.

    Deprecated or experimental detections count too: the layer shows what the content claims.

    >>> coverage([Detection(name="D", id="1", search="", mitre_attack_id=("T1572", "t1090"))])
    {'T1090': ['D'], 'T1572': ['D']}
    """
    out: dict[str, list[str]] = {}
    for detection in detections:
        for tid in dict.fromkeys(normalize_id(t) for t in detection.mitre_attack_id):
            out.setdefault(tid, []).append(detection.name)
    return dict(sorted(out.items()))


def fired(risk: pa.Table) -> tuple[dict[str, list[str]], dict[str, int]]:
    """From ``Risk.All_Risk`` rows: technique id -> detections (``search_name``) that fired it, and
    technique id -> number of risk events carrying it.

    >>> t = pa.table({"search_name": ["ESCU - D - Rule"],
    ...               RISK_TECHNIQUE_FIELD: [["T1572", "T1090"]]})
    >>> fired(t)
    ({'T1090': ['ESCU - D - Rule'], 'T1572': ['ESCU - D - Rule']}, {'T1090': 1, 'T1572': 1})
    """
    names: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    if RISK_TECHNIQUE_FIELD not in risk.column_names:
        return {}, {}
    search_names = (
        risk.column("search_name").to_pylist()
        if "search_name" in risk.column_names
        else [None] * risk.num_rows
    )
    for search_name, value in zip(
        search_names, risk.column(RISK_TECHNIQUE_FIELD).to_pylist(), strict=True
    ):
        ids = value if isinstance(value, list) else [value] if value else []
        for tid in dict.fromkeys(normalize_id(str(v)) for v in ids if v):
            names.setdefault(tid, set()).add(str(search_name or "unknown"))
            counts[tid] = counts.get(tid, 0) + 1
    return {k: sorted(v) for k, v in sorted(names.items())}, dict(sorted(counts.items()))
