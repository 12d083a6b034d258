"""Drilldowns: a detection's ``drilldown_searches`` with their tokens filled, run over logs or the store.

Filling follows what contentctl and ES do (escu-semantics.md 5.2): ``%original_detection_search%`` is the
detection's own search (its filter macro expands as usual); ``$field$`` is the field's value in the
finding (a result row, or ``--token``); ``$info_min_time$``/``$info_max_time$`` are the original run's
window, as epoch seconds. A value is always inserted as SPL string content, escaped, so it cannot end
its string: inside ``"..."`` it is escaped in place, elsewhere it is quoted and escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from escudo.content.model import ContentSet, Detection, Drilldown
from escudo.detect.risk import TOKEN, event_time, field_text, parse_time
from escudo.detect.store import RISK_DATASET, Store
from escudo.engines import DEFAULT_ENGINE, new_engine
from escudo.errors import InputError
from escudo.store.read import engine_settings, reading, register_events

ORIGINAL_SEARCH = "%original_detection_search%"
WINDOW_TOKENS = ("info_min_time", "info_max_time")
# Time modifiers inside a search override the drilldown's own window, as in Splunk (Search Reference,
# "Time modifiers": "time modifiers in the search string override the time range picker").
INLINE_TIME = re.compile(
    r"\b(earliest|latest|starthoursago|endhoursago|startdaysago|enddaysago|starttime|endtime)\s*=",
    re.I,
)
# ES drilldown offsets: a number of seconds or a number with a unit (ES "Create a correlation search":
# earliest/latest offset from the triggering event's time).
OFFSET = re.compile(r"^\s*[-+]?(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
UNIT_SECONDS: dict[str, int] = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def spl_string_content(value: str) -> str:
    r"""``value`` escaped for use between SPL double quotes.

    >>> print(spl_string_content('a"b\\c'))
    a\"b\\c
    """
    return value.replace("\\", "\\\\").replace('"', '\\"')


def fill_tokens(template: str, tokens: Mapping[str, Any], *, original_search: str = "") -> str:
    """Fill a drilldown search. Raises :class:`InputError` naming every token without a value.

    >>> fill_tokens('%original_detection_search% | search user = "$user$" dest=$dest$',
    ...             {"user": 'al"ice', "dest": "web-02"}, original_search="| tstats count")
    '| tstats count | search user = "al\\\\"ice" dest="web-02"'
    """
    missing = sorted(
        {m.group(1) for m in TOKEN.finditer(template) if tokens.get(m.group(1)) is None}
    )
    if missing:
        names = ", ".join(f"${name}$" for name in missing)
        raise InputError(
            f"drilldown needs a value for {names}: pick a result with --row or pass --token"
        )
    # Tokens are filled in the template's own text only: the original search may hold '$' of its own.
    parts = [_fill_part(part, tokens) for part in template.split(ORIGINAL_SEARCH)]
    return original_search.join(parts)


def _fill_part(text: str, tokens: Mapping[str, Any]) -> str:
    out: list[str] = []
    quoted = False
    pos = 0
    while pos < len(text):
        match = TOKEN.match(text, pos) if text[pos] == "$" else None
        if match is not None:
            name = match.group(1)
            value = tokens[name]
            if name in WINDOW_TOKENS and _is_number(value):
                out.append(field_text(value))  # epoch seconds, as ES writes them
            elif quoted:
                out.append(spl_string_content(field_text(value)))
            else:
                out.append('"' + spl_string_content(field_text(value)) + '"')
            pos = match.end()
            continue
        char = text[pos]
        if char == "\\" and quoted and pos + 1 < len(text):
            out.append(text[pos : pos + 2])
            pos += 2
            continue
        if char == '"':
            quoted = not quoted
        out.append(char)
        pos += 1
    return "".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def offset_time(
    offset: str, *, anchor: datetime, tokens: Mapping[str, Any], before: bool
) -> datetime | None:
    """One bound of a drilldown's window from ``earliest_offset``/``latest_offset``.

    ``$info_min_time$``/``$info_max_time$`` are absolute; ``7d``, ``3600``, ``"0"`` are relative to the
    triggering event's time (``anchor``): before it for the earliest bound, after it for the latest.

    >>> t = datetime(2024, 5, 8, tzinfo=UTC)
    >>> offset_time("7d", anchor=t, tokens={}, before=True).isoformat()
    '2024-05-01T00:00:00+00:00'
    """
    text = offset.strip()
    if not text:
        return None
    token = TOKEN.fullmatch(text)
    if token is not None:
        value = tokens.get(token.group(1))
        if value is None:
            return None
        moment = parse_time(value)  # epoch seconds, ISO-8601 or a datetime (a --token may set it)
        if moment is None:
            raise InputError(f"drilldown offset {offset}: {value!r} is not a time")
        return moment
    match = OFFSET.match(text)
    if match is None:
        raise InputError(f"cannot read drilldown offset {offset!r}")
    delta = timedelta(seconds=float(match.group(1)) * UNIT_SECONDS[match.group(2)])
    return anchor - delta if before else anchor + delta


@dataclass
class DrilldownRun:
    """One drilldown after filling and running it."""

    drilldown: Drilldown
    name: str  # the drilldown's name with its tokens filled (for display)
    spl: str
    earliest: datetime | None
    latest: datetime | None
    rows: pa.Table


@dataclass
class Trigger:
    """What a drilldown is about: a result row (or tokens) and the original run's window."""

    tokens: dict[str, Any]
    info_min_time: datetime | None
    info_max_time: datetime | None

    @property
    def time(self) -> datetime:
        """The triggering event's time; also "now" for ``starthoursago`` and friends when replaying."""
        fallback = self.info_max_time or datetime.now(UTC)
        return event_time(self.tokens, fallback) if self.tokens else fallback

    def all_tokens(self) -> dict[str, Any]:
        window = {
            "info_min_time": self.info_min_time.timestamp() if self.info_min_time else None,
            "info_max_time": self.info_max_time.timestamp() if self.info_max_time else None,
        }
        return {**window, **self.tokens}


