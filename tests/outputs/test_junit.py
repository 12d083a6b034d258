"""JUnit XML and the contentctl-shaped summary of a hand-made test report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from escudo.content.model import Detection
from escudo.detect.testing import DetectionTestResult, TestReport, TestResult
from escudo.outputs.junit import junit_xml, write_junit
from escudo.outputs.test_summary import render_table, summary


def detection(name: str, **kw: object) -> Detection:
    return Detection(
        name=name, id="bc84d574-708c-467d-b78a-4c1e20171f97", search="| tstats count", **kw
    )  # type: ignore[arg-type]


def report() -> TestReport:
    ok = DetectionTestResult(
        detection("Linux Ngrok Reverse Proxy Usage", path=Path("/c/detections/endpoint/x.yml"), mitre_attack_id=("T1572", "T1090")),
        [
            TestResult("True Positive Test", status="pass", message="9 results", duration=0.25, result_count=9, attack_data=("/a/b.log",)),
            TestResult("Benign", status="pass", message="0 results, as expected", result_count=0, expect="none"),
        ],
    )  # fmt: skip
    bad = DetectionTestResult(
        detection('Odd <"name"> & co'),
        [
            TestResult("t1", status="fail", message="risk object field 'user' missing from results", result_count=3),
            TestResult("t2", status="error", message="attack data not found: x\x01y", exception="InputError: x\x01y"),
        ],
    )  # fmt: skip
    skipped = DetectionTestResult(
        detection("Later", status="experimental"),
        [TestResult("(no tests)", status="skip", message="status is experimental")],
    )
    return TestReport([ok, bad, skipped], mode="selected", duration=1.5)


def test_junit_structure_parses_back(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    write_junit(report(), out)
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "5", "failures": "1", "errors": "1", "skipped": "1", "time": "1.500",
    }  # fmt: skip
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "Linux Ngrok Reverse Proxy Usage",
        'Odd <"name"> & co',
        "Later",
    ]
    props = {p.get("name"): p.get("value") for p in suites[0].findall("properties/property")}
    assert props == {
        "detection_id": "bc84d574-708c-467d-b78a-4c1e20171f97", "detection_type": "TTP",
        "detection_status": "production", "file": "/c/detections/endpoint/x.yml",
        "mitre_attack_id": "T1572,T1090",
    }  # fmt: skip
    tp, neg = suites[0].findall("testcase")
    assert (tp.get("name"), tp.get("classname"), tp.get("time")) == (
        "True Positive Test",
        "Linux Ngrok Reverse Proxy Usage",
        "0.250",
    )
    assert list(tp) == tp[:1] and tp[0].tag == "properties"  # a pass holds no outcome element
    case_props = {p.get("name"): p.get("value") for p in tp.findall("properties/property")}
    assert case_props == {
        "test_type": "unit",
        "expect": "results",
        "resultCount": "9",
        "attack_data": "/a/b.log",
    }
    assert {p.get("name"): p.get("value") for p in neg.findall("properties/property")}[
        "expect"
    ] == "none"
    fail, error = suites[1].findall("testcase")
    assert fail.find("failure").get("message") == "risk object field 'user' missing from results"  # type: ignore[union-attr]
    err = error.find("error")
    assert err is not None and err.get("message") == "attack data not found: x\\x01y"
    assert err.text == "InputError: x\\x01y"
    skip = suites[2].find("testcase/skipped")
    assert skip is not None and skip.get("message") == "status is experimental"


@given(st.text())
def test_any_message_survives_the_round_trip(message: str) -> None:
    r = TestReport(
        [
            DetectionTestResult(
                detection(message or "x"), [TestResult(message, status="fail", message=message)]
            )
        ]
    )
    root = ET.fromstring(junit_xml(r).encode("utf-8"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    expected = "".join(c if c in "\t\n\r" or c >= " " else f"\\x{ord(c):02x}" for c in message)
    expected = "".join(
        c if not (0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff") else f"\\x{ord(c):02x}"
        for c in expected
    )
    # Attributes keep tab, CR and LF: ElementTree writes them as character references.
    assert failure.get("message") == expected


def test_summary_has_contentctls_shape() -> None:
    result = summary(report())
    assert result["summary"] == {
        "mode": "selected", "enable_integration_testing": False, "success": False,
        "total_detections": 3, "total_tested_detections": 2, "total_pass": 1, "total_fail": 1,
        "total_skipped": 1, "total_untested": 0, "total_production": 2, "total_experimental": 1,
        "total_deprecated": 0, "total_manual": 0, "success_rate": "50.0%",
    }  # fmt: skip
    names = [d["name"] for d in result["tested_detections"]]
    assert names == ['Odd <"name"> & co', "Linux Ngrok Reverse Proxy Usage"]  # failures first
    test = result["tested_detections"][1]["tests"][0]
    assert test == {
        "name": "True Positive Test", "test_type": "unit", "success": True, "message": "9 results",
        "exception": None, "status": "pass", "duration": 0.25, "resultCount": 9, "expect": "results",
        "attack_data": ["/a/b.log"],
    }  # fmt: skip
    assert [d["name"] for d in result["skipped_detections"]] == ["Later"]
    json.dumps(result)  # serialisable as is


def test_table_has_one_line_per_test_and_a_tally() -> None:
    lines = render_table(report()).splitlines()
    assert lines[0].split() == ["DETECTION", "TEST", "STATUS", "RESULTS", "TIME", "MESSAGE"]
    assert len(lines) == 1 + 5 + 1
    assert "0 results, as expected" in lines[2] and " PASS " in lines[2]
    assert "attack data not found: x\x01y" in lines[4]
    assert lines[-1] == "5 tests: 2 passed, 1 failed, 1 errors, 1 skipped (3 detections) in 1.50s"
