"""Chunks of log bytes into the normalized rows of every data set a source feeds (what an ingest
stores), for one source: picklable, so worker processes run it over their byte ranges.

Each chunk is parsed once, by one plan of the source for the raw fields of all its data sets; the
rows are then split by record type (Sysmon's EventID) and normalized per data set. Measured on the
1M-event benchmark file (200k-event slices, this 2-core machine under load): routing each line to
a per-data-set columnar plan first (one regex pass for the EventIDs, then ``sysmon_columnar`` per
data set) cost 3.3-3.5 s of CPU against 2.7-3.2 s for this one plan, and one columnar plan per
data set over the whole chunk 4.1 s; so one plan it is.

>>> from pathlib import Path
>>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
>>> parsed = ChunkParser("sysmon:linux")(sample.read_bytes(), "sample")
>>> sorted((dataset, batch.num_rows) for dataset, batch in parsed.batches)
[('Endpoint.Filesystem', 7), ('Endpoint.Processes', 27), ('Network_Traffic.All_Traffic', 3)]
>>> parsed.stats.events, parsed.lines
(37, 41)

With ``raw=True`` the chunk's raw events (``sources.base.RAW_EVENTS``: ``_raw``, ``_time``, ...) come
too, one row per event as a raw search reads them (every event, of any record type):

>>> raw = ChunkParser("sysmon:linux", raw=True)(sample.read_bytes(), "sample")
>>> [(d, b.num_rows) for d, b in raw.batches if d == "raw_events"], raw.stats.events
([('raw_events', 38)], 37)
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa

from escudo.sources.base import RAW_EVENTS, ReadStats
from escudo.sources.framing import count_lines, note_bad_text

if TYPE_CHECKING:
    from escudo.datamodels.mappings import Mapping
    from escudo.datamodels.normalize import MultiNormalizer, RawNormalizer

    Target = tuple[str, Mapping, pa.Schema]


@dataclass
class Parsed:
    """A chunk's rows by data set (each in input order), its read counts and its line count."""

    batches: list[tuple[str, pa.RecordBatch]] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0


@dataclass(frozen=True)
class ChunkParser:
    """Newline-aligned chunks of one source into normalized rows of each data set it feeds, and
    with ``raw`` its raw events (the ``RAW_EVENTS`` data set) too."""

    sourcetype: str
    raw: bool = False

    @cached_property
    def _wanted(self) -> tuple[tuple[str, ...], frozenset[str] | None, tuple[Target, ...]]:
        """The raw fields and record types of every data set the source feeds (one plan reads
        them all), and those data sets (name, mapping, schema)."""
        from escudo.datamodels.mappings import MAPPINGS
        from escudo.datamodels.normalize import dataset_schema
        from escudo.sources.registry import get_sourcetype

        name = get_sourcetype(self.sourcetype).name  # an unknown sourcetype is an InputError
        targets = tuple(
            (dataset, mapping, dataset_schema(dataset, st))
            for (st, dataset), mapping in sorted(MAPPINGS.items())
            if st == name
        )
        mappings = [mapping for _, mapping, _ in targets]
        fields = tuple(
            sorted({m.record_type for m in mappings}.union(*(m.raw_fields for m in mappings)))
        )
        every = any(m.record_types is None for m in mappings)
        types = None if every else frozenset().union(*(m.record_types or () for m in mappings))
        return fields, types, targets

    @cached_property
    def normalizer(self) -> MultiNormalizer | None:
        """One plan of the source for every data set it feeds, its rows split by record type and
        normalized per data set (what a hunt's one-pass read runs: ``MultiNormalizer``); None
        when the source feeds no data set."""
        from escudo.datamodels.normalize import MultiNormalizer
        from escudo.sources.registry import get_sourcetype

        fields, types, targets = self._wanted
        if not targets:
            return None
        source = get_sourcetype(self.sourcetype)
        plan = source.plan(fields, types, None, "fast")
        record_field = targets[0][1].record_type
        return MultiNormalizer(plan, record_field, targets, source.source, source.name)

    @property
    def assembles(self) -> bool:
        """Whether the source's events span records that chunks cut (auditd): its chunks are
        read in order, by :meth:`assembled`, never in independent ranges."""
        from escudo.sources.registry import get_sourcetype

        return getattr(get_sourcetype(self.sourcetype), "assemble", None) is not None

    def __call__(self, data: bytes, name: str) -> Parsed:
        parsed = Parsed()
        lines = 0
        if self.normalizer is not None:
            raw, stats = self.normalizer.plan(data, name)
            lines = stats.lines  # when the plan counted them (as the reader takes it)
            self._add(raw, stats, parsed)
        self._add_raw_events(data, name, parsed)
        parsed.lines = lines or count_lines(data)
        note_bad_text(data, name, 1, parsed.stats)
        return parsed

    @cached_property
    def raw_events(self) -> RawNormalizer | None:
        """The source's raw events processor when ``raw`` is asked (None: not asked, or the
        source gives none)."""
        from escudo.datamodels.normalize import raw_normalizer
        from escudo.sources.registry import get_sourcetype

        return raw_normalizer(get_sourcetype(self.sourcetype), None) if self.raw else None

    def _add_raw_events(self, data: bytes, name: str, parsed: Parsed) -> None:
        """The chunk's raw events into ``parsed`` (when asked); the lines are counted once, by
        the CIM plan (the raw plan sees the same lines)."""
        if self.raw_events is None:
            return
        raw, _ = self.raw_events.plan(data, name)
        if raw.num_rows:
            parsed.batches.append((RAW_EVENTS, self.raw_events.rows(raw)))

    def assembled(
        self,
        chunks: Iterable[bytes],
        name: str,
        on_chunk: Callable[[Parsed, int], None],
        stats: ReadStats,
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Rows of a source whose events span records: the chunks' records, in order, joined into
        events by the source's ``assemble``, then split per data set. ``on_chunk(parsed, size)``
        gets each chunk's counts as it is read (problem lines numbered from the chunk's start);
        ``stats`` the assembly's own counts."""
        from escudo.sources.registry import get_sourcetype

        normalizer = self.normalizer
        if normalizer is None:
            for data in chunks:
                on_chunk(Parsed(lines=count_lines(data)), len(data))
            return
        plan = normalizer.plan
        wanted, types, _ = self._wanted
        raw_events: list[tuple[str, pa.RecordBatch]] = []  # each chunk's, out as they come

        def records() -> Iterator[pa.RecordBatch]:
            for data, (raw, read) in _planned(plan, chunks, name):
                parsed = Parsed(lines=count_lines(data))
                read.lines = 0
                parsed.stats.merge(read)
                on_chunk(parsed, len(data))
                self._add_raw_events(data, name, Parsed(raw_events))
                yield raw

        source = get_sourcetype(self.sourcetype)
        for raw in source.assemble(records(), wanted, types, None, stats):  # type: ignore[attr-defined]
            yield from raw_events
            raw_events.clear()
            parsed = Parsed()
            self._add(raw, ReadStats(), parsed)
            yield from parsed.batches
        yield from raw_events

    def _add(self, raw: pa.RecordBatch, stats: ReadStats, parsed: Parsed) -> None:
        """A plan's rows and counts into ``parsed``: the rows normalized per data set."""
        assert self.normalizer is not None
        stats.lines = 0
        parsed.stats.merge(stats)
        parsed.batches.extend(self.normalizer._split(raw, stats)[0].items())


