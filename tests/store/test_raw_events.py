"""Raw events in the store: ``escudo ingest --raw-events`` keeps them by sourcetype and date, and
raw searches (``sourcetype=linux:audit ...``) over the store return the rows they return over the
log files (docs/semantics.md "Raw events in the store")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from escudo.cli import main
from escudo.content.loader import load_content
from escudo.datamodels.normalize import read_dataset
from escudo.detect.hunt import search
from escudo.sources.base import RAW_EVENTS
from escudo.store.ingest import ingest
from escudo.store.layout import RAW, StoreLayout
from escudo.store.read import open_store, raw_event_files

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
NGROK = ROOT / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
AUDITD = sorted(NGROK.glob("*auditd*.log"))  # raw, ENRICHED, syslog; attack and benign
EXECVE = (
    'sourcetype="linux:audit" type=EXECVE | eval relevant_fields=if(type="EXECVE", "", '
    'relevant_fields) | foreach a* [eval relevant_fields=if(type="EXECVE", '
    "mvappend(relevant_fields, '<<FIELD>>'), relevant_fields)] "
    '| eval process_exec=if(type="EXECVE", trim(mvjoin(relevant_fields, " ")), process_exec)'
)
SEARCHES = [
    f"{EXECVE} | stats count by argc process_exec host",
    "sourcetype=linux:audit type=SYSCALL ngrok | stats count values(pid) as pid by comm exe host",
    "sourcetype=linux:audit type=EXECVE ngrok | table _time host source sourcetype index _raw",
    "index=main ngrok | stats count by sourcetype host",
    "sourcetype=sysmon:linux EventID=1 | stats count by Image CommandLine host",
]
KILL_POINTS = ["after-stage", "after-intent", "mid-rename", "after-rename"]


def days_log(path: Path, days: int = 3) -> Path:
    """The Sysmon sample's events on ``days`` consecutive days (2024-03-11 on)."""
    text = SAMPLE.read_text()
    path.write_text(
        "".join(text.replace("2024-03-11", f"2024-03-{11 + d:02d}") for d in range(days))
    )
    return path


def raw_rows(store: Path) -> Counter[str]:
    """Every committed raw event of the store (as JSON), as a multiset."""
    layout = StoreLayout(store)
    rows: Counter[str] = Counter()
    for folder in layout.partition_folders(RAW):
        for part in layout.files(folder):
            for row in pq.read_table(part).to_pylist():
                rows[json.dumps(row, default=str, sort_keys=True)] += 1
    return rows


