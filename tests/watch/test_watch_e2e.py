"""``escudo watch`` as a real process: a file appended in parts, rotated by rename, the watcher
killed with SIGKILL and restarted between parts; per result key the sum of ``count`` over every
row it wrote equals what one ``escudo hunt`` over the whole log computes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

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

pytest.importorskip("escudo.watch.files")  # the file follower (branch follow)


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
        wait_for(lambda: counts(read_jsonl(out)) == expected, "every part's alerts")
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
