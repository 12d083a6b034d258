"""Render Sysmon-for-Linux events as Linux audit records, as auditd writes them.

Used only to (re)generate the bundled attack data (``generate_auditd.py``) and by the auditd
benchmark generator; escudo never imports it at run time. A process start (Sysmon EventID 1)
becomes one execve event, a file creation (EventID 11) one ``openat`` event, each as the kernel
emits its records (linux-telemetry.md 3.1; kernel/auditsc.c): SYSCALL, EXECVE, CWD, PATH (item 0
the file executed, item 1 the dynamic loader), PROCTITLE; for ``openat`` SYSCALL, CWD, PATH (the
folder, ``nametype=PARENT``, then the file, ``nametype=CREATE``), PROCTITLE. All records of an
event share ``msg=audit(<UtcTime>:<serial>)``, the serial counting up per host.

Values follow the kernel's encoding (audit_string_contains_control): a value holding ``"``, a
byte below 0x21 or above 0x7e is upper-case hex, else quoted; PROCTITLE is argv joined by NUL,
cut at 128 bytes. argv is the Sysmon command line split at spaces (Sysmon joined argv with
single spaces: that is all it knows). The other EventIDs (3 network, 5 process end) have no
record here (auditd logs a connect as SYSCALL + SOCKADDR; the detections do not read them).

Shapes (``SHAPES``): ``raw`` (``node=<host> type=...``: auditd with ``name_format=hostname``),
``enriched`` (the same with ``log_format=ENRICHED``: 0x1D then ``ARCH=x86_64 SYSCALL=execve
AUID="alice" UID="root" ...``), ``syslog`` (audisp-syslog through rsyslog: ``<Mmm dd hh:mm:ss>
<host> audisp-syslog: type=...``, no ``node=``).

Users and ids: the Sysmon ``User`` names with Debian's ids (root 0, www-data 33, _apt 100,
postgres 114, alice 1001, as the LogonId 1001 of her sessions says), ``auid``/``ses`` from
Sysmon's LogonId / TerminalSessionId (the audit login uid and session, linux-telemetry.md 1.5).

Example::

    >>> from event_list import read_events
    >>> line = ('<Event><System><EventID>1</EventID><Computer>h</Computer></System><EventData>'
    ...     '<Data Name="UtcTime">2026-10-14 09:55:00.100</Data><Data Name="ProcessId">7</Data>'
    ...     '<Data Name="Image">/bin/ls</Data><Data Name="CommandLine">ls -l</Data>'
    ...     '<Data Name="User">root</Data><Data Name="ParentProcessId">1</Data></EventData></Event>')
    >>> render_auditd(read_events([line]), "raw")[1]
    'node=h type=EXECVE msg=audit(1791971700.100:1001): argc=2 a0="ls" a1="-l"'
"""

from __future__ import annotations

from collections.abc import Iterable

from event_list import Event, dirname

SHAPES = ("raw", "enriched", "syslog")
UIDS = {"root": 0, "www-data": 33, "_apt": 100, "postgres": 114, "alice": 1001}
NAMES = {uid: name for name, uid in UIDS.items()}
LOADER = "/lib64/ld-linux-x86-64.so.2"


def encode(text: str) -> str:
    """A value as the kernel writes it: quoted, or upper-case hex when it must be."""
    data = text.encode()
    if any(b == 0x22 or b < 0x21 or b > 0x7E for b in data):
        return data.hex().upper()
    return f'"{text}"'


def _ids(event: Event) -> dict[str, str]:
    uid = UIDS.get(event.value("User") or "root", 0)
    auid = event.value("LogonId") or "4294967295"
    ses = event.value("TerminalSessionId") or "4294967295"
    return {"uid": str(uid), "auid": auid, "ses": ses}


def _enriched(syscall: str, ids: dict[str, str]) -> str:
    uid = NAMES.get(int(ids["uid"]), "unknown")
    auid = "unset" if ids["auid"] == "4294967295" else NAMES.get(int(ids["auid"]), "unknown")
    names = " ".join(f'{k}="{uid}"' for k in ("UID", "GID", "EUID", "SUID", "FSUID"))
    return f'\x1dARCH=x86_64 SYSCALL={syscall} AUID="{auid}" {names}'


