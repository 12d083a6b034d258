"""What the JSON sources share (``ecs.py``, ``ocsf.py``): one JSON object per line into raw records.

A line is an event when it is a JSON object (JSON Lines / NDJSON). Its raw fields are the dotted
paths of its leaves (``{"process": {"parent": {"name": "sh"}}}`` gives ``process.parent.name``;
a key that already holds dots, as Elasticsearch accepts, gives the same path). Values are the text
of the JSON value, never re-encoded: a string decoded from its JSON escapes (plain text, no XML
escapes: ``echo 3 > f``), a number exactly as written (``8080``, ``1.50``), ``true``/``false``;
``null`` is no value. An array gives its elements' values joined by a newline, as Splunk shows a
multivalue field (``spath``), objects inside it flattened under the array's path.

Blank lines are ignored; a line that does not start with ``{``, or a JSON object that is not the
source's (no ``@timestamp`` for ECS, no ``class_uid`` for OCSF), is skipped (not an event); a line
that starts with ``{`` but is not a JSON object (cut, invalid JSON) is malformed, and so is an
event whose time field does not hold a time.

>>> flatten({"process": {"name": "ngrok", "pid": "7", "args": ["a", "b"]}, "x.y": True})
{'process.name': 'ngrok', 'process.pid': '7', 'process.args': 'a\\nb', 'x.y': 'true'}
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from escudo.sources.base import ALWAYS_PASS, RawFilter, ReadStats, Requirements, mapped_needles

# A JSON text may spell any character as \uXXXX and "/" as \/ (RFC 8259 section 7): a line holding
# either always passes a raw prefilter, so a needle (the JSON spelling of a literal) is sound.
JSON_ALWAYS_PASS: tuple[bytes, ...] = (*ALWAYS_PASS, b"\\u", b"\\/")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return None  # null (numbers arrive as their text, see _loads)


def _put(out: dict[str, str], key: str, value: str) -> None:
    old = out.get(key)
    out[key] = value if old is None else f"{old}\n{value}"


def _walk(value: Any, key: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{key}.{k}" if key else k, out)
    elif isinstance(value, list):
        for item in value:
            _walk(item, key, out)
    else:
        text = _text(value)
        if text is not None:
            _put(out, key, text)


def flatten(obj: dict[str, Any]) -> dict[str, str]:
    """The raw fields of a parsed JSON object: dotted leaf paths to text (see the module doc)."""
    out: dict[str, str] = {}
    _walk(obj, "", out)
    return out


Steps = tuple[tuple[tuple[str, int], ...], ...]
"""Per depth ``i`` of a dotted path: the keys an object may hold for it (``segments[i:j]`` joined
by dots, since a key may itself hold dots) with the depth ``j`` each leads to."""


@functools.lru_cache(maxsize=1024)
def _steps(path: str) -> Steps:
    segments = path.split(".")
    return tuple(
        tuple((".".join(segments[i:j]), j) for j in range(i + 1, len(segments) + 1))
        for i in range(len(segments))
    )


def _collect(value: Any, steps: Steps, depth: int, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, steps, depth, out)
    elif depth == len(steps):
        if not isinstance(value, dict):
            text = _text(value)
            if text is not None:
                out.append(text)
    elif isinstance(value, dict):
        for key, following in steps[depth]:
            child = value.get(key)
            if child is not None:
                _collect(child, steps, following, out)


def pick(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    """``flatten(obj)`` restricted to ``fields``, by looking each path up instead of walking the
    whole object (the same values: tests hold the two equal).

    >>> pick({"process": {"name": "a", "x": 1}, "process.pid": "7"}, ("process.name", "process.pid"))
    {'process.name': 'a', 'process.pid': '7'}
    """
    out: dict[str, str] = {}
    for field in fields:
        found: list[str] = []
        _collect(obj, _steps(field), 0, found)
        if found:
            out[field] = found[0] if len(found) == 1 else "\n".join(found)
    return out


# Numbers keep the text they were written with (parse_int/parse_float receive it): a value is what
# the line holds, so a prefilter needle found in the value is found in the line.
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def loads(line: str) -> Any:
    """``json.loads`` with numbers kept as their text.

    >>> loads('{"port": 443, "ratio": 1.50, "big": 1e3}')
    {'port': '443', 'ratio': '1.50', 'big': '1e3'}
    """
    return _DECODER.decode(line)


# Characters with more than one JSON spelling that no needle covers: control characters (``\n`` or
# ``\u000a``; an array's elements are also joined by a newline) and non-ASCII (raw UTF-8 or
# ``\uXXXX``, and DuckDB folds the case of non-ASCII letters, the prefilter only ASCII's).
_UNSURE = re.compile(r"[\x00-\x1f\x7f]|[^\x00-\x7f]")


def json_needle(literal: str) -> str | None:
    """The needle for a literal a JSON string value must contain: its JSON spelling, cut at
    characters whose spelling varies (the longest piece; any piece of a required text is
    required too); None when no piece is left.

    ``"`` and ``\\`` are escaped as every encoder writes them; ``/`` may also be written ``\\/``
    and any character ``\\uXXXX``, which :data:`JSON_ALWAYS_PASS` covers.

    >>> json_needle('say "hi"'), json_needle("C:\\\\x"), json_needle("a\\tbc"), json_needle("é")
    ('say \\\\"hi\\\\"', 'C:\\\\\\\\x', 'bc', None)
    """
    pieces = [p for p in _UNSURE.split(literal) if p]
    if not pieces:
        return None
    return max(pieces, key=len).replace("\\", "\\\\").replace('"', '\\"')


def passes(line: bytes, needles: tuple[tuple[bytes, ...], ...]) -> bool:
    """The raw prefilter on one JSON line (needles lower-cased; ASCII case-insensitive).

    >>> passes(b'{"a": "NGROK"}', ((b"ngrok",),)), passes(b'{"a": "x"}', ((b"ngrok",),))
    (True, False)
    >>> passes(b'{"a": "ngro\\\\u006b"}', ((b"ngrok",),))
    True
    """
    if any(seq in line for seq in JSON_ALWAYS_PASS):
        return True
    low = line.lower()
    return all(any(n in low for n in clause) for clause in needles)


def compile_filter(raw_filter: RawFilter | None) -> tuple[tuple[bytes, ...], ...] | None:
    if raw_filter is None or not raw_filter.clauses:
        return None
    return tuple(tuple(n.lower().encode() for n in clause) for clause in raw_filter.clauses)


RecordTypes = Callable[[dict[str, str]], frozenset[str]]
"""A source's record types of one event (ECS ``category:type`` pairs, OCSF ``type_uid``)."""

