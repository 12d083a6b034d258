"""ESCU's 50 Linux auditd detections on their authored event sets (tests/data/auditd_detections).

Each detection has ``positive.log`` (audit.log records that make its search fire) and
``near_miss.log`` (one field or value away: no result), written from the search text by
``scripts/gen_auditd_sets.py``; ``expected.yml`` names the fields of the positive's result rows.

Two halves:

* the data itself, checked in plain Python (no escudo code): every line is an audit record with
  consistent ``msg=audit(ts:serial)`` ids, values quoted or hex as the kernel would log them, EXECVE
  and PROCTITLE agreeing, ENRICHED sets carrying the uppercase fields their search reads;
* the detections, run as ``escudo test`` runs a test entry (``expect: none`` for the near miss), with
  the positive's rows compared to expected.yml; then ``escudo test`` itself on copies of the 50
  detections, their own ESCU test entry served by the positive set plus a near-miss entry. The 50
  YAML files are ESCU's and are not copied into the project, so this half reads them from
  ``../shared/reference/escu`` and is skipped when that folder (or the linux:audit source) is absent.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pytest
import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "auditd_detections"
ESCU = Path(__file__).resolve().parents[3] / "shared" / "reference" / "escu"
MANIFEST: dict[str, Any] = yaml.safe_load((DATA / "expected.yml").read_text())
STEMS = sorted(MANIFEST)
SETS = ("positive.log", "near_miss.log")

# -- The data, in plain Python ----------------------------------------------------------------------

RECORD = re.compile(
    r"node=(?P<node>[\w.-]+) type=(?P<type>[A-Z_]+) "
    r"msg=audit\((?P<ts>\d{10}\.\d{3}):(?P<serial>\d+)\): (?P<body>.*)"
)
PAIR = re.compile(r"""(\w+)=("[^"]*"|'[^']*'|[^\s"']*)""")
HEX = re.compile(r"[0-9A-F]+")
ARG = re.compile(r"a\d+")
# x86_64 syscall numbers (arch=c000003e) the sets use, for ENRICHED's SYSCALL= translation.
SYSCALL_NAMES = {"59": "execve", "257": "openat", "82": "rename", "44": "sendto"}
ACCOUNTS = {"0": "root", "1": "daemon", "33": "www-data", "107": "crontab", "1000": "alice"}
# Values the kernel logs as untrusted strings (quoted, or hex when they need it).
UNTRUSTED = {"SYSCALL": ("comm", "exe"), "CWD": ("cwd",), "PATH": ("name",)}


def pairs(text: str) -> dict[str, str]:
    """``key=value`` pairs of a record body, which must be nothing else (separated by spaces)."""
    found = list(PAIR.finditer(text))
    rebuilt = " ".join(m.group(0) for m in found)
    assert rebuilt == text, f"not key=value pairs: {text!r}"
    return {m.group(1): m.group(2) for m in found}


def untrusted(value: str) -> bytes:
    """An untrusted string's bytes; hex only when the kernel's rule would hex them."""
    if value.startswith('"'):
        raw = value[1:-1].encode()
        assert not any(b == 0x22 or b < 0x21 or b > 0x7E for b in raw), value
        return raw
    assert HEX.fullmatch(value) and len(value) % 2 == 0, f"neither quoted nor hex: {value}"
    raw = bytes.fromhex(value)
    assert any(b == 0x22 or b < 0x21 or b > 0x7E for b in raw), f"needlessly hex: {value}"
    return raw


def parse(path: Path) -> list[dict[str, Any]]:
    """The records of an audit.log, each a dict of its parts (type, ts, serial, fields, enriched)."""
    records = []
    # split("\n"), not splitlines(): that also splits at ENRICHED's 0x1D separator
    text = path.read_text()
    assert text.endswith("\n"), f"{path}: no final newline"
    for number, line in enumerate(text[:-1].split("\n"), 1):
        match = RECORD.fullmatch(line)
        assert match, f"{path}:{number}: not an audit record"
        body, _, extra = match["body"].partition("\x1d")
        records.append(
            {
                "line": f"{path.name}:{number}",
                "node": match["node"],
                "type": match["type"],
                "id": (match["ts"], match["serial"]),
                "fields": pairs(body),
                "enriched": pairs(extra) if extra else {},
            }
        )
    return records


