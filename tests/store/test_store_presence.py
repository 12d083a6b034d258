"""Searches over the store that cannot match: the literals their requirements need, looked up in
the distinct values of the store's fields (``store.read.StorePresence``), and a hunt over the store
that runs those searches over no rows gives the rows a hunt of the raw files gives."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.content.loader import load_content
from escudo.content.model import Detection
from escudo.detect.hunt import compile_detection, run_compiled
from escudo.engines import ENGINES, new_engine
from escudo.engines.duckdb import DuckDBEngine
from escudo.store.ingest import ingest
from escudo.store.read import PRESENCE_MIN_SEARCHES, StorePresence

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
PROCESSES = "| tstats count from datamodel=Endpoint.Processes where "


def _presence(
    rows: Mapping[str, Sequence[str | None]], *searches: str, **limits: int
) -> list[bool]:
    compiled = [compile_search(PROCESSES + s) for s in searches]
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table(rows))
        presence = StorePresence.lookup(engine, compiled, **{"min_searches": 1, **limits})
    return [presence.can_match(c) for c in compiled]


def test_a_search_whose_literal_no_value_holds_cannot_match() -> None:
    rows = {
        "process_name": ["bash", "NGROK", None],
        "process": ["bash -c id", "ngrok tcp 22", None],
    }
    assert _presence(
        rows,
        "Processes.process_name=ngrok",  # case aside
        "Processes.process_name=curl",
        'Processes.process="*tcp*"',
        'Processes.process="*--config*"',
        'Processes.process_name=curl OR Processes.process="*tcp*"',  # one clause, either field
        'Processes.process_name=curl OR Processes.process="*wget*"',
        "Processes.process_name=bash Processes.process_name=nope",  # a second clause fails
        "Processes.dest=anything",  # a field NULL in every row holds no literal
    ) == [True, False, True, False, True, False, False, False]


@pytest.mark.parametrize("engine_name", sorted(ENGINES))
def test_the_look_up_runs_on_every_engine(engine_name: str, request: pytest.FixtureRequest) -> None:
    if engine_name == "spark":
        request.getfixturevalue("spark_session")  # one Spark for the whole test session
    searches = [compile_search(PROCESSES + f"Processes.process_name={n}") for n in ("sh", "curl")]
    with new_engine(engine_name) as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"process_name": ["bash", None]}))
        presence = StorePresence.lookup(engine, searches, min_searches=1)
    assert [presence.can_match(s) for s in searches] == [True, False]


def test_what_proves_nothing_counts_as_present() -> None:
    # DuckDB's lower() folds the Kelvin sign to an ASCII k: the SQL matches what ASCII case
    # folding would miss, so such values hold every literal.
    assert _presence({"process": ["\u212aill -9 1"]}, 'Processes.process="*kill*"') == [True]
    # more distinct values than the look-up takes, or past its budget
    rows = {"process": ["a", "b", "c"]}
    assert _presence(rows, 'Processes.process="*zz*"', max_values=2) == [True]
    assert _presence(rows, 'Processes.process="*zz*"', budget=2) == [True]
    assert _presence(rows, 'Processes.process="*zz*"') == [False]
    # per-event fields are not looked at (as many values as rows)
    assert _presence({"process_guid": ["g1"]}, "Processes.process_guid=g2") == [True]


def test_a_search_over_several_data_sets_is_always_run() -> None:
    one = compile_search(PROCESSES + "Processes.process_name=curl")
    both = dataclasses.replace(one, datasets=("Endpoint.Processes", "Endpoint.Filesystem"))
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"process_name": ["bash"]}))
        presence = StorePresence.lookup(engine, [one, both], min_searches=1)
    assert (presence.can_match(one), presence.can_match(both)) == (False, True)


def test_a_data_set_few_searches_read_is_not_looked_up() -> None:
    # one search's own scan costs about what the look-up of its fields would
    searches = [compile_search(PROCESSES + "Processes.process_name=curl")] * 3
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"process_name": ["bash"]}))
        assert StorePresence.lookup(engine, searches, min_searches=4).can_match(searches[0])
        assert not StorePresence.lookup(engine, searches, min_searches=3).can_match(searches[0])


@pytest.mark.parametrize(
    "where",
    [
        "Processes.process_name=ngrok",
        "Processes.process_name=no-such-process",  # cannot match: run over no rows
        'Processes.process="*no such text*" by Processes.dest',
    ],
)
def test_the_store_gives_the_raw_hunt_rows_for_searches_that_cannot_match(
    tmp_path: Path, where: str
) -> None:
    store = tmp_path / "store"
    ingest([SAMPLE], store)
    content = load_content()
    detection = Detection(name="d", id="", search=PROCESSES + where, type="TTP", status="test")
    # with the shipped detections in the same run (the seed can match: it runs first, over the
    # store's rows), enough searches for the look-up (PRESENCE_MIN_SEARCHES)
    jobs = [(detection, compile_search(PROCESSES + where))]
    jobs += [(d, compile_detection(d, content)) for d in content.detections.values()]
    assert len(jobs) >= PRESENCE_MIN_SEARCHES
    over_store = run_compiled([], jobs, events=store)
    over_logs = run_compiled([SAMPLE], jobs)
    assert [r.rows.to_pylist() for r in over_store] == [r.rows.to_pylist() for r in over_logs]
    seed = [r for r in over_store if r.detection.name == "Linux Ngrok Reverse Proxy Usage"]
    assert seed[0].rows.num_rows == 4
