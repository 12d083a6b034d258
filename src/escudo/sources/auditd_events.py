"""Linux audit events: records sharing ``audit(time:serial)`` assembled into one event, for CIM.

One system call gives several records with one id: SYSCALL, EXECVE (one or more), CWD, PATH
(per name), PROCTITLE, and EOE on some systems (linux-telemetry.md 3.1); records of concurrent
events interleave. :func:`build_event` makes one row of :data:`~escudo.sources.auditd.EVENT_FIELDS`
from an event's records, values decoded (hex into text: CIM's ``process`` is the command line).

Events are cut by the reader's chunks: a chunk processor (:class:`EventPlan`, run in parallel)
builds the events that lie wholly inside its chunk, and hands on, as their record lines, those
with a record within :data:`EDGE_LINES` lines of either end of the chunk. :class:`Assembler`, run
in input order over the processors' batches, joins the pieces of each event with the pieces of the
next chunk (memory: the pieces at one chunk boundary), and resolves each process's parent from
the parent's own exec event seen before it (a table by host and pid, capped at
:data:`MAX_PROCESSES`): the image that pid last ran. Then record types and the raw filter apply.

A hunt (a raw filter the C index reads) reads whole file ranges in threads
(:meth:`EventPlan.read_range`: each chunk's exec images apart, :class:`Ranged`), and
:func:`assemble` defers those images: it holds the chunks, then gives the assembler only the
images of the pids some event that may pass names as its parent (:class:`_Deferred`: why the
rows are the same, and the cap under which that holds; past it the chunks go whole).

>>> from escudo.sources.auditd import parse_line
>>> lines = ['type=SYSCALL msg=audit(1.000:7): arch=c000003e syscall=59 success=yes exit=0 ppid=1 '
...          'pid=2 uid=0 comm="ls" exe="/bin/ls" key=(null)',
...          'type=EXECVE msg=audit(1.000:7): argc=2 a0="ls" a1=2D6C2061',
...          'type=CWD msg=audit(1.000:7): cwd="/root"']
>>> e = build_event(None, [parse_line(x) for x in lines])
>>> e["record_type"], e["command_line"], e["exe"], e["cwd"], e["pid"]
('execve', 'ls -l a', '/bin/ls', '/root', '2')
"""

from __future__ import annotations

import functools
import posixpath
import re
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources import auditd_hunt
from escudo.sources.auditd import (
    EVENT_FIELDS,
    FIELD,
    Malformed,
    Record,
    audit_time,
    check_fields,
    compile_filter,
    decode,
    hex_bytes,
    is_hex,
    parse_line,
    read_records,
)
from escudo.sources.base import RawFilter, ReadStats, Requirements, mapped_needles
from escudo.sources.framing import count_lines, note_bad_text

try:
    from escudo.sources import _auditd  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: EventPlan._fast reads every chunk
    _auditd = None

EXEC = "execve"
FILE_CREATE = "file_create"
FILE_DELETE = "file_delete"
# (arch, syscall number) of execve and execveat: x86_64, i386, aarch64 (linux-telemetry.md 3.1;
# the kernels' syscall tables).
EXEC_SYSCALLS = frozenset(
    {("c000003e", "59"), ("c000003e", "322"), ("40000003", "11"), ("40000003", "358"),
     ("c00000b7", "221"), ("c00000b7", "281")}
)  # fmt: skip
# The record types the kernel's own lines (kern.log, dmesg) give as numbers (linux/audit.h).
TYPE_NAMES = {"1300": "SYSCALL", "1302": "PATH", "1307": "CWD", "1309": "EXECVE",
              "1320": "EOE", "1327": "PROCTITLE"}  # fmt: skip
# A bare record line, as auditd writes audit.log: the fast path's one pattern per chunk.
_FAST = re.compile(
    r"^(?:node=(\S+) )?type=([A-Z_]+) msg=audit\((\d+)\.(\d+):(\d+)\): ?(.*)$", re.MULTILINE
)
_HEX_DIGITS = frozenset("0123456789ABCDEF")
EDGE_LINES = 512  # an event's records lie within this many lines of each other
MAX_PROCESSES = 1 << 20  # (host, pid) -> image entries kept for parent resolution
INTERNAL = ("_key", "_edge", "_after", "_lines", "_records", "_pass", "_kind")
_HEAD, _TAIL = 1, 2
# Typed scalars for Arrow calls: pyarrow infers a Python value's type by trying imports (dateutil)
# each call, ~0.3 ms when they fail.
_TRUE, _FALSE = pa.scalar(True, pa.bool_()), pa.scalar(False, pa.bool_())
Row = dict[str, "str | int | bool | None"]  # event fields (text) and internal columns


def _args(execves: list[list[tuple[str, str]]]) -> tuple[str | None, str | None]:
    """``argc`` and the command line of an event's EXECVE records: ``aN`` values, and ``aN[i]``
    pieces of a long argument (``aN_len``) joined, each decoded, joined by single spaces."""
    whole: dict[int, str] = {}
    pieces: dict[int, dict[int, bytes]] = {}
    argc = None
    for fields in execves:
        for key, written in fields:
            if key == "argc":
                argc = written
            elif key[:1] == "a" and key[1:].isdigit():
                quoted = written[:1] == '"' and written[-1:] == '"' and len(written) > 1
                whole[int(key[1:])] = written[1:-1] if quoted else decode(key, written)
            elif key[:1] == "a" and key.endswith("]") and "[" in key:
                n, _, i = key[1:-1].partition("[")
                if n.isdigit() and i.isdigit():
                    if written[:1] == '"':
                        chunk = written[1:-1].encode()
                    else:
                        chunk = hex_bytes(written) if is_hex(written) else written.encode()
                    pieces.setdefault(int(n), {})[int(i)] = chunk
    for index, parts in pieces.items():
        joined = b"".join(parts[piece] for piece in sorted(parts))
        whole[index] = joined.decode("utf-8", "replace")
    if not whole:
        return argc, None
    return argc, " ".join(whole[n] for n in sorted(whole))


def build_event(host: str | None, records: list[Record]) -> Row:
    """One event's raw fields (:data:`EVENT_FIELDS`) from its records (in file order)."""
    first = records[0]
    items = [(r.type, r.body) for r in records]
    return event_row(host or first.host or first.node, first.node, first.when, first.serial, items)


def _fields(body: str) -> dict[str, str]:
    """A kernel record's fields as written: ``key=value`` words (a kernel value holds no space:
    one that would is hex), else the general :data:`FIELD` pattern (quoted text with spaces)."""
    if "'" in body or ('"' in body and _QUOTED_SPACE.search(body)):
        return dict(FIELD.findall(body))
    return dict(word.partition("=")[::2] for word in body.split() if "=" in word)


_QUOTED_SPACE = re.compile(r'="[^"]* ')
_ENRICHED_KEYS = ("ARCH", "SYSCALL", "AUID", "UID", "EUID")
_SYSCALL_KEYS = ("arch", "syscall", "success", "exit", "ppid", "pid", "uid", "auid", "euid", "gid",
                 "ses", "tty", "comm", "exe", "key")  # fmt: skip


