"""The batch loop: micro-batches by arrival, commits, and a batch repeated after a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from watch_helpers import NGROK, TailFile, counts, log_part, read_jsonl

from escudo._session import HuntRun, Session
from escudo.outputs import OutputOptions
from escudo.watch.loop import Runner, WatchLoop
from escudo.watch.outputs import FileOutput
from escudo.watch.state import StateDir


def runner() -> Runner:
    return Runner(lambda: Session(detections=[NGROK]))


def batch_hunt(log: Path) -> Any:
    run = Session(detections=[NGROK]).hunt([log])
    return counts(run.emitted()["results"])


class Crash(Exception):
    pass


class CrashingOutput(FileOutput):
    """Writes its rows, then fails before the commit, as a process killed there would."""

    crash = True

    def deliver(self, batch: int, run: HuntRun) -> None:
        super().deliver(batch, run)
        if self.crash:
            raise Crash


def test_each_batch_reads_what_arrived_since_the_last(tmp_path: Path) -> None:
    log, out = tmp_path / "app.log", tmp_path / "alerts.jsonl"
    log.write_bytes(log_part(0))
    output = FileOutput(out, "jsonl", "results", OutputOptions())
    loop = WatchLoop([TailFile(log)], runner(), [output], StateDir(tmp_path / "state"))
    loop.start()
    assert loop.step()
    assert not loop.step()  # nothing new: no batch
    with open(log, "ab") as fh:
        fh.write(log_part(3))
    assert loop.step()
    loop.close()
    rows = read_jsonl(out)
    assert {r["detection"] for r in rows} == {NGROK}
    assert all(r["count"] == 1 for r in rows)  # each batch counted its own lines only
    assert counts(rows) == batch_hunt(log)
    assert StateDir(tmp_path / "state").committed().batch == 2


def test_a_batch_interrupted_after_writing_is_repeated_exactly_once(tmp_path: Path) -> None:
    log, out, state = tmp_path / "app.log", tmp_path / "alerts.jsonl", tmp_path / "state"
    log.write_bytes(log_part(0))
    first = WatchLoop(
        [TailFile(log)], runner(), [FileOutput(out, "jsonl", "results", OutputOptions())],
        StateDir(state),
    )  # fmt: skip
    first.start()
    first.step()
    with open(log, "ab") as fh:
        fh.write(log_part(1))
    crashing = CrashingOutput(out, "jsonl", "results", OutputOptions())
    first.outputs = [crashing]
    with pytest.raises(Crash):
        first.step()
    first.close()
    written = len(read_jsonl(out))
    with open(log, "ab") as fh:  # more lines arrive while it is down
        fh.write(log_part(2))
    second = WatchLoop(
        [TailFile(log)], runner(), [FileOutput(out, "jsonl", "results", OutputOptions())],
        StateDir(state),
    )  # fmt: skip
    second.start()
    assert len(read_jsonl(out)) < written  # the uncommitted rows were cut back
    assert second.step()  # the open batch, from its spooled lines
    assert second.step()  # then what arrived meanwhile
    second.close()
    assert counts(read_jsonl(out)) == batch_hunt(log)


def test_a_rotated_file_is_read_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log, out = tmp_path / "app.log", tmp_path / "alerts.jsonl"
    log.write_bytes(log_part(0))
    output = FileOutput(out, "jsonl", "results", OutputOptions())
    loop = WatchLoop([TailFile(log)], runner(), [output], StateDir(tmp_path / "state"))
    loop.start()
    loop.step()
    with open(log, "ab") as fh:
        fh.write(log_part(1))
    log.rename(f"{log}.1")
    log.write_bytes(log_part(2))
    while loop.step():
        pass
    loop.close()
    whole = tmp_path / "whole.log"
    whole.write_bytes(log_part(0) + log_part(1) + log_part(2))
    assert counts(read_jsonl(out)) == batch_hunt(whole)


def test_status_counts_every_event_a_batch_read(tmp_path: Path) -> None:
    """The status's events are every event read, also those the seed's raw-text prefilter dropped
    (it counted only the extracted ones: a busy watcher looked idle)."""
    from escudo.datamodels.normalize import read_dataset
    from escudo.sources.base import ReadStats

    log = tmp_path / "app.log"
    log.write_bytes(log_part(0))
    everything = ReadStats()
    for _ in read_dataset([log], "raw", sourcetype="sysmon:linux", stats=everything):
        pass
    loop = WatchLoop([TailFile(log)], runner(), [], StateDir(tmp_path / "state"))
    loop.start()
    assert loop.step()
    loop.close()
    assert everything.events > 10
    assert loop.status.events == everything.events
