"""The library session (``escudo.Session``): the public API, the same rows as the CLI, warnings
returned and nothing printed, ``now`` pinning relative times, the store, the early worker pool."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import escudo
from escudo import HuntRun, SearchRun, Session
from escudo.cli import main
from escudo.content.loader import load_content
from escudo.detect.hunt import hunt
from escudo.detect.store import Store
from escudo.errors import InputError
from escudo.sources.base import ReadStats

SEED = "Linux Ngrok Reverse Proxy Usage"
SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
# The sample's ngrok events are at 2024-03-11T09:15Z.
NEXT_MORNING = datetime(2024, 3, 12, 8, 0, tzinfo=UTC)
BROKEN = (
    "name: Broken\nid: 1\nsearch: '| tstats count from datamodel=Endpoint.Processes | frobnicate'\n"
)


def test_public_api_is_pinned() -> None:
    """What ``import escudo`` offers is exactly this (httpx's test_exported_members)."""
    assert escudo.__all__ == ["HuntRun", "SearchRun", "Session", "__version__"]
    for name in escudo.__all__:
        assert getattr(escudo, name) is not None
    assert Session.__module__ == HuntRun.__module__ == SearchRun.__module__ == "escudo._session"


def test_hunt_rows_are_the_cli_jsonl_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hunt", str(SAMPLE), "--detection", SEED, "--format", "jsonl"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    run = Session(detections=[SEED]).hunt([SAMPLE])
    assert isinstance(run, HuntRun) and list(run.tables) == [SEED]
    ours = [{"detection": SEED, **row} for row in run.tables[SEED].to_pylist()]
    assert len(ours) == 4 and ours == printed
    assert [list(row) for row in ours] == [list(row) for row in printed]  # same column order
    assert run.stats.events == 8 and run.stats.malformed == 0 and run.warnings == []
    assert {(e["risk_object"], e["risk_object_type"]) for e in run.risk_events} == {
        ("root", "user"),
        ("www-data", "user"),
        ("web-01", "system"),
    }
    assert {f["finding_type"] for f in run.findings} == {"risk_incident"}


def _broken_content(tmp_path: Path) -> Path:
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections" / "broken.yml").write_text(BROKEN)
    return tmp_path


def test_warnings_are_returned_not_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A default-set detection that does not compile is a warning of the run; the library writes
    nothing to stdout or stderr (file descriptors, not only sys.stdout)."""
    content_dir = _broken_content(tmp_path)
    run = Session(content_dirs=[content_dir]).hunt([SAMPLE])
    assert len(run.warnings) == 1
    assert run.warnings[0].startswith("skipped 'Broken': ") and "frobnicate" in run.warnings[0]
    assert SEED in run.tables and run.tables[SEED].num_rows == 4
    hunt([SAMPLE], content=load_content([content_dir]))  # the function under the session too
    assert capfd.readouterr() == ("", "")


def test_cli_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content_dir = _broken_content(tmp_path)
    assert main(["hunt", str(SAMPLE), "--content", str(content_dir), "--format", "jsonl"]) == 0
    err = capsys.readouterr().err
    assert "escudo: skipped 'Broken': " in err and err.count("escudo: skipped '") == 1


def test_now_pins_relative_windows() -> None:
    """``earliest=-1d@d`` is the day before ``now``: the sample's ngrok events are in the window
    the morning after, not two days later; the same holds for a search's own time modifier."""
    after = Session(detections=[SEED], earliest="-1d@d", now=NEXT_MORNING)
    assert after.earliest == datetime(2024, 3, 11, tzinfo=UTC) and after.latest is None
    assert after.hunt([SAMPLE]).tables[SEED].num_rows == 4
    later = Session(detections=[SEED], earliest="-1d@d", now=datetime(2024, 3, 13, tzinfo=UTC))
    assert later.hunt([SAMPLE]).tables[SEED].num_rows == 0

    spl = "| tstats count from datamodel=Endpoint.Processes where earliest=-1d@d"
    counts = [
        Session(now=now).search(spl, [SAMPLE]).table.column("count").to_pylist()
        for now in (NEXT_MORNING, datetime(2024, 3, 13, tzinfo=UTC))
    ]
    assert counts == [[27], [0]]


def test_window_bounds_and_bad_times() -> None:
    session = Session(earliest="2024-03-11T09:15:25", latest=datetime(2024, 3, 11, 9, 15, 30))
    assert session.earliest == datetime(2024, 3, 11, 9, 15, 25, tzinfo=UTC)
    assert session.latest == datetime(2024, 3, 11, 9, 15, 30, tzinfo=UTC)  # naive is UTC
    processes = Session(detections=[SEED], earliest=session.earliest, latest=session.latest)
    assert processes.hunt([SAMPLE]).tables[SEED].column("process_id").to_pylist() == ["41239"]
    with pytest.raises(InputError, match=r"^latest: invalid time modifier 'soon'"):
        Session(latest="soon")


def test_store_is_written_by_the_hunt_and_read_by_a_search(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    run = Session(detections=[SEED], store=store).hunt([SAMPLE])
    kept = Store(store)
    assert len(kept.results(SEED)) == 4
    assert sorted(e["risk_event_id"] for e in kept.risk_events()) == sorted(
        e["risk_event_id"] for e in run.risk_events
    )
    search = Session(store=store).search(
        "| tstats sum(All_Risk.risk_score) as score from datamodel=Risk.All_Risk", [SAMPLE]
    )
    assert isinstance(search, SearchRun) and search.table.to_pylist() == [{"score": 400}]


def test_deliver_needs_a_sender() -> None:
    run = HuntRun([], ReadStats())
    with pytest.raises(InputError, match="no HEC sender"):
        Session().deliver(run)


def test_the_early_pool_is_taken_by_the_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers a hunt starts ahead (while it loads and compiles) are the ones its read uses."""
    from escudo.sources import reader

    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(reader.os, "cpu_count", lambda: 2)
    taken: list[Any] = []
    early_pool = reader._early_pool

    def spy(preload: str, workers: int) -> Any:
        started = early_pool(preload, workers)
        taken.append((preload, workers, started is not None))
        return started

    monkeypatch.setattr(reader, "_early_pool", spy)
    run = Session(detections=[SEED]).hunt([SAMPLE])
    assert run.tables[SEED].num_rows == 4
    # The read took the pool; the stop at the end found nothing left to stop.
    assert taken == [
        ("escudo.datamodels.normalize", 2, True),
        ("escudo.datamodels.normalize", 0, False),
    ]
    assert reader._EARLY == {}
