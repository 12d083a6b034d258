"""Property: whatever rba/observable block a detection has, the loader keeps every object faithfully."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.content.schemas import VICTIM_TYPES, detection_from_doc
from escudo.content.yamlfile import load_yaml_text

field_name = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)
risk = st.fixed_dictionaries(
    {
        "field": field_name,
        "type": st.sampled_from(["user", "system", "other"]),
        "score": st.integers(1, 100),
    }
)
threat = st.fixed_dictionaries(
    {"field": field_name, "type": st.sampled_from(["process_name", "url", "file_hash"])}
)


@settings(max_examples=60, deadline=None)
@given(st.lists(risk, min_size=1, max_size=5), st.lists(threat, max_size=4), st.text(max_size=40))
def test_rba_round_trip(
    risks: list[dict[str, object]], threats: list[dict[str, object]], message: str
) -> None:
    doc = {"name": "P", "id": "1", "search": "| tstats count", "rba": {"message": message, "risk_objects": risks, "threat_objects": threats}}  # fmt: skip
    d = detection_from_doc(load_yaml_text(yaml.safe_dump(doc), "p.yml"), "p.yml")
    assert [(o.field, o.type, o.score) for o in d.risk_objects] == [
        (r["field"], r["type"], r["score"]) for r in risks
    ]
    assert [(t.field, t.type) for t in d.threat_objects] == [
        (t["field"], t["type"]) for t in threats
    ]
    assert d.risk_message == message
    assert d.risk_score == max(int(r["score"]) for r in risks)  # type: ignore[call-overload]


observable = st.fixed_dictionaries(
    {
        "name": field_name,
        "type": st.sampled_from([*VICTIM_TYPES, "Process", "URL", "Other Thing"]).map(str.title),
        "role": st.lists(
            st.sampled_from(["Victim", "Attacker", "Other"]), min_size=1, max_size=2, unique=True
        ),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(observable, max_size=6), st.integers(0, 100), st.integers(0, 100))
def test_observables_split_into_risk_and_threat(
    obs: list[dict[str, object]], confidence: int, impact: int
) -> None:
    doc = {"name": "P", "id": "1", "search": "s", "tags": {"confidence": confidence, "impact": impact, "observable": obs}}  # fmt: skip
    d = detection_from_doc(load_yaml_text(yaml.safe_dump(doc), "p.yml"), "p.yml")
    victims = [o for o in obs if "Victim" in o["role"]]  # type: ignore[operator]
    attackers = [o for o in obs if "Victim" not in o["role"] and "Attacker" in o["role"]]  # type: ignore[operator]
    assert len(d.risk_objects) + len(d.threat_objects) == len(obs)
    assert [t.field for t in d.threat_objects] == [o["name"] for o in attackers]
    assert {r.field for r in d.risk_objects} >= {str(o["name"]) for o in victims}
    assert all(r.score == round(confidence * impact / 100) for r in d.risk_objects)
    assert all(r.type in ("user", "system", "other") for r in d.risk_objects)
