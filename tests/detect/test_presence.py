"""Detections that cannot match: a hunt runs them over an empty data set, with the same result."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from recording_engine import RecordingEngine

from escudo.compile import CompiledSearch, compile_search
from escudo.content.model import Detection
from escudo.datamodels.normalize import read_datasets
from escudo.detect.hunt import needs_of, run_compiled
from escudo.detect.presence import LiteralPresence
from escudo.engines.duckdb import DuckDBEngine

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
PROCESSES = "Endpoint.Processes"


def _search(where: str, by: str = "") -> CompiledSearch:
    return compile_search(f"| tstats count from datamodel=Endpoint.Processes where {where}{by}")


def _observed(searches: list[CompiledSearch], *batches: pa.RecordBatch) -> LiteralPresence:
    presence = LiteralPresence(searches)
    for _ in presence.observe(PROCESSES, batches):
        pass
    return presence


def test_a_literal_found_in_any_batch_in_any_ascii_case_can_match() -> None:
    ngrok = _search("Processes.process_name=NGROK")
    first = pa.record_batch({"process_name": ["bash", None]})
    second = pa.record_batch({"process_name": ["/tmp/Ngrok"]})
    assert _observed([ngrok], first, second).can_match(ngrok)
    assert not _observed([ngrok], first).can_match(ngrok)


def test_a_clause_holds_when_one_of_its_literals_is_found() -> None:
    either = _search("(Processes.process_name=chisel OR Processes.process=*--reverse*)")
    batch = pa.record_batch({"process_name": ["ssh"], "process": ["ssh --reverse x"]})
    assert _observed([either], batch).can_match(either)
    both = _search("Processes.process_name=ssh Processes.process=*--forward*")
    assert not _observed([both], batch).can_match(both)


def test_values_duckdb_folds_to_ascii_hold_every_literal() -> None:
    # DuckDB's lower() maps the Kelvin sign to "k": process_name=ngrok matches "ngro\u212a".
    ngrok = _search("Processes.process_name=ngrok")
    assert _observed([ngrok], pa.record_batch({"process_name": ["ngro\u212a"]})).can_match(ngrok)


def test_no_proof_without_text_or_past_the_budget() -> None:
    ngrok = _search("Processes.process_name=ngrok")
    as_list = pa.record_batch({"process_name": pa.array([["bash"]], pa.list_(pa.string()))})
    assert _observed([ngrok], as_list).can_match(ngrok)
    assert _observed([ngrok], pa.record_batch({"process": ["bash"]})).can_match(ngrok)
    poor = LiteralPresence([ngrok], budget=3)
    list(poor.observe(PROCESSES, [pa.record_batch({"process_name": ["bash", "sh"]})]))
    assert poor.can_match(ngrok)


def test_only_searches_over_one_watched_data_set_are_ruled_out() -> None:
    ngrok = _search("Processes.process_name=ngrok")
    unwatched = LiteralPresence([ngrok], datasets=["Endpoint.Filesystem"])
    assert unwatched.can_match(ngrok)  # its rows were never looked at
    assert LiteralPresence([ngrok]).can_match(_search("Processes.process_name=*"))


def _reference(paths: list[Path], searches: list[CompiledSearch]) -> list[pa.Table]:
    """Each search over every row read: no prefilter, nothing ruled out."""
    tables: dict[str, list[pa.RecordBatch]] = {}
    needs = {d: [()] for s in searches for d in s.datasets}
    for dataset, batch in read_datasets(paths, needs):  # type: ignore[arg-type]
        tables.setdefault(dataset, []).append(batch)
    with DuckDBEngine() as engine:
        for dataset, batches in tables.items():
            engine.register_arrow(dataset, pa.Table.from_batches(batches))
        return [engine.run(s) for s in searches]


def _jobs(searches: list[CompiledSearch]) -> list[tuple[Detection, CompiledSearch]]:
    return [
        (Detection(name=f"d{i}", id="", search="", type="Hunting", status="experimental"), s)
        for i, s in enumerate(searches)
    ]


def test_hunt_runs_what_cannot_match_over_no_rows_with_the_same_results(tmp_path: Path) -> None:
    # The sample's ngrok renamed with a Kelvin sign: only DuckDB's folding finds it.
    log = tmp_path / "kelvin.log"
    log.write_text(SAMPLE.read_text().replace("/tmp/ngrok", "/tmp/NGRO\u212a"))
    searches = [
        _search("Processes.process_name=ngrok", " by Processes.process"),
        _search("Processes.user=nosuchuser"),  # no by: one row, count 0
        _search("Processes.process_name=CURL", " by Processes.process"),
    ]
    assert set(needs_of(_jobs(searches))) == {PROCESSES}
    with RecordingEngine() as engine:
        results = run_compiled([log], _jobs(searches), engine=engine)
    expected = _reference([log], searches)
    assert [r.rows for r in results] == expected
    assert [r.rows.num_rows for r in results] == [4, 1, 2]
    assert results[1].rows.to_pylist() == [{"count": 0}]
    # all three over no rows while the inputs were read (each may be ruled out); then ngrok and
    # curl over the rows read; nosuchuser's result is its run over none
    assert [rows for _, rows in engine.held] == [0, 0, 0, 11, 11]
