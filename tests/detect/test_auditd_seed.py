"""The seed detection on the ngrok intrusion rendered as Linux audit logs (raw with ``node=``,
ENRICHED, audisp-syslog): ``escudo hunt`` (source sniffed) returns the rows a plain-Python
reference computes from the same records (golden), and nothing on the benign twin."""

from __future__ import annotations

import fnmatch
import json
import re
from datetime import UTC, datetime
from pathlib import Path

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
PATTERNS = ("*start*", "*--config*", "*http*", "*authtoken*", "*tcp*")
RECORD = re.compile(
    r"^(?:(?P<syslog>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) audisp-syslog: )?"
    r"(?:node=(?P<node>\S+) )?type=(?P<type>\w+) msg=audit\((?P<time>[\d.]+):(?P<serial>\d+)\): "
    r"(?P<body>.*)$"
)


def _value(written: str) -> str:
    """The kernel's encoding undone: quoted text, or upper-case hex."""
    if written.startswith('"'):
        return written[1:-1]
    if re.fullmatch(r"(?:[0-9A-F]{2})+", written):
        return bytes.fromhex(written).decode()
    return written


def _fields(body: str) -> dict[str, str]:
    main_part, _, enriched = body.partition("\x1d")
    out = dict(re.findall(r"(\S+?)=(\S+)", main_part))
    out.update({"ENRICHED_" + k: v for k, v in re.findall(r"(\S+?)=(\S+)", enriched)})
    return out


def reference_rows(path: Path) -> list[dict[str, str]]:
    """The seed's tstats over the file's exec events, in plain Python, sorted by the BY fields."""
    events: dict[tuple[str, str, str], dict[str, dict[str, str]]] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = RECORD.match(line)
        if m is None:
            continue
        host = m["host"] or m["node"]
        events.setdefault((host, m["time"], m["serial"]), {})[m["type"]] = _fields(m["body"])
    images: dict[tuple[str, str], str] = {}
    groups: dict[tuple[str, ...], list[datetime]] = {}
    in_order = sorted(events.items(), key=lambda e: (float(e[0][1]), int(e[0][2])))
    for (host, when, _serial), records in in_order:
        syscall, execve = records.get("SYSCALL", {}), records.get("EXECVE")
        if syscall.get("syscall") != "59" or execve is None:
            continue
        exe = _value(syscall["exe"])
        args = [_value(execve[f"a{i}"]) for i in range(int(execve["argc"]))]
        parent = images.get((host, syscall["ppid"]))
        images[(host, syscall["pid"])] = exe
        user = syscall.get("ENRICHED_UID")
        cim = {
            "dest": host,
            "user": _value(user) if user else syscall["uid"],
            "parent_process_name": parent.rsplit("/", 1)[-1] if parent else "unknown",
            "process_name": exe.rsplit("/", 1)[-1],
            "original_file_name": "unknown",
            "process": " ".join(args),
            "process_id": syscall["pid"],
            "parent_process_id": syscall["ppid"],
        }
        if cim["process_name"].lower() != "ngrok":
            continue
        if not any(fnmatch.fnmatchcase(cim["process"].lower(), p) for p in PATTERNS):
            continue
        stamp = datetime.fromtimestamp(float(when), tz=UTC)
        groups.setdefault(tuple(cim[f] for f in BY), []).append(stamp)
    rows = []
    for key, times in sorted(groups.items()):
        row = dict(zip(BY, key, strict=True))
        row["count"] = str(len(times))
        row["firstTime"] = min(times).strftime("%Y-%m-%dT%H:%M:%S")
        row["lastTime"] = max(times).strftime("%Y-%m-%dT%H:%M:%S")
        rows.append(row)
    return rows


CASES = [
    ("ngrok_linux-auditd.log", 9),
    ("ngrok_linux-auditd-enriched.log", 9),
    ("ngrok_linux-auditd-syslog.log", 9),
    ("ngrok_linux-benign-auditd.log", 0),
    ("ngrok_linux-benign-auditd-enriched.log", 0),
    ("ngrok_linux-benign-auditd-syslog.log", 0),
]


@pytest.mark.parametrize(("name", "count"), CASES)
def test_seed_matches_the_reference(
    name: str, count: int, capsys: pytest.CaptureFixture[str]
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
    expected = reference_rows(NGROK / name)
    assert got == expected
    assert len(expected) == count
    assert "; 0 malformed" in err


def test_same_processes_as_sysmon(capsys: pytest.CaptureFixture[str]) -> None:
    """The auditd renderings give the seed the processes the Sysmon log gives it, parents
    resolved where their exec is in the data (the ngrok service started by systemd, pid 1, is
    the one whose parent has none)."""
    keys = {}
    for name in ("ngrok_linux-sysmon.log", "ngrok_linux-auditd-enriched.log"):
        assert main(["hunt", str(NGROK / name), "--detection", SEED, "--format", "jsonl"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        keys[name] = sorted(
            (r["dest"], r["user"], r["process"], r["process_id"], r["parent_process_id"])
            for r in rows
        )
    assert keys["ngrok_linux-auditd-enriched.log"] == keys["ngrok_linux-sysmon.log"]
