"""The three ESCU detection YAML schemas, read into one :class:`~escudo.content.model.Detection`.

Facts from ``../shared/reference/escu-semantics.md`` section 1c:

* A. contentctl <= 4 ``tags:``: risk from ``tags.observable`` roles, score ``round(confidence*impact/100)``;
* B. contentctl 5 ``rba:``: ``rba.message``, ``rba.risk_objects``, ``rba.threat_objects``;
* C. 2026 ``intermediate_findings:``/``finding:``; tags flattened to the top level, ``threat_objects`` top level.

>>> from escudo.content.yamlfile import load_yaml_text
>>> doc = load_yaml_text("name: X\\nid: 1\\nsearch: '| tstats count'\\nrba: {message: m}\\n", "x.yml")
>>> detection_from_doc(doc, "x.yml").schema
'rba'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from escudo.content.model import (
    AttackData,
    Detection,
    DetectionTest,
    Drilldown,
    Finding,
    RiskObject,
    RiskObjectType,
    ThreatObject,
)
from escudo.content.yamlfile import LineDict, LineList
from escudo.errors import ContentError

Schema = Literal["tags", "rba", "findings"]

# contentctl v4.4.7 ``detection_tags.py`` observable -> ``_risk`` mapping (escu-semantics.md 1c).
VICTIM_TYPES: dict[str, RiskObjectType] = {
    "user": "user",
    "username": "user",
    "email address": "user",
    "device": "system",
    "endpoint": "system",
    "hostname": "system",
    "ip address": "system",
}
ATTACKER_TYPES: dict[str, str] = {
    "process name": "process",
    "process": "process",
    "file name": "file_name",
    "file": "file_name",
    "file hash": "file_name",
    "ip address": "ip_address",
    "url string": "url",
    "url": "url",
}
RISK_TYPES: frozenset[str] = frozenset({"user", "system", "other"})
EXPECT_VALUES: frozenset[str] = frozenset({"results", "none"})


class _Reader:
    """Typed access to one YAML mapping, raising :class:`ContentError` at the key's line."""

    def __init__(self, doc: LineDict, path: str) -> None:
        self.doc = doc
        self.path = path

    def fail(self, message: str, key: str | None = None) -> ContentError:
        line = self.doc.line_of(key) if key is not None else self.doc.line
        return ContentError(message, path=self.path, line=line)

    def child(self, key: str) -> _Reader | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if not isinstance(value, LineDict):
            raise self.fail(f"{key!r} must be a mapping", key)
        return _Reader(value, self.path)

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.doc.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing required key {key!r}")
            return default
        if isinstance(value, dict | list):
            raise self.fail(f"{key!r} must be a string", key)
        return value if isinstance(value, str) else str(value)

    def integer(self, key: str) -> int | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(f"{key!r} must be a number", key)
        try:
            return int(value)
        except ValueError:
            raise self.fail(f"{key!r} must be a number, not {value!r}", key) from None

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.doc.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
            raise self.fail(f"{key!r} must be a list of strings", key)
        return tuple(str(v) for v in value)

    def mappings(self, key: str) -> list[_Reader]:
        value = self.doc.get(key)
        if value is None:
            return []
        if not isinstance(value, LineList):
            raise self.fail(f"{key!r} must be a list", key)
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, LineDict):
                raise ContentError(
                    f"{key!r} entries must be mappings", path=self.path, line=value.line_of(index)
                )
            out.append(_Reader(item, self.path))
        return out


def schema_of(doc: dict[str, Any]) -> Schema:
    """Which of the three schemas a detection document uses."""
    if "intermediate_findings" in doc or "finding" in doc or "creation_date" in doc:
        return "findings"
    if "rba" in doc:
        return "rba"
    return "tags"


def _risk_type(r: _Reader, key: str) -> RiskObjectType:
    value = r.text(key, "other").lower()
    if value not in RISK_TYPES:
        raise r.fail(f"risk object type must be one of user, system, other, not {value!r}", key)
    return cast(RiskObjectType, value)


def _risk_object(r: _Reader, *, default_message: str | None = None) -> RiskObject:
    return RiskObject(
        field=r.text("field", required=True),
        type=_risk_type(r, "type"),
        score=r.integer("score") or 0,
        message=r.text("message") or default_message,
    )


def _threat_objects(items: list[_Reader]) -> tuple[ThreatObject, ...]:
    return tuple(ThreatObject(t.text("field", required=True), t.text("type")) for t in items)


