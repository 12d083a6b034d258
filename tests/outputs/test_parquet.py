"""``--format parquet``: streamed row groups, Arrow types kept, one schema across sections."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rows import BATCH, SCHEMA

from escudo.outputs import Section, records_section, write_batches, write_sections
from escudo.outputs import parquet as parquet_module


def test_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    assert write_batches([BATCH] * 3, "parquet", path) == 6
    table = pq.read_table(path)
    assert table.schema == SCHEMA
    assert table.to_pylist() == pa.Table.from_batches([BATCH] * 3).to_pylist()


def test_row_groups_are_cut_at_the_configured_size(tmp_path: Path) -> None:
    rows = parquet_module.PARQUET_ROW_GROUP + 10
    batch = pa.record_batch({"n": pa.array(range(rows), pa.int64())})
    path = tmp_path / "big.parquet"
    assert write_batches([batch], "parquet", path) == rows
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == rows and meta.num_row_groups == 2


def test_no_rows_is_an_empty_file_with_the_schema(tmp_path: Path) -> None:
    assert write_batches([], "parquet", tmp_path / "empty.parquet", schema=SCHEMA) == 0
    assert pq.read_table(tmp_path / "empty.parquet").schema == SCHEMA


def test_titled_sections_become_one_table_with_a_detection_column(tmp_path: Path) -> None:
    sections = [
        Section.of_table("A", pa.table({"user": ["alice"], "count": [1]})),
        Section.of_table("B", pa.table({"dest": ["web-02"], "count": ["2"]})),
    ]
    path = tmp_path / "hunt.parquet"
    assert write_sections(sections, "parquet", path) == 2
    table = pq.read_table(path)
    assert table.schema.names == ["detection", "user", "count", "dest"]
    assert table.schema.field("count").type == pa.string()  # int in A, text in B: text
    assert table.to_pylist() == [
        {"detection": "A", "user": "alice", "count": "1", "dest": None},
        {"detection": "B", "user": None, "count": "2", "dest": "web-02"},
    ]


def test_records_of_mixed_types_get_one_type_per_column(tmp_path: Path) -> None:
    when = datetime(2024, 5, 1, 10, tzinfo=UTC)
    records = [
        {"source": "ESCU - X - Rule", "firstTime": "2024-05-01T10:00:00", "risk_score": 50},
        {"source": ["ESCU - X - Rule", "ESCU - Y - Rule"], "firstTime": when, "risk_score": 80},
    ]
    path = tmp_path / "findings.parquet"
    assert write_sections([records_section(None, records)], "parquet", path) == 2
    assert pq.read_table(path).to_pylist() == [
        {"source": ["ESCU - X - Rule"], "firstTime": "2024-05-01T10:00:00", "risk_score": 50},
        {
            "source": ["ESCU - X - Rule", "ESCU - Y - Rule"],
            "firstTime": "2024-05-01T10:00:00.000000Z",
            "risk_score": 80,
        },
    ]
