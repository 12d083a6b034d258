"""Bytes into lines: files, directories, ``.gz``, stdin; newline-aligned chunks; syslog headers.

Inputs are expanded deterministically (directories recursively, sorted). A gzip input is recognised
by its magic bytes, not its name. Chunks always end at a newline so a line is never split between
two workers; each chunk knows the 1-based number of its first line for error messages.

>>> syslog_host("Nov 24 09:59:47 ip-172-31-60-25 sysmon: ")
'ip-172-31-60-25'
>>> syslog_host("<14>1 2022-11-24T09:59:47.851002+00:00 web-1 sysmon - - - ") , syslog_host("")
('web-1', None)
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from escudo.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


@dataclass(frozen=True)
class Input:
    """One input stream: ``name`` is what messages show (``-`` for stdin)."""

    name: str
    path: Path | None  # None for stdin
    gzipped: bool = False

    @property
    def seekable(self) -> bool:
        """A plain regular file: workers can read byte ranges of it directly."""
        return self.path is not None and not self.gzipped

    def open(self) -> BinaryIO:
        """The decompressed byte stream."""
        raw: BinaryIO = sys.stdin.buffer if self.path is None else open(self.path, "rb")  # noqa: SIM115
        if self.path is None:
            head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
            if head == GZIP_MAGIC:
                return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
            return raw
        if self.gzipped:
            return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        return raw


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Input]:
    """Files, directories (recursive, sorted) and ``-`` into a list of inputs.

    Raises :class:`InputError` for a path that does not exist.
    """
    out: list[Input] = []
    for p in paths:
        if str(p) == STDIN:
            out.append(Input(STDIN, None))
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif path.exists():
            files = [path]
        else:
            raise InputError("no such file or directory", path=str(path))
        out.extend(Input(str(f), f, _is_gzip(f)) for f in files)
    return out


def iter_chunks(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Newline-aligned pieces of a stream (the last may lack its newline).

    >>> list(iter_chunks(io.BytesIO(b"a\\nbb\\nccc"), 3))
    [b'a\\nbb\\n', b'ccc']
    """
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += stream.readline()  # complete the last line: one copy, however long it is
        yield block


def count_lines(data: bytes) -> int:
    """Lines in ``data``, a last one without its newline included.

    >>> count_lines(b"a\\nb"), count_lines(b"a\\n"), count_lines(b"")
    (2, 1, 0)
    """
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def file_ranges(path: Path, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` pieces of a plain file, each ending just after a newline (or at EOF)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        start = 0
        while start < size:
            end = start + chunk_bytes
            if end >= size:
                yield start, size - start
                return
            fh.seek(end)
            while True:  # extend to the next newline, however long the line
                piece = fh.read(1 << 16)
                if not piece:
                    end = size
                    break
                nl = piece.find(b"\n")
                if nl >= 0:
                    end += nl + 1
                    break
                end += len(piece)
            yield start, end - start
            start = end


def read_range(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def iter_blocks(path: Path, offset: int, length: int, block_bytes: int) -> Iterator[memoryview]:
    """Newline-aligned pieces of a file range (the last may lack its newline), read through one
    reused buffer of about ``block_bytes``: each view is valid until the next one is asked for.

    A small buffer stays in the CPU cache between the kernel's copy and the scan, and a range of
    any size costs no more memory (a line longer than the buffer grows it).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"a\\nbbbbbb\\nc\\nd"); _ = fh.flush()
    ...     [bytes(v) for v in iter_blocks(Path(fh.name), 0, 13, 4)]
    [b'a\\n', b'bbbbbb\\n', b'c\\n', b'd']
    """
    buf = bytearray(max(1, min(block_bytes, length)))
    carry, left = 0, length  # buf[:carry] is the start of a line not yet given out
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        while True:
            if carry == len(buf):  # no newline in a whole buffer: a new one, twice as long
                buf = buf + bytes(len(buf))
            want = min(len(buf) - carry, left)
            got = fh.readinto(memoryview(buf)[carry : carry + want]) if want else 0
            left -= got
            end = carry + got
            if not got:  # the range (or the file) ends
                if end:
                    yield memoryview(buf)[:end]
                return
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut == 0:
                carry = end
                continue
            view = memoryview(buf)[:cut]
            yield view
            view.release()
            buf[: end - cut] = buf[cut:end]
            carry = end - cut


# Syslog headers that precede the payload, as (shape, pattern); the named group ``host`` is the
# sending host. Shapes: linux-telemetry.md 1.2 (rsyslog traditional and RSYSLOG_FileFormat, RFC 3164
# forwarded with a <PRI>, RFC 5424 per RFC 5424 section 6, journalctl short output with [PID]).
SYSLOG_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rfc3164", re.compile(r"(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?P<host>\S+) [^\s:\[]+(?:\[\d+\])?:")),
    ("rfc5424", re.compile(r"<\d{1,3}>\d{1,2} \S+ (?P<host>\S+) \S+ \S+ \S+ (?:-|\[.*\])")),
    ("iso8601", re.compile(r"(?:<\d{1,3}>)?\d{4}-\d\d-\d\dT\S+ (?P<host>\S+) [^\s:\[]+(?:\[\d+\])?:")),
)  # fmt: skip


def syslog_host(prefix: str) -> str | None:
    """The host named by a syslog header (the text before the payload), or None if there is none."""
    prefix = prefix.strip().lstrip("\ufeff")
    if not prefix:
        return None
    for _shape, pattern in SYSLOG_SHAPES:
        m = pattern.fullmatch(prefix)
        if m:
            host = m.group("host")
            return None if host == "-" else host  # RFC 5424 NILVALUE
    return None
