"""Every command's rows to a writer: sections, titles, one schema where the format needs one.

``escudo events`` writes one untitled section of CIM rows (:func:`write_batches`); ``hunt`` one
section per detection (titled with its name) or one of risk events or findings; ``search`` one
untitled section; ``drilldown`` one per drilldown search. How sections meet a format is the
writer's flags (``escudo.outputs.base.Writer``): ``table`` prints a block per section, ``jsonl``
adds the title as a leading ``detection`` key, ``csv`` and ``parquet`` stack every section under
one schema, a ``detection`` column first when any section has a title.

>>> import io, pyarrow as pa
>>> out = io.BytesIO()
>>> write_sections([Section.of_table("D", pa.table({"user": ["alice"], "n": [1]}))], "jsonl", out)
1
>>> out.getvalue()
b'{"detection": "D", "user": "alice", "n": 1}\\n'
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from escudo.errors import InputError
from escudo.outputs.base import OutputOptions, Section, Writer, cell_text, format_times

TITLE_COLUMN = "detection"


def writer_for(fmt: str, out: BinaryIO, options: OutputOptions | None = None) -> Writer:
    """The writer of ``fmt`` (a key of ``escudo.outputs.WRITERS``) over ``out``."""
    from escudo.outputs import WRITERS

    try:
        cls = WRITERS[fmt]
    except KeyError:
        known = ", ".join(sorted(WRITERS))
        raise InputError(f"unknown output format {fmt!r} (known: {known})") from None
    return cls(out, options or OutputOptions())


def write_sections(
    sections: Sequence[Section],
    fmt: str,
    out: BinaryIO | str | os.PathLike[str],
    options: OutputOptions | None = None,
) -> int:
    """Write ``sections`` in ``fmt`` to a binary stream or a path; the number of rows written."""
    if isinstance(out, str | os.PathLike):
        with open(out, "wb") as fh:
            return write_sections(sections, fmt, fh, options)
    writer = writer_for(fmt, out, options)
    if writer.blocks:
        for section in sections:
            writer.begin(section.schema, section.title)
            for batch in section.batches:
                writer.write(batch)
    elif writer.one_schema:
        titled = any(s.title is not None for s in sections)
        schemas = [s.schema for s in sections]
        if titled:
            schemas.insert(0, pa.schema([(TITLE_COLUMN, pa.string())]))
        schema = unify_schemas(schemas)
        writer.begin(schema)
        for section in sections:
            for batch in section.batches:
                if titled:
                    batch = _with_title(batch, section.title)
                writer.write(conform(batch, schema))
    else:
        writer.begin(unify_schemas([s.schema for s in sections]))
        for section in sections:
            for batch in section.batches:
                writer.write(batch if section.title is None else _with_title(batch, section.title))
    return writer.close()


def write_batches(
    batches: Iterable[pa.RecordBatch],
    fmt: str,
    out: BinaryIO | str | os.PathLike[str],
    *,
    schema: pa.Schema | None = None,
    options: OutputOptions | None = None,
) -> int:
    """Write batches of one schema, untitled (``escudo events``); the number of rows written.

    ``schema`` gives the columns when there are no batches (a CSV header, an empty Parquet file);
    without it, the first batch's.

    >>> import io
    >>> write_batches([pa.record_batch({"a": ["x"]})], "csv", io.BytesIO())
    1
    """
    iterator: Iterator[pa.RecordBatch] = iter(batches)
    if schema is None:
        first = next(iterator, None)
        schema = first.schema if first is not None else pa.schema([])
        if first is not None:
            iterator = itertools.chain([first], iterator)
    return write_sections([Section(None, schema, iterator)], fmt, out, options)


def _with_title(batch: pa.RecordBatch, title: str | None) -> pa.RecordBatch:
    if TITLE_COLUMN in batch.schema.names:  # the rows' own field wins, as it did in JSON output
        return batch
    column = pa.array([title] * batch.num_rows, pa.string())
    return pa.RecordBatch.from_arrays([column, *batch.columns], [TITLE_COLUMN, *batch.schema.names])


def unify_schemas(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for rows of several: every column in first-seen order, one type each.

    Types that Arrow can widen are widened (integers to floats, NULL to anything); otherwise a
    column mixing lists and single values is a list of text (a single value is a one-value
    multivalue field, as in Splunk), and any other mix is text.

    >>> unify_schemas([pa.schema([("a", pa.int64())]), pa.schema([("a", pa.string())])])
    a: string
    >>> unify_schemas([pa.schema([("s", pa.string())]), pa.schema([("s", pa.list_(pa.string()))])]).types
    [ListType(list<item: string>)]
    """
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for field in schema:
            types.setdefault(field.name, []).append(field.type)
    return pa.schema([(name, _common_type(ts)) for name, ts in types.items()])


