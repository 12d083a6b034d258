"""``escudo events -`` on a pipe held open prints rows before the pipe's end (a real process)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
HANG_GUARD = 30.0  # seconds: a guard against a hang, not a measure of speed


def test_events_stdin_rows_before_eof() -> None:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    cmd = [sys.executable, "-c", "from escudo.cli import run; run()", "events", "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"".join(lines[:10]))
        proc.stdin.flush()  # the pipe stays open
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(HANG_GUARD):
                pytest.fail("no row printed while stdin is open")
        first = json.loads(proc.stdout.readline())
        assert proc.poll() is None  # still running: the row came before the end of stdin
        proc.stdin.write(b"".join(lines[10:]))
        proc.stdin.close()
        rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert proc.wait(HANG_GUARD) == 0
    finally:
        proc.kill()
        proc.wait()
    assert first["_time"] == "2024-03-11T09:14:03.018000Z"
    assert 1 + len(rest) == 27
