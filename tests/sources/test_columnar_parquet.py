"""The Parquet writer's tuning for ingest output: dictionary encoding only where values repeat."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from escudo.outputs import write_batches
from escudo.outputs.parquet import DICTIONARY_SAMPLE_MIN


def _encodings(data: bytes) -> dict[str, tuple[str, ...]]:
    meta = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    return {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }


def test_unique_columns_skip_the_dictionary_and_round_trip() -> None:
    n = DICTIONARY_SAMPLE_MIN * 2
    batch = pa.record_batch(
        {
            "guid": [f"{{{i:08x}-0000}}" for i in range(n)],
            "image": ["/usr/bin/bash", "/usr/bin/git"] * (n // 2),
            "tags": [["a", "b"]] * n,
            "_time": pa.array(range(n), pa.timestamp("us", tz="UTC")),
        }
    )
    out = io.BytesIO()
    assert write_batches([batch, batch], "parquet", out) == 2 * n
    assert pq.read_table(io.BytesIO(out.getvalue())).equals(pa.Table.from_batches([batch, batch]))
    encodings = _encodings(out.getvalue())
    assert "RLE_DICTIONARY" not in encodings["guid"]
    assert "RLE_DICTIONARY" in encodings["image"]
    assert "RLE_DICTIONARY" in encodings["tags.list.element"]


def test_small_first_batch_keeps_every_dictionary() -> None:
    batch = pa.record_batch({"guid": [str(i) for i in range(10)]})
    out = io.BytesIO()
    write_batches([batch], "parquet", out)
    assert "RLE_DICTIONARY" in _encodings(out.getvalue())["guid"]


def test_no_batches_writes_an_empty_file_with_the_schema() -> None:
    schema = pa.schema([("a", pa.string())])
    out = io.BytesIO()
    assert write_batches([], "parquet", out, schema=schema) == 0
    assert pq.read_table(io.BytesIO(out.getvalue())).schema == schema
