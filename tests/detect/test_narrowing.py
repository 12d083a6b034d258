"""Rows a search is run over: a hunt gives each search the rows its requirements admit, with the
same result as over all the rows read (detect/presence.py Narrowing, docs/semantics.md)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recording_engine import RecordingEngine
from test_presence import _jobs, _reference

from escudo.compile import compile_search
from escudo.content.model import Detection
from escudo.detect import presence
from escudo.detect.hunt import run_compiled
from escudo.detect.presence import Narrowing, requirements_of
from escudo.engines.duckdb import DuckDBEngine
from escudo.sources.base import ALWAYS_PASS

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
PROCESSES = "Endpoint.Processes"

# Letters in both cases, the two characters DuckDB's lower() folds to ASCII, other non-ASCII text,
# an XML character reference's start, and the characters wildcards and literals are made of.
TEXT = st.text(alphabet="abkiABKI \u212a\u0130\u00e9&#-*", max_size=6)
VALUES = st.lists(st.none() | TEXT, min_size=1, max_size=12)
LITERALS = st.text(alphabet="abkiABKI\u00e9&#-", min_size=1, max_size=3)


def _admits(value: str | None, literals: list[str]) -> bool:
    """The reference: a value holds one of the literals, ASCII case aside (or folds in doubt)."""
    if value is None:
        return False
    raw = value.encode("utf-8")
    if any(sequence in raw for sequence in ALWAYS_PASS):
        return True
    return any(literal.encode("utf-8").lower() in raw.lower() for literal in literals)


@settings(max_examples=300, deadline=None)
@given(
    first=VALUES,
    second=VALUES,
    clauses=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a", "b", "missing"]), LITERALS), min_size=1, max_size=3
        ),
        max_size=3,
    ),
)
def test_a_row_is_kept_when_every_clause_has_a_literal_in_its_field(
    first: list[str | None], second: list[str | None], clauses: list[list[tuple[str, str]]]
) -> None:
    rows = min(len(first), len(second))
    table = pa.table(
        {"a": pa.array(first[:rows], pa.string()), "b": pa.array(second[:rows], pa.string())}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(presence, "DISTINCT_SHARE", 1.0)  # every field narrows, however distinct
        mask = Narrowing(table).mask(clauses)
    expected = [
        all(
            any(field == "missing" for field, _ in clause)  # a missing column admits every row
            or any(
                _admits(table.column(field)[row].as_py(), [lit for f, lit in clause if f == field])
                for field in {f for f, _ in clause}
            )
            for clause in clauses
        )
        for row in range(rows)
    ]
    assert (mask.to_pylist() if mask is not None else [True] * rows) == expected


def test_fields_that_cannot_narrow_admit_every_row() -> None:
    table = pa.table(
        {
            "name": ["bash", "dash", "bash", "bash"],  # 2 distinct values of 4: narrows
            "unique": ["a", "b", "c", "d"],  # as many distinct values as rows: does not
            "listed": pa.array([["x"], ["y"], ["x"], ["x"]], pa.list_(pa.string())),
        }
    )
    narrowing = Narrowing(table)
    assert narrowing.mask([[("name", "D")]]).to_pylist() == [False, True, False, False]
    assert narrowing.mask([[("unique", "a")]]) is None
    assert narrowing.mask([[("listed", "y")]]) is None
    assert narrowing.mask([[("nosuchfield", "y")]]) is None
    assert narrowing.mask([]) is None
    assert narrowing.rows([[("name", "dash")]]).column("name").to_pylist() == ["dash"]
    # more than NARROW_SHARE of the rows: no narrower table (the whole one is scanned)
    assert narrowing.rows([[("name", "bash")]]) is None


SEARCHES = [
    "Processes.process_name=bk",
    "Processes.process_name=*k* Processes.process=*A*",
    "Processes.process IN (*ab*, *-*) OR Processes.process_name=i*",
    'Processes.process_name="b*" NOT Processes.process=*k*',
    "(Processes.process_name=a OR Processes.process=*&#*) Processes.process=*i*",
]


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(TEXT, min_size=2, max_size=10), commands=st.lists(TEXT, min_size=2, max_size=10)
)
def test_duckdb_gives_a_search_the_same_rows_over_the_rows_its_requirements_admit(
    names: list[str], commands: list[str]
) -> None:
    # Few distinct values, many rows: every field narrows.
    rows = 4 * min(len(names), len(commands))
    table = pa.table(
        {
            "_time": pa.array([0] * rows, pa.timestamp("us", tz="UTC")),
            "process_name": (names * rows)[:rows],
            "process": (commands * rows)[:rows],
        }
    )
    narrowing = Narrowing(table)
    with DuckDBEngine() as engine:
        for where in SEARCHES:
            search = compile_search(
                f"| tstats count from datamodel=Endpoint.Processes where {where} "
                "by Processes.process_name Processes.process"
            )
            clauses = requirements_of(search)[PROCESSES]
            assert clauses, where
            engine.register_arrow(PROCESSES, table)
            expected = engine.run(search)
            narrower = narrowing.rows(clauses)
            if narrower is not None:
                engine.register_arrow(PROCESSES, narrower)
            assert engine.run(search) == expected, where


def test_a_hunt_runs_each_search_over_the_rows_it_admits_with_the_same_results() -> None:
    spls = [
        "| tstats count from datamodel=Endpoint.Processes where Processes.user=www-data "
        "by Processes.process",
        "| tstats count from datamodel=Endpoint.Processes where Processes.parent_process_name=DASH "
        "by Processes.process_name",
        "| tstats count from datamodel=Endpoint.Processes by Processes.user",  # no requirement
    ]
    searches = [compile_search(spl) for spl in spls]
    jobs = [
        (Detection(name=f"d{i}", id="", search="", type="Hunting", status="experimental"), s)
        for i, s in enumerate(searches)
    ]
    with RecordingEngine() as engine:
        results = run_compiled([SAMPLE], jobs, engine=engine)
    assert [r.rows for r in results] == _reference([SAMPLE], searches)
    assert [r.rows.num_rows for r in results] == [8, 9, 5]
    # of the sample's 27 processes, 8 run as www-data and 13 under dash
    narrowed = [engine.narrowed.get(id(s)) for s in searches]
    assert narrowed == [{PROCESSES: 8}, {PROCESSES: 13}, None]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.none() | TEXT, max_size=12), needle=LITERALS, start=st.integers(0, 3))
def test_a_haystack_finds_what_arrow_finds(
    values: list[str | None], needle: str, start: int
) -> None:
    for kind in (pa.string(), pa.large_string()):
        column = pa.array(values, kind)[start:]  # a slice: its offsets do not start at 0
        expected = pc.match_substring(column, needle).to_pylist()
        found = presence.Haystack(column).holding(needle).to_pylist()
        assert found == expected


AUDITD_SETS = ROOT / "tests" / "data" / "auditd_detections"
RAW_SPLS = [
    'sourcetype="linux:audit" type=SYSCALL comm IN ("rmmod", "insmod") | stats count by comm',
    'sourcetype="linux:audit" type=EXECVE "find" | stats count by type',
    'sourcetype="linux:audit" type=PATH name="/etc/*" | stats count by name',
    'sourcetype="sysmon:linux" ngrok | stats count by sourcetype',
    'sourcetype="linux:audit" type=PROCTITLE | stats count',  # narrowed by record type alone
    "index=* | stats count by sourcetype",  # no requirement
]


def test_a_hunt_over_raw_events_runs_each_search_over_the_rows_its_raw_filter_keeps(
    tmp_path: Path,
) -> None:
    # auditd records of the 50 authored sets and the Sysmon sample: two sources in raw events
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(p.read_bytes() for p in sorted(AUDITD_SETS.glob("*/*.log"))))
    searches = [compile_search(spl) for spl in RAW_SPLS]
    with RecordingEngine() as engine:
        results = run_compiled([log, SAMPLE], _jobs(searches), engine=engine)
    expected = _reference([log, SAMPLE], searches)
    for spl, result, rows in zip(RAW_SPLS, results, expected, strict=True):
        assert result.rows == rows, spl
    assert all(r.num_rows for r in expected[:5])  # each finds something
    narrowed = [engine.narrowed.get(id(s)) for s in searches]
    assert all(n is not None and n["raw_events"] > 0 for n in narrowed[:5]), narrowed
    assert narrowed[5] is None


def test_a_hunt_shares_the_stages_searches_over_the_same_rows_begin_with(tmp_path: Path) -> None:
    # two searches decode every PROCTITLE record alike (as ESCU's proctitle macro), then differ
    decode = (
        'sourcetype="linux:audit" type=PROCTITLE | eval cmd = if(match(proctitle, "^[0-9A-F]+$"), '
        'urldecode(replace(proctitle, "([0-9A-F]{2})", "%\\1")), proctitle) '
    )
    spls = [
        decode + '| where LIKE(cmd, "%mod%") | stats count by cmd',
        decode + "| stats count by host",
        'sourcetype="linux:audit" type=PROCTITLE | stats count by host',  # begins otherwise
    ]
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(p.read_bytes() for p in sorted(AUDITD_SETS.glob("*/*.log"))))
    searches = [compile_search(spl) for spl in spls]
    with RecordingEngine() as engine:
        results = run_compiled([log, SAMPLE], _jobs(searches), engine=engine)
        assert engine.last_shared == 2
    assert [r.rows for r in results] == _reference([log, SAMPLE], searches)
    assert all(r.rows.num_rows for r in results)
