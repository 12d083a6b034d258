"""Rows the writer tests share: one batch of every kind of value a command prints."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa

from escudo.outputs import OutputOptions, Section, write_batches, write_sections

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
# Text a log can carry: ESC (colours, clear screen, OSC title), BEL, CR, backspace, DEL, the C1 CSI,
# a right-to-left override, a line separator.
HOSTILE = "ok\x1b[2J\x1b]0;t\x07\rX\x08\x7f\x9b1m\u202egnp.exe\u2028end"


def render(fmt: str, batches: list[pa.RecordBatch], schema: pa.Schema | None = None, **options: bool) -> str:  # fmt: skip
    out = io.BytesIO()
    write_batches(batches, fmt, out, schema=schema, options=OutputOptions(**options))
    return out.getvalue().decode()


def render_sections(fmt: str, sections: list[Section], **options: bool) -> str:
    out = io.BytesIO()
    write_sections(sections, fmt, out, OutputOptions(**options))
    return out.getvalue().decode()
