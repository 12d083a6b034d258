"""Raw source records -> CIM rows, vectorised with pyarrow compute; and ``read_dataset``.

The contract (docs/architecture.md, "Normalized rows"): one column per field of the dataset's
``all_fields``, ``_time`` as ``timestamp[us, tz=UTC]`` and every other column a string, NULL when
unknown except where the CIM calculated fields fill ``"unknown"``.

>>> import pyarrow as pa
>>> schema = dataset_schema("Endpoint.Processes")
>>> schema.field("_time").type, schema.field("process_name").type
(TimestampType(timestamp[us, tz=UTC]), DataType(string))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from escudo.datamodels.cim import BASE_FIELDS, get_dataset
from escudo.datamodels.mappings import (
    FILL_UNKNOWN,
    FILL_ZERO_IF_NOT_NUMBER,
    MAPPINGS,
    NAME_FROM_COMMAND,
    Basename,
    Const,
    Derivation,
    Lookup,
    Lower,
    Mapping,
    Raw,
    get_mapping,
)
from escudo.errors import UnsupportedSplError
from escudo.sources.base import (
    RAW_EVENTS,
    SNIFF_BYTES,
    RawEventSource,
    RawFilter,
    ReadStats,
    Requirements,
    Source,
)
from escudo.sources.framing import Input, expand_inputs, stdin_head
from escudo.sources.reader import (
    DEFAULT_CHUNK_BYTES,
    STREAM_RANGE_CHUNKS,
    Processor,
    read_batches,
)
from escudo.sources.registry import get_sourcetype, sniff_source

RAW = "raw"  # pseudo data set: every raw field of the sourcetype, no CIM mapping
TIME_TYPE = pa.timestamp("us", tz="UTC")

# Splunk isnum(): the value parses as a number.
_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"
# CIM Endpoint.json process_name calculation, Windows-path regexes, lookahead rewritten for RE2.
_QUOTED_NAME = r'(?s)^\s*"..*\\([^"]+)".*'
_FIRST_WORD = r'(?s)^(?:..*\\)?([^\s"]+)(?:\s.*)?$'


def dataset_schema(dataset: str, sourcetype: str | None = None) -> pa.Schema:
    """The Arrow schema of a dataset's normalized rows (``raw``: the sourcetype's raw fields)."""
    multivalue: frozenset[str] = frozenset()
    if dataset.lower() == RAW:
        names: tuple[str, ...] = BASE_FIELDS + get_sourcetype(sourcetype).all_fields
    else:
        names = get_dataset(dataset).all_fields
        multivalue = get_dataset(dataset).multivalue
    types = {n: pa.list_(pa.string()) for n in multivalue} | {"_time": TIME_TYPE}
    return pa.schema([(n, types.get(n, pa.string())) for n in names])


def _parse_time(text: pa.Array) -> pa.Array:
    try:
        ns = pc.cast(text, pa.timestamp("ns", tz="UTC"))
    except pa.ArrowInvalid:  # out of the ns range: parse one by one, NULL when impossible
        values = []
        for t in text.to_pylist():
            try:
                values.append(datetime.fromisoformat(t[:26].rstrip("Z") + "+00:00") if t else None)
            except ValueError:
                values.append(None)
        return pa.array(values, TIME_TYPE)
    return pc.cast(ns, TIME_TYPE, safe=False)  # truncate to microseconds as Splunk's _time


def _basename(column: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(column, pattern="(?s)^.*/", replacement="")


def _per_distinct(column: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``fn`` over the distinct values only (images and levels repeat a lot), then spread back."""
    encoded = column.dictionary_encode()
    return pc.take(fn(encoded.dictionary), encoded.indices)


def _derive(d: Derivation, raw: pa.RecordBatch, n: int) -> pa.Array:
    if isinstance(d, Const):
        return pa.repeat(pa.scalar(d.value, pa.string()), n)
    column = raw.column(d.field)
    if isinstance(d, Raw):
        return column
    if isinstance(d, Basename):
        return _per_distinct(column, _basename)
    if isinstance(d, Lower):
        return _per_distinct(column, pc.utf8_lower)
    if isinstance(d, Lookup):
        keys = pa.array([k for k, _ in d.table], pa.string())
        values = pa.array([v for _, v in d.table], pa.string())
        return pc.take(values, pc.index_in(column, value_set=keys))
    raise TypeError(f"unknown derivation {d!r}")


