#!/usr/bin/env python3
"""Write the auditd event sets of ESCU's 50 Linux auditd detections (tests/data/auditd_detections).

Usage::

    scripts/gen_auditd_sets.py [OUT]    # default: tests/data/auditd_detections

For each detection ``linux_auditd_<name>`` it writes ``<stem>/positive.log`` (an event set that
makes the search fire, one event per branch of its OR where the branches differ) and
``<stem>/near_miss.log`` (the same activity one field or value away from the search's condition,
which must not fire), plus ``expected.yml``: per detection the fields expected in the positive's
result rows. Each case below quotes the condition of the search it is written from (the search is
the spec; ``../shared/reference/escu/detections/endpoint/<stem>.yml``).

The lines are audit.log records as auditd writes them (``../shared/reference/linux-telemetry.md``
section 3, ``../shared/reference/samples/auditd_public.txt``):

* around the case's events, background no search looks for: an ``ls`` before (its argument with
  a blank is hex in EXECVE) and a PAM ``USER_END`` after;
* every line starts with ``node=<host> `` (auditd ``name_format=hostname``), which is where the
  event's host comes from;
* the records of one event share ``msg=audit(<epoch>.<ms>:<serial>)``: an exec is SYSCALL, EXECVE,
  CWD, PATH (item 0 the program, item 1 the loader), PROCTITLE; a file syscall is SYSCALL, CWD,
  PATH..., PROCTITLE; user-space messages (SERVICE_STOP, ADD_USER) are one record;
* values are quoted, or bare uppercase hex when the kernel's ``audit_string_contains_control``
  would hex them (a byte that is ``"``, below 0x21 or above 0x7e): EXECVE arguments with spaces,
  and PROCTITLE, which is ``/proc/<pid>/cmdline`` (NUL-separated, cut at 128 bytes);
* sets whose search reads the uppercase fields (``UID``, ``SYSCALL``, ``OGID``) are written in
  ``log_format=ENRICHED``: a 0x1D byte, then the translated fields (``ARCH=x86_64
  SYSCALL=execve AUID="alice" UID="root" ...``; ``OUID="root" OGID="root"`` on PATH); the others
  are plain ``log_format=RAW``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "auditd_detections"

ENRICHED_SEPARATOR = "\x1d"  # auditd log_format=ENRICHED (auditd.conf(5))
UNSET = 4294967295  # auid/ses of a process with no login session
USERS = {"root": 0, "daemon": 1, "www-data": 33, "alice": 1000, "bob": 1001}
GROUPS = {"root": 0, "daemon": 1, "www-data": 33, "crontab": 107, "alice": 1000, "bob": 1001}
SYSCALLS = {"execve": 59, "openat": 257, "rename": 82, "sendto": 44}  # x86_64 (arch=c000003e)
PROCTITLE_MAX = 128  # the kernel cuts /proc/<pid>/cmdline here (audit_log_proctitle)
LOADER = "/lib64/ld-linux-x86-64.so.2"
# Programs that are links (Debian/Ubuntu): the path a shell finds; exe is the resolved path.
LINKS = {  # kmod's tools link to /usr/bin/kmod; sh to dash
    "insmod": "/usr/sbin/insmod",
    "rmmod": "/usr/sbin/rmmod",
    "modprobe": "/usr/sbin/modprobe",
    "depmod": "/usr/sbin/depmod",
    "modinfo": "/usr/sbin/modinfo",
    "lsmod": "/usr/bin/lsmod",
    "sh": "/usr/bin/sh",
}


def needs_hex(value: bytes) -> bool:
    """The kernel's audit_string_contains_control: hex when a byte is ``"``, < 0x21 or > 0x7e."""
    return any(b == 0x22 or b < 0x21 or b > 0x7E for b in value)


def encode(value: str | bytes) -> str:
    """A value as auditd logs an untrusted string: ``"text"`` or bare uppercase hex."""
    raw = value.encode() if isinstance(value, str) else value
    return raw.hex().upper() if needs_hex(raw) else f'"{raw.decode()}"'


def proctitle_of(argv: Sequence[str]) -> str:
    """PROCTITLE's value for an argument vector (NUL-joined, cut at 128 bytes, then encoded)."""
    return encode("\0".join(argv).encode()[:PROCTITLE_MAX])


def proctitle_field(argv: Sequence[str]) -> str:
    """The ``proctitle`` field Splunk extracts: the logged value without its quotes."""
    return proctitle_of(argv).strip('"')


def normalized_delimiter(argv: Sequence[str]) -> str:
    """The ``linux_auditd_normalized_proctitle_process`` macro's ``normalized_proctitle_delimiter``:
    the hex with every ``000`` then every ``00`` replaced by ``020``/``20``, or the quoted value."""
    value = proctitle_field(argv)
    if all(c in "0123456789ABCDEF" for c in value):
        return value.replace("000", "020").replace("00", "20")
    return value


@dataclass
class Proc:
    """A process as its audit records describe it."""

    argv: list[str]
    exe: str
    user: str = "root"
    login: str = "alice"  # auid: who logged in
    group: str | None = None  # gid; the user's own group when None
    egroup: str | None = None  # egid of a setgid program
    pid: int = 0
    ppid: int = 0
    cwd: str = "/root"
    comm: str | None = None  # the kernel's 15-byte comm; basename of argv[0] when None
    tty: str = "pts0"
    ses: int = 3

    @property
    def name(self) -> str:
        return (self.comm or Path(self.argv[0]).name)[:15]


