"""``escudo test`` reports: contentctl's ``test_results/summary.yml`` shape, and a human table.

The summary follows contentctl v5.6.0 ``DetectionTestingView.getSummaryObject`` (key names, counts,
``success_rate`` as ``"NN.N%"``, failures sorted first); escudo runs every test to completion, so
``untested_detections`` is always empty and ``percent_complete`` is ``"100.0%"``.

>>> from escudo.detect.testing import TestReport
>>> summary(TestReport(mode="all"))["summary"]["success_rate"]
'UKNOWN'
"""

from __future__ import annotations

from typing import Any

from escudo.detect.testing import DetectionTestResult, TestReport, TestResult

# contentctl's Utils.getPercent: the string it prints when the denominator is 0 (its spelling).
UNKNOWN_PERCENT = "UKNOWN"

# Table columns: header, width cap (None: no cap).
_COLUMNS: tuple[tuple[str, int | None], ...] = (
    ("DETECTION", 48),
    ("TEST", 32),
    ("STATUS", None),
    ("RESULTS", None),
    ("TIME", None),
    ("MESSAGE", None),
)


def percent(numerator: int, denominator: int) -> str:
    """contentctl's ``Utils.getPercent(n, d, 1)``.

    >>> percent(1, 3)
    '33.3%'
    """
    if denominator == 0:
        return UNKNOWN_PERCENT
    return f"{numerator / denominator * 100:.1f}%"


def summarize_test(test: TestResult) -> dict[str, Any]:
    """One test as contentctl writes it (``resultCount`` keeps contentctl's camelCase)."""
    return {
        "name": test.name,
        "test_type": test.test_type,
        "success": test.success,
        "message": test.message,
        "exception": test.exception,
        "status": test.status,
        "duration": round(test.duration, 3),
        "resultCount": test.result_count,
        "expect": test.expect,  # escudo: "none" marks a negative test
        "attack_data": list(test.attack_data),
    }


def detection_summary(outcome: DetectionTestResult) -> dict[str, Any]:
    """One detection as contentctl's ``Detection.get_summary`` lays it out."""
    d = outcome.detection
    return {
        "name": d.name,
        "id": d.id,
        "type": d.type,
        "production_status": d.status,
        "status": outcome.status,
        "source_category": d.path.parent.name if d.path is not None else "",
        "data_source": list(d.data_source),
        "search": d.search,
        "file_path": str(d.path) if d.path is not None else "",
        "manual_test": d.manual_test,
        "success": outcome.status != "fail",
        "tests": [summarize_test(t) for t in outcome.tests],
    }


def summary(report: TestReport) -> dict[str, Any]:
    """The whole run as contentctl's ``summary.yml`` mapping (JSON-serialisable)."""
    tested = [o for o in report.detections if o.status != "skip"]
    skipped = [o for o in report.detections if o.status == "skip"]
    total_pass = sum(o.status == "pass" for o in tested)
    total_fail = sum(o.status == "fail" for o in tested)
    statuses = [o.detection.status for o in report.detections]
    tested_rows = sorted(
        (detection_summary(o) for o in tested), key=lambda x: (x["success"], x["name"])
    )
    skipped_rows = sorted(
        (detection_summary(o) for o in skipped),
        key=lambda x: (0 if x["tests"] and x["tests"][0]["name"] != "(no tests)" else 1, x["name"]),
    )
    return {
        "summary": {
            "mode": report.mode,
            "enable_integration_testing": False,
            "success": total_fail == 0,
            "total_detections": len(report.detections),
            "total_tested_detections": len(tested),
            "total_pass": total_pass,
            "total_fail": total_fail,
            "total_skipped": len(skipped),
            "total_untested": 0,
            "total_production": statuses.count("production"),
            "total_experimental": statuses.count("experimental"),
            "total_deprecated": statuses.count("deprecated"),
            "total_manual": sum(o.detection.manual_test is not None for o in report.detections),
            "success_rate": percent(total_pass, len(tested)),
        },
        "tested_detections": tested_rows,
        "skipped_detections": skipped_rows,
        "untested_detections": [],
        "percent_complete": percent(len(report.detections), len(report.detections)),
    }


def _cell(text: str, cap: int | None) -> str:
    text = " ".join(text.split())  # messages may span lines (SPL carets): keep the table one line
    return text if cap is None or len(text) <= cap else text[: cap - 1] + "…"


def render_table(report: TestReport) -> str:
    """One line per test, then a one-line tally.

    >>> print(render_table(TestReport()))
    DETECTION  TEST  STATUS  RESULTS  TIME  MESSAGE
    0 tests: 0 passed, 0 failed, 0 errors, 0 skipped (0 detections) in 0.00s
    """
    rows = [[header for header, _ in _COLUMNS]]
    for outcome in report.detections:
        for t in outcome.tests:
            count = "" if t.result_count is None else str(t.result_count)
            cells = [
                outcome.detection.name,
                t.name,
                t.status.upper(),
                count,
                f"{t.duration:.2f}s",
                t.message,
            ]
            rows.append([_cell(c, cap) for c, (_, cap) in zip(cells, _COLUMNS, strict=True)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    n = len(report.tests)
    lines.append(
        f"{n} test{'s' if n != 1 else ''}: {report.count('pass')} passed, {report.count('fail')} failed, "
        f"{report.count('error')} errors, {report.count('skip')} skipped "
        f"({len(report.detections)} detection{'s' if len(report.detections) != 1 else ''}) "
        f"in {report.duration:.2f}s"
    )
    return "\n".join(lines)


__all__ = ["detection_summary", "percent", "render_table", "summarize_test", "summary"]