# A ready scalar: converting the Python "" costs ~70 us per call (pyarrow tries optional imports).
_EMPTY_STRING = pa.scalar("", pa.string())


def _empty(column: pa.Array) -> pa.Array:
    return pc.fill_null(pc.equal(column, _EMPTY_STRING), True)


def _name_from_command(name: pa.Array, command: pa.Array) -> pa.Array:
    need = _empty(name)
    if not pc.any(need).as_py():  # the usual case: the source gave a name
        return name
    quoted = pc.fill_null(pc.match_substring_regex(command, _QUOTED_NAME), False)
    first = pc.fill_null(pc.match_substring_regex(command, _FIRST_WORD), False)
    null = pa.nulls(len(command), pa.string())
    derived = pc.if_else(
        quoted,
        pc.replace_substring_regex(command, _QUOTED_NAME, r"\1"),
        pc.if_else(first, pc.replace_substring_regex(command, _FIRST_WORD, r"\1"), null),
    )
    return pc.if_else(_empty(name), derived, name)


def normalize_batch(
    raw: pa.RecordBatch, mapping: Mapping | None, schema: pa.Schema, source: str, sourcetype: str
) -> pa.RecordBatch:
    """One raw batch (``host`` + raw fields) into rows of ``schema`` (a dataset's, from :func:`dataset_schema`)."""
    n = raw.num_rows
    host_field = mapping.host if mapping else "Computer"
    time_field = mapping.time if mapping else "SystemTime"
    columns: dict[str, pa.Array] = {
        "_time": _parse_time(raw.column(time_field)),
        "host": pc.coalesce(raw.column("host"), raw.column(host_field)),
        "source": pa.repeat(pa.scalar(source, pa.string()), n),
        "sourcetype": pa.repeat(pa.scalar(sourcetype, pa.string()), n),
    }
    if mapping is None:
        for name in raw.schema.names[1:]:
            columns[name] = raw.column(name)
    else:
        derived: dict[Derivation, pa.Array] = {}  # process_name and process_exec share one
        for cim_field, derivation in mapping.fields:
            if derivation not in derived:
                derived[derivation] = _derive(derivation, raw, n)
            columns[cim_field] = derived[derivation]
        for name_field, command_field in NAME_FROM_COMMAND.get(mapping.dataset, ()):
            if name_field in columns and command_field in columns:
                columns[name_field] = _name_from_command(
                    columns[name_field], columns[command_field]
                )
        # Filled only where needed: if_else copies the whole column, most have no empty value.
        unknown = pa.scalar("unknown", pa.string())
        for f in FILL_UNKNOWN.get(mapping.dataset, ()):
            col = columns.get(f, pa.nulls(n, pa.string()))
            empty = _empty(col)
            if pc.any(empty).as_py():
                columns[f] = pc.if_else(empty, unknown, col)
        zero = pa.scalar("0", pa.string())
        for f in FILL_ZERO_IF_NOT_NUMBER.get(mapping.dataset, ()):
            col = columns.get(f, pa.nulls(n, pa.string()))
            is_number = pc.fill_null(pc.match_substring_regex(col, _NUMBER), False)
            if not pc.all(is_number).as_py():
                columns[f] = pc.if_else(is_number, col, zero)
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class Normalizer:
    """A picklable chunk processor: the source's raw extraction followed by :func:`normalize_batch`."""

    plan: Processor
    mapping: Mapping | None
    schema: pa.Schema
    source: str
    sourcetype: str

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        return self._normalize(*self.plan(data, name))

    @property
    def streams(self) -> bool:
        """Whether :meth:`read_range` reads in blocks (see ``escudo.sources.reader.streams``)."""
        return bool(getattr(self.plan, "streams", False))

    def python_share(self, data: bytes) -> float:
        """The plan's (see ``escudo.sources.reader.threaded``); 1.0 when it does not say."""
        share = getattr(self.plan, "python_share", None)
        return 1.0 if share is None else float(share(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[pa.RecordBatch, ReadStats]:
        return self._normalize(*self.plan.read_range(path, offset, length, name, block_bytes))  # type: ignore[attr-defined]

    def _normalize(self, raw: pa.RecordBatch, stats: ReadStats) -> tuple[pa.RecordBatch, ReadStats]:
        if not raw.num_rows:  # most chunks of a hunt keep no row: skip ~0.5 ms of kernels
            return pa.RecordBatch.from_pylist([], schema=self.schema), stats
        return normalize_batch(raw, self.mapping, self.schema, self.source, self.sourcetype), stats


# The index raw events belong to: Splunk's default index, where events go when inputs.conf names
# none (docs/semantics.md, "Raw-event search"; a search's index=... term holds for every event).
DEFAULT_INDEX = "main"


@dataclass(frozen=True)
class RawNormalizer:
    """A picklable chunk processor of raw events: a source's ``raw_plan`` (``host``, ``_time``
    ISO text, ``_raw``) into rows of the raw events data set (``_time`` a UTC timestamp, the
    source's ``source`` and ``sourcetype``, ``index``)."""

    plan: Processor
    schema: pa.Schema
    source: str
    sourcetype: str

    def __call__(self, data: bytes, name: str) -> tuple[pa.RecordBatch, ReadStats]:
        raw, stats = self.plan(data, name)
        return self.rows(raw), stats

    def rows(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        n = raw.num_rows
        if not n:
            return pa.RecordBatch.from_pylist([], schema=self.schema)
        columns = {
            "_time": _parse_time(raw.column("_time")),
            "host": raw.column("host"),
            "source": pa.repeat(pa.scalar(self.source, pa.string()), n),
            "sourcetype": pa.repeat(pa.scalar(self.sourcetype, pa.string()), n),
            "_raw": raw.column("_raw"),
            "index": pa.repeat(pa.scalar(DEFAULT_INDEX, pa.string()), n),
        }
        return pa.RecordBatch.from_arrays(
            [columns[f.name] for f in self.schema], schema=self.schema
        )


def raw_events_filter(source: Source, requirements: Requirements) -> RawFilter | None:
    """The prefilter of ``source``'s raw events for one raw search's requirements, or None when
    the search can read none of them: a clause whose only alternatives are ``sourcetype``
    literals ``source``'s name cannot satisfy (``sourcetype="linux:audit"`` reads no Sysmon
    event). A clause a ``sourcetype`` literal satisfies holds for every event (dropped); the
    other literals become needles: ``_raw`` ones as written, search-time fields' through the
    source's extraction rule (``searchtime.KeyValues.needles``); a clause with a field the
    source cannot place is dropped (sound).

    >>> from escudo.sources.registry import get_sourcetype
    >>> sysmon = get_sourcetype("sysmon:linux")
    >>> raw_events_filter(sysmon, ((("sourcetype", "linux:audit"),),)) is None
    True
    >>> raw_events_filter(sysmon, ((("sourcetype", "sysmon"),), (("_raw", "ngrok"),))).clauses
    (('ngrok',),)
    >>> raw_events_filter(get_sourcetype("linux:audit"), ((("comm", "at"), ("_raw", "x")),)).clauses
    (('comm=at', 'comm="at"', 'x'),)
    """
    from escudo.sources.searchtime import SEARCH_TIME

    rule = SEARCH_TIME.get(source.name)
    clauses: list[tuple[str, ...]] = []
    for clause in requirements:
        if any(n == "sourcetype" and lit.lower() in source.name.lower() for n, lit in clause):
            continue  # every event of this source satisfies the clause
        needles: list[str] = []
        for name, literal in clause:
            if name == "sourcetype":
                continue
            if name == "_raw":
                needles.append(literal)
            elif rule is not None:
                needles += rule.needles(name, literal)
            else:
                needles = []  # a field this source cannot place: the clause says nothing
                break
        else:
            if not needles:
                return None  # only sourcetypes this source does not have
            clauses.append(tuple(dict.fromkeys(needles)))
    return RawFilter(tuple(clauses))


def reads_sourcetype(sourcetype: str, requirements: Requirements) -> bool:
    """Whether a raw search with ``requirements`` may read events of ``sourcetype``: no clause on
    ``sourcetype`` alone rules it out (the store reads only those sourcetypes' raw events).

    >>> reads_sourcetype("sysmon:linux", ((("sourcetype", "linux:audit"),),))
    False
    >>> reads_sourcetype("linux:audit", ((("sourcetype", "linux:audit"),), (("_raw", "x"),)))
    True
    """
    return not any(
        {name for name, _ in clause} == {"sourcetype"}
        and not any(literal.lower() in sourcetype.lower() for _, literal in clause)
        for clause in requirements
    )


def raw_normalizer(source: Source, raw_filter: RawFilter | None) -> RawNormalizer | None:
    """``source``'s raw events processor, or None when the source gives no raw events."""
    if not isinstance(source, RawEventSource):
        return None
    plan = source.raw_plan(raw_filter)
    return RawNormalizer(plan, dataset_schema(RAW_EVENTS), source.source, source.name)


def _head(inp: Input) -> bytes | None:
    """The first bytes of a file (decompressed), of stdin (what its first write gave, handed
    out again by its reader), or None for another stream (a FIFO: read once, not sniffed)."""
    if inp.path is None:
        return stdin_head(SNIFF_BYTES)
    if inp.stream or inp.error:
        return None
    try:
        with inp.open() as f:
            return f.read(SNIFF_BYTES)
    except (OSError, EOFError, ValueError):  # reported when the input is read
        return None


def sources_of(
    paths: Iterable[str | os.PathLike[str] | Input], sourcetype: str | None = None
) -> list[tuple[Source, list[Input]]]:
    """The inputs in order, in runs of one source: ``sourcetype`` for all when given, else each
    file's own, sniffed from its first bytes (``Source.sniff``); streams (stdin, FIFOs) and
    files no source recognises are read with the default source type.

    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> [(s.name, len(i)) for s, i in sources_of([sample])]
    [('sysmon:linux', 1)]
    """
    inputs = expand_inputs(paths)
    if sourcetype is not None:
        return [(get_sourcetype(sourcetype), inputs)] if inputs else []
    default = get_sourcetype(None)
    runs: list[tuple[Source, list[Input]]] = []
    for inp in inputs:
        head = _head(inp)
        source = (sniff_source(head) if head is not None else None) or default
        if runs and runs[-1][0] is source:
            runs[-1][1].append(inp)
        else:
            runs.append((source, [inp]))
    return runs


def _filter(
    source: Source, dataset: str, raw_filter: RawFilter | None, requirements: Requirements | None
) -> RawFilter | None:
    """``raw_filter`` (needles already in the source's encoding) and the source's needles for
    ``requirements``, together."""
    clauses = raw_filter.clauses if raw_filter is not None else ()
    if requirements:
        clauses += source.needles(dataset, requirements).clauses
    return RawFilter(clauses) if clauses else raw_filter


def read_dataset(
    paths: Iterable[str | os.PathLike[str] | Input],
    dataset: str,
    *,
    raw_filter: RawFilter | None = None,
    requirements: Requirements | None = None,
    stats: ReadStats | None = None,
    sourcetype: str | None = None,
    batch_size: int = 65536,
    workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    extractor: str = "fast",
) -> Iterator[pa.RecordBatch]:
    """Stream CIM rows of ``dataset`` (or ``"raw"``) from files, directories, ``.gz`` or ``-``.

    Batches hold at most ``batch_size`` rows and follow :func:`dataset_schema`. ``stats`` (if
    given) accumulates events, skipped lines and malformed records. ``extractor="reference"``
    selects the slow XML-parser path. Each input is read with its own source (:func:`sources_of`;
    ``sourcetype`` overrides); ``requirements`` (the compiler's) become each source's needles,
    with ``raw_filter`` (needles as written) on top.

    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> rows = [r for b in read_dataset([sample], "Endpoint.Processes") for r in b.to_pylist()]
    >>> rows[0]["sourcetype"], rows[0]["os"]
    ('sysmon:linux', 'Linux')
    """
    if dataset.lower() == RAW and sourcetype is None:
        sourcetype = get_sourcetype(None).name  # one schema: the raw fields of one source
    elif (
        dataset.lower() != RAW
        and dataset != RAW_EVENTS
        and not any(ds.lower() == dataset.lower() for _, ds in MAPPINGS)
    ):
        get_mapping(get_sourcetype(sourcetype).name, dataset)  # no source feeds it: the error
    for st, inputs in sources_of(paths, sourcetype):
        if dataset == RAW_EVENTS:  # a raw search's requirements: see raw_events_filter
            wanted = raw_events_filter(st, requirements or ())
            if wanted is None:
                continue  # the search reads none of this source's events
            clauses = (raw_filter.clauses if raw_filter else ()) + wanted.clauses
            chosen = RawFilter(clauses) if clauses else None
        else:
            chosen = _filter(st, dataset, raw_filter, requirements)
        yield from _read_one_source(
            st, inputs, dataset, chosen, stats, batch_size, workers, chunk_bytes, extractor
        )


def _read_one_source(
    st: Source,
    inputs: list[Input],
    dataset: str,
    raw_filter: RawFilter | None,
    stats: ReadStats | None,
    batch_size: int,
    workers: int | None,
    chunk_bytes: int,
    extractor: str,
) -> Iterator[pa.RecordBatch]:
    schema = dataset_schema(dataset, st.name)
    processor: Processor
    if dataset == RAW_EVENTS:
        raw = raw_normalizer(st, raw_filter)
        if raw is None:
            return  # this source gives no raw events
        processor = raw
    elif dataset.lower() == RAW:
        mapping = None
        fields, record_types = st.all_fields, None
    else:
        try:
            mapping = get_mapping(st.name, dataset)
        except UnsupportedSplError:
            return  # this source feeds no such data set: its inputs hold none of its rows
        fields, record_types = mapping.raw_fields, mapping.record_types
    assemble = getattr(st, "assemble", None)
    batches: Iterator[pa.RecordBatch]
    if dataset == RAW_EVENTS:  # one raw event per record: nothing to assemble
        batches = read_batches(
            inputs, processor, stats=stats, workers=workers, chunk_bytes=chunk_bytes
        )
    elif assemble is not None:  # events span chunks: joined here, in input order, then mapped
        plan = st.plan(fields, record_types, raw_filter, extractor)
        stats = stats if stats is not None else ReadStats()
        raws = read_batches(inputs, plan, stats=stats, workers=workers, chunk_bytes=chunk_bytes)
        batches = (
            normalize_batch(event, mapping, schema, st.source, st.name)
            for event in assemble(raws, fields, record_types, raw_filter, stats)
        )
    else:
        plan = st.plan(fields, record_types, raw_filter, extractor)
        processor = Normalizer(plan, mapping, schema, st.source, st.name)
        batches = read_batches(
            inputs, processor, stats=stats, workers=workers, chunk_bytes=chunk_bytes
        )
    for batch in batches:
        for offset in range(0, batch.num_rows, batch_size):
            yield batch.slice(offset, batch_size)


class DatasetBatches(dict[str, pa.RecordBatch]):
    """One chunk's rows per data set (what a :class:`MultiNormalizer` returns); ``num_rows`` is
    their total, so the reader treats it as it treats one batch."""

    @property
    def num_rows(self) -> int:
        return sum(b.num_rows for b in self.values())


@dataclass(frozen=True)
class MultiNormalizer:
    """A picklable chunk processor feeding several data sets from one extraction: the source's
    plan reads the union of the data sets' raw fields and record types once, then each data set
    takes its record types' rows through its own mapping (:func:`normalize_batch`)."""

    plan: Processor
    record_field: str
    targets: tuple[tuple[str, Mapping, pa.Schema], ...]
    source: str
    sourcetype: str
    # The raw events too (RAW_EVENTS), from the same chunk: its stats are the chunk's then (it
    # sees every event; the CIM plan's would count the same lines again).
    raw: RawNormalizer | None = None

    def __call__(self, data: bytes, name: str) -> tuple[DatasetBatches, ReadStats]:
        if self.raw is None:
            return self._split(*self.plan(data, name))
        raw, stats = self.raw.plan(data, name)
        out = DatasetBatches()
        if self.targets:
            out = self._split(self.plan(data, name)[0], stats)[0]
        if raw.num_rows:
            out[RAW_EVENTS] = self.raw.rows(raw)
        return out, stats

    @property
    def _reader(self) -> Processor:
        """The plan that reads the lines: the raw events' alone when no data set is fed."""
        return self.raw.plan if self.raw is not None and not self.targets else self.plan

    @property
    def streams(self) -> bool:
        if self.raw is not None and self.targets:
            return False  # two plans over each chunk
        return bool(getattr(self._reader, "streams", False))

    def python_share(self, data: bytes) -> float:
        share = getattr(self._reader, "python_share", None)
        return 1.0 if share is None else float(share(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[DatasetBatches, ReadStats]:
        batch, stats = self._reader.read_range(path, offset, length, name, block_bytes)  # type: ignore[attr-defined]
        if self.raw is None:
            return self._split(batch, stats)
        out = DatasetBatches()
        if batch.num_rows:
            out[RAW_EVENTS] = self.raw.rows(batch)
        return out, stats

    def _split(self, raw: pa.RecordBatch, stats: ReadStats) -> tuple[DatasetBatches, ReadStats]:
        out = DatasetBatches()
        if not raw.num_rows or not self.targets:  # (no data set: the plan's rows feed none)
            return out, stats
        kinds = raw.column(self.record_field)
        for dataset, mapping, schema in self.targets:
            part = raw
            if mapping.record_types is not None:
                wanted = pa.array(sorted(mapping.record_types), pa.string())
                # only the columns the mapping reads are copied out (the plan reads them all)
                read = list(dict.fromkeys(["host", *mapping.raw_fields]))
                part = raw.select(read).filter(pc.is_in(kinds, value_set=wanted))
            if part.num_rows:
                out[dataset] = normalize_batch(part, mapping, schema, self.source, self.sourcetype)
        return out, stats


class _RecordsAndRaw(DatasetBatches):
    """A chunk's raw records (for a source's assembly) and its raw events."""


@dataclass(frozen=True)
class _RecordsThenRaw:
    """A picklable chunk processor: the CIM plan's records and the raw events (when asked) of one
    chunk. Of this module, as MultiNormalizer: the workers ``start_reading`` starts for the read
    are the ones it takes (``reader.start_workers`` matches them by the processor's module)."""

    plan: Processor
    raw: RawNormalizer | None

    def __call__(self, data: bytes, name: str) -> tuple[_RecordsAndRaw, ReadStats]:
        records, stats = self.plan(data, name)
        out = _RecordsAndRaw()
        if records.num_rows:
            out["records"] = records
        if self.raw is not None:
            raw, _ = self.raw.plan(data, name)  # the same lines: counted once, by the CIM plan
            if raw.num_rows:
                out[RAW_EVENTS] = self.raw.rows(raw)
        return out, stats

    @property
    def streams(self) -> bool:
        """The plan's (``reader.streams``) when no raw event is asked: an auditd hunt's ranges
        then go to its ``read_range``, in threads (``reader.threaded``)."""
        return self.raw is None and bool(getattr(self.plan, "streams", False))

    @property
    def range_chunks(self) -> int:
        return int(getattr(self.plan, "range_chunks", STREAM_RANGE_CHUNKS))

    def python_share(self, data: bytes) -> float:
        """The plan's (``reader.threaded``), else 1.0 (all of it)."""
        share = getattr(self.plan, "python_share", None)
        return 1.0 if share is None else float(share(data))

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[_RecordsAndRaw, ReadStats]:
        """The plan's ``read_range`` (its rows may be an ``auditd_events.Ranged``, which the
        source's ``assemble`` takes as it takes a batch)."""
        records, stats = self.plan.read_range(path, offset, length, name, block_bytes)  # type: ignore[attr-defined]
        out = _RecordsAndRaw()
        if records.num_rows:
            out["records"] = records
        return out, stats


def _assembled(
    processor: MultiNormalizer,
    both: _RecordsThenRaw,
    assemble: Callable[..., Iterator[pa.RecordBatch]],
    inputs: list[Input],
    wanted: tuple[str, ...],
    record_types: frozenset[str] | None,
    raw_filter: RawFilter | None,
    stats: ReadStats,
    workers: int | None,
    chunk_bytes: int,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """A source whose events span records (``assemble``): the records of each chunk (``both``
    reads them, and the raw events when asked) go to the assembly, in input order, and its raw
    events out as they come, in one read."""
    pending: list[pa.RecordBatch] = []
    # a plan may read bigger chunks (an auditd hunt: auditd_hunt.CHUNK_FACTOR)
    chunk_bytes *= getattr(processor.plan, "chunk_factor", 1)

    def records() -> Iterator[pa.RecordBatch]:
        for out in read_batches(
            inputs, both, stats=stats, workers=workers, chunk_bytes=chunk_bytes
        ):
            if RAW_EVENTS in out:
                pending.append(out[RAW_EVENTS])
            if "records" in out:
                yield out["records"]

    for event in assemble(records(), wanted, record_types, raw_filter, stats):
        while pending:
            yield RAW_EVENTS, pending.pop(0)
        yield from processor._split(event, stats)[0].items()
    while pending:
        yield RAW_EVENTS, pending.pop(0)


# Beyond this many clauses the OR of several CNF prefilters costs more than it saves: read unfiltered.
MAX_UNION_CLAUSES = 64


def union_filters(
    filters: Iterable[RawFilter | None], max_clauses: int = MAX_UNION_CLAUSES
) -> RawFilter | None:
    """A prefilter keeping every event any of ``filters`` keeps (``None``: keep everything).

    ``(a1 ∧ a2) ∨ (b1)`` is distributed to ``(a1 ∨ b1) ∧ (a2 ∨ b1)``: sound and exact; past
    ``max_clauses`` clauses it costs more than it saves, and nothing is filtered.

    >>> union_filters([RawFilter((("ngrok",), ("tcp", "http"))), RawFilter((("chisel",),))]).clauses
    (('chisel', 'ngrok'), ('chisel', 'http', 'tcp'))
    """
    filters = list(filters)
    if not filters or any(f is None or not f.clauses for f in filters):
        return None
    clauses: list[frozenset[str]] = [frozenset()]
    for f in filters:
        assert f is not None
        clauses = list(
            dict.fromkeys(c | frozenset(n.lower() for n in k) for c in clauses for k in f.clauses)
        )
        if len(clauses) > max_clauses:
            return None
    return RawFilter(tuple(tuple(sorted(c)) for c in clauses))


def read_datasets(
    paths: Iterable[str | os.PathLike[str] | Input],
    needs: dict[str, list[Requirements]],
    *,
    stats: ReadStats | None = None,
    sourcetype: str | None = None,
    workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Read every input ONCE and stream ``(dataset, batch)`` for each data set of ``needs``.

    ``needs`` maps a data set to the requirements of each search reading it. Per source, a line
    is extracted when any data set's prefilter keeps it (the union over the data sets of the
    union over their searches: sound), once, and its record feeds every data set its record type
    belongs to. ``stats`` counts each input line once.

    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> stats = ReadStats()
    >>> sets = ["Endpoint.Processes", "Network_Traffic.All_Traffic"]
    >>> sorted({d for d, _ in read_datasets([sample], {d: [()] for d in sets}, stats=stats)})
    ['Endpoint.Processes', 'Network_Traffic.All_Traffic']
    >>> stats.events + stats.skipped + stats.other + stats.malformed
    41
    """
    for inputs, processor, assembled in _processors(paths, needs, sourcetype):
        if assembled is not None:  # a source whose events span records (auditd)
            yield from assembled(stats if stats is not None else ReadStats(), workers, chunk_bytes)
            continue
        for batches in read_batches(
            inputs, processor, stats=stats, workers=workers, chunk_bytes=chunk_bytes
        ):
            yield from batches.items()


def start_reading(
    paths: Iterable[str | os.PathLike[str] | Input],
    needs: dict[str, list[Requirements]],
    sourcetype: str | None = None,
) -> None:
    """Start the worker processes :func:`read_datasets` will use for these arguments (if any)
    now, so they come up while the caller does other work (``reader.start_workers``); stopped by
    ``reader.stop_workers(MultiNormalizer)`` when no read took them.

    >>> start_reading(["no-such-file"], {"Endpoint.Processes": [()]})  # errors wait for the read
    """
    from escudo.errors import EscudoError
    from escudo.sources.reader import start_workers

    try:
        first = next(iter(_processors(paths, needs, sourcetype)), None)
    except EscudoError:
        return  # reported by the read itself
    if first is not None:
        start_workers(first[0], first[1])


# A read that assembles events from records: (stats, workers, chunk_bytes) -> (data set, batch)s.
_Assembled = Callable[[ReadStats, int | None, int], Iterator[tuple[str, pa.RecordBatch]]]


def _processors(
    paths: Iterable[str | os.PathLike[str] | Input],
    needs: dict[str, list[Requirements]],
    sourcetype: str | None,
) -> Iterator[tuple[list[Input], Processor, _Assembled | None]]:
    """The inputs in runs of one source, each with the processor the read runs over them (a
    :class:`MultiNormalizer`; for a source that assembles events from records, the
    :class:`_RecordsThenRaw` of ``_assembled``, the read it yields too)."""
    for st, inputs in sources_of(paths, sourcetype):
        targets = []
        filters: list[RawFilter | None] = []
        raw = None
        if RAW_EVENTS in needs:  # the raw events of the searches that can read this source's
            per_search = [raw_events_filter(st, r) for r in needs[RAW_EVENTS] or [()]]
            raw_filters = [f for f in per_search if f is not None]
            raw = raw_normalizer(st, union_filters(raw_filters)) if raw_filters else None
        for dataset, requirements in needs.items():
            if dataset == RAW_EVENTS:
                continue
            try:
                mapping = get_mapping(st.name, dataset)
            except UnsupportedSplError:
                continue  # this source feeds no such data set
            targets.append((dataset, mapping, dataset_schema(dataset, st.name)))
            filters += [_filter(st, dataset, None, r) for r in requirements or [()]]
        # Nothing to extract (no data set this source feeds): the lines are still read, counted.
        record_field = targets[0][1].record_type if targets else "EventID"
        if any(m.record_type != record_field for _, m, _ in targets):
            raise ValueError(f"{st.name}: mappings disagree on the record type field")
        fields = [record_field]
        kinds: set[str] | None = set()
        for _, mapping, _ in targets:
            fields += mapping.raw_fields
            if mapping.record_types is None or kinds is None:
                kinds = None
            else:
                kinds |= mapping.record_types
        record_types = None if kinds is None else frozenset(kinds)
        wanted, raw_filter = tuple(dict.fromkeys(fields)), union_filters(filters)
        plan = st.plan(wanted, record_types, raw_filter, "fast")
        assemble = getattr(st, "assemble", None)
        if assemble is not None and targets:  # events span chunks: joined here, in input order
            processor = MultiNormalizer(plan, record_field, tuple(targets), st.source, st.name)
            both = _RecordsThenRaw(plan, raw)
            yield (
                inputs,
                both,
                partial(
                    _assembled, processor, both, assemble, inputs, wanted, record_types, raw_filter
                ),
            )
            continue
        processor = MultiNormalizer(plan, record_field, tuple(targets), st.source, st.name, raw)
        yield inputs, processor, None
