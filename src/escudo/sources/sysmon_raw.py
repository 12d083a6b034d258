"""Sysmon for Linux raw events (the :data:`~escudo.sources.base.RAW_EVENTS` data set): one row
per event, ``_raw`` the ``<Event>...</Event>`` XML as Splunk indexes it.

Splunk's attack data for Sysmon for Linux (the events ESCU's tests replay) holds the bare XML, one
event per line: the syslog header (or journald's JSON wrapping) is the transport, not the event.
So ``_raw`` is the XML alone, ``host`` the transport's host (syslog header, journald
``_HOSTNAME``), else the event's ``<Computer>``, and ``_time`` its ``SystemTime``
(docs/semantics.md, "Raw-event search: Sysmon for Linux").

>>> plan = SysmonRawPlan()
>>> batch, stats = plan(b"cron: hi\\nOct 24 17:05:38 h1 sysmon: <Event><System><EventID>1</EventID>"
...     b"<TimeCreated SystemTime='2021-10-24T17:05:38.412656000Z'/><Computer>c</Computer>"
...     b"</System></Event>\\n", "x")
>>> row = batch.to_pylist()[0]
>>> row["host"], row["_time"], row["_raw"][:15], stats.events, stats.skipped
('h1', '2021-10-24T17:05:38.412656000Z', '<Event><System>', 1, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import count_lines, iter_blocks, note_bad_text, syslog_host
from escudo.sources.prefilter import has_c_scan, python_share, split_best

_OPEN, _CLOSE = b"<Event>", b"</Event>"
_TIME = re.compile(rb"""<TimeCreated SystemTime=['"]([^'"]*)['"]""")
_COMPUTER = re.compile(rb"<Computer>([^<]*)</Computer>")
SCHEMA = pa.schema([("host", pa.string()), ("_time", pa.string()), ("_raw", pa.string())])


def _text(value: bytes, stats: ReadStats) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        stats.invalid_utf8 += 1
        return value.decode("utf-8", "replace")


@dataclass
class _Sink:
    hosts: list[str | None] = field(default_factory=list)
    times: list[str | None] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)

    def batch(self) -> pa.RecordBatch:
        self.stats.events = len(self.raws)
        arrays = [
            pa.array(self.hosts, pa.string()),
            pa.array(self.times, pa.string()),
            pa.array(self.raws, pa.string()),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


@dataclass(frozen=True)
class SysmonRawPlan:
    """A picklable chunk processor of Sysmon raw events (``host``, ``_time``, ``_raw``).

    With a raw filter, the C scan (``prefilter.split_best``) finds the lines the per-line path
    must read (a needle, JSON, a cut event...) and counts the others as that path would: an
    event line ``filtered``, another line ``skipped``. ``exact`` reads every line in Python
    (the tests' oracle)."""

    raw_filter: RawFilter | None = None
    exact: bool = False

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        sink = _Sink()
        self._read(data, name, 1, sink)
        return sink.batch(), sink.stats

    def _needles(self) -> tuple[tuple[bytes, ...], ...] | None:
        if self.exact or self.raw_filter is None or not self.raw_filter.clauses:
            return None
        return tuple(tuple(n.lower().encode() for n in c) for c in self.raw_filter.clauses)

    @property
    def streams(self) -> bool:
        """Whether the reader should hand :meth:`read_range` whole file ranges (a raw filter
        and the C scan: threads then scan in parallel, no worker process started)."""
        return self._needles() is not None and has_c_scan()

    def python_share(self, data: bytes) -> float:
        """The share of ``data``'s bytes the per-line path reads under the raw filter."""
        needles = self._needles()
        split = split_best(data, needles) if needles is not None else None
        return python_share(split, len(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[pa.RecordBatch, ReadStats]:
        """The plan over a file range read ``block_bytes`` at a time, ``stats.lines`` set."""
        sink, lines = _Sink(), 0
        for block in iter_blocks(path, offset, length, block_bytes):
            data = bytes(block)
            first = lines + 1
            lines += self._read(data, name, first, sink)
            note_bad_text(data, name, first, sink.stats)  # as the reader does for a chunk
        batch = sink.batch()
        sink.stats.lines = lines
        return batch, sink.stats

    def _read(self, data: bytes, name: str, number: int, sink: _Sink) -> int:
        """The lines of ``data`` (``number``: its first line's number); its line count."""
        needles = self._needles()
        split = split_best(data, needles) if needles is not None else None
        if split is None:
            self._lines(data, name, number, sink)
            return count_lines(data)
        for first, begin, end in split.runs:
            self._lines(data[begin:end], name, number + first, sink)
        sink.stats.filtered += split.filtered
        sink.stats.skipped += split.skipped
        return split.lines

    def _lines(self, data: bytes, name: str, number: int, sink: _Sink) -> None:
        from escudo.sources.sysmon import _journald_message

        stats, hosts, times, raws = sink.stats, sink.hosts, sink.times, sink.raws
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for number, line in enumerate(lines, number):  # noqa: B020
            stripped = line.strip()
            if not stripped:
                continue
            host: str | None = None
            prefix = b""
            if stripped[:1] == b"{":
                found = _journald_message(stripped)
                if found is None or _OPEN not in found[0]:
                    if found is not None or _OPEN not in line:
                        stats.skipped += 1
                        continue
                else:
                    line, host = found
            start = line.find(_OPEN)
            if start < 0:
                stats.skipped += 1
                continue
            stop = line.rfind(_CLOSE, start)
            if stop < 0:
                stats.add_problem(name, number, "event cut short: no </Event> (syslog size limit?)")
                continue
            event = line[start : stop + len(_CLOSE)]
            if self.raw_filter is not None and not self.raw_filter.matches(event):
                stats.filtered += 1
                continue
            prefix = line[:start].strip()
            if host is None and prefix:
                host = syslog_host(prefix.decode("utf-8", "replace"))
            if host is None and (computer := _COMPUTER.search(event)) is not None:
                host = _text(computer.group(1), stats) or None
            stamp = _TIME.search(event)
            hosts.append(host)
            times.append(stamp.group(1).decode("ascii", "replace") if stamp else None)
            raws.append(_text(event, stats))
