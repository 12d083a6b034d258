"""Hunting: run detections (or one ad-hoc search) over log files.

Each CIM dataset the selected detections need is read ONCE, whatever the number of detections, with a raw
prefilter that is the OR of the detections' own prefilters (see :func:`union_filters`), then loaded into
the engine; every detection's compiled SQL then runs over it. Each detection's ``<name>_filter`` macro is
the user's when a content folder defines it, else contentctl's ``search *`` (``loader.macros_for``).

>>> from escudo.content.loader import load_content
>>> content = load_content()
>>> [d.name for d in select_detections(content, ["bc84d574-708c-467d-b78a-4c1e20171f97"])]
['Linux Ngrok Reverse Proxy Usage']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from escudo.content.loader import macros_for, resolve_detection
from escudo.content.model import ContentSet, Detection
from escudo.detect.result import DetectionResult
from escudo.detect.store import RISK_DATASET, Store
from escudo.errors import EscudoError
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import expand_inputs, spool_streams

if TYPE_CHECKING:
    from escudo.compile import CompiledSearch
    from escudo.engines.base import Engine

# Beyond this many clauses the OR of several CNF prefilters costs more than it saves: read unfiltered.
MAX_UNION_CLAUSES = 64


def compile_detection(
    detection: Detection,
    content: ContentSet,
    *,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    user_filter: bool = True,
    now: datetime | None = None,
) -> CompiledSearch:
    """Compile a detection's search with the content's macros, lookups and default filter macro
    (the user's ``<name>_filter`` unless ``user_filter`` is false, see ``macros_for``); ``now``
    anchors the search's relative times (default: the current time).

    >>> from escudo.content.loader import load_content
    >>> c = load_content()
    >>> compile_detection(c.detections["Linux Ngrok Reverse Proxy Usage"], c).datasets
    ('Endpoint.Processes',)
    """
    from escudo.compile import compile_search

    origin = str(detection.path) if detection.path is not None else detection.name
    return compile_search(
        detection.search,
        macros=macros_for(content, detection, user_filter=user_filter),
        origin=origin,
        earliest=earliest,
        latest=latest,
        lookups=content.lookups,
        now=now,
    )


def union_filters(filters: Sequence[RawFilter | None]) -> RawFilter | None:
    """A prefilter that keeps every event any of ``filters`` keeps (``None``: keep everything).

    ``(a1 ∧ a2) ∨ (b1)`` is distributed to ``(a1 ∨ b1) ∧ (a2 ∨ b1)``: sound and exact.

    >>> union_filters([RawFilter((("ngrok",), ("tcp", "http"))), RawFilter((("chisel",),))]).clauses
    (('chisel', 'ngrok'), ('chisel', 'http', 'tcp'))
    """
    if not filters or any(f is None or not f.clauses for f in filters):
        return None
    clauses: list[frozenset[str]] = [frozenset()]
    for f in filters:
        assert f is not None
        clauses = list(
            dict.fromkeys(c | frozenset(n.lower() for n in k) for c in clauses for k in f.clauses)
        )
        if len(clauses) > MAX_UNION_CLAUSES:
            return None
    return RawFilter(tuple(tuple(sorted(c)) for c in clauses))


@dataclass
class _Window:
    """The time bounds of a run and the event times actually seen (Splunk's info_min/max_time)."""

    earliest: datetime | None = None
    latest: datetime | None = None
    seen_min: datetime | None = None
    seen_max: datetime | None = None
    seen: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)

    def clip(self, dataset: str, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Keep rows with ``earliest <= _time < latest`` (Splunk's bounds) and note the times seen."""
        low: datetime | None = None
        high: datetime | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            times = batch.column("_time")
            if self.earliest is not None or self.latest is not None:
                mask = None
                if self.earliest is not None:
                    mask = pc.greater_equal(times, pa.scalar(self.earliest, times.type))
                if self.latest is not None:
                    upper = pc.less(times, pa.scalar(self.latest, times.type))
                    mask = upper if mask is None else pc.and_(mask, upper)
                batch = batch.filter(mask)
                if batch.num_rows == 0:
                    continue
                times = batch.column("_time")
            bounds = pc.min_max(times)
            bmin, bmax = bounds["min"].as_py(), bounds["max"].as_py()
            if bmin is not None:
                low = bmin if low is None else min(low, bmin)
            if bmax is not None:
                high = bmax if high is None else max(high, bmax)
            yield batch
        self.seen[dataset] = (low, high)

    def info(self, datasets: Iterable[str]) -> tuple[datetime | None, datetime | None]:
        lows = [self.seen.get(d, (None, None))[0] for d in datasets]
        highs = [self.seen.get(d, (None, None))[1] for d in datasets]
        low = min((t for t in lows if t is not None), default=None)
        high = max((t for t in highs if t is not None), default=None)
        return (self.earliest or low, self.latest or high)


def fed_datasets() -> frozenset[str]:
    """CIM datasets escudo can fill from some log source (the ingest mapping table).

    >>> "Endpoint.Processes" in fed_datasets()
    True
    """
    from escudo.datamodels.mappings import MAPPINGS

    return frozenset(dataset for _, dataset in MAPPINGS)


def select_detections(content: ContentSet, refs: Sequence[str] = ()) -> list[Detection]:
    """The detections named by ``refs`` (name, id or file), else every detection of ``content``."""
    if refs:
        chosen: dict[str, Detection] = {}
        for ref in refs:
            detection = resolve_detection(content, ref)
            chosen.setdefault(detection.name, detection)
        return list(chosen.values())
    return sorted(content.detections.values(), key=lambda d: d.name)


def compile_default_set(
    content: ContentSet,
    detections: Sequence[Detection],
    *,
    warn: Callable[[str], None] | None = None,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    now: datetime | None = None,
) -> list[tuple[Detection, CompiledSearch]]:
    """Compile ``detections`` keeping those whose datasets the inputs can feed.

    A detection that does not compile is left out, ``warn`` told why (the run does not stop for it).
    """
    fed = fed_datasets()
    out = []
    for detection in detections:
        try:
            compiled = compile_detection(
                detection, content, earliest=earliest, latest=latest, now=now
            )
        except EscudoError as exc:
            if warn is not None:
                warn(f"skipped {detection.name!r}: {exc}")
            continue
        if compiled.datasets and all(d in fed for d in compiled.datasets):
            out.append((detection, compiled))
    return out


def run_compiled(
    paths: Sequence[Path | str],
    jobs: Sequence[tuple[Detection, CompiledSearch]],
    *,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    stats: ReadStats | None = None,
    engine: Engine | None = None,
    store: Store | None = None,
    events: Path | None = None,
) -> list[DetectionResult]:
    """Read each dataset the compiled searches need once, then run every search over it.

    With ``events`` (a store directory, see ``escudo ingest``) the data sets are its Parquet rows,
    not ``paths``.

    ``Risk.All_Risk`` is not read from logs: it is the risk events kept in ``store`` (default: the
    user's store), as ES's risk index is for a search.

    >>> run_compiled(["web.log"], [(detection, compiled)])  # doctest: +SKIP
    [DetectionResult(...)]
    """
    if engine is None:  # ours: closed (and its spill folder removed) once the rows are out
        from escudo.engines import DEFAULT_ENGINE, new_engine
        from escudo.store.read import engine_settings

        with new_engine(**engine_settings(DEFAULT_ENGINE, events)) as own:
            return run_compiled(
                paths,
                jobs,
                earliest=earliest,
                latest=latest,
                stats=stats,
                engine=own,
                store=store,
                events=events,
            )
    from escudo.datamodels.normalize import read_dataset

    stats = stats if stats is not None else ReadStats()
    window = _Window(earliest=earliest, latest=latest)
    needs: dict[str, list[RawFilter | None]] = {}
    for _, compiled in jobs:
        for dataset in compiled.datasets:
            needs.setdefault(dataset, []).append(compiled.raw_filters.get(dataset))
    with TemporaryDirectory(prefix="escudo-streams-") as spool:
        reads = sum(dataset != RISK_DATASET for dataset in needs)  # each reads every input
        layout = None
        if events is not None:
            from escudo.store.read import open_store, register_events

            layout, reads = open_store(events), 0
        inputs = expand_inputs([Path(p) if p != "-" else p for p in paths]) if reads else []
        if reads > 1:
            inputs = spool_streams(inputs, Path(spool))
        for dataset, filters in needs.items():
            if dataset == RISK_DATASET:
                # Arrow rather than register_risk_store: the run's window clips risk events too,
                # and notes the times seen (info_min_time / info_max_time).
                engine.register_arrow(
                    dataset, window.clip(dataset, (store or Store()).risk_table().to_batches())
                )
                continue
            if layout is not None:
                window.seen[dataset] = register_events(engine, layout, dataset, earliest, latest)
                continue
            batches = read_dataset(inputs, dataset, raw_filter=union_filters(filters), stats=stats)
            # The engine streams the batches into its own table (DuckDB spills to disk when it
            # must), so several searches can scan one read.
            engine.register_arrow(dataset, window.clip(dataset, batches))
    results = []
    for detection, compiled in jobs:
        rows = engine.run(compiled)
        low, high = window.info(compiled.datasets)
        results.append(DetectionResult(detection, compiled, rows, low, high))
    return results


def empty_table(dataset: str) -> pa.Table:
    """No rows, with the dataset's columns (architecture.md: ``_time`` UTC timestamp, text elsewhere).

    >>> empty_table("Endpoint.Processes").column_names[:2]
    ['_time', 'host']
    """
    from escudo.datamodels.cim import get_dataset

    fields = [pa.field("_time", pa.timestamp("us", tz="UTC"))]
    fields += [pa.field(name, pa.string()) for name in get_dataset(dataset).all_fields[1:]]
    return pa.schema(fields).empty_table()


def hunt(
    paths: Sequence[Path | str],
    detections: Sequence[Detection] | None = None,
    *,
    content: ContentSet,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    stats: ReadStats | None = None,
    engine: Engine | None = None,
    store: Store | None = None,
    warn: Callable[[str], None] | None = None,
    now: datetime | None = None,
    events: Path | None = None,
) -> list[DetectionResult]:
    """Run ``detections`` (default: every content detection whose datasets the inputs feed) over ``paths``.

    A default-set detection that does not compile is skipped and ``warn`` told why; nothing is printed.

    >>> from escudo.content.loader import load_content
    >>> hunt(["tests/fixtures/empty.log"], content=load_content())  # doctest: +SKIP
    [DetectionResult(...), ...]
    """
    if detections:
        jobs = [
            (d, compile_detection(d, content, earliest=earliest, latest=latest, now=now))
            for d in detections
        ]
    else:
        jobs = compile_default_set(
            content,
            select_detections(content),
            warn=warn,
            earliest=earliest,
            latest=latest,
            now=now,
        )
    return run_compiled(
        paths,
        jobs,
        earliest=earliest,
        latest=latest,
        stats=stats,
        engine=engine,
        store=store,
        events=events,
    )


def search(
    spl: str,
    paths: Sequence[Path | str],
    *,
    content: ContentSet,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    stats: ReadStats | None = None,
    engine: Engine | None = None,
    store: Store | None = None,
    now: datetime | None = None,
    events: Path | None = None,
) -> DetectionResult:
    """Run one ad-hoc SPL search over ``paths`` (macros from ``content``; ``Risk.All_Risk`` from
    ``store``).

    >>> search("| tstats count from datamodel=Endpoint.Processes", ["x.log"], content=c)  # doctest: +SKIP
    """
    from escudo.compile import compile_search

    compiled = compile_search(
        spl,
        macros=macros_for(content),
        origin="search",
        earliest=earliest,
        latest=latest,
        lookups=content.lookups,
        now=now,
    )
    adhoc = Detection(name="search", id="", search=spl, type="Hunting", status="experimental")
    return run_compiled(
        paths,
        [(adhoc, compiled)],
        earliest=earliest,
        latest=latest,
        stats=stats,
        engine=engine,
        store=store,
        events=events,
    )[0]
