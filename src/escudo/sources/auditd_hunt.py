"""The hunt's fast path over audit records: only the events that may hold a needle are built.

A hunt reads few of the events (the seed detection: ``ngrok``) but resolves each process's
parent from *every* exec event before it (``auditd_events.Assembler``). Building every event in
Python made the seed detection over 1M exec events ~114x ``grep -c -i ngrok``. Here, over a
chunk of bare records (audit.log as auditd writes it), one scan (:func:`index`) groups the
records into events and sorts them out:

* a *candidate* event has a line holding a needle of the chosen clause (ASCII case-insensitive),
  the needle hex-encoded (the kernel's encoding of exe, comm, cwd, PATH names, proctitle, EXECVE
  arguments: upper-case digits, the needle in any letter case), the hex of U+212A or U+0130 (which
  Python's ``lower()`` and DuckDB's fold to ASCII ``k`` and ``i``), or ``]=`` (an argument in
  pieces, which a needle may straddle). It is built as before (``event_row``, ``_pass``).
* any other event cannot pass the raw filter (:func:`clause_for` keeps the needles for which
  that is true: see there). When it is an exec event (the general path's test: an EXECVE record,
  an execve/execveat syscall number, or ENRICHED ``SYSCALL=execve``; not ``success=no``) its
  time, host, serial, pid and image come out as Arrow columns without any per-event Python
  (the assembler's parent table needs them); else it is dropped (counted ``filtered``).
* events within ``edge_lines`` of either end of the chunk go to the assembler as record lines, as
  before, with the same summary (``_kind``; see ``auditd_events.Assembler``), so one whose pieces
  do not meet another chunk's is not parsed again.

The C module ``escudo.sources._auditd`` and :func:`index_python` give the same answer (tests hold
them equal); a chunk that is not all bare, whole, ASCII records gives None: the other paths read
it, and the rows are the same whichever reads a chunk (tests hold them equal too). A NUL byte is
not ASCII text here: a chunk the index reads never holds what ``framing.note_bad_text`` reports.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources.auditd import Malformed, audit_time, check_fields
from escudo.sources.prefilter import Needles, choose_clause

try:
    from escudo.sources import _auditd  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler
    _auditd = None

# (ordinal, edge, first line, last line, kind, (start, end) byte offsets of its lines, slim,
# piece: (key, record lines) of an edge event)
Group = tuple[
    int, int, int, int, int, tuple[int, ...], "tuple[str, str, str, str, str] | None",
    "tuple[str, str] | None",
]  # fmt: skip
# (count, ordinals int64, node validity bitmap, (offsets, data) for time, node, serial, pid, exe)
Slim = tuple[int, bytes, bytes, tuple[bytes, bytes], tuple[bytes, bytes], tuple[bytes, bytes],
             tuple[bytes, bytes], tuple[bytes, bytes]]  # fmt: skip
Index = tuple[int, int, list[Group], Slim]
FULL, SLIM, DROP = 0, 1, 2  # an event's kind
# A hunt through the index reads chunks this many times the reader's (64 MiB for its 8 MiB): each
# chunk costs the assembler a fixed share (its Arrow calls, its edge events' pieces joined in
# Python: the events within EDGE_LINES of each end, ~170 a chunk), which bigger chunks divide.
# With the exec images held back (auditd_events._Deferred), that share is paid after the last
# chunk is read, on one thread: ~4 ms a chunk. The seed over 1M exec events (bench_hunt.py, a1m):
# that tail 0.22-0.24 s at 24 MiB, 0.11-0.12 s at 48 MiB; best wall of five runs 1.38 s at 48 MiB,
# 1.29 s at 64 MiB (CPU 2.45 s at 48 MiB, 2.34 at 64, 2.67 at 96; peak RSS 508, 549, 709 MiB
# before the ranges were mapped rather than read into a buffer). Results do not depend on it.
CHUNK_FACTOR = 8
HEAD, TAIL = 1, 2  # edge bits

# What an event's decoded values hold that its lines may not: the record type (execve,
# file_create, file_delete), the file action (created, deleted), the types joined by commas, the
# time as ISO 8601 text (digits, "-", ":", ".", "t", "z" once lower-cased), a relative PATH name
# joined to the CWD ("/"). A needle that could be in one of them without being in the lines is
# not for this path (auditd_events.needles' literals are field values: such needles are rare).
_DERIVED = ("execve", "file_create", "file_delete", "created", "deleted")
_TIME_CHARS = frozenset("0123456789-:.tz")


def clause_for(needles: Needles) -> tuple[bytes, ...] | None:
    """The clause to scan for (``prefilter.choose_clause``), or None when one of its needles is
    not plain ASCII text found as written or hex-encoded (a space, a quote, a comma, a slash, a
    control or non-ASCII byte) or could be in a derived value (:data:`_DERIVED`, a time).

    >>> clause_for(((b"ngrok",), (b"http", b"tcp"))), clause_for(((b"/tmp/x",),))
    ((b'ngrok',), None)
    """
    clause = choose_clause(needles)
    if clause is None:
        return None
    for needle in clause:
        text = needle.decode("latin-1")
        if not all(0x21 <= b <= 0x7E for b in needle) or any(c in text for c in "\"',/"):
            return None
        if any(text in word for word in _DERIVED) or set(text) <= _TIME_CHARS:
            return None
    return clause


# A bare record line (auditd_events._FAST, one line at a time).
_LINE = re.compile(r"(?:node=(\S+) )?type=([A-Z_]+) msg=audit\((\d+)\.(\d+):(\d+)\): ?(.*)", re.S)
_QUOTED_SPACE = re.compile(r'="[^"]* ')
_HEX = re.compile(r"[0-9A-F]+")
# (arch, syscall) of execve and execveat (auditd_events.EXEC_SYSCALLS)
_EXEC = frozenset(
    {("c000003e", "59"), ("c000003e", "322"), ("40000003", "11"), ("40000003", "358"),
     ("c00000b7", "221"), ("c00000b7", "281")}
)  # fmt: skip
_ALWAYS = ("E284AA", "C4B0", "]=")  # U+212A and U+0130 hex-encoded; an argument in pieces


def index(data: bytes | memoryview, clause: tuple[bytes, ...], edge_lines: int) -> Index | None:
    """The chunk's events sorted out (see the module docstring), or None: not for this path.

    >>> chunk = (b'type=SYSCALL msg=audit(1.000:7): arch=c000003e syscall=59 pid=2 exe="/bin/ls"\\n'
    ...          b'type=EXECVE msg=audit(1.000:7): argc=1 a0="ls"\\n')
    >>> lines, dropped, groups, slim = index(chunk, (b"ngrok",), 0)
    >>> lines, dropped, groups, slim[0]
    (2, 0, [], 1)
    """
    if _auditd is not None:
        result: Index | None = _auditd.index(data, clause, edge_lines)
        return result
    return index_python(bytes(data), clause, edge_lines)


def index_file(
    path: Path, offset: int, length: int, clause: tuple[bytes, ...], edge_lines: int
) -> tuple[int, int, list[Group], Slim, bytes] | Literal[False] | None:
    """:func:`index` of the file's bytes ``[offset, offset + length)``, read through a mapping
    (``_auditd.index_mapped``: no copy into a buffer), with the bytes its spans point into (the
    listed events' lines, copied out); None when :func:`index` would give None (not for this
    path); False when the caller should read the bytes and index them (no C module, no mapping
    here, or the file got shorter while it was read: the mapping's SIGBUS is caught)."""
    mapped = getattr(_auditd, "index_mapped", None)
    if mapped is None or length <= 0:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False  # the read says what it is
    try:
        found: tuple[int, int, list[Group], Slim, bytes] | Literal[False] | None = mapped(
            fd, offset, length, clause, edge_lines
        )
    finally:
        os.close(fd)
    return found


def _take(body: str, key: str) -> str | None:
    """``auditd_events._take`` for one key (the first ``key=`` at the start or after a space)."""
    text = " " + body
    at = text.find(f" {key}=")
    if at < 0:
        return None
    start = at + len(key) + 2
    end = text.find(" ", start)
    return text[start:] if end < 0 else text[start:end]


def _complex(text: str) -> bool:
    return "'" in text or ('"' in text and _QUOTED_SPACE.search(text) is not None)


def _classify(
    records: list[tuple[str, ...]], candidate: bool
) -> tuple[int, tuple[str, str] | None]:
    """The kind of an event and, for an exec, its (pid, exe): as ``_auditd.c`` classify()."""
    if candidate:
        return FULL, None
    has_execve = any(r[1] == "EXECVE" for r in records)
    syscall = next((r[5] for r in records if r[1] == "SYSCALL"), None)
    if syscall is None:
        return (FULL if has_execve else DROP), None
    main, gs, extra = syscall.partition("\x1d")
    if _complex(main):
        return FULL, None
    arch, number = _take(main, "arch"), _take(main, "syscall")
    is_exec = has_execve or (arch, number) in _EXEC
    if not is_exec and gs:
        if _complex(extra):
            return FULL, None
        named = _take(extra, "SYSCALL")
        if named is not None and len(named) > 1 and named[0] == named[-1] == '"':
            named = named[1:-1]
        is_exec = named in ("execve", "execveat")
    if not is_exec or _take(main, "success") == "no":
        return DROP, None
    pid, exe = _take(main, "pid"), _take(main, "exe")
    if pid is None or exe is None:
        return FULL, None
    if len(exe) > 1 and exe[0] == exe[-1] == '"':
        return SLIM, (pid, exe[1:-1])
    if len(exe) % 2 == 0 and _HEX.fullmatch(exe):
        return FULL, None  # hex: decoded by the full path
    return SLIM, (pid, exe)


def _hex_pattern(needle: bytes) -> re.Pattern[str]:
    """The needle hex-encoded as the kernel writes it, a letter in either case."""
    parts = []
    for byte in needle:
        low = f"{byte & 15:X}"
        if 0x61 <= byte <= 0x7A:
            parts.append(f"[{byte >> 4:X}{(byte - 0x20) >> 4:X}]{low}")
        else:
            parts.append(f"{byte:02X}")
    return re.compile("".join(parts))


def index_python(data: bytes, clause: tuple[bytes, ...], edge_lines: int) -> Index | None:
    """:func:`index` in Python (the specification of ``_auditd.c``)."""
    if not data or b"\r" in data or b"\0" in data or not data.isascii():
        return None
    text = data.decode("ascii")
    pieces = text.split("\n")
    if text.endswith("\n"):
        pieces.pop()
    words = [n.decode("ascii") for n in clause]
    hexed = [_hex_pattern(n) for n in clause]
    groups: dict[tuple[str, ...], list[int]] = {}
    records: list[tuple[str, ...]] = []
    spans: list[tuple[int, int]] = []
    marked: list[bool] = []
    start = 0
    for line in pieces:
        m = _LINE.fullmatch(line)
        if m is None:
            return None
        record = tuple(g or "" for g in m.groups())
        try:
            check_fields(record[5])
        except Malformed:
            return None
        groups.setdefault((record[0], *record[2:5]), []).append(len(records))
        records.append(record)
        spans.append((start, start + len(line)))
        start += len(line) + 1
        low = line.lower()
        marked.append(
            any(w in low for w in words)
            or any(p.search(line) for p in hexed)
            or any(a in line for a in _ALWAYS)
        )
    count = len(records)
    listed: list[Group] = []
    dropped = 0
    slim_rows: list[tuple[int, str, str, str, str, str]] = []
    for ordinal, (key, members) in enumerate(groups.items()):
        node, seconds, fraction, serial = key
        first, last = members[0] + 1, members[-1] + 1
        edge = (HEAD if first <= edge_lines else 0) | (TAIL if last > count - edge_lines else 0)
        kind, image = _classify([records[i] for i in members], any(marked[i] for i in members))
        when = ""
        if kind == SLIM or edge:
            if len(seconds) > 11:
                return None
            when = audit_time(f"{seconds}.{fraction}")
        if not edge and kind == DROP:
            dropped += 1
            continue
        if not edge and kind == SLIM:
            assert image is not None
            slim_rows.append((ordinal, when, node, serial, *image))
            continue
        flat = tuple(x for i in members for x in spans[i])
        summary = (when, node, serial, *image) if image is not None else None
        piece = None
        if edge:  # the records as auditd_events._group_row writes an edge piece's
            text = "\n".join(
                f"{'node=' + r[0] + ' ' if r[0] else ''}type={r[1]} msg=audit({r[2]}.{r[3]}:"
                f"{r[4]}): {r[5]}"
                for r in (records[i] for i in members)
            )
            piece = (f"|{node}|{when}|{serial}", text)
        listed.append((ordinal, edge, first, last, kind, flat, summary, piece))
    return count, dropped, listed, _slim_columns(slim_rows)


def _column(values: list[str]) -> tuple[bytes, bytes]:
    offsets = array("i", [0])
    total = 0
    encoded = []
    for v in values:
        b = v.encode()
        total += len(b)
        offsets.append(total)
        encoded.append(b)
    return offsets.tobytes(), b"".join(encoded)


def _slim_columns(rows: list[tuple[int, str, str, str, str, str]]) -> Slim:
    valid = bytearray((len(rows) + 7) // 8)
    for i, row in enumerate(rows):
        if row[2]:
            valid[i >> 3] |= 1 << (i & 7)
    return (
        len(rows), array("q", [r[0] for r in rows]).tobytes(), bytes(valid),
        _column([r[1] for r in rows]), _column([r[2] for r in rows]),
        _column([r[3] for r in rows]), _column([r[4] for r in rows]),
        _column([r[5] for r in rows]),
    )  # fmt: skip


def slim_arrays(slim: Slim) -> tuple[pa.Array, dict[str, pa.Array]]:
    """The ordinals and the columns (``time``, ``dest``, ``serial``, ``pid``, ``exe``) of the
    exec events of :func:`index`, as Arrow arrays over its buffers (no copy). (No ``_key``: an
    image is never an edge piece, whose key alone the assembler reads.)"""
    count, ordinals, valid = slim[0], slim[1], slim[2]

    def strings(pair: tuple[bytes, bytes], validity: bytes | None = None) -> pa.Array:
        bitmap = pa.py_buffer(validity) if validity is not None and count else None
        return pa.Array.from_buffers(
            pa.string(), count, [bitmap, pa.py_buffer(pair[0]), pa.py_buffer(pair[1])]
        )

    names = ("time", "dest", "serial", "pid", "exe")
    columns = {
        name: strings(pair, valid if name == "dest" else None)
        for name, pair in zip(names, slim[3:], strict=True)
    }
    order = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(ordinals)])
    return order, columns


