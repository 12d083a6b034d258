"""``escudo.content.validate`` on good and broken detections of the three schemas (path:line: message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escudo.content.loader import BUILTIN_DIR, load_content
from escudo.content.model import Macro
from escudo.content.validate import Problem, detection_files, load_macros, macro_keys, validate_file

SEARCH = (
    "| tstats `security_content_summariesonly` count from datamodel=Endpoint.Processes"
    " where Processes.process_name=frpc by Processes.dest Processes.user Processes.process_name"
    " Processes.parent_process_name | `drop_dm_object_name(Processes)` | `tunnel_test_filter`"
)
DRILLDOWNS = """\
drilldown_searches:
- name: View the detection results for - "$user$" and "$dest$"
  search: '%original_detection_search% | search user = "$user$" dest = "$dest$"'
  earliest_offset: $info_min_time$
  latest_offset: $info_max_time$
- name: View risk events for the last 7 days for - "$user$" and "$dest$"
  search: '| from datamodel Risk.All_Risk | search normalized_risk_object IN ("$user$", "$dest$")'
  earliest_offset: $info_min_time$
  latest_offset: $info_max_time$
"""
COMMON = f"""\
name: Tunnel Test
id: 5f0b2a4e-8d0c-4a53-9a57-3b1f0f3c2d11
version: 3
author: escudo tests
status: production
type: Anomaly
description: A test detection.
data_source:
- Sysmon for Linux EventID 1
search: '{SEARCH}'
how_to_implement: Ingest Sysmon for Linux.
known_false_positives: Admins.
references:
- https://attack.mitre.org/techniques/T1572/
{DRILLDOWNS}"""
# Line numbers below refer to these texts: COMMON is lines 1-23.
TAGS = (
    COMMON
    + """\
date: '2026-01-02'
tags:
  analytic_story:
  - Reverse Network Proxy
  asset_type: Endpoint
  confidence: 80
  impact: 50
  message: Tunnel client $process_name$ by $parent_process_name$ on $dest$ by user $user$.
  mitre_attack_id:
  - T1572
  - T1090.001
  observable:
  - name: user
    type: User
    role:
    - Victim
  - name: process_name
    type: Process
    role:
    - Attacker
  product:
  - Splunk Enterprise
  security_domain: endpoint
tests:
- name: True Positive Test
  attack_data:
  - data: https://media.githubusercontent.com/media/splunk/attack_data/master/datasets/x.log
    sourcetype: sysmon:linux
"""
)
RBA = (
    COMMON
    + """\
date: '2026-01-02'
rba:
  message: Tunnel client $process_name$ on $dest$ by user $user$.
  risk_objects:
  - field: user
    type: user
    score: 40
  threat_objects:
  - field: process_name
    type: process_name
tags:
  analytic_story:
  - Reverse Network Proxy
  asset_type: Endpoint
  mitre_attack_id:
  - T1572
  product:
  - Splunk Enterprise
  security_domain: endpoint
"""
)
FINDINGS = (
    COMMON
    + """\
creation_date: '2026-01-02'
modification_date: '2026-02-03'
intermediate_findings:
  entities:
  - field: user
    type: user
    score: 20
    message: Tunnel client $process_name$ on $dest$ by user $user$.
threat_objects:
- field: process_name
  type: process_name
