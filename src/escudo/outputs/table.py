"""An aligned text table for a terminal: a block per section, headed ``== <title> (N results)``.

Cells are never cut (``jsonl`` or ``csv`` are the formats to read back). Multivalue cells are their
values joined with ``", "``; times are text in the one output time format. A block is held in
memory until its last row, to size its columns.

Log values reach a terminal only as printable text: every character Python does not call printable
(C0 and C1 controls such as ESC, CR and backspace, DEL, bidirectional overrides such as U+202E,
line and paragraph separators) is shown as an escape (``\\x1b``, ``\\r``, ``\\u202e``), so a log line
cannot move the cursor, recolour or rewrite the screen, or reorder what is shown
(:func:`terminal_text`; docs/semantics.md "Terminal output").

>>> import io, pyarrow as pa
>>> from escudo.outputs.base import OutputOptions
>>> buf = io.BytesIO()
>>> writer = TableWriter(buf, OutputOptions())
>>> writer.begin(pa.schema([("user", pa.string())]), "D")
>>> writer.write(pa.record_batch({"user": ["root\\x1b[2J"]}))
>>> writer.close()
1
>>> print(buf.getvalue().decode(), end="")
== D (1 result)
user
-----------
root\\x1b[2J
<BLANKLINE>
"""

from __future__ import annotations

import re
from typing import BinaryIO, ClassVar

import pyarrow as pa

from escudo.outputs.base import OutputOptions, cell_text, text_rows

_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NOT_PLAIN_ASCII = re.compile(r"[^ -~]")  # candidates; only the non-printable ones are escaped


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch.isprintable():
        return ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal_text(text: str) -> str:
    """``text`` with every non-printable character shown as a Python-style escape.

    Printable text, including letters of any script, is left as it is; a backslash is not doubled.

    >>> terminal_text("a\\x1b[31mb\\rc\\x08\\u202ed\\u00e9\\x9b")
    'a\\\\x1b[31mb\\\\rc\\\\x08\\\\u202edé\\\\x9b'
    """
    if text.isprintable():
        return text
    return _NOT_PLAIN_ASCII.sub(_escape, text)


class TableWriter:
    """``--format table``."""

    blocks: ClassVar[bool] = True
    one_schema: ClassVar[bool] = False

    def __init__(self, out: BinaryIO, options: OutputOptions) -> None:
        self.out = out
        self.rows = 0
        self.block: _Block | None = None

    def begin(self, schema: pa.Schema, title: str | None = None) -> None:
        self._flush_block()
        self.block = _Block(title, [terminal_text(n) for n in schema.names])

    def write(self, batch: pa.RecordBatch) -> None:
        assert self.block is not None, "begin() first"
        for row in text_rows(batch):
            self.block.cells.append([terminal_text(cell_text(v, ", ")) for v in row])

    def close(self) -> int:
        self._flush_block()
        self.out.flush()
        return self.rows

    def _flush_block(self) -> None:
        if self.block is not None:
            self.out.write(self.block.render().encode("utf-8"))
            self.rows += len(self.block.cells)
            self.block = None


class _Block:
    def __init__(self, title: str | None, names: list[str]) -> None:
        self.title = title
        self.names = names
        self.cells: list[list[str]] = []

    def render(self) -> str:
        lines = []
        if self.title is not None:
            n = len(self.cells)
            lines.append(f"== {terminal_text(self.title)} ({n} result{'' if n == 1 else 's'})")
        # A titled block without rows is its heading alone.
        if self.names and (self.cells or self.title is None):
            widths = [max([len(n)] + [len(r[i]) for r in self.cells]) for i, n in enumerate(self.names)]  # fmt: skip
            lines.append(_line(self.names, widths))
            lines.append("  ".join("-" * w for w in widths))
            lines += [_line(r, widths) for r in self.cells]
        if self.title is not None:
            lines.append("")
        return "".join(line + "\n" for line in lines)


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
