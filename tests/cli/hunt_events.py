"""Hand-written Sysmon for Linux events for the hunt tests, the input shapes, and a plain-Python reference.

The reference computes the seed detection ("Linux Ngrok Reverse Proxy Usage") over the events without
escudo: Sysmon -> CIM per linux-telemetry.md section 2 (values as Sysmon writes them, XML escapes kept, as
Splunk's add-on extracts them; docs/semantics.md), then the search's logic (case-insensitive ``=``
and ``IN`` with ``*`` wildcards, as issue 3 / Splunk ``search`` semantics), grouped by the BY fields,
``count``, ``min``/``max`` of ``_time`` formatted by ``security_content_ctime``.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sysmon_events import escape, event_xml

BASE = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Exec:
    """One EventID 1 (process creation)."""

    seconds: float
    computer: str
    image: str
    cmdline: str
    user: str
    pid: int
    parent_image: str = "/usr/bin/bash"
    parent_cmdline: str = "-bash"
    ppid: int = 1000
    original_file_name: str = "-"


EVENTS: tuple[Exec, ...] = (
    Exec(0, "web-01", "/usr/bin/ls", "ls -la /tmp", "alice", 2001),
    Exec(5, "web-01", "/usr/bin/wget", "wget https://bin.equinox.io/c/4VmDzA7iaHb/ngrok-stable-linux-amd64.zip -O /tmp/n.zip", "alice", 2002),
    Exec(9, "web-01", "/usr/bin/unzip", "unzip /tmp/n.zip -d /tmp", "alice", 2003),
    Exec(12, "web-01", "/tmp/ngrok", "/tmp/ngrok authtoken 2AbCdEf_ghIJ", "alice", 2004),
    Exec(20, "web-01", "/tmp/ngrok", "/tmp/ngrok tcp 22", "alice", 2005),
    # the same process id and fields again later: one row, count 2
    Exec(80, "web-01", "/tmp/ngrok", "/tmp/ngrok tcp 22", "alice", 2005),
    Exec(30, "web-01", "/tmp/ngrok", "/tmp/ngrok version", "alice", 2006),  # no tunnel argument
    Exec(40, "web-01", "/usr/bin/sh", 'sh -c "ngrok http 80"', "alice", 2007),  # name is sh
    Exec(45, "web-01", "/usr/local/bin/ngrok-agent", "ngrok-agent http 80", "alice", 2008),
    Exec(50, "web-01", "/usr/bin/grep", "grep ngrok /etc/passwd", "alice", 2009),
    # XML escaping in the command line (& " < >) and a systemd parent
    Exec(60, "db-02", "/usr/local/bin/ngrok", 'ngrok http "localhost:8080" --host-header=rewrite & echo <ok>', "root", 3001, "/usr/lib/systemd/systemd", "/sbin/init", 1),
    Exec(70, "db-02", "/usr/local/bin/ngrok", "ngrok service install --config /etc/ngrok.yml", "root", 3002, "/usr/bin/sudo", "sudo ngrok service install --config /etc/ngrok.yml", 3000),
    # upper case: search/tstats matching is case-insensitive
    Exec(75, "db-02", "/opt/NGROK", "/opt/NGROK START --all", "root", 3003),
    Exec(90, "db-02", "/usr/bin/python3", "python3 -m http.server 8000", "root", 3004),
)  # fmt: skip

NETWORK_NOISE = (  # an EventID 3 that mentions ngrok: not a process event
    '<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
    "<EventID>3</EventID><Version>5</Version><Level>4</Level><Task>3</Task><Opcode>0</Opcode>"
    '<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2026-03-02T08:00:21.000000000Z"/>'
    '<EventRecordID>9000</EventRecordID><Correlation/><Execution ProcessID="700" ThreadID="700"/>'
    "<Channel>Linux-Sysmon/Operational</Channel><Computer>web-01</Computer>"
    '<Security UserId="0"/></System><EventData><Data Name="RuleName">-</Data>'
    '<Data Name="UtcTime">2026-03-02 08:00:21.000</Data><Data Name="ProcessGuid">{1}</Data>'
    '<Data Name="ProcessId">2005</Data><Data Name="Image">/tmp/ngrok</Data><Data Name="User">alice</Data>'
    '<Data Name="Protocol">tcp</Data><Data Name="Initiated">true</Data><Data Name="SourceIsIpv6">false</Data>'
    '<Data Name="SourceIp">10.0.0.5</Data><Data Name="SourceHostname">-</Data><Data Name="SourcePort">50000</Data>'
    '<Data Name="SourcePortName">-</Data><Data Name="DestinationIsIpv6">false</Data>'
    '<Data Name="DestinationIp">3.20.27.198</Data><Data Name="DestinationHostname">tunnel.us.ngrok.com</Data>'
    '<Data Name="DestinationPort">443</Data><Data Name="DestinationPortName">https</Data></EventData></Event>'
)


def when(e: Exec) -> datetime:
    return BASE + timedelta(seconds=e.seconds)


def to_xml(e: Exec, record: int) -> str:
    t = when(e)
    data = {
        "RuleName": "-",
        "UtcTime": t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}",
        "ProcessGuid": f"{{5a3c91d2-{e.pid:04x}-0000-0000-000000550000}}",
        "ProcessId": str(e.pid),
        "Image": e.image,
        "FileVersion": "-",
        "Description": "-",
        "Product": "-",
        "Company": "-",
        "OriginalFileName": e.original_file_name,
        "CommandLine": e.cmdline,
        "CurrentDirectory": "/root",
        "User": e.user,
        "LogonGuid": "{5a3c91d2-0000-0000-e803-000000000000}",
        "LogonId": "1000",
        "TerminalSessionId": "3",
        "IntegrityLevel": "no level",
        "Hashes": "-",
        "ParentProcessGuid": f"{{5a3c91d2-{e.ppid:04x}-0000-0000-000000550000}}",
        "ParentProcessId": str(e.ppid),
        "ParentImage": e.parent_image,
        "ParentCommandLine": e.parent_cmdline,
        "ParentUser": e.user,
    }
    # Sysmon's own layout and libxml2 escaping, as every test event is built (sysmon_events.py).
    return event_xml(
        data,
        computer=e.computer,
        time=t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z",
        record=record,
    )


def _lines() -> list[tuple[datetime, str, str]]:
    """(time, host, bare XML) for every event, noise included, in time order."""
    out = [(when(e), e.computer, to_xml(e, 100 + i)) for i, e in enumerate(EVENTS)]
    out.append((BASE + timedelta(seconds=21), "web-01", NETWORK_NOISE))
    return sorted(out, key=lambda item: item[0])


def _syslog(t: datetime, host: str, xml: str) -> str:
    return f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')} {host} sysmon: {xml}"


# shape name -> how one event line is written (linux-telemetry.md 1.2)
SHAPES: dict[str, Any] = {
    "syslog": _syslog,
    "pri": lambda t, h, x: "<14>" + _syslog(t, h, x),
    "iso": lambda t, h, x: f"{t.isoformat(timespec='microseconds')} {h} sysmon: {x}",
    "rfc5424": lambda t, h, x: f"<14>1 {t.isoformat(timespec='microseconds')} {h} sysmon - - - {x}",
    "xml": lambda t, h, x: x,
    "journald": lambda t, h, x: json.dumps(
        {"MESSAGE": x, "SYSLOG_IDENTIFIER": "sysmon", "PRIORITY": "6", "_HOSTNAME": h,
         "__REALTIME_TIMESTAMP": str(int(t.timestamp() * 1_000_000))}
    ),
}  # fmt: skip

BANNER = "Mar  2 07:59:59 web-01 sysmon[3041]: Sysmon v1.0.0 - Monitors system events"


def write_shape(folder: Path, shape: str) -> Path:
    """One log file holding every event in ``shape`` (``gz``: syslog, gzipped; ``dir``: a folder)."""
    lines = _lines()
    if shape == "gz":
        path = folder / "sysmon.log.gz"
        body = "\n".join([BANNER] + [_syslog(*item) for item in lines]) + "\n"
        path.write_bytes(gzip.compress(body.encode()))
        return path
    if shape == "dir":
        sub = folder / "logs" / "nested"
        sub.mkdir(parents=True)
        half = len(lines) // 2
        (folder / "logs" / "a.log").write_text("\n".join(x for _, _, x in lines[:half]) + "\n")
        (sub / "b.log").write_text("\n".join(_syslog(*item) for item in lines[half:]) + "\n")
        return folder / "logs"
    path = folder / f"sysmon-{shape}.log"
    body = [SHAPES[shape](*item) for item in lines]
    if shape in ("syslog", "pri"):
        body.insert(0, BANNER)
    path.write_text("\n".join(body) + "\n")
    return path


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


TUNNEL_ARGS = ("*start*", "*--config*", "*http*", "*authtoken*", "*http*", "*tcp*")
BY = ("dest", "user", "parent_process_name", "process_name", "original_file_name", "process",
      "process_id", "parent_process_id")  # fmt: skip


def reference_rows() -> list[dict[str, str]]:
    """The seed detection's rows, computed in plain Python, sorted by the BY fields."""
    groups: dict[tuple[str, ...], list[datetime]] = {}
    for e in EVENTS:
        cim = {
            "dest": escape(e.computer),
            "user": escape(e.user),
            "parent_process_name": _basename(escape(e.parent_image)),
            "process_name": _basename(escape(e.image)),
            "original_file_name": escape(e.original_file_name),
            "process": escape(e.cmdline),
            "process_id": str(e.pid),
            "parent_process_id": str(e.ppid),
        }
        if cim["process_name"].lower() != "ngrok":
            continue
        if not any(fnmatch.fnmatchcase(cim["process"].lower(), p) for p in TUNNEL_ARGS):
            continue
        groups.setdefault(tuple(cim[f] for f in BY), []).append(when(e))
    rows = []
    for key, times in sorted(groups.items()):
        row = dict(zip(BY, key, strict=True))
        row["count"] = str(len(times))
        row["firstTime"] = min(times).strftime("%Y-%m-%dT%H:%M:%S")
        row["lastTime"] = max(times).strftime("%Y-%m-%dT%H:%M:%S")
        rows.append(row)
    return rows
