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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources.base import ReadStats
from escudo.sources.framing import count_lines, note_bad_text


@dataclass
class Parsed:
    """A chunk's rows by data set (each in input order), its read counts and its line count."""

    batches: list[tuple[str, pa.RecordBatch]] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0


@dataclass(frozen=True)
class _Dataset:
    name: str
    mapping: Any  # escudo.datamodels.mappings.Mapping
    schema: pa.Schema
    plan: Any  # the source's plan for this data set's fields and record types


@dataclass(frozen=True)
class ChunkParser:
    """Newline-aligned chunks of one source into normalized rows of each data set it feeds."""

    sourcetype: str

    @cached_property
    def datasets(self) -> list[_Dataset]:
        from escudo.datamodels.mappings import MAPPINGS
        from escudo.datamodels.normalize import dataset_schema
        from escudo.sources.registry import get_sourcetype

        source = get_sourcetype(self.sourcetype)
        out = []
        for (st, dataset), mapping in sorted(MAPPINGS.items()):
            if st != source.name:
                continue
            fields = tuple(sorted({mapping.record_type, *mapping.raw_fields}))
            plan = source.plan(fields, mapping.record_types, None, "fast")
            out.append(_Dataset(dataset, mapping, dataset_schema(dataset, st), plan))
        return out

    def __call__(self, data: bytes, name: str) -> Parsed:
        parsed = Parsed(lines=count_lines(data))
        self._whole(data, name, parsed)
        note_bad_text(data, name, 1, parsed.stats)
        return parsed

    def _normalize(self, dataset: _Dataset, raw: pa.RecordBatch, parsed: Parsed) -> None:
        from escudo.datamodels.normalize import normalize_batch
        from escudo.sources.registry import get_sourcetype

        if raw.num_rows:
            source = get_sourcetype(self.sourcetype)
            batch = normalize_batch(
                raw, dataset.mapping, dataset.schema, source.source, source.name
            )
            parsed.batches.append((dataset.name, batch))

    @property
    def assembles(self) -> bool:
        """Whether the source's events span records that chunks cut (auditd): its chunks are
        read in order, by :meth:`assembled`, never in independent ranges."""
        from escudo.sources.registry import get_sourcetype

        return getattr(get_sourcetype(self.sourcetype), "assemble", None) is not None

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

        if not self.datasets:
            for data in chunks:
                on_chunk(Parsed(lines=count_lines(data)), len(data))
            return
        source = get_sourcetype(self.sourcetype)
        fields, types = self._wanted()
        plan = source.plan(fields, types, None, "fast")

        def records() -> Iterator[pa.RecordBatch]:
            for data in chunks:
                parsed = Parsed(lines=count_lines(data))
                raw, read = plan(data, name)
                read.lines = 0
                parsed.stats.merge(read)
                note_bad_text(data, name, 1, parsed.stats)
                on_chunk(parsed, len(data))
                yield raw

        for raw in source.assemble(records(), fields, types, None, stats):  # type: ignore[attr-defined]
            parsed = Parsed()
            self._split(raw, parsed)
            yield from parsed.batches

    def _wanted(self) -> tuple[tuple[str, ...], frozenset[str] | None]:
        """The raw fields and record types of every data set (one plan reads them all)."""
        fields = tuple(
            sorted(
                {d.mapping.record_type for d in self.datasets}.union(
                    *(d.mapping.raw_fields for d in self.datasets)
                )
            )
        )
        every = any(d.mapping.record_types is None for d in self.datasets)
        types = (
            None
            if every
            else frozenset().union(*(d.mapping.record_types or () for d in self.datasets))
        )
        return fields, types

    def _whole(self, data: bytes, name: str, parsed: Parsed) -> None:
        """One plan for every data set's fields; the rows then split by record type."""
        if not self.datasets:
            return
        from escudo.sources.registry import get_sourcetype

        source = get_sourcetype(self.sourcetype)
        fields, types = self._wanted()
        raw, stats = source.plan(fields, types, None, "fast")(data, name)
        stats.lines = 0
        parsed.stats.merge(stats)
        self._split(raw, parsed)

    def _split(self, raw: pa.RecordBatch, parsed: Parsed) -> None:
        """A batch of raw rows into each data set's normalized rows (by record type)."""
        if not raw.num_rows:
            return
        for dataset in self.datasets:
            rows = raw
            if dataset.mapping.record_types is not None:
                column = raw.column(dataset.mapping.record_type)
                wanted = pa.array(sorted(str(t) for t in dataset.mapping.record_types), column.type)
                rows = raw.filter(pc.fill_null(pc.is_in(column, wanted), False))
            self._normalize(dataset, rows, parsed)