def _take(body: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The values of ``keys`` in a record's fields text, each found by its `` key=`` (a kernel
    value holds no space, so a field starts after one): cheaper than splitting every field."""
    if "'" in body or ('"' in body and _QUOTED_SPACE.search(body)):
        return _fields(body)
    text = " " + body
    find = text.find
    out = {}
    for key, needle, size in _needles(keys):
        at = find(needle)
        if at >= 0:
            start = at + size
            end = find(" ", start)
            out[key] = text[start:] if end < 0 else text[start:end]
    return out


@functools.lru_cache(maxsize=256)
def _needles(keys: tuple[str, ...]) -> tuple[tuple[str, str, int], ...]:
    """:func:`_take`'s ``keys``, each with what it looks for: `` key=`` and its length."""
    return tuple((key, f" {key}=", len(key) + 2) for key in keys)


def _text(written: str | None) -> str | None:
    """A value that is never hex: quotes removed."""
    if written is not None and written[:1] == '"' and written[-1:] == '"' and len(written) > 1:
        return written[1:-1]
    return written


def _hex_text(key: str, written: str | None) -> str | None:
    return None if written is None else decode(key, written)


_ALWAYS_SYSCALL = frozenset({"arch", "syscall", "success", "exe", "pid", "ppid"})
_PATH_FIELDS = frozenset({"path", "file_path", "file_name", "file_action"})


@functools.lru_cache(maxsize=64)
def _syscall_keys(need: frozenset[str] | None) -> tuple[str, ...]:
    if need is None:
        return _SYSCALL_KEYS
    # (``user`` is the uid where no ENRICHED UID names it)
    uid = frozenset({"uid"}) if "user" in need else frozenset()
    return tuple(k for k in _SYSCALL_KEYS if k in need or k in _ALWAYS_SYSCALL or k in uid)


def event_row(
    dest: str | None,
    node: str | None,
    when: str,
    serial: str,
    items: list[tuple[str, str]],
    need: frozenset[str] | None = None,
) -> Row:
    """:func:`build_event` on ``(record type, fields text)`` pairs; with ``need``, the fields
    outside it may be left out (what a plan's rows do not carry)."""
    syscall: dict[str, str] = {}
    enriched: dict[str, str] = {}
    execves: list[list[tuple[str, str]]] = []
    path_bodies: list[str] = []
    cwd = title = None
    types: list[str] = []
    for kind, body in items:
        kind = TYPE_NAMES.get(kind, kind)
        if kind not in types:
            types.append(kind)
        if kind == "SYSCALL":
            if not syscall:
                main, _, extra = body.partition("\x1d")
                syscall = _take(main, _syscall_keys(need))
                enriched = _take(extra, _ENRICHED_KEYS) if extra else {}
        elif kind == "EXECVE":
            execves.append(list(_fields(body.partition("\x1d")[0]).items()))
        elif kind == "CWD":
            if cwd is None:
                cwd = decode("cwd", _take(body.partition("\x1d")[0], ("cwd",)).get("cwd", ""))
        elif kind == "PATH":
            path_bodies.append(body.partition("\x1d")[0])
        elif kind == "PROCTITLE" and title is None:
            title = body
    argc, command_line = _args(execves)
    # (the PROCTITLE is the command line when the EXECVE records give no argument)
    if title is not None and (need is None or "proctitle" in need or command_line is None):
        title = _take(title.partition("\x1d")[0], ("proctitle",)).get("proctitle")
    else:
        title = None
    success = syscall.get("success")
    arch, number = syscall.get("arch"), syscall.get("syscall")
    named = _text(enriched.get("SYSCALL"))
    is_exec = bool(execves) or (arch, number) in EXEC_SYSCALLS or named in ("execve", "execveat")
    path_keys = ("item", "name", "nametype", "objtype")
    if is_exec and "exe" in syscall and need is not None and not need & _PATH_FIELDS:
        path_bodies = []  # an exec's PATH items name its program and loader: not asked here
    paths = [_take(b, path_keys) for b in path_bodies]
    path = decode("name", paths[0]["name"]) if paths and "name" in paths[0] else None
    file_path = file_action = None
    for item in paths:
        nametype = item.get("nametype") or item.get("objtype")
        if nametype in ("CREATE", "DELETE") and "name" in item:
            name = decode("name", item["name"])
            if not name.startswith("/") and cwd:
                name = posixpath.normpath(posixpath.join(cwd, name))
            file_path = name
            file_action = "created" if nametype == "CREATE" else "deleted"
            if nametype == "CREATE":
                break
    if is_exec and success != "no":
        record_type = EXEC
    elif file_action and success != "no":
        record_type = FILE_CREATE if file_action == "created" else FILE_DELETE
    else:
        record_type = TYPE_NAMES.get(items[0][0], items[0][0])
    exe = _hex_text("exe", syscall.get("exe"))
    if exe is None and is_exec and path is not None and path.startswith("/"):
        exe = path  # no SYSCALL record: PATH item 0 is the file executed
    proctitle = _hex_text("proctitle", title)
    uid = syscall.get("uid")
    user_name = _text(enriched.get("UID"))
    return {
        "record_type": record_type, "time": when, "dest": dest, "node": node, "serial": serial,
        "types": ",".join(types), "arch": arch, "syscall": number, "SYSCALL": named,
        "success": success, "exit": syscall.get("exit"), "pid": syscall.get("pid"),
        "ppid": syscall.get("ppid"), "uid": uid, "auid": syscall.get("auid"),
        "euid": syscall.get("euid"), "gid": syscall.get("gid"), "ses": syscall.get("ses"),
        "tty": syscall.get("tty"), "comm": _hex_text("comm", syscall.get("comm")), "exe": exe,
        "key": _hex_text("key", syscall.get("key")), "UID": user_name,
        "AUID": _text(enriched.get("AUID")), "EUID": _text(enriched.get("EUID")),
        "user": user_name if user_name is not None else uid, "cwd": cwd, "argc": argc,
        "command_line": command_line if command_line is not None else proctitle,
        "proctitle": proctitle, "path": path, "file_path": file_path,
        "file_name": posixpath.basename(file_path) if file_path else None,
        "file_action": file_action, "parent_exe": None, "parent_name": None,
    }  # fmt: skip


def _passes(text: str, needles: tuple[tuple[bytes, ...], ...] | None) -> bool:
    if needles is None:
        return True
    low = text.lower().encode("utf-8", "replace")
    return all(any(n in low for n in clause) for clause in needles)


def _event_text(texts: list[str], row: Row) -> str:
    """What the raw filter sees of an event: its records as written and its decoded values."""
    return "\n".join([*texts, *(v for v in row.values() if isinstance(v, str))])


_ALIASES = ("SystemTime", "Computer")  # time and dest under the names the raw data set reads
_SCHEMA = pa.schema(
    [("host", pa.string()), *((f, pa.string()) for f in EVENT_FIELDS if f not in _ALIASES),
     ("_key", pa.string()), ("_edge", pa.int8()), ("_after", pa.int64()), ("_lines", pa.int64()),
     ("_records", pa.string()), ("_pass", pa.bool_()), ("_kind", pa.int8())]
)  # fmt: skip


# What the assembler reads of every event, whatever the fields asked (parents, order, selection).
_ASSEMBLER_FIELDS = ("record_type", "time", "dest", "serial", "pid", "ppid", "exe", "parent_exe",
                     "parent_name")  # fmt: skip


@functools.lru_cache(maxsize=64)
def _need(fields: tuple[str, ...]) -> frozenset[str]:
    """The event fields a plan's rows carry (:func:`plan_schema`)."""
    return frozenset(fields) | frozenset(_ASSEMBLER_FIELDS)


