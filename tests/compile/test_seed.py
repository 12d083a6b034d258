"""The seed detection, "Linux Ngrok Reverse Proxy Usage" v4, end to end through the compiler and DuckDB.

The search and macros are copied verbatim from the seed (../shared/reference/seed-...txt and
escu-semantics.md section 1); the expected rows are worked out by hand below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from escudo.compile import compile_search
from escudo.content.model import Macro
from escudo.engines.duckdb import DuckDBEngine
from escudo.sources.base import RawFilter

SEARCH = (
    "| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as lastTime "
    "from datamodel=Endpoint.Processes where Processes.process_name=ngrok Processes.process IN "
    '("*start*", "*--config*","*http*","*authtoken*", "*http*", "*tcp*") by Processes.dest Processes.user '
    "Processes.parent_process_name Processes.process_name Processes.original_file_name Processes.process "
    "Processes.process_id Processes.parent_process_id\n"
    "| `drop_dm_object_name(Processes)`\n"
    "| `security_content_ctime(firstTime)`\n"
    "| `security_content_ctime(lastTime)`\n"
    "| `linux_ngrok_reverse_proxy_usage_filter`"
)
MACROS = {
    m.key: m
    for m in (
        Macro(
            "security_content_summariesonly",
            "summariesonly=`summariesonly_config` allow_old_summaries=`oldsummaries_config` fillnull_value=`fillnull_config`",
        ),
        Macro("summariesonly_config", "false"),
        Macro("oldsummaries_config", "true"),
        Macro("fillnull_config", "null"),
        Macro(
            "security_content_ctime",
            'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)',
            ("field",),
        ),
    )
}


def at(second: int) -> datetime:
    return datetime(2024, 9, 30, 8, 15, second, 250000, tzinfo=UTC)


BASE = {
    "dest": "ar-linux",
    "user": "ubuntu",
    "parent_process_name": "bash",
    "original_file_name": "-",
    "parent_process_id": "4004",
}
EVENTS: list[dict[str, Any]] = [
    # 1, 2: the same process twice -> one row, count 2, first/last time from both
    {**BASE, "_time": at(1), "process_name": "ngrok", "process": "ngrok http 8080", "process_id": "4005"},
    {**BASE, "_time": at(9), "process_name": "ngrok", "process": "ngrok http 8080", "process_id": "4005"},
    # 3: upper-case name and command still match (search semantics are case-insensitive)
    {**BASE, "_time": at(5), "process_name": "NGROK", "process": "NGROK TCP 22", "process_id": "4010"},
    # 4: no original_file_name and no user -> filled with "null" (fillnull_value=null)
    {**BASE, "_time": at(7), "user": None, "original_file_name": None, "process_name": "ngrok", "process": "ngrok authtoken abc", "process_id": "4020"},
    # 5: ngrok without a listed argument -> no row
    {**BASE, "_time": at(3), "process_name": "ngrok", "process": "ngrok version", "process_id": "4030"},
    # 6: another tool whose command line has "http" -> no row
    {**BASE, "_time": at(4), "process_name": "curl", "process": "curl http://ngrok.io", "process_id": "4040"},
    # 7: "ngrok-agent" is not process_name=ngrok -> no row
    {**BASE, "_time": at(6), "process_name": "ngrok-agent", "process": "ngrok-agent start", "process_id": "4050"},
]  # fmt: skip

COMMON = {"dest": "ar-linux", "parent_process_name": "bash", "parent_process_id": "4004"}
EXPECTED = [
    {**COMMON, "user": "null", "process_name": "ngrok", "original_file_name": "null", "process": "ngrok authtoken abc",
     "process_id": "4020", "count": 1, "firstTime": "2024-09-30T08:15:07", "lastTime": "2024-09-30T08:15:07"},
    {**COMMON, "user": "ubuntu", "process_name": "NGROK", "original_file_name": "-", "process": "NGROK TCP 22",
     "process_id": "4010", "count": 1, "firstTime": "2024-09-30T08:15:05", "lastTime": "2024-09-30T08:15:05"},
    {**COMMON, "user": "ubuntu", "process_name": "ngrok", "original_file_name": "-", "process": "ngrok http 8080",
     "process_id": "4005", "count": 2, "firstTime": "2024-09-30T08:15:01", "lastTime": "2024-09-30T08:15:09"},
]  # fmt: skip
OUTPUT = ["dest", "user", "parent_process_name", "process_name", "original_file_name", "process", "process_id",
          "parent_process_id", "count", "firstTime", "lastTime"]  # fmt: skip


def test_seed_detection_returns_exactly_the_expected_rows() -> None:
    compiled = compile_search(SEARCH, macros=MACROS, origin="linux_ngrok_reverse_proxy_usage.yml")
    assert compiled.datasets == ("Endpoint.Processes",)
    assert compiled.output_fields == OUTPUT
    with DuckDBEngine() as engine:
        engine.register("Endpoint.Processes", pa.Table.from_pylist(EVENTS))
        rows = engine.run(compiled).to_pylist()
    assert rows == EXPECTED


def test_seed_raw_filter() -> None:
    compiled = compile_search(SEARCH, macros=MACROS)
    assert compiled.raw_filters == {
        "Endpoint.Processes": RawFilter(
            (("ngrok",), ("start", "--config", "http", "authtoken", "tcp"))
        )
    }


def test_seed_compiles_to_spark() -> None:
    sql = compile_search(SEARCH, macros=MACROS).sql("spark")
    assert "`Processes.dest`" in sql and "COALESCE(`dest`, 'null')" in sql
