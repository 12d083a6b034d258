"""Build Sysmon for Linux event lines for tests, independently of escudo's own code.

Escaping follows libxml2's xmlTextWriterWriteString as SysmonForLinux calls it
(../shared/reference/linux-telemetry.md 1.3): & < > " and CR are escaped, nothing else.
"""

from __future__ import annotations

PROCESS_CREATE = (
    "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
    "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
    "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
    "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser",
)  # fmt: skip

DEFAULTS = {
    "RuleName": "-", "UtcTime": "2024-03-11 09:15:21.615",
    "ProcessGuid": "{6f1c2a9e-cb7c-65ee-3a41-09c2d7550000}", "ProcessId": "41233",
    "Image": "/tmp/ngrok", "FileVersion": "-", "Description": "-", "Product": "-", "Company": "-",
    "OriginalFileName": "-", "CommandLine": "/tmp/ngrok tcp 22", "CurrentDirectory": "/tmp",
    "User": "www-data", "LogonGuid": "{6f1c2a9e-c8b4-65eb-2100-000000000000}", "LogonId": "33",
    "TerminalSessionId": "4294967295", "IntegrityLevel": "no level", "Hashes": "-",
    "ParentProcessGuid": "{6f1c2a9e-ca6a-65ee-d1e0-4f2a91550000}", "ParentProcessId": "41201",
    "ParentImage": "/usr/bin/dash", "ParentCommandLine": "sh -c /tmp/ngrok tcp 22",
    "ParentUser": "www-data",
}  # fmt: skip


def escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def event_xml(
    values: dict[str, str] | None = None,
    *,
    eventid: int = 1,
    fields: tuple[str, ...] = PROCESS_CREATE,
    computer: str = "web-01",
    time: str = "2024-03-11T09:15:21.618000000Z",
    record: int = 9001,
) -> str:
    data = {**DEFAULTS, **(values or {})}
    body = "".join(f'<Data Name="{n}">{escape(data.get(n, "-"))}</Data>' for n in fields)
    return (
        '<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
        f"<EventID>{eventid}</EventID><Version>5</Version><Level>4</Level><Task>{eventid}</Task>"
        "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
        f'<TimeCreated SystemTime="{time}"/><EventRecordID>{record}</EventRecordID><Correlation/>'
        '<Execution ProcessID="812" ThreadID="812"/><Channel>Linux-Sysmon/Operational</Channel>'
        f'<Computer>{escape(computer)}</Computer><Security UserId="0"/></System>'
        f"<EventData>{body}</EventData></Event>"
    )


def syslog_line(xml: str, host: str = "web-01") -> str:
    return f"Mar 11 09:15:21 {host} sysmon: {xml}"
