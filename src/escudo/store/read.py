"""Hunting over a store: each data set's committed Parquet files as the engine's relation.

Only the date partitions that intersect ``[earliest, latest)`` are registered (partition pruning);
the compiled search's own ``_time`` bounds clip the rows exactly, as for raw files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from escudo.errors import InputError
from escudo.sources.base import RAW_EVENTS
from escudo.store.layout import EVENTS, MARKER, RAW, StoreLayout

if TYPE_CHECKING:
    from collections.abc import Sequence

    from escudo.engines.base import Engine, Runnable
    from escudo.sources.base import Requirements


def open_store(path: str | Path) -> StoreLayout:
    """The store at ``path`` for reading (InputError if it is none, or a file); a commit a crashed
    writer decided is finished first. Files found through it may be removed by a later commit
    (``escudo store compact``): read them inside :func:`reading` instead."""
    with reading(path) as layout:
        return layout


@contextmanager
def reading(path: str | Path) -> Iterator[StoreLayout]:
    """The store at ``path`` for reading, held under its shared lock until the block ends: no
    writer commits meanwhile, so every file the block lists stays there while an engine scans
    it (a compact or prune waits for the block; docs/semantics.md "Readers hold the store").
    InputError if ``path`` is not a store."""
    from escudo.detect.store import Store

    with Store(Path(path))._reading():
        if not (Path(path) / MARKER).is_file():
            raise InputError(f"not an escudo store (no {MARKER})", path=str(path))
        yield StoreLayout(Path(path))


def has_events(path: str | Path | None) -> bool:
    """Whether ``path`` is a store holding ingested events (``escudo ingest`` filled it).

    >>> has_events(None), has_events("/nonexistent")
    (False, False)
    """
    if path is None:
        return False
    root = Path(path)
    layout = StoreLayout(root)
    return (root / MARKER).is_file() and bool(layout.datasets(EVENTS) or layout.sourcetypes())


def engine_settings(engine: str, events: Path | None) -> dict[str, Any]:
    """Settings for ``new_engine(engine, ...)`` when it hunts over the store ``events``: its
    ``events/`` and ``raw/`` folders as ``read_dirs`` folders, for an engine that takes them
    (DuckDB reads the Parquet with its own reader then).

    >>> engine_settings("duckdb", Path("/s"))
    {'read_dirs': [PosixPath('/s/events'), PosixPath('/s/raw')]}
    """
    import inspect

    from escudo.engines import ENGINES, engine_class

    if events is None or engine.lower() not in ENGINES:
        return {}
    kind = engine_class(engine)
    if "read_dirs" not in inspect.signature(kind).parameters:
        return {}
    return {"read_dirs": [Path(events) / EVENTS, Path(events) / RAW]}


def _overlaps(day: date | None, earliest: datetime | None, latest: datetime | None) -> bool:
    """Whether partition ``day`` (``None``: rows without a time) may hold rows in the window.

    >>> _overlaps(date(2024, 3, 11), datetime(2024, 3, 12, tzinfo=UTC), None)
    False
    >>> _overlaps(date(2024, 3, 11), datetime(2024, 3, 11, 23, tzinfo=UTC), None)
    True
    >>> _overlaps(None, None, None), _overlaps(None, None, datetime(2024, 1, 1, tzinfo=UTC))
    (True, False)
    """
    if day is None:
        return earliest is None and latest is None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (latest is None or start < latest) and (
        earliest is None or start + timedelta(days=1) > earliest
    )


def raw_event_files(
    layout: StoreLayout,
    requirements: Sequence[Requirements],
    earliest: datetime | None,
    latest: datetime | None,
) -> list[Path]:
    """The committed raw event files that the raw searches with ``requirements`` (one each) may
    read: of the sourcetypes they may read (``sourcetype=linux:audit`` reads no Sysmon event:
    ``normalize.reads_sourcetype``), in the partitions that intersect the window."""
    from escudo.datamodels.normalize import reads_sourcetype

    return [
        f
        for sourcetype in layout.sourcetypes()
        if any(reads_sourcetype(sourcetype, r) for r in requirements or [()])
        for day, folder in layout.raw_partitions(sourcetype)
        if _overlaps(day, earliest, latest)
        for f in layout.files(folder)
    ]


def event_files(
    layout: StoreLayout, dataset: str, earliest: datetime | None, latest: datetime | None
) -> list[Path]:
    """The committed files of ``dataset`` whose partition intersects the window, in order."""
    return [
        f
        for day, folder in layout.partitions(EVENTS, dataset)
        if _overlaps(day, earliest, latest)
        for f in layout.files(folder)
    ]


@dataclass(frozen=True)
class _TimeBounds:
    """A runnable query: the least and greatest ``_time`` of a data set within the window."""

    dataset: str
    earliest: datetime | None
    latest: datetime | None

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.dataset,)

    @property
    def output_fields(self) -> list[str] | None:
        return ["low", "high"]

    @property
    def expression(self) -> exp.Query:
        from escudo.compile.expressions import time_literal
        from escudo.datamodels.cim import relation_name

        time = exp.column("_time")
        query = exp.select(
            exp.alias_(exp.Min(this=time), "low"), exp.alias_(exp.Max(this=time), "high")
        ).from_(exp.to_identifier(relation_name(self.dataset)))
        if self.earliest is not None:
            query = query.where(exp.GTE(this=time, expression=time_literal(self.earliest)))
        if self.latest is not None:
            query = query.where(exp.LT(this=time, expression=time_literal(self.latest)))
        return query


def register_events(
    engine: Engine,
    layout: StoreLayout,
    dataset: str,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    requirements: Sequence[Requirements] = (),
) -> tuple[datetime | None, datetime | None]:
    """Register ``dataset``'s store rows in ``engine``; the first and last event time in the
    window (Splunk's info_min_time / info_max_time), ``None`` when there is none. The raw
    events (``RAW_EVENTS``) are those of the sourcetypes the searches reading them
    (``requirements``, one per search) may read."""
    if dataset == RAW_EVENTS:
        files = raw_event_files(layout, requirements, earliest, latest)
    else:
        files = event_files(layout, dataset, earliest, latest)
    if not files:
        return None, None  # unregistered: reads as empty
    engine.register_parquet(dataset, files)
    seen = _seen_from_statistics(files, earliest, latest)
    if seen is not None:
        return seen
    row = engine.run(_TimeBounds(dataset, earliest, latest)).to_pylist()[0]
    return row["low"], row["high"]


def _seen_from_statistics(
    files: list[Path], earliest: datetime | None, latest: datetime | None
) -> tuple[datetime | None, datetime | None] | None:
    """The first and last event time in the window from the row groups' ``_time`` statistics,
    where a bound does not already give it (``None``: a row group without statistics).

    Exact: without ``earliest`` the first time is the least row-group minimum below ``latest`` (that
    row is in the window); likewise the last time without ``latest``."""
    import pyarrow.parquet as pq

    low: datetime | None = None
    high: datetime | None = None
    for f in files:
        meta = pq.ParquetFile(f).metadata
        index = meta.schema.to_arrow_schema().get_field_index("_time")
        if index < 0:
            return None
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if meta.row_group(group).column(index).num_values == 0:
                continue
            if stats is None or not stats.has_min_max:
                if stats is not None and stats.null_count == meta.row_group(group).num_rows:
                    continue  # only rows without a time
                return None
            first, last = stats.min, stats.max
            if earliest is None and (latest is None or first < latest):
                low = first if low is None else min(low, first)
            if latest is None and (earliest is None or last >= earliest):
                high = last if high is None else max(high, last)
    return low, high


def raw_gaps(path: str | Path) -> dict[str | None, int]:
    """The inputs of the store at ``path`` whose raw events it does not keep (ingested without
    them, or by an escudo that kept none), by sourcetype (``None``: an input whose sourcetype the
    checkpoint does not say, from before raw events were kept). A source that gives no raw events
    (the JSON EDR sources) misses none.

    >>> raw_gaps("/nonexistent")
    {}
    """
    from escudo.sources.base import RawEventSource
    from escudo.sources.registry import SOURCES
    from escudo.store.ingest import read_checkpoints

    gaps: dict[str | None, int] = {}
    entries = read_checkpoints(StoreLayout(Path(path))).get("inputs", {})
    for entry in entries.values() if isinstance(entries, dict) else ():
        sourcetype = entry.get("sourcetype")
        source = SOURCES.get(sourcetype) if sourcetype is not None else None
        if sourcetype is not None and not isinstance(source, RawEventSource):
            continue
        if not entry.get("raw", False):
            gaps[sourcetype] = gaps.get(sourcetype, 0) + 1
    return gaps


# Bytes of distinct values scanned for literals (summed over literals) before the lookup gives up:
# every literal still looked for then counts as present. Python's ``in`` on bytes scans some GB/s,
# so the lookup costs a fraction of a second whatever the store holds.
PRESENCE_BUDGET = 1 << 30
# A field with more distinct values than this is not looked at (no proof): its values would cost
# more to fetch than the searches they could rule out.
PRESENCE_MAX_VALUES = 1 << 20
# The look-up pays for a data set only when several searches read it: one field's look-up costs
# about 0.08 CPU-s per 8M rows (a DISTINCT over a dictionary-encoded column, DuckDB, 10M-event
# benchmark store), one ESCU search's own scan 0.15-0.2 and a search names one to three fields.
PRESENCE_MIN_SEARCHES = 4


@dataclass(frozen=True)
class _DistinctValues:
    """A runnable query: the distinct values of one field of a data set (at most ``limit``)."""

    dataset: str
    field: str
    limit: int

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.dataset,)

    @property
    def output_fields(self) -> list[str] | None:
        return [self.field]

    @property
    def expression(self) -> exp.Query:
        from escudo.datamodels.cim import get_dataset

        column = exp.column(self.field, quoted=True)
        relation = exp.to_identifier(get_dataset(self.dataset).relation)
        distinct = (
            exp.select(column).distinct().from_(relation).where(column.is_(exp.null()).not_())
        )
        return distinct.limit(self.limit)


class StorePresence:
    """Which searches over the store can match: the literals their requirements need (a CNF of
    ``(CIM field, literal)``, ``compile/pushdown.py``), looked up in the distinct values of those
    fields in the store's registered rows (docs/semantics.md "Searches over the store that cannot
    match").

    A search over one data set with a clause none of whose literals occurs in any value of its
    field (ASCII case aside) cannot accept a row: its result is its result over no rows. Fields
    that are not plain columns of the data set (multivalue, extracted at search time from
    ``_raw``), the per-event ones (:data:`~escudo.store.layout.NO_DICTIONARY`: as many values as
    rows), a field past :data:`PRESENCE_MAX_VALUES` values, a value holding a sequence DuckDB's
    ``lower()`` folds to ASCII (``sources.base.ALWAYS_PASS``) or a lookup past ``budget`` prove
    nothing: such literals count as present."""

    def __init__(self, absent: dict[str, dict[str, set[bytes]]]) -> None:
        # data set -> field -> literals (ASCII-lowered UTF-8) that no value holds
        self.absent = absent

    @classmethod
    def lookup(
        cls,
        engine: Engine,
        searches: Sequence[Runnable],
        budget: int = PRESENCE_BUDGET,
        max_values: int = PRESENCE_MAX_VALUES,
        min_searches: int = PRESENCE_MIN_SEARCHES,
    ) -> StorePresence:
        """The literals of ``searches`` looked up in ``engine``'s registered data sets (one
        ``SELECT DISTINCT`` per field that a requirement names), in those that at least
        ``min_searches`` of them read alone."""
        import pyarrow as pa

        from escudo.datamodels.cim import get_dataset
        from escudo.detect.presence import requirements_of, strike_found
        from escudo.store.layout import NO_DICTIONARY

        wanted: dict[str, dict[str, set[bytes]]] = {}
        alone = [s.datasets[0] for s in searches if len(s.datasets) == 1]
        for search in searches:
            if len(search.datasets) != 1 or alone.count(search.datasets[0]) < min_searches:
                continue
            dataset = search.datasets[0]
            ds = get_dataset(dataset)
            for clause in requirements_of(search).get(dataset, ()):
                for field, literal in clause:
                    if field not in ds.all_fields or field in ds.multivalue:
                        continue  # not a column of its own: extracted at search time, or a list
                    if field in NO_DICTIONARY:
                        continue
                    needle = literal.encode("utf-8").lower()
                    wanted.setdefault(dataset, {}).setdefault(field, set()).add(needle)
        for dataset, fields in wanted.items():
            for field, literals in fields.items():
                if budget < 0:  # past the budget: no proof
                    literals.clear()
                    continue
                values = engine.run(_DistinctValues(dataset, field, max_values + 1)).column(0)
                if len(values) > max_values or not pa.types.is_string(values.type):
                    literals.clear()
                    continue
                # no value at all: no row holds any literal (strike_found strikes none)
                budget = strike_found(values.combine_chunks(), literals, budget)
        return cls(wanted)

    def can_match(self, search: Runnable) -> bool:
        """False when some clause of ``search``'s requirements on its one data set has no
        literal in the store's values: its result is then its result over no rows."""
        from escudo.detect.presence import ruled_out

        if len(search.datasets) != 1:
            return True
        dataset = search.datasets[0]
        fields = self.absent.get(dataset, {})

        def missing(field: str, literal: str) -> bool:
            return literal.encode("utf-8").lower() in fields.get(field, ())

        return not ruled_out(search, dataset, missing)
