"""Whole-chunk extraction of Sysmon for Linux events into columns: no Python loop per plain event.

SysmonForLinux writes every event in one fixed layout (``sysmon_fast``). One bytes pattern, an
alternation over the wanted EventIDs' layouts plus catch-alls, is tried at every newline of the
chunk, so ``findall`` returns exactly one tuple of groups per line, in order, from C. Transposed,
those tuples are the columns: a plain event of a wanted EventID fills its layout's groups; an event
of another EventID, a non-event line and anything else (journald JSON, cut events, character
references, odd prefixes) fill catch-all groups. Other EventIDs are counted (after a check for
``</Event>``), non-events are counted as skipped, and only the rest goes line by line through the
exact path (``SysmonPlan._read_lines``): rows come back in input order with that path's values and
``ReadStats``; tests hold this path equal to the reference. Values hold no ``<`` and ``&`` only in
the five predefined entities, kept as written (the add-on's values, ``sysmon_xml``); a chunk
holding ``]]>`` or invalid UTF-8 in an event is left whole to the per-event path.

Measured on this 2-core machine (benchmarks/bench_events.py, Endpoint.Processes): about 20% less
CPU per event than the per-event scan (regex ~3.4 us of ~7.5 us per 1.45 KB line).

The C module ``escudo.sources._sysmon`` (built by setup.py where a compiler is found) sorts the
lines by the same rules, one line at a time, for any number of EventIDs (an ingest reads four:
the regex path stops at ``MAX_LAYOUTS``, and those chunks were read event by event), and hands
back each wanted field as an Arrow string column's buffers; ``]]>`` and invalid UTF-8 send only
their line to the exact path. tests/sources/test_sysmon_c.py holds it equal to this module's
regex path and to the exact path on generated and mutated lines.

>>> from escudo.sources.sysmon import SysmonPlan
>>> line = (b'<Event><System><Provider Name="Linux-Sysmon" Guid="{g}"/><EventID>5</EventID>'
...     b'<Version>3</Version><Level>4</Level><Task>5</Task><Opcode>0</Opcode>'
...     b'<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2024-03-11T08:00:00.1Z"/>'
...     b'<EventRecordID>7</EventRecordID><Correlation/><Execution ProcessID="1" ThreadID="1"/>'
...     b'<Channel>Linux-Sysmon/Operational</Channel><Computer>h</Computer><Security UserId="0"/>'
...     b'</System><EventData><Data Name="RuleName">-</Data><Data Name="UtcTime">t</Data>'
...     b'<Data Name="ProcessGuid">{p}</Data><Data Name="ProcessId">9</Data>'
...     b'<Data Name="Image">/bin/a&amp;b</Data><Data Name="User">root</Data></EventData></Event>')
>>> batch, stats = read_columnar(SysmonPlan(("Computer", "Image"), frozenset({5})), line, "x")
>>> batch.to_pylist(), stats.events
([{'host': None, 'Computer': 'h', 'Image': '/bin/a&amp;b'}], 1)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources.base import ReadStats
from escudo.sources.framing import syslog_host
from escudo.sources.sysmon_fast import _STD_SYSTEM
from escudo.sources.sysmon_xml import EVENT_FIELDS, SYSTEM_TIME

try:
    from escudo.sources import _sysmon  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the regex path below
    _sysmon = None

if TYPE_CHECKING:
    from escudo.sources.sysmon import SysmonPlan, _Sink

# What may precede <Event> on a line read here: nothing, or text without '<' or a newline (after
# an optional RFC 3164 <PRI>) that does not start with a blank or '{' (journald JSON). So the
# prefix never holds another <Event>, as the exact path requires.
_PREFIX = rb"((?:<\d{1,3}>)?(?:[^\s{<][^\n<]*+)?)"
# Element text and attribute values. Strict: no '<', no newline, '&' only in one of the five
# predefined entities (character references and stray '&' go to the exact path). Loose, for a
# chunk without a stray '&' or ']]>' (checked first) and no value spanning lines (checked after):
# Python's re scans a single-character negated class much faster.
_ENT = rb"&(?:amp|lt|gt|quot|apos);"
_STRICT = (rb"[^<&\n]*+(?:" + _ENT + rb"[^<&\n]*+)*+", rb'[^"<&\n]*+(?:' + _ENT + rb'[^"<&\n]*+)*+')
_LOOSE = (rb"[^<]*+", rb'[^"<]*+')
_END = rb"[ \t\r\x0b\x0c]*+(?=\n|\Z)"  # what bytes.strip() would remove after </Event>
# Matches need not cover their whole line: each starts at its line's newline and the search for
# the next one skips the rest. An event in the standard System layout up to its first EventID
# (Python then checks for </Event> and counts it as other, or sends it to the exact path):
_OTHER = (
    _PREFIX[1:-1] + rb'<Event><System><Provider Name="[^"<\n]*" Guid="[^"<\n]*"/>'
    rb"<EventID>(\d{1,10})</EventID>"
)
# A line without <Event> whose first non-blank byte is not '{': skipped (the exact path's rule).
_NON_EVENT = rb"[ \t\r\x0b\x0c]*+(?![^\n]*<Event>)([^\s{])"
_REST = rb"([^\n]?)"  # anything else (empty: a blank line) goes to the exact path
# An RFC 3164 stamp (16 bytes with its space): a header's host does not depend on its value.
_STAMP = re.compile(r"[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} ")
_FIXED_STAMP = "Jan  1 00:00:00 "
_CLOSE = b"</Event>"
# Each layout adds its groups to every line's tuple: with all ten (``--datamodel raw``) the
# per-event scan was measured faster (20 vs 24 us per line), with one or two this path wins.
MAX_LAYOUTS = 2
_SPLIT = 2  # _STD_SYSTEM[:2] (Provider Name, Guid) come before the EventID, shared by all layouts


def _values(
    items: list[tuple[str, str]], fields: tuple[str, ...], classes: tuple[bytes, bytes]
) -> tuple[bytes, list[str]]:
    """Pattern for (literal, field) pairs with their values; ``fields`` capture, in group order."""
    parts: list[bytes] = []
    names: list[str] = []
    for literal, name in items:
        if name == "SystemTime":
            value = SYSTEM_TIME.encode()
        else:
            value = classes[1] if literal.endswith('="') else classes[0]
        if name in fields:
            value, names = rb"(" + value + rb")", [*names, name]
        parts.append(re.escape(literal.encode()) + value)
    return b"".join(parts), names


def _tail(
    eventid: int, fields: tuple[str, ...], classes: tuple[bytes, bytes]
) -> tuple[bytes, list[str]]:
    """From the EventID to ``</Event>`` of a plain line; the EventID itself is always captured."""
    system = [(lit, name) for lit, name, _ in _STD_SYSTEM[_SPLIT + 1 :]]
    names = EVENT_FIELDS[eventid]
    data = [(("</Data>" if i else "") + f'<Data Name="{n}">', n) for i, n in enumerate(names)]
    first, captured = _values(system, fields, classes)
    second, more = _values(data, fields, classes)
    pattern = (
        rb"(" + str(eventid).encode() + rb")" + first
        + re.escape(b'"/></System><EventData>') + second + rb"</Data></EventData></Event>"
    )  # fmt: skip
    return pattern, ["EventID", *captured, *more]


@dataclass(frozen=True)
class _Pattern:
    """The compiled line pattern and where each alternative's groups sit in a findall tuple."""

    regex: re.Pattern[bytes]
    layouts: tuple[tuple[int, dict[str, int]], ...]  # (EventID, field -> group index)
    other_eid: int
    non_event: int
    rest: int