def trigger_from(
    detection: Detection,
    content: ContentSet,
    *,
    row: int | None = None,
    tokens: Mapping[str, str] | None = None,
    paths: Sequence[Path | str] = (),
    store: Store | None = None,
    events: Path | None = None,
) -> tuple[Trigger, list[dict[str, Any]]]:
    """The trigger a drilldown starts from, and the original results (re-hunted over ``paths``, or
    over the store ``events`` that ``escudo ingest`` filled, else read from ``store``). ``row`` is
    1-based; with neither ``row`` nor ``tokens``, row 1."""
    rows: list[dict[str, Any]] = []
    low = high = None
    if paths or events is not None:
        from escudo.detect.hunt import hunt

        result = hunt(list(paths), [detection], content=content, store=store, events=events)[0]
        rows, low, high = result.records(), result.info_min_time, result.info_max_time
    elif store is not None:
        stored = store.results(detection.name)
        rows = [s["row"] for s in stored]
        low = min((s["info_min_time"] for s in stored if s["info_min_time"]), default=None)
        high = max((s["info_max_time"] for s in stored if s["info_max_time"]), default=None)
    picked: dict[str, Any] = {}
    if row is not None or not tokens:
        index = row if row is not None else 1
        if not 1 <= index <= len(rows):
            raise InputError(f"--row {index}: {detection.name!r} has {len(rows)} result rows")
        picked = dict(rows[index - 1])
    picked.update(tokens or {})
    return Trigger(picked, low, high), rows


def run_drilldowns(
    detection: Detection,
    content: ContentSet,
    trigger: Trigger,
    *,
    paths: Sequence[Path | str] = (),
    store: Store | None = None,
    stored_rows: Sequence[Mapping[str, Any]] = (),
    events: Path | None = None,
) -> list[DrilldownRun]:
    """Fill and run every drilldown of ``detection``.

    Data comes from ``paths`` (logs), or from ``events`` (a store ``escudo ingest`` filled: its
    partitions in the drilldown's window), and ``Risk.All_Risk`` from ``store`` (default: the
    user's). Without either, ``%original_detection_search%`` is answered from ``stored_rows`` (the
    results the store kept): they stand in for the dataset the detection reads, and the rest of the
    drilldown runs on them.
    """
    tokens = trigger.all_tokens()
    runs = []
    for drilldown in detection.drilldown_searches:
        earliest, latest = drilldown_window(drilldown, trigger)
        spl = fill_tokens(drilldown.search, tokens, original_search=detection.search)
        from_results = not paths and events is None and ORIGINAL_SEARCH in drilldown.search
        runnable = spl
        if from_results:
            stand_in_dataset = _detection_dataset(detection, content)
            stand_in = f"| from datamodel {stand_in_dataset}"
            runnable = fill_tokens(drilldown.search, tokens, original_search=stand_in)
        compiled = _compile(runnable, detection, content, drilldown, trigger, earliest, latest)
        with new_engine(**engine_settings(DEFAULT_ENGINE, events)) as engine, ExitStack() as held:
            layout = held.enter_context(reading(events)) if events is not None else None
            for dataset in compiled.datasets:
                if dataset == RISK_DATASET:
                    engine.register_risk_store(store or Store())
                elif from_results:
                    engine.register_arrow(dataset, _results_table(stored_rows, trigger))
                elif layout is not None:  # the store's partitions the window reaches
                    end = latest + timedelta(microseconds=1) if latest is not None else None
                    register_events(engine, layout, dataset, earliest, end)  # latest inclusive
                else:
                    engine.register_arrow(dataset, _dataset_rows(dataset, compiled, paths))
            rows = engine.run(compiled)
        if from_results:
            rows = _recover(rows, stored_rows, stand_in_dataset)
        name = TOKEN.sub(lambda m: field_text(tokens.get(m.group(1)) or m.group(0)), drilldown.name)
        runs.append(DrilldownRun(drilldown, name, spl, earliest, latest, rows))
    return runs


