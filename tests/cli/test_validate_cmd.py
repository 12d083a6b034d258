"""``escudo validate`` end to end: exit codes, per-file lines, and real ESCU content when present."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from escudo.cli import main
from escudo.content.loader import BUILTIN_DIR

SEED = BUILTIN_DIR / "detections/endpoint/linux_ngrok_reverse_proxy_usage.yml"
ESCU = Path(__file__).resolve().parents[3] / "shared" / "reference" / "escu"  # not in CI


def test_builtin_content_validates_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"{SEED}: OK" in out
    assert out[-1].startswith("validated ") and out[-1].endswith(": 0 problems in 0 files")


def test_problems_are_path_line_message_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SEED.read_text(encoding="utf-8")
    bad = tmp_path / "detections" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(
        text.replace("  - T1102\n", "  - T11O2\n").replace("status: production", "status: prod")
    )
    good = tmp_path / "detections" / "good.yml"
    good.write_text(text)
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    line_of = {n: i for i, n in enumerate(text.splitlines(), 1)}
    assert out == [
        f"{bad}:{line_of['status: production']}: status must be one of production, experimental, deprecated, validation, removed, not 'prod'",
        f"{bad}:{line_of['  - T1102']}: ATT&CK id 'T11O2' must look like T1234 or T1234.001",
        f"{good}: OK",
        "validated 2 detection files: 2 problems in 1 file",
    ]  # fmt: skip


def test_quiet_prints_problems_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.yml"
    path.write_text("name: x\n", encoding="utf-8")
    assert main(["validate", "-q", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{path}:1: missing required key 'id'" in out
    assert all(line.startswith(f"{path}:1: missing required key") for line in out)


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.yml")]) == 2
    assert "escudo: error: no such file or folder" in capsys.readouterr().err
    assert main(["validate", "--content", str(tmp_path / "absent")]) == 2
    assert main(["validate", str(tmp_path)]) == 2  # an empty folder: nothing to validate


@pytest.mark.skipif(not ESCU.is_dir(), reason="reference ESCU corpus not available")
def test_sysmon_for_linux_escu_detections_validate_clean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["validate", "-q", "--content", str(ESCU)])
    problems = capsys.readouterr().out.splitlines()
    sysmon = [
        p for p in sorted((ESCU / "detections").rglob("*.yml"))
        if "Sysmon for Linux" in " ".join(yaml.safe_load(p.read_text(encoding="utf-8")).get("data_source") or [])
    ]  # fmt: skip
    assert len(sysmon) == 94
    assert [p for p in problems if any(p.startswith(f"{s}:") for s in sysmon)] == []