@dataclass
class Writer:
    """Renders events of one host as audit.log lines, with its clock and serial counter."""

    host: str
    start: float
    enriched: bool
    serial: int = 2000
    pid: int = 4100
    lines: list[str] = field(default_factory=list)

    def stamp(self, at: float) -> tuple[float, int]:
        self.serial += 7  # other events (not shown) took serials in between
        return self.start + at + (self.serial * 37 % 1000) / 1000, self.serial

    def record(self, kind: str, ts: float, serial: int, body: str, extra: str = "") -> None:
        line = f"node={self.host} type={kind} msg=audit({ts:.3f}:{serial}): {body}"
        if self.enriched and extra:
            line += ENRICHED_SEPARATOR + extra
        self.lines.append(line)

    def new_pid(self) -> tuple[int, int]:
        self.pid += 13
        return self.pid, self.pid - 5

    def syscall(
        self,
        ts: float,
        serial: int,
        proc: Proc,
        name: str,
        *,
        items: int,
        args: tuple[str, str, str, str],
        success: bool = True,
        exit_code: int = 0,
    ) -> None:
        uid, login = USERS[proc.user], USERS[proc.login]
        group = proc.group or proc.user
        gid = GROUPS[group]
        egroup = proc.egroup or group
        egid = GROUPS[egroup]
        body = (
            f"arch=c000003e syscall={SYSCALLS[name]} success={'yes' if success else 'no'} "
            f"exit={exit_code} a0={args[0]} a1={args[1]} a2={args[2]} a3={args[3]} items={items} "
            f"ppid={proc.ppid} pid={proc.pid} auid={login} uid={uid} gid={gid} euid={uid} "
            f"suid={uid} fsuid={uid} egid={egid} sgid={egid} fsgid={egid} tty={proc.tty} "
            f"ses={proc.ses} comm={encode(proc.name)} exe={encode(proc.exe)} subj=unconfined "
            'key="audit-wazuh-c"'
        )
        extra = (
            f'ARCH=x86_64 SYSCALL={name} AUID="{proc.login}" UID="{proc.user}" GID="{group}" '
            f'EUID="{proc.user}" SUID="{proc.user}" FSUID="{proc.user}" EGID="{egroup}" '
            f'SGID="{egroup}" FSGID="{egroup}"'
        )
        self.record("SYSCALL", ts, serial, body, extra)

    def path(
        self, ts: float, serial: int, item: int, name: str, nametype: str, owner: str = "root"
    ) -> None:
        directory = nametype == "PARENT"
        mode = "040755" if directory else "0100644"
        if name.startswith(("/usr/", "/lib", "/bin", "/sbin")) and not directory:
            mode = "0100755"
        inode = 1_000_000 + sum(name.encode()) * 37 % 900_000
        body = (
            f"item={item} name={encode(name)} inode={inode} dev=fd:01 mode={mode} "
            f"ouid={USERS[owner]} ogid={GROUPS[owner]} rdev=00:00 nametype={nametype} "
            "cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
        )
        self.record("PATH", ts, serial, body, f'OUID="{owner}" OGID="{owner}"')

    def execute(self, at: float, proc: Proc, *, success: bool = True) -> Proc:
        """An execve: SYSCALL, EXECVE, CWD, PATH x2, PROCTITLE (kernel emission order)."""
        if not proc.pid:
            proc.pid, proc.ppid = self.new_pid()
        ts, serial = self.stamp(at)
        self.syscall(
            ts,
            serial,
            proc,
            "execve",
            items=2,
            args=("55d1c3a0f2e0", "55d1c3a10b40", "55d1c3a0c0a0", "8"),
            success=success,
            exit_code=0 if success else -13,
        )
        args = " ".join(f"a{i}={encode(a)}" for i, a in enumerate(proc.argv))
        self.record("EXECVE", ts, serial, f"argc={len(proc.argv)} {args}")
        self.record("CWD", ts, serial, f"cwd={encode(proc.cwd)}")
        # PATH item 0 is the file given to execve (the shell's PATH lookup), exe the link's target
        invoked = proc.argv[0] if "/" in proc.argv[0] else LINKS.get(proc.argv[0], proc.exe)
        self.path(ts, serial, 0, invoked, "NORMAL")
        self.path(ts, serial, 1, LOADER, "NORMAL")
        self.record("PROCTITLE", ts, serial, f"proctitle={proctitle_of(proc.argv)}")
        return proc

    def file_syscall(
        self,
        at: float,
        proc: Proc,
        name: str,
        paths: Sequence[tuple[str, str]],
        *,
        success: bool = True,
        owner: str = "root",
    ) -> None:
        """A file syscall (openat, rename) of a running process: SYSCALL, CWD, PATHs, PROCTITLE."""
        if not proc.pid:
            proc.pid, proc.ppid = self.new_pid()
        ts, serial = self.stamp(at)
        args = {
            "openat": ("ffffff9c", "55e0c2b4a2c0", "441", "1b6"),
            "rename": ("7ffd5c1e2a10", "7ffd5c1e3a10", "0", "0"),
        }[name]
        self.syscall(
            ts,
            serial,
            proc,
            name,
            items=len(paths),
            args=args,
            success=success,
            exit_code=(3 if name == "openat" else 0) if success else -13,
        )
        self.record("CWD", ts, serial, f"cwd={encode(proc.cwd)}")
        for item, (path, nametype) in enumerate(paths):
            self.path(ts, serial, item, path, nametype, owner if nametype != "PARENT" else "root")
        self.record("PROCTITLE", ts, serial, f"proctitle={proctitle_of(proc.argv)}")

    def session_end(self, at: float) -> None:
        """sudo's PAM session close (USER_END, one record): background no search looks for."""
        ts, serial = self.stamp(at)
        body = (
            f"pid={self.pid + 1} uid=0 auid=1000 ses=3 subj=unconfined "
            'msg=\'op=PAM:session_close grantors=pam_limits,pam_unix acct="root" '
            'exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 res=success\''
        )
        self.record("USER_END", ts, serial, body, 'UID="root" AUID="alice"')

    def service(self, at: float, kind: str, unit: str) -> None:
        """systemd's SERVICE_START/SERVICE_STOP user message (one record; pid 1, no login)."""
        ts, serial = self.stamp(at)
        body = (
            f"pid=1 uid=0 auid={UNSET} ses={UNSET} subj=unconfined msg='unit={unit} "
            'comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? '
            "res=success'"
        )
        self.record(kind, ts, serial, body, 'UID="root" AUID="unset"')

    def account(self, at: float, kind: str, op: str, account: str, uid: int) -> Proc:
        """useradd's/userdel's account message: the sendto SYSCALL, its PROCTITLE, then the
        ADD_USER/DEL_USER record (shadow-utils audit_logger; samples/auditd_public.txt source 6)."""
        tool = "useradd" if kind == "ADD_USER" else "userdel"
        argv = [tool, "-m", account] if tool == "useradd" else [tool, "-r", account]
        proc = Proc(argv, f"/usr/sbin/{tool}", user="root", login="alice", tty="pts1")
        proc.pid, proc.ppid = self.new_pid()
        ts, serial = self.stamp(at)
        self.syscall(
            ts,
            serial,
            proc,
            "sendto",
            items=0,
            args=("3", "7ffd1e1c3a10", "84", "0"),
            exit_code=132,
        )
        self.record("PROCTITLE", ts, serial, f"proctitle={proctitle_of(argv)}")
        body = (
            f"pid={proc.pid} uid=0 auid={USERS[proc.login]} ses={proc.ses} subj=unconfined "
            f'msg=\'op={op} id={uid} exe="/usr/sbin/{tool}" hostname={self.host} addr=? '
            "terminal=pts/1 res=success'"
        )
        self.record(kind, ts, serial, body, f'UID="root" AUID="{proc.login}" ID="{account}"')
        return proc


