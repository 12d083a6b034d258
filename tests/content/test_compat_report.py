"""benchmarks/compat_report.py on a small corpus built here (the ESCU reference is not in CI)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from escudo.content.loader import BUILTIN_DIR

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "compat_report.py"
SEED = BUILTIN_DIR / "detections" / "endpoint" / "linux_ngrok_reverse_proxy_usage.yml"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compat_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compat_report"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compat() -> ModuleType:
    return _module()


def _corpus(tmp_path: Path) -> Path:
    """The seed (passes every stage), one with an unsupported command, one raw-index search."""
    detections = tmp_path / "detections"
    detections.mkdir()
    shutil.copytree(BUILTIN_DIR / "macros", tmp_path / "macros")
    text = SEED.read_text()
    shutil.copy(SEED, detections / "seed.yml")
    (detections / "transaction.yml").write_text(
        text.replace("name: Linux Ngrok Reverse Proxy Usage", "name: Uses Transaction").replace(
            "| `drop_dm_object_name", "| transaction dest | `drop_dm_object_name"
        )
    )
    auditd = text.replace("name: Linux Ngrok Reverse Proxy Usage", "name: Raw Auditd")
    auditd = auditd.replace("Sysmon for Linux EventID 1", "Linux Auditd Execve")
    auditd = auditd.replace(
        "search: |-\n  | tstats", "search: |-\n  index=main type=EXECVE | tstats", 1
    )
    (detections / "auditd.yml").write_text(auditd)
    return tmp_path


def test_report_gives_the_first_failing_stage_with_its_reason(
    compat: ModuleType, tmp_path: Path
) -> None:
    statuses = {s.name: s for s in compat.report(_corpus(tmp_path))}
    assert statuses["Linux Ngrok Reverse Proxy Usage"].failed_stage is None
    assert statuses["Linux Ngrok Reverse Proxy Usage"].group == "sysmon"
    unsupported = statuses["Uses Transaction"]
    assert (unsupported.failed_stage, unsupported.group) == ("parse", "sysmon")
    assert "unsupported command 'transaction'" in unsupported.reason
    raw = statuses["Raw Auditd"]
    assert (raw.failed_stage, raw.group) == ("compile", "auditd")
    assert "tstats must be the first command of the search" in raw.reason
    assert compat.totals(list(statuses.values())) == {
        "sysmon": {"total": 2, "load": 2, "expand": 2, "parse": 1, "compile": 1, "run": 1},
        "auditd": {"total": 1, "load": 1, "expand": 1, "parse": 1, "compile": 0, "run": 0},
    }


def test_main_prints_json_for_one_group(
    compat: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compat.main([str(_corpus(tmp_path)), "--json", "--group", "auditd"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in doc["detections"]] == ["Raw Auditd"]
    assert doc["totals"]["auditd"]["compile"] == 0


def test_counts_per_source(
    compat: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each registered source serves the seed: it maps the data set, derives its prefilter from
    the search's requirements, and the search runs on its rendering of the ngrok intrusion."""
    statuses = {s.name: s for s in compat.report(_corpus(tmp_path))}
    assert statuses["Linux Ngrok Reverse Proxy Usage"].sources == {
        "ecs:json": "ok prefiltered",
        "ocsf:json": "ok prefiltered",
        "sysmon:linux": "ok prefiltered",
        "linux:audit": "ok prefiltered",
    }
    assert statuses["Uses Transaction"].sources == {}  # did not compile: nothing to ask a source
    row = {"compiled": 1, "feeds": 1, "needles": 1, "run": 1, "prefiltered": 1}
    assert compat.source_totals(list(statuses.values())) == {
        "ecs:json": row, "ocsf:json": row, "sysmon:linux": row, "linux:audit": row
    }  # fmt: skip
    assert compat.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ecs:json" in out and "ocsf:json" in out
