"""DuckDB and Spark return the same rows for the same compiled search over the same data.

The data is the project's own (the bundled attack data and the Sysmon fixtures) plus a crafted set
holding what separates the engines (issue 11, point 5): sub-second ``_time``, ``\\r`` inside a
value, a value ending in a newline, Turkish dotted capital I (``İ``) and Greek capital sigma at the
end of a word. Every shipped detection runs on it, then searches that read those values directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.content.loader import load_content
from escudo.datamodels.normalize import read_dataset
from escudo.detect.hunt import compile_detection, empty_table
from escudo.engines import new_engine
from escudo.engines.base import Engine
from escudo.engines.duckdb import DuckDBEngine

ROOT = Path(__file__).resolve().parents[2]
PROJECT_LOGS = sorted(
    [
        *(ROOT / "src/escudo/data/attack_data/datasets").rglob("*.log"),
        *(ROOT / "tests/fixtures/sysmon/golden").glob("*.log"),
    ]
)
PROCESSES = "Endpoint.Processes"


def _at(second: int, micros: int) -> datetime:
    return datetime(2024, 5, 1, 12, 0, second, micros, tzinfo=UTC)


# Crafted process events: each row matches a shipped detection (so it reaches their output) and
# carries one of the values the engines read differently.
CRAFTED: list[dict[str, Any]] = [
    # sub-second times: min/max(_time) keep the microseconds on both engines
    {"_time": _at(1, 250_000), "process": "ngrok tcp 22", "user": "ops"},
    {"_time": _at(7, 999_999), "process": "ngrok tcp 22", "user": "ops"},
    # "\r" inside the command line, and a command line ending in a newline
    {"_time": _at(2, 1), "process": "ngrok tcp\r22\n", "user": "ops"},
    # Turkish dotted capital I and a word-final capital sigma
    {"_time": _at(3, 500_000), "process": "ngrok http İSTANBUL ΟΔΟΣ", "user": "İsmail"},
    {"_time": _at(4, 0), "process": "cloudflared tunnel\r--url http://ΑΘΗΝΑΣ", "user": "ΣΟΦΙΑΣ"},
    {"_time": _at(5, 123_456), "process": "chisel client ŞEHİR:8080 R:socks", "user": "straße"},
]


def crafted_processes() -> pa.Table:
    schema = empty_table(PROCESSES).schema
    rows = [
        {
            "dest": "host-İ",
            "process_name": str(row["process"]).split()[0],
            "original_file_name": "-",
            "parent_process_name": "bash",
            "process_id": "4242",
            "parent_process_id": "1",
            **row,
        }
        for row in CRAFTED
    ]
    return pa.Table.from_pylist(rows, schema=schema)


# Searches that read the crafted values the ways the engines differ on (each is a detection idiom:
# raw lastTime, regex, rex, match, replace, lower/upper, case-insensitive search).
SEARCHES = [
    "| tstats count min(_time) as firstTime max(_time) as lastTime "
    "from datamodel=Endpoint.Processes by Processes.user",
    "| from datamodel Endpoint.Processes | eval t=_time, n=tostring(_time) | table process t n",
    '| from datamodel Endpoint.Processes | regex process="22$" | table process',
    '| from datamodel Endpoint.Processes | regex process="tcp.22" | table process',
    '| from datamodel Endpoint.Processes | rex field=process "(?<port>\\d+)$" | table process port',
    '| from datamodel Endpoint.Processes | where match(process, "(?i)οδος") | table process',
    '| from datamodel Endpoint.Processes | eval r=replace(process, "\\d+$", "N") | table r',
    "| from datamodel Endpoint.Processes | eval l=lower(process), u=upper(user) | table l u",
    '| from datamodel Endpoint.Processes | search user="ismail" OR process="*οδοσ" | table user',
    '| from datamodel Endpoint.Processes | stats count by user | where lower(user) LIKE "σοφια%"',
]


@pytest.fixture(scope="module")
def processes() -> pa.Table:
    read = pa.Table.from_batches(
        list(read_dataset(PROJECT_LOGS, PROCESSES)), schema=empty_table(PROCESSES).schema
    )
    return pa.concat_tables([read, crafted_processes()])


@pytest.fixture(scope="module")
def engines(spark_session: Engine, processes: pa.Table) -> Iterator[tuple[Engine, Engine]]:
    with DuckDBEngine() as duckdb, new_engine("spark") as spark:
        for engine in (duckdb, spark):
            engine.register_arrow(PROCESSES, processes)
        yield duckdb, spark


def _value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a whole DOUBLE and a BIGINT are the same number
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def rows(table: pa.Table) -> list[str]:
    """The rows as sorted text (order is not part of a search's answer unless it sorts)."""
    return sorted(repr({k: _value(v) for k, v in row.items()}) for row in table.to_pylist())


def agree(engines: tuple[Engine, Engine], compiled: Any) -> list[str]:
    duckdb, spark = engines
    on_duckdb, on_spark = duckdb.run(compiled), spark.run(compiled)
    assert on_spark.column_names == on_duckdb.column_names
    assert rows(on_spark) == rows(on_duckdb)
    return rows(on_duckdb)


def test_project_data_holds_what_separates_the_engines(processes: pa.Table) -> None:
    assert len(PROJECT_LOGS) >= 8
    text = [v for v in processes.column("process").to_pylist() if v]
    assert any("\r" in v for v in text) and any(v.endswith("\n") for v in text)
    assert any("İ" in v for v in text) and any("Σ " in v or v.endswith("Σ") for v in text)
    times = processes.column("_time").to_pylist()
    assert any(t is not None and t.microsecond for t in times)


@pytest.mark.parametrize(
    "name", sorted(load_content(builtin=True).detections), ids=lambda name: name[:40]
)
def test_every_shipped_detection_agrees(engines: tuple[Engine, Engine], name: str) -> None:
    content = load_content(builtin=True)
    found = agree(engines, compile_detection(content.detections[name], content))
    assert found, f"{name} finds nothing in the project's data: the parity shows nothing"


@pytest.mark.parametrize("spl", SEARCHES)
def test_searches_over_the_crafted_values_agree(engines: tuple[Engine, Engine], spl: str) -> None:
    assert agree(engines, compile_search(spl))
