"""The built-in tunnelling detections pass their own tests on the authored attack data (``escudo test``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escudo.cli import main

ATTACK_DATA = Path(__file__).parents[1] / "fixtures" / "content" / "attack_data"
OURS = [
    "Linux Cloudflared Tunnel Usage",
    "Linux Chisel Or Frp Tunnel Client",
    "Linux SSH Remote Forward To Public Tunnel Relay",
]


@pytest.mark.parametrize("name", OURS)
def test_builtin_detection_passes_its_tests(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", name, "--attack-data", str(ATTACK_DATA), "--format", "json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert '"total_fail": 0' in out


@pytest.mark.parametrize("name", OURS)
def test_true_positives_are_exactly_the_attack(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = {
        OURS[0]: "cloudflared/cloudflared_linux-sysmon.log",
        OURS[1]: "chisel/chisel_frp_linux-sysmon.log",
        OURS[2]: "ssh_relay/ssh_remote_forward_linux-sysmon.log",
    }[name]
    log = ATTACK_DATA / "datasets" / "attack_techniques" / "T1572" / folder
    assert main(["hunt", str(log), "--detection", name, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    expected = {OURS[0]: 3, OURS[1]: 3, OURS[2]: 4}[name]
    assert len(rows) == expected, rows
