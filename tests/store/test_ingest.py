"""``escudo ingest``: incremental (checkpoints per input), atomic (a kill -9 at any moment, then a
rerun, gives every event exactly once), and hunting the store equals hunting the raw files."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from escudo.cli import main
from escudo.content.loader import load_content
from escudo.detect.hunt import hunt, select_detections
from escudo.sources.base import ReadStats
from escudo.store.ingest import ingest
from escudo.store.layout import EVENTS, StoreLayout
from escudo.store.read import open_store

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
SEED = "Linux Ngrok Reverse Proxy Usage"
KILL_POINTS = ["after-stage", "after-intent", "mid-rename", "after-rename"]


def days_log(path: Path, days: int = 3, repeat: int = 1) -> Path:
    """The sample's events on ``days`` consecutive days (2024-03-11 on), ``repeat`` times each."""
    text = SAMPLE.read_text()
    with path.open("w") as out:
        for _ in range(repeat):
            for day in range(days):
                out.write(text.replace("2024-03-11", f"2024-03-{11 + day:02d}"))
    return path


def store_rows(store: Path) -> Counter[tuple[str, str]]:
    """Every committed event row of the store (data set, row as JSON), as a multiset."""
    layout = StoreLayout(store)
    rows: Counter[tuple[str, str]] = Counter()
    for dataset in layout.datasets(EVENTS):
        for _, folder in layout.partitions(EVENTS, dataset):
            for part in layout.files(folder):
                for row in pq.read_table(part).to_pylist():
                    rows[(dataset, json.dumps(row, default=str, sort_keys=True))] += 1
    return rows


def committed_files(store: Path) -> list[Path]:
    layout = StoreLayout(store)
    return [
        f
        for dataset in layout.datasets(EVENTS)
        for _, folder in layout.partitions(EVENTS, dataset)
        for f in layout.files(folder)
    ]


def test_ingest_twice_adds_nothing(tmp_path: Path) -> None:
    log = days_log(tmp_path / "a.log")
    first = ingest([log], tmp_path / "store")
    rows, files = store_rows(tmp_path / "store"), committed_files(tmp_path / "store")
    assert first.events == sum(rows.values()) == 3 * 37
    assert {d for d, _ in rows} == {
        "Endpoint.Processes", "Endpoint.Filesystem", "Network_Traffic.All_Traffic"
    }  # fmt: skip
    again = ingest([log, tmp_path], tmp_path / "store")  # the file again, and its folder
    assert again.events == 0
    assert store_rows(tmp_path / "store") == rows
    assert committed_files(tmp_path / "store") == files


def test_partitions_by_dataset_and_date(tmp_path: Path) -> None:
    ingest([days_log(tmp_path / "a.log")], tmp_path / "store")
    layout = StoreLayout(tmp_path / "store")
    days = [str(d) for d, _ in layout.partitions(EVENTS, "Endpoint.Processes")]
    assert days == ["2024-03-11", "2024-03-12", "2024-03-13"]
    for day, folder in layout.partitions(EVENTS, "Endpoint.Processes"):
        times = [r["_time"] for f in layout.files(folder) for r in pq.read_table(f).to_pylist()]
        assert times and {t.date() for t in times} == {day}


def test_grown_file_adds_only_new_events(tmp_path: Path) -> None:
    full = days_log(tmp_path / "full.log")
    data = full.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    log = tmp_path / "a.log"
    log.write_bytes(data[:cut] + b"<Event><Sys")  # a last line still being written: waits
    ingest([log], tmp_path / "store")
    log.write_bytes(data)
    ingest([log], tmp_path / "store")
    ingest([full], tmp_path / "oneshot")
    assert store_rows(tmp_path / "store") == store_rows(tmp_path / "oneshot")


