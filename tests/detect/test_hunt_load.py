"""How a hunt over log files hands the rows it read to the engine: in place up to a budget, past
it spooled to Arrow files the engine scans (bounded memory), with the same results either way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from escudo.compile import CompiledSearch, compile_search
from escudo.content.model import Detection
from escudo.datamodels.cim import get_dataset
from escudo.detect import hunt
from escudo.detect.hunt import run_compiled
from escudo.engines.base import Runnable
from escudo.engines.duckdb import DuckDBEngine

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
SEARCHES = (
    "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.process_name",
    "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok "
    "by Processes.process",
    "| tstats count from datamodel=Network_Traffic.All_Traffic by All_Traffic.dest_port",
    "| tstats count from datamodel=Endpoint.Processes where Processes.user=nosuchuser",
)


class _Recording(DuckDBEngine):
    """A DuckDB engine noting, for each search run, what holds its data set (a view over the
    rows read, held: "rows"; a view over the Arrow files they were spooled to: "files"; a
    table) and how many rows it has."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, int]] = []

    def _note(self, compiled: Runnable) -> None:
        relation = get_dataset(compiled.datasets[0]).relation
        views = self.connection.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = ?", [relation]
        ).fetchall()
        # a view over the Arrow rows held, or over the Arrow files spooled; else a table
        kind = (
            "table" if not views else "files" if "__escudo_arrow_files_" in views[0][0] else "rows"
        )
        rows = self.connection.execute(f'SELECT count(*) FROM "{relation}"').fetchall()[0][0]
        self.held.append((kind, rows))

    def run(self, compiled: Runnable) -> pa.Table:
        self._note(compiled)
        return super().run(compiled)

    def run_many(self, searches: Sequence[Runnable], workers: int | None = None) -> list[pa.Table]:
        for compiled in searches:
            self._note(compiled)
        return super().run_many(searches, workers)


def _jobs() -> list[tuple[Detection, CompiledSearch]]:
    return [
        (Detection(name=f"d{i}", id="", search=spl, type="Hunting", status="experimental"),
         compile_search(spl))
        for i, spl in enumerate(SEARCHES)
    ]  # fmt: skip


def _hunt() -> tuple[list[pa.Table], list[tuple[str, int]]]:
    with _Recording() as engine:
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