def file_rows(paths: list[Path]) -> Counter[str]:
    """The raw events a raw hunt reads from ``paths`` (as JSON), as a multiset."""
    table = pa.Table.from_batches(list(read_dataset(paths, RAW_EVENTS)))
    return Counter(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


def rows_of(table: pa.Table) -> list[str]:
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


def test_ingest_keeps_the_raw_events_by_sourcetype_and_date(tmp_path: Path) -> None:
    logs = [days_log(tmp_path / "a.log"), *AUDITD]
    report = ingest(logs, tmp_path / "store", raw_events=None)
    assert raw_rows(tmp_path / "store") == file_rows(logs)
    layout = StoreLayout(tmp_path / "store")
    assert layout.sourcetypes() == ["linux:audit", "sysmon:linux"]
    days = [str(day) for day, _ in layout.raw_partitions("sysmon:linux")]
    assert days == ["2024-03-11", "2024-03-12", "2024-03-13"]
    assert (tmp_path / "store/raw/sourcetype=linux%3Aaudit").is_dir()  # Hive's escaping
    assert report.rows[RAW_EVENTS] == sum(file_rows(logs).values())
    assert report.events == sum(n for d, n in report.rows.items() if d != RAW_EVENTS)
    assert ingest(logs, tmp_path / "store", raw_events=None).rows == {}  # nothing twice


@pytest.mark.parametrize("spl", SEARCHES, ids=lambda s: s[:40])
def test_raw_searches_over_the_store_equal_the_log_files(tmp_path: Path, spl: str) -> None:
    logs = [SAMPLE, *AUDITD, NGROK / "ngrok_linux-ecs.ndjson"]  # (ECS gives no raw events)
    ingest(logs, tmp_path / "store", raw_events=None)
    content = load_content()
    warnings: list[str] = []
    on_files = search(spl, logs, content=content).rows
    on_store = search(spl, [], content=content, events=tmp_path / "store", warn=warnings.append)
    assert on_files.num_rows > 0
    assert rows_of(on_store.rows) == rows_of(on_files) and not warnings


def test_cli_search_over_the_store_prints_the_rows_of_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store")
    files = [str(p) for p in AUDITD]
    assert main(["ingest", *files, "--store", store, "--raw-events", "all"]) == 0
    spl = "sourcetype=linux:audit type=EXECVE ngrok | stats count by host | sort host"
    capsys.readouterr()
    assert main(["search", spl, *files, "--format", "jsonl"]) == 0
    on_files = capsys.readouterr().out
    assert main(["search", spl, "--store", store, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == on_files and on_files.count("\n") >= 2


def test_a_window_prunes_raw_partitions_and_clips_exactly(tmp_path: Path) -> None:
    log = days_log(tmp_path / "a.log")
    ingest([log], tmp_path / "store", raw_events=None)
    earliest = datetime(2024, 3, 12, 9, 15, tzinfo=UTC)
    latest = datetime(2024, 3, 13, tzinfo=UTC)
    layout = StoreLayout(tmp_path / "store")
    files = raw_event_files(layout, [()], earliest, latest)
    assert [f.parent.name for f in files] == ["date=2024-03-12"]
    assert raw_event_files(layout, [((("sourcetype", "linux:audit"),),)], None, None) == []
    spl = "sourcetype=sysmon:linux | stats count min(_time) as first by EventID"
    window: dict[str, Any] = {"earliest": earliest, "latest": latest}
    content = load_content()
    on_files = search(spl, [log], content=content, **window).rows
    on_store = search(spl, [], content=content, events=tmp_path / "store", **window).rows
    assert on_files.num_rows and rows_of(on_store) == rows_of(on_files)


def test_raw_events_none_keeps_none_and_a_raw_search_says_so(tmp_path: Path) -> None:
    ingest(AUDITD, tmp_path / "store", raw_events=())
    assert not (tmp_path / "store" / RAW).exists()
    warnings: list[str] = []
    spl = "sourcetype=linux:audit ngrok | stats count"
    search(spl, [], content=load_content(), events=tmp_path / "store", warn=warnings.append)
    assert len(warnings) == 1
    assert "does not keep for 6 of its inputs" in warnings[0] and "linux:audit" in warnings[0]
    warnings.clear()  # a data model search reads no raw events: nothing to say
    spl = "| tstats count from datamodel=Endpoint.Processes"
    search(spl, [], content=load_content(), events=tmp_path / "store", warn=warnings.append)
    assert warnings == []


RAW_DETECTION = """\
name: Auditd Ngrok Exec
id: 5b3a4c1e-0000-4000-8000-000000000001
version: 1
date: '2024-01-01'
author: escudo tests
status: production
type: TTP
description: ngrok executed, from the raw audit records.
data_source: []
search: 'sourcetype=linux:audit type=EXECVE ngrok | stats count by host'
how_to_implement: auditd
known_false_positives: none
references: []
tags:
  analytic_story: []
  asset_type: Endpoint
  product: [Splunk Enterprise]
  security_domain: endpoint
"""


def test_auto_keeps_the_sourcetypes_the_contents_raw_searches_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = tmp_path / "content" / "detections" / "endpoint"
    content.mkdir(parents=True)
    (content / "auditd_ngrok_exec.yml").write_text(RAW_DETECTION)
    logs = [str(SAMPLE), *map(str, AUDITD)]
    builtin = str(tmp_path / "builtin")  # the built-in content has no raw search: no raw events
    assert main(["ingest", *logs, "--store", builtin]) == 0
    assert StoreLayout(Path(builtin)).sourcetypes() == []
    store = str(tmp_path / "store")
    assert main(["ingest", *logs, "--store", store, "--content", str(tmp_path / "content")]) == 0
    assert StoreLayout(Path(store)).sourcetypes() == ["linux:audit"]  # not Sysmon's
    capsys.readouterr()
    hunt = ["hunt", "--detection", "Auditd Ngrok Exec", "--content", str(tmp_path / "content")]
    assert main([*hunt, *logs, "--format", "jsonl"]) == 0
    on_files = capsys.readouterr().out
    assert main([*hunt, "--store", store, "--format", "jsonl"]) == 0
    out = capsys.readouterr()
    assert out.out == on_files and on_files and "does not keep" not in out.err
    assert main([*hunt, "--store", builtin, "--format", "jsonl"]) == 0
    assert "does not keep for 6 of its inputs" in capsys.readouterr().err


def test_a_grown_file_adds_only_its_new_raw_events(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = AUDITD[0].read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:100]))
    ingest([log], tmp_path / "store", raw_events=None)
    with log.open("ab") as f:
        f.write(b"".join(lines[100:]))
    ingest([log], tmp_path / "store", raw_events=None)
    assert raw_rows(tmp_path / "store") == file_rows([AUDITD[0]])


def _run_ingest(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    code = "import sys; from escudo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "ingest", *args],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_at_each_commit_step_then_rerun_keeps_every_raw_event_once(
    tmp_path: Path, point: str
) -> None:
    store = tmp_path / "store"
    ingest([SAMPLE], store, raw_events=None)  # a first commit already
    args = [*map(str, AUDITD), "--store", str(store), "--raw-events", "all"]
    proc = _run_ingest(args, {"ESCUDO_TEST_KILL_AT": point})
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    open_store(store)  # finishes a decided commit
    assert raw_rows(store) in (file_rows([SAMPLE]), file_rows([SAMPLE, *AUDITD]))
    ingest(AUDITD, store, raw_events=None)
    assert raw_rows(store) == file_rows([SAMPLE, *AUDITD])


def test_compact_merges_raw_partitions_and_keeps_every_raw_event(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for i in range(3):  # three commits of the same three days: three files per partition
        ingest([days_log(tmp_path / f"{i}.log")], store, raw_events=None)
    rows = raw_rows(store)
    layout = StoreLayout(store)
    before = [len(layout.files(f)) for f in layout.partition_folders(RAW)]
    assert before == [3, 3, 3]
    assert main(["store", "compact", "--store", str(store)]) == 0
    assert [len(layout.files(f)) for f in layout.partition_folders(RAW)] == [1, 1, 1]
    assert raw_rows(store) == rows


def test_prune_drops_the_raw_events_of_the_days_before(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest([days_log(tmp_path / "a.log")], store, raw_events=None)
    rows = raw_rows(store)
    assert main(["store", "prune", "--store", str(store), "--before", "2024-03-13"]) == 0
    kept = raw_rows(store)
    assert kept and sum(kept.values()) == sum(rows.values()) // 3
    assert all('"_time": "2024-03-13' in row for row in kept)
    assert [str(d) for d, _ in StoreLayout(store).raw_partitions("sysmon:linux")] == ["2024-03-13"]


def test_a_raw_search_over_the_store_on_spark_returns_duckdb_rows(
    spark_session: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same compiled raw search (search-time extraction, ``foreach``) over the store's
    Parquet on both engines, from the CLI."""
    store = str(tmp_path / "store")
    files = [str(p) for p in AUDITD]
    assert main(["ingest", *files, "--store", store, "--raw-events", "all"]) == 0
    out = {}
    for engine in ("duckdb", "spark"):
        capsys.readouterr()
        args = ["search", SEARCHES[0], "--store", store, "--format", "jsonl", "--engine", engine]
        assert main(args) == 0
        out[engine] = sorted(capsys.readouterr().out.splitlines())
    assert len(out["duckdb"]) > 3 and out["spark"] == out["duckdb"]


ESCU = ROOT.parent / "shared" / "reference" / "escu"
AUTHORED = ROOT / "tests" / "data" / "auditd_detections"


def test_escus_auditd_detections_over_the_store_equal_the_logs(tmp_path: Path) -> None:
    """ESCU's 50 auditd detections (raw searches, ``../shared``) over a store filled from their
    authored positive and near-miss sets (``--raw-events auto`` with ESCU's content) return the
    rows they return over the sets themselves."""
    from escudo.detect.hunt import hunt

    if not ESCU.is_dir():
        pytest.skip(f"the ESCU corpus is not at {ESCU} (the 50 detections are not bundled)")
    content = load_content([ESCU])
    detections = sorted(
        (d for d in content.detections.values() if d.path and "linux_auditd_" in d.path.stem),
        key=lambda d: d.name,
    )
    assert len(detections) == 50
    logs = sorted(AUTHORED.rglob("*.log"))
    store = tmp_path / "store"
    assert main(["ingest", *map(str, logs), "--store", str(store), "--content", str(ESCU)]) == 0
    assert StoreLayout(store).sourcetypes() == ["linux:audit"]
    on_files = hunt(logs, detections, content=content)
    on_store = hunt([], detections, content=content, events=store)
    for a, b in zip(on_files, on_store, strict=True):
        assert a.rows.num_rows > 0, a.detection.name  # each fires on its positive set
        assert rows_of(b.rows) == rows_of(a.rows), a.detection.name