def test_rotated_and_truncated_files_are_read_from_the_start(tmp_path: Path) -> None:
    day1 = days_log(tmp_path / "d1", days=1)
    log = tmp_path / "a.log"
    shutil.copy(day1, log)
    ingest([log], tmp_path / "store")
    # rotation: the file moves to a.log.1 and a new a.log starts (another inode)
    log.rename(tmp_path / "a.log.1")
    log.write_text(SAMPLE.read_text().replace("2024-03-11", "2024-03-12"))
    ingest([tmp_path / "a.log", tmp_path / "a.log.1"], tmp_path / "store")
    # truncation in place (copytruncate), then new lines: the same inode, shrunk
    with log.open("w") as f:
        f.write(SAMPLE.read_text().replace("2024-03-11", "2024-03-13")[:30000].rsplit("\n", 1)[0])
        f.write("\n")
    ingest([log], tmp_path / "store")
    expected = tmp_path / "expected.log"
    expected.write_text(
        day1.read_text() + SAMPLE.read_text().replace("2024-03-11", "2024-03-12") + log.read_text()
    )
    ingest([expected], tmp_path / "oneshot")
    assert store_rows(tmp_path / "store") == store_rows(tmp_path / "oneshot")


def test_gzip_is_read_once(tmp_path: Path) -> None:
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(days_log(tmp_path / "a.log").read_bytes()))
    assert ingest([gz], tmp_path / "store").events == 3 * 37
    assert ingest([gz], tmp_path / "store").events == 0
    assert sum(store_rows(tmp_path / "store").values()) == 3 * 37


def test_problem_lines_continue_from_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(SAMPLE.read_bytes())
    lines = SAMPLE.read_bytes().count(b"\n")
    ingest([log], tmp_path / "store")
    with log.open("ab") as f:
        f.write(b"Mar 11 09:00:00 h sysmon: <Event><System><EventID>1</EventID>broken\n")
    from escudo.sources.base import ReadStats

    stats = ReadStats()
    ingest([log], tmp_path / "store", stats=stats)
    assert stats.malformed == 1
    assert [p.line for p in stats.problems] == [lines + 1]


