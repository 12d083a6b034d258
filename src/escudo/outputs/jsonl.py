"""JSON Lines: one JSON object per row, keys in column order (RFC 8259 JSON, ASCII only).

Multivalue fields are JSON arrays, NULL is ``null``, times are text in the one output time format
(``escudo.outputs.base.TIME_FORMAT``). Non-ASCII characters and control characters are JSON's own
``\\uXXXX`` escapes, nothing more: a JSON parser reads back the exact value. Rows stream: nothing is
held beyond the batch being written, and each batch is flushed as it is written.

The bytes are exactly ``json.dumps(row)``'s (``", "`` and ``": "`` separators, ``ensure_ascii``),
made a column at a time with Arrow kernels (:func:`jsonl_lines`): a hunt writes ~200,000 result
rows, and one ``json.dumps`` per row cost it ~3 CPU-s.

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
from json.encoder import encode_basestring_ascii
from typing import BinaryIO, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from escudo.outputs.base import OutputOptions, format_times, json_default, text_rows

# json.dumps's own settings (", " and ": ", ASCII only), made once: json.dumps(value, default=...)
# builds a new encoder for every call.
_ENCODER = json.JSONEncoder(default=json_default)
# Text JSON writes as it is between quotes: printable ASCII but '"' and '\' (json.encoder's
# ESCAPE_ASCII escapes every other character).
_PLAIN_TEXT = r"^[ !#-\[\]-~]*$"
_TEXT = pa.large_string()  # a batch's lines may pass 2 GiB


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, _TEXT)


def _encoded_text(column: pa.Array) -> pa.Array:
    """Each value of a text column as its JSON text (``null`` for NULL)."""
    column = pc.cast(column, _TEXT)
    quoted = pc.binary_join_element_wise(_text('"'), column, _text('"'), _text(""))
    plain = pc.match_substring_regex(column, _PLAIN_TEXT)
    escaped = pc.and_kleene(pc.invert(plain), pc.is_valid(column))
    if pc.any(escaped).as_py():
        values = column.filter(escaped).to_pylist()
        quoted = pc.replace_with_mask(
            quoted, escaped, pa.array([encode_basestring_ascii(v) for v in values], quoted.type)
        )
    return pc.fill_null(quoted, _text("null"))


def _encoded(column: pa.Array) -> pa.Array:
    """Each value of ``column`` (ready for text, :func:`format_times`) as its JSON text."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return _encoded_text(column)
    if pa.types.is_integer(kind):  # Arrow's decimal digits are Python's int repr
        return pc.fill_null(pc.cast(column, _TEXT), _text("null"))
    if pa.types.is_boolean(kind):
        return pc.fill_null(pc.if_else(column, _text("true"), _text("false")), _text("null"))
    # Floats (Python's repr), lists, structs and the rest: the encoder, one value at a time.
    return pa.array([_ENCODER.encode(v) for v in column.to_pylist()], _TEXT)


def jsonl_lines(batch: pa.RecordBatch) -> bytes:
    """The batch's rows as JSON Lines, each line ``json.dumps`` of the row's dict (keys in
    column order), ended by a newline.

    >>> jsonl_lines(pa.record_batch({"a": ["é", None], "n": [1, 2]}))
    b'{"a": "\\\\u00e9", "n": 1}\\n{"a": null, "n": 2}\\n'
    """
    names = batch.schema.names
    if len(set(names)) != len(names):  # a dict keeps one value per key, where the first stood
        lines = [_ENCODER.encode(dict(zip(names, row, strict=True))) for row in text_rows(batch)]
        return "".join(line + "\n" for line in lines).encode("ascii")
    if batch.num_rows == 0 or not names:  # rows of no column: no line (as zip() of no column)
        return b""
    parts: list[pa.Array | pa.Scalar] = []
    for index, (name, column) in enumerate(zip(names, batch.columns, strict=True)):
        parts.append(_text(("{" if index == 0 else ", ") + encode_basestring_ascii(name) + ": "))
        parts.append(_encoded(format_times(column)))
    parts.append(_text("}\n"))
    lines = pc.binary_join_element_wise(*parts, _text(""))
    # The lines are the text buffer between the first and the last offset, one after the other.
    _, offsets, data = lines.buffers()
    bounds = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    return data[bounds[0].as_py() : bounds[len(lines)].as_py()].to_pybytes()


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
        if batch.num_rows and batch.num_columns:
            self.out.write(jsonl_lines(batch))
            self.out.flush()  # a reader of a pipe sees each batch as it comes (a stream's rows)
            self.rows += batch.num_rows

    def close(self) -> int:
        self.out.flush()
        return self.rows
