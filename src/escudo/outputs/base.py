"""What every row writer shares: the ``Writer`` protocol, sections, options and value rendering.

A writer (``escudo.outputs.WRITERS``: ``table``, ``jsonl``, ``csv``, ``parquet``) takes Arrow
record batches. Its two class flags say how a run's sections reach it (``escudo.outputs.sections``):

- ``blocks``: each section is its own block with its own columns and a heading (``table``);
- ``one_schema``: one header or file schema for every row; sections are stacked under the union of
  their columns, with one type per column (``csv``, ``parquet``);
- neither: rows are written as they come, each with its own section's columns (``jsonl``).

Times are written in one format everywhere text is written (JSONL, CSV, table): RFC 3339 in UTC with
microseconds and ``Z``, as :data:`TIME_FORMAT` (docs/semantics.md, "Output formats").

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> column = pa.array([datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)])
>>> format_times(column).to_pylist()
['2024-05-01T10:00:05.000000Z']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar, Protocol
from urllib.parse import SplitResult, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

# Arrow's %S prints the fraction the unit holds: microseconds once cast to "us".
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_UTC_US = pa.timestamp("us", tz="UTC")


def http_url(
    option: str, url: str, shape: str = "http(s)://host[:port]"
) -> tuple[SplitResult, str, int | None]:
    """``url`` (given as ``option``) split, with its host and port; one clear InputError when
    it is not an http or https URL with a host (``shape`` says what is expected) or its port is
    bad (the HEC and webhook senders' check).

    >>> parts, host, port = http_url("--hec-url", "https://splunk:8088/x")
    >>> parts.path, host, port
    ('/x', 'splunk', 8088)
    >>> http_url("--hec-url", "splunk:8088")
    Traceback (most recent call last):
    escudo.errors.InputError: --hec-url must be http(s)://host[:port], not 'splunk:8088'
    """
    from escudo.errors import InputError

    try:  # a ValueError for a port outside 0-65535 or not a number, a broken [IPv6] host
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{option} {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{option} must be {shape}, not {url!r}")
    return parts, parts.hostname, port


def format_time(moment: datetime) -> str:
    """One moment in the output time format (a naive one is taken as UTC), for messages.

    >>> format_time(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    '2024-05-01T12:00:00.000000Z'
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class OutputOptions:
    """Choices that change how cells are written (the CLI's output options).

    ``csv_safe``: CSV cells that a spreadsheet would run as a formula get a leading ``'``
    (``escape_formula``).
    """

    csv_safe: bool = False


@dataclass
class Section:
    """Rows under one title: one detection's results, one drilldown's, or one block of risk events.

    Every batch has ``schema``'s column names, in order. Its types are the schema's, except in
    sections built from Python records (``escudo.outputs.sections.records_section``), where a column
    may change type between batches (a finding's ``source`` is text, a risk incident's a list);
    JSONL keeps each row's own types and the one-schema writers cast to ``schema``.
    """

    title: str | None
    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]

    @classmethod
    def of_table(cls, title: str | None, table: pa.Table) -> Section:
        """A section holding ``table``'s rows.

        >>> Section.of_table("D", pa.table({"user": ["a"]})).schema.names
        ['user']
        """
        return cls(title, table.schema, table.to_batches())


class Writer(Protocol):
    """One output format over one binary stream (``escudo.outputs.WRITERS[format]``).

    The caller calls ``begin`` once (or once per section when ``blocks``), ``write`` for every
    batch, then ``close``, which flushes and returns the number of rows written. The caller owns the
    stream: writers never close it.
    """

    blocks: ClassVar[bool]
    one_schema: ClassVar[bool]

    def __init__(self, out: BinaryIO, options: OutputOptions) -> None: ...

    def begin(self, schema: pa.Schema, title: str | None = None) -> None:
        """The columns of the rows that follow (and, for ``blocks`` writers, their heading)."""

    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> int: ...


def format_times(column: pa.Array) -> pa.Array:
    """``column`` ready to be written as text: every timestamp (also inside lists and structs) as
    :data:`TIME_FORMAT` text (naive timestamps are taken as UTC), every date as ``YYYY-MM-DD``,
    NaN and infinities as NULL; other values untouched.

    Splunk has no NaN: a division by zero in ``eval`` is null. Parquet keeps floats as they are.

    >>> format_times(pa.array([[1]], pa.list_(pa.timestamp("s")))).to_pylist()
    [['1970-01-01T00:00:01.000000Z']]
    >>> format_times(pa.array([[1.5, float("nan")]])).to_pylist()
    [[1.5, None]]
    """
    t = column.type
    if pa.types.is_timestamp(t):
        return pc.strftime(pc.cast(column, _UTC_US, safe=False), format=TIME_FORMAT)
    if pa.types.is_date(t):
        return pc.strftime(column, format="%Y-%m-%d")
    if pa.types.is_floating(t):
        return pc.if_else(pc.is_finite(column), column, pa.scalar(None, t))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not _needs_text(t.value_type):
            return column
        build = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        values = format_times(column.values)
        return build.from_arrays(column.offsets, values, mask=column.is_null())
    if pa.types.is_struct(t):
        if not _needs_text(t):
            return column
        fields = [format_times(column.field(i)) for i in range(t.num_fields)]
        names = [t.field(i).name for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(fields, names=names, mask=column.is_null())
    return column


def _needs_text(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_floating(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _needs_text(t.value_type)
    if pa.types.is_struct(t):
        return any(_needs_text(t.field(i).type) for i in range(t.num_fields))
    return False


def text_rows(batch: pa.RecordBatch) -> Iterable[tuple[Any, ...]]:
    """The batch's rows as Python tuples, prepared by :func:`format_times`.

    >>> list(text_rows(pa.record_batch({"x": [1.5, float("nan")], "s": ["a", None]})))
    [(1.5, 'a'), (None, None)]
    """
    return zip(*(format_times(column).to_pylist() for column in batch.columns), strict=True)


def json_default(value: Any) -> Any:
    """What ``json.dumps`` writes for values JSON has no type for (bytes, decimals, times of day).

    >>> json_default(b"caf\\xc3\\xa9")
    'café'
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cell_text(value: Any, multivalue_separator: str) -> str:
    """One value as the text of a CSV or table cell.

    NULL is empty, a multivalue field's values are joined with ``multivalue_separator``, booleans
    are ``true``/``false`` as in JSON, a struct is its JSON text.

    >>> cell_text(["a", None, 2, True], "\\n")
    'a\\n\\n2\\ntrue'
    """
    if type(value) is str:  # nearly every cell: CIM fields are text
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return multivalue_separator.join(cell_text(v, multivalue_separator) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=json_default, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
