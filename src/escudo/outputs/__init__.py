"""outputs stage of escudo (see docs/architecture.md): row writers registered by format name.

Every command that prints rows (``events``, ``hunt``, ``search``, ``drilldown``) writes through these
writers: each is a small class implementing ``escudo.outputs.base.Writer`` over Arrow record
batches, in its own module. Add a format by adding a module and a row to ``WRITERS``. Callers use
:func:`write_sections` (titled sections: detections, drilldowns) or :func:`write_batches` (one
stream of rows).
"""

from __future__ import annotations

from escudo.outputs.base import OutputOptions, Section, Writer
from escudo.outputs.csv import CsvWriter
from escudo.outputs.jsonl import JsonlWriter
from escudo.outputs.parquet import ParquetWriter
from escudo.outputs.sections import records_section, write_batches, write_sections
from escudo.outputs.table import TableWriter

WRITERS: dict[str, type[Writer]] = {
    "table": TableWriter,
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}

__all__ = [
    "WRITERS",
    "OutputOptions",
    "Section",
    "Writer",
    "records_section",
    "write_batches",
    "write_sections",
]
