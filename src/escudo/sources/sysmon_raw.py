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
from dataclasses import dataclass

import pyarrow as pa

from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import syslog_host

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


@dataclass(frozen=True)
class SysmonRawPlan:
    """A picklable chunk processor of Sysmon raw events (``host``, ``_time``, ``_raw``)."""

    raw_filter: RawFilter | None = None

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        from escudo.sources.sysmon import _journald_message

        stats = ReadStats()
        hosts: list[str | None] = []
        times: list[str | None] = []
        raws: list[str] = []
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for number, line in enumerate(lines, 1):
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
            stats.events += 1
            hosts.append(host)
            times.append(stamp.group(1).decode("ascii", "replace") if stamp else None)
            raws.append(_text(event, stats))
        arrays = [
            pa.array(hosts, pa.string()),
            pa.array(times, pa.string()),
            pa.array(raws, pa.string()),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA), stats
