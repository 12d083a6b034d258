"""ATT&CK lookups: the bundled table, a full STIX bundle, the regeneration script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from escudo.cli import main
from escudo.content.loader import load_content
from escudo.detect import attack
from escudo.errors import InputError

HERE = Path(__file__).parent / "attack_data"
MINI = HERE / "mini-enterprise-attack.json"
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_attack_table.py"
CORPUS = REPO.parent / "shared" / "reference" / "escu" / "detections"


@pytest.fixture(autouse=True)
def _bundled_table() -> Iterator[None]:
    attack.use_stix(None)
    yield
    attack.use_stix(None)


@pytest.mark.parametrize(
    ("tid", "name"),
    [("T1572", "Protocol Tunneling"), ("T1090", "Proxy"), ("T1102", "Web Service")],
)
def test_seed_techniques_are_command_and_control(tid: str, name: str) -> None:
    technique = attack.lookup_technique(tid)
    assert technique is not None
    assert technique.name == name
    assert [(t.id, t.shortname, t.name) for t in technique.tactics] == [
        ("TA0011", "command-and-control", "Command and Control")
    ]


def test_sub_technique_and_multi_tactic_lookups() -> None:
    shell = attack.lookup_technique("t1059.004 ")
    assert shell is not None and shell.name == "Unix Shell" and shell.parent_id == "T1059"
    assert (
        attack.active().display_name("T1059.004") == "Command and Scripting Interpreter: Unix Shell"
    )
    cron = attack.lookup_technique("T1053.003")
    assert cron is not None
    assert [t.id for t in cron.tactics] == ["TA0002", "TA0003", "TA0004"]


def test_unknown_and_revoked_ids_give_none() -> None:
    assert attack.lookup_technique("T9999") is None
    assert attack.lookup_technique("T1053.001") is None  # revoked in ATT&CK 18
    assert "T1053.001" in attack.bundled().missing


def test_tactic_unpacks_as_id_name_pair() -> None:
    technique = attack.lookup_technique("T1572")
    assert technique is not None
    assert [(tid, tname) for tid, tname in technique.tactics] == [("TA0011", "Command and Control")]


def test_bundled_table_names_its_version() -> None:
    table = attack.bundled()
    assert table.version == "18.0"
    assert len(table.tactics) == 14
    readme = (REPO / "src" / "escudo" / "data" / "attack" / "README.md").read_text()
    assert "**18.0**" in readme
    for tid in table.missing:
        assert tid in readme


def test_every_builtin_technique_is_in_the_table() -> None:
    content = load_content()
    named = {t.upper() for d in content.detections.values() for t in d.mitre_attack_id}
    assert {"T1572", "T1090", "T1102"} <= named
    assert all(attack.lookup_technique(t) for t in named), sorted(named)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="ESCU reference corpus not available (not in CI)")
def test_every_corpus_technique_is_in_the_table_or_listed_missing() -> None:
    named: set[str] = set()
    for path in CORPUS.rglob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for tid in (doc.get("tags") or {}).get("mitre_attack_id") or []:
            named.add(str(tid).strip().upper())
    table = attack.bundled()
    missing = set(table.missing)
    assert named, "corpus has no technique ids"
    assert {t for t in named if table.lookup(t) is None} == missing & named


def test_bundled_sub_techniques_have_their_parent() -> None:
    table = attack.bundled()
    for technique in table.techniques.values():
        if technique.parent_id:
            assert technique.parent_id in table.techniques


def test_load_stix_reads_current_objects_only() -> None:
    table = attack.load_stix(MINI)
    assert table.version == "99.1"
    assert "old-tactic" not in table.tactics  # deprecated
    assert table.lookup("T1053.001") is None  # revoked
    assert table.lookup("T1066") is None  # deprecated
    cron = table.lookup("T1053.003")
    assert cron is not None and [t.shortname for t in cron.tactics] == ["execution", "persistence"]


def test_use_stix_switches_every_lookup_and_back() -> None:
    attack.use_stix(MINI)
    technique = attack.lookup_technique("T1572")
    assert technique is not None and technique.name == "Protocol Tunneling (test copy)"
    assert attack.lookup_technique("T1090") is None  # not in the mini bundle
    attack.use_stix(None)
    technique = attack.lookup_technique("T1572")
    assert technique is not None and technique.name == "Protocol Tunneling"


def test_missing_stix_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        attack.load_stix(tmp_path / "nope.json")
    assert info.value.path == str(tmp_path / "nope.json")
    assert "cannot read ATT&CK STIX file" in str(info.value)


def test_bad_json_names_path_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "type": "bundle",\n  "objects": [,]\n}\n')
    with pytest.raises(InputError) as info:
        attack.load_stix(bad)
    assert (info.value.path, info.value.line) == (str(bad), 3)
    assert str(info.value).startswith(f"{bad}:3: not JSON")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "the top level is not an object"),
        ('{"type": "bundle"}', "no 'objects' list"),
        ('{"type": "bundle", "objects": []}', "no ATT&CK techniques"),
    ],
)
def test_not_a_bundle(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        attack.load_stix(path)


def test_cli_attack_stix_flag_uses_the_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "layer.json"
    assert main(["navigator", "--attack-stix", str(MINI), "--output", str(out)]) == 0
    layer = json.loads(out.read_text())
    assert layer["versions"]["attack"] == "99"
    unknown = {
        t["techniqueID"]
        for t in layer["techniques"]
        if {"name": "note", "value": "unknown to ATT&CK 99.1"} in t["metadata"]
    }
    assert "T1090" in unknown and "T1572" not in unknown


def test_hunt_attack_stix_lasts_for_the_command_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hunt's risk events use the bundle; the next command in the process has the bundled table."""
    from escudo.detect.testing import BUNDLED_ATTACK_DATA

    log = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    argv = ["hunt", str(log), "--detection", "Linux Ngrok Reverse Proxy Usage", "--emit", "risk",
            "--format", "jsonl", "--attack-stix", str(MINI)]  # fmt: skip
    assert main(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # the mini bundle renames T1572 and lacks T1090 and T1102
    names = {tuple(e["annotations.mitre_attack.mitre_technique"]) for e in events}
    assert names == {("Protocol Tunneling (test copy)",)}
    assert attack.active() is attack.bundled()


def test_hunt_checks_attack_stix_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["hunt", str(tmp_path / "no-such.log"), "--attack-stix", str(bad)]) == 2
    assert (
        capsys.readouterr().err
        == f"escudo: error: {bad}: not a STIX bundle: the top level is not an object\n"
    )