@functools.lru_cache(maxsize=64)
def plan_schema(fields: tuple[str, ...]) -> pa.Schema:
    """The columns of :class:`EventPlan` rows: ``host``, the event fields asked and those the
    assembler reads (in :data:`EVENT_FIELDS` order), then :data:`INTERNAL`."""
    wanted = set(fields) | set(_ASSEMBLER_FIELDS)
    return pa.schema(
        [f for f in _SCHEMA if f.name == "host" or f.name in wanted or f.name in INTERNAL]
    )


def _batch(rows: list[Row], schema: pa.Schema = _SCHEMA) -> pa.RecordBatch:
    present = set().union(*rows) if rows else set()  # most rows of a hunt hold few fields
    arrays = [
        pa.array([row.get(f.name) for row in rows], f.type)
        if f.name in present
        else pa.nulls(len(rows), f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class EventPlan:
    """The chunk processor of audit events (picklable). Rows: ``host``, the event fields asked
    and those the assembler reads (:func:`plan_schema`), then the internal columns
    :data:`INTERNAL` that :class:`Assembler` reads and drops. ``record_types`` and
    ``raw_filter`` are applied by the assembler (``AuditdSource.assemble``), which alone sees
    whole events and every exec event's image; the plan only skips building the events the
    filter cannot keep."""

    fields: tuple[str, ...]
    record_types: frozenset[str] | None
    raw_filter: RawFilter | None
    edge_lines: int = EDGE_LINES

    @property
    def chunk_factor(self) -> int:
        """How many times the reader's chunk size this plan reads best: a hunt through the index
        (``auditd_hunt.CHUNK_FACTOR``), else 1."""
        return 1 if self._clause() is None else auditd_hunt.CHUNK_FACTOR

    # The reader's ranges for read_range: one chunk each (the chunks the worker processes read,
    # so the assembler's batches, and the order it releases rows in, are the same).
    range_chunks = 1

    @property
    def streams(self) -> bool:
        """Whether the reader should hand :meth:`read_range` whole file ranges: a hunt through
        the C index (``auditd_hunt.index`` holds no GIL), which threads then run in parallel
        (``reader.threaded``): no worker process to start, no batch to pickle."""
        return self._clause() is not None and auditd_hunt.has_c_index()

    def python_share(self, data: bytes) -> float:
        """The share of ``data``'s bytes in the events Python builds on the index path (those
        that may hold a needle, those the index leaves to Python), edges aside; 1.0 when the
        index does not read ``data``.

        >>> plan = EventPlan(("exe",), None, RawFilter((("ngrok",),)))
        >>> plan.python_share(b'type=SYSCALL msg=audit(1.000:7): syscall=59 pid=2 exe="/x"\\n')
        0.0
        """
        clause = self._clause()
        found = auditd_hunt.index(data, clause, 0) if clause is not None and data else None
        if found is None:
            return 1.0
        spans = (g[5] for g in found[2])
        built = sum(s[i + 1] - s[i] + 1 for s in spans for i in range(0, len(s), 2))
        return built / len(data)

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[Ranged, ReadStats]:
        """The plan over a file range, with ``stats.lines`` set: its rows as a :class:`Ranged`
        (:func:`assemble` may defer its exec images). A hunt the index reads maps the range
        (``auditd_hunt.index_file``); any other read, or one the mapping gives back (the file got
        shorter meanwhile), reads it whole into this thread's reused buffer (:func:`_read_into`)."""
        del block_bytes  # one chunk: its events' pieces meet in the assembler, as any chunk's
        needles = compile_filter(self.raw_filter)
        clause = self._clause()
        found = None
        mapped: Any = None
        if needles is not None and clause is not None:
            # through a mapping (no copy); None: not for the index; False: read it and index it
            mapped = auditd_hunt.index_file(path, offset, length, clause, self.edge_lines)
            if mapped:
                found = self._ranged(mapped[:4], mapped[4], needles)
        if found is not None:
            return found
        data = _read_into(path, offset, length)
        if mapped is False:
            assert needles is not None and clause is not None
            found = self._index_parts(data, needles, clause)
        if found is None:  # not for the index (it said so already): the other paths, on a copy
            batch, stats = self._unindexed(bytes(data), name)
            found = Ranged(batch, {}, stats.lines), stats
            stats.lines = stats.lines or count_lines(bytes(data))
            note_bad_text(data, name, 1, found[1])  # (the index reads ASCII text without NUL)
        return found

    def _clause(self) -> tuple[bytes, ...] | None:
        needles = compile_filter(self.raw_filter)
        return auditd_hunt.clause_for(needles) if needles is not None else None

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        needles = compile_filter(self.raw_filter)
        clause = self._clause()
        if needles is not None and clause is not None:
            indexed = self._indexed(data, needles, clause)
            if indexed is not None:
                return indexed
        return self._unindexed(data, name)

    def _unindexed(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        """The chunk by the paths after the hunt's index (which said it is not for it, or does
        not apply): the C builder, the whole-chunk pattern, then record by record."""
        needles = compile_filter(self.raw_filter)
        built = self._built(data) if needles is None else None
        if built is not None:
            return built
        fast = self._fast(data)
        if fast is not None:
            return fast
        stats = ReadStats()
        groups: dict[str, tuple[list[int], list[Record]]] = {}

        def add(number: int, record: Record) -> None:
            found = groups.get(record.key)
            if found is None:
                groups[record.key] = ([number, number], [record])
            else:
                found[0][1] = number
                found[1].append(record)

        read_records(data, name, stats, add)
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        rows: list[Row] = []
        for key, ((first, last), records) in groups.items():
            edge = (_HEAD if first <= self.edge_lines else 0) | (
                _TAIL if last > lines - self.edge_lines else 0
            )
            if edge:
                rows.append({
                    "host": records[0].host, "_key": key, "_edge": edge, "_after": lines - last,
                    "_lines": lines, "_records": "\n".join(r.text for r in records),
                })  # fmt: skip
                continue
            row = build_event(None, records)
            row["host"] = records[0].host
            row["_key"], row["_edge"], row["_lines"] = key, 0, lines
            if needles is not None:
                row["_pass"] = _passes(_event_text([r.text for r in records], row), needles)
            rows.append(row)
        return _batch(rows, plan_schema(self.fields)), stats

    def _fast(self, data: bytes) -> tuple[pa.RecordBatch, ReadStats] | None:
        """The chunk when every line is a bare record (``node=``/``type=`` first, audit.log as
        auditd writes it) and none is cut: one pattern over the whole chunk, no per-line
        parsing; None otherwise (the general path reads it, and reports what it must)."""
        if b"\r" in data:
            return None
        text = data.decode("utf-8", "replace")
        if "\ufffd" in text:
            return None
        found = _FAST.findall(text)
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        if len(found) != lines:
            return None  # blank lines, transport headers, other text: the general path
        for match in found:
            body = match[5]
            # (a 0x1D inside quotes splits the body where check_fields looks: check it too)
            suspect = "'" in body or body.count('"') & 1 or "\x1d" in body
            if not suspect and body[-1:] in _HEX_DIGITS:  # a hex value last: of odd length?
                suspect = (len(body) - body.rfind("=")) % 2 == 0
            if suspect:
                try:
                    check_fields(body)
                except Malformed:
                    return None
        groups: dict[tuple[str, str, str, str], list[int]] = {}
        for i, match in enumerate(found):
            key = (match[0], match[2], match[3], match[4])
            group = groups.get(key)
            if group is None:
                groups[key] = [i]
            else:
                group.append(i)
        needles = compile_filter(self.raw_filter)
        candidates = _candidates(text, needles) if needles is not None else None
        need = None if needles is not None else _need(self.fields)
        stats = ReadStats()
        rows: list[Row] = []
        edge_lines = self.edge_lines
        for group_key, indexes in groups.items():
            first, last = indexes[0] + 1, indexes[-1] + 1
            edge = (_HEAD if first <= edge_lines else 0) | (
                _TAIL if last > lines - edge_lines else 0
            )
            if candidates is not None and not edge and group_key not in candidates:
                slim = _slim(group_key, [found[i] for i in indexes], lines)
                if slim is not None:  # an exec the filter drops: its image, for its children
                    rows.append(slim)
                else:  # no needle in it, no exec: dropped here
                    stats.filtered += 1
                continue
            records = [found[i] for i in indexes]
            rows.append(_group_row(group_key, records, edge, lines - last, lines, needles, need))
        return _batch(rows, plan_schema(self.fields)), stats

    def _built(self, data: bytes) -> tuple[pa.RecordBatch, ReadStats] | None:
        """The chunk through the C builder (``_auditd.build``: bare records only, no raw
        filter): the events wholly inside it built in C as :meth:`_fast` builds them, straight
        into Arrow columns; the edge events and those it leaves to Python (ENRICHED, quoted
        spaces, arguments in pieces, ...) built here as :meth:`_fast` builds them; None when
        the chunk is not for that path or the module is absent (:meth:`_fast` reads it)."""
        if _auditd is None:
            return None
        found = _auditd.build(data, self.edge_lines)
        if found is None:
            return None
        lines, listed, built = found
        schema = plan_schema(self.fields)
        need = _need(self.fields)
        rows: list[Row] = []
        for _, edge, _, last, spans, piece in listed:
            if piece is not None:  # an edge piece, as _group_row writes it
                rows.append({
                    "host": None, "_key": piece[0], "_edge": edge, "_after": lines - last,
                    "_lines": lines, "_records": piece[1],
                })  # fmt: skip
                continue
            records = [_record_of(data[spans[i] : spans[i + 1]]) for i in range(0, len(spans), 2)]
            key = (records[0][0], records[0][2], records[0][3], records[0][4])
            rows.append(_group_row(key, records, edge, lines - last, lines, None, need))
        order, columnar = _built_columns(built, schema, lines)
        stats = ReadStats()
        stats.lines = lines
        return _in_order(rows, [g[0] for g in listed], columnar, order, schema), stats

    def _indexed(
        self, data: bytes, needles: tuple[tuple[bytes, ...], ...], clause: tuple[bytes, ...]
    ) -> tuple[pa.RecordBatch, ReadStats] | None:
        """The chunk through :func:`escudo.sources.auditd_hunt.index` (bare records only): the
        candidate events built as :meth:`_fast` builds them, the other exec events as Arrow
        columns, the rest dropped; None when the chunk is not for that path."""
        found = self._index_parts(data, needles, clause)
        return None if found is None else (found[0].whole(), found[1])

    def _index_parts(
        self, data: Any, needles: tuple[tuple[bytes, ...], ...], clause: tuple[bytes, ...]
    ) -> tuple[Ranged, ReadStats] | None:
        """:meth:`_indexed`'s rows, the exec images apart (:class:`Ranged`)."""
        found = auditd_hunt.index(data, clause, self.edge_lines)
        return None if found is None else self._ranged(found, data, needles)

    def _ranged(
        self, found: auditd_hunt.Index, data: Any, needles: tuple[tuple[bytes, ...], ...]
    ) -> tuple[Ranged, ReadStats]:
        """The rows of an index (:func:`escudo.sources.auditd_hunt.index`), ``data`` the bytes its
        spans point into."""
        lines, dropped, groups, slim = found
        stats = ReadStats()
        stats.filtered, stats.lines = dropped, lines
        schema = plan_schema(self.fields)
        rows: list[Row] = []
        for _, edge, _, last, kind, spans, summary, piece in groups:
            if piece is not None:  # an edge piece, as _group_row writes it, and its summary
                row: Row = {
                    "host": None, "_key": piece[0], "_edge": edge, "_after": lines - last,
                    "_lines": lines, "_records": piece[1], "_kind": kind,
                }  # fmt: skip
                if summary is not None:
                    row["record_type"] = EXEC
                    row["time"], dest, row["serial"], row["pid"], row["exe"] = summary
                    row["dest"] = dest or None
                rows.append(row)
                continue
            records = [
                _record_of(bytes(data[spans[i] : spans[i + 1]])) for i in range(0, len(spans), 2)
            ]
            head = records[0]
            key = (head[0], head[2], head[3], head[4])
            rows.append(_group_row(key, records, 0, lines - last, lines, needles, None))
        _, images = auditd_hunt.slim_arrays(slim)
        return Ranged(_batch(rows, schema), images, lines), stats


@dataclass(frozen=True)
class Ranged:
    """A chunk's rows from the hunt's index with its exec images apart (columns ``time``,
    ``dest``, ``serial``, ``pid``, ``exe``: rows of record type execve that cannot pass; their
    ``_key``, which only an edge piece's is read for, null), as ``EventPlan.read_range`` gives
    them: :func:`assemble` may keep of the images only those some result depends on
    (:class:`_Deferred`) before it makes rows of them."""

    rows: pa.RecordBatch
    images: dict[str, pa.Array]
    lines: int

    @property
    def num_rows(self) -> int:
        return self.rows.num_rows + self.image_count

    @property
    def image_count(self) -> int:
        return len(self.images["pid"]) if self.images else 0

    def whole(self, keep: pa.Array | None = None) -> pa.RecordBatch:
        """The rows then the images (those at ``keep``, booleans) as one batch of the rows'
        schema. The images follow the chunk's other rows, not in its event order: the assembler
        sorts by (time, serial), and two events equal in both are on different hosts (an event
        is its host, time and serial), whose parents do not meet; the images are never rows out.
        (Put back in order they cost a take of every column.)"""
        images = self.images
        if keep is not None and self.image_count:
            images = {name: column.filter(keep) for name, column in images.items()}
        count = len(images["pid"]) if images else 0
        if not count:
            return self.rows
        schema = self.rows.schema
        arrays = []
        for field in schema:
            if field.name in images:
                arrays.append(images[field.name])
            elif field.name in _IMAGE_VALUES:
                arrays.append(pa.repeat(pa.scalar(_IMAGE_VALUES[field.name], field.type), count))
            elif field.name == "_lines":
                arrays.append(pa.repeat(pa.scalar(self.lines, field.type), count))
            else:
                arrays.append(pa.nulls(count, field.type))
        columnar = pa.RecordBatch.from_arrays(arrays, schema=schema)
        if not self.rows.num_rows:
            return columnar
        table = pa.Table.from_batches([self.rows, columnar])
        return table.combine_chunks().to_batches()[0]


_IMAGE_VALUES: dict[str, Any] = {"record_type": EXEC, "_edge": 0, "_pass": False}


_BUFFERS = threading.local()  # each reading thread's buffer (read_range)


def _read_into(path: Path, offset: int, length: int) -> memoryview:
    """``length`` bytes of ``path`` from ``offset`` (fewer at its end) in this thread's buffer,
    grown as needed and reused: valid until this thread's next call."""
    buf: bytearray | None = getattr(_BUFFERS, "buf", None)
    if buf is None or len(buf) < length:
        # with room to spare: the ranges' lengths differ by a line or so (newline-aligned), and
        # a buffer made for each slightly longer one cost its zeroed pages, each a page fault
        buf = _BUFFERS.buf = bytearray(length + (length >> 4))
    view = memoryview(buf)
    got = 0
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        while got < length:
            n = fh.readinto(view[got:length])
            if not n:
                break
            got += n
    return view[:got]


def _built_columns(
    built: tuple[Any, ...], schema: pa.Schema, lines: int | None
) -> tuple[pa.Array, pa.RecordBatch]:
    """The ordinals and the rows (``schema``) of ``_auditd.build``'s events, over its buffers;
    ``lines`` the chunk's (``_edge`` 0, ``_lines``, ``_key`` set), or None: no internal column
    set (the assembler's rows)."""
    count = built[0]
    order = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(built[1])])
    columns = dict(zip(_BUILT_FIELDS, built[2:], strict=True))
    arrays = []
    for field in schema:
        if field.name in columns and (lines is not None or field.name != "_key"):
            valid, offsets, text = columns[field.name]
            buffers = [pa.py_buffer(valid) if count else None, pa.py_buffer(offsets)]
            buffers.append(pa.py_buffer(text))
            arrays.append(pa.Array.from_buffers(pa.string(), count, buffers))
        elif field.name in ("_edge", "_lines") and lines is not None:
            value = pa.scalar(0 if field.name == "_edge" else lines, field.type)
            arrays.append(pa.repeat(value, count))
        else:
            arrays.append(pa.nulls(count, field.type))
    return order, pa.RecordBatch.from_arrays(arrays, schema=schema)


def _kernel_order(text: str) -> int:
    """:func:`_order` of a bare record line's type."""
    start = text.find(" ") + 1 if text.startswith("node=") else 0
    return _order(text[start + 5 : text.find(" ", start)])


def _in_order(
    rows: list[Row],
    ordinals: list[int],
    columnar: pa.RecordBatch,
    order: pa.Array,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """``rows`` (the events at ``ordinals``) and ``columnar`` (those at ``order``) as one batch
    in event order (the order of their first lines in the chunk)."""
    if not len(order):
        return _batch(rows, schema)
    if not rows:
        return columnar
    table = pa.Table.from_batches([_batch(rows, schema), columnar])
    positions = pc.sort_indices(pa.concat_arrays([pa.array(ordinals, pa.int64()), order]))
    return table.take(positions).combine_chunks().to_batches()[0]


# The columns of _auditd.build's events, in its order (B_RECORD_TYPE ... B_EVENT_KEY).
_BUILT_FIELDS = (
    "record_type", "time", "dest", "node", "serial", "types", "arch", "syscall", "success",
    "exit", "pid", "ppid", "uid", "auid", "euid", "gid", "ses", "tty", "comm", "exe", "key",
    "user", "cwd", "argc", "command_line", "proctitle", "path", "file_path", "file_name",
    "file_action", "_key",
)  # fmt: skip


def _record_of(line: bytes) -> tuple[str, ...]:
    """A bare record line as :data:`_FAST` finds it (no node: '')."""
    m = _FAST.match(line.decode("ascii"))
    assert m is not None  # auditd_hunt.index read it
    return tuple(g or "" for g in m.groups())


def _group_row(
    key: EventKey,
    records: list[tuple[str, ...]],
    edge: int,
    after: int,
    lines: int,
    needles: tuple[tuple[bytes, ...], ...] | None,
    need: frozenset[str] | None,
) -> Row:
    """The row of one event of a chunk of bare records (``records`` as :data:`_FAST` finds
    them): an edge piece (its record lines, for the assembler) or the built event."""
    node, seconds, fraction, serial = key
    when = audit_time(f"{seconds}.{fraction}")
    event_key = f"|{node}|{when}|{serial}"
    if edge:
        texts = [
            f"{'node=' + m[0] + ' ' if m[0] else ''}type={m[1]} msg=audit({m[2]}.{m[3]}:"
            f"{m[4]}): {m[5]}"
            for m in records
        ]
        return {
            "host": None, "_key": event_key, "_edge": edge, "_after": after, "_lines": lines,
            "_records": "\n".join(texts),
        }  # fmt: skip
    row = event_row(node or None, node or None, when, serial, [(m[1], m[5]) for m in records], need)
    row["_key"], row["_edge"], row["_lines"] = event_key, 0, lines
    if needles is not None:
        row["_pass"] = _passes(_event_text([m[5] for m in records], row), needles)
    return row


# Records whose text may not hold a needle literally: a hex value (EXECVE arguments, exe, comm,
# cwd, PATH name), an argument in pieces (aN_len), whose decoded text the needle may be in.
_ENCODED = re.compile(
    r"^(?:node=(\S+) )?type=(?:SYSCALL|EXECVE|CWD|PATH) msg=audit\((\d+)\.(\d+):(\d+)\):"
    r"[^\n]*? (?:(?:a\d+(?:\[\d+\])?|exe|comm|cwd|name)=(?:[0-9A-F]{2})+(?=[ \x1d\n]|$)|a\d+_len=)",
    re.MULTILINE,
)
_HEADER_AT = re.compile(r"(?:node=(\S+) )?type=[A-Z_]+ msg=audit\((\d+)\.(\d+):(\d+)\)")
EventKey = tuple[str, str, str, str]


def _candidates(text: str, needles: tuple[tuple[bytes, ...], ...]) -> set[EventKey] | None:
    """The events of a chunk of bare records that may pass ``needles``: those with a record
    holding a needle of every clause (ASCII case-insensitive, as written) or a value the needle
    may hide in (hex, pieces); None when that test is not sound for these needles (one holding
    a space or a quote: EXECVE arguments are joined by spaces only once decoded)."""
    words = [[n.decode("utf-8", "replace") for n in clause] for clause in needles]
    if any(" " in n or '"' in n or not n.isascii() for c in words for n in c):
        return None
    low = text.lower()
    found: set[EventKey] | None = None
    for clause in words:
        keys: set[EventKey] = set()
        for needle in clause:
            at = low.find(needle)
            while at >= 0:
                start = text.rfind("\n", 0, at) + 1
                m = _HEADER_AT.match(text, start)
                if m is not None:
                    keys.add((m[1] or "", m[2], m[3], m[4]))
                end = text.find("\n", at)
                at = low.find(needle, end) if end >= 0 else -1
        found = keys if found is None else found & keys
    encoded = {(m[0], m[1], m[2], m[3]) for m in _ENCODED.findall(text)}
    return (found or set()) | encoded


def _slim(key: EventKey, records: list[tuple[str, ...]], lines: int) -> Row | None:
    """What the assembler needs of an exec event the raw filter drops (its image, for parents);
    None when it is no exec (no EXECVE record: such events are always candidates)."""
    node, seconds, fraction, serial = key
    syscall = next((m[5] for m in records if m[1] == "SYSCALL"), None)
    if syscall is None or not any(m[1] == "EXECVE" for m in records):
        return None
    fields = _take(syscall.partition("\x1d")[0], ("success", "pid", "exe"))
    if fields.get("success") == "no":
        return None
    when = audit_time(f"{seconds}.{fraction}")
    return {
        "record_type": EXEC, "time": when, "dest": node or None, "serial": serial,
        "pid": fields.get("pid"), "exe": _hex_text("exe", fields.get("exe")),
        "_key": f"|{node}|{when}|{serial}", "_edge": 0, "_lines": lines, "_pass": False,
    }  # fmt: skip


@dataclass
class Assembler:
    """Joins the pieces of events cut by chunk boundaries, resolves parents, then selects (see the
    module docstring). ``feed`` a batch of :class:`EventPlan` rows, in input order, get the
    finished rows (columns ``host`` then ``fields``); ``finish`` gives the rest."""

    fields: tuple[str, ...]
    record_types: frozenset[str] | None
    raw_filter: RawFilter | None
    stats: ReadStats
    edge_lines: int = EDGE_LINES
    cap: int | None = None  # processes kept for parent resolution (None: MAX_PROCESSES)
    # The pids whose exec images a look-up may read, when known (_Deferred: every table update
    # within the cap); the images of the others, from edge pieces, are counted filtered
    parents: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # key -> (host, record lines, lines read since its last record, summary): the summary of
        # a piece that met no other (the plan's ``_kind``): a row to use as it is, DROP, or
        # None (built from the lines)
        self.pending: dict[str, Piece] = {}
        self.held: pa.Table | None = None  # finished rows younger than a pending piece
        # (host, pid) -> (update number, image): the processes last updated (see _update), and
        # their updates in order, stale ones skipped when the oldest go
        self.images: dict[tuple[str | None, str], tuple[int, str]] = {}
        self.updates: deque[tuple[int, tuple[str | None, str]]] = deque()
        self.updated = 0
        # the same table in C when built (auditd_hunt.resolve_parents): None, the dict above
        self.native = auditd_hunt.process_table(self.limit)

    @property
    def limit(self) -> int:
        """The processes the table keeps (``cap``)."""
        return MAX_PROCESSES if self.cap is None else self.cap

    def _built(self, pieces: Iterable[Piece]) -> list[Row]:
        needles = compile_filter(self.raw_filter)
        rows = []
        for host, texts, _, summary in pieces:
            if summary == auditd_hunt.DROP:  # no needle, no exec: what the filter drops
                self.stats.filtered += 1
                continue
            if isinstance(summary, dict):  # an exec without a needle: its image
                if self.parents is not None and summary["pid"] not in self.parents:
                    self.stats.filtered += 1  # no look-up reads it (see _Deferred)
                    continue
                rows.append({**summary, "host": host})
                continue
            records = [r for r in (parse_line(t) for t in texts) if r is not None]
            records.sort(key=lambda r: _order(r.type))  # the kernel's order, whatever the pieces'
            row = build_event(host, records)
            row["host"] = host
            if needles is not None:
                row["_pass"] = _passes(_event_text(texts, row), needles)
            rows.append(row)
        return rows

    def _built_batch(self, pieces: Iterable[Piece], schema: pa.Schema) -> pa.RecordBatch:
        """:meth:`_built`'s rows as a batch (``schema``). Without a raw filter, pieces of bare
        records (no transport host, no summary) go through the C builder at once, each
        piece's records in the kernel's order as :meth:`_built` puts them (one event each);
        the events it leaves to Python, and any other pieces, through :meth:`_built`."""
        pieces = list(pieces)
        found = None
        bare = all(host is None and summary is None for host, _, _, summary in pieces)
        if _auditd is not None and pieces and bare and compile_filter(self.raw_filter) is None:
            texts = [t for piece in pieces for t in sorted(piece[1], key=_kernel_order)]
            found = _auditd.build("\n".join(texts).encode(), 0)
        if found is None or found[2][0] + len(found[1]) != len(pieces):
            return _batch(self._built(pieces), schema)  # (or pieces whose keys met: Python)
        _, listed, built = found
        order, columnar = _built_columns(built, schema, None)
        ordinals = [g[0] for g in listed]
        rows = self._built(pieces[i] for i in ordinals)
        return _in_order(rows, ordinals, columnar, order, schema)

    def feed(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        chunk_lines = batch.column("_lines")[0].as_py() if batch.num_rows else 0
        for key, (host, texts, age, summary) in list(self.pending.items()):
            self.pending[key] = (host, texts, age + chunk_lines, summary)
        edges = pc.not_equal(batch.column("_edge"), pa.scalar(0, pa.int8()))
        if pc.any(edges).as_py():
            self._join(batch.select(list(_PIECE_COLUMNS)).filter(edges))
        finished: list[Piece] = []
        pending: dict[str, Piece] = {}
        for key, piece in self.pending.items():
            if piece[2] >= self.edge_lines:  # no more records of it can follow
                finished.append(piece)
            else:
                pending[key] = piece
        self.pending = pending
        rows = pa.Table.from_batches([batch.filter(pc.invert(edges))])
        if finished:
            built = self._built_batch(finished, batch.schema)
            rows = pa.concat_tables([pa.Table.from_batches([built]), rows])
        return self._release(rows)

    def _release(self, rows: pa.Table) -> pa.RecordBatch | None:
        """The rows older than every pending piece (time, then serial), the others held back:
        an event finished late (its pieces pending) still comes before the events after it."""
        if self.held is not None:
            rows = pa.concat_tables([self.held, rows])
            self.held = None
        if not rows.num_rows:
            return None
        # In time order, then serial (the kernel's numbering): a parent's exec comes before its
        # children's whatever order their records were written or cut in. (A stable sort: the
        # rows held back keep their order among equals, as before it, ahead of the next ones.)
        when, serial = rows.column("time"), pc.cast(rows.column("serial"), pa.int64())
        keys = pa.table({"t": when, "s": serial})
        order = pc.sort_indices(keys, sort_keys=[("t", "ascending"), ("s", "ascending")])
        if self.pending:
            oldest = min((k.rsplit("|", 2)[1], int(k.rsplit("|", 2)[2])) for k in self.pending)
            when, serial = when.take(order), serial.take(order)
            at_time, at_serial = pa.scalar(oldest[0], pa.string()), pa.scalar(oldest[1], pa.int64())
            before = pc.or_(
                pc.less(when, at_time),
                pc.and_(pc.equal(when, at_time), pc.less(serial, at_serial)),
            )
            before = pc.fill_null(before, _TRUE)
            later = order.filter(pc.invert(before))
            if len(later):
                self.held = rows.take(later)
            order = order.filter(before)
        return self._select(rows, order)

    def _join(self, pieces: pa.RecordBatch) -> None:
        """A batch's pieces (its edge rows) joined to the pending ones (ages already advanced)."""
        for row in pieces.to_pylist():
            key, edge = row["_key"], row["_edge"]
            old = self.pending.pop(key, None) if edge & _HEAD else None
            lines = (old[1] if old else []) + row["_records"].split("\n")
            # a piece ending far from the chunk's end is whole: finished at once (age past edge)
            age = row["_after"] if edge & _TAIL else self.edge_lines
            self.pending[key] = (row["host"], lines, age, None if old else _summary(row))

    def finish(self) -> pa.RecordBatch | None:
        schema = plan_schema(self.fields)
        finished = self._built_batch(self.pending.values(), schema)
        self.pending = {}
        return self._release(pa.Table.from_batches([finished], schema=schema))

    def _select(self, table: pa.Table, order: pa.Array) -> pa.RecordBatch | None:
        """The rows at ``order`` (time order), parents resolved, then selected."""
        if not len(order):
            return None
        # parents over the few columns they read, in that order; then the rows kept, taken
        view = table.select(["record_type", "dest", "pid", "ppid", "exe", "_pass"]).take(order)
        keep = pc.fill_null(view.column("_pass"), _TRUE)
        parent_exe = self._parents(view).filter(keep)
        self.stats.filtered += len(order) - (pc.sum(keep).as_py() or 0)
        table = table.take(order.filter(keep))
        names = pc.replace_substring_regex(parent_exe, pattern="(?s)^.*/", replacement="")
        for name, column in (("parent_exe", parent_exe), ("parent_name", names)):
            table = table.set_column(table.schema.get_field_index(name), name, column)
        if self.record_types is not None:
            kinds = pa.array(sorted(self.record_types), pa.string())
            wanted = pc.is_in(table.column("record_type"), kinds)
            self.stats.other += table.num_rows - (pc.sum(wanted).as_py() or 0)
            table = table.filter(wanted)
        self.stats.events += table.num_rows
        if not table.num_rows:
            return None
        if "SystemTime" in self.fields:  # the names the raw data set's rows take time and host by
            table = table.append_column("SystemTime", table.column("time"))
        if "Computer" in self.fields:
            table = table.append_column("Computer", table.column("dest"))
        out = table.select(["host", *self.fields]).combine_chunks()
        return out.to_batches()[0] if out.num_rows else None

    def _parents(self, table: pa.Table) -> pa.Array:
        """``parent_exe`` of each row: the image the parent pid last ran (its exec event before
        this one, same host); then this event's own exec updates the table. Only the rows the
        filter may keep look their parent up (the others are dropped), and the table takes the
        exec rows' images in runs between two look-ups (:meth:`_update`)."""
        updates = pc.and_(
            pc.equal(table.column("record_type"), pa.scalar(EXEC, pa.string())),
            pc.and_(pc.is_valid(table.column("pid")), pc.is_valid(table.column("exe"))),
        )
        looks = pc.and_(
            pc.fill_null(table.column("_pass"), _TRUE), pc.is_valid(table.column("ppid"))
        )
        updates, looks = pc.fill_null(updates, _FALSE), pc.fill_null(looks, _FALSE)
        if self.native is not None:
            return auditd_hunt.resolve_parents(self.native, table, updates, looks)
        at = pc.indices_nonzero(updates)
        dests = table.column("dest").take(at).to_pylist()
        keys = list(zip(dests, table.column("pid").take(at).to_pylist(), strict=True))
        exes = table.column("exe").take(at).to_pylist()
        positions = at.to_pylist()
        parent_exe: list[str | None] = [None] * table.num_rows
        start = 0
        looked = pc.indices_nonzero(looks).to_pylist()
        if looked:
            rows = pa.array(looked, pa.int64())
            parents = zip(
                table.column("dest").take(rows).to_pylist(),
                table.column("ppid").take(rows).to_pylist(),
                strict=True,
            )
            for row, parent in zip(looked, parents, strict=True):
                end = bisect_left(positions, row, start)  # the updates before this row
                self._update(keys[start:end], exes[start:end])
                start = end
                found = self.images.get(parent)
                parent_exe[row] = None if found is None else found[1]
        self._update(keys[start:], exes[start:])
        return pa.array(parent_exe, pa.string())

    def _update(self, keys: list[tuple[str | None, str]], exes: list[str]) -> None:
        """A run of exec images into the table, in C loops: each key's entry numbered by its
        update (the last one wins), the update queued; then, while the table holds more than
        ``cap`` processes (:data:`MAX_PROCESSES`), the least recently updated goes (a queued update that
        is not its key's last is skipped). The processes kept are those last updated, whether
        the oldest go after each update or after the run."""
        if not keys:
            return
        if self.native is not None:
            self.native.update(keys, exes)
            return
        numbers = range(self.updated, self.updated + len(keys))
        self.updated += len(keys)
        self.images.update(zip(keys, zip(numbers, exes, strict=True), strict=True))
        self.updates.extend(zip(numbers, keys, strict=True))
        images, updates = self.images, self.updates
        while len(images) > self.limit:
            number, key = updates.popleft()
            if images[key][0] == number:
                del images[key]
        if len(updates) > 2 * len(images) + 1024:  # the stale updates out
            self.updates = deque(sorted((n, k) for k, (n, _) in images.items()))

    def processes(self) -> list[tuple[tuple[str | None, str], str]]:
        """The table's processes and images, least recently updated first."""
        if self.native is not None:
            return list(self.native.items())
        live = sorted(self.images.items(), key=lambda item: item[1][0])
        return [(key, exe) for key, (_, exe) in live]


# A piece of an event cut by a chunk boundary: (host, record lines, lines read since its last
# record, summary: see Assembler.__post_init__).
Piece = tuple["str | None", list[str], int, "Row | int | None"]
_SLIM_FIELDS = ("record_type", "time", "dest", "serial", "pid", "exe", "_key", "_lines")


# What _join reads of an edge row (every field, each a Python object, cost more than its join).
_PIECE_COLUMNS = tuple(
    dict.fromkeys(("host", "_edge", "_after", "_records", "_kind", *_SLIM_FIELDS))
)


def _summary(row: Row) -> Row | int | None:
    """What an edge row of ``auditd_hunt``'s path says of its event if no other piece joins it:
    the row of an exec without a needle, DROP, or None (build it)."""
    kind = row.get("_kind")
    if kind == auditd_hunt.SLIM:
        return {**{name: row[name] for name in _SLIM_FIELDS}, "_edge": 0, "_pass": False}
    return auditd_hunt.DROP if kind == auditd_hunt.DROP else None


_ORDER = {"SYSCALL": 0, "EXECVE": 1, "CWD": 2, "PATH": 3, "PROCTITLE": 4, "EOE": 9}


def _order(kind: str) -> int:
    return _ORDER.get(kind, 5)


def assemble(
    batches: Iterable[pa.RecordBatch | Ranged],
    fields: tuple[str, ...],
    record_types: frozenset[str] | None,
    raw_filter: RawFilter | None,
    stats: ReadStats,
    edge_lines: int = EDGE_LINES,
    cap: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """:class:`EventPlan` batches, in input order, into finished rows (see :class:`Assembler`);
    ``edge_lines`` as the plan's, ``cap`` the processes kept for parents.

    With a raw filter, the chunks read from file ranges (:class:`Ranged`: ``EventPlan.read_range``,
    whole files, never a stream) are held back while the table updates they may hold stay
    within ``cap``; at the end, only the rows that can matter go to the assembler
    (:class:`_Deferred`: the exec images of the processes some event that may pass names as its
    parent). The first other batch, or a chunk past the cap, sends the held ones whole, and the
    rest streams."""
    assembler = Assembler(fields, record_types, raw_filter, stats, edge_lines, cap)
    deferred = _Deferred(assembler.limit) if compile_filter(raw_filter) is not None else None

    def fed(some: Iterable[pa.RecordBatch | Ranged]) -> Iterator[pa.RecordBatch]:
        for batch in some:
            out = assembler.feed(batch.whole() if isinstance(batch, Ranged) else batch)
            if out is not None:
                yield out

    for batch in batches:
        if deferred is None:
            yield from fed([batch])
        elif not deferred.hold(batch):
            yield from fed(deferred.held)  # (the batch itself last among them)
            deferred = None
    if deferred is not None:
        assembler.parents = frozenset(deferred.parents)
        # the held chunks' rows come all at once: as one batch (each batch costs the data set's
        # normalization a fixed share, ~1 ms)
        outs = list(fed(deferred.filtered(stats)))
        out = assembler.finish()
        outs += [out] if out is not None else []
        if outs:
            yield (
                outs[0]
                if len(outs) == 1
                else pa.Table.from_batches(outs).combine_chunks().to_batches()[0]
            )
        return
    out = assembler.finish()
    if out is not None:
        yield out


class _Deferred:
    """The chunks :func:`assemble` holds back, and the rows of them the assembler needs.

    A row whose ``_pass`` is False is neither a result nor a parent look-up: it only updates the
    parent table (an exec image) or nothing. Its update can change a result only through the
    entry of its (host, pid), read by an event that may pass and names that pid as its parent,
    or by evicting other entries. So the rows of the held chunks that go to the assembler are:
    every edge piece (built there), every row that may pass, and every row whose pid is the
    ppid of one of those (an edge piece's: any SYSCALL record of it); the others are counted
    ``filtered`` here, as the assembler would have. An edge piece that meets no other and is an
    exec image of none of those pids goes the same way in the assembler (``Assembler.parents``).
    The rows kept keep their order and their
    releases (a release holds back the rows younger than a pending piece, whatever the other
    rows; the sort is stable), so each look-up meets the same updates of its key, in the same
    order. No entry is evicted in either run while the updates (exec rows and edge pieces, at
    most one update each) are at most ``cap``: past it, :meth:`hold` says so and the chunks go
    whole. Memory: the held chunks, at most ``cap`` exec images (time, host, serial, pid, exe:
    about 70 bytes each) and the other rows.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.updates = 0
        self.held: list[pa.RecordBatch | Ranged] = []
        self.parents: set[str] = set()  # the ppids of the rows that may pass, so far

    def hold(self, batch: pa.RecordBatch | Ranged) -> bool:
        """Whether ``batch`` is held (a file range's, the updates within the cap); else it is
        the last of :attr:`held`, all of them to go whole, in order."""
        self.held.append(batch)
        if not isinstance(batch, Ranged):
            return False
        rows = batch.rows
        edges = pc.not_equal(rows.column("_edge"), pa.scalar(0, pa.int8()))
        execs = pc.equal(rows.column("record_type"), pa.scalar(EXEC, pa.string()))
        updating = pc.or_(edges, pc.fill_null(execs, _FALSE))
        self.updates += (pc.sum(updating).as_py() or 0) + batch.image_count
        # the ppids the look-ups may ask, gathered while the reader reads on
        may_pass = pc.and_(pc.invert(edges), pc.fill_null(rows.column("_pass"), _TRUE))
        ppids = rows.column("ppid").filter(may_pass).to_pylist()
        self.parents.update(p for p in ppids if p is not None)
        for text in rows.column("_records").filter(edges).to_pylist():
            self.parents.update(_piece_ppids(text))
        return self.updates <= self.cap

    def filtered(self, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """The held chunks, each without the rows no result depends on (counted ``filtered``)."""
        wanted = pa.array(sorted(self.parents), pa.string())
        for held in self.held:
            assert isinstance(held, Ranged)
            rows = held.rows
            keep = pc.or_(
                pc.not_equal(rows.column("_edge"), pa.scalar(0, pa.int8())),
                pc.or_(
                    pc.fill_null(rows.column("_pass"), _TRUE),
                    pc.is_in(rows.column("pid"), value_set=wanted),
                ),
            )
            keep = pc.fill_null(keep, _FALSE)
            images = None
            if held.image_count:
                images = pc.fill_null(pc.is_in(held.images["pid"], value_set=wanted), _FALSE)
            kept = pc.sum(keep).as_py() or 0
            if images is not None:
                kept += pc.sum(images).as_py() or 0
            stats.filtered += held.num_rows - kept
            if kept:
                yield Ranged(rows.filter(keep), held.images, held.lines).whole(images)
        self.held = []


def _piece_ppids(text: str) -> set[str]:
    """A superset of the ``ppid`` of each SYSCALL record of an edge piece (its record lines), as
    :func:`event_row` reads it: the value after any ``ppid=``, up to a space (:func:`_take`) or
    as :data:`FIELD` reads it (quoted, or up to any white space or 0x1D).

    >>> sorted(_piece_ppids('type=SYSCALL msg=audit(1.0:2): ppid=7 pid=8 a="b ppid=9 c"'))
    ['7', '9']
    """
    return {*_PPID_WORD.findall(text), *_PPID_FIELD.findall(text)}


_PPID_WORD = re.compile(r"ppid=([^ \n]*)")
_PPID_FIELD = re.compile(r"ppid=(\"[^\"]*\"|'[^']*'|[^\s\x1d]*)")


def needles(dataset: str, requirements: Requirements) -> RawFilter:
    """The requirements' literals as needles: the raw filter of an audit event is tested on its
    records as written AND its decoded values (:func:`_event_text`), so a literal a field derived
    from a raw field must contain is in the tested text whatever its encoding (hex, a long
    argument split in pieces). A clause naming a field the mapping does not derive that way
    (``Const``, ``Lookup``, a resolved parent, a CIM fill) is dropped."""
    return mapped_needles(
        "linux:audit",
        dataset,
        requirements,
        lambda literal: literal or None,
        fills=("unknown",),
        unplaced=frozenset({"parent_exe", "parent_name"}),  # resolved from other events
    )


# The records that end a system call's event: the kernel logs PROCTITLE last, then EOE, at the
# call's exit (kernel/auditsc.c audit_log_exit, since Linux 3.17), after SYSCALL and its aux.
_EVENT_ENDS = frozenset({"PROCTITLE", "EOE"})


def open_events(tail: bytes) -> int:
    """Where the events still being written begin in ``tail`` (whole lines, the end of a log that
    may grow): the offset of the first record of the earliest one, or ``len(tail)`` when every
    event is whole. An event is being written when it has a SYSCALL record and neither of the
    records the kernel writes last (PROCTITLE, EOE), in a log that shows them elsewhere (a log
    that never does, an old kernel's, tells nothing: all whole). Every event with a record after
    the offset starts after it, so a checkpoint there falls between events.

    >>> tail = (b'type=SYSCALL msg=audit(1.000:7): syscall=59\\ntype=PROCTITLE msg=audit(1.000:7): '
    ...         b'proctitle=6C73\\ntype=SYSCALL msg=audit(2.000:8): syscall=59\\n')
    >>> open_events(tail), len(tail)
    (94, 138)
    >>> open_events(tail[:94])
    94
    >>> old = tail.replace(b"PROCTITLE", b"CWD")  # no event end anywhere: all whole
    >>> open_events(old) == len(old)
    True
    """
    from escudo.sources.auditd import parse_line

    offsets: list[int] = []
    keys: list[str | None] = []
    kinds: dict[str, set[str]] = {}
    at = 0
    for line in tail.split(b"\n"):
        offsets.append(at)
        at += len(line) + 1
        try:
            record = parse_line(line.decode("utf-8", "replace")) if line.strip() else None
        except Malformed:
            record = None
        keys.append(None if record is None else record.key)
        if record is not None:
            kinds.setdefault(record.key, set()).add(TYPE_NAMES.get(record.type, record.type))
    if not any(types & _EVENT_ENDS for types in kinds.values()):
        return len(tail)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, i)
    open_keys = [k for k, t in kinds.items() if "SYSCALL" in t and not t & _EVENT_ENDS]
    if not open_keys:
        return len(tail)
    cut = min(first[k] for k in open_keys)
    moved = True
    while moved:  # an event with records on both sides of the cut moves it to its first record
        moved = False
        for key in keys[cut:]:
            if key is not None and first[key] < cut:
                cut, moved = first[key], True
                break
    return min(offsets[cut], len(tail))