TimeText = Callable[[str], str | None]
"""A source's time field value into ISO 8601 UTC text (None: not a time)."""


@dataclass(frozen=True)
class JsonPlan:
    """The chunk processor of a JSON source (picklable: the callables are module functions).

    Rows: ``host`` (NULL: JSON lines carry no transport host) then ``fields``; ``time_field``'s
    value goes through ``time_text``; an event of no type in ``record_types`` (None: all) counts
    as ``other``, and ``record_field`` holds the event's record type (the least of its types
    that were asked for: one data set per event); ``is_event`` says whether a JSON object is
    this source's at all (else skipped).
    """

    fields: tuple[str, ...]
    record_types: frozenset[str] | None
    raw_filter: RawFilter | None
    time_field: str
    time_text: TimeText
    types_of: RecordTypes
    is_event: Callable[[dict[str, Any]], bool]
    record_field: str
    host_field: str
    type_fields: tuple[str, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([("host", pa.string()), *((f, pa.string()) for f in self.fields)])

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        stats = ReadStats()
        needles = compile_filter(self.raw_filter)
        fields, wanted, time_field = self.fields, self.record_types, self.time_field
        raw_names = "SystemTime" in fields or "Computer" in fields
        lookups = tuple(dict.fromkeys((*fields, *self.type_fields, time_field, self.host_field)))
        columns: list[list[str | None]] = [[] for _ in fields]
        rows = 0
        for number, raw in enumerate(data.split(b"\n"), 1):
            line = raw.strip()
            if not line:
                continue
            if line[:1] != b"{":
                stats.skipped += 1
                continue
            if needles and not passes(line, needles):
                stats.filtered += 1
                continue
            text = line.decode("utf-8", "replace")
            try:
                obj = loads(text)
            except ValueError as exc:
                stats.add_problem(name, number, f"not a JSON object: {exc}")
                continue
            if not isinstance(obj, dict):
                stats.add_problem(name, number, "not a JSON object")
                continue
            if not self.is_event(obj):
                stats.skipped += 1
                continue
            flat = pick(obj, lookups)
            kinds = self.types_of(flat)
            if wanted is not None:
                kinds &= wanted
                if not kinds:
                    stats.other += 1
                    continue
            if kinds:
                flat[self.record_field] = min(kinds)
            when = flat.get(time_field)
            when = self.time_text(when) if when is not None else None
            if when is None:
                stats.add_problem(name, number, f"no valid {time_field!r}")
                continue
            if "\ufffd" in text and b"\xef\xbf\xbd" not in line:
                stats.invalid_utf8 += 1
            flat[time_field] = when
            if raw_names:  # the names normalize reads for the raw data set of every source
                flat["SystemTime"] = when
                host = flat.get(self.host_field)
                if host is not None:
                    flat["Computer"] = host
            for column, field in zip(columns, fields, strict=True):
                column.append(flat.get(field))
            rows += 1
        stats.events = rows
        arrays = [pa.nulls(rows, pa.string())]
        arrays += [pa.array(column, pa.string()) for column in columns]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema), stats


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")


