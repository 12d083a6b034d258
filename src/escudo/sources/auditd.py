"""The Linux audit source (sourcetype ``linux:audit``): audit records, their transports, raw events.

An audit record is one line ``type=<TYPE> msg=audit(<seconds>.<millis>:<serial>): key=value ...``
(``/var/log/audit/audit.log``, linux-telemetry.md section 3.1). It may come:

* bare, as auditd writes it, with an optional ``node=<host>`` prefix (auditd ``name_format``);
* after a syslog header (audisp-syslog / ``audispd``, rsyslog and journalctl short output, the
  kernel's own ``audit: type=1300 audit(...)`` lines in kern.log): the shapes of
  :data:`escudo.sources.framing.SYSLOG_SHAPES`, whose host is the transport's host;
* inside a ``journalctl -o json`` object: its ``MESSAGE`` holds the record (audisp-syslog through
  the journal), or journald's own audit capture gives ``MESSAGE`` ``<TYPE> <fields>`` with
  ``_AUDIT_ID``, ``_AUDIT_TYPE_NAME`` and ``_SOURCE_REALTIME_TIMESTAMP`` (systemd
  ``journald-audit.c``), from which the record is rebuilt;
* as ``ausearch -i`` prints it (``msg=audit(11/18/2022 14:33:22.294:2760) :``, local time; read
  as UTC, since the zone is not written).

With ``log_format=ENRICHED`` a record ends with a 0x1D byte followed by auditd's translations
(``UID="root" AUID="alice" SYSCALL=execve``): :func:`parse_fields` keeps them as fields of their
own (their names are upper case, the kernel's lower case). Values keep their encoding here
(``exe="/bin/ls"`` gives ``/bin/ls`` without quotes, hex stays hex); :func:`decode` turns a hex
value into text where the kernel may have hex-encoded it.

Lines without ``audit(`` are not records (skipped); a line that has one but not a whole header,
or whose fields were cut (an unclosed quote, a hex value of odd length), is malformed and reported
``path:line``.

>>> r = parse_line('node=h1 type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="ls" a1=2D6C')
>>> r.node, r.type, r.serial, r.when, parse_fields(r.body)
('h1', 'EXECVE', '42', '2023-11-14T22:13:20.123000Z', {'argc': '2', 'a0': 'ls', 'a1': '2D6C'})
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from escudo.sources.base import ALWAYS_PASS, RawFilter, ReadStats, Requirements
from escudo.sources.framing import count_lines, iter_blocks, note_bad_text, syslog_host
from escudo.sources.prefilter import has_c_scan, python_share, scan_lines, split_best

try:
    from escudo.sources import _auditd  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: RawPlan reads every line in Python
    _auditd = None

SOURCETYPE = "linux:audit"
# ESCU data_sources/linux_auditd_*.yml: source /var/log/audit/audit.log, sourcetype linux:audit,
# the Splunk Add-on for Unix and Linux (9.2.0).
SOURCE = "/var/log/audit/audit.log"
ENRICHED_SEPARATOR = "\x1d"  # auditd.conf log_format=ENRICHED (auditd.conf(5))

# The record header: an optional node= (name_format), type=, then audit(<time>:<serial>); the
# kernel's own lines (kern.log, dmesg) write ``audit(`` without ``msg=``; ausearch -i writes
# ``MM/DD/YYYY HH:MM:SS.mmm`` and `` : `` after it.
HEADER = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Za-z0-9_]+) (?:msg=)?audit\("
    r"(?P<time>\d+\.\d+|\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.\d+):(?P<serial>\d+)\)(?: ?:)? ?"
)
# One field: a key, then a double-quoted value (no escapes: the kernel hex-encodes any value
# holding a quote), a single-quoted one (user-space records' msg='...'), or a bare word.
FIELD = re.compile(r"([^\s=\x1d]+)=(\"[^\"]*\"|'[^']*'|[^\s\x1d]*)")
_HEX = re.compile(r"[0-9A-F]+")
_SINGLE_QUOTED = re.compile(r"'[^']*'")

# Fields the kernel may hex-encode (audit_log_untrustedstring / audit_log_n_untrustedstring in
# kernel/audit.c): exe, comm, cwd, PATH name, proctitle, EXECVE arguments, and user-space ones.
HEX_FIELDS = frozenset(
    {"exe", "comm", "cwd", "name", "proctitle", "cmd", "data", "path", "key", "old-chardev",
     "new-chardev", "root_dir", "acct", "grp", "new_group", "old_group", "op_name"}
)  # fmt: skip
_ARG = re.compile(r"a\d+(?:\[\d+\])?")

# The raw fields of an assembled event (the ``raw`` pseudo data set; escudo.sources.auditd_events
# builds them): audit field names where the records have one (SYSCALL pid, ppid, uid, exe...;
# ENRICHED translations upper case: UID, AUID, SYSCALL), else computed ones named for what they
# hold. docs/semantics.md "Linux audit (auditd)" gives each.
EVENT_FIELDS: tuple[str, ...] = (
    "record_type", "time", "dest", "node", "serial", "types", "arch", "syscall", "SYSCALL",
    "success", "exit", "pid", "ppid", "uid", "auid", "euid", "gid", "ses", "tty", "comm", "exe",
    "key", "UID", "AUID", "EUID", "user", "cwd", "argc", "command_line", "proctitle",
    "path", "file_path", "file_name", "file_action", "parent_exe", "parent_name",
    "SystemTime", "Computer",
)  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One audit record line, parsed as far as its header.

    ``text`` is the record as auditd wrote it (from ``node=`` or ``type=`` to the end of the line:
    Splunk's ``_raw``); ``body`` its fields (after ``): ``); ``host`` the transport's host (syslog
    header, journald ``_HOSTNAME``), None when bare; ``when`` ISO 8601 UTC text.
    """

    host: str | None
    node: str | None
    type: str
    when: str
    serial: str
    body: str
    text: str

    @property
    def key(self) -> str:
        """What the records of one event share: host, node, time and serial."""
        return f"{self.host or ''}|{self.node or ''}|{self.when}|{self.serial}"


