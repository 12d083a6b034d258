"""The built-in tunnelling detections pass their own tests on the bundled attack data (``escudo test``).

The data is the one escudo ships (``src/escudo/data/attack_data/``, written by ``generate_tunnels.py``).
"""

from __future__ import annotations

import pytest

from escudo.cli import main
from escudo.detect.testing import BUNDLED_ATTACK_DATA as ATTACK_DATA

OURS = [
    "Linux Cloudflared Tunnel Usage",
    "Linux Chisel Or Frp Tunnel Client",
    "Linux SSH Remote Forward To Public Tunnel Relay",
]


@pytest.mark.parametrize("name", OURS)
def test_builtin_detection_passes_its_tests(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", name, "--format", "json"])
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
    # One row per tunnel the attack opens (generate_tunnels.py): cloudflared quick tunnel, token run,
    # service install, access tcp; two chisel clients, two frpc runs; five ssh -R relays + autossh's ssh.
    expected = {OURS[0]: 4, OURS[1]: 4, OURS[2]: 6}[name]
    assert len(rows) == expected, rows
