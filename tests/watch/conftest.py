"""A real rsyslogd for the watch inputs' tests (Debian's rsyslog: scripts/ensure_rsyslog.sh, which
``make test`` runs, installs it when missing)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


@dataclass(frozen=True)
class Forward:
    """One omfwd action: ``protocol`` tcp or udp, ``template`` RFC 5424 or RFC 3164, ``framing``
    (TCP) octet-counted or traditional (newline)."""

    protocol: str
    port: int
    rfc: str = "5424"
    framing: str = "octet-counted"

    def action(self) -> str:
        template = (
            "RSYSLOG_SyslogProtocol23Format"
            if self.rfc == "5424"
            else "RSYSLOG_TraditionalForwardFormat"
        )
        framing = f' TCP_Framing="{self.framing}"' if self.protocol == "tcp" else ""
        return (
            f'action(type="omfwd" target="127.0.0.1" port="{self.port}" protocol="{self.protocol}"'
            f'{framing} template="{template}" action.resumeRetryCount="-1"'
            ' action.resumeInterval="1" queue.type="LinkedList")'
        )


@dataclass(frozen=True)
class Rsyslogd:
    """A running rsyslogd: messages sent to ``socket`` (imuxsock, as ``logger -u``) are forwarded."""

    process: subprocess.Popen[bytes]
    socket: Path
    folder: Path

    def log(self, message: str, tag: str = "sysmon") -> None:
        subprocess.run(
            [
                "logger",
                "--socket-errors=on",
                "--size",
                "65536",
                "-u",
                str(self.socket),
                "-t",
                tag,
                "--",
                message,
            ],
            check=True,
        )


@pytest.fixture
def rsyslogd(tmp_path: Path) -> Iterator[Callable[..., Rsyslogd]]:
    """``rsyslogd(protocol, port, rfc, framing)`` starts a real rsyslogd (no privileged port, its
    own pid file and work folder, in the foreground) that forwards what its own imuxsock socket
    receives (:meth:`Rsyslogd.log`) as :class:`Forward` says; stopped at the end."""
    if not os.path.exists(RSYSLOGD) or shutil.which("logger") is None:
        pytest.skip("rsyslogd (Debian's rsyslog) or logger missing: run scripts/ensure_rsyslog.sh")
    started: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []

    def start(
        protocol: str, port: int, rfc: str = "5424", framing: str = "octet-counted"
    ) -> Rsyslogd:
        forwards = [Forward(protocol, port, rfc, framing)]
        folder = tmp_path / f"rsyslog-{len(started)}"
        (folder / "work").mkdir(parents=True)
        sock = folder / "log.sock"
        conf = folder / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{folder / "work"}" maxMessageSize="64k")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{sock}" RateLimit.Interval="0")\n'
            + "\n".join(f.action() for f in forwards)
            + "\n"
        )
        logs.append(open(folder / "stderr", "wb"))  # noqa: SIM115 - closed at the end
        process = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(folder / "rsyslogd.pid")],
            stdout=subprocess.DEVNULL,
            stderr=logs[-1],
        )
        started.append(process)
        deadline = time.monotonic() + 30
        while not sock.exists():  # rsyslogd creates its socket once its configuration is read
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"rsyslogd did not start: {(folder / 'stderr').read_text()}")
            time.sleep(0.05)
        return Rsyslogd(process, sock, folder)

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for log in logs:
        log.close()
