"""``escudo test`` end to end: real content, bundled attack data, real DuckDB."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from escudo.cli import main
from escudo.content.loader import BUILTIN_DIR
from escudo.detect.testing import BUNDLED_ATTACK_DATA

SEED = BUILTIN_DIR / "detections/endpoint/linux_ngrok_reverse_proxy_usage.yml"
NAME = "Linux Ngrok Reverse Proxy Usage"
TP_URL_PATH = "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the seed detection with one edit (same name: it is tested from its file)."""
    text = SEED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "variant.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_seed_passes_with_its_negative_test_and_writes_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "out.xml"
    assert main(["test", NAME, "--junit", str(junit)]) == 0
    out = capsys.readouterr().out.splitlines()
    status, count, _, *message = out[1].split()[-5:]
    assert (status, count, message) == ("PASS", "9", ["9", "results"])
    assert "0 results, as expected" in out[2] and " PASS " in out[2]
    assert out[-1].startswith("4 tests: 4 passed, 0 failed, 0 errors, 0 skipped (1 detection) in ")
    root = ET.parse(junit).getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == (
        "testsuites",
        "4",
        "0",
        "0",
    )
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == NAME
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "True Positive Test",
        "Benign Near Misses",
        "True Positive Test (auditd)",
        "Benign Near Misses (auditd)",
    ]
    assert all(len(c.findall("failure")) + len(c.findall("error")) == 0 for c in cases)
    expect = {p.get("name"): p.get("value") for p in cases[1].findall("properties/property")}
    assert expect["expect"] == "none" and expect["resultCount"] == "0"


def test_search_that_cannot_match_fails_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, "Processes.process_name=ngrok ", "Processes.process_name=ngrokx ")
    assert main(["test", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    status, count, _, *message = lines[1].split()[-5:]
    assert (status, count, message) == ("FAIL", "0", ["0", "results"])
    assert "PASS" in lines[2]  # the negative test still finds nothing


def test_output_without_user_fails_the_risk_object_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, " Processes.user ", " ")
    assert main(["test", str(path), "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["summary"]["success"] is False
    assert result["summary"]["total_fail"] == 1 and result["summary"]["success_rate"] == "0.0%"
    tp = result["tested_detections"][0]["tests"][0]
    assert (tp["status"], tp["resultCount"]) == ("fail", 9)
    assert tp["message"] == "risk object field 'user' missing from results"


def test_json_summary_of_a_passing_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "bc84d574-708c-467d-b78a-4c1e20171f97", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"]["mode"] == "selected"
    assert result["summary"]["success"] is True and result["summary"]["success_rate"] == "100.0%"
    detection = result["tested_detections"][0]
    assert (detection["name"], detection["status"], detection["production_status"]) == (
        NAME,
        "pass",
        "production",
    )
    assert [t["resultCount"] for t in detection["tests"]] == [9, 0, 18, 0]
    assert detection["tests"][0]["attack_data"] == [str(BUNDLED_ATTACK_DATA / TP_URL_PATH)]


def test_all_builtin_detections_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["mode"] == "all"
    assert summary["total_pass"] == summary["total_detections"] >= 4


def test_attack_data_folder_comes_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Put the benign log where the true-positive URL points: the detection must now find nothing.
    mine = tmp_path / TP_URL_PATH
    mine.parent.mkdir(parents=True)
    shutil.copy(BUNDLED_ATTACK_DATA / TP_URL_PATH.replace(".log", "-benign.log"), mine)
    assert main(["test", NAME, "--attack-data", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "FAIL" in lines[1] and lines[1].endswith("0 results")


def test_missing_attack_data_is_an_error_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, "ngrok/ngrok_linux-sysmon.log", "ngrok/gone.log")
    assert main(["test", str(path), "--format", "json"]) == 1
    tp = json.loads(capsys.readouterr().out)["tested_detections"][0]["tests"][0]
    assert tp["status"] == "error"
    assert tp["message"].startswith("attack data not found: https://media.githubusercontent.com/")
    assert (
        str(BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/gone.log")
        in tp["message"]
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("master/../outside/secret.log", "'..' leaves the attack data folder"),
        ("master/%2e%2e%2foutside/secret.log", "'..' leaves the attack data folder"),
        ("master/{tmp}/outside/secret.log", "an absolute path; give one relative to --attack-data"),
        ("master/datasets/evil.log", "{tmp}/data/datasets/evil.log is a symlink leading out of "),
    ],
)
def test_attack_data_outside_its_folder_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, reason: str
) -> None:
    """The true-positive log placed outside --attack-data: reading it would PASS; it is refused."""
    (tmp_path / "outside").mkdir()
    shutil.copy(BUNDLED_ATTACK_DATA / TP_URL_PATH, tmp_path / "outside" / "secret.log")
    (tmp_path / "data" / "datasets").mkdir(parents=True)
    (tmp_path / "data" / "datasets" / "evil.log").symlink_to(tmp_path / "outside" / "secret.log")
    data = data.format(tmp=tmp_path)
    path = variant(tmp_path, f"master/{TP_URL_PATH}", data)
    argv = ["test", str(path), "--attack-data", str(tmp_path / "data"), "--format", "json"]
    assert main(argv) == 1
    tp = json.loads(capsys.readouterr().out)["tested_detections"][0]["tests"][0]
    url = f"https://media.githubusercontent.com/media/splunk/attack_data/{data}"
    assert tp["status"] == "error"
    assert tp["message"].startswith(
        f"{path}:83: attack data {url!r} is refused: {reason.format(tmp=tmp_path)}"
    )


def test_unsupported_sourcetype_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(
        tmp_path,
        "sourcetype: sysmon:linux\n    update_timestamp",
        "sourcetype: cisco:asa\n    update_timestamp",
    )
    assert main(["test", str(path)]) == 1
    line = capsys.readouterr().out.splitlines()[1]
    assert "ERROR" in line and "unsupported sourcetype 'cisco:asa'" in line


def test_manual_and_experimental_detections_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, "status: production", "status: experimental")
    assert main(["test", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all("SKIP" in line and "status is experimental" in line for line in lines[1:3])


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "No Such Detection"]) == 2
    assert (
        "escudo: error: no detection named or with id 'No Such Detection'"
        in capsys.readouterr().err
    )
    assert main(["test", NAME, "--attack-data", str(tmp_path / "absent")]) == 2
    assert main(["test", NAME, "--format", "xml"]) == 2


def test_a_broken_detection_file_is_a_content_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, "name: Linux Ngrok", "name: [Linux Ngrok")
    assert main(["test", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"escudo: error: {path}:2: invalid YAML")


def test_tests_run_over_an_ingested_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--store DIR``: each test runs over the store's events, not its attack data; the store
    holding the true positive's data, that test passes and the negative one (no hit expected) fails."""
    store = tmp_path / "store"
    assert main(["ingest", str(BUNDLED_ATTACK_DATA / TP_URL_PATH), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["test", NAME, "--store", str(store), "--format", "json"]) == 1
    [detection] = json.loads(capsys.readouterr().out)["tested_detections"]
    found = [(t["name"], t["success"], t["resultCount"]) for t in detection["tests"]]
    # every entry runs over the same store (the auditd entries too: their attack data is not read)
    assert found == [
        ("True Positive Test", True, 9),
        ("Benign Near Misses", False, 9),
        ("True Positive Test (auditd)", True, 9),
        ("Benign Near Misses (auditd)", False, 9),
    ]
    assert main(["test", NAME, "--store", str(tmp_path / "none")]) == 2
    assert "not an escudo store" in capsys.readouterr().err
