"""compile stage of escudo: SPL text -> macro expansion -> AST -> one sqlglot query.

>>> c = compile_search('| tstats count from datamodel=Endpoint.Processes by Processes.dest')
>>> c.datasets, c.output_fields
(('Endpoint.Processes',), ['Processes.dest', 'count'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from escudo.sources.base import RawFilter, Requirements

if TYPE_CHECKING:  # the parser and sqlglot come with the compile (a cached search needs neither)
    from sqlglot import exp

    from escudo.content.model import Macro
    from escudo.spl.ast import Pipeline


@dataclass
class CompiledSearch:
    """A search ready to run: expanded text, AST, the SQL query and what it reads."""

    spl: str
    pipeline: Pipeline
    expression: exp.Query
    datasets: tuple[str, ...]
    # per data set: what every event the search can accept holds, source-neutrally (a CNF over
    # CIM field and literal, escudo.compile.pushdown); each source derives its raw needles from it
    requirements: dict[str, Requirements] = field(default_factory=dict)
    output_fields: list[str] | None = None

    def raw_filter(self, dataset: str, sourcetype: str | None = None) -> RawFilter:
        """The raw prefilter one source (default: the default source type) derives for
        ``dataset`` from :attr:`requirements`."""
        from escudo.sources.registry import get_sourcetype

        return get_sourcetype(sourcetype).needles(dataset, self.requirements.get(dataset, ()))

    @property
    def raw_filters(self) -> dict[str, RawFilter]:
        """:meth:`raw_filter` of every data set with requirements, for the default source."""
        return {ds: self.raw_filter(ds) for ds in self.requirements}

    def sql(self, dialect: str = "duckdb", pretty: bool = False) -> str:
        """The query in ``dialect`` (``duckdb`` or ``spark``), written by escudo's dialect of that
        name (``escudo.compile.dialects``)."""
        from escudo.compile.dialects import dialect_for

        return self.expression.sql(dialect=dialect_for(dialect), pretty=pretty)


def compile_search(
    spl: str,
    *,
    macros: Mapping[str, Macro] | None = None,
    origin: str | None = None,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    lookups: Mapping[str, Path] | None = None,
    now: datetime | None = None,
) -> CompiledSearch:
    """Expand macros, parse and lower ``spl``.

    ``earliest``/``latest`` bound ``_time`` of the data read (``latest`` exclusive); ``lookups``
    maps lookup names to CSV files; ``now`` anchors relative times (``earliest=-24h``) and
    defaults to the current time.

    Raises SplSyntaxError / UnsupportedSplError with the location in the expanded text.
    """
    from escudo.compile.commands import lower_command
    from escudo.compile.rawflow import later_requirements
    from escudo.compile.schema import Frame
    from escudo.sources.base import RAW_EVENTS
    from escudo.spl import ast
    from escudo.spl.macros import expand_macros
    from escudo.spl.parser import parse

    text = expand_macros(spl, macros or {}, origin=origin)
    pipeline = parse(text, origin=origin)
    frame = Frame(
        source=text,
        origin=origin,
        earliest=earliest,
        latest=latest,
        now=now or datetime.now(UTC),
        lookups=dict(lookups or {}),
    )
    for command in pipeline.commands:
        lower_command(command, frame)
    if RAW_EVENTS in frame.requirements and isinstance(pipeline.commands[0], ast.Search):
        # a search from events: its where LIKE(...) filters give needles too (compile/rawflow.py)
        later = later_requirements(pipeline.commands[1:])
        frame.requirements[RAW_EVENTS] = tuple(
            dict.fromkeys(frame.requirements[RAW_EVENTS] + later)
        )
    return CompiledSearch(
        spl=text,
        pipeline=pipeline,
        expression=frame.final(),
        datasets=tuple(frame.datasets),
        requirements=dict(frame.requirements),
        output_fields=list(frame.columns),
    )


__all__ = ["CompiledSearch", "compile_search"]