def _common_type(types: list[pa.DataType]) -> pa.DataType:
    distinct = list(dict.fromkeys(types))
    if len(distinct) == 1:
        return distinct[0]
    try:
        schemas = [pa.schema([("c", t)]) for t in distinct]
        return pa.unify_schemas(schemas, promote_options="permissive").field("c").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
        pass
    if any(_is_list(t) for t in distinct):
        return pa.list_(pa.string())
    return pa.string()


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t))


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns and types: missing columns are NULL, others cast (times
    becoming text are written in the output time format; single values becoming lists are wrapped).

    >>> target = pa.schema([("a", pa.list_(pa.string())), ("b", pa.int64())])
    >>> conform(pa.record_batch({"a": ["x", None]}), target).to_pylist()
    [{'a': ['x'], 'b': None}, {'a': None, 'b': None}]
    """
    if batch.schema.equals(schema):
        return batch
    names = batch.schema.names
    columns = []
    for field in schema:
        if field.name not in names:
            columns.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(names.index(field.name))
        columns.append(column if column.type == field.type else _cast(column, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target)
    if _is_list(target) and not _is_list(column.type):
        values = _cast(column, target.value_type)
        offsets = pa.array(range(len(column) + 1), pa.int32())
        return pa.ListArray.from_arrays(offsets, values, mask=column.is_null()).cast(target)
    if pa.types.is_string(target) or (_is_list(target) and pa.types.is_string(target.value_type)):
        column = format_times(column)
    return pc.cast(column, target)


def records_section(title: str | None, records: Sequence[Mapping[str, Any]]) -> Section:
    """Python dict records (risk events, findings) as a section of Arrow batches.

    Columns are every record's keys in first-seen order (a record without a key has NULL there).
    Values keep their own types: a run of records whose values agree in type is one batch, and a
    record whose value changes a column's type starts the next batch.

    >>> s = records_section(None, [{"source": "a", "n": 1}, {"source": ["b", "c"]}])
    >>> [b.to_pylist() for b in s.batches]
    [[{'source': 'a', 'n': 1}], [{'source': ['b', 'c'], 'n': None}]]
    >>> [str(t) for t in s.schema.types]
    ['list<item: string>', 'int64']
    """
    columns = list(dict.fromkeys(k for record in records for k in record))
    batches: list[pa.RecordBatch] = []
    start = 0
    kinds: dict[str, str] = {}
    for i, record in enumerate(records):
        row = {k: kind for k, v in record.items() if (kind := _kind(v)) is not None}
        agreed = {k: _agree(kinds.get(k), kind) for k, kind in row.items()}
        if all(kind is not None for kind in agreed.values()):
            kinds.update({k: kind for k, kind in agreed.items() if kind is not None})
            continue
        batches.append(_batch(columns, records[start:i]))
        start, kinds = i, row
    if start < len(records):
        batches.append(_batch(columns, records[start:]))
    if not batches:
        schema = pa.schema([(c, pa.null()) for c in columns])
    else:
        schema = unify_schemas([b.schema for b in batches])
    return Section(title, schema, batches)


def _batch(columns: list[str], records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    arrays = [_array([r.get(c) for r in records]) for c in columns]
    return pa.RecordBatch.from_arrays(arrays, columns)


def _array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # Values of one kind Arrow still cannot hold together (a list mixing text and numbers,
        # integers past 64 bits): their text, as Splunk holds every value.
        return pa.array([_as_text(v) for v in values])


def _as_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [None if v is None else cell_text(v, "\n") for v in value]
    return cell_text(value, "\n")


def _agree(known: str | None, kind: str) -> str | None:
    """The kind a column holds after a value of ``kind``; ``None`` when they cannot share a batch."""
    if known is None or known == kind:
        return kind
    if known == "list:" and kind.startswith("list:"):  # an empty list fits any list
        return kind
    if kind == "list:" and known.startswith("list:"):
        return known
    return None


def _kind(value: Any) -> str | None:
    """The Arrow type family a Python value becomes; ``None`` for NULL (fits any column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "datetime" if value.tzinfo is None else f"datetime:{value.utcoffset()}"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        inner = sorted({k for v in value if (k := _kind(v)) is not None})
        return "list:" + ",".join(inner)
    if isinstance(value, dict):
        return "dict:" + ",".join(f"{k}={_kind(v)}" for k, v in sorted(value.items()))
    return type(value).__name__