@lru_cache(maxsize=64)
def _pattern(fields: tuple[str, ...], eventids: frozenset[int] | None, strict: bool) -> _Pattern:
    """``\\n`` then one of: a plain line of a wanted EventID, another event, a non-event, the rest."""
    classes = _STRICT if strict else _LOOSE
    wanted = sorted(EVENT_FIELDS if eventids is None else eventids & EVENT_FIELDS.keys())
    head, head_names = _values([(lit, n) for lit, n, _ in _STD_SYSTEM[:_SPLIT]], fields, classes)
    head = _PREFIX + head + re.escape(_STD_SYSTEM[_SPLIT][0].encode())
    head_names = ["", *head_names]  # "": the prefix
    group = len(head_names)
    tails, layouts = [], []
    for eid in wanted:
        tail, names = _tail(eid, fields, classes)
        tails.append(tail)
        groups = {n: i for i, n in enumerate(head_names)}
        groups |= {name: group + i for i, name in enumerate(names)}
        layouts.append((eid, groups))
        group += len(names)
    plain = head + rb"(?:" + b"|".join(tails) + rb")" + _END
    alternatives = ([plain] if tails else []) + [_OTHER, _NON_EVENT, _REST]
    if not tails:
        group = 0
    regex = re.compile(b"\n(?:" + b"|".join(alternatives) + b")")
    assert regex.groups == group + 3
    return _Pattern(regex, tuple(layouts), group, group + 1, group + 2)


