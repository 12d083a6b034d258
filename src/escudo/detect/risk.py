"""Risk events: what Enterprise Security's risk action writes for each detection result.

One risk event per result row and per risk object (``../shared/reference/escu-semantics.md`` section 6:
contentctl matches each risk event to exactly one ``rba`` risk object), carrying that object's score, the
rendered ``risk_message``, the threat objects as multivalue fields, the detection's annotations and the
row's own fields. Replaying the same logs produces the same ``risk_event_id``, so the store adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from escudo.content.model import Detection
from escudo.detect.attack import lookup_technique
from escudo.detect.identity import IdentityResolver
from escudo.detect.result import DetectionResult

RISK_DATASET = "Risk.All_Risk"  # the risk events as a data set (ES's risk index)
# ``finding_type`` of the findings the risk incident rules raise (the store replaces them as a set).
RISK_INCIDENT = "risk_incident"
# Detection types that write risk events: contentctl's deployments enable RBA for TTP and Anomaly
# only; Hunting, Correlation and Baseline searches have no risk action (escu-semantics.md 5.2).
RISK_TYPES = frozenset({"TTP", "Anomaly"})

TOKEN = re.compile(r"\$([A-Za-z0-9_.\-:]+)\$")

# The row fields that carry an event time, in order of preference, for replayed logs (docs/semantics.md
# "Risk, findings and drilldowns"): the newest time the result covers, as ES would have seen it at run time.
EVENT_TIME_FIELDS: tuple[str, ...] = ("_time", "lastTime", "firstTime")

# ``security_content_ctime`` renders times with this format (escu-semantics.md section 1).
CTIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# contentctl ``action.escu.mappings``/``annotations`` values that are not per-detection data
# (savedsearches_detections.j2, escu-semantics.md 5.2): NIST category by detection type, CIS control.
NIST_BY_TYPE: dict[str, str] = {"TTP": "DE.CM"}
NIST_DEFAULT = "DE.AE"
CIS_BY_DOMAIN: dict[str, str] = {"network": "CIS 13"}
CIS_DEFAULT = "CIS 10"


def render_message(template: str, row: Mapping[str, Any]) -> str:
    """Replace each ``$field$`` with the row's value, keeping every other character (spacing included).

    A token whose field is absent or null stays as written: ES leaves it, which is exactly what
    contentctl's integration test looks for (``risk_message`` must contain no unreplaced ``$tok$``).
    Multivalue values are joined with ``", "``.

    >>> render_message("from $parent$ -  $child$ by $who$", {"parent": "bash", "child": "ngrok"})
    'from bash -  ngrok by $who$'
    """

    def value(match: re.Match[str]) -> str:
        found = row.get(match.group(1))
        if found is None:
            return match.group(0)
        return field_text(found)

    return TOKEN.sub(value, template)


def field_text(value: Any) -> str:
    """A field value as Splunk text (multivalue joined with ``", "``, times as ISO-8601)."""
    if isinstance(value, list | tuple):
        return ", ".join(field_text(v) for v in value if v is not None)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def event_time(row: Mapping[str, Any], fallback: datetime | None = None) -> datetime:
    """The time a risk event or finding carries: the result's own event time.

    >>> event_time({"lastTime": "2024-05-01T10:00:00"}).isoformat()
    '2024-05-01T10:00:00+00:00'
    """
    for name in EVENT_TIME_FIELDS:
        parsed = parse_time(row.get(name))
        if parsed is not None:
            return parsed
    return fallback if fallback is not None else datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """A datetime (UTC) from a timestamp, epoch seconds or a ``security_content_ctime`` string."""
    if isinstance(value, list | tuple):
        times = [t for t in (parse_time(v) for v in value) if t is not None]
        return max(times) if times else None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        for parse in (_from_epoch_text, _from_ctime, _from_iso):
            parsed = parse(value)
            if parsed is not None:
                return parsed
    return None


def _from_epoch_text(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError):
        return None


def _from_ctime(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, CTIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _from_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stable_id(*parts: Any) -> str:
    """A hex digest of the parts' canonical JSON: equal inputs give equal ids across runs.

    >>> stable_id("a", {"x": 1}) == stable_id("a", {"x": 1})
    True
    """
    text = json.dumps(parts, sort_keys=True, default=field_text, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def attack_annotations(detection: Detection) -> dict[str, list[str]]:
    """The ``annotations.*`` fields ES adds from the detection's ``mitre_attack_id`` and stories.

    >>> attack_annotations(Detection(name="x", id="1", search="", mitre_attack_id=("T1572",)))[
    ...     "annotations.mitre_attack"]
    ['T1572']
    """
    technique_ids = list(detection.mitre_attack_id)
    names: list[str] = []
    tactic_ids: list[str] = []
    tactics: list[str] = []
    for tid in technique_ids:
        name, pairs = lookup_attack(tid)
        if name:
            names.append(name)
        for tactic_id, tactic_name in pairs:
            if tactic_id not in tactic_ids:
                tactic_ids.append(tactic_id)
                tactics.append(tactic_name)
    nist = NIST_BY_TYPE.get(detection.type, NIST_DEFAULT)
    cis = CIS_BY_DOMAIN.get(detection.security_domain, CIS_DEFAULT)
    everything = [*detection.analytic_story, cis, *detection.cve, *detection.data_source]
    everything += [*technique_ids, nist, detection.type]
    return {
        "annotations.mitre_attack": technique_ids,
        "annotations.mitre_attack.mitre_technique_id": technique_ids,
        "annotations.mitre_attack.mitre_technique": names,
        "annotations.mitre_attack.mitre_tactic": tactics,
        "annotations.mitre_attack.mitre_tactic_id": tactic_ids,
        "annotations._all": list(dict.fromkeys(everything)),
    }


def lookup_attack(technique_id: str) -> tuple[str, list[tuple[str, str]]]:
    """Technique name and ``(tactic_id, tactic_name)`` pairs; empty when the ATT&CK table lacks the id.

    >>> lookup_attack("T1572")
    ('Protocol Tunneling', [('TA0011', 'Command and Control')])
    """
    technique = lookup_technique(technique_id)
    if technique is None:
        return "", []
    return technique.name, [(t.id, t.name) for t in technique.tactics]


def risk_events(
    result: DetectionResult, *, identities: IdentityResolver | None = None
) -> list[dict[str, Any]]:
    """One risk event per result row and risk object of ``result.detection``, for a TTP or Anomaly
    detection (:data:`RISK_TYPES`); none for other types, whatever risk they declare.

    A row where the risk object's field is absent or null gives no event for that object, like ES
    (and contentctl fails such a detection's test).

    >>> import pyarrow as pa
    >>> from escudo.content.model import RiskObject
    >>> d = Detection(name="D", id="1", search="", risk_message="user $user$",
    ...               risk_objects=(RiskObject("user", "user", 50),))
    >>> [e["risk_message"] for e in risk_events(DetectionResult(d, None, pa.table({"user": ["alice"]})))]
    ['user alice']
    """
    detection = result.detection
    if detection.type not in RISK_TYPES:
        return []
    annotations = attack_annotations(detection)
    resolver = identities or IdentityResolver()
    events: list[dict[str, Any]] = []
    for row in result.records():
        threats = _threats(detection, row)
        when = event_time(row, result.info_max_time)
        for risk in detection.risk_objects:
            value = row.get(risk.field)
            if value is None:
                continue
            for one in value if isinstance(value, list | tuple) else [value]:
                events.append(
                    _event(result, row, risk, field_text(one), threats, annotations, when, resolver)
                )
    return events


def _threats(detection: Detection, row: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    values: list[str] = []
    types: list[str] = []
    for threat in detection.threat_objects:
        found = row.get(threat.field)
        for one in found if isinstance(found, list | tuple) else [found]:
            if one is not None:
                values.append(field_text(one))
                types.append(threat.type)
    return values, types


def _event(
    result: DetectionResult,
    row: Mapping[str, Any],
    risk: Any,
    value: str,
    threats: tuple[Sequence[str], Sequence[str]],
    annotations: Mapping[str, list[str]],
    when: datetime,
    resolver: IdentityResolver,
) -> dict[str, Any]:
    detection = result.detection
    template = risk.message or detection.risk_message
    event: dict[str, Any] = dict(row)  # the result's own fields ride along, as in ES
    event.update(
        {
            "_time": when,
            "risk_object": value,
            "risk_object_type": risk.type,
            "risk_score": risk.score,
            "calculated_risk_score": risk.score,  # no risk factors: equal to risk_score
            "normalized_risk_object": resolver.normalize(value, risk.type),
            "risk_message": render_message(template, row),
            "threat_object": list(threats[0]),
            "threat_object_type": list(threats[1]),
            "search_name": detection.search_name,
            "source": detection.search_name,
            "sourcetype": "stash",
            "analyticstories": list(detection.analytic_story),
            **{key: list(values) for key, values in annotations.items()},
            "risk_event_id": stable_id(detection.id, row, risk.field, value),
        }
    )
    return event