def test_cli_bad_attack_stix_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["navigator", "--attack-stix", str(tmp_path / "none.json")]) == 2
    assert "escudo: error:" in capsys.readouterr().err


def _generate(tmp_path: Path, *args: str) -> tuple[dict[str, object], str]:
    out = tmp_path / "table.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(MINI), str(out), "--no-builtin", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.read_text()), run.stdout


def test_generator_keeps_named_ids_and_parents(tmp_path: Path) -> None:
    doc, stdout = _generate(tmp_path, "--ids-from", str(HERE / "content"))
    ids = [t["id"] for t in doc["techniques"]]  # type: ignore[union-attr,index]
    assert ids == ["T1053", "T1053.003", "T1059", "T1059.004", "T1572"]
    assert doc["missing"] == ["T1053.001"]
    assert doc["attack_version"] == "99.1"
    assert "T1053.001" in stdout
    table = attack.load_table(json.dumps(doc), source="test")
    unix = table.lookup("T1059.004")
    assert unix is not None and [t.id for t in unix.tactics] == ["TA0002"]


def test_generator_all_keeps_every_current_technique(tmp_path: Path) -> None:
    doc, _ = _generate(tmp_path, "--all")
    ids = [t["id"] for t in doc["techniques"]]  # type: ignore[union-attr,index]
    assert ids == ["T1053", "T1053.003", "T1059", "T1059.004", "T1572"]
    assert doc["missing"] == []


def test_dump_then_load_round_trips_the_bundled_table() -> None:
    table = attack.bundled()
    again = attack.load_table(attack.dump_table(table), source="again")
    assert again.techniques == table.techniques
    assert again.tactics == table.tactics