def _newlines(data: bytes) -> list[int]:
    """Offsets of the chunk's newlines (a memchr walk: faster here than ``bytes.count``)."""
    found, pos = [], data.find(b"\n")
    while pos >= 0:
        found.append(pos)
        pos = data.find(b"\n", pos + 1)
    return found


_ENTITY_AT = re.compile(_ENT)


def _stray_amp(data: bytes) -> bool:
    """Whether some '&' does not start one of the five predefined entities (a memchr walk)."""
    pos = data.find(b"&")
    while pos >= 0:
        if _ENTITY_AT.match(data, pos) is None:
            return True
        pos = data.find(b"&", pos + 1)
    return False


def _cdata_end(data: bytes) -> bool:
    """Whether ``]]>`` occurs (``]`` is rare: a memchr walk beats a substring search here)."""
    pos = data.find(b"]")
    while pos >= 0:
        if data.startswith(b"]]>", pos):
            return True
        pos = data.find(b"]", pos + 1)
    return False


def _findall(pat: _Pattern, data: bytes, newlines: list[int]) -> list[tuple[bytes, ...]]:
    """One tuple of groups per line: each match starts at the newline before its line."""
    if not newlines:
        return pat.regex.findall(b"\n" + data)
    first = newlines[0]
    found = pat.regex.findall(b"\n" + data[:first])
    found += pat.regex.findall(data, first, len(data) - 1 if data.endswith(b"\n") else len(data))
    return found


def _hosts(prefix: pa.Array) -> pa.Array:
    """``framing.syslog_host`` of each prefix, computed once per distinct header.

    Behind a valid RFC 3164 stamp the host depends only on the rest of the header (only that shape
    starts with a letter), so distinct prefixes that differ only in their stamp share one result.
    """
    encoded = prefix.dictionary_encode()
    cache: dict[str, str | None] = {}
    hosts = []
    for text in encoded.dictionary.to_pylist():
        key = _FIXED_STAMP + text[16:] if _STAMP.match(text) else text
        if key not in cache:
            cache[key] = syslog_host(key)
        hosts.append(cache[key])
    return pc.take(pa.array(hosts, pa.string()), encoded.indices)


def read_columnar(
    plan: SysmonPlan, data: bytes, name: str
) -> tuple[pa.RecordBatch, ReadStats] | None:
    """What ``plan(data, name)`` returns for a plan without a raw filter, or None to use the plan's
    own per-event path. With the C module (``escudo.sources._sysmon``) every chunk is read here,
    for any EventIDs; without it, None for more than ``MAX_LAYOUTS`` EventIDs, or a chunk with
    ``]]>`` or with invalid UTF-8 in an event (rare, and exact there)."""
    if _sysmon is not None:
        return _read_c(plan, data, name)
    return read_columnar_python(plan, data, name)


