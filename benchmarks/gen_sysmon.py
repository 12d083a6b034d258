"""Write realistic synthetic Sysmon for Linux logs, streaming to disk.

    python benchmarks/gen_sysmon.py N OUT [--shape syslog|xml] [--seed S]

Events follow the layout SysmonForLinux writes (libxml2 xmlTextWriter in ``outputxml.c``: fixed
System block, Data fields in manifest order, text escaped as ``&amp; &lt; &gt; &quot; &#13;``;
see ../shared/reference/linux-telemetry.md 1.1-1.5). About 80% are EventID 1 with varied command
lines, the rest 3, 5, 11 and 23; about 1 in 5,000 process creations is ngrok. ``syslog`` lines
carry the rsyslog traditional header; ``xml`` lines are bare (Splunk attack data shape).
1,000,000 events are about 1.5 GB.

The module's ``format_event`` is also used to author test fixtures and the bundled sample.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta

PROVIDER = '<Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
VERSION = {1: 5, 3: 5, 4: 3, 5: 3, 9: 2, 10: 3, 11: 2, 16: 3, 23: 5, 255: 3}


def escape(text: str) -> str:
    """Escape element text as libxml2's xmlTextWriterWriteString does (linux-telemetry.md 1.3)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def format_event(
    eventid: int,
    data: list[tuple[str, str]],
    *,
    computer: str,
    time: datetime,
    record_id: int,
    sysmon_pid: int = 1465,
) -> str:
    """One event as the single-line XML Sysmon for Linux writes."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"  # 9 digits, last 3 always 000
    body = "".join(f'<Data Name="{k}">{escape(v)}</Data>' for k, v in data)
    return (
        f"<Event><System>{PROVIDER}<EventID>{eventid}</EventID><Version>{VERSION[eventid]}</Version>"
        f"<Level>4</Level><Task>{eventid}</Task><Opcode>0</Opcode>"
        f'<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="{stamp}"/>'
        f"<EventRecordID>{record_id}</EventRecordID><Correlation/>"
        f'<Execution ProcessID="{sysmon_pid}" ThreadID="{sysmon_pid}"/>'
        f"<Channel>Linux-Sysmon/Operational</Channel><Computer>{escape(computer)}</Computer>"
        f'<Security UserId="0"/></System><EventData>{body}</EventData></Event>'
    )


def syslog_line(host: str, time: datetime, xml: str) -> str:
    """The rsyslog traditional-format line (``%b %e %H:%M:%S``, day space-padded)."""
    return f"{time.strftime('%b')} {time.day:2d} {time.strftime('%H:%M:%S')} {host} sysmon: {xml}"


def utc_time(time: datetime) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S.") + f"{time.microsecond // 1000:03d}"


def process_guid(host_id: str, start: datetime, rng: random.Random) -> str:
    # First group: per-host constant; then the start time in seconds, low 16 bits first.
    secs = int(start.timestamp())
    return f"{{{host_id}-{secs & 0xFFFF:04x}-{secs >> 16:04x}-{rng.getrandbits(16):04x}-{rng.getrandbits(24):06x}550000}}"


def logon_guid(host_id: str, boot: datetime, uid: int) -> str:
    secs = int(boot.timestamp())
    le = f"{uid & 0xFF:02x}{(uid >> 8) & 0xFF:02x}"
    return f"{{{host_id}-{secs & 0xFFFF:04x}-{secs >> 16:04x}-{le}-000000000000}}"


USERS = (("root", 0), ("ubuntu", 1000), ("deploy", 1001), ("www-data", 33))
COMMANDS = (
    ("/usr/bin/ls", "ls -la {d}"),
    ("/usr/bin/cat", "cat {d}/config.yml"),
    ("/usr/bin/grep", "grep -r --include=*.py TODO {d}"),
    ("/usr/bin/ps", "ps aux"),
    ("/usr/bin/systemctl", "systemctl status nginx.service --no-pager"),
    ("/usr/bin/curl", "curl -s -o /dev/null -w %{{http_code}} http://127.0.0.1:{p}/healthz"),
    ("/usr/bin/git", "git -C {d} pull --ff-only origin main"),
    ("/usr/bin/python3.10", "python3 {d}/manage.py migrate --noinput"),
    ("/usr/bin/find", "find {d} -name *.log -mtime +7 -delete"),
    ("/usr/bin/tar", "tar -czf /var/backups/app-{n}.tar.gz {d}"),
    ("/usr/bin/awk", "awk -F: '$3 >= 1000 {{print $1}}' /etc/passwd"),
    ("/usr/bin/sed", 's/"debug": true/"debug": false/ -i {d}/settings.json'),
    ("/usr/bin/dash", "sh -c echo $(date) >> /var/log/app/cron.log"),
    ("/usr/bin/apt-get", "apt-get -qq update"),
    ("/usr/sbin/sshd", "sshd: ubuntu [priv]"),
    ("/usr/bin/sudo", "sudo -n /usr/bin/systemctl restart app-{n}.service"),
)
DIRS = ("/opt/app", "/srv/www", "/home/ubuntu/src/api", "/var/lib/jenkins/workspace/build-42")
NGROK = (
    "ngrok authtoken 2Fq8HxYbQ9LkPz3mWvT7rJ5nDcE_6aUsGhKpXoN1yB4iZ",
    "ngrok tcp 22 --log=stdout",
    "ngrok http 8080 --region eu",
    "ngrok service install --config /etc/ngrok.yml",
)


class Generator:
    """A stream of plausible events over a few hosts, deterministic for a seed."""

    def __init__(self, seed: int, hosts: int = 4) -> None:
        self.rng = random.Random(seed)
        self.hosts = [
            (f"ip-172-31-{10 + i}-{20 + 7 * i}", f"{self.rng.getrandbits(32):08x}")
            for i in range(hosts)
        ]
        self.time = datetime(2024, 3, 11, 8, 0, 0, tzinfo=UTC)
        self.boot = self.time - timedelta(days=3)
        self.record = 100_000
        self.pid = 2000

    def next(self) -> tuple[str, datetime, str]:
        """(host, time, xml) of the next event."""
        rng = self.rng
        self.time += timedelta(microseconds=rng.randrange(1_000, 40_000))
        self.record += 1
        self.pid = 2000 + (self.pid - 1999 + rng.randrange(1, 9)) % 4_000_000
        host, host_id = rng.choice(self.hosts)
        user, uid = rng.choice(USERS)
        start = self.time - timedelta(milliseconds=rng.randrange(0, 5))
        guid = process_guid(host_id, start, rng)
        roll = rng.random()
        image, command = rng.choice(COMMANDS)
        if roll < 0.0002:
            image, command = "/tmp/ngrok", rng.choice(NGROK)
        command = command.format(
            d=rng.choice(DIRS), p=rng.choice((80, 8000, 8080)), n=rng.randrange(1, 99)
        )
        common = [
            ("RuleName", "-"),
            ("UtcTime", utc_time(start)),
            ("ProcessGuid", guid),
            ("ProcessId", str(self.pid)),
        ]
        if roll < 0.80:
            eid = 1
            data = [
                *common,
                ("Image", image),
                ("FileVersion", "-"),
                ("Description", "-"),
                ("Product", "-"),
                ("Company", "-"),
                ("OriginalFileName", "-"),
                ("CommandLine", command),
                ("CurrentDirectory", rng.choice(DIRS)),
                ("User", user),
                ("LogonGuid", logon_guid(host_id, self.boot, uid)),
                ("LogonId", str(uid)),
                ("TerminalSessionId", str(rng.choice((1, 3, 13, 4294967295)))),
                ("IntegrityLevel", "no level"),
                ("Hashes", "-"),
                ("ParentProcessGuid", process_guid(host_id, self.boot, rng)),
                ("ParentProcessId", str(self.pid - rng.randrange(1, 50))),
                ("ParentImage", "/usr/bin/bash"),
                ("ParentCommandLine", "-bash"),
                ("ParentUser", user),
            ]
        elif roll < 0.88:
            eid = 3
            data = [
                *common,
                ("Image", image),
                ("User", user),
                ("Protocol", "tcp"),
                ("Initiated", "true"),
                ("SourceIsIpv6", "false"),
                ("SourceIp", "172.31.10.20"),
                ("SourceHostname", "-"),
                ("SourcePort", str(rng.randrange(32768, 60999))),
                ("SourcePortName", "-"),
                ("DestinationIsIpv6", "false"),
                ("DestinationIp", f"52.{rng.randrange(256)}.{rng.randrange(256)}.7"),
                ("DestinationHostname", "-"),
                ("DestinationPort", "443"),
                ("DestinationPortName", "-"),
            ]
        elif roll < 0.94:
            eid = 5
            data = [*common, ("Image", image), ("User", user)]
        elif roll < 0.98:
            eid = 11
            target = f"{rng.choice(DIRS)}/cache/{rng.getrandbits(40):010x}.tmp"
            data = [
                *common,
                ("Image", image),
                ("TargetFilename", target),
                ("CreationUtcTime", utc_time(start)),
                ("User", user),
            ]
        else:
            eid = 23
            target = f"/tmp/tmp{rng.getrandbits(32):08x}"
            data = [*common, ("User", user), ("Image", image), ("TargetFilename", target), ("Hashes", "-"),
                    ("IsExecutable", "-"), ("Archived", "-")]  # fmt: skip
        return (
            host,
            self.time,
            format_event(eid, data, computer=host, time=self.time, record_id=self.record),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--shape", choices=("syslog", "xml"), default="syslog")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    gen = Generator(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        lines = []
        for i in range(args.count):
            host, time, xml = gen.next()
            lines.append(syslog_line(host, time, xml) if args.shape == "syslog" else xml)
            if len(lines) == 10_000 or i == args.count - 1:
                out.write("\n".join(lines) + "\n")
                lines.clear()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