def process_table(cap: int) -> Any | None:
    """The assembler's parent table in C (``_auditd.Processes``: (host, pid) -> the image it
    last ran, the ``cap`` most recently updated kept), or None without the C module (the
    assembler's own dict and queue then)."""
    return None if _auditd is None else _auditd.Processes(cap)


def _strings(column: pa.Array) -> tuple[int, Any, Any, Any]:
    """A string column as ``_auditd.Processes.resolve`` reads it: (offset, validity, offsets,
    data), its buffers shared."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    valid, offsets, data = column.buffers()
    return column.offset, valid, offsets, data


def resolve_parents(
    processes: Any, table: pa.Table, updates: pa.Array, looks: pa.Array
) -> pa.Array:
    """``parent_exe`` of each row of ``table`` (columns ``dest``, ``pid``, ``exe``, ``ppid``, in
    the assembler's order) through the C table: each row of ``looks`` (booleans) takes the image
    its parent (same ``dest``, pid ``ppid``) last ran, then the rows of ``updates`` before the
    next look-up go in (``Assembler._parents`` in Python: tests hold both equal)."""
    rows = table.num_rows
    columns = [
        _strings(table.column(name).combine_chunks()) for name in ("dest", "pid", "exe", "ppid")
    ]
    at = [pc.indices_nonzero(mask).cast(pa.int64()).buffers()[1] for mask in (updates, looks)]
    valid, offsets, data = processes.resolve(rows, *columns, *(b or b"" for b in at))
    return pa.Array.from_buffers(
        pa.string(), rows, [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def has_c_index() -> bool:
    """Whether :func:`index` runs the C module."""
    return _auditd is not None


Indexer = Callable[[bytes, tuple[bytes, ...], int], "Index | None"]