def events(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Records grouped by their audit id; an event's records must be adjacent here."""
    grouped: list[list[dict[str, Any]]] = []
    for record in records:
        if grouped and grouped[-1][0]["id"][1] == record["id"][1]:
            assert grouped[-1][0]["id"] == record["id"], f"{record['line']}: time differs"
            grouped[-1].append(record)
        else:
            assert all(g[0]["id"][1] != record["id"][1] for g in grouped), record["line"]
            grouped.append([record])
    serials = [int(g[0]["id"][1]) for g in grouped]
    assert serials == sorted(serials), "serials go back"
    return grouped


def check_event(event: list[dict[str, Any]], enriched: bool) -> None:
    types = [r["type"] for r in event]
    by_type = {r["type"]: r for r in event}
    for record in event:
        fields = record["fields"]
        for key in UNTRUSTED.get(record["type"], ()):
            untrusted(fields[key])
        if record["type"] == "SYSCALL":
            assert fields["arch"] == "c000003e", record["line"]
            assert int(fields["items"]) == types.count("PATH"), record["line"]
            assert fields["success"] in ("yes", "no"), record["line"]
            if enriched:
                extra = record["enriched"]
                assert extra["ARCH"] == "x86_64", record["line"]
                assert extra["SYSCALL"] == SYSCALL_NAMES[fields["syscall"]], record["line"]
                assert extra["UID"] == f'"{ACCOUNTS[fields["uid"]]}"', record["line"]
                assert extra["AUID"] == f'"{ACCOUNTS[fields["auid"]]}"', record["line"]
        if record["type"] == "PATH" and enriched:
            assert record["enriched"]["OGID"] == f'"{ACCOUNTS[fields["ogid"]]}"', record["line"]
        if record["type"] in ("SERVICE_STOP", "SERVICE_START", "ADD_USER", "DEL_USER", "USER_END"):
            inner = fields["msg"]
            assert inner.startswith("'") and inner.endswith("'"), record["line"]
            message = dict(PAIR.findall(inner[1:-1]))  # op= holds spaces: not all pairs
            assert message["res"] in ("success", "failed"), record["line"]
            if enriched:
                assert record["enriched"]["UID"] == f'"{ACCOUNTS[fields["uid"]]}"'
        if not enriched:
            assert not record["enriched"], f"{record['line']}: ENRICHED part in a RAW set"
    if "EXECVE" in by_type:
        fields = by_type["EXECVE"]["fields"]
        args = [untrusted(fields[f"a{i}"]) for i in range(int(fields["argc"]))]
        assert sorted(k for k in fields if ARG.fullmatch(k)) == sorted(
            f"a{i}" for i in range(len(args))
        )
        title = untrusted(by_type["PROCTITLE"]["fields"]["proctitle"])
        assert title == b"\0".join(args)[:128], by_type["PROCTITLE"]["line"]
        assert by_type["SYSCALL"]["fields"]["syscall"] == "59"
    if "PROCTITLE" in by_type:
        kernel = [t for t in types if t in ("SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE")]
        assert kernel[-1] == "PROCTITLE", "PROCTITLE ends the kernel's records of an event"


def normalized_proctitle(proctitle: str) -> str:
    """``linux_auditd_normalized_proctitle_process``'s process_exec, in plain Python."""
    if not HEX.fullmatch(proctitle):
        return proctitle
    spaced = proctitle.replace("000", "020").replace("00", "20")
    return bytes.fromhex(spaced).decode()


def test_every_escu_auditd_detection_has_a_set() -> None:
    assert len(STEMS) == 50
    assert sorted(p.name for p in DATA.iterdir() if p.is_dir()) == STEMS
    if ESCU.is_dir():
        corpus = sorted(p.stem for p in ESCU.glob("detections/endpoint/linux_auditd_*.yml"))
        assert corpus == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_sets_are_audit_records(stem: str) -> None:
    enriched = MANIFEST[stem]["log_format"] == "ENRICHED"
    hosts = set()
    for name in SETS:
        records = parse(DATA / stem / name)
        assert records, f"{stem}/{name} is empty"
        hosts |= {r["node"] for r in records}
        for event in events(records):
            check_event(event, enriched)
    assert {row["dest"] for row in MANIFEST[stem]["rows"]} <= hosts


@pytest.mark.parametrize(
    "stem", [s for s in STEMS if "proctitle" in MANIFEST[s]["rows"][0]], ids=str
)
def test_expected_command_lines_follow_the_proctitle_macro(stem: str) -> None:
    titles = [
        r["fields"]["proctitle"].strip('"')
        for r in parse(DATA / stem / "positive.log")
        if r["type"] == "PROCTITLE"
    ]
    for row in MANIFEST[stem]["rows"]:
        assert row["proctitle"] in titles
        assert normalized_proctitle(row["proctitle"]) == row["process_exec"]


# -- The detections, run as escudo test runs them -------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Any:
    if not ESCU.is_dir():
        pytest.skip(f"the ESCU corpus is not at {ESCU} (the 50 detections are not bundled)")
    from escudo.detect.testing import supported_sourcetypes

    if "linux:audit" not in supported_sourcetypes():
        pytest.skip("no linux:audit source registered")
    from escudo.content.loader import load_content

    content = load_content([ESCU])
    detections = {d.path.stem: d for d in content.detections.values() if d.path is not None}
    return content, detections


def run(
    corpus: Any, stem: str, name: str, expect: Literal["results", "none"]
) -> tuple[pa.Table, str, str]:
    """The detection's rows on one set, and escudo test's verdict on them."""
    from escudo.content.model import AttackData, DetectionTest
    from escudo.detect.testing import compile_for_test, judge, load_attack_data
    from escudo.engines import new_engine
    from escudo.sources.base import ReadStats

    content, detections = corpus
    detection = detections[stem]
    data = AttackData(
        data=f"{stem}/{name}", source="/var/log/audit/audit.log", sourcetype="linux:audit"
    )
    test = DetectionTest(name=name, attack_data=(data,), expect=expect)
    compiled = compile_for_test(detection, content)
    stats = ReadStats()
    tables = load_attack_data(
        compiled, data, DATA / stem / name, now=datetime.now(UTC), stats=stats
    )
    with new_engine() as engine:
        for dataset, table in tables.items():
            engine.register_arrow(dataset, table)
        rows = engine.run(compiled)
    status, message = judge(detection, test, rows)
    return rows, status, message


def as_text(value: Any) -> Any:
    """A result value as text (multivalues as a sorted list) to compare with expected.yml."""
    if isinstance(value, list):
        return sorted(str(v) for v in value) if len(value) != 1 else str(value[0])
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return None if value is None else str(value)


@pytest.mark.parametrize("stem", STEMS)
def test_detection_fires_on_its_positive(corpus: Any, stem: str) -> None:
    rows, status, message = run(corpus, stem, "positive.log", "results")
    assert status == "pass", message
    got = [{k: as_text(v) for k, v in row.items()} for row in rows.to_pylist()]
    expected = MANIFEST[stem]["rows"]
    assert len(got) == len(expected), got
    for want in expected:
        want_text = {k: as_text(v) for k, v in want.items()}
        assert any(all(r.get(k) == v for k, v in want_text.items()) for r in got), (want, got)


@pytest.mark.parametrize("stem", STEMS)
def test_detection_stays_silent_on_its_near_miss(corpus: Any, stem: str) -> None:
    rows, status, message = run(corpus, stem, "near_miss.log", "none")
    assert status == "pass", f"{message}: {rows.to_pylist()}"


def test_escudo_test_passes_escus_tests_and_a_near_miss_entry_per_detection(
    corpus: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``escudo test`` itself: each detection's own ESCU test entry, its attack_data URL served by
    the positive set, plus an ``expect: none`` entry on the near miss (a copy of the detection)."""
    from escudo.cli import main

    attack_data, detections = tmp_path / "attack_data", tmp_path / "content" / "detections"
    detections.mkdir(parents=True)
    files = []
    for stem in STEMS:
        document = yaml.safe_load((ESCU / "detections" / "endpoint" / f"{stem}.yml").read_text())
        (test,) = document["tests"]
        (data,) = test["attack_data"]
        served = attack_data / data["data"].split("/attack_data/master/", 1)[1]
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_bytes((DATA / stem / "positive.log").read_bytes())
        near = attack_data / "near_miss" / f"{stem}.log"
        near.parent.mkdir(exist_ok=True)
        near.write_bytes((DATA / stem / "near_miss.log").read_bytes())
        entry = {"data": f"near_miss/{stem}.log", "sourcetype": "linux:audit"}
        document["tests"].append({"name": "Near Miss", "expect": "none", "attack_data": [entry]})
        files.append(detections / f"{stem}.yml")
        files[-1].write_text(yaml.safe_dump(document, sort_keys=False))
    argv = ["test", *map(str, files), "--format", "json", "--attack-data", str(attack_data)]
    argv += ["--content", str(ESCU), "--content", str(tmp_path / "content")]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    summary = report["summary"]
    assert (code, summary["total_detections"], summary["total_pass"]) == (0, 50, 50), summary
    outcomes = [
        (t["name"], t["success"], t["resultCount"] > 0)
        for d in report["tested_detections"]
        for t in d["tests"]
    ]
    assert sorted(set(outcomes)) == [("Near Miss", True, False), ("True Positive Test", True, True)]
    assert len(outcomes) == 100
