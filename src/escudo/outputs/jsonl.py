"""JSON Lines: one JSON object per row, keys in column order (RFC 8259 JSON, ASCII only).

Multivalue fields are JSON arrays, NULL is ``null``, times are text in the one output time format
(``escudo.outputs.base.TIME_FORMAT``). Non-ASCII characters and control characters are JSON's own
``\\uXXXX`` escapes, nothing more: a JSON parser reads back the exact value. Rows stream: nothing is
held beyond the batch being written, and each batch is flushed as it is written.

>>> import io, pyarrow as pa
>>> from escudo.outputs.base import OutputOptions
>>> buf = io.BytesIO()
>>> writer = JsonlWriter(buf, OutputOptions())
>>> writer.begin(pa.schema([("a", pa.string())]))
>>> writer.write(pa.record_batch({"a": ["x\\x1b"], "b": [["p", "q"]]}))
>>> writer.close(), buf.getvalue()
(1, b'{"a": "x\\\\u001b", "b": ["p", "q"]}\\n')
"""

from __future__ import annotations

import json
from typing import BinaryIO, ClassVar

import pyarrow as pa

from escudo.outputs.base import OutputOptions, json_default, text_rows


class JsonlWriter:
    """``--format jsonl``."""

    blocks: ClassVar[bool] = False
    one_schema: ClassVar[bool] = False

    def __init__(self, out: BinaryIO, options: OutputOptions) -> None:
        self.out = out
        self.rows = 0

    def begin(self, schema: pa.Schema, title: str | None = None) -> None:
        """Nothing to write before the rows: each row names its own keys."""

    def write(self, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        lines = [
            json.dumps(dict(zip(names, row, strict=True)), default=json_default)
            for row in text_rows(batch)
        ]
        if lines:
            self.out.write(("\n".join(lines) + "\n").encode("ascii"))
            self.out.flush()  # a reader of a pipe sees each batch as it comes (a stream's rows)
        self.rows += len(lines)

    def close(self) -> int:
        self.out.flush()
        return self.rows