def read_columnar_python(
    plan: SysmonPlan, data: bytes, name: str
) -> tuple[pa.RecordBatch, ReadStats] | None:
    """:func:`read_columnar` in Python: one regex over the chunk (see the module docstring)."""
    from escudo.sources.sysmon import _Sink

    if plan.eventids is None or len(plan.eventids & EVENT_FIELDS.keys()) > MAX_LAYOUTS:
        return None
    newlines = _newlines(data)
    lines = len(newlines) + (1 if data and not data.endswith(b"\n") else 0)
    if _cdata_end(data):  # refused in XML text: leave the chunk to the per-event path
        return None
    loose = not _stray_amp(data)
    pat = _pattern(plan.fields, plan.eventids, not loose)
    found = _findall(pat, data, newlines)
    if loose and len(found) != lines:  # a loose value spanned lines: match line by line
        pat = _pattern(plan.fields, plan.eventids, True)
        found = _findall(pat, data, newlines)
    if not data or len(found) != lines:
        return None
    columns = list(zip(*found, strict=True))
    sink = _Sink()
    stats = sink.stats
    stats.lines = lines
    stats.skipped = lines - columns[pat.non_event].count(b"")
    exact = [i for i, first in enumerate(columns[pat.rest]) if first]  # usually none
    other_eid = columns[pat.other_eid]
    if other_eid.count(b"") != lines:
        wanted = plan.eventids
        ends = [*newlines, len(data)]
        for i, eid in enumerate(other_eid):
            if not eid:
                continue
            start = newlines[i - 1] + 1 if i else 0
            if (
                wanted is not None
                and int(eid) not in wanted
                and data.rfind(_CLOSE, start, ends[i]) >= 0
            ):
                stats.other += 1
            else:  # cut short, or a wanted event not in the plain layout
                exact.append(i)
    try:
        parts, keys = _plain_parts(plan, pat, columns, lines)
    except pa.ArrowInvalid:  # invalid UTF-8 in an event: the exact path counts and replaces it
        return None
    starts = [0, *(p + 1 for p in newlines)]
    ends = [*newlines, len(data)]
    exact_lines = [(i, starts[i], ends[i]) for i in sorted(exact)]
    return _with_exact(plan, data, name, parts, keys, exact_lines, sink)


def _with_exact(
    plan: SysmonPlan,
    data: bytes,
    name: str,
    parts: list[pa.RecordBatch],
    keys: list[pa.Array],
    exact: Sequence[tuple[int, int, int]],
    sink: _Sink,
) -> tuple[pa.RecordBatch, ReadStats]:
    """The plain rows (``parts``, from the lines ``keys``) with the rows of the ``exact`` lines
    ((index, start, end), in order) read by the per-event path, in input order."""
    stats = sink.stats
    if exact:
        fallback_keys: list[int] = []
        for i, start, end in exact:
            before = len(sink.rows)
            plan._read_lines(data, name, start, end, i + 1, [], sink)
            fallback_keys += [i] * (len(sink.rows) - before)
        if sink.rows:
            parts.append(plan._batch(sink.hosts, sink.rows, stats))
            keys.append(pa.array(fallback_keys, pa.int64()))
    stats.events = sum(p.num_rows for p in parts)
    if not parts:
        return plan._batch([], [], stats), stats
    if len(parts) == 1:
        return parts[0], stats
    table = pa.Table.from_batches(parts, schema=plan.schema)
    order = pc.sort_indices(pa.chunked_array(keys, pa.int64()))  # stable: input order
    return table.take(order).combine_chunks().to_batches()[0], stats


# --- the C module ---------------------------------------------------------------------------------

_TEXT, _ATTR, _TIME = 0, 1, 2  # the value kinds of _sysmon.c


