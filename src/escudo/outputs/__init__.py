"""outputs stage of escudo (see docs/architecture.md): writers registered by format name.

A writer takes ``(batches, out: BinaryIO, schema | None)`` and returns the rows written; add a
format by adding a row to ``WRITERS``. Callers use :func:`write_batches`.
"""

from __future__ import annotations

from escudo.outputs.tabular import (
    Writer,
    write_batches,
    write_csv,
    write_jsonl,
    write_parquet,
    write_table,
)

WRITERS: dict[str, Writer] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "table": write_table,
    "parquet": write_parquet,
}

__all__ = ["WRITERS", "Writer", "write_batches"]
