"""CSV (RFC 4180): a header row, then one row per result; NULL is an empty cell.

Multivalue cells are their values joined with newlines, as Splunk's CSV export writes them; times
are text in the one output time format. Rows stream: nothing is held beyond the batch being written.

With ``OutputOptions(csv_safe=True)`` (``--csv-safe``) a cell a spreadsheet would take for a formula
gets a leading ``'`` (:func:`escape_formula`, docs/semantics.md "CSV and spreadsheets").

>>> import io, pyarrow as pa
>>> from escudo.outputs.base import OutputOptions
>>> buf = io.BytesIO()
>>> writer = CsvWriter(buf, OutputOptions(csv_safe=True))
>>> writer.begin(pa.schema([("process", pa.string())]))
>>> writer.write(pa.record_batch({"process": ["=HYPERLINK(1)", "ls -l"]}))
>>> writer.close(), buf.getvalue().decode()
(2, "process\\n'=HYPERLINK(1)\\nls -l\\n")
"""

from __future__ import annotations

import csv
import io
import re
from typing import BinaryIO, ClassVar

import pyarrow as pa

from escudo.outputs.base import OutputOptions, cell_text, text_rows

# OWASP's CSV injection guidance: a cell starting with = + - @, tab or carriage return is read as a
# formula (https://owasp.org/www-community/attacks/CSV_Injection); ASVS 5.0 (1.2.10) adds NUL.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
# A plain number ("-5", "+1.5e3") is a number to a spreadsheet too, not a formula: left as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# RFC 4180 section 2.6: a field holding a comma, a double quote, CR or LF is quoted. (Python's csv
# module leaves a lone CR unquoted when rows end in LF, and readers then split the row there.)
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def csv_field(text: str) -> str:
    """``text`` as one RFC 4180 field: quoted, with doubled quotes, when it must be.

    >>> [csv_field(t) for t in ("a", "a,b", 'a "b" c', "cr\\rhere", "")]
    ['a', '"a,b"', '"a ""b"" c"', '"cr\\rhere"', '']
    """
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_lines(rows: list[list[str]]) -> str:
    """``rows`` as CSV lines ending in LF, every field through :func:`csv_field`; a row of one empty
    field is ``""`` (an empty line would read back as no field), as Python's ``csv`` writes it.

    >>> csv_lines([["a", "b,c"], [""], ["x\\ry"]])
    'a,"b,c"\\n""\\n"x\\ry"\\n'
    """
    return "".join(
        ('""' if row == [""] else ",".join(csv_field(v) for v in row)) + "\n" for row in rows
    )


def escape_formula(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula.

    >>> [escape_formula(t) for t in ("=1+2", "@SUM(A1)", "-bash", "-5", "\\tx", "ls", "")]
    ["'=1+2", "'@SUM(A1)", "'-bash", '-5', "'\\tx", 'ls', '']
    """
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class CsvWriter:
    """``--format csv``."""

    blocks: ClassVar[bool] = False
    one_schema: ClassVar[bool] = True

    def __init__(self, out: BinaryIO, options: OutputOptions) -> None:
        self.out = out
        self.safe = options.csv_safe
        self.rows = 0

    def _cells(self, values: list[str]) -> list[str]:
        return [escape_formula(v) for v in values] if self.safe else values

    def _write_rows(self, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)  # C speed, right without a CR
        text = buffer.getvalue()
        if "\r" in text:
            text = csv_lines(rows)
        self.out.write(text.encode("utf-8"))

    def begin(self, schema: pa.Schema, title: str | None = None) -> None:
        self._write_rows([self._cells(list(schema.names))])

    def write(self, batch: pa.RecordBatch) -> None:
        rows = [self._cells([cell_text(v, "\n") for v in row]) for row in text_rows(batch)]
        self._write_rows(rows)
        self.out.flush()  # a reader of a pipe sees each batch as it comes (a stream's rows)
        self.rows += len(rows)

    def close(self) -> int:
        self.out.flush()
        return self.rows
