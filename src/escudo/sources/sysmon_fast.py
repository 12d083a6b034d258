"""The fast path for Sysmon for Linux event XML: no DOM, one precompiled pattern per EventID.

SysmonForLinux writes every event in one fixed layout (libxml2 ``xmlTextWriter`` in
``outputxml.c``; ../shared/reference/linux-telemetry.md 1.1): the System block in a fixed order,
then the EventID's Data fields in manifest order. A bytes pattern for that layout, in which only
the wanted fields capture, extracts a whole event in one match; anything else (character
references, another layout) falls back to ``sysmon_xml.extract_generic``. Values keep their XML
escapes, as written. Tests hold this path equal to ``sysmon_xml.extract_reference``.

>>> xml = ('<Event><System><EventID>5</EventID><TimeCreated SystemTime="2021-10-24T17:05:46.927191000Z"/>'
...        '<Computer>h</Computer></System><EventData><Data Name="Image">a&amp;b</Data></EventData></Event>')
>>> FastExtractor(("EventID", "Image")).extract(xml)
('5', 'a&amp;b')
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable

from escudo.sources.sysmon_xml import (
    EVENT_FIELDS,
    SYSTEM_TIME,
    check_references,
    extract_generic,
)

# Possessive quantifiers (Python >= 3.11): nothing to backtrack into, measurably faster.
_TEXT = "[^<]*+"  # element text
_ATTR = '[^"<]*+'  # attribute value
# The System block exactly as SysmonForLinux writes it: (literal before, field, value pattern).
_STD_SYSTEM: tuple[tuple[str, str, str], ...] = (
    ('<Event><System><Provider Name="', "ProviderName", _ATTR),
    ('" Guid="', "ProviderGuid", _ATTR),
    ('"/><EventID>', "EventID", r"\d+"),
    ("</EventID><Version>", "EventVersion", _TEXT),
    ("</Version><Level>", "Level", _TEXT),
    ("</Level><Task>", "Task", _TEXT),
    ("</Task><Opcode>", "Opcode", _TEXT),
    ("</Opcode><Keywords>", "Keywords", _TEXT),
    ('</Keywords><TimeCreated SystemTime="', "SystemTime", SYSTEM_TIME),
    ('"/><EventRecordID>', "EventRecordID", _TEXT),
    ('</EventRecordID><Correlation/><Execution ProcessID="', "ExecutionProcessID", _ATTR),
    ('" ThreadID="', "ExecutionThreadID", _ATTR),
    ('"/><Channel>', "Channel", _TEXT),
    ("</Channel><Computer>", "Computer", _TEXT),
    ('</Computer><Security UserId="', "SecurityUserId", _ATTR),
)
_STD_SYSTEM_NAMES = tuple(name for _, name, _ in _STD_SYSTEM)


def _standard_pattern(eventid: int, wanted: tuple[str, ...] | None) -> str:
    """The whole-event pattern for the fixed layout; only ``wanted`` fields capture (None = all)."""
    parts = []
    for literal, name, value in _STD_SYSTEM:
        capture = wanted is None or name in wanted
        if name == "EventID":  # the literal number: a pattern fails fast on another EventID
            value = str(eventid)
        parts.append(re.escape(literal) + (f"({value})" if capture else f"(?:{value})"))
    parts.append(re.escape('"/></System><EventData>'))
    for name in EVENT_FIELDS[eventid]:
        capture = wanted is None or name in wanted
        value = f"({_TEXT})" if capture else _TEXT
        parts.append(re.escape(f'<Data Name="{name}">') + value + "</Data>")
    parts.append("</EventData></Event>")
    return "".join(parts)


@functools.cache
def _standard(eventid: int) -> re.Pattern[str]:
    """The full pattern of a known EventID's layout, compiled on first use (not at import: the
    process that only hands out work never needs it). Only EVENT_FIELDS keys reach the cache."""
    return re.compile(_standard_pattern(eventid, None))


# An '&' that does not start one of the five predefined entities: a character reference (checked
# on the str path) or a stray '&' / undefined entity (malformed there).
BAD_AMP = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)")


def in_layout_order(fields: tuple[str, ...], eventids: frozenset[int] | None) -> tuple[str, ...]:
    """``fields`` reordered as they appear in the layout of the lowest wanted EventID.

    With fields in that order a fast-path match's groups are already the row (no reordering).
    """
    if not eventids or min(eventids) not in EVENT_FIELDS:
        return fields
    order = {n: i for i, n in enumerate((*_STD_SYSTEM_NAMES, *EVENT_FIELDS[min(eventids)]))}
    return tuple(sorted(fields, key=lambda f: order.get(f, len(order))))


Getter = Callable[[tuple[object, ...]], tuple[object, ...]]


def _getter(order: list[str], fields: tuple[str, ...]) -> Getter:
    """Pick ``fields`` out of a groups tuple laid out as ``order`` padded with one trailing None."""
    index = {n: i for i, n in enumerate(order)}
    idx = [index.get(f, len(order)) for f in fields]
    if len(idx) == 1:
        only = idx[0]
        return lambda groups: (groups[only],)
    return operator.itemgetter(*idx)


class FastExtractor:
    """Extract the named raw fields from an event slice, as a tuple in ``fields`` order.

    A field the event does not have is ``None``. :meth:`extract_bytes` is the hot path: one
    precompiled bytes pattern per EventID in which only the wanted fields capture.
    """

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self._full: dict[int, Getter] = {}
        self._lean: dict[int, tuple[re.Pattern[bytes], Getter]] = {}
        self._identity: set[int] = set()
        for eid, names in EVENT_FIELDS.items():
            self._full[eid] = _getter([*_STD_SYSTEM_NAMES, *names], fields)
            captured = [n for n in (*_STD_SYSTEM_NAMES, *names) if n in fields]
            if tuple(captured) == fields:  # the groups are the row as they come
                self._identity.add(eid)
            pattern = re.compile(_standard_pattern(eid, fields).encode())
            self._lean[eid] = (pattern, _getter(captured, fields))

    def lanes(
        self, eventids: frozenset[int] | None
    ) -> list[tuple[re.Pattern[bytes], Getter | None]]:
        """The lean (pattern, getter) pairs of these EventIDs, for a caller's own hot loop.

        A match of ``pattern.match(line, start, end)`` that ends at the line's end, on a line
        with no ``&``, is a complete standard event; ``getter((*m.groups(), None))`` gives the values.
        """
        wanted = sorted(self._lean) if eventids is None else sorted(eventids & self._lean.keys())
        return [
            (self._lean[e][0], None if e in self._identity else self._lean[e][1]) for e in wanted
        ]

    def extract(self, xml: str) -> tuple[str | None, ...]:
        """Values of ``fields`` for one event; raises :class:`MalformedEvent`."""
        start = xml.find("<EventID>")
        end = xml.find("</EventID>", start)
        eid_text = xml[start + 9 : end] if start >= 0 and end > 0 else ""
        eventid = int(eid_text) if eid_text.isdigit() else -1
        pattern = _standard(eventid) if eventid in EVENT_FIELDS else None
        m = pattern.fullmatch(xml) if pattern is not None and "]]>" not in xml else None
        if m is None:
            record = extract_generic(xml)
            return tuple(record.get(f) for f in self.fields)
        check_references(xml)  # every value, wanted or not, as expat would (values keep them)
        return self._full[int(eid_text)]((*m.groups(), None))  # type: ignore[return-value]

    def extract_bytes(
        self, line: bytes, start: int, stop: int, eventid: int
    ) -> tuple[bytes | None, ...]:
        """Values (UTF-8 bytes) of ``fields`` for the event at ``line[start:stop]``.

        ``eventid`` is what the caller read from ``<EventID>`` (-1 if none). Events with character
        references, a stray ``&`` or an unusual layout take the slower str path, which checks them.
        """
        lean = self._lean.get(eventid)
        # Only the five predefined entities may take the lean path: anything else (character
        # references, undefined entities, a stray '&') goes where it is fully checked.
        if (
            lean is not None
            and line.find(b"]]>", start, stop) < 0
            and (line.find(b"&", start, stop) < 0 or BAD_AMP.search(line, start, stop) is None)
        ):
            m = lean[0].fullmatch(line, start, stop)
            if m is not None:
                return lean[1]((*m.groups(), None))  # type: ignore[return-value]
        xml = line[start:stop].decode("utf-8", "surrogateescape")
        values = self.extract(xml)
        return tuple(None if v is None else v.encode("utf-8", "surrogateescape") for v in values)
