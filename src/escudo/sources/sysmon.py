"""The Sysmon for Linux source (sourcetype ``sysmon:linux``): one chunk of lines into raw records.

A line carries an event when it holds ``<Event>``: after a syslog header (rsyslog traditional or
ISO, RFC 3164 ``<PRI>``, RFC 5424, ``journalctl`` short), bare (Splunk attack data), or inside
a ``journalctl -o json`` object's ``MESSAGE`` (a string, or an array of bytes per journald's JSON
export rules). Other lines (cron, kernel, sysmon's ``sysmon[pid]:`` banners) are skipped and
counted. An event line without ``</Event>`` was cut (rsyslog's message size limit,
SysmonForLinux README) and is malformed; so is XML the extractor refuses.

>>> plan = SysmonPlan(fields=("EventID", "Computer"))
>>> batch, stats = plan(b"cron: hi\\n<Event><System><EventID>4</EventID><TimeCreated "
...     b'SystemTime="2021-10-24T17:05:38.412656000Z"/><Computer>h</Computer></System></Event>\\n', "x")
>>> batch.to_pylist(), stats.events, stats.skipped
([{'host': None, 'EventID': '4', 'Computer': 'h'}], 1, 1)
"""

from __future__ import annotations

import functools
import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from escudo.sources import prefilter
from escudo.sources.base import RawFilter, ReadStats, Requirements, mapped_needles
from escudo.sources.framing import count_lines, iter_blocks, note_bad_text, syslog_host
from escudo.sources.prefilter import ALWAYS_PASS, ChunkSplit, python_share, split_chunk
from escudo.sources.sysmon_fast import BAD_AMP, FastExtractor, Getter, in_layout_order
from escudo.sources.sysmon_raw import SysmonRawPlan
from escudo.sources.sysmon_xml import ALL_FIELDS, MalformedEvent, extract_reference

SOURCETYPE = "sysmon:linux"
# data_sources/sysmon_for_linux_eventid_1.yml: source and sourcetype the Splunk TA assigns.
SOURCE = "Syslog:Linux-Sysmon/Operational"

_OPEN, _CLOSE = b"<Event>", b"</Event>"
_STAMP = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")  # framing.SYSLOG_SHAPES rfc3164
_JSON_START = (b"{", b" ", b"\t")