def _tags_risk(
    tags: _Reader,
) -> tuple[int | None, tuple[RiskObject, ...], tuple[ThreatObject, ...]]:
    """Schema A: score and objects from ``tags.observable`` (contentctl v4.4.7 rules)."""
    confidence, impact = tags.integer("confidence"), tags.integer("impact")
    score = tags.integer("risk_score")
    if confidence is not None and impact is not None:
        score = round(confidence * impact / 100)
    risks: list[RiskObject] = []
    threats: list[ThreatObject] = []
    for obs in tags.mappings("observable"):
        name = obs.text("name", required=True)
        kind = obs.text("type").lower()
        roles = {role.lower() for role in obs.strings("role")}
        if "victim" in roles:
            risks.append(RiskObject(name, VICTIM_TYPES.get(kind, "other"), score or 0))
        elif "attacker" in roles:
            threats.append(ThreatObject(name, ATTACKER_TYPES.get(kind, kind)))
        else:
            risks.append(RiskObject(name, "other", score or 0))
    return score, tuple(risks), tuple(threats)


def _tests(r: _Reader) -> tuple[DetectionTest, ...]:
    tests = []
    for t in r.mappings("tests"):
        expect = t.text("expect", "results").lower()
        if expect not in EXPECT_VALUES:
            raise t.fail(f"'expect' must be 'results' or 'none', not {expect!r}", "expect")
        data = tuple(
            AttackData(
                data=a.text("data", required=True).strip(),
                source=a.text("source") or None,
                sourcetype=a.text("sourcetype") or None,
                update_timestamp=bool(a.doc.get("update_timestamp", False)),
                custom_index=a.text("custom_index") or None,
                host=a.text("host") or None,
                line=a.doc.line_of("data"),
            )
            for a in t.mappings("attack_data")
        )
        tests.append(
            DetectionTest(
                name=t.text("name", required=True),
                attack_data=data,
                test_type=t.text("test_type", "unit"),
                expect=cast(Literal["results", "none"], expect),
            )
        )
    return tuple(tests)


def detection_from_doc(doc: LineDict, path: str, file: Path | None = None) -> Detection:
    """Build a :class:`Detection` from a parsed YAML mapping of any of the three schemas."""
    r = _Reader(doc, path)
    schema = schema_of(doc)
    # Schema C flattened the tags to the top level; A and B keep them under ``tags:``.
    tags = r.child("tags") or (r if schema == "findings" else _Reader(LineDict(), path))
    message = ""
    risks: tuple[RiskObject, ...] = ()
    threats: tuple[ThreatObject, ...] = ()
    finding: Finding | None = None
    score: int | None = None
    if schema == "tags":
        message = tags.text("message")
        score, risks, threats = _tags_risk(tags)
    elif schema == "rba":
        rba = r.child("rba")
        assert rba is not None
        message = rba.text("message")
        risks = tuple(_risk_object(o) for o in rba.mappings("risk_objects"))
        threats = _threat_objects(rba.mappings("threat_objects"))
    else:
        inter = r.child("intermediate_findings")
        if inter is not None:
            risks = tuple(_risk_object(e) for e in inter.mappings("entities"))
            message = next((o.message for o in risks if o.message), "")
        found = r.child("finding")
        if found is not None:
            title = found.text("title", required=True)
            ent = found.child("entity")
            entity = _risk_object(ent, default_message=title) if ent is not None else None
            finding = Finding(title=title, entity=entity)
            message = message or title
            if entity is not None and not risks:
                risks = (entity,)
        threats = _threat_objects(r.mappings("threat_objects"))
    if schema != "tags" and risks:
        score = max(o.score for o in risks)  # contentctl 5: risk_score = max object score
    return Detection(
        name=r.text("name", required=True),
        id=r.text("id", required=True),
        search=r.text("search", required=True),
        version=r.integer("version") or 1,
        date=r.text("date") or r.text("modification_date") or r.text("creation_date"),
        author=r.text("author"),
        status=r.text("status", "production"),
        type=r.text("type", "TTP"),
        description=r.text("description"),
        data_source=r.strings("data_source"),
        how_to_implement=r.text("how_to_implement"),
        known_false_positives=r.text("known_false_positives"),
        references=r.strings("references"),
        drilldown_searches=tuple(
            Drilldown(
                name=d.text("name"),
                search=d.text("search", required=True),
                earliest_offset=d.text("earliest_offset"),
                latest_offset=d.text("latest_offset"),
            )
            for d in r.mappings("drilldown_searches")
        ),
        analytic_story=tags.strings("analytic_story"),
        asset_type=tags.text("asset_type"),
        mitre_attack_id=tags.strings("mitre_attack_id"),
        product=tags.strings("product"),
        security_domain=tags.text("security_domain"),
        cve=tags.strings("cve"),
        required_fields=tags.strings("required_fields"),
        risk_message=message,
        risk_objects=risks,
        threat_objects=threats,
        finding=finding,
        confidence=tags.integer("confidence") if schema == "tags" else None,
        impact=tags.integer("impact") if schema == "tags" else None,
        risk_score=score,
        manual_test=tags.text("manual_test") or r.text("manual_test") or None,
        tests=_tests(r),
        schema=schema,
        path=file,
        raw=dict(doc),
    )
