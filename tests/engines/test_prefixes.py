"""Stages several searches share, run once (engines/prefixes.py, DuckDBEngine.run_many): each
search's rows are its rows run alone."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.compile import compile_search
from escudo.datamodels.normalize import read_datasets
from escudo.engines import prefixes
from escudo.engines.duckdb import DuckDBEngine, _sql_of
from escudo.sources.base import RAW_EVENTS

ROOT = Path(__file__).parents[2]
GOLDEN = sorted((ROOT / "tests" / "compile" / "golden").glob("*.spl"))
AUDITD_SETS = ROOT / "tests" / "data" / "auditd_detections"
LOOKUPS = {"suspicious_tools": ROOT / "tests" / "compile" / "lookups" / "suspicious_tools.csv"}

# As ESCU's linux_auditd_normalized_proctitle_process macro: each search decodes every PROCTITLE
# record before its own filter.
DECODE = (
    'sourcetype="linux:audit" type=PROCTITLE '
    '| eval cmd = if(match(proctitle, "^[0-9A-F]+$"), '
    'urldecode(replace(replace(proctitle, "00", "20"), "([0-9A-F]{2})", "%\\1")), proctitle) '
    "| rename host as dest "
)
SPLS = [
    DECODE + '| where LIKE(cmd, "%insmod%") | stats count by cmd dest',
    DECODE + '| where LIKE(cmd, "%rmmod%") OR LIKE(cmd, "%modprobe%") | stats count by cmd',
    DECODE + "| stats count by dest",
    DECODE + '| where LIKE(cmd, "%nothing like this%") | stats count by cmd',
    'sourcetype="linux:audit" type=SYSCALL | stats count by comm',  # begins otherwise
]


@pytest.mark.parametrize("spl_path", GOLDEN, ids=lambda p: p.stem)
def test_a_chain_is_the_query_it_was_read_from(spl_path: Path) -> None:
    sql = _sql_of(compile_search(spl_path.read_text(), lookups=LOOKUPS))
    chain = prefixes.Chain.of(sql)
    if chain is None:
        assert not sql.startswith("WITH ")
        return
    stages = ", ".join(f"{name} AS ({body})" for name, body in chain.ctes)
    assert f"WITH {stages} {chain.rest}" == sql
    assert [name for name, _ in chain.ctes] == [f"s{i}" for i in range(len(chain.ctes))]


@settings(max_examples=200, deadline=None)
@given(
    literal=st.text(alphabet="ab()'\", S", max_size=8),
    rows=st.lists(st.integers(0, 1), min_size=3, max_size=3),
)
def test_stages_are_shared_only_word_for_word_over_the_same_rows(
    literal: str, rows: list[int]
) -> None:
    quoted = "'" + literal.replace("'", "''") + "'"
    head = (
        f'WITH s0 AS (SELECT * FROM "t"), s1 AS (SELECT *, {quoted} AS u FROM "s0"), '
        f'"s2" AS (SELECT * FROM "s1" WHERE u = {quoted})'
    )
    sqls = [f'{head} SELECT a FROM "s2"', f'{head} SELECT b FROM "s2"', f"{head}, s3 AS (SELECT 1)"]
    sqls[2] += ' SELECT * FROM "s3"'
    groups, chains = prefixes.plan(sqls, rows)
    shared = [i for g in groups for i in g.members]
    expected = [i for i in range(3) if rows.count(rows[i]) >= 2]
    assert sorted(shared) == expected
    for group in groups:
        assert group.stage == 2
        for index in group.members:
            assert chains[index].over(2, group.table).endswith(sqls[index][len(head) :])


def _raw_events(folder: Path) -> pa.Table:
    """The raw events of the 50 authored auditd sets."""
    path = folder / "audit.log"
    path.write_bytes(b"".join(p.read_bytes() for p in sorted(AUDITD_SETS.glob("*/*.log"))))
    batches = [b for d, b in read_datasets([path], {RAW_EVENTS: [()]}) if d == RAW_EVENTS]
    return pa.Table.from_batches(batches)


def test_searches_that_share_stages_give_the_rows_each_gives_alone(tmp_path: Path) -> None:
    searches = [compile_search(spl) for spl in SPLS]
    groups, _ = prefixes.plan([_sql_of(s) for s in searches], ["all"] * len(searches))
    assert [sorted(g.members) for g in groups] == [[0, 1, 2, 3]]
    with DuckDBEngine() as engine:
        engine.register_arrow(RAW_EVENTS, _raw_events(tmp_path))
        alone = [engine.run(s) for s in searches]
        together = engine.run_many(searches)
        assert engine.last_shared == 4
        one_thread = engine.run_many(searches, workers=1)
        assert engine.last_shared == 4
        # the shared table is gone once the searches ran
        tables = engine.execute("SELECT table_name FROM duckdb_tables()").column(0).to_pylist()
    assert together == alone
    assert one_thread == alone
    assert [t.num_rows > 0 for t in alone] == [True, True, True, False, True]
    assert not [t for t in tables if t.startswith("__escudo_shared_")]


@pytest.mark.parametrize("broken", ["stages", "rewrite"])
def test_a_search_runs_as_written_when_the_shared_stages_do_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    searches = [compile_search(spl) for spl in SPLS]
    if broken == "stages":  # the shared table cannot be made: no member reads it
        monkeypatch.setattr(prefixes.Chain, "prefix_sql", lambda self, stage: "SELECT nonsense(")
    else:  # a member's query over the table does not run: that member runs as written
        monkeypatch.setattr(prefixes.Chain, "over", lambda self, stage, table: "SELECT nonsense(")
    with DuckDBEngine() as engine:
        engine.register_arrow(RAW_EVENTS, _raw_events(tmp_path))
        alone = [engine.run(s) for s in searches]
        assert engine.run_many(searches) == alone
        assert engine.last_shared == 0
        tables = engine.execute("SELECT table_name FROM duckdb_tables()").column(0).to_pylist()
    assert not [t for t in tables if t.startswith("__escudo_shared_")]