# -- Expected rows ---------------------------------------------------------------------------------


def when(writer: Writer, at: float) -> str:
    """``security_content_ctime`` of an event ``at`` seconds into the writer's hour (UTC)."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(int(writer.start + at), dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def proctitle_row(writer: Writer, at: float, proc: Proc, *, delimiter: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "process_exec": " ".join(proc.argv),
        "proctitle": proctitle_field(proc.argv),
        "dest": writer.host,
        "count": 1,
        "firstTime": when(writer, at),
    }
    if delimiter:
        row["normalized_proctitle_delimiter"] = normalized_delimiter(proc.argv)
    return row


def execve_row(writer: Writer, at: float, proc: Proc) -> dict[str, Any]:
    # ``foreach a*`` visits argc after a0..a9 (ASCII order), so the macro's process_exec ends with
    # argc; every case here has fewer than ten arguments.
    assert len(proc.argv) < 10
    return {
        "argc": len(proc.argv),
        "process_exec": " ".join([*proc.argv, str(len(proc.argv))]),
        "dest": writer.host,
        "count": 1,
        "firstTime": when(writer, at),
    }


def syscall_row(writer: Writer, at: float, proc: Proc, syscall: str = "execve") -> dict[str, Any]:
    return {
        "comm": proc.name,
        "exe": proc.exe,
        "SYSCALL": syscall,
        "UID": proc.user,
        "ppid": proc.ppid,
        "pid": proc.pid,
        "dest": writer.host,
        "count": 1,
        "firstTime": when(writer, at),
    }


def path_row(writer: Writer, at: float, name: str, nametype: str, owner: str) -> dict[str, Any]:
    return {
        "name": name,
        "nametype": nametype,
        "OGID": owner,
        "dest": writer.host,
        "count": 1,
        "firstTime": when(writer, at),
    }


def service_row(writer: Writer, at: float, unit: str) -> dict[str, Any]:
    return {
        "type": "SERVICE_STOP",
        "pid": 1,
        "UID": "root",
        "comm": "systemd",
        "exe": "/usr/lib/systemd/systemd",
        "unit": unit,
        "dest": writer.host,
        "count": 1,
        "firstTime": when(writer, at),
    }


# -- The cases -------------------------------------------------------------------------------------
# A case gets a writer for the positive set and one for the near miss (same host, hour, serials),
# writes its events into each, and returns the expected result rows of the positive.

Case = Callable[[Writer, Writer], list[dict[str, Any]]]
CASES: dict[str, tuple[bool, Case]] = {}  # stem -> (ENRICHED?, case)


def case(stem: str, *, enriched: bool = False) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        CASES[f"linux_auditd_{stem}"] = (enriched, function)
        return function

    return register


# Further positive commands (argv, exe), each matching another branch of the search's OR.
More = Sequence[tuple[list[str], str]]


def proctitle_case(
    stem: str,
    positive: list[str],
    near: list[str],
    exe: str,
    *,
    delimiter: bool = True,
    more: More = (),
) -> None:
    """A search on PROCTITLE's command line (``linux_auditd_normalized_proctitle_process``)."""

    def run(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
        runs = [(30, positive, exe)] + [(40 + 5 * i, a, e) for i, (a, e) in enumerate(more)]
        rows = []
        for at, argv, program in runs:
            proc = pos.execute(at, Proc(argv, program))
            rows.append(proctitle_row(pos, at, proc, delimiter=delimiter))
        neg.execute(30, Proc(near, exe))
        return rows

    case(stem)(run)


def execve_case(
    stem: str, positive: list[str], near: list[str], exe: str, *, more: More = ()
) -> None:
    """A search on EXECVE's arguments (``linux_auditd_normalized_execve_process``)."""

    def run(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
        runs = [(30, positive, exe)] + [(40 + 5 * i, a, e) for i, (a, e) in enumerate(more)]
        rows = []
        for at, argv, program in runs:
            proc = pos.execute(at, Proc(argv, program, user="alice", cwd="/home/alice"))
            rows.append(execve_row(pos, at, proc))
        neg.execute(30, Proc(near, exe, user="alice", cwd="/home/alice"))
        return rows

    case(stem)(run)


def comm_case(
    stem: str, positive: Proc, near: Proc, *, success: bool = False, linked: str | None = None
) -> None:
    """A search on the execve SYSCALL record's comm/exe (ENRICHED: it reads UID and SYSCALL).
    ``linked``: the positive also runs the program through a symlink of that path, so comm is the
    link's name and only the search's ``exe`` branch matches."""

    def run(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
        procs = [(30, pos.execute(30, positive))]
        if linked is not None:
            alias = replace(positive, argv=[linked, *positive.argv[1:]], pid=0, ppid=0)
            procs.append((40, pos.execute(40, alias)))
        neg.execute(30, near)
        rows = [syscall_row(pos, at, proc) for at, proc in procs]
        for row in rows:
            if success:
                row["success"] = "yes"
        return rows

    case(stem, enriched=True)(run)


def path_case(
    stem: str,
    proc: list[str],
    exe: str,
    positive: list[tuple[str, str]],
    near: list[tuple[str, str]],
    *,
    with_type: bool = True,
    parents_match: bool = False,
    more: Sequence[tuple[list[str], list[tuple[str, str]]]] = (),
) -> None:
    """A search on PATH records' name (ENRICHED: it reads OGID); openat O_WRONLY|O_CREAT|O_APPEND.
    Every positive PATH matches the search but the PARENT ones, unless ``parents_match``; ``more``
    are further positive events (command line, PATHs), one for each other pattern of the search."""

    def run(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
        events = [(30, proc, positive)] + [(40 + 5 * i, a, p) for i, (a, p) in enumerate(more)]
        rows = []
        for at, argv, paths in events:
            pos.file_syscall(at, Proc(argv, exe), "openat", paths)
            for name, nametype in paths:
                if nametype != "PARENT" or parents_match:
                    row = path_row(pos, at, name, nametype, "root")
                    if with_type:
                        row["type"] = "PATH"
                    rows.append(row)
        neg.file_syscall(30, Proc(proc, exe), "openat", near)
        return rows

    case(stem, enriched=True)(run)


def service_case(
    stem: str,
    positive: str,
    near: tuple[str, str],
    *,
    by_unit: bool = True,
    also: str | None = None,
) -> None:
    """A search on systemd's SERVICE_STOP records (ENRICHED: it reads UID); ``also``: a second
    unit of the search's list stopped in the positive."""

    def run(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
        units = [(30, positive)] + ([(40, also)] if also else [])
        for at, unit in units:
            pos.service(at, "SERVICE_STOP", unit)
        neg.service(30, near[0], near[1])
        rows = [service_row(pos, at, unit) for at, unit in units]
        for row in rows:
            if not by_unit:
                del row["unit"]
        return rows

    case(stem, enriched=True)(run)


# where LIKE (process_exec, "%useradd%") OR LIKE (process_exec, "%adduser%")
proctitle_case(
    "add_user_account",
    ["useradd", "-m", "-s", "/bin/bash", "svc-backup"],
    ["userdel", "-r", "svc-backup"],
    "/usr/sbin/useradd",
    delimiter=False,
    more=[(["adduser", "--disabled-password", "svc-sync"], "/usr/bin/perl")],
)
# where LIKE (process_exec, "%chown %root%"); the near miss's path must not hold "root" either
proctitle_case(
    "change_file_owner_to_root",
    ["chown", "root:root", "/tmp/.cache/shell"],
    ["chown", "alice:alice", "/tmp/.cache/shell"],
    "/usr/bin/chown",
)
# where LIKE(process_exec, "%dd %") AND LIKE(process_exec, "% of=%"); near miss reads, no of=
proctitle_case(
    "dd_file_overwrite",
    ["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M", "count=10"],
    ["dd", "if=/dev/sda", "bs=512", "count=1"],
    "/usr/bin/dd",
)
# where LIKE(process_exec, "%chmod%") AND (... "% 755 %" OR "%x%" ...): no "x" in the near miss
proctitle_case(
    "file_permission_modification_via_chmod",
    ["chmod", "+x", "/tmp/kworker"],
    ["chmod", "644", "/tmp/notes"],
    "/usr/bin/chmod",
    delimiter=False,
    more=[(["chmod", "777", "/tmp/kworker"], "/usr/bin/chmod")],
)
# where LIKE(process_exec, "%chattr %") AND LIKE(process_exec, "% -i%"); +i sets, -i clears
proctitle_case(
    "file_permissions_modification_via_chattr",
    ["chattr", "-i", "/etc/passwd"],
    ["chattr", "+i", "/etc/passwd"],
    "/usr/bin/chattr",
)
# where LIKE(process_exec, "%swapoff %") AND LIKE(process_exec, "% -a%")
proctitle_case(
    "hardware_addition_swapoff",
    ["swapoff", "-a"],
    ["swapon", "-a"],
    "/usr/sbin/swapoff",
)
# where LIKE (process_exec, "%NOPASSWD%"): a shell appending a sudoers rule
proctitle_case(
    "nopasswd_entry_in_sudoers_file",
    ["sh", "-c", "echo 'alice ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers"],
    ["sh", "-c", "echo 'alice ALL=(ALL) PASSWD:ALL' >> /etc/sudoers"],
    "/usr/bin/dash",
)
# where (LIKE "%shadow%" OR "%passwd%") AND (LIKE "%cat %" OR "%nano %" OR "%vim %" OR "%vi %")
proctitle_case(
    "possible_access_to_credential_files",
    ["cat", "/etc/shadow"],
    ["head", "-n", "5", "/etc/shadow"],
    "/usr/bin/cat",
    more=[(["vim", "/etc/passwd"], "/usr/bin/vim.basic")],
)
# where (LIKE "%systemctl %" OR "%service %") AND (LIKE "%restart%" OR "%reenable%" OR "%reload%")
proctitle_case(
    "service_restarted",
    ["systemctl", "restart", "ssh"],
    ["systemctl", "status", "ssh"],
    "/usr/bin/systemctl",
    more=[(["service", "cron", "reload"], "/usr/sbin/service")],
)
# where (LIKE "%systemctl %" OR "%service %") AND (LIKE "% start %" OR "% enable %")
proctitle_case(
    "service_started",
    ["systemctl", "enable", "dbus-helper", "--now"],
    ["systemctl", "disable", "dbus-helper", "--now"],
    "/usr/bin/systemctl",
    more=[(["systemctl", "start", "dbus-helper"], "/usr/bin/systemctl")],
)
# where LIKE (process_exec, "%chmod %") AND (LIKE "% u+s %" OR "% g+s %" OR "% 4777 %" ...)
proctitle_case(
    "setuid_using_chmod_utility",
    ["chmod", "u+s", "/tmp/bash"],
    ["chmod", "u+x", "/tmp/bash"],
    "/usr/bin/chmod",
    more=[(["chmod", "4777", "/tmp/bash"], "/usr/bin/chmod")],
)
# where LIKE (process_exec, "%shred%") AND (LIKE "%-n%" OR "%-z%" OR "%-u%" OR "%-s%")
proctitle_case(
    "shred_overwrite_command",
    ["shred", "-u", "-z", "/var/log/auth.log"],
    ["shred", "/var/log/auth.log"],
    "/usr/bin/shred",
)
# where LIKE(process_exec, "%sudo %") OR LIKE(process_exec, "%su %")
proctitle_case(
    "sudo_or_su_execution",
    ["sudo", "-i"],
    ["sudoedit", "/etc/hosts"],
    "/usr/bin/sudo",
    more=[(["su", "-", "root"], "/usr/bin/su")],
)

# where LIKE(process_exec, "%base64%") AND (LIKE(process_exec, "%-d %") OR ... "% --d%")
execve_case(
    "base64_decode_files",
    ["base64", "-d", "/tmp/payload.b64"],
    ["base64", "-w", "0", "/tmp/payload.bin"],
    "/usr/bin/base64",
    more=[(["base64", "--decode", "/tmp/payload.b64"], "/usr/bin/base64")],
)
# where LIKE(process_exec, "%xclip%") AND (... "%clip %" ...): any xclip with an argument fires
execve_case(
    "clipboard_data_copy",
    ["xclip", "-selection", "clipboard", "-o"],
    ["xsel", "--clipboard", "--output"],
    "/usr/bin/xclip",
)
# where LIKE "%rm %" AND LIKE "% -rf %" AND LIKE "%--no-preserve-root%"
execve_case(
    "data_destruction_command",
    ["rm", "-rf", "--no-preserve-root", "/"],
    ["rm", "-rf", "/tmp/build"],
    "/usr/bin/rm",
)
# where LIKE(process_exec, "%split %") AND LIKE(process_exec, "% -b %")
execve_case(
    "data_transfer_size_limits_via_split",
    ["split", "-b", "5M", "/tmp/db.tar.gz", "/tmp/part_"],
    ["split", "-l", "1000", "/tmp/db.csv", "/tmp/part_"],
    "/usr/bin/split",
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%.db%" OR "%.sql%" ...)
execve_case(
    "database_file_and_directory_discovery",
    ["find", "/", "-name", "*.sql"],
    ["find", "/", "-name", "*.log"],
    "/usr/bin/find",
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%.tif%" ... "%.pdf%" ...)
execve_case(
    "file_and_directory_discovery",
    ["find", "/home", "-name", "*.pdf"],
    ["find", "/home", "-name", "*.txt"],
    "/usr/bin/find",
    more=[(["grep", "-rl", "invoice", "--include=*.docx", "/home"], "/usr/bin/grep")],
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%.kdbx%" OR ... "%vault%" ...)
execve_case(
    "find_credentials_from_password_managers",
    ["find", "/", "-name", "*.kdbx"],
    ["find", "/", "-name", "*.ovpn"],
    "/usr/bin/find",
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%password%" OR "%pass %" OR ... "%creds%")
execve_case(
    "find_credentials_from_password_stores",
    ["grep", "-ri", "password", "/var/www"],
    ["grep", "-ri", "passwd", "/var/www"],
    "/usr/bin/grep",
    more=[(["find", "/", "-name", "*credential*"], "/usr/bin/find")],
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%.pem%" ... "%.key%" ...)
execve_case(
    "find_private_keys",
    ["find", "/", "-name", "*.pem"],
    ["find", "/", "-name", "*.pub"],
    "/usr/bin/find",
    more=[(["grep", "-l", "PRIVATE", "/etc/ssl/private/server.key"], "/usr/bin/grep")],
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%id_rsa%" OR "%id_dsa%" OR ... "%authorized_keys%")
execve_case(
    "find_ssh_private_keys",
    ["find", "/", "-name", "id_rsa"],
    ["find", "/", "-name", "id_ed25519"],
    "/usr/bin/find",
    more=[(["grep", "-r", "ssh-rsa", "/home/alice/.ssh/authorized_keys"], "/usr/bin/grep")],
)
# where (LIKE "%touch %" OR ...) AND (LIKE "% ./.%" OR LIKE " .%" OR LIKE " /.%")
execve_case(
    "hidden_files_and_directories_creation",
    ["touch", "./.bash_helper"],
    ["touch", "./bash_helper"],
    "/usr/bin/touch",
    more=[(["mkdir", "./.cache2"], "/usr/bin/mkdir")],
)
# where LIKE (process_exec, "%LD_PRELOAD%")
execve_case(
    "preload_hijack_library_calls",
    ["env", "LD_PRELOAD=/tmp/libhook.so", "/usr/bin/id"],
    ["env", "LD_LIBRARY_PATH=/tmp", "/usr/bin/id"],
    "/usr/bin/env",
)
# where LIKE "%setcap %" AND (LIKE "% cap_setuid+ep %" OR ... "% cap_dac_read_search+ep %")
execve_case(
    "setuid_using_setcap_utility",
    ["setcap", "cap_setuid+ep", "/tmp/python3"],
    ["setcap", "cap_net_admin+ep", "/tmp/python3"],
    "/usr/sbin/setcap",
    more=[(["setcap", "cap_net_raw+ep", "/tmp/ping2"], "/usr/sbin/setcap")],
)
# where LIKE (process_exec, "%modprobe%") AND LIKE (process_exec, "%-r %")
execve_case(
    "unload_module_via_modprobe",
    ["modprobe", "-r", "lkrg"],
    ["modprobe", "lkrg"],
    "/usr/bin/kmod",
)
# where (LIKE "%find%" OR "%grep%") AND (LIKE "%.vhd%" OR "%.vhdx%" OR "%.vmdk%")
execve_case(
    "virtual_disk_file_and_directory_discovery",
    ["find", "/", "-name", "*.vmdk"],
    ["find", "/", "-name", "*.qcow2"],
    "/usr/bin/find",
)

# type=SYSCALL comm IN ("at", "atd") OR exe IN (...) AND NOT (UID IN("daemon")): the near miss is
# the same at run as daemon, the account the search excludes; each OR branch matches one positive
comm_case(
    "at_application_execution",
    Proc(
        ["at", "-f", "/tmp/.j", "now", "+", "1", "minute"], "/usr/bin/at", "alice", egroup="daemon"
    ),
    Proc(
        ["at", "-f", "/tmp/.j", "now", "+", "1", "minute"], "/usr/bin/at", "daemon", egroup="daemon"
    ),
    linked="/tmp/sched",
)
# type=SYSCALL comm=split OR exe= "*/split"; csplit matches neither
comm_case(
    "data_transfer_size_limits_via_split_syscall",
    Proc(["split", "-b", "5M", "/tmp/db.tar.gz"], "/usr/bin/split", "alice"),
    Proc(["csplit", "/tmp/db.sql", "/^--/", "{*}"], "/usr/bin/csplit", "alice"),
    success=True,
    linked="/tmp/chunk",
)
# type=SYSCALL comm=doas
comm_case(
    "doas_tool_execution",
    Proc(["doas", "-u", "root", "/bin/sh"], "/usr/bin/doas", "alice"),
    Proc(["sudo", "-u", "root", "/bin/sh"], "/usr/bin/sudo", "alice"),
    success=True,
)
# type=SYSCALL comm=insmod (kmod's insmod is a link to /usr/bin/kmod: comm is the link's name)
comm_case(
    "insert_kernel_module_using_insmod_utility",
    Proc(["insmod", "/tmp/rootkit.ko"], "/usr/bin/kmod"),
    Proc(["modinfo", "/tmp/rootkit.ko"], "/usr/bin/kmod"),
    success=True,
)
# type=SYSCALL comm=modprobe
comm_case(
    "install_kernel_module_using_modprobe_utility",
    Proc(["modprobe", "rootkit"], "/usr/bin/kmod"),
    Proc(["depmod", "-a"], "/usr/bin/kmod"),
    success=True,
)
# type=SYSCALL comm=lsmod; `kmod list` lists the same modules but is not named lsmod
comm_case(
    "kernel_module_enumeration",
    Proc(["lsmod"], "/usr/bin/kmod", "alice"),
    Proc(["kmod", "list"], "/usr/bin/kmod", "alice"),
    success=True,
)
# type=SYSCALL comm=rmmod
comm_case(
    "kernel_module_using_rmmod_utility",
    Proc(["rmmod", "lkrg"], "/usr/bin/kmod"),
    Proc(["modinfo", "lkrg"], "/usr/bin/kmod"),
    success=True,
)
# type=SYSCALL comm=whoami OR exe= "*/whoami"
comm_case(
    "whoami_user_discovery",
    Proc(["whoami"], "/usr/bin/whoami", "www-data", login="www-data", tty="(none)", ses=UNSET),
    Proc(["who"], "/usr/bin/who", "www-data", login="www-data", tty="(none)", ses=UNSET),
    success=True,
    linked="/tmp/id0",
)


# type=SYSCALL SYSCALL=rename (comm IN ("crontab") OR exe IN ("*/crontab")) success=yes AND NOT
# (UID IN("daemon")): crontab -e installs the edited table with rename(2); the near miss failed
@case("edit_cron_table_parameter", enriched=True)
def edit_cron_table(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
    def crontab() -> Proc:
        return Proc(
            ["crontab", "-e"],
            "/usr/bin/crontab",
            "alice",
            egroup="crontab",
            pid=4321,
            ppid=4300,
            cwd="/var/spool/cron/crontabs",
        )

    paths = [
        ("/var/spool/cron/crontabs/", "PARENT"),
        ("/var/spool/cron/crontabs/", "PARENT"),
        ("tmp.X3kq9z", "DELETE"),
        ("alice", "CREATE"),
    ]
    proc = crontab()
    pos.file_syscall(30, proc, "rename", paths, owner="alice")
    # the same through a symlink /tmp/ct: comm "ct", only the exe IN ("*/crontab") branch matches
    alias = replace(crontab(), argv=["/tmp/ct", "-e"], pid=4377, ppid=4300)
    pos.file_syscall(40, alias, "rename", paths, owner="alice")
    neg.file_syscall(30, crontab(), "rename", paths, owner="alice", success=False)
    return [syscall_row(pos, 30, proc, "rename"), syscall_row(pos, 40, alias, "rename")]


# type=SYSCALL comm IN ("arp", "ifconfig", "ip", "netstat", ...) | bucket _time span=15m | stats
# dc(comm) as unique_commands ... by success dest | where unique_commands >= 4: four of them in one
# quarter hour; the near miss runs three of them and ping
@case("system_network_configuration_discovery", enriched=True)
def network_discovery(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
    tools = [
        (["ip", "addr"], "/usr/sbin/ip"),
        (["ifconfig", "-a"], "/usr/sbin/ifconfig"),
        (["netstat", "-antp"], "/usr/bin/netstat"),
        (["arp", "-n"], "/usr/sbin/arp"),
    ]
    near = [*tools[:3], (["ping", "-c", "1", "10.0.0.1"], "/usr/bin/ping")]
    procs = []
    for index, (argv, exe) in enumerate(tools):
        procs.append(pos.execute(10 + 15 * index, Proc(argv, exe, "alice", tty="pts2")))
    for index, (argv, exe) in enumerate(near):
        neg.execute(10 + 15 * index, Proc(argv, exe, "alice", tty="pts2"))
    return [
        {
            "success": "yes",
            "dest": pos.host,
            "unique_commands": 4,
            "comm": sorted(p.name for p in procs),
            "exe": sorted(p.exe for p in procs),
            "SYSCALL": "execve",
            "UID": "alice",
            "pid": sorted(str(p.pid) for p in procs),
            "count": 4,
            # min/max of _time after `bucket _time span=15m`: the quarter hour's start
            "firstTime": when(pos, 0),
            "lastTime": when(pos, 0),
        }
    ]


# `linux_auditd` type=SERVICE_STOP unit IN (...)
service_case("auditd_service_stop", "auditd", ("SERVICE_START", "auditd"))
service_case(
    "disable_or_modify_system_firewall", "ufw", ("SERVICE_STOP", "nftables"), also="firewalld"
)
service_case("osquery_service_stop", "osqueryd", ("SERVICE_START", "osqueryd"))
service_case("sysmon_service_stop", "sysmon", ("SERVICE_STOP", "sysstat"))
# `linux_auditd` type=SERVICE_STOP (any unit); the near miss starts one
service_case("stop_services", "nginx", ("SERVICE_START", "nginx"), by_unit=False)


# `linux_auditd` type=ADD_USER | rename hostname as dest | stats ... by exe pid dest res UID type
@case("add_user_account_type", enriched=True)
def add_user_type(pos: Writer, neg: Writer) -> list[dict[str, Any]]:
    proc = pos.account(30, "ADD_USER", "adding user", "svc-backup", 1002)
    neg.account(30, "DEL_USER", "deleting user", "svc-backup", 1002)
    return [
        {
            "exe": "/usr/sbin/useradd",
            "pid": proc.pid,
            "dest": pos.host,
            "res": "success",
            "UID": "root",
            "type": "ADD_USER",
            "count": 1,
            "firstTime": when(pos, 30),
        }
    ]


# type=PATH name ="/etc/doas.conf*"; /usr/local/etc/doas.conf (BSD layout) is outside the pattern
path_case(
    "doas_conf_file_creation",
    ["sh", "-c", "echo 'permit nopass alice' > /etc/doas.conf"],
    "/usr/bin/dash",
    [("/etc/", "PARENT"), ("/etc/doas.conf", "CREATE")],
    [("/usr/local/etc/", "PARENT"), ("/usr/local/etc/doas.conf", "CREATE")],
)
# type=PATH name="/etc/ssh/ssh_config*": the search names the client's ssh_config, so sshd_config
# is a near miss although the title says sshd
path_case(
    "possible_access_or_modification_of_sshd_config_file",
    ["vim", "/etc/ssh/ssh_config"],
    "/usr/bin/vim.basic",
    [("/etc/ssh/ssh_config", "NORMAL")],
    [("/etc/ssh/sshd_config", "NORMAL")],
)
# type=PATH name="/etc/sudoers*"
path_case(
    "possible_access_to_sudoers_file",
    ["sh", "-c", "echo 'alice ALL=(ALL) ALL' > /etc/sudoers.d/90-alice"],
    "/usr/bin/dash",
    [("/etc/sudoers.d/", "PARENT"), ("/etc/sudoers.d/90-alice", "CREATE")],
    [("/etc/", "PARENT"), ("/etc/sudo.conf", "CREATE")],
    parents_match=True,  # the folder /etc/sudoers.d/ is in "/etc/sudoers*" too
)
# type=PATH name IN("*/etc/cron*", "*/var/spool/cron/*", "*/etc/anacrontab*") (no type in the by)
path_case(
    "possible_append_cronjob_entry_on_existing_cronjob_file",
    ["sh", "-c", "echo '* * * * * root /tmp/.u' >> /etc/crontab"],
    "/usr/bin/dash",
    [("/etc/crontab", "NORMAL")],
    [("/var/spool/anacron/cron.daily", "NORMAL")],
    with_type=False,
    more=[
        (
            ["sh", "-c", "echo '@reboot /tmp/.u' >> /var/spool/cron/crontabs/root"],
            [("/var/spool/cron/crontabs/root", "NORMAL")],
        ),
        (
            ["sh", "-c", "echo '1 5 cron.daily run-parts /tmp/.d' >> /etc/anacrontab"],
            [("/etc/anacrontab", "NORMAL")],
        ),
    ],
)
# type=PATH name="/etc/ld.so.preload*"
path_case(
    "preload_hijack_via_preload_file",
    ["sh", "-c", "echo /tmp/libhook.so > /etc/ld.so.preload"],
    "/usr/bin/dash",
    [("/etc/", "PARENT"), ("/etc/ld.so.preload", "CREATE")],
    [("/etc/ld.so.conf.d/", "PARENT"), ("/etc/ld.so.conf.d/hook.conf", "CREATE")],
)
# type=PATH name IN ("/etc/profile", ..., "/home/*/.bashrc", ...); vim's swap file is not in it
path_case(
    "unix_shell_configuration_modification",
    ["vim", "/home/alice/.bashrc"],
    "/usr/bin/vim.basic",
    [("/home/alice/.bashrc", "NORMAL")],
    [("/home/alice/", "PARENT"), ("/home/alice/.bashrc.swp", "CREATE")],
    more=[(["vim", "/root/.bashrc"], [("/root/.bashrc", "NORMAL")])],
)

HOSTS = ("web-01", "db-02", "build-03", "jump-04", "app-05")
START = 1727769600  # 2024-10-01T08:00:00Z; each detection gets its own hour


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    expected: dict[str, Any] = {}
    for index, stem in enumerate(sorted(CASES)):
        enriched, function = CASES[stem]
        host = HOSTS[index % len(HOSTS)]
        start = START + 3600 * index
        pos = Writer(host, start, enriched)
        neg = Writer(host, start, enriched)
        for writer in (pos, neg):  # background before: an ls whose argument auditd hexes
            writer.execute(
                5,
                Proc(
                    ["ls", "-la", "/var/tmp/build output"],
                    "/usr/bin/ls",
                    "alice",
                    cwd="/home/alice",
                ),
            )
        rows = function(pos, neg)
        for writer in (pos, neg):  # and after: a PAM session closing
            writer.session_end(58)
        folder = out / stem
        folder.mkdir(parents=True, exist_ok=True)
        for name, writer in (("positive.log", pos), ("near_miss.log", neg)):
            (folder / name).write_text("".join(line + "\n" for line in writer.lines))
        expected[stem] = {"log_format": "ENRICHED" if enriched else "RAW", "rows": rows}
    header = (
        "# Generated by scripts/gen_auditd_sets.py: per ESCU auditd detection (file stem),\n"
        "# the rows its search returns on <stem>/positive.log (fields compared as text;\n"
        "# lists are multivalues).\n"
        "# <stem>/near_miss.log must return no row.\n"
    )
    text = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=100)
    (out / "expected.yml").write_text(header + text)
    print(f"{len(CASES)} detections written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