def _run_ingest(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    code = "import sys; from escudo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "ingest", *args],
        env={**os.environ, **(env or {})},
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_each_commit_step_then_rerun_gives_every_event_once(
    tmp_path: Path, point: str
) -> None:
    log = days_log(tmp_path / "a.log")
    store = tmp_path / "store"
    ingest([SAMPLE], store)  # a store with a first commit already
    proc = _run_ingest([str(log), "--store", str(store)], {"ESCUDO_TEST_KILL_AT": point})
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    open_store(store)  # what a hunt does first: finish a decided commit
    before = store_rows(store)
    assert before in (store_rows(_oneshot(tmp_path, [SAMPLE])), _expected(tmp_path, log))
    ingest([log], store)
    assert store_rows(store) == _expected(tmp_path, log)


def _oneshot(tmp_path: Path, paths: list[Path]) -> Path:
    out = tmp_path / f"oneshot-{len(paths)}"
    if not out.exists():
        ingest(paths, out)
    return out


def _expected(tmp_path: Path, log: Path) -> Counter[tuple[str, str]]:
    return store_rows(_oneshot(tmp_path, [SAMPLE, log]))


def test_kill_at_a_random_moment_of_a_larger_ingest(tmp_path: Path) -> None:
    logs = [days_log(tmp_path / f"{i}.log", days=3, repeat=20) for i in range(3)]
    store = tmp_path / "store"
    expected = store_rows(_oneshot(tmp_path, logs))
    rng = random.Random(11)
    for _ in range(3):
        proc = _run_ingest([*map(str, logs), "--store", str(store)])
        time.sleep(rng.uniform(0.0, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    code = main(["ingest", *map(str, logs), "--store", str(store)])
    assert code == 0
    assert store_rows(store) == expected


def test_hunting_the_store_equals_hunting_the_raw_files(tmp_path: Path) -> None:
    log = days_log(tmp_path / "a.log")
    ingest([log], tmp_path / "store")
    content = load_content()
    raw = hunt([log], content=content)
    stored = hunt([], content=content, events=tmp_path / "store")
    assert [r.detection.name for r in raw] == [r.detection.name for r in stored]
    assert SEED in [r.detection.name for r in raw]
    assert any(r.rows.num_rows for r in raw)
    for a, b in zip(raw, stored, strict=True):
        assert a.rows.to_pylist() == b.rows.to_pylist(), a.detection.name


@pytest.mark.parametrize(
    ("earliest", "latest", "files"),
    [("2024-03-12T09:15:00", "2024-03-13T00:00:00", 1), ("2024-03-13T09:15:30", None, 1),
     (None, "2024-03-11T09:15:30", 1), ("2024-03-14", None, 0)],
)  # fmt: skip
def test_windows_prune_partitions_and_clip_exactly(
    tmp_path: Path, earliest: str | None, latest: str | None, files: int
) -> None:
    from datetime import UTC, datetime

    from escudo.store.read import event_files

    def at(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)

    log = days_log(tmp_path / "a.log")
    ingest([log], tmp_path / "store")
    layout = StoreLayout(tmp_path / "store")
    found = event_files(layout, "Endpoint.Processes", at(earliest), at(latest))
    assert len(found) == files
    content = load_content()
    window: dict[str, Any] = {"earliest": at(earliest), "latest": at(latest)}
    raw = hunt([log], content=content, **window)
    stored = hunt([], content=content, events=tmp_path / "store", **window)
    for a, b in zip(raw, stored, strict=True):
        assert a.rows.to_pylist() == b.rows.to_pylist(), a.detection.name


def test_cli_hunt_over_the_store_prints_the_raw_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = days_log(tmp_path / "a.log")
    store = str(tmp_path / "store")
    assert main(["ingest", str(log), "--store", store]) == 0
    assert main(["ingest", str(log), "--store", store]) == 0
    capsys.readouterr()
    assert main(["hunt", str(log), "--detection", SEED, "--format", "jsonl"]) == 0
    raw = capsys.readouterr().out
    assert main(["hunt", "--store", store, "--detection", SEED, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == raw and raw.count("\n") >= 3
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.dest"
    assert main(["search", spl, str(log), "--format", "jsonl"]) == 0
    raw = capsys.readouterr().out
    assert main(["search", spl, "--store", store, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == raw and raw


def test_cli_without_path_or_store_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hunt", "--detection", SEED]) == 2
    assert "--store DIR" in capsys.readouterr().err


def test_hunting_a_directory_that_is_no_store_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("x\n")
    assert main(["hunt", "--store", str(tmp_path / "logs"), "--detection", SEED]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("escudo: error:") and "not an escudo store" in err[0]


def test_compact_merges_files_and_keeps_every_row(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for i in range(3):  # three commits of the same three days: three files per partition
        ingest([days_log(tmp_path / f"{i}.log")], store)
    rows, files = store_rows(store), committed_files(store)
    assert main(["store", "compact", "--store", str(store)]) == 0
    assert store_rows(store) == rows
    assert len(committed_files(store)) == len(files) // 3 == 9
    assert main(["ingest", str(tmp_path / "0.log"), "--store", str(store)]) == 0
    assert store_rows(store) == rows  # the checkpoints survive compaction


def test_prune_drops_the_days_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    ingest([days_log(tmp_path / "a.log")], store)
    rows = store_rows(store)
    assert main(["store", "prune", "--store", str(store), "--before", "2024-03-13"]) == 0
    kept = store_rows(store)
    assert kept and sum(kept.values()) == sum(rows.values()) // 3
    assert all('"_time": "2024-03-13' in row for _, row in kept)
    assert main(["store", "prune", "--store", str(store), "--before", "March"]) == 2
    assert capsys.readouterr().err.strip().endswith("not a date (YYYY-MM-DD): 'March'")


NGROK = (
    Path(__file__).parents[2] / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
)


def test_each_file_is_read_as_the_source_it_holds(tmp_path: Path) -> None:
    """ECS NDJSON and OCSF JSON next to Sysmon syslog: each file sniffed, as a hunt reads it."""
    from escudo.datamodels.normalize import read_dataset

    inputs = [SAMPLE, NGROK / "ngrok_linux-ecs.ndjson", NGROK / "ngrok_linux-ocsf.json"]
    store = tmp_path / "store"
    ingest(inputs, store)
    stored = store_rows(store)
    for dataset in ("Endpoint.Processes", "Network_Traffic.All_Traffic"):
        raw = Counter(
            (dataset, json.dumps(row, default=str, sort_keys=True))
            for batch in read_dataset(inputs, dataset)
            for row in batch.to_pylist()
        )
        assert sum(raw.values()) > 0
        assert Counter({k: n for k, n in stored.items() if k[0] == dataset}) == raw
    sourcetypes = {json.loads(row)["sourcetype"] for dataset, row in stored}
    assert sourcetypes == {"sysmon:linux", "ecs:json", "ocsf:json"}


def test_a_gzip_that_fails_part_way_is_read_again_from_where_it_stopped(tmp_path: Path) -> None:
    """A truncated .gz (still being written): what could be read is kept and checkpointed, the
    error reported; once whole, the next run adds only the rest (every event once)."""
    text = days_log(tmp_path / "a.log", days=3, repeat=20).read_bytes()
    whole = gzip.compress(text)
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(whole[: len(whole) // 2])
    store = tmp_path / "store"
    stats = ReadStats()
    first = ingest([gz], store, stats=stats).events
    assert 0 < first < 3 * 20 * 37
    assert [p.reason for p in stats.unreadable] == [
        "truncated gzip: the data ends before its end-of-stream marker"
    ]
    again = ReadStats()
    assert ingest([gz], store, stats=again).events == 0  # still cut: reported again, no rows
    assert len(again.unreadable) == 1
    gz.write_bytes(whole)  # the writer finished it (same inode, same first bytes)
    assert ingest([gz], store).events == 3 * 20 * 37 - first
    assert ingest([gz], store).events == 0
    ingest([tmp_path / "a.log"], tmp_path / "oneshot")
    assert store_rows(store) == store_rows(tmp_path / "oneshot")


def test_workers_over_byte_ranges_store_the_rows_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big files are read by worker processes over byte ranges: the same rows (each row group
    clustered, so not in the same order), problem lines numbered in the whole file."""
    import escudo.store.ingest as ingest_module

    log = days_log(tmp_path / "a.log", days=3, repeat=30)
    with log.open("a") as out:
        out.write("<Event><System><EventID>1</EventID></System>\n")  # malformed, at the end
    lines = log.read_bytes().count(b"\n")
    serial, parallel = ReadStats(), ReadStats()
    ingest([log], tmp_path / "serial", stats=serial, workers=1)
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 0)
    report = ingest([log], tmp_path / "parallel", stats=parallel, workers=2)
    assert report.worker_cpu > 0  # the ranges were read by the pool
    assert store_rows(tmp_path / "parallel") == store_rows(tmp_path / "serial")
    assert [(p.line, p.reason) for p in parallel.problems] == [
        (p.line, p.reason) for p in serial.problems
    ]
    assert [p.line for p in parallel.problems] == [lines]
    assert ingest([log], tmp_path / "parallel", workers=2).events == 0


AUDITD = (
    Path(__file__).parents[2] / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
)


@pytest.mark.parametrize(
    "name", ["ngrok_linux-auditd.log", "ngrok_linux-auditd-enriched.log", "ngrok_linux-auditd-syslog.log"]
)  # fmt: skip
@pytest.mark.parametrize("chunk", [8 << 20, 700])
def test_auditd_events_are_assembled_into_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk: int
) -> None:
    """auditd's events span records (SYSCALL, EXECVE, PROCTITLE...): an ingest assembles them as a
    hunt does, across chunk boundaries, so hunting the store equals hunting the log (it stored
    nothing before)."""
    import escudo.store.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "CHUNK_BYTES", chunk)
    log = AUDITD / name
    report = ingest([log], tmp_path / "store")
    assert report.rows.get("Endpoint.Processes", 0) > 0
    content = load_content()
    detections = select_detections(content, [SEED])
    raw = hunt([log], detections, content=content)
    stored = hunt([], detections, content=content, events=tmp_path / "store")
    assert raw[0].rows.num_rows > 0
    assert sorted(map(str, raw[0].rows.to_pylist())) == sorted(map(str, stored[0].rows.to_pylist()))