def _plan_chunk(
    plan: Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]], data: bytes, name: str
) -> tuple[pa.RecordBatch, ReadStats]:
    """One chunk through ``plan``, its lines that are not UTF-8 text noted (in a worker)."""
    raw, read = plan(data, name)
    note_bad_text(data, name, 1, read)
    return raw, read


def _planned(
    plan: Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]],
    chunks: Iterable[bytes],
    name: str,
) -> Iterator[tuple[bytes, tuple[pa.RecordBatch, ReadStats]]]:
    """Each chunk with what ``plan`` makes of it, in order: from the second on in worker
    processes (one per core, at most 8, ``IN_FLIGHT_PER_WORKER`` chunks each in flight) while
    this process reads the first, then assembles and writes what comes back, so an ingest of an
    audit log runs on every core; an input of one chunk starts no worker. An error reading the
    chunks (a ``ReadError``) is raised after the chunks before it, as a read in this process."""
    from escudo.sources.reader import IN_FLIGHT_PER_WORKER, _context

    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    workers = min(os.cpu_count() or 1, 8)
    failed: list[BaseException] = []

    def more() -> bytes | None:
        try:
            return next(chunks, None)
        except Exception as exc:  # raised once the chunks read before it are through
            failed.append(exc)
            return None

    second = more() if workers > 1 else None
    if second is None:
        yield first, _plan_chunk(plan, first, name)
        if failed:
            raise failed[0]
        for chunk in chunks:
            yield chunk, _plan_chunk(plan, chunk, name)
        return
    Planned = Future[tuple[pa.RecordBatch, ReadStats]]
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(type(plan).__module__)
    ) as pool:
        pending: deque[tuple[bytes, Planned]] = deque()
        data: bytes | None = second
        while data is not None:  # queued before the first is read here: workers start meanwhile
            pending.append((data, pool.submit(_plan_chunk, plan, data, name)))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                break
            data = more()
        yield first, _plan_chunk(plan, first, name)
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
            data = more() if not failed else None
            if data is not None:
                pending.append((data, pool.submit(_plan_chunk, plan, data, name)))
    if failed:
        raise failed[0]
