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

import codecs
import errno
import functools
import gzip
import importlib
import io
import os
import queue
import re
import stat
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from escudo.errors import InputError
from escudo.sources.base import ReadStats

try:  # the C helper of the raw prefilter, built with the package where a compiler is found
    _plain_text = importlib.import_module("escudo.sources._scan").plain_text
except (ImportError, AttributeError):
    _plain_text = None

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
# A stream (stdin, a FIFO) hands over the complete lines it has at most this many seconds after
# the first of them arrived, whatever the chunk size (semantics "Streaming input").
STREAM_DELAY = 0.25


@dataclass(frozen=True)
class Input:
    """One input stream: ``name`` is what messages show (``-`` for stdin).

    ``stream``: not a regular file with a size (a FIFO, a character device, a ``/proc`` file):
    read once from start to end, gzip sniffed by peeking, never cut into byte ranges. ``error``:
    why the input cannot be read, found while listing; it is reported, not read.
    """

    name: str
    path: Path | None  # None for stdin
    gzipped: bool = False
    stream: bool = False
    error: str | None = None

    @property
    def seekable(self) -> bool:
        """A plain regular file: workers can read byte ranges of it directly."""
        return self.path is not None and not (self.gzipped or self.stream or self.error)

    def open(self) -> BinaryIO:
        """The decompressed byte stream."""
        raw: BinaryIO = sys.stdin.buffer if self.path is None else open(self.path, "rb")  # noqa: SIM115
        if self.path is None or self.stream:  # a pipe is read once: peek at its first bytes
            head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
            if head == GZIP_MAGIC:
                return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
            return raw
        if self.gzipped:
            return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        return raw