def drilldown_window(
    drilldown: Drilldown, trigger: Trigger
) -> tuple[datetime | None, datetime | None]:
    """The drilldown's time range (both ends inclusive); none when the search has its own modifiers."""
    if INLINE_TIME.search(drilldown.search.replace(ORIGINAL_SEARCH, "")):
        return None, None
    tokens = trigger.all_tokens()
    earliest = offset_time(
        drilldown.earliest_offset, anchor=trigger.time, tokens=tokens, before=True
    )
    latest = offset_time(drilldown.latest_offset, anchor=trigger.time, tokens=tokens, before=False)
    return earliest, latest


def _compile(
    spl: str,
    detection: Detection,
    content: ContentSet,
    drilldown: Drilldown,
    trigger: Trigger,
    earliest: datetime | None,
    latest: datetime | None,
) -> Any:
    from escudo.compile import compile_search
    from escudo.content.loader import macros_for

    compiled = compile_search(
        spl,
        macros=macros_for(content, detection),
        origin=f"{detection.name}: drilldown {drilldown.name!r}",
        earliest=earliest,
        # The compiler's latest bound is exclusive; info_max_time is the last event seen, so keep it.
        latest=latest + timedelta(microseconds=1) if latest is not None else None,
        lookups=content.lookups,
        now=trigger.time,
    )
    return _at_time(compiled, trigger.time)


def _at_time(compiled: Any, now: datetime) -> Any:
    """Pin SQL's current time (eval ``now()``) to the replay's "now", as the compiler does for
    ``starthoursago`` and ``earliest=-7d``."""
    from sqlglot import exp

    stamp = exp.cast(exp.Literal.string(now.isoformat()), exp.DataType.build("TIMESTAMPTZ"))

    def pin(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentTimestamp):
            return stamp.copy()
        return node

    return replace(compiled, expression=compiled.expression.transform(pin))


def _detection_dataset(detection: Detection, content: ContentSet) -> str:
    from escudo.detect.hunt import compile_detection

    datasets = compile_detection(detection, content).datasets
    if len(datasets) != 1:
        raise InputError(
            f"{detection.name!r} reads {len(datasets)} datasets: drill down over its logs (PATH...)"
        )
    return datasets[0]


def _results_table(rows: Sequence[Mapping[str, Any]], trigger: Trigger) -> pa.Table:
    """Stored result rows as text columns, with ``_time`` their event time."""
    names = list(dict.fromkeys(name for row in rows for name in row if name != "_time"))
    columns: dict[str, pa.Array] = {
        "_time": pa.array(
            [event_time(row, trigger.time) for row in rows], pa.timestamp("us", tz="UTC")
        )
    }
    for name in names:
        values = [row.get(name) for row in rows]
        columns[name] = pa.array(
            [None if v is None else field_text(v) for v in values], pa.string()
        )
    return pa.table(columns)


def _recover(found: pa.Table, rows: Sequence[Mapping[str, Any]], dataset: str) -> pa.Table:
    """Map rows the drilldown kept back to the full stored rows: the stand-in dataset carries only its
    own fields. Output of another shape (``| stats ...``) is returned as it is."""
    from escudo.datamodels.cim import get_dataset

    if not set(get_dataset(dataset).all_fields) <= set(found.column_names):
        return found
    stored = {name for row in rows for name in row}
    shared = [c for c in found.column_names if c != "_time" and c in stored]
    pool: dict[tuple[str | None, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = tuple(None if row.get(c) is None else field_text(row.get(c)) for c in shared)
        pool.setdefault(key, []).append(row)
    kept = []
    for out in found.to_pylist():
        candidates = pool.get(tuple(out.get(c) for c in shared))
        if candidates:
            kept.append(dict(candidates.pop(0)))
    return pa.Table.from_pylist(kept) if kept else found.slice(0, 0)


def _dataset_rows(
    dataset: str, compiled: Any, paths: Sequence[Path | str]
) -> Iterator[pa.RecordBatch]:
    if not paths:
        return iter(())
    from escudo.datamodels.normalize import read_dataset

    files = [Path(p) if p != "-" else p for p in paths]
    return read_dataset(files, dataset, requirements=compiled.requirements.get(dataset))
