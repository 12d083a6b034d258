"""Build Linux audit record lines for tests, independently of escudo's own code.

The kernel's encoding (kernel/audit.c audit_string_contains_control, linux-telemetry.md 3.1): a
value holding ``"``, a byte below 0x21 or above 0x7e is written as upper-case hex, else quoted;
PROCTITLE is argv joined by NUL bytes (so hex as soon as there are two arguments); an argument
longer than ``piece`` bytes is written as ``aN_len=`` and ``aN[i]=`` pieces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def encode(text: str) -> str:
    data = text.encode()
    if any(b == 0x22 or b < 0x21 or b > 0x7E for b in data):
        return data.hex().upper()
    return f'"{text}"'


@dataclass
class Exec:
    serial: int
    seconds: float
    pid: int
    ppid: int
    exe: str
    argv: list[str]
    cwd: str = "/root"
    uid: int = 0
    user: str | None = None  # ENRICHED UID="name" when set
    node: str | None = None


def exec_records(e: Exec, piece: int = 7500) -> list[str]:
    head = f"{'node=' + e.node + ' ' if e.node else ''}"
    stamp = f"msg=audit({e.seconds:.3f}:{e.serial}):"
    syscall = (
        f"{head}type=SYSCALL {stamp} arch=c000003e syscall=59 success=yes exit=0 a0=5 a1=6 a2=7 "
        f"a3=0 items=2 ppid={e.ppid} pid={e.pid} auid=1000 uid={e.uid} gid={e.uid} euid={e.uid} "
        f"suid={e.uid} fsuid={e.uid} egid={e.uid} sgid={e.uid} fsgid={e.uid} tty=pts0 ses=3 "
        f"comm={encode(e.exe.rsplit('/', 1)[-1][:15])} exe={encode(e.exe)} key=(null)"
    )
    if e.user is not None:
        syscall += f'\x1dARCH=x86_64 SYSCALL=execve UID="{e.user}" AUID="alice"'
    args = [f"argc={len(e.argv)}"]
    extra: list[str] = []
    for i, arg in enumerate(e.argv):
        data = arg.encode()
        if len(data) <= piece:
            args.append(f"a{i}={encode(arg)}")
            continue
        args.append(f"a{i}_len={len(data)}")
        for n, start in enumerate(range(0, len(data), piece)):
            chunk = data[start : start + piece].hex().upper()
            (args if n == 0 else extra).append(f"a{i}[{n}]={chunk}")
    records = [syscall, f"{head}type=EXECVE {stamp} " + " ".join(args)]
    records += [f"{head}type=EXECVE {stamp} {x}" for x in extra]
    records.append(f"{head}type=CWD {stamp} cwd={encode(e.cwd)}")
    records.append(
        f"{head}type=PATH {stamp} item=0 name={encode(e.exe)} inode=1 dev=fd:01 mode=0100755 "
        "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0"
    )
    title = "\0".join(e.argv).encode()[:128]
    records.append(f"{head}type=PROCTITLE {stamp} proctitle={title.hex().upper()}")
    return records


def interleave(events: list[list[str]], rng: random.Random, width: int = 3) -> list[str]:
    """The records of consecutive events mixed (each event's own order kept), as concurrent
    system calls interleave in audit.log."""
    out: list[str] = []
    queue = [list(e) for e in events]
    live: list[list[str]] = []
    while queue or live:
        while queue and len(live) < width:
            live.append(queue.pop(0))
        pick = rng.randrange(len(live))
        out.append(live[pick].pop(0))
        if not live[pick]:
            live.pop(pick)
    return out


def tree(count: int, seed: int = 7, node: str | None = None) -> list[Exec]:
    """``count`` exec events: shells starting tools, some ngrok, pids reused now and then."""
    rng = random.Random(seed)
    tools = [
        ("/usr/bin/ls", ["ls", "-la", "/srv/my files"]),
        ("/usr/bin/curl", ["curl", "-s", "https://example.org/a b"]),
        ("/tmp/ngrok", ["./ngrok", "tcp", "22"]),
        ("/usr/local/bin/ngrok", ["ngrok", "http", "8080", "--config", "/etc/ngrok.yml"]),
        ("/usr/bin/python3", ["python3", "-c", 'print("x" * 3)']),
        ("/usr/bin/bash", ["bash", "-c", "echo " + "y" * 9000]),
    ]
    out = []
    shells: list[int] = []
    for i in range(count):
        if not shells or rng.random() < 0.2:
            pid = 1000 + rng.randrange(60)  # reused pids: the latest exec wins
            out.append(Exec(100 + i, 1791971700 + i * 0.25, pid, 1, "/usr/bin/bash", ["bash"],
                            node=node, user="root" if i % 2 else None))  # fmt: skip
            shells.append(pid)
            continue
        exe, argv = tools[rng.randrange(len(tools))]
        parent = rng.choice(shells)
        out.append(Exec(100 + i, 1791971700 + i * 0.25, 5000 + i, parent, exe, argv,
                        cwd="/home/a b" if i % 3 else "/tmp", uid=1000, node=node))  # fmt: skip
    return out
