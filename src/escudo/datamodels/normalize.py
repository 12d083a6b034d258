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
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from escudo.datamodels.cim import BASE_FIELDS, get_dataset
from escudo.datamodels.mappings import (
    FILL_UNKNOWN,
    FILL_ZERO_IF_NOT_NUMBER,
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
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import Input
from escudo.sources.reader import DEFAULT_CHUNK_BYTES, Processor, read_batches
from escudo.sources.registry import get_sourcetype

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
        unknown = pa.scalar("unknown", pa.string())
        for f in FILL_UNKNOWN.get(mapping.dataset, ()):
            col = columns.get(f, pa.nulls(n, pa.string()))
            columns[f] = pc.if_else(_empty(col), unknown, col)
        zero = pa.scalar("0", pa.string())
        for f in FILL_ZERO_IF_NOT_NUMBER.get(mapping.dataset, ()):
            col = columns.get(f, pa.nulls(n, pa.string()))
            is_number = pc.fill_null(pc.match_substring_regex(col, _NUMBER), False)
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

    def read_range(
        self, path: Path, offset: int, length: int, name: str, block_bytes: int
    ) -> tuple[pa.RecordBatch, ReadStats]:
        return self._normalize(*self.plan.read_range(path, offset, length, name, block_bytes))  # type: ignore[attr-defined]

    def _normalize(self, raw: pa.RecordBatch, stats: ReadStats) -> tuple[pa.RecordBatch, ReadStats]:
        if not raw.num_rows:  # most chunks of a hunt keep no row: skip ~0.5 ms of kernels
            return pa.RecordBatch.from_pylist([], schema=self.schema), stats
        return normalize_batch(raw, self.mapping, self.schema, self.source, self.sourcetype), stats


def read_dataset(
    paths: Iterable[str | os.PathLike[str] | Input],
    dataset: str,
    *,
    raw_filter: RawFilter | None = None,
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
    selects the slow XML-parser path.

    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> rows = [r for b in read_dataset([sample], "Endpoint.Processes") for r in b.to_pylist()]
    >>> rows[0]["sourcetype"], rows[0]["os"]
    ('sysmon:linux', 'Linux')
    """
    st = get_sourcetype(sourcetype)
    schema = dataset_schema(dataset, st.name)
    if dataset.lower() == RAW:
        mapping = None
        plan = st.plan(st.all_fields, None, raw_filter, extractor)
    else:
        mapping = get_mapping(st.name, dataset)
        plan = st.plan(mapping.raw_fields, mapping.record_types, raw_filter, extractor)
    processor = Normalizer(plan, mapping, schema, st.source, st.name)
    for batch in read_batches(
        paths, processor, stats=stats, workers=workers, chunk_bytes=chunk_bytes
    ):
        for offset in range(0, batch.num_rows, batch_size):
            yield batch.slice(offset, batch_size)
