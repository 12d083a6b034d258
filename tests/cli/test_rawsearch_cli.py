"""Raw-event searches end to end through the CLI: ``escudo search``, ``escudo hunt`` with a
detection that starts from events, ``escudo explain`` (docs/semantics.md, "Raw-event search")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escudo.cli import main

SYSMON = Path(__file__).resolve().parents[2] / "samples" / "sysmon-linux-syslog.log"
CORPUS = Path(__file__).parents[3] / "shared" / "reference" / "escu"
AUDIT = (
    "node=web-01 type=SYSCALL msg=audit(1723044684.257:15795): arch=c000003e syscall=59 "
    'success=yes exit=0 ppid=1 pid=2 uid=0 comm="whoami" exe="/usr/bin/whoami"\x1d'
    'ARCH=x86_64 SYSCALL=execve UID="root"\n'
    "node=web-01 type=SYSCALL msg=audit(1723044685.257:15796): arch=c000003e syscall=59 "
    'success=yes exit=0 ppid=1 pid=3 uid=0 comm="id" exe="/usr/bin/id"\x1d'
    'ARCH=x86_64 SYSCALL=execve UID="root"\n'
)
# An ESCU-shaped detection that starts from events (as linux_auditd_whoami_user_discovery.yml).
DETECTION = """\
name: Whoami From Audit
id: 0d3c2a6e-8a7e-4f7e-9a55-6a1f1d8e2c11
version: 1
date: '2024-08-08'
author: escudo tests
status: production
type: Hunting
description: whoami in auditd SYSCALL records
data_source: [Linux Auditd Syscall]
search: '`linux_auditd` type=SYSCALL comm=whoami OR exe= "*/whoami" | rename host as dest
  | stats count by comm exe UID dest'
how_to_implement: auditd
known_false_positives: none
references: []
tags:
  analytic_story: [Tests]
  asset_type: Endpoint
  mitre_attack_id: [T1033]
  product: [Splunk Enterprise]
  security_domain: endpoint
"""


@pytest.fixture
def audit_log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    path.write_bytes(AUDIT.encode())
    return path


def test_search_audit_events(audit_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spl = "sourcetype=linux:audit type=SYSCALL | stats count by comm UID host"
    assert main(["search", spl, str(audit_log), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        {"comm": "id", "UID": "root", "host": "web-01", "count": 1},
        {"comm": "whoami", "UID": "root", "host": "web-01", "count": 1},
    ]


def test_search_sysmon_events(capsys: pytest.CaptureFixture[str]) -> None:
    spl = "sourcetype=sysmon:linux EventID=3 | stats count by Image DestinationPort"
    assert main(["search", spl, str(SYSMON), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"Image": "/tmp/ngrok", "DestinationPort": "443", "count": 1} in rows


def test_hunt_with_a_detection_that_starts_from_events(
    audit_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = tmp_path / "content"
    (content / "detections" / "endpoint").mkdir(parents=True)
    (content / "macros").mkdir()
    (content / "detections" / "endpoint" / "whoami_from_audit.yml").write_text(DETECTION)
    (content / "macros" / "linux_auditd.yml").write_text(
        'definition: sourcetype="linux:audit"\nname: linux_auditd\ndescription: x\n'
    )
    args = ["hunt", str(audit_log), "--content", str(content), "--detection", "Whoami From Audit"]
    assert main([*args, "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["comm"], r["exe"], r["UID"], r["dest"]) for r in rows] == [
        ("whoami", "/usr/bin/whoami", "root", "web-01")
    ]


def test_explain_raw_search_and_its_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "sourcetype=linux:audit type=EXECVE | table a0", "--sql"]) == 0
    assert '"raw_events"' in capsys.readouterr().out
    assert main(["explain", "sourcetype=linux:audit | table a*"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("escudo: error: wildcard field name 'a*' over raw events")
    assert "^^^" in err


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the ESCU corpus is not in ../shared")
def test_explain_every_escu_auditd_detection(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(CORPUS.glob("detections/endpoint/linux_auditd_*.yml"))
    assert len(files) == 50
    for path in files:
        assert main(["explain", str(path), "--content", str(CORPUS), "--sql"]) == 0, path
    capsys.readouterr()


def test_a_store_keeps_raw_events_when_asked(
    audit_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raw search over a store reads the raw events ingest kept (``--raw-events``); over a
    store that kept none it runs, finds nothing, and says why (it was an error before)."""
    spl = "sourcetype=sysmon:linux EventID=1 | stats count by host"
    assert main(["search", spl, str(SYSMON), "--format", "jsonl"]) == 0
    on_file = capsys.readouterr().out
    store = tmp_path / "store"
    assert main(["ingest", str(SYSMON), "--store", str(store)]) == 0  # auto: no raw search
    capsys.readouterr()
    assert main(["search", spl, "--store", str(store), "--format", "jsonl"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "which the store does not keep for 1 of its inputs" in out.err
    kept = tmp_path / "kept"
    assert main(["ingest", str(SYSMON), "--store", str(kept), "--raw-events", "all"]) == 0
    capsys.readouterr()
    assert main(["search", spl, "--store", str(kept), "--format", "jsonl"]) == 0
    out = capsys.readouterr()
    assert out.out == on_file and on_file and "does not keep" not in out.err