@lru_cache(maxsize=64)
def _layouts(fields: tuple[str, ...], eventids: frozenset[int] | None) -> dict[object, object]:
    """The layouts of the wanted EventIDs for ``_sysmon.extract``: each the literals of
    ``sysmon_fast._STD_SYSTEM`` from ``</EventID>`` on, then its Data fields, with the kind of
    each value and its column in ``fields`` (-1: not wanted)."""
    slot = {f: i for i, f in enumerate(fields)}
    head = tuple(slot.get(n, -1) for _, n, _ in _STD_SYSTEM[: _SPLIT + 1])
    layouts: dict[object, object] = {"head": head}
    for eid in sorted(EVENT_FIELDS if eventids is None else eventids & EVENT_FIELDS.keys()):
        steps = []
        for literal, field, _ in _STD_SYSTEM[_SPLIT + 1 :]:
            kind = _TIME if field == "SystemTime" else _ATTR if literal.endswith('="') else _TEXT
            steps.append((literal.encode(), kind, slot.get(field, -1)))
        for i, field in enumerate(EVENT_FIELDS[eid]):
            literal = ("</Data>" if i else '"/></System><EventData>') + f'<Data Name="{field}">'
            steps.append((literal.encode(), _TEXT, slot.get(field, -1)))
        layouts[eid] = (str(eid).encode(), tuple(steps), b"</Data></EventData></Event>")
    return layouts


def _read_c(plan: SysmonPlan, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
    """:func:`read_columnar` with ``_sysmon.extract``: the plain events' values come back as
    Arrow buffers, the other lines are counted or handed to the per-event path."""
    from escudo.sources.sysmon import _Sink

    assert _sysmon is not None
    wanted = None if plan.eventids is None else tuple(sorted(plan.eventids))
    layouts = _layouts(plan.fields, plan.eventids)
    rows, columns, hosts, row_lines, exact, skipped, other, lines = _sysmon.extract(
        data, layouts, wanted, len(plan.fields)
    )
    sink = _Sink()
    sink.stats.lines, sink.stats.skipped, sink.stats.other = lines, skipped, other
    parts: list[pa.RecordBatch] = []
    keys: list[pa.Array] = []
    if rows:
        offsets, text = hosts
        arrays = [_hosts(_string(rows, None, offsets, text, 0))]
        arrays += [_string(rows, *column) for column in columns]
        parts.append(pa.RecordBatch.from_arrays(arrays, schema=plan.schema))
        keys.append(pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(row_lines)]))
    return _with_exact(plan, data, name, parts, keys, exact, sink)


def _string(rows: int, validity: bytes | None, offsets: bytes, data: bytes, nulls: int) -> pa.Array:
    """A string array over the C module's buffers (its values checked as UTF-8 there)."""
    bitmap = None if validity is None else pa.py_buffer(validity)
    buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), rows, buffers, null_count=nulls)


def _plain_parts(
    plan: SysmonPlan,
    pat: _Pattern,
    columns: list[tuple[bytes, ...]],
    n: int,
) -> tuple[list[pa.RecordBatch], list[pa.Array]]:
    """One batch of plain events per layout that matched, and their line indices."""
    parts: list[pa.RecordBatch] = []
    keys: list[pa.Array] = []
    for _eid, groups in pat.layouts:
        marker = columns[groups["EventID"]]
        missing = marker.count(b"")
        if missing == n:
            continue
        keep = None if missing == 0 else marker  # b"" (falsy) where another alternative matched

        def column(values: Sequence[bytes], keep: Sequence[bytes] | None = keep) -> pa.Array:
            chosen = values if keep is None else list(compress(values, keep))
            return pa.array(chosen, pa.binary()).cast(pa.string())

        count = n - missing
        arrays = [_hosts(column(columns[groups[""]]))]
        for field in plan.fields:
            index = groups.get(field)
            if index is None:
                arrays.append(pa.nulls(count, pa.string()))
            else:
                arrays.append(column(columns[index]))
        parts.append(pa.RecordBatch.from_arrays(arrays, schema=plan.schema))
        rows = range(n) if keep is None else compress(range(n), keep)
        keys.append(pa.array(rows, pa.int64()))
    return parts, keys
