"""The bundled attack data has Sysmon for Linux's exact shape and is what its generator writes."""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from escudo.detect.testing import BUNDLED_ATTACK_DATA

T1572 = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572"
LOGS = [T1572 / "ngrok/ngrok_linux-sysmon.log", T1572 / "ngrok/ngrok_linux-sysmon-benign.log"]
ALL_LOGS = sorted(
    T1572.rglob("*-sysmon*.log")
)  # the auditd renderings: tests/detect/test_auditd_seed.py
SYSTEM_ORDER = [
    "Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords", "TimeCreated",
    "EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security",
]  # fmt: skip
SEED_PATTERNS = ("start", "--config", "http", "authtoken", "tcp")


def _load(name: str) -> ModuleType:
    path = BUNDLED_ATTACK_DATA / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


writer = _load("sysmon_writer")
generator = _load("generate_ngrok")
tunnels = _load("generate_tunnels")


def events(path: Path) -> list[ET.Element]:
    return [ET.fromstring(line) for line in path.read_text(encoding="utf-8").splitlines()]


def data(event: ET.Element) -> dict[str, str]:
    return {d.get("Name", ""): d.text or "" for d in event.iter("Data")}


@pytest.mark.parametrize("path", ALL_LOGS, ids=lambda p: p.name)
def test_every_line_is_sysmon_for_linux_xml(path: Path) -> None:
    records: dict[str, list[int]] = {}
    guid_prefix: dict[str, set[str]] = {}
    for event in events(path):
        system = event.find("System")
        assert system is not None
        assert [child.tag for child in system] == SYSTEM_ORDER
        event_id = int(system.findtext("EventID", ""))
        assert system.findtext("Task") == str(event_id)
        assert system.findtext("Version") == str(writer.EVENT_VERSION[event_id])
        assert system.findtext("Level") == "4"
        stamp = system.find("TimeCreated").get("SystemTime")  # type: ignore[union-attr]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}000Z", stamp or "")
        fields = data(event)
        assert list(fields) == list(writer.FIELD_ORDER[event_id])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", fields["UtcTime"])
        host = system.findtext("Computer", "")
        records.setdefault(host, []).append(int(system.findtext("EventRecordID", "")))
        guid_prefix.setdefault(host, set()).add(fields["ProcessGuid"][1:9])
    for host, ids in records.items():
        assert ids == sorted(ids) and len(set(ids)) == len(ids), host
        assert len(guid_prefix[host]) == 1, host  # the per-host constant first group


def test_escaping_is_libxml2s() -> None:
    text = LOGS[0].read_text(encoding="utf-8")
    assert "&amp;&amp; debian-sa1" in text  # & escaped in text content
    assert "2&gt;/dev/null; echo &quot;@reboot" in text  # > and " escaped
    assert "&apos;" not in text and "&#39;" not in text  # ' is never escaped
    assert writer.xml_text("a\rb<") == "a&#13;b&lt;"


def _seed_matches(event: ET.Element) -> bool:
    """The seed search by hand: process_name=ngrok, process matching one of its wildcards."""
    fields = data(event)
    if event.findtext("System/EventID") != "1":
        return False
    name = fields["Image"].rsplit("/", 1)[-1].lower()
    return name == "ngrok" and any(p in fields["CommandLine"].lower() for p in SEED_PATTERNS)


def test_intrusion_and_benign_logs_hold_what_the_readme_says() -> None:
    hits = [data(e) for e in events(LOGS[0]) if _seed_matches(e)]
    assert len(hits) == 9
    assert {h["User"] for h in hits} == {"www-data", "root", "alice"}
    kinds = {e.findtext("System/EventID") for e in events(LOGS[0])}
    assert kinds == {"1", "3", "5", "11"}
    assert not [e for e in events(LOGS[1]) if _seed_matches(e)]


def test_committed_files_are_what_the_generator_writes() -> None:
    attack = writer.merge(generator.web_02(), generator.db_01())
    assert LOGS[0].read_text(encoding="utf-8") == "\n".join(attack) + "\n"
    benign = writer.merge(generator.benign())
    assert LOGS[1].read_text(encoding="utf-8") == "\n".join(benign) + "\n"


def test_every_generated_tunnel_dataset_is_committed() -> None:
    assert len(ALL_LOGS) == 2 + len(tunnels.DATASETS)
    for relative in tunnels.DATASETS:
        assert (T1572 / relative).read_text(encoding="utf-8") == tunnels.render(relative), relative
