"""Row writers: JSONL, CSV, table, Parquet, on any Arrow batches."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from escudo.errors import InputError
from escudo.outputs import WRITERS, write_batches
from escudo.outputs.tabular import TABLE_CELL_WIDTH

SCHEMA = pa.schema(
    [("_time", pa.timestamp("us", tz="UTC")), ("user", pa.string()), ("count", pa.int64()),
     ("values", pa.list_(pa.string()))]
)  # fmt: skip
BATCH = pa.record_batch(
    [
        pa.array(
            [datetime(2021, 10, 24, 17, 5, 38, 412320, tzinfo=UTC), None], SCHEMA.field(0).type
        ),
        pa.array(["ubuntu", None]),
        pa.array([3, 1]),
        pa.array([["a", "b"], []], pa.list_(pa.string())),
    ],
    schema=SCHEMA,
)


def _write(fmt: str, batches: list[pa.RecordBatch], schema: pa.Schema | None = None) -> str:
    out = io.BytesIO()
    write_batches(batches, fmt, out, schema=schema)
    return out.getvalue().decode()


def test_jsonl_keys_in_column_order_time_iso_lists_as_arrays() -> None:
    assert _write("jsonl", [BATCH]).splitlines() == [
        '{"_time": "2021-10-24T17:05:38.412320Z", "user": "ubuntu", "count": 3, "values": ["a", "b"]}',
        '{"_time": null, "user": null, "count": 1, "values": []}',
    ]


def test_non_utc_and_other_units_are_written_in_utc() -> None:
    column = pa.array(
        [datetime(2021, 10, 24, 19, 5, 38, tzinfo=UTC)], pa.timestamp("ms", tz="Europe/Paris")
    )
    assert (
        _write("jsonl", [pa.record_batch([column], names=["t"])])
        == '{"t": "2021-10-24T19:05:38.000000Z"}\n'
    )


def test_csv_quotes_and_joins_multivalue_with_newlines() -> None:
    text = _write("csv", [BATCH])
    assert text == '_time,user,count,values\n2021-10-24T17:05:38.412320Z,ubuntu,3,"a\nb"\n,,1,\n'


def test_empty_input_uses_the_schema() -> None:
    assert _write("csv", [], SCHEMA) == "_time,user,count,values\n"
    assert _write("jsonl", [], SCHEMA) == ""
    assert _write("table", [], SCHEMA).splitlines()[0].split() == [
        "_time",
        "user",
        "count",
        "values",
    ]


def test_table_aligns_and_cuts_long_cells() -> None:
    long = pa.record_batch(
        [pa.array(["x" * 200, "y"]), pa.array(["tab\there", "ctl\x01"])], names=["a", "b"]
    )
    lines = _write("table", [long]).splitlines()
    assert lines[2] == "x" * (TABLE_CELL_WIDTH - 1) + "…  tab here"
    assert lines[3] == "y" + " " * (TABLE_CELL_WIDTH + 1) + "ctl?"
    assert lines[1] == "-" * TABLE_CELL_WIDTH + "  " + "-" * 8


def test_parquet_round_trips_in_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    assert write_batches([BATCH] * 3, "parquet", path) == 6
    table = pq.read_table(path)
    assert table.schema == SCHEMA
    assert table.to_pylist()[:2] == pa.Table.from_batches([BATCH]).to_pylist()
    assert write_batches([], "parquet", tmp_path / "empty.parquet", schema=SCHEMA) == 0
    assert pq.read_table(tmp_path / "empty.parquet").schema == SCHEMA


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown output format 'xml'"):
        write_batches([BATCH], "xml", io.BytesIO())
    assert {"jsonl", "csv", "table", "parquet"} <= set(WRITERS)