class ReadError(Exception):
    """An input stopped being readable after the data yielded before it (the reason is the
    message). ``cut``: the data stops at a line boundary, reported as ``path:line``."""

    def __init__(self, reason: str, *, cut: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cut = cut


def os_reason(exc: OSError, vanished_hint: bool = False) -> str:
    """``cannot read: <strerror>`` for an OSError (the path is shown by the caller).

    >>> os_reason(PermissionError(13, "Permission denied", "x.log"))
    'cannot read: Permission denied'
    """
    reason = f"cannot read: {exc.strerror or exc}"
    if vanished_hint and isinstance(exc, FileNotFoundError):
        reason += " (removed while escudo ran?)"
    return reason


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"))


def _file_input(name: str, path: Path, mode: int, size: int, named: bool) -> Input:
    """The input for a non-directory: a regular file with a size is sniffed for gzip and read in
    ranges; a FIFO or device named on the command line is a stream (like ``-``); one met inside a
    directory is reported and skipped (nothing may ever write to it: reading would hang)."""
    if stat.S_ISREG(mode) and size > 0:
        try:
            return Input(name, path, _is_gzip(path))
        except OSError as exc:
            return Input(name, path, error=os_reason(exc))
    if stat.S_ISREG(mode) or named:
        return Input(name, path, stream=True)
    kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
    return Input(name, path, error=f"skipped: {kind}, not a regular file (name it to read it)")


def _walk(root: Path) -> list[Input]:
    """The files under ``root`` (recursive, sorted, dot-files skipped, symbolic links to
    directories not followed, as ``Path.rglob``), and the directories that cannot be listed."""
    found: list[tuple[Path, Input]] = []

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        reason = f"cannot list directory: {exc.strerror or exc}"
        found.append((where, Input(str(where), where, error=reason)))

    for folder, _dirs, files in os.walk(root, onerror=unlistable):
        for entry in files:
            if entry.startswith("."):
                continue
            path = Path(folder, entry)
            try:
                st = path.stat()
            except OSError as exc:  # a dangling symbolic link, a file removed since the listing
                found.append((path, Input(str(path), path, error=os_reason(exc))))
                continue
            found.append((path, _file_input(str(path), path, st.st_mode, st.st_size, False)))
    return [inp for _, inp in sorted(found, key=lambda item: item[0])]


def expand_inputs(paths: Iterable[str | os.PathLike[str] | Input]) -> list[Input]:
    """Files, directories (recursive, sorted) and ``-`` into a list of inputs (an :class:`Input`
    passes as it is).

    Raises :class:`InputError` for a path that does not exist (a usage error: nothing is read). A
    path that exists but cannot be read, or a directory that cannot be listed, becomes an input
    with an ``error``: the reader reports it and goes on with the others.
    """
    out: list[Input] = []
    for p in paths:
        if isinstance(p, Input):
            out.append(p)
            continue
        if str(p) == STDIN:
            out.append(Input(STDIN, None))
            continue
        path = Path(p)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise InputError("no such file or directory", path=str(path)) from None
        except OSError as exc:  # a parent that cannot be searched, a loop of links
            if exc.errno == errno.ENAMETOOLONG:  # no file can have this name: as if missing
                raise InputError(
                    "no such file or directory (name too long)", path=str(path)
                ) from None
            out.append(Input(str(path), path, error=os_reason(exc)))
            continue
        if stat.S_ISDIR(st.st_mode):
            out.extend(_walk(path))
        else:
            out.append(_file_input(str(path), path, st.st_mode, st.st_size, True))
    return out


def read_chunks(inp: Input, chunk_bytes: int) -> Iterator[bytes]:
    """Newline-aligned chunks of a whole input, decompressed; :class:`ReadError` after the last
    good chunk when the input cannot be read to its end (a truncated or corrupt gzip, an I/O
    error), so every line read before the problem is kept.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".gz") as fh:
    ...     _ = fh.write(gzip.compress(b"a\\nbb\\nccc\\n")[:-12]); _ = fh.flush()
    ...     out = []
    ...     try:
    ...         out.extend(read_chunks(Input(fh.name, Path(fh.name), True), 1 << 20))
    ...     except ReadError as exc:
    ...         out.append(exc.reason)
    >>> out
    [b'a\\nbb\\n', 'truncated gzip: the data ends before its end-of-stream marker']
    """
    if inp.error:
        raise ReadError(inp.error)
    if inp.path is None or inp.stream:
        yield from stream_chunks(inp, chunk_bytes)
        return
    try:
        stream = inp.open()
    except OSError as exc:
        raise ReadError(os_reason(exc, vanished_hint=True)) from None
    try:
        if isinstance(stream, gzip.GzipFile):
            yield from _gzip_chunks(stream, chunk_bytes)
            return
        try:
            yield from iter_chunks(stream, chunk_bytes)
        except OSError as exc:  # the lines of the failed read are lost, the ones before kept
            raise ReadError(os_reason(exc), cut=True) from None
    finally:
        if inp.path is not None:
            stream.close()


def _gzip_reason(exc: Exception) -> tuple[str, bool]:
    """What a gzip decoding error means, and whether the data before it is whole (the problem
    came after the last byte: a checksum, trailing bytes) rather than cut in a line."""
    text = str(exc)
    if isinstance(exc, EOFError):
        return "truncated gzip: the data ends before its end-of-stream marker", False
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({text.rpartition(': ')[2]})", False
    if text.startswith("CRC check failed"):
        return "gzip CRC check failed: the data read may be corrupt", True
    if text.startswith("Incorrect length"):
        return "gzip length check failed: the data read may be incomplete", True
    if text.startswith("Not a gzipped file"):
        return "trailing garbage after the gzip data (ignored)", True
    if isinstance(exc, gzip.BadGzipFile):
        return f"bad gzip data ({text})", False
    assert isinstance(exc, OSError)
    return os_reason(exc), False


def _gzip_chunks(stream: gzip.GzipFile, chunk_bytes: int) -> Iterator[bytes]:
    """Decompress piece by piece (``read1``: an error loses no data decoded before it)."""
    buf = bytearray()
    try:
        while piece := stream.read1(chunk_bytes):
            buf += piece
            if len(buf) >= chunk_bytes:
                cut = buf.rfind(b"\n") + 1
                if cut:
                    yield bytes(buf[:cut])
                    del buf[:cut]
    except (EOFError, zlib.error, OSError) as exc:
        reason, whole = _gzip_reason(exc)
        cut = len(buf) if whole else buf.rfind(b"\n") + 1  # a line cut by the error is dropped
        if cut:
            yield bytes(buf[:cut])
        raise ReadError(reason, cut=not whole) from None
    if buf:
        yield bytes(buf)


def stream_chunks(inp: Input, chunk_bytes: int, delay: float = STREAM_DELAY) -> Iterator[bytes]:
    """Newline-aligned chunks of a stream (stdin, a FIFO), decompressed if it starts as gzip,
    each handed over when ``chunk_bytes`` arrived or ``delay`` seconds after its first complete
    line arrived, whichever comes first: a pipe held open delivers its lines before its end.

    A thread reads what the stream has (one ``os.read``, never waiting to fill a buffer) into a
    short queue; while data keeps coming faster than it is used, chunks stay ``chunk_bytes``
    long. :class:`ReadError` after the last good line as :func:`read_chunks`.

    >>> r, w = os.pipe(); _ = os.write(w, b"a\\nb")
    >>> chunks = stream_chunks(Input("pipe", Path(f"/dev/fd/{r}"), stream=True), 1 << 20)
    >>> next(chunks)  # before the end of the stream
    b'a\\n'
    >>> os.close(w); list(chunks)
    [b'b']
    """
    pump = _Pump(_stream_reader(inp), chunk_bytes)
    buf = bytearray()
    deadline: float | None = None  # when the complete lines in ``buf`` must be handed over
    started = False  # a failure at the first read is not "cut" at a line
    try:
        while True:
            try:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                piece = pump.pieces.get(timeout=wait)
            except queue.Empty:  # nothing more for now: the lines waited long enough
                cut = buf.rfind(b"\n") + 1
                yield bytes(buf[:cut])
                del buf[:cut]
                deadline = None
                continue
            if piece is None:
                break
            if isinstance(piece, Exception):
                reason, whole = _gzip_reason(piece)
                cut = len(buf) if whole else buf.rfind(b"\n") + 1  # a cut line is dropped
                if cut:
                    yield bytes(buf[:cut])
                raise ReadError(reason, cut=not whole and (pump.gzip or started))
            buf += piece
            started = True
            if deadline is None and b"\n" in piece:
                deadline = time.monotonic() + delay
            if len(buf) >= chunk_bytes:
                cut = buf.rfind(b"\n") + 1
                if cut:
                    yield bytes(buf[:cut])
                    del buf[:cut]
                    deadline = None  # the rest holds no newline
        if buf:
            yield bytes(buf)
    finally:
        pump.stop.set()


def _stream_reader(inp: Input) -> tuple[Callable[[int], bytes], Callable[[], None] | None]:
    """``read(n)`` returning what a stream has (up to ``n`` bytes, waiting only when it has
    nothing), and how to close it: a file descriptor read with ``os.read`` (no lock of a Python
    file object held while waiting: the process may exit with the reading thread still waiting),
    or for a ``sys.stdin`` with none, its buffer's ``read1``."""
    if inp.path is not None:
        try:
            fd = os.open(inp.path, os.O_RDONLY)
        except OSError as exc:
            raise ReadError(os_reason(exc, vanished_hint=True)) from None
        return functools.partial(os.read, fd), functools.partial(os.close, fd)
    read = _stdin_read()
    global _stdin_sniff
    if _stdin_sniff is None:  # never sniffed (--sourcetype): a later stdin_head reads nothing
        _stdin_sniff = b""

    def head_first(n: int) -> bytes:  # what stdin_head read to sniff comes first, once
        global _stdin_unread
        if _stdin_unread:
            head, _stdin_unread = _stdin_unread, b""
            return head
        return read(n)

    return head_first, None


def _stdin_read() -> Callable[[int], bytes]:
    try:
        return functools.partial(os.read, sys.stdin.buffer.fileno())
    except (AttributeError, OSError, ValueError):  # a stand-in for stdin (tests)
        return cast(io.BufferedReader, sys.stdin.buffer).read1


# What stdin_head gives (stdin's first bytes, decompressed), and the bytes it read that stdin's
# stream reader has not handed out yet.
_stdin_sniff: bytes | None = None
_stdin_unread = b""


def stdin_head(limit: int) -> bytes:
    """The first bytes of stdin, decompressed if they start as gzip, to sniff its source: one
    read (what the first write gave, at most ``limit`` bytes; it waits for that write), kept for
    stdin's stream reader, which hands them out first. The same bytes on every call; empty when
    the reader started before any call."""
    global _stdin_sniff, _stdin_unread
    if _stdin_sniff is None:
        try:
            _stdin_unread = _stdin_read()(limit)
        except OSError:
            _stdin_unread = b""  # the reader meets the error again and reports it
        _stdin_sniff = _stdin_unread
        if _stdin_unread.startswith(GZIP_MAGIC):
            try:
                _stdin_sniff = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                    _stdin_unread, limit
                )
            except zlib.error:
                _stdin_sniff = b""
    return _stdin_sniff


