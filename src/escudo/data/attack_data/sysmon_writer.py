"""Write synthetic Sysmon for Linux events exactly as Sysmon for Linux lays them out.

Used only to (re)generate the bundled attack data (see ``README.md`` beside this file); escudo never
imports it at run time. The layout follows ``../shared/reference/linux-telemetry.md`` section 1
(SysmonForLinux a861b4c ``outputxml.c``, manifest schema 4.81):

* one bare XML line per event (the shape of Splunk's attack_data files, no syslog header);
* System children in fixed order, ``Task`` == EventID, ``Level`` 4, ``Version`` per EventID;
* ``TimeCreated`` with 9 fraction digits ending ``000``, ``UtcTime`` with milliseconds;
* ``EventRecordID`` increasing; ``Execution`` = the sysmon daemon's pid, ``Security UserId="0"``;
* ProcessGuid ``{<per-host constant>-<start time lo16>-<start time hi16>-<4 hex>-<6 hex>550000}``;
* text escaped as libxml2's xmlTextWriter does: ``& < > "`` and CR, nothing else.

Example::

    >>> host = Host("web-02", guid_prefix="5a3c91d2", sysmon_pid=812, first_record=100)
    >>> p = host.existing(pid=1, image="/usr/lib/systemd/systemd", cmdline="/sbin/init", user="root")
    >>> line = host.exec(p, "/usr/bin/ls", "ls -la", at=0.0)
    >>> "<Data Name=\\"CommandLine\\">ls -la</Data>" in host.lines[-1]
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# EventData field order per EventID (manifest.xml schema 4.81; linux-telemetry.md section 1.5).
FIELD_ORDER: dict[int, tuple[str, ...]] = {
    1: (
        "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
        "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
        "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
        "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser",
    ),
    3: (
        "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "Protocol", "Initiated",
        "SourceIsIpv6", "SourceIp", "SourceHostname", "SourcePort", "SourcePortName",
        "DestinationIsIpv6", "DestinationIp", "DestinationHostname", "DestinationPort",
        "DestinationPortName",
    ),
    5: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User"),
    11: (
        "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename",
        "CreationUtcTime", "User",
    ),
}  # fmt: skip

# <Version> per EventID (manifest schema 4.81).
EVENT_VERSION = {1: 5, 3: 5, 5: 3, 11: 2}

# libxml2 xmlTextWriterWriteString escaping of text content (linux-telemetry.md section 1.3).
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}

UNSET_ID = 4294967295  # audit login uid / session id of daemons: (uint32)-1


def xml_text(value: str) -> str:
    """Escape text content as Sysmon for Linux's libxml2 writer does.

    >>> xml_text('a && b > "c"')
    'a &amp;&amp; b &gt; &quot;c&quot;'
    """
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


@dataclass
class Proc:
    """A process on a host: what EventID 1 reports about it and what its children see as parent."""

    guid: str
    pid: int
    image: str
    cmdline: str
    user: str
    cwd: str = "/"
    login_uid: int = UNSET_ID
    session: int = UNSET_ID


@dataclass
class Host:
    """One monitored host; collects its event lines in record order."""

    name: str
    guid_prefix: str  # per-host constant (derived from machine-id by Sysmon)
    sysmon_pid: int
    first_record: int
    start: datetime = datetime(2026, 10, 14, 9, 55, 0, tzinfo=UTC)
    seed: int = 7
    lines: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.name}:{self.seed}")
        self._record = self.first_record
        self._next_pid = 1000 + self._rng.randrange(2000)

    # -- identifiers ------------------------------------------------------------------------
    def guid(self, when: datetime) -> str:
        epoch = int(when.timestamp())
        tail = f"{self._rng.randrange(0x10000):04x}-{self._rng.randrange(0x1000000):06x}550000"
        return f"{{{self.guid_prefix}-{epoch & 0xFFFF:04x}-{epoch >> 16:04x}-{tail}}}"

    def logon_guid(self, proc: Proc) -> str:
        if proc.login_uid == UNSET_ID:
            return f"{{{self.guid_prefix}-0000-0000-ffff-ffffffffffff}}"
        uid_le = proc.login_uid.to_bytes(2, "little").hex()
        return f"{{{self.guid_prefix}-0000-0000-{uid_le}-000000000000}}"

    def pid(self) -> int:
        self._next_pid += 1 + self._rng.randrange(40)
        return self._next_pid

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    # -- events -----------------------------------------------------------------------------
    def existing(
        self,
        *,
        pid: int,
        image: str,
        cmdline: str,
        user: str,
        cwd: str = "/",
        login_uid: int = UNSET_ID,
        session: int = UNSET_ID,
        started: float = -86400.0,
    ) -> Proc:
        """A process that was already running when the log starts (no EventID 1 of its own)."""
        guid = self.guid(self.at(started))
        return Proc(guid, pid, image, cmdline, user, cwd, login_uid, session)

    def exec(
        self,
        parent: Proc,
        image: str,
        cmdline: str,
        *,
        at: float,
        user: str | None = None,
        cwd: str | None = None,
        login_uid: int | None = None,
        session: int | None = None,
    ) -> Proc:
        """A process start (EventID 1); the child inherits user, cwd and audit ids unless given."""
        when = self.at(at)
        child = Proc(
            guid=self.guid(when),
            pid=self.pid(),
            image=image,
            cmdline=cmdline,
            user=user or parent.user,
            cwd=cwd or parent.cwd,
            login_uid=parent.login_uid if login_uid is None else login_uid,
            session=parent.session if session is None else session,
        )
        self._emit(
            1,
            when,
            {
                "ProcessGuid": child.guid,
                "ProcessId": str(child.pid),
                "Image": image,
                "FileVersion": "-",
                "Description": "-",
                "Product": "-",
                "Company": "-",
                "OriginalFileName": "-",
                "CommandLine": cmdline,
                "CurrentDirectory": child.cwd,
                "User": child.user,
                "LogonGuid": self.logon_guid(child),
                "LogonId": str(child.login_uid),
                "TerminalSessionId": str(child.session),
                "IntegrityLevel": "no level",
                "Hashes": "-",
                "ParentProcessGuid": parent.guid,
                "ParentProcessId": str(parent.pid),
                "ParentImage": parent.image,
                "ParentCommandLine": parent.cmdline,
                "ParentUser": parent.user,
            },
        )
        return child

    def file_create(self, proc: Proc, path: str, *, at: float) -> None:
        """EventID 11; ``CreationUtcTime`` is the file's creation time, here the event time."""
        when = self.at(at)
        self._emit(
            11, when, {**self._subject(proc), "TargetFilename": path, "CreationUtcTime": _ms(when)}
        )

    def connect(
        self,
        proc: Proc,
        *,
        at: float,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        proto: str = "tcp",
    ) -> None:
        """EventID 3, an outbound connection (``Initiated`` true; no DNS lookup, so hostnames ``-``)."""
        self._emit(
            3,
            self.at(at),
            {
                **self._subject(proc),
                "Protocol": proto,
                "Initiated": "true",
                "SourceIsIpv6": "false",
                "SourceIp": src,
                "SourceHostname": "-",
                "SourcePort": str(sport),
                "SourcePortName": "-",
                "DestinationIsIpv6": "false",
                "DestinationIp": dst,
                "DestinationHostname": "-",
                "DestinationPort": str(dport),
                "DestinationPortName": "-",
            },
        )

    def terminate(self, proc: Proc, *, at: float) -> None:
        """EventID 5."""
        self._emit(5, self.at(at), self._subject(proc))

    def _subject(self, proc: Proc) -> dict[str, str]:
        return {
            "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid),
            "Image": proc.image,
            "User": proc.user,
        }

    def _emit(self, event_id: int, when: datetime, data: dict[str, str]) -> None:
        # Sysmon writes the event a few hundred microseconds to a few ms after the activity.
        written = when + timedelta(microseconds=200 + self._rng.randrange(4000))
        values = {"RuleName": "-", "UtcTime": _ms(when), **data}
        body = "".join(
            f'<Data Name="{name}">{xml_text(values[name])}</Data>' for name in FIELD_ORDER[event_id]
        )
        system = (
            '<System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
            f"<EventID>{event_id}</EventID><Version>{EVENT_VERSION[event_id]}</Version>"
            f"<Level>4</Level><Task>{event_id}</Task><Opcode>0</Opcode>"
            "<Keywords>0x8000000000000000</Keywords>"
            f'<TimeCreated SystemTime="{written.strftime("%Y-%m-%dT%H:%M:%S.%f")}000Z"/>'
            f"<EventRecordID>{self._record}</EventRecordID><Correlation/>"
            f'<Execution ProcessID="{self.sysmon_pid}" ThreadID="{self.sysmon_pid}"/>'
            f"<Channel>Linux-Sysmon/Operational</Channel><Computer>{self.name}</Computer>"
            '<Security UserId="0"/></System>'
        )
        self.lines.append(f"<Event>{system}<EventData>{body}</EventData></Event>")
        self.times.append(written)
        self._record += 1 + (self._rng.random() < 0.3)  # gaps: events of no interest left out


def _ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def merge(*hosts: Host) -> list[str]:
    """All hosts' lines in time order (as one collector would have indexed them)."""
    pairs = [(t, line) for h in hosts for t, line in zip(h.times, h.lines, strict=True)]
    return [line for _, line in sorted(pairs, key=lambda p: p[0])]