analytic_story:
- Reverse Network Proxy
asset_type: Endpoint
mitre_attack_id:
- T1572
product:
- Splunk Enterprise
category: endpoint
security_domain: endpoint
"""
)


@pytest.fixture(scope="module")
def macros() -> dict[str, Macro]:
    return load_content().macros


def check(tmp_path: Path, text: str, macros: dict[str, Macro]) -> list[str]:
    path = tmp_path / "tunnel_test.yml"
    path.write_text(text, encoding="utf-8")
    return [str(p).replace(f"{path}:", "") for p in validate_file(path, macros=macros)]


@pytest.mark.parametrize("text", [TAGS, RBA, FINDINGS], ids=["tags", "rba", "findings"])
def test_good_detections_of_each_schema_are_clean(
    tmp_path: Path, text: str, macros: dict[str, Macro]
) -> None:
    assert check(tmp_path, text, macros) == []


def test_builtin_content_is_clean(macros: dict[str, Macro]) -> None:
    for path in detection_files([BUILTIN_DIR]):
        assert validate_file(path, macros=macros) == [], path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "id: 5f0b2a4e-8d0c-4a53-9a57-3b1f0f3c2d11",
            "id: not-a-uuid",
            ["2: id must be a UUID, not 'not-a-uuid'"],
        ),
        ("version: 3", "version: three", ["3: 'version' must be an integer"]),
        (
            "status: production",
            "status: live",
            [
                "5: status must be one of production, experimental, deprecated, validation, removed, not 'live'"
            ],
        ),
        (
            "type: Anomaly",
            "type: anomaly",
            ["6: type must be one of TTP, Anomaly, Hunting, Correlation, Baseline, not 'anomaly'"],
        ),
        ("author: escudo tests\n", "", ["1: missing required key 'author'"]),
        (
            "data_source:\n- Sysmon for Linux EventID 1",
            "data_source: {a: 1}",
            ["8: 'data_source' must be a list of strings"],
        ),
        (
            "| `tunnel_test_filter`",
            "",
            ["10: search must call the filter macro `tunnel_test_filter`"],
        ),
        (
            "`security_content_summariesonly`",
            "`summaries_only_typo`",
            ["10: macro `summaries_only_typo` is not defined in the loaded content"],
        ),
        ("- T1090.001", "- T1090.1", ["34: ATT&CK id 'T1090.1' must look like T1234 or T1234.001"]),
        (
            "by user $user$",
            "by user $username$",
            ["31: message token $username$ is not an output field of the search"],
        ),
        (
            "  - name: process_name",
            "  - name: process_path",
            ["31: risk/threat object field 'process_path' is not an output field of the search"],
        ),
        (
            "%original_detection_search% |",
            "|",
            ["15: one drilldown search must contain %original_detection_search%"],
        ),
        ("  confidence: 80\n", "", ["25: missing required key tags.'confidence'"]),
        ("  asset_type: Endpoint\n", "", ["25: missing required key tags.'asset_type'"]),
        ("date: '2026-01-02'\n", "", ["1: missing required key 'date'"]),
        (
            "  - data: https",
            "  - sourcetype: x\n    foo: https",
            ["50: missing required key 'data'"],
        ),
        ("name: Tunnel Test\n", "name: [Tunnel]\n", ["1: 'name' must be a non-empty string"]),
        (
            "    role:\n    - Victim\n",
            "",
            ["36: missing required key tags.observable[0].'role'"],
        ),
    ],
)
def test_broken_tags_detection(
    tmp_path: Path, macros: dict[str, Macro], old: str, new: str, expected: list[str]
) -> None:
    assert old in TAGS
    assert check(tmp_path, TAGS.replace(old, new, 1), macros) == expected


def test_drilldowns_are_required_for_production_non_hunting(
    tmp_path: Path, macros: dict[str, Macro]
) -> None:
    text = TAGS.replace(DRILLDOWNS, "")
    assert check(tmp_path, text, macros) == [
        "1: a production Anomaly detection needs at least 2 drilldown_searches, found 0"
    ]
    hunting = text.replace("type: Anomaly", "type: Hunting")
    assert check(tmp_path, hunting, macros) == []
    experimental = text.replace("status: production", "status: experimental")
    assert check(tmp_path, experimental, macros) == []


@pytest.mark.parametrize(
    ("text", "old", "new", "expected"),
    [
        (
            RBA,
            "    type: user\n",
            "    type: person\n",
            ["29: risk object type must be one of user, system, other, not 'person'"],
        ),
        (
            RBA,
            "type: Anomaly",
            "type: Hunting",
            ["25: a Hunting detection must not have an rba block"],
        ),
        (
            RBA,
            "  message: Tunnel client $process_name$ on $dest$",
            "  message: Tunnel $proc$ on $dest$",
            ["26: message token $proc$ is not an output field of the search"],
        ),
        (
            RBA,
            "  risk_objects:\n  - field: user\n    type: user\n    score: 40\n",
            "  risk_objects: []\n",
            ["25: a production Anomaly detection needs rba.risk_objects"],
        ),
        (
            FINDINGS,
            "modification_date: '2026-02-03'\n",
            "",
            ["1: missing required key 'modification_date'"],
        ),
        (
            FINDINGS,
            "    message: Tunnel client $process_name$",
            "    message: Tunnel client $image$",
            ["27: message token $image$ is not an output field of the search"],
        ),
        (FINDINGS, "asset_type: Endpoint\n", "", ["1: missing required key 'asset_type'"]),
        (
            RBA,
            "    score: 40\n",
            "    score: high\n",
            ["30: rba.risk_objects[0].'score' must be an integer"],
        ),
        (
            FINDINGS,
            "- field: process_name\n  type: process_name\n",
            "- field: process_name\n",
            ["33: missing required key threat_objects[0].'type'"],
        ),
        (
            FINDINGS,
            "- T1572\n",
            "- t1572\n",
            ["39: ATT&CK id 't1572' must look like T1234 or T1234.001"],
        ),
    ],
)
def test_broken_rba_and_findings_detections(
    tmp_path: Path, macros: dict[str, Macro], text: str, old: str, new: str, expected: list[str]
) -> None:
    assert old in text
    assert check(tmp_path, text.replace(old, new, 1), macros) == expected


def test_invalid_yaml_is_one_problem_at_its_line(tmp_path: Path, macros: dict[str, Macro]) -> None:
    assert check(tmp_path, "name: x\nid: [unclosed\n", macros)[0].startswith("3: invalid YAML")


def test_macro_keys_count_arguments() -> None:
    assert macro_keys('`a` `b()` `c(x)` `d("1,2", f(3,4))`') == [
        ("a", "a"), ("b", "b(0)"), ("c", "c(1)"), ("d", "d(2)"),
    ]  # fmt: skip


def test_broken_macro_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "m.yml").write_text("name: m\n", encoding="utf-8")
    macros, problems = load_macros([tmp_path], builtin=False)
    assert macros == {}
    assert problems == [
        Problem(str(tmp_path / "macros" / "m.yml"), 1, "macro needs a string 'definition'")
    ]