class _Pump:
    """Reads a stream in a daemon thread: pieces of bytes (decompressed if the data starts as
    gzip) into ``pieces``, then None at the end, or the exception that stopped it. The stream is
    closed at the end (``close``); ``stop`` tells the thread nobody reads its pieces any more."""

    def __init__(
        self, source: tuple[Callable[[int], bytes], Callable[[], None] | None], chunk_bytes: int
    ) -> None:
        self.read, self.close = source
        self.size = max(1, min(chunk_bytes, 1 << 20))
        self.pieces: queue.Queue[bytes | Exception | None] = queue.Queue(
            max(4, 4 * chunk_bytes // self.size)
        )
        self.stop = threading.Event()
        self.gzip = False
        threading.Thread(target=self._run, name="escudo-stream", daemon=True).start()

    def _put(self, item: bytes | Exception | None) -> bool:
        while not self.stop.is_set():
            try:
                self.pieces.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            head = self.read(self.size)
            while 0 < len(head) < 2 and (more := self.read(self.size)):
                head += more
            if head[:2] == GZIP_MAGIC:
                self.gzip = True
                reader = gzip.GzipFile(fileobj=_Unbuffered(self.read, head))
                while (piece := reader.read1(self.size)) and self._put(piece):
                    pass
            elif head and self._put(head):
                while (piece := self.read(self.size)) and self._put(piece):
                    pass
            self._put(None)
        except (EOFError, zlib.error, OSError) as exc:
            self._put(exc)
        finally:
            if self.close is not None:
                self.close()


class _Unbuffered:
    """A stream as the file object :class:`gzip.GzipFile` reads: ``read(n)`` returns what is
    there instead of waiting for ``n`` bytes; ``head`` (bytes already read) comes first."""

    def __init__(self, read: Callable[[int], bytes], head: bytes) -> None:
        self._read, self.head = read, head

    def read(self, size: int = -1) -> bytes:
        size = size if size > 0 else 1 << 20
        if self.head:
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self._read(size)

    def seek(self, offset: int, /) -> object:
        raise io.UnsupportedOperation("a stream cannot seek")


def first_bad_text(data: bytes | memoryview) -> bool:
    """Whether ``data`` may hold a line that is not UTF-8 text (invalid UTF-8 or a NUL byte):
    the fast test before :func:`bad_text_lines`. ASCII text is checked without a copy.

    >>> first_bad_text(b"ok\\n"), first_bad_text("caf\u00e9\\n".encode()), first_bad_text(b"a\\0")
    (False, False, True)
    """
    if _plain_text is not None:
        if _plain_text(data):  # one pass in C, in place
            return False
    else:  # a view's whole buffer is tested in place: ASCII and NUL-free there, the view is
        whole = data.obj if isinstance(data, memoryview) else data
        if isinstance(whole, bytes | bytearray) and whole.isascii() and b"\0" not in whole:
            return False
    try:
        text = codecs.utf_8_decode(data, "strict", True)[0]
    except UnicodeDecodeError:
        return True
    return "\0" in text


def bad_text_lines(data: bytes | memoryview) -> Iterator[tuple[int, bool, str]]:
    """``(index, binary, reason)`` of each line of ``data`` (0-based) that is not UTF-8 text.

    >>> list(bad_text_lines(b"ok\\nBAD \\xff\\nnul\\0\\n"))
    [(1, False, 'invalid UTF-8 (byte 0xff at column 5)'), (2, True, 'binary data (NUL byte at column 4)')]
    """
    for index, line in enumerate(bytes(data).split(b"\n")):
        nul = line.find(b"\0")
        if nul >= 0:
            yield index, True, f"binary data (NUL byte at column {nul + 1})"
            continue
        try:
            line.decode()
        except UnicodeDecodeError as exc:
            byte, column = line[exc.start], exc.start + 1
            yield index, False, f"invalid UTF-8 (byte 0x{byte:02x} at column {column})"


def note_bad_text(data: bytes | memoryview, name: str, first_line: int, stats: ReadStats) -> None:
    """Count and report (``path:line``) the lines of ``data`` that are not UTF-8 text: invalid
    UTF-8 or NUL bytes (binary data); ``first_line`` is the number of its first line. The
    problems stay in line order, the first ``max_problems`` kept."""
    if not first_bad_text(data):
        return
    for index, binary, reason in bad_text_lines(data):
        stats.add_text_problem(name, first_line + index, binary, reason)
    stats.problems.sort(key=lambda p: p.line)
    del stats.problems[stats.max_problems :]


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
