"""Content loading: the three ESCU schemas into one model, folders overriding each other, located errors."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from escudo.content.loader import (
    BUILTIN_DIR,
    load_content,
    load_detection,
    macros_for,
    resolve_detection,
)
from escudo.content.model import Detection, RiskObject, ThreatObject
from escudo.errors import ContentError, InputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "content"
GOLDEN = Path(__file__).parent / "golden"
SEED = BUILTIN_DIR / "detections" / "endpoint" / "linux_ngrok_reverse_proxy_usage.yml"
UPDATE = os.environ.get("ESCUDO_UPDATE_GOLDEN") == "1"


def as_golden(detection: Detection) -> dict[str, Any]:
    data = dataclasses.asdict(detection)
    data.pop("raw")
    data["path"] = detection.path.name if detection.path else None
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "golden"),
    [
        (SEED, "seed_v4_tags.json"),
        (FIXTURES / "schemas" / "ngrok_v6_rba.yml", "ngrok_v6_rba.json"),
        (FIXTURES / "schemas" / "ngrok_v12_findings.yml", "ngrok_v12_findings.json"),
        (FIXTURES / "schemas" / "ttp_finding.yml", "ttp_finding.json"),
        (
            FIXTURES / "user" / "detections" / "endpoint" / "linux_ngrok_any_use.yml",
            "user_tags.json",
        ),
    ],
)
def test_schema_golden(path: Path, golden: str) -> None:
    got = as_golden(load_detection(path))
    target = GOLDEN / golden
    if UPDATE:
        target.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(target.read_text())


def test_seed_is_the_seed() -> None:
    d = load_detection(SEED)
    assert (d.name, d.id, d.version, d.date, d.type, d.status) == (
        "Linux Ngrok Reverse Proxy Usage",
        "bc84d574-708c-467d-b78a-4c1e20171f97",
        4,
        "2024-09-30",
        "Anomaly",
        "production",
    )
    assert d.schema == "tags"
    assert d.search.splitlines()[0].startswith("| tstats `security_content_summariesonly` count")
    assert d.search.splitlines()[-1] == "| `linux_ngrok_reverse_proxy_usage_filter`"
    assert d.filter_macro == "linux_ngrok_reverse_proxy_usage_filter"
    # contentctl 4: round(confidence * impact / 100) = round(100 * 50 / 100), equal to tags.risk_score
    assert d.risk_score == 50 == d.raw["tags"]["risk_score"]
    test = d.tests[0]
    assert test.attack_data[0].update_timestamp is True
    assert test.attack_data[0].sourcetype == "sysmon:linux"
    assert [dd.earliest_offset for dd in d.drilldown_searches] == ["$info_min_time$"] * 2


def test_three_schemas_agree_on_risk() -> None:
    """The same detection in the three schemas gives the same risk fields; only scores/types differ."""
    v4 = load_detection(SEED)
    v6 = load_detection(FIXTURES / "schemas" / "ngrok_v6_rba.yml")
    v12 = load_detection(FIXTURES / "schemas" / "ngrok_v12_findings.yml")
    for d in (v4, v6, v12):
        assert [(o.field, o.type) for o in d.risk_objects] == [("user", "user"), ("dest", "system")]
        assert [t.field for t in d.threat_objects] == ["parent_process_name", "process_name"]
        assert d.analytic_story == ("Reverse Network Proxy",)
        assert d.mitre_attack_id == ("T1572", "T1090", "T1102")
    assert [t.type for t in v4.threat_objects] == ["process", "process"]  # contentctl 4 mapping
    assert [o.score for o in v6.risk_objects] == [50, 50]
    assert [o.score for o in v12.risk_objects] == [20, 20]
    assert v12.risk_objects[0].message and v12.risk_message == v12.risk_objects[0].message
    assert (v4.schema, v6.schema, v12.schema) == ("tags", "rba", "findings")
    assert v12.date == "2026-05-13"
    assert v12.tests[1].expect == "none"


def test_observable_mapping_other_roles() -> None:
    d = load_detection(FIXTURES / "user" / "detections" / "endpoint" / "linux_ngrok_any_use.yml")
    # confidence 30 * impact 30 / 100 = 9; Endpoint Victim -> system; role Other -> risk type other
    assert d.risk_objects == (RiskObject("dest", "system", 9), RiskObject("src_ip", "other", 9))
    assert d.threat_objects == (ThreatObject("process", "command"),)


def test_finding_block() -> None:
    d = load_detection(FIXTURES / "schemas" / "ttp_finding.yml")
    assert d.finding is not None and d.finding.title == "SSH relay on $dest$"
    assert d.risk_objects == (RiskObject("dest", "system", 64, "SSH relay on $dest$"),)
    assert d.risk_score == 64


def test_builtin_content() -> None:
    content = load_content()
    assert "Linux Ngrok Reverse Proxy Usage" in content.detections
    assert len(content.detections) >= 3
    assert content.macros["security_content_ctime(1)"].arguments == ("field",)
    assert content.macros["summariesonly_config"].definition == "false"
    assert content.macros["oldsummaries_config"].definition == "true"
    assert content.macros["fillnull_config"].definition == "null"
    assert "Reverse Network Proxy" in content.stories
    for d in content.detections.values():
        # contentctl requires the search to call the detection's own filter macro
        assert f"`{d.filter_macro}`" in d.search, d.name
        assert d.path is not None and d.path.stem + "_filter" == d.filter_macro
        assert d.drilldown_searches and d.tests and d.risk_objects


def test_user_folder_overrides_filter_macro_and_adds_detection() -> None:
    content = load_content([FIXTURES / "user"])
    seed = content.detections["Linux Ngrok Reverse Proxy Usage"]
    assert macros_for(content, seed)[seed.filter_macro].definition == 'search dest!="build-01"'
    assert macros_for(load_content(), seed)[seed.filter_macro].definition == "search *"
    assert "Linux Ngrok Any Use" in content.detections
    assert load_content([FIXTURES / "user"], builtin=False).detections.keys() == {
        "Linux Ngrok Any Use"
    }


def test_later_folder_wins(tmp_path: Path) -> None:
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "x.yml").write_text("name: fillnull_config\ndefinition: '\"n/a\"'\n")
    (tmp_path / "detections").mkdir()
    text = SEED.read_text().replace("version: 4", "version: 99")
    (tmp_path / "detections" / "copy.yml").write_text(text)
    content = load_content([tmp_path])
    assert content.macros["fillnull_config"].definition == '"n/a"'
    assert content.detections["Linux Ngrok Reverse Proxy Usage"].version == 99


def test_resolve_detection_by_name_id_file() -> None:
    content = load_content()
    by_name = resolve_detection(content, "linux ngrok reverse proxy usage")
    assert resolve_detection(content, "bc84d574-708c-467d-b78a-4c1e20171f97") is by_name
    assert resolve_detection(content, str(SEED)) is by_name
    other = resolve_detection(content, str(FIXTURES / "schemas" / "ngrok_v6_rba.yml"))
    assert other.version == 6
    with pytest.raises(InputError, match="did you mean 'Linux Ngrok Reverse Proxy Usage'"):
        resolve_detection(content, "Linux Ngrok Reverse Proxy Usag")
    with pytest.raises(InputError, match=r"detection file not found: nope\.yml"):
        resolve_detection(content, "nope.yml")


BAD = [
    ("name: x\nid: 1\nsearch: [\n", 4, "invalid YAML"),
    ("- a\n- b\n", 1, "expected a YAML mapping"),
    ("name: x\nid: 1\n", 1, "missing required key 'search'"),
    ("name: x\nid: 1\nsearch: s\nrba:\n  risk_objects:\n  - {field: u, type: person}\n", 6, "user, system, other"),
    ("name: x\nid: 1\nsearch: s\ntests:\n- name: t\n  expect: maybe\n", 6, "'expect' must be"),
    ("name: x\nid: 1\nsearch: s\ntags:\n  impact: high\n", 5, "'impact' must be a number"),
    ("name: x\nid: 1\nsearch: s\ndata_source: {a: 1}\n", 4, "'data_source' must be a list"),
    ("name: x\nid: 1\nsearch: s\ntests:\n- name: t\n  attack_data:\n  - source: s\n", 7, "'data'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), BAD)
def test_bad_detection_is_located(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ContentError) as info:
        load_detection(path)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_duplicate_names_in_one_folder(tmp_path: Path) -> None:
    (tmp_path / "detections").mkdir()
    for stem in ("a", "b"):
        (tmp_path / "detections" / f"{stem}.yml").write_text(SEED.read_text())
    with pytest.raises(ContentError, match="also defined in"):
        load_content([tmp_path], builtin=False)


def test_bad_macro_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "m.yml").write_text("name: m\ndescription: no definition\n")
    with pytest.raises(ContentError) as info:
        load_content([tmp_path], builtin=False)
    assert info.value.line == 1 and "definition" in info.value.message
    with pytest.raises(InputError, match="content folder not found"):
        load_content([tmp_path / "missing"])


def test_lookups(tmp_path: Path) -> None:
    (tmp_path / "lookups").mkdir()
    (tmp_path / "lookups" / "tools.csv").write_text("name,kind\nngrok,tunnel\n")
    (tmp_path / "lookups" / "tools.yml").write_text("name: tunnel_tools\nfilename: tools.csv\n")
    content = load_content([tmp_path], builtin=False)
    csv = tmp_path / "lookups" / "tools.csv"
    assert content.lookups == {"tools": csv, "tools.csv": csv, "tunnel_tools": csv}
    (tmp_path / "lookups" / "tools.yml").write_text("name: tunnel_tools\nfilename: gone.csv\n")
    with pytest.raises(ContentError, match=r"lookup file 'gone\.csv' not found") as info:
        load_content([tmp_path], builtin=False)
    assert info.value.line == 2


@pytest.fixture
def lookup_folder(tmp_path: Path) -> Path:
    """A content folder ``tmp_path/content`` with an empty ``lookups/``, and a CSV outside it
    (``tmp_path/secret.csv``) a lookup must never reach."""
    (tmp_path / "content" / "lookups").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("user,password\nroot,hunter2\n")
    return tmp_path / "content"


def define(folder: Path, filename: str) -> Path:
    yml = folder / "lookups" / "tools.yml"
    yml.write_text(f"name: tunnel_tools\nfilename: {json.dumps(filename)}\n")
    return yml


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("../../secret.csv", "'..' leaves lookups/"),
        ("sub/../../../secret.csv", "'..' leaves lookups/"),
        ("{secret}", "an absolute path"),
        ("~/secret.csv", "an absolute path"),
        ("tools\x00.csv", "a control character in the name"),
    ],
)
def test_lookup_filename_outside_lookups_is_refused(
    lookup_folder: Path, filename: str, reason: str
) -> None:
    filename = filename.format(secret=lookup_folder.parent / "secret.csv")
    yml = define(lookup_folder, filename)
    with pytest.raises(ContentError) as info:
        load_content([lookup_folder], builtin=False)
    assert str(info.value) == f"{yml}:2: lookup file {filename!r} is refused: {reason}"


def test_lookup_filename_through_a_symlink_out_is_refused(lookup_folder: Path) -> None:
    (lookup_folder / "lookups" / "shared").symlink_to(lookup_folder.parent)
    yml = define(lookup_folder, "shared/secret.csv")
    with pytest.raises(ContentError) as info:
        load_content([lookup_folder], builtin=False)
    assert str(info.value) == (
        f"{yml}:2: lookup file 'shared/secret.csv' is refused: "
        f"a symlink leading out of {lookup_folder / 'lookups'}"
    )


def test_a_lookup_csv_symlinked_out_is_refused(lookup_folder: Path) -> None:
    link = lookup_folder / "lookups" / "users.csv"
    link.symlink_to(lookup_folder.parent / "secret.csv")
    with pytest.raises(ContentError) as info:
        load_content([lookup_folder], builtin=False)
    assert str(info.value) == (
        f"{link}: lookup file 'users.csv' is refused: "
        f"a symlink leading out of {lookup_folder / 'lookups'}"
    )


def test_a_lookup_filename_too_long_for_the_os_is_not_found(lookup_folder: Path) -> None:
    yml = define(lookup_folder, "x" * 300 + ".csv")
    with pytest.raises(ContentError, match=r"lookup file 'x+\.csv' not found") as info:
        load_content([lookup_folder], builtin=False)
    assert (info.value.path, info.value.line) == (str(yml), 2)


def test_a_lookup_csv_in_a_symlink_loop_is_refused(lookup_folder: Path) -> None:
    lookups = lookup_folder / "lookups"
    (lookups / "a.csv").symlink_to(lookups / "b.csv")
    (lookups / "b.csv").symlink_to(lookups / "a.csv")
    with pytest.raises(ContentError) as info:
        load_content([lookup_folder], builtin=False)
    assert str(info.value) == f"{lookups / 'a.csv'}: lookup file 'a.csv' is refused: a symlink loop"


def test_lookup_files_inside_lookups_still_load(lookup_folder: Path) -> None:
    lookups = lookup_folder / "lookups"
    (lookups / "sub").mkdir()
    (lookups / "sub" / "tools.csv").write_text("name\nngrok\n")
    (lookups / "alias.csv").symlink_to(lookups / "sub" / "tools.csv")
    define(lookup_folder, "sub/./tools.csv")
    content = load_content([lookup_folder], builtin=False)
    assert content.lookups["tunnel_tools"] == lookups / "sub" / "tools.csv"
    assert content.lookups["alias"] == lookups / "alias.csv"