def epoch_ms_text(text: str) -> str | None:
    """Milliseconds since the epoch (OCSF ``timestamp_t``, Elasticsearch ``epoch_millis``) as
    ISO 8601 UTC text; None when ``text`` is not an integer.

    >>> epoch_ms_text("1791971700100"), epoch_ms_text("x")
    ('2026-10-14T09:55:00.100000Z', None)
    """
    try:
        when = _EPOCH + timedelta(milliseconds=int(text))
    except (ValueError, OverflowError):
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_text(text: str) -> str | None:
    """An ISO 8601 date-time with a zone as is (Arrow parses it); other ISO forms read as UTC when
    they carry no zone (Elasticsearch's ``strict_date_optional_time``); epoch milliseconds
    (``epoch_millis``, the other default date format of Elasticsearch); else None.

    >>> iso_text("2026-10-14T09:55:00.100Z"), iso_text("2026-10-14T09:55:00")
    ('2026-10-14T09:55:00.100Z', '2026-10-14T09:55:00.000000Z')
    >>> iso_text("1791971700100"), iso_text("yesterday")
    ('2026-10-14T09:55:00.100000Z', None)
    """
    if _ISO_UTC.fullmatch(text):
        return text
    if text.isdigit():
        return epoch_ms_text(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def head_objects(head: bytes, limit: int = 5) -> list[dict[str, Any]]:
    """The JSON objects on the first complete lines of an input's head (a cut last line is left
    out); used by the sources' ``sniff``.

    >>> head_objects(b'\\n{"a": 1}\\nnot json\\n{"b": ')
    [{'a': '1'}]
    """
    lines = head.split(b"\n")[:-1] if b"\n" in head else []
    out: list[dict[str, Any]] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if len(out) >= limit or line[:1] != b"{":
            break
        try:
            obj = loads(line.decode("utf-8", "replace"))
        except ValueError:
            break
        if not isinstance(obj, dict):
            break
        out.append(obj)
    return out


class JsonSource:
    """The :class:`escudo.sources.base.Source` parts every JSON source shares: ``needles`` and
    ``plan``; a subclass names itself, its fields, its time field and its record types."""

    name: str
    source: str
    all_fields: tuple[str, ...]
    time_field: str
    record_field: str  # the raw field the plan fills with the record type (Mapping.record_type)
    host_field: str  # the raw field naming the host (Mapping.host)
    type_fields: tuple[str, ...]  # the raw fields types_of reads

    @staticmethod
    def time_text(text: str) -> str | None:
        raise NotImplementedError

    @staticmethod
    def types_of(flat: dict[str, str]) -> frozenset[str]:
        raise NotImplementedError

    @staticmethod
    def is_event(obj: dict[str, Any]) -> bool:
        raise NotImplementedError

    def is_ours(self, obj: dict[str, Any]) -> bool:
        raise NotImplementedError

    def sniff(self, head: bytes) -> bool:
        """The input's first complete lines are JSON objects, the first of them this source's."""
        objects = head_objects(head)
        return bool(objects) and self.is_ours(objects[0])

    def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        """Each ``(field, literal)`` through this source's mapping: a field whose value is a
        substring of a raw JSON value (``Raw``, ``Basename``, ``Lower``) takes the literal's JSON
        spelling (:func:`json_needle`) as its needle. A clause is dropped when one of its fields is
        derived otherwise (``Const``, ``Lookup``), has no JSON spelling, or when CIM's fill could
        give the field a value holding the literal without the raw text holding it (``unknown``
        for a missing value, ``0`` for a port that is not a number)."""
        return mapped_needles(
            self.name, dataset, requirements, json_needle, fills=("unknown", "zero")
        )

    def plan(
        self,
        fields: tuple[str, ...],
        record_types: frozenset[str] | None,
        raw_filter: RawFilter | None,
        extractor: str,
    ) -> JsonPlan:
        """One processor for every extractor (JSON has one exact path)."""
        return JsonPlan(
            fields,
            record_types,
            raw_filter,
            self.time_field,
            self.time_text,
            self.types_of,
            self.is_event,
            self.record_field,
            self.host_field,
            self.type_fields,
        )