class Malformed(ValueError):
    """A line that holds an audit record that cannot be read whole (the reason is the message)."""


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def audit_time(text: str) -> str:
    """``audit(...)``'s time as ISO 8601 UTC text (Splunk's ``_time``: the TA's TIME_PREFIX is
    ``msg=audit(``, the epoch seconds with milliseconds).

    >>> audit_time("1626611363.720"), audit_time("11/18/2022 14:33:22.294")
    ('2021-07-18T12:29:23.720000Z', '2022-11-18T14:33:22.294000Z')
    """
    if "/" in text:  # ausearch -i: local time, zone unknown (read as UTC)
        when = datetime.strptime(text, "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seconds, _, fraction = text.partition(".")
    return f"{_second(int(seconds))}.{(fraction + '000000')[:6]}Z"


def _journald(line: str) -> tuple[str, str | None] | None:
    """The record of a ``journalctl -o json`` line and the journal's host, or None."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    message = obj.get("MESSAGE")
    if isinstance(message, list) and all(isinstance(b, int) and 0 <= b < 256 for b in message):
        message = bytes(message).decode("utf-8", "replace")  # journald's byte-array form
    if not isinstance(message, str):
        return None
    host = obj.get("_HOSTNAME")
    host = host if isinstance(host, str) else None
    audit_id, type_name = obj.get("_AUDIT_ID"), obj.get("_AUDIT_TYPE_NAME")
    stamp = obj.get("_SOURCE_REALTIME_TIMESTAMP")
    if "audit(" not in message and isinstance(audit_id, str) and isinstance(stamp, str):
        # journald-audit.c: MESSAGE=<type name> <fields>, the id and the time in their own fields
        name, _, fields = message.partition(" ")
        micros = int(stamp) if stamp.isdigit() else 0
        seconds, rest = divmod(micros, 1_000_000)
        kind = type_name if isinstance(type_name, str) else name
        fields = fields if kind == name else message
        message = f"type={kind} msg=audit({seconds}.{rest // 1000:03d}:{audit_id}): {fields}"
    return message, host


def _syslog_host(prefix: str) -> str | None:
    """The host of the syslog header before a record (a kernel line ends ``kernel: audit:``)."""
    prefix = prefix.rstrip()
    if prefix.endswith(" audit:"):
        prefix = prefix[: -len(" audit:")]
    prefix = re.sub(r" \[\s*\d+\.\d+\]$", "", prefix)  # the kernel's [uptime] stamp
    return syslog_host(prefix)


def parse_line(line: str) -> Record | None:
    """The record a line holds, None when it holds none; :class:`Malformed` when it holds one
    that cannot be read (a header cut short, a field cut short).

    >>> parse_line("Dec  6 21:00:01 web-1 audispd: type=CWD msg=audit(1.5:7):  cwd=\\"/\\"").host
    'web-1'
    >>> parse_line("----") is None
    True
    """
    host = None
    stripped = line.strip()
    if stripped.startswith("{"):
        found = _journald(stripped)
        if found is None:
            return None
        line, host = found
    at = line.find("audit(")
    if at < 0:
        return None
    m = HEADER.search(line, max(0, at - 200), at + 120) or HEADER.search(line)
    if m is None:
        if "type=" not in line[:at]:
            return None  # text that mentions audit( (a comment, a message): not a record
        raise Malformed("audit record with no whole header (type=... msg=audit(time:serial):)")
    prefix = line[: m.start()]
    if host is None and prefix.strip():
        host = _syslog_host(prefix)
    body = line[m.end() :].rstrip("\r\n")
    check_fields(body)
    return Record(
        host, m.group("node"), m.group("type"), audit_time(m.group("time")), m.group("serial"),
        body, line[m.start() :].rstrip("\r\n"),
    )  # fmt: skip


def check_fields(body: str) -> None:
    """:class:`Malformed` when the fields were cut (the kernel writes no quote inside a value)."""
    main = body.partition(ENRICHED_SEPARATOR)[0]
    outside = _SINGLE_QUOTED.sub("", main) if "'" in main else main
    if outside.count('"') % 2:
        raise Malformed("record cut short: a quoted value is not closed")
    if "'" in outside:
        raise Malformed("record cut short: a msg='...' value is not closed")
    key, eq, value = main.rpartition(" ")[2].partition("=")
    hex_field = key in HEX_FIELDS or _ARG.fullmatch(key)
    if eq and hex_field and _HEX.fullmatch(value) and len(value) % 2:
        raise Malformed(f"record cut short: hex value of {key} has an odd length")


def parse_fields(body: str) -> dict[str, str]:
    """A record's fields, quotes removed, values otherwise as written (hex stays hex); ENRICHED
    translations (after 0x1D) are fields of their own (upper-case names), and a ``msg='...'``
    value's own fields come last, where the record has no field of that name.

    >>> parse_fields("pid=1 msg='op=x exe=\\"/bin/a b\\" res=success'\\x1dUID=\\"root\\"")
    {'pid': '1', 'msg': 'op=x exe="/bin/a b" res=success', 'UID': 'root', 'op': 'x', 'exe': '/bin/a b', 'res': 'success'}
    """
    out: dict[str, str] = {}
    inner: list[str] = []
    for key, value in FIELD.findall(body):
        if value[:1] == '"' or value[:1] == "'":
            value = value[1:-1]
            if key == "msg" and "=" in value:
                inner.append(value)
        if key not in out:
            out[key] = value
    for text in inner:
        for key, value in FIELD.findall(text):
            out.setdefault(key, value[1:-1] if value[:1] in "\"'" and len(value) > 1 else value)
    return out


def is_hex(value: str) -> bool:
    """Whether a bare value is the kernel's hex encoding (upper case, an even number of digits).

    >>> is_hex("2F746D70"), is_hex("top"), is_hex("ABC")
    (True, False, False)
    """
    return len(value) % 2 == 0 and _HEX.fullmatch(value) is not None


def hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value)


def decode(key: str, written: str) -> str:
    """A value as written in a record (quoted or bare) as text: quotes removed; bare hex decoded
    where the kernel may hex-encode ``key`` (NUL bytes become spaces, as ``ausearch -i`` shows a
    proctitle's argument separators); else as written.

    >>> decode("proctitle", "6C73002D6C"), decode("a1", "2D6C"), decode("a1", '"2D6C"')
    ('ls -l', '-l', '2D6C')
    """
    if written[:1] == '"' and written[-1:] == '"' and len(written) > 1:
        return written[1:-1]
    if (key in HEX_FIELDS or _ARG.fullmatch(key)) and is_hex(written):
        return hex_bytes(written).replace(b"\0", b" ").decode("utf-8", "replace")
    return written


# -- Raw events: one per record line, as Splunk indexes audit.log ------------------------------------


@functools.lru_cache(maxsize=64)
def compile_filter(raw_filter: RawFilter | None) -> tuple[tuple[bytes, ...], ...] | None:
    if raw_filter is None or not raw_filter.clauses:
        return None
    return tuple(tuple(n.lower().encode() for n in clause) for clause in raw_filter.clauses)


RAW_SCHEMA = pa.schema([("host", pa.string()), ("_time", pa.string()), ("_raw", pa.string())])


def read_records(
    data: bytes, name: str, stats: ReadStats, on_record: Callable[[int, Record], None]
) -> None:
    """Every record of a chunk in order (``on_record(line_number, record)``); lines holding no
    record are counted ``skipped`` (blank lines are not counted), malformed ones reported."""
    text = data.decode("utf-8", "replace")
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        record = counted_record(line, name, number, stats)
        if record is not None:
            on_record(number, record)


def counted_record(line: str, name: str, number: int, stats: ReadStats) -> Record | None:
    """The record of a non-blank line, or None: a malformed line reported (``path:line``), a
    line holding no record counted ``skipped``; a record with invalid UTF-8 counted too."""
    try:
        record = parse_line(line)
    except Malformed as exc:
        stats.add_problem(name, number, str(exc))
        return None
    if record is None:
        stats.skipped += 1
        return None
    if "\ufffd" in line:
        stats.invalid_utf8 += 1
    return record


# A line the raw-text prefilter drops unparsed counts as a dropped record when it holds this
# (ASCII case-insensitively), else as a line that is not a record; a line holding ``{`` (journald
# JSON, whose MESSAGE may spell the record with escapes) is always parsed.
_RECORD_MARK, _JSON_MARK = b"audit(", b"{"


def _holds(raw: bytes, needles: tuple[tuple[bytes, ...], ...]) -> bool:
    """:meth:`RawFilter.matches` on compiled needles."""
    if any(seq in raw for seq in ALWAYS_PASS):
        return True
    low = raw.lower()
    return all(any(n in low for n in clause) for clause in needles)


@dataclass
class _RawSink:
    """The raw events of a chunk (or a file range) so far, and its counts."""

    hosts: list[str | None] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)

    def add(self, record: Record) -> None:
        self.hosts.append(record.host or record.node)
        self.times.append(record.when)
        self.raws.append(record.text)

    def batch(self) -> pa.RecordBatch:
        self.stats.events = len(self.raws)
        arrays = [pa.array(self.hosts, pa.string()), pa.array(self.times, pa.string())]
        arrays.append(pa.array(self.raws, pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=RAW_SCHEMA)


def _bare_records(data: bytes) -> pa.RecordBatch | None:
    """The raw events of a chunk of bare, whole, ASCII records, from the C module
    (``_auditd.records``); None when it is absent or the chunk is not for it."""
    if _auditd is None:
        return None
    found = _auditd.records(data)
    if found is None:
        return None
    count = found[0]
    arrays = [
        pa.Array.from_buffers(
            pa.string(), count, [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(text)]
        )
        for valid, offsets, text in found[1:]
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=RAW_SCHEMA)


def _lines_in(data: bytes, begin: int, end: int) -> int:
    """Lines of ``data[begin:end]`` (whole lines), a last one without its newline included."""
    last = end == len(data) and end > begin and data[end - 1 : end] != b"\n"
    return data.count(b"\n", begin, end) + last


def _shared_lines(data: bytes, a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]) -> int:
    """Lines in both a run of ``a`` and a run of ``b`` (runs of whole lines, in order)."""
    shared, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][1], b[j][1]), min(a[i][2], b[j][2])
        if low < high:
            shared += _lines_in(data, low, high)
        if a[i][2] <= b[j][2]:
            i += 1
        else:
            j += 1
    return shared


@dataclass(frozen=True)
class RawPlan:
    """The chunk processor of raw events (:data:`escudo.sources.base.RAW_EVENTS`): one row per
    record line, ``host`` the transport's host or else the record's ``node=``, ``_time`` from
    ``audit(...)``, ``_raw`` the record text from ``node=``/``type=`` on (a transport header is
    not part of it), values as written (hex stays hex), an ENRICHED 0x1D kept.

    With a raw filter, a line is parsed only when its bytes pass the filter (``_raw`` is a piece
    of the line) or hold ``{`` (JSON); the other lines are counted unparsed: ``filtered`` when
    they hold ``audit(``, else ``skipped`` (a cut record among them is not reported: it could
    not be an event of the search). The C scan (``prefilter.split_best``) finds the lines to
    parse without a Python loop over the others; without it, the same rule runs line by line
    (docs/semantics.md, "Raw-event search: the prefilter before parsing"). ``exact`` reads
    every line in Python (the tests' oracle).

    >>> RawPlan(None)(b"x\\ntype=EOE msg=audit(1.000:2): \\n", "f")[0].to_pylist()
    [{'host': None, '_time': '1970-01-01T00:00:01.000000Z', '_raw': 'type=EOE msg=audit(1.000:2): '}]
    """

    raw_filter: RawFilter | None
    exact: bool = False

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        sink = _RawSink()
        needles = compile_filter(self.raw_filter)
        if needles is None and not self.exact:
            found = _bare_records(data)
            if found is not None:
                sink.stats.events = found.num_rows
                return found, sink.stats
        if needles is None:
            read_records(data, name, sink.stats, lambda _, record: sink.add(record))
        else:
            self._read(data, name, 1, needles, sink)
        return sink.batch(), sink.stats

    @property
    def streams(self) -> bool:
        """Whether the reader should hand :meth:`read_range` whole file ranges (with a raw
        filter and the C scan: threads then scan in parallel, no worker process started)."""
        return compile_filter(self.raw_filter) is not None and has_c_scan() and not self.exact

    def python_share(self, data: bytes) -> float:
        """The share of ``data``'s bytes the per-line path reads under the raw filter.

        >>> RawPlan(RawFilter((("ngrok",),))).python_share(b"type=X ngrok\\n" + b"a" * 40 + b"\\n")
        0.24...
        """
        needles = compile_filter(self.raw_filter)
        split = split_best(data, needles, (_JSON_MARK,)) if needles is not None else None
        return python_share(split, len(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[pa.RecordBatch, ReadStats]:
        """The plan over a file range read ``block_bytes`` at a time (``framing.iter_blocks``),
        with ``stats.lines`` set (the reader numbers lines from it)."""
        needles = compile_filter(self.raw_filter)
        if needles is None:
            raise ValueError("read_range needs a raw filter (see streams)")
        sink, lines = _RawSink(), 0
        for block in iter_blocks(path, offset, length, block_bytes):
            data = bytes(block)
            count = self._read(data, name, lines + 1, needles, sink)
            note_bad_text(data, name, lines + 1, sink.stats)  # as the reader does for a chunk
            lines += count
        batch = sink.batch()
        sink.stats.lines = lines
        return batch, sink.stats

    def _read(
        self,
        data: bytes,
        name: str,
        number: int,
        needles: tuple[tuple[bytes, ...], ...],
        sink: _RawSink,
    ) -> int:
        """The lines of ``data`` (``number``: its first line's) under the filter; its line count."""
        split = None if self.exact else split_best(data, needles, (_JSON_MARK,))
        if split is None:  # no C scan, or most lines are candidates: line by line
            self._lines(data, name, number, needles, sink)
            return count_lines(data)
        records, marked = scan_lines(data, (_RECORD_MARK,))
        dropped = marked - _shared_lines(data, split.runs, records.runs)
        sink.stats.filtered += dropped
        sink.stats.skipped += split.filtered + split.skipped - dropped
        for first, begin, end in split.runs:
            self._lines(data[begin:end], name, number + first, needles, sink)
        return split.lines

    def _lines(
        self,
        data: bytes,
        name: str,
        number: int,
        needles: tuple[tuple[bytes, ...], ...],
        sink: _RawSink,
    ) -> None:
        """The per-line path: each line of ``data`` (``number``: the first one's) parsed when it
        passes the filter or holds ``{``, else counted."""
        stats = sink.stats
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for number, line in enumerate(lines, number):  # noqa: B020
            if not line.strip():
                continue
            if _JSON_MARK not in line and not _holds(line, needles):
                if _RECORD_MARK in line.lower():
                    stats.filtered += 1
                else:
                    stats.skipped += 1
                continue
            record = counted_record(line.decode("utf-8", "replace"), name, number, stats)
            if record is None:
                continue
            if not _holds(record.text.encode(), needles):
                stats.filtered += 1
                continue
            sink.add(record)


def sniff(head: bytes) -> bool:
    """An input whose first record-bearing lines hold an audit record header (bare, after a
    syslog header, or in a journald JSON ``MESSAGE``)."""
    lines = head.split(b"\n")
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]  # a cut last line
    seen = 0
    for raw in lines[:200]:
        line = raw.decode("utf-8", "replace")
        if not line.strip():
            continue
        try:
            record = parse_line(line)
        except Malformed:
            record = None
        if record is not None:
            return True
        seen += 1
        if seen >= 20:
            break
    return False


class AuditdSource:
    """Linux audit records as a :class:`escudo.sources.base.Source` and
    :class:`escudo.sources.base.RawEventSource`; its events (records sharing ``audit(...)``,
    assembled) and their CIM mappings are in ``escudo.sources.auditd_events``."""

    name = SOURCETYPE
    source = SOURCE
    all_fields: tuple[str, ...] = EVENT_FIELDS

    def sniff(self, head: bytes) -> bool:
        return sniff(head)

    def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        from escudo.sources.auditd_events import needles

        return needles(dataset, requirements)

    def plan(
        self,
        fields: tuple[str, ...],
        record_types: frozenset[str] | None,
        raw_filter: RawFilter | None,
        extractor: str,
    ) -> Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]]:
        from escudo.sources.auditd_events import EventPlan

        return EventPlan(fields, record_types, raw_filter)

    def assemble(
        self,
        batches: Iterable[pa.RecordBatch],
        fields: tuple[str, ...],
        record_types: frozenset[str] | None,
        raw_filter: RawFilter | None,
        stats: ReadStats,
    ) -> Iterator[pa.RecordBatch]:
        """The plan's batches, in input order, into events (``host`` then ``fields``): pieces of
        events cut by chunk boundaries joined, parents resolved, then ``record_types`` and
        ``raw_filter`` applied (``escudo.sources.auditd_events.Assembler``)."""
        from escudo.sources.auditd_events import assemble

        return assemble(batches, fields, record_types, raw_filter, stats)

    def raw_plan(self, raw_filter: RawFilter | None) -> RawPlan:
        return RawPlan(raw_filter)

    def open_events(self, tail: bytes) -> int:
        """Where the events still being written begin in ``tail``, the end of a log that may
        grow (``escudo ingest`` checkpoints there: ``auditd_events.open_events``)."""
        from escudo.sources.auditd_events import open_events

        return open_events(tail)
