"""How a hunt over log files hands the rows it read to the engine: in place up to a budget, past
it spooled to Arrow files the engine scans (bounded memory), with the same results either way."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from recording_engine import RecordingEngine

from escudo.compile import CompiledSearch, compile_search
from escudo.content.model import Detection
from escudo.detect import hunt
from escudo.detect.hunt import run_compiled

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
SEARCHES = (
    "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.process_name",
    "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok "
    "by Processes.process",
    "| tstats count from datamodel=Network_Traffic.All_Traffic by All_Traffic.dest_port",
    "| tstats count from datamodel=Endpoint.Processes where Processes.user=nosuchuser",
)


def _jobs() -> list[tuple[Detection, CompiledSearch]]:
    return [
        (Detection(name=f"d{i}", id="", search=spl, type="Hunting", status="experimental"),
         compile_search(spl))
        for i, spl in enumerate(SEARCHES)
    ]  # fmt: skip


def _hunt() -> tuple[list[pa.Table], list[tuple[str, int]]]:
    with RecordingEngine() as engine:
        results = run_compiled([SAMPLE], _jobs(), engine=engine)
        return [r.rows for r in results], engine.held


def test_rows_within_the_budget_are_scanned_in_place() -> None:
    rows, held = _hunt()
    # ngrok and nosuchuser (requirements: they may be ruled out) over no rows during the read;
    # then the three that can match over views of the rows read
    assert held == [("table", 0)] * 2 + [("rows", 27), ("rows", 27), ("rows", 3)]
    assert [t.num_rows for t in rows] == [20, 4, 1, 1]


@pytest.mark.parametrize("budget", [0, 3000])
def test_rows_past_the_budget_are_spooled_to_files_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    expected, _ = _hunt()
    # 0: past the budget at the first batch; 3000 bytes: after some batches were held
    monkeypatch.setattr(hunt, "IN_PLACE_BYTES", budget)
    rows, held = _hunt()
    assert rows == expected
    assert held == [("table", 0)] * 2 + [("files", 27), ("files", 27), ("files", 3)]
