"""Row writers for any Arrow batches: JSON Lines, CSV, an aligned terminal table, Parquet.

Every writer takes ``(batches, out, schema)`` and returns the number of rows written. Timestamps
are written as ISO-8601 UTC with microseconds (``2021-10-24T17:05:38.412320Z``); list (multivalue)
columns become JSON arrays in JSONL and newline-joined text in CSV and tables, as Splunk's CSV
export joins multivalue fields with newlines.

>>> import io, pyarrow as pa
>>> buf = io.BytesIO()
>>> write_batches([pa.record_batch({"a": ["x"], "b": [["p", "q"]]})], "jsonl", buf)
1
>>> buf.getvalue()
b'{"a": "x", "b": ["p", "q"]}\\n'
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from escudo.errors import InputError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

Writer = Callable[[Iterable[pa.RecordBatch], BinaryIO, "pa.Schema | None"], int]

_UTC_US = pa.timestamp("us", tz="UTC")
TABLE_CELL_WIDTH = 48  # longer cells are cut with "…" in the table format
PARQUET_ROW_GROUP = 128 * 1024


def _text_columns(batch: pa.RecordBatch) -> list[pa.Array]:
    """Columns with timestamps rendered as ISO-8601 UTC strings, others untouched."""
    out = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, _UTC_US, safe=False)
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
        out.append(column)
    return out


def _rows(batch: pa.RecordBatch) -> Iterator[list[Any]]:
    columns = [c.to_pylist() for c in _text_columns(batch)]
    return (list(row) for row in zip(*columns, strict=True))


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_flat(v) for v in value)
    return str(value)


@contextmanager
def _text(out: BinaryIO) -> Iterator[io.TextIOWrapper]:
    wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        yield wrapper
        wrapper.flush()
    finally:
        wrapper.detach()  # the caller owns (and closes) the binary stream


def write_jsonl(batches: Iterable[pa.RecordBatch], out: BinaryIO, schema: pa.Schema | None) -> int:
    """One JSON object per row, keys in column order."""
    count = 0
    with _text(out) as text:
        for batch in batches:
            names = batch.schema.names
            for row in _rows(batch):
                text.write(json.dumps(dict(zip(names, row, strict=True)), default=str) + "\n")
                count += 1
    return count


def write_csv(batches: Iterable[pa.RecordBatch], out: BinaryIO, schema: pa.Schema | None) -> int:
    """RFC 4180 CSV with a header row; NULL is an empty cell."""
    count = 0
    header_done = False
    with _text(out) as text:
        writer = csv.writer(text, lineterminator="\n")
        for batch in batches:
            if not header_done:
                writer.writerow(batch.schema.names)
                header_done = True
            for row in _rows(batch):
                writer.writerow([_flat(v) for v in row])
                count += 1
        if not header_done and schema is not None:
            writer.writerow(schema.names)
    return count


def _cell(value: Any) -> str:
    text = _flat(value).replace("\n", " ").replace("\t", " ")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= TABLE_CELL_WIDTH else text[: TABLE_CELL_WIDTH - 1] + "…"


def write_table(batches: Iterable[pa.RecordBatch], out: BinaryIO, schema: pa.Schema | None) -> int:
    """An aligned text table for a terminal (holds all rows to size the columns)."""
    names: list[str] = list(schema.names) if schema is not None else []
    cells: list[list[str]] = []
    for batch in batches:
        names = batch.schema.names
        cells.extend([_cell(v) for v in row] for row in _rows(batch))
    if not names:
        return 0
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    with _text(out) as text:
        text.write("\n".join(lines) + "\n")
    return len(cells)


def write_parquet(
    batches: Iterable[pa.RecordBatch], out: BinaryIO, schema: pa.Schema | None
) -> int:
    """Parquet, streamed: batches are gathered into row groups of about ``PARQUET_ROW_GROUP`` rows."""
    import pyarrow.parquet as pq  # only here: ~20 ms of start-up every other command would pay

    writer: pq.ParquetWriter | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    count = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending and writer is not None:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=PARQUET_ROW_GROUP)
        pending, pending_rows = [], 0

    def open_writer(target: pa.Schema, first: pa.RecordBatch | None) -> pq.ParquetWriter:
        # Min/max statistics where they prune (time, numbers); on free text they cost a quarter
        # of the write time and rarely help a reader.
        stats = [f.name for f in target if not _is_text(f.type)]
        return pq.ParquetWriter(
            out,
            target,
            compression="snappy",
            write_statistics=stats or False,
            use_dictionary=_dictionary_columns(target, first),
        )

    try:
        for batch in batches:
            if writer is None:
                writer = open_writer(schema or batch.schema, batch)
            pending.append(batch)
            pending_rows += batch.num_rows
            count += batch.num_rows
            if pending_rows >= PARQUET_ROW_GROUP:
                flush()
        if writer is None:
            writer = open_writer(schema or pa.schema([]), None)
        flush()
    finally:
        if writer is not None:
            writer.close()
    return count


# A column whose first batch has more distinct values than this share of its rows (GUIDs, PIDs,
# times) skips dictionary encoding: the dictionary would only be built and then abandoned.
DICTIONARY_MAX_DISTINCT = 0.25
DICTIONARY_SAMPLE_MIN = 1024  # fewer rows than this say nothing: every column tries a dictionary


def _dictionary_columns(schema: pa.Schema, first: pa.RecordBatch | None) -> bool | list[str]:
    """Columns worth dictionary-encoding, judged on the first batch (measured: 25% less write time
    on Endpoint.Processes rows, and a smaller file)."""
    if first is None or first.num_rows < DICTIONARY_SAMPLE_MIN or first.schema != schema:
        return True
    limit = first.num_rows * DICTIONARY_MAX_DISTINCT
    names: list[str] = []
    for f, column in zip(schema, first.columns, strict=True):
        if pa.types.is_nested(f.type):  # multivalue: few distinct values; named by leaf path
            names += [f.name, f"{f.name}.list.element"]
        elif pc.count_distinct(column).as_py() <= limit:
            names.append(f.name)
    return names


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _is_text(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)


def write_batches(
    batches: Iterable[pa.RecordBatch],
    fmt: str,
    out: BinaryIO | str | os.PathLike[str],
    *,
    schema: pa.Schema | None = None,
) -> int:
    """Write batches in a format of ``escudo.outputs.WRITERS`` to a binary stream or a path.

    ``schema`` is used when there are no batches (a CSV header, an empty Parquet file).
    Returns the number of rows written.
    """
    from escudo.outputs import WRITERS

    try:
        writer = WRITERS[fmt]
    except KeyError:
        known = ", ".join(sorted(WRITERS))
        raise InputError(f"unknown output format {fmt!r} (known: {known})") from None
    if isinstance(out, str | os.PathLike):
        with open(out, "wb") as fh:
            return writer(batches, fh, schema)
    return writer(batches, out, schema)
