"""The seed detection on the ngrok intrusion rendered as ECS NDJSON and as OCSF JSON: ``escudo
hunt`` (format sniffed from the content) returns the rows a plain-Python reference computes
from the same events."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from escudo.cli import main

SEED = "Linux Ngrok Reverse Proxy Usage"
NGROK = (
    Path(__file__).parents[2] / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
)
BY = (
    "dest", "user", "parent_process_name", "process_name", "original_file_name", "process",
    "process_id", "parent_process_id",
)  # fmt: skip
# The seed's search: Processes.process IN ("*start*", "*--config*", "*http*", "*authtoken*",
# "*http*", "*tcp*"), matched case-insensitively as Splunk compares field values.
PATTERNS = ("*start*", "*--config*", "*http*", "*authtoken*", "*tcp*")


def _get(doc: dict[str, Any], path: str) -> str:
    """A JSON value as CIM text: missing or empty is CIM's "unknown" fill, numbers their text."""
    node: Any = doc
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return "unknown" if node in (None, "") else str(node)


def _ecs(doc: dict[str, Any]) -> tuple[dict[str, str], datetime] | None:
    event = doc["event"]
    if "process" not in event["category"] or "start" not in event["type"]:
        return None
    if event.get("action") == "fork":
        return None
    cim = {
        "dest": _get(doc, "host.name"),
        "user": _get(doc, "user.name"),
        "parent_process_name": _get(doc, "process.parent.name"),
        "process_name": _get(doc, "process.name"),
        "original_file_name": _get(doc, "process.pe.original_file_name"),
        "process": _get(doc, "process.command_line"),
        "process_id": _get(doc, "process.pid"),
        "parent_process_id": _get(doc, "process.parent.pid"),
    }
    when = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
    return cim, when


def _ocsf(doc: dict[str, Any]) -> tuple[dict[str, str], datetime] | None:
    if (doc["class_uid"], doc["activity_id"]) != (1007, 1):
        return None
    cim = {
        "dest": _get(doc, "device.hostname"),
        "user": _get(doc, "process.user.name"),
        "parent_process_name": _get(doc, "process.parent_process.name"),
        "process_name": _get(doc, "process.name"),
        "original_file_name": _get(doc, "process.file.name"),
        "process": _get(doc, "process.cmd_line"),
        "process_id": _get(doc, "process.pid"),
        "parent_process_id": _get(doc, "process.parent_process.pid"),
    }
    when = datetime.fromtimestamp(doc["time"] / 1000, tz=UTC)
    return cim, when


Reader = Callable[[dict[str, Any]], tuple[dict[str, str], datetime] | None]


def reference_rows(path: Path, read: Reader) -> list[dict[str, str]]:
    """The seed's tstats over the file's events, in plain Python, sorted by the BY fields."""
    groups: dict[tuple[str, ...], list[datetime]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        found = read(json.loads(line))
        if found is None:
            continue
        cim, when = found
        if cim["process_name"].lower() != "ngrok":
            continue
        if not any(fnmatch.fnmatchcase(cim["process"].lower(), p) for p in PATTERNS):
            continue
        groups.setdefault(tuple(cim[f] for f in BY), []).append(when)
    rows = []
    for key, times in sorted(groups.items()):
        row = dict(zip(BY, key, strict=True))
        row["count"] = str(len(times))
        row["firstTime"] = min(times).strftime("%Y-%m-%dT%H:%M:%S")
        row["lastTime"] = max(times).strftime("%Y-%m-%dT%H:%M:%S")
        rows.append(row)
    return rows


CASES = [
    ("ngrok_linux-ecs.ndjson", _ecs, 9),
    ("ngrok_linux-ocsf.json", _ocsf, 9),
    ("ngrok_linux-benign-ecs.ndjson", _ecs, 0),
    ("ngrok_linux-benign-ocsf.json", _ocsf, 0),
]


@pytest.mark.parametrize(("name", "read", "count"), CASES)
def test_seed_matches_the_reference(
    name: str, read: Reader, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["hunt", str(NGROK / name), "--detection", SEED, "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all(r.pop("detection") == SEED for r in rows)
    got = sorted(
        ({k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()} for r in rows),
        key=lambda r: [r[f] for f in BY],
    )
    expected = reference_rows(NGROK / name, read)
    assert got == expected
    assert len(expected) == count
    assert "; 0 malformed" in err


def test_same_detections_as_sysmon(capsys: pytest.CaptureFixture[str]) -> None:
    """The three renderings of the intrusion give the seed the same processes (the original file
    name differs by source: Sysmon writes ``-``, ECS has none on Linux, OCSF's is the file's)."""
    keys = {}
    for name in ("ngrok_linux-sysmon.log", "ngrok_linux-ecs.ndjson", "ngrok_linux-ocsf.json"):
        assert main(["hunt", str(NGROK / name), "--detection", SEED, "--format", "jsonl"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        keys[name] = sorted(
            (r["dest"], r["user"], r["process"], r["process_id"], r["parent_process_id"])
            for r in rows
        )
    assert keys["ngrok_linux-ecs.ndjson"] == keys["ngrok_linux-sysmon.log"]
    assert keys["ngrok_linux-ocsf.json"] == keys["ngrok_linux-sysmon.log"]
