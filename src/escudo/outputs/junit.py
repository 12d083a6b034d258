"""JUnit XML for ``escudo test --junit FILE``, the report format CI systems read.

Layout (the common subset Jenkins, GitLab and GitHub test reporters accept, as pytest's ``--junitxml``
writes it): ``<testsuites>`` > one ``<testsuite>`` per detection with ``<properties>`` > one
``<testcase>`` per test entry holding ``<failure>``, ``<error>`` or ``<skipped>``. Built with
:mod:`xml.etree.ElementTree`, which escapes ``& < > "``; characters XML 1.0 cannot hold at all (most
control characters) are replaced by ``\\xNN`` text first.

>>> from escudo.detect.testing import TestReport
>>> junit_xml(TestReport()).splitlines()[1]
'<testsuites name="escudo test" tests="0" failures="0" errors="0" skipped="0" time="0.000" />'
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from escudo.detect.testing import DetectionTestResult, TestReport, TestResult

# XML 1.0 Char production: tab, LF, CR, and U+0020 upward except surrogates and U+FFFE/U+FFFF.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# test status -> (child element, its ``type`` attribute)
_OUTCOME_ELEMENTS: dict[str, tuple[str, str]] = {
    "fail": ("failure", "DetectionTestFailure"),
    "error": ("error", "DetectionTestError"),
    "skip": ("skipped", "DetectionTestSkipped"),
}


def xml_safe(text: str) -> str:
    r"""``text`` with characters XML cannot represent written as ``\xNN``.

    >>> xml_safe("a\x01b")
    'a\\x01b'
    """
    return _ILLEGAL_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _set(element: ET.Element, **attributes: object) -> None:
    for key, value in attributes.items():
        element.set(key, xml_safe(str(value)))


def _counts(tests: list[TestResult]) -> dict[str, object]:
    return {
        "tests": len(tests),
        "failures": sum(t.status == "fail" for t in tests),
        "errors": sum(t.status == "error" for t in tests),
        "skipped": sum(t.status == "skip" for t in tests),
        "time": f"{sum(t.duration for t in tests):.3f}",
    }


def _testsuite(parent: ET.Element, outcome: DetectionTestResult) -> None:
    d = outcome.detection
    suite = ET.SubElement(parent, "testsuite")
    _set(suite, name=d.name, **_counts(outcome.tests))
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("detection_id", d.id),
        ("detection_type", d.type),
        ("detection_status", d.status),
        ("file", str(d.path) if d.path is not None else ""),
        ("mitre_attack_id", ",".join(d.mitre_attack_id)),
    ):
        _set(ET.SubElement(properties, "property"), name=key, value=value)
    for test in outcome.tests:
        case = ET.SubElement(suite, "testcase")
        _set(case, name=test.name, classname=d.name, time=f"{test.duration:.3f}")
        if d.path is not None:
            _set(case, file=str(d.path))
        case_properties = ET.SubElement(case, "properties")
        for key, value in (
            ("test_type", test.test_type),
            ("expect", test.expect),
            ("resultCount", "" if test.result_count is None else str(test.result_count)),
            *(("attack_data", path) for path in test.attack_data),
        ):
            _set(ET.SubElement(case_properties, "property"), name=key, value=value)
        if test.status in _OUTCOME_ELEMENTS:
            tag, kind = _OUTCOME_ELEMENTS[test.status]
            child = ET.SubElement(case, tag)
            _set(child, message=test.message, type=kind)
            if test.status != "skip":
                child.text = xml_safe(test.exception or test.message)


def junit_xml(report: TestReport) -> str:
    """The report as a JUnit XML document (UTF-8 declaration included)."""
    root = ET.Element("testsuites")
    _set(root, name="escudo test", **_counts(report.tests))
    root.set("time", f"{report.duration:.3f}")
    for outcome in report.detections:
        _testsuite(root, outcome)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def write_junit(report: TestReport, path: Path) -> None:
    """Write :func:`junit_xml` to ``path`` (UTF-8)."""
    path.write_text(junit_xml(report), encoding="utf-8")


__all__ = ["junit_xml", "write_junit", "xml_safe"]