def _journald_message(line: bytes) -> tuple[bytes, str | None] | None:
    """``MESSAGE`` and ``_HOSTNAME`` of a ``journalctl -o json`` line, or None if it is not one."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("MESSAGE")
    host = obj.get("_HOSTNAME")
    host = host if isinstance(host, str) else None
    if isinstance(msg, str):
        return msg.encode("utf-8", "surrogatepass"), host
    # journald exports a field that is not valid UTF-8 or holds control bytes as an array of
    # byte values (systemd JOURNAL_EXPORT_FORMATS.md, "Journal JSON Format").
    if isinstance(msg, list) and all(isinstance(b, int) and 0 <= b < 256 for b in msg):
        return bytes(msg), host
    return None


def _passes(raw: bytes, needles: tuple[tuple[bytes, ...], ...]) -> bool:
    """:meth:`RawFilter.matches` on compiled needles (the exact, per-line test)."""
    if any(seq in raw for seq, _ in ALWAYS_PASS):
        return True
    low = raw.lower()
    return all(any(n in low for n in clause) for clause in needles)


@functools.lru_cache(maxsize=64)  # asked again for every chunk and block
def _compile_filter(raw_filter: RawFilter | None) -> tuple[tuple[bytes, ...], ...] | None:
    if raw_filter is None or not raw_filter.clauses:
        return None
    return tuple(tuple(n.lower().encode() for n in clause) for clause in raw_filter.clauses)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic GC off: a chunk makes thousands of short-lived row tuples it would only rescan."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Sink:
    """What one chunk produced so far: rows, their hosts, counts, and a host cache."""

    rows: list[tuple[bytes | None, ...]] = field(default_factory=list)
    hosts: list[str | None] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    host_cache: dict[bytes, str | None] = field(default_factory=dict)


_EXTRACTORS: dict[tuple[str, ...], FastExtractor] = {}
_EMPTY: dict[tuple[str, ...], pa.RecordBatch] = {}


def fast_extractor(fields: tuple[str, ...]) -> FastExtractor:
    """One extractor (compiled patterns) per field list per process."""
    if fields not in _EXTRACTORS:
        _EXTRACTORS[fields] = FastExtractor(fields)
    return _EXTRACTORS[fields]


@dataclass(frozen=True)
class SysmonPlan:
    """What to read from a chunk: which raw fields (column order), which EventIDs, which filter.

    Calling the plan on a chunk of bytes returns a raw RecordBatch (``host`` then ``fields``, all
    strings) and the chunk's :class:`ReadStats` with line numbers relative to the chunk.
    ``extractor`` is ``"fast"`` (whole chunks, ``sysmon_columnar``, when there is no raw filter),
    ``"scan"`` (the per-event regex path alone) or ``"reference"`` (expat, the tests' oracle).
    """

    fields: tuple[str, ...] = ALL_FIELDS
    eventids: frozenset[int] | None = None
    raw_filter: RawFilter | None = None
    extractor: str = "fast"

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("host", pa.string()), *((f, pa.string()) for f in self.fields)])

    def _reference(
        self, line: bytes, start: int, stop: int, eventid: int
    ) -> tuple[bytes | None, ...]:
        record = extract_reference(line[start:stop].decode("utf-8", "replace"))
        return tuple(_encode(record.get(f)) for f in self.fields)

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        with _no_gc():
            return self._read(data, name)

    @property
    def streams(self) -> bool:
        """Whether the reader should hand :meth:`read_range` whole file ranges: with a raw filter
        and the C scan (the Arrow scan's fixed cost per call is too much for 1 MB blocks)."""
        return bool(self.raw_filter and self.raw_filter.clauses) and prefilter.has_c_scan()

    def python_share(self, data: bytes) -> float:
        """The share of ``data``'s bytes the exact (Python) path reads under the raw filter: the
        candidate lines, or all of them (no filter, or too many candidates).

        >>> SysmonPlan(raw_filter=RawFilter((("ngrok",),))).python_share(b"a\\nngrok\\n")
        0.75
        """
        needles = _compile_filter(self.raw_filter)
        split = split_chunk(data, needles) if needles else None
        return python_share(split, len(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[pa.RecordBatch, ReadStats]:
        """The plan (with a raw filter) over a file range, newline-aligned, read ``block_bytes``
        at a time through one reused buffer: the rows and counts of the plan over the range's
        bytes at once, with ``lines`` set (the reader numbers lines from it)."""
        needles = _compile_filter(self.raw_filter)
        if needles is None:
            raise ValueError("read_range needs a raw filter (see streams)")
        sink = _Sink()
        clause = prefilter.choose_clause(needles)
        if clause is not None and prefilter.has_c_scan():
            with _no_gc():
                lines = self._scan_range(path, offset, length, name, block_bytes, clause, sink)
            sink.stats.events = len(sink.rows)
            sink.stats.lines = lines
            return self._batch(sink.hosts, sink.rows, sink.stats), sink.stats
        lines = 0  # of the range, before the block
        with _no_gc():
            for block in iter_blocks(path, offset, length, block_bytes):
                first = lines + 1
                split = split_chunk(block, needles)
                if split is None:  # mostly candidates: the whole block line by line
                    data = bytes(block)
                    self._read_lines(data, name, 0, len(data), lines + 1, [], sink)
                    lines += count_lines(data)
                else:
                    self._read_split(block, split, name, lines, sink)
                    lines += split.lines
                note_bad_text(block, name, first, sink.stats)  # as the reader does for a chunk
        sink.stats.events = len(sink.rows)
        sink.stats.lines = lines
        return self._batch(sink.hosts, sink.rows, sink.stats), sink.stats

    def _scan_range(
        self,
        path: Path,
        offset: int,
        length: int,
        name: str,
        block_bytes: int,
        clause: tuple[bytes, ...],
        sink: _Sink,
    ) -> int:
        """:meth:`read_range`'s loop in C (``prefilter.scan_range``: read and scanned without
        the GIL, so threads scan in parallel); what it hands back goes through the exact path
        and ``note_bad_text`` as the loop would. The lines of the range read."""
        lines = 0  # of the range, before the current call's first block
        with open(path, "rb", buffering=0) as fh:
            done = 0
            while done < length:
                consumed, count, filtered, skipped, items = prefilter.scan_range(
                    fh.fileno(), offset + done, length - done, clause, block_bytes
                )
                for kind, line, data in items:
                    if kind == prefilter.RANGE_BAD_TEXT:
                        note_bad_text(data, name, lines + line + 1, sink.stats)
                    else:  # a run of candidate lines, or a whole block: the exact path
                        self._read_lines(data, name, 0, len(data), lines + line + 1, [], sink)
                sink.stats.filtered += filtered
                sink.stats.skipped += skipped
                lines += count
                done += consumed
                if not consumed:  # the file ends before the range (it shrank)
                    break
        return lines

    def _read_split(
        self, data: bytes | memoryview, split: ChunkSplit, name: str, lines: int, sink: _Sink
    ) -> None:
        """The candidate runs of ``split`` through the exact path, the other lines counted;
        ``lines`` lines came before ``data``."""
        for first, begin, end in split.runs:
            piece = bytes(data[begin:end])
            self._read_lines(piece, name, 0, len(piece), lines + first + 1, [], sink)
        sink.stats.filtered += split.filtered
        sink.stats.skipped += split.skipped

    def _read(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        if self.extractor == "fast" and not self.raw_filter:
            from escudo.sources.sysmon_columnar import read_columnar

            result = read_columnar(self, data, name)
            if result is not None:
                return result
        needles = _compile_filter(self.raw_filter)
        split = split_chunk(data, needles) if needles else None
        if split is not None and not split.runs:  # most chunks of a hunt: counts, no extractor
            stats = ReadStats(filtered=split.filtered, skipped=split.skipped, lines=split.lines)
            return self._batch([], [], stats), stats
        sink = _Sink()
        fast = fast_extractor(self.fields)
        lanes = (
            [] if self.extractor == "reference" or self.raw_filter else fast.lanes(self.eventids)
        )
        if split is not None:  # the prefilter over the whole chunk: candidate lines only
            self._read_split(data, split, name, 0, sink)
            sink.stats.lines = split.lines
        elif len(lanes) == 1:
            self._scan(data, name, lanes[0], sink)
        else:
            self._read_lines(data, name, 0, len(data), 1, lanes, sink)
        sink.stats.events = len(sink.rows)
        return self._batch(sink.hosts, sink.rows, sink.stats), sink.stats

    def _scan(
        self,
        data: bytes,
        name: str,
        lane: tuple[re.Pattern[bytes], Getter | None],
        sink: _Sink,
    ) -> None:
        """One pattern over the whole chunk (no per-line loop); the lines between accepted
        matches (other EventIDs, odd shapes, junk) go through :meth:`_read_lines` in order."""
        pattern, getter = lane
        rows, hosts, cache = sink.rows, sink.hosts, sink.host_cache
        size = len(data)
        done = 0  # data[:done] is accounted for
        number = 1  # line number at ``done``
        for m in pattern.finditer(data):
            start, end = m.span()
            line_start = data.rfind(b"\n", 0, start) + 1
            line_end = data.find(b"\n", end)
            if line_end < 0:
                line_end = size
            if (
                line_start < done
                or data.find(b"\n", start, end) >= 0  # across lines: each line read alone
                or (end != line_end and data[end:line_end].strip())
                or data[line_start : line_start + 1] in _JSON_START
                or data.find(_OPEN, line_start, start) >= 0
                or (data.find(b"]", start, end) >= 0 and data.find(b"]]>", start, end) >= 0)
            ):
                continue  # left to the general path, within the next gap
            if data.find(b"&", start, end) >= 0 and BAD_AMP.search(data, start, end):
                continue  # a character reference or a stray '&': checked on the general path
            if line_start > done:
                self._read_lines(data, name, done, line_start, number, [], sink)
                number += data.count(b"\n", done, line_start)
            groups: tuple[bytes | None, ...] = m.groups()
            values = groups if getter is None else getter((*groups, None))
            rows.append(values)  # type: ignore[arg-type]
            hosts.append(self._line_host(data, line_start, start, cache))
            done = line_end + 1
            number += 1
        if done < size:
            self._read_lines(data, name, done, size, number, [], sink)

    def _read_lines(
        self,
        data: bytes,
        name: str,
        begin: int,
        size: int,
        number: int,
        lanes: list[tuple[re.Pattern[bytes], Getter | None]],
        sink: _Sink,
    ) -> None:
        """The general path, line by line over ``data[begin:size]`` (``number``: its first line)."""
        # Works on offsets into the chunk: no per-line copies.
        stats, rows, hosts, host_cache = sink.stats, sink.rows, sink.hosts, sink.host_cache
        needles = _compile_filter(self.raw_filter)
        eventids = self.eventids
        fast = fast_extractor(self.fields)
        extract = self._reference if self.extractor == "reference" else fast.extract_bytes
        number, pos = number - 1, begin
        while pos < size:
            number += 1
            eol = data.find(b"\n", pos, size)
            if eol < 0:
                eol = size
            line, lpos, leol = data, pos, eol
            pos = eol + 1
            start = data.find(_OPEN, lpos, leol)
            if start >= 0 and lanes:
                values = _fast_lane(data, start, leol, lanes)
                if values is not None:
                    rows.append(values)
                    hosts.append(self._line_host(data, lpos, start, host_cache))
                    continue
            host = None
            journald = False
            if start < 0 or data[lpos : lpos + 1] in _JSON_START:
                stripped = data[lpos:leol].strip()
                if start >= 0 and stripped[:1] != b"{":
                    pass  # a syslog line that happens to start with a blank
                elif not stripped:
                    continue
                else:
                    found = _journald_message(stripped) if stripped[:1] == b"{" else None
                    inner = -1 if found is None else found[0].find(_OPEN)
                    if found is not None and inner >= 0:
                        (line, host), journald = found, True
                        start, lpos, leol = inner, 0, len(line)
                    elif start < 0 or found is not None:  # no event (or a journald non-event)
                        stats.skipped += 1
                        continue
                    # else: not JSON after all, but it holds <Event>: read it as a text line
            stop = line.rfind(_CLOSE, start, leol) + 8
            if stop < start + 15:
                stats.add_problem(name, number, "event cut short: no </Event> (syslog size limit?)")
                continue
            i = line.find(b"<EventID>", start, stop)
            j = line.find(b"</EventID>", i, stop)
            eid_text = line[i + 9 : j] if 0 <= i < j < i + 20 else b""
            eventid = int(eid_text) if eid_text.isdigit() else -1
            # The prefilter before the EventID test: an event it drops counts as ``filtered``
            # whatever its type, so the chunk-level filter can count it without reading it.
            if needles and not _passes(line[lpos:leol], needles):
                stats.filtered += 1
                continue
            if eventids is not None and eventid >= 0 and eventid not in eventids:
                stats.other += 1
                continue
            try:
                values = extract(line, start, stop, eventid)
            except MalformedEvent as exc:
                stats.add_problem(name, number, str(exc))
                continue
            rows.append(values)
            hosts.append(host if journald else self._line_host(line, lpos, start, host_cache))

    def _line_host(
        self, line: bytes, lpos: int, start: int, cache: dict[bytes, str | None]
    ) -> str | None:
        """The syslog header host of the line at ``lpos`` whose event starts at ``start``."""
        if start <= lpos:
            return None
        # Only a valid RFC 3164 stamp may be keyed away: the host then depends on the rest alone.
        key = line[lpos + 16 : start] if _STAMP.match(line, lpos) else None
        host = cache.get(key) if key else None
        return host if host is not None else self._host(line, lpos, start, key, cache)

    @staticmethod
    def _host(
        line: bytes, lpos: int, start: int, key: bytes | None, cache: dict[bytes, str | None]
    ) -> str | None:
        host = syslog_host(line[lpos:start].decode("utf-8", "replace"))
        if key and host and line[lpos : lpos + 3].isalpha() and len(cache) < 4096:
            cache[key] = host  # the RFC 3164 stamp "Mmm dd HH:MM:SS " is 16 bytes: key on the rest
        return host

    def _batch(
        self, hosts: list[str | None], rows: list[tuple[bytes | None, ...]], stats: ReadStats
    ) -> pa.RecordBatch:
        if not rows:  # one ready empty batch per field list (a hunt's chunks mostly keep none)
            if self.fields not in _EMPTY:
                _EMPTY[self.fields] = pa.RecordBatch.from_pylist([], schema=self.schema)
            return _EMPTY[self.fields]
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.fields]
        arrays = [pa.array(hosts, pa.string())]
        try:
            arrays += [_string_array(col) for col in columns]
        except pa.ArrowInvalid:  # invalid UTF-8 somewhere: decode with U+FFFD, count the events
            stats.invalid_utf8 += sum(1 for row in rows if not _valid_utf8(row))
            arrays = arrays[:1] + [
                pa.array([_decode(v) for v in col], pa.string()) for col in columns
            ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _string_array(values: tuple[bytes | None, ...]) -> pa.Array:
    """A string array from UTF-8 bytes; raises ``pa.ArrowInvalid`` when a value is not valid UTF-8."""
    return pa.array(values, pa.binary()).cast(pa.string())


def _valid_utf8(row: tuple[bytes | None, ...]) -> bool:
    try:
        for value in row:
            if value is not None:
                value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _fast_lane(
    data: bytes, start: int, end: int, lanes: list[tuple[re.Pattern[bytes], Getter | None]]
) -> tuple[bytes | None, ...] | None:
    """The values of a standard event at ``data[start:end]``, or None to take the general path.

    Only the five predefined entities may come this way (values keep them as written): character
    references, undefined entities and stray '&' go where they are fully checked.
    """
    if data.find(b"&", start, end) >= 0 and BAD_AMP.search(data, start, end):
        return None
    if data.find(b"]", start, end) >= 0 and data.find(b"]]>", start, end) >= 0:
        return None  # not allowed raw in XML text (expat refuses it)
    for pattern, getter in lanes:
        m = pattern.match(data, start, end)
        if m is not None:
            stop = m.end()
            if stop != end and data[stop:end].strip():
                return None
            groups: tuple[bytes | None, ...] = m.groups()
            return groups if getter is None else getter((*groups, None))  # type: ignore[return-value]
    return None


def _encode(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _decode(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


# Characters whose raw spelling depends on the transport: rsyslog writes control characters as
# ``#011``; journald JSON may write non-ASCII as ``\uXXXX``, ``\`` as ``\\``, ``/`` as ``\/``.
# A needle is cut at them: any piece of a required text is required too.
_UNSURE = re.compile(r"[\\/\x00-\x1f\x7f]|[^\x00-\x7f]")


def sysmon_needle(literal: str) -> str | None:
    """The needle for a literal a Sysmon field value must contain: verbatim (values keep the XML
    escapes the raw text holds), cut at characters whose spelling the transport may change.

    >>> sysmon_needle("/var/spool/cron/"), sysmon_needle(" echo 3 &gt; "), sysmon_needle("a\\\\b")
    ('spool', ' echo 3 &gt; ', 'a')
    """
    pieces = [p for p in _UNSURE.split(literal) if p]
    return max(pieces, key=len) if pieces else None


class SysmonSource:
    """Sysmon for Linux (``sysmon:linux``) as a :class:`escudo.sources.base.Source`: XML events
    in syslog (any header), journald JSON or bare lines; the C scan is its prefilter fast path."""

    name = SOURCETYPE
    source = SOURCE
    all_fields = ALL_FIELDS

    def sniff(self, head: bytes) -> bool:
        return _OPEN in head

    def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        """Each ``(field, literal)`` through this source's mapping: a field whose value is a
        substring of the raw XML text (``Raw``, ``Basename``, ``Lower``) takes the literal as its
        needle; a clause holding any other field is dropped.

        >>> SysmonSource().needles("Endpoint.Processes", ((("process_name", "ngrok"),),)).clauses
        (('ngrok',),)
        >>> SysmonSource().needles("Endpoint.Processes", ((("action", "allowed"),),)).clauses
        ()
        """
        return mapped_needles(self.name, dataset, requirements, sysmon_needle)

    def plan(
        self,
        fields: tuple[str, ...],
        record_types: frozenset[str] | None,
        raw_filter: RawFilter | None,
        extractor: str,
    ) -> SysmonPlan:
        eventids = None if record_types is None else frozenset(int(t) for t in record_types)
        return SysmonPlan(in_layout_order(fields, eventids), eventids, raw_filter, extractor)

    def raw_plan(self, raw_filter: RawFilter | None) -> SysmonRawPlan:
        """The raw events (``escudo.sources.sysmon_raw``): ``_raw`` the ``<Event>`` XML."""
        return SysmonRawPlan(raw_filter)
