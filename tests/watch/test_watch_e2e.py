"""``escudo watch`` as a real process: a file appended in parts, rotated by rename, the watcher
killed with SIGKILL and restarted between parts; per result key the sum of ``count`` over every
row it wrote equals what one ``escudo hunt`` over the whole log computes."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from watch_helpers import (
    ESCUDO,
    HANG_GUARD,
    NGROK,
    append,
    committed,
    counts,
    log_part,
    read_jsonl,
    started,
    wait_for,
)


def hunt_counts(whole: Path) -> object:
    done = subprocess.run(
        [*ESCUDO, "hunt", str(whole), "--detection", NGROK, "--format", "jsonl"],
        capture_output=True,
        check=True,
    )
    return counts([json.loads(line) for line in done.stdout.splitlines()])


@pytest.mark.parametrize("seed", [13, 29])
def test_kill_9_and_rotation_lose_and_repeat_nothing(tmp_path: Path, seed: int) -> None:
    log, state, out = tmp_path / "app.log", tmp_path / "state", tmp_path / "alerts.jsonl"
    cmd = [
        *ESCUDO, "watch", str(log), "--detection", NGROK, "--state", str(state),
        "--output", str(out), "--format", "jsonl", "--interval", "0.2",
    ]  # fmt: skip
    rng = random.Random(seed)
    parts: list[bytes] = []
    log.write_bytes(b"")
    proc = started(cmd)
    try:
        for index in range(6):
            part = log_part(index)
            parts.append(part)
            if index == 3:  # rotation by rename; the new file starts with the next part
                log.rename(f"{log}.1")
                log.write_bytes(b"")
            cut = rng.randrange(1, len(part))  # a part may arrive in two writes
            append(log, part[: part.rfind(b"\n", 0, cut) + 1])
            append(log, part[part.rfind(b"\n", 0, cut) + 1 :])
            if index == 0:  # followed from its start: a rotation later must not lose it
                wait_for(lambda: committed(state) >= 1, "the first batch")
            if index % 2 == 1:  # kill -9 at some moment of a batch, then restart
                time.sleep(rng.uniform(0.0, 1.0))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = started(cmd)
        whole = tmp_path / "whole.log"
        whole.write_bytes(b"".join(parts))
        expected = hunt_counts(whole)
        wait_for(
            lambda: counts(read_jsonl(out)) == expected,
            "every part's alerts",
            lambda: (
                f"{counts(read_jsonl(out)) - expected} {expected - counts(read_jsonl(out))} "
                f"{(state / 'commit.json').read_text()} {os.listdir(state)}"
            ),
        )
        settled = committed(state)
        wait_for(lambda: committed(state) >= settled, "the last commit")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert counts(read_jsonl(out)) == expected  # nothing repeated after the stop either
    assert not (state / "batch").exists()
    assert os.path.exists(f"{log}.1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spooled_lines(state: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in state.glob("syslog/*/syslog-*.spool"))


def test_through_rsyslogd_kill_9_loses_and_repeats_nothing(
    tmp_path: Path, rsyslogd: Callable[..., Any]
) -> None:
    """rsyslogd forwards Sysmon events (RFC 5424, octet-counted TCP) to the watcher's receiver;
    the watcher is killed with SIGKILL after parts it has received, at some moment of its
    batches; per result key the counts equal one hunt over the events."""
    state, out = tmp_path / "state", tmp_path / "alerts.jsonl"
    port = free_port()
    cmd = [
        *ESCUDO, "watch", "--listen", f"tcp://127.0.0.1:{port}", "--detection", NGROK,
        "--state", str(state), "--output", str(out), "--interval", "0.2",
    ]  # fmt: skip
    rng = random.Random(5)
    proc = started(cmd)
    daemon = rsyslogd("tcp", port, "5424", "octet-counted")
    sent: list[bytes] = []
    try:
        for index in range(4):
            lines = log_part(index).splitlines(keepends=True)
            events = [line for line in lines if b"<Event>" in line]
            for line in events:
                daemon.log(line.split(b" sysmon: ", 1)[1].decode().rstrip("\n"))
            sent += events
            # Received (one spool segment here: none is removed) before the kill: what rsyslogd
            # wrote to a socket the kill closes is lost in transit (plain TCP syslog, no RELP).
            total = len(sent)
            wait_for(lambda: spooled_lines(state) >= total, "the part's messages")  # noqa: B023
            if index % 2 == 0:
                time.sleep(rng.uniform(0.0, 1.0))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = started(cmd)
        whole = tmp_path / "whole.log"
        whole.write_bytes(b"".join(sent))
        expected = hunt_counts(whole)
        wait_for(lambda: counts(read_jsonl(out)) == expected, "every part's alerts")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert counts(read_jsonl(out)) == expected
