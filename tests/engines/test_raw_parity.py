"""Raw-event searches return the same rows on DuckDB and Spark: search-time fields, free-text
terms and the ``foreach`` fold over the 50 authored auditd sets and the Sysmon sample."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.datamodels.normalize import read_dataset
from escudo.engines import new_engine
from escudo.engines.base import Engine
from escudo.engines.duckdb import DuckDBEngine
from escudo.sources.base import RAW_EVENTS

ROOT = Path(__file__).resolve().parents[2]
LOGS = [
    *sorted((ROOT / "tests/data/auditd_detections").rglob("*.log")),
    ROOT / "samples/sysmon-linux-syslog.log",
]
EXECVE = (
    'sourcetype="linux:audit" type=EXECVE | eval relevant_fields=if(type="EXECVE", "", '
    'relevant_fields) | foreach a* [eval relevant_fields=if(type="EXECVE", '
    "mvappend(relevant_fields, '<<FIELD>>'), relevant_fields)] "
    '| eval process_exec=if(type="EXECVE", trim(mvjoin(relevant_fields, " ")), process_exec)'
)
SEARCHES = [
    f"{EXECVE} | stats count by argc process_exec host",
    'index=main sourcetype="linux:audit" type=SYSCALL comm IN ("at", "whoami", "split") '
    "OR exe=*/split | stats count values(pid) as pid by comm exe UID SYSCALL success host",
    'sourcetype="linux:audit" type=SERVICE_STOP | stats count by unit res UID comm host',
    "sourcetype=linux:audit type=PATH name=/etc/* | stats count by name nametype OGID",
    "sourcetype=sysmon:linux EventID=1 ngrok | stats count by Image CommandLine host",
    'sourcetype=linux:audit | foreach a1 a2 [eval n=mvappend(n, "<<FIELD>>")] | stats count by n',
]


def _value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def agree(engines: tuple[Engine, Engine], compiled: Any) -> list[str]:
    """The rows both engines return (as sorted text), asserted equal (as test_parity.agree)."""
    duckdb, spark = engines
    on_duckdb, on_spark = duckdb.run(compiled), spark.run(compiled)
    assert on_spark.column_names == on_duckdb.column_names

    def rows(table: pa.Table) -> list[str]:
        return sorted(repr({k: _value(v) for k, v in r.items()}) for r in table.to_pylist())

    assert rows(on_spark) == rows(on_duckdb)
    return rows(on_duckdb)


@pytest.fixture(scope="module")
def engines(spark_session: Engine) -> Iterator[tuple[Engine, Engine]]:
    events = pa.Table.from_batches(list(read_dataset(LOGS, RAW_EVENTS)))
    assert events.num_rows > 300
    with DuckDBEngine() as duckdb, new_engine("spark") as spark:
        for engine in (duckdb, spark):
            engine.register_arrow(RAW_EVENTS, events)
        yield duckdb, spark


@pytest.mark.parametrize("spl", SEARCHES, ids=lambda s: s[:48])
def test_raw_searches_agree(engines: tuple[Engine, Engine], spl: str) -> None:
    assert agree(engines, compile_search(spl))  # and they find something
