"""An auditd log read while auditd writes it: ``escudo ingest`` checkpoints between events, so an
event whose records straddle the end of one run is stored whole by the next (it was two partial
events before: the second run read its later records alone)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from escudo.store.ingest import ingest, read_checkpoints
from escudo.store.layout import EVENTS, StoreLayout

NGROK = (
    Path(__file__).parents[2] / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
)
SHAPES = [
    "ngrok_linux-auditd.log",
    "ngrok_linux-auditd-enriched.log",
    "ngrok_linux-auditd-syslog.log",
]


def store_rows(store: Path) -> Counter[str]:
    layout = StoreLayout(store)
    rows: Counter[str] = Counter()
    for folder in layout.partition_folders(EVENTS):
        for part in layout.files(folder):
            for row in pq.read_table(part).to_pylist():
                rows[json.dumps(row, default=str, sort_keys=True)] += 1
    return rows


def cut_after(lines: list[bytes], kind: bytes, nth: int) -> int:
    """The index just after the ``nth`` line holding a record of type ``kind``."""
    found = [i for i, line in enumerate(lines) if b"type=" + kind + b" " in line]
    return found[nth] + 1


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", [b"SYSCALL", b"EXECVE", b"PATH"])
def test_an_event_cut_by_the_end_of_a_run_is_stored_whole(
    tmp_path: Path, shape: str, kind: bytes
) -> None:
    lines = (NGROK / shape).read_bytes().splitlines(keepends=True)
    whole = tmp_path / "whole.log"
    whole.write_bytes(b"".join(lines))
    ingest([whole], tmp_path / "oneshot")
    log = tmp_path / "audit.log"
    cut = cut_after(lines, kind, 40)  # in the middle of an exec event: its PROCTITLE not written
    log.write_bytes(b"".join(lines[:cut]))
    first = ingest([log], tmp_path / "store")
    (entry,) = read_checkpoints(StoreLayout(tmp_path / "store"))["inputs"].values()
    assert entry["offset"] < log.stat().st_size  # the event being written waits
    with log.open("ab") as f:
        f.write(b"".join(lines[cut:]))
    second = ingest([log], tmp_path / "store")
    assert first.events and second.events
    assert store_rows(tmp_path / "store") == store_rows(tmp_path / "oneshot")