def _syscall(event: Event, number: int, exit_code: str, items: int, exe: str, comm: str) -> str:
    ids = _ids(event)
    uid = ids["uid"]
    tty = "(none)" if ids["ses"] == "4294967295" else "pts0"
    return (
        f"arch=c000003e syscall={number} success=yes exit={exit_code} a0=55e1c2a0 a1=55e1c2b8 "
        f"a2=55e1c2d0 a3=0 items={items} ppid={event.value('ParentProcessId') or '1'} "
        f"pid={event.value('ProcessId')} auid={ids['auid']} uid={uid} gid={uid} euid={uid} "
        f"suid={uid} fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty={tty} ses={ids['ses']} "
        f"comm={encode(comm[:15])} exe={encode(exe)} subj=unconfined key=(null)"
    )


def _path(item: int, name: str, nametype: str, mode: str = "0100755") -> str:
    return (
        f"item={item} name={encode(name)} inode={4000 + item} dev=fd:01 mode={mode} ouid=0 ogid=0 "
        f"rdev=00:00 nametype={nametype} cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
    )


def _proctitle(argv: list[str]) -> str:
    title = "\0".join(argv).encode()[:128]
    if len(argv) == 1 and encode(argv[0]).startswith('"'):
        return f"proctitle={encode(argv[0])}"
    return f"proctitle={title.hex().upper()}"


def event_records(event: Event, images: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """``(type, fields)`` of each record of one Sysmon event (none for EventIDs without one);
    ``images`` (host, pid) -> image, the process's image for a file event's ``exe``."""
    ids = _ids(event)
    if event.event_id == 1:
        exe = event.value("Image") or ""
        argv = (event.value("CommandLine") or exe).split(" ")
        images[(event.host, event.value("ProcessId") or "")] = exe
        syscall = _syscall(event, 59, "0", 2, exe, exe.rsplit("/", 1)[-1])
        args = " ".join(f"a{i}={encode(a)}" for i, a in enumerate(argv))
        return [
            ("SYSCALL", syscall + _enriched("execve", ids)),
            ("EXECVE", f"argc={len(argv)} {args}"),
            ("CWD", f"cwd={encode(event.value('CurrentDirectory') or '/')}"),
            ("PATH", _path(0, exe, "NORMAL")),
            ("PATH", _path(1, LOADER, "NORMAL")),
            ("PROCTITLE", _proctitle(argv)),
        ]
    if event.event_id == 11:
        target = event.value("TargetFilename") or ""
        exe = event.value("Image") or images.get((event.host, event.value("ProcessId") or ""), "")
        syscall = _syscall(event, 257, "3", 2, exe, exe.rsplit("/", 1)[-1])
        return [
            ("SYSCALL", syscall + _enriched("openat", ids)),
            ("CWD", f"cwd={encode(dirname(target))}"),
            ("PATH", _path(0, dirname(target), "PARENT", "040755")),
            ("PATH", _path(1, target, "CREATE", "0100644")),
            ("PROCTITLE", _proctitle([exe.rsplit("/", 1)[-1]])),
        ]
    return []


def render_auditd(events: Iterable[Event], shape: str) -> list[str]:
    """The audit log lines of ``events`` in one of :data:`SHAPES`."""
    lines: list[str] = []
    serials: dict[str, int] = {}
    images: dict[tuple[str, str], str] = {}
    for event in sorted(events, key=lambda e: (e.time, e.record_id)):
        records = event_records(event, images)
        if not records:
            continue
        serial = serials[event.host] = serials.get(event.host, 1000) + 1
        stamp = f"msg=audit({event.time.timestamp():.3f}:{serial}):"
        for kind, fields in records:
            main, separator, enriched = fields.partition("\x1d")
            text = f"type={kind} {stamp} {main}"
            text += separator + enriched if shape == "enriched" else ""
            if shape == "syslog":
                header = event.time.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
                lines.append(f"{header} {event.host} audisp-syslog: {text}")
            else:
                lines.append(f"node={event.host} {text}")
    return lines
