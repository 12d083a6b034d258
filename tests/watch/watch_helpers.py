"""Helpers for the ``escudo watch`` tests: log parts built from the bundled sample, and a minimal
file input implementing the ``WatchInput`` protocol (``escudo.watch.base``) with rotation by
rename, so the loop is tested without the real followers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from escudo.watch.base import Checkpoint, Piece

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
NGROK = "Linux Ngrok Reverse Proxy Usage"
ESCUDO = [sys.executable, "-c", "from escudo.cli import run; run()"]
HANG_GUARD = 60.0  # seconds: a guard against a hang, not a measure of speed


def committed(state: Path) -> int:
    try:
        return int(json.loads((state / "commit.json").read_text())["batch"])
    except (FileNotFoundError, ValueError):
        return 0


def wait_for(condition: Callable[[], bool], what: str, detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what} {detail()}")
        time.sleep(0.05)


def started(cmd: list[str]) -> subprocess.Popen[bytes]:
    """The watcher, once it says it is watching (its state restored)."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert b"watching" in line, line
    return proc


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def log_part(index: int) -> bytes:
    """The bundled sample with its host renamed ``web-<index % 3>``: parts share result keys, so
    a key's count sums over parts (and over the batches that read them). A first line naming the
    part keeps the first bytes of files started with different parts apart, as real logs' times
    do (followers tell a file from a copy of it by its first bytes)."""
    text = SAMPLE.read_text()
    first = f"Mar 11 09:14:01 web-{index % 3} escudo-test[1]: part {index}\n"
    return (first + text.replace("web-01", f"web-{index % 3}")).encode()


def counts(rows: list[dict[str, Any]]) -> Counter[tuple[str, ...]]:
    """The sum of ``count`` per result key (the detection and every field but count and times)."""
    total: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        key = tuple(
            f"{k}={row[k]}" for k in sorted(row) if k not in ("count", "firstTime", "lastTime")
        )
        total[key] += int(row["count"])
    return total


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


class TailFile:
    """Follows one path like ``tail -F`` (rotation by rename to ``<path>.1`` only)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.inode: int | None = None
        self.offset = 0

    def restore(self, state: Checkpoint | None) -> None:
        if state is not None:
            self.inode, self.offset = int(str(state["inode"])), int(str(state["offset"]))

    def _current(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _file_of(self, inode: int) -> Path | None:
        for candidate in (self.path, Path(f"{self.path}.1")):
            try:
                if os.stat(candidate).st_ino == inode:
                    return candidate
            except FileNotFoundError:
                continue
        return None

    def poll(self, max_bytes: int) -> list[Piece]:
        if self.inode is None:
            self.inode, self.offset = self._current(), 0
            if self.inode is None:
                return []
        where = self._file_of(self.inode)
        data = b""
        if where is not None:
            with open(where, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(max_bytes)
            data = data[: data.rfind(b"\n") + 1]
        if data:
            self.offset += len(data)
            return [Piece(self.name, str(self.path), data)]
        current = self._current()
        if current is not None and current != self.inode:  # rotated and read to its end
            self.inode, self.offset = current, 0
            return self.poll(max_bytes)
        return []

    def checkpoint(self) -> Checkpoint:
        return {"inode": self.inode, "offset": self.offset}

    def close(self) -> None:
        pass
