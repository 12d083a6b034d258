"""Hunting: run detections (or one ad-hoc search) over log files.

Each input is read ONCE, whatever the number of detections and data sets: one extraction per
record feeds every CIM data set the selected detections need, with a raw prefilter that is the OR
of the detections' own (``normalize.read_datasets``); the rows are handed to the engine as they
are (up to ``IN_PLACE_BYTES``: scanned in place) or, past that, spooled to Arrow files it scans,
and every detection's compiled SQL then runs over them; a detection whose required literals no
row read holds runs over its data set emptied instead (``detect/presence.py``: the same result,
no scan; run while the inputs are read, :class:`_EmptyRuns`). Each
detection's ``<name>_filter`` macro is the user's when a content folder defines it, else
contentctl's ``search *`` (``loader.macros_for``).

>>> from escudo.content.loader import load_content
>>> content = load_content()
>>> [d.name for d in select_detections(content, ["bc84d574-708c-467d-b78a-4c1e20171f97"])]
['Linux Ngrok Reverse Proxy Usage']
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from escudo.content.loader import macros_for, resolve_detection
from escudo.content.model import ContentSet, Detection
from escudo.datamodels.normalize import MAX_UNION_CLAUSES, union_filters
from escudo.detect.presence import LiteralPresence, Narrowing, Presence, requirements_of
from escudo.detect.result import DetectionResult
from escudo.detect.store import RISK_DATASET, Store
from escudo.errors import EscudoError
from escudo.sources.base import RAW_EVENTS, ReadStats, Requirements

if TYPE_CHECKING:
    from escudo.compile import CompiledSearch
    from escudo.compile.cache import CompileCache
    from escudo.engines.base import Engine, Runnable

__all__ = ["MAX_UNION_CLAUSES", "union_filters"]  # kept importable from here

logger = logging.getLogger(__name__)


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
        self.seen.setdefault(dataset, (None, None))
        for batch in batches:
            kept = self.take(dataset, batch)
            if kept is not None:
                yield kept

    def take(self, dataset: str, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """One batch clipped to the bounds (None when no row is left), its times noted."""
        if batch.num_rows == 0:
            return None
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
                return None
            times = batch.column("_time")
        bounds = pc.min_max(times)
        bmin, bmax = bounds["min"].as_py(), bounds["max"].as_py()
        low, high = self.seen.get(dataset, (None, None))
        if bmin is not None:
            low = bmin if low is None else min(low, bmin)
        if bmax is not None:
            high = bmax if high is None else max(high, bmax)
        self.seen[dataset] = (low, high)
        return batch

    def info(self, datasets: Iterable[str]) -> tuple[datetime | None, datetime | None]:
        lows = [self.seen.get(d, (None, None))[0] for d in datasets]
        highs = [self.seen.get(d, (None, None))[1] for d in datasets]
        low = min((t for t in lows if t is not None), default=None)
        high = max((t for t in highs if t is not None), default=None)
        return (self.earliest or low, self.latest or high)


# A raw search over a store that did not keep the raw events it reads (docs/semantics.md "Raw
# events in the store").
NO_RAW_IN_STORE = (
    "reads raw events of {sourcetypes}, which the store does not keep for {inputs} of its "
    "inputs (ingested without their raw events): its results miss their events; ingest them "
    "again into a new store with --raw-events all"
)


def fed_datasets() -> frozenset[str]:
    """CIM datasets escudo can fill from some log source (the ingest mapping table).

    >>> "Endpoint.Processes" in fed_datasets()
    True
    """
    from escudo.datamodels.mappings import MAPPINGS

    # every source registered may give raw events (sources.base.RawEventSource): raw searches
    return frozenset(dataset for _, dataset in MAPPINGS) | {RAW_EVENTS}


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
    cache: CompileCache | None = None,
) -> list[tuple[Detection, CompiledSearch]]:
    """Compile ``detections`` keeping those whose datasets the inputs can feed.

    A detection that does not compile is left out, ``warn`` told why (the run does not stop for it).
    ``cache``: compiled detections kept on disk, used when there are no window bounds.
    """
    fed = fed_datasets()
    out = []
    for detection in detections:
        try:
            compiled = _compile(detection, content, earliest, latest, now, cache)
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
    sourcetype: str | None = None,
    events: Path | None = None,
    reads: Iterable[tuple[str, pa.RecordBatch]] | None = None,
) -> list[DetectionResult]:
    """Read every input once into each dataset the compiled searches need, then run every
    search over them (``reads``: that read, already started by :func:`start_reading`). ``sourcetype`` reads every input as that source (default: each file's own,
    sniffed from its content).

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
                sourcetype=sourcetype,
                events=events,
                reads=reads,
            )
    stats = stats if stats is not None else ReadStats()
    window = _Window(earliest=earliest, latest=latest)
    needs = needs_of(jobs)
    presence: Presence | None = None
    if RISK_DATASET in needs:
        del needs[RISK_DATASET]
        # Arrow rather than register_risk_store: the run's window clips risk events too,
        # and notes the times seen (info_min_time / info_max_time).
        engine.register_arrow(
            RISK_DATASET,
            window.clip(RISK_DATASET, (store or Store()).risk_table().to_batches()),
        )
    with ExitStack() as held:
        if needs and events is not None:
            from escudo.store.read import StorePresence, reading, register_events

            # The store's shared lock until the searches ran: the files registered stay there.
            layout = held.enter_context(reading(events))
            for dataset, requirements in needs.items():
                window.seen[dataset] = register_events(
                    engine, layout, dataset, earliest, latest, requirements
                )
            presence = StorePresence.lookup(engine, [c for _, c in jobs])
        elif needs:
            presence = LiteralPresence([c for _, c in jobs], needs)
            ahead = _EmptyRuns.start(engine, jobs, needs, presence)
            try:
                # the spool folder (rows past the in-place budget) stays until the searches ran
                spool = held.enter_context(TemporaryDirectory(prefix="escudo-spool-"))
                tables = _load_logs(
                    engine,
                    paths,
                    needs,
                    window,
                    stats,
                    sourcetype,
                    reads,
                    presence,
                    ahead.wait,
                    Path(spool),
                )
            finally:
                ahead.wait()
            return _run_jobs(engine, jobs, window, presence, ahead.results, tables)
        return _run_jobs(engine, jobs, window, presence)


class _EmptyRuns:
    """The searches a hunt may find it cannot match (``LiteralPresence.may_rule_out``), run over
    their data sets emptied while the inputs are read (in a background thread: DuckDB runs
    queries without Python's lock, on the CPU the read leaves idle): what :func:`_run_jobs` runs
    for those it rules out, the same queries over the same empty tables, done ahead. Only on an
    engine that runs several searches at once (``run_many``); an error drops them all (they run
    after the read then, as without this)."""

    def __init__(self) -> None:
        self.results: dict[int, pa.Table] = {}
        self._thread: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        engine: Engine,
        jobs: Sequence[tuple[Detection, CompiledSearch]],
        needs: dict[str, list[Requirements]],
        presence: LiteralPresence,
    ) -> _EmptyRuns:
        runs = cls()
        chosen = [i for i, (_, c) in enumerate(jobs) if presence.may_rule_out(c)]
        # one search alone (the seed): ~10 ms saved if ruled out, spent if not
        if len(chosen) < 2 or getattr(engine, "run_many", None) is None:
            return runs
        for dataset in needs:  # registered again (the rows read) once this is done
            engine.register_arrow(dataset, empty_table(dataset))
        searches = [jobs[i][1] for i in chosen]

        def run() -> None:
            try:
                runs.results = dict(zip(chosen, _run_empty(engine, searches), strict=True))
            except Exception as exc:  # run again after the read, where an error is raised
                logger.debug("searches over no rows ahead of the read failed: %s", exc)

        runs._thread = threading.Thread(target=run, name="escudo-empty-runs", daemon=True)
        runs._thread.start()
        return runs

    def wait(self) -> None:
        """Until every search is done (before the engine's data sets are registered again)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _run_jobs(
    engine: Engine,
    jobs: Sequence[tuple[Detection, CompiledSearch]],
    window: _Window,
    presence: Presence | None,
    empty: dict[int, pa.Table] | None = None,
    tables: dict[str, pa.Table] | None = None,
) -> list[DetectionResult]:
    """Every job's rows, in order: first those that may match (``presence``), over the rows
    loaded (over those their requirements admit where the rows are ``tables`` held in place:
    :func:`_narrowing`); then the others, over their data set emptied (docs/semantics.md, "Detections that
    cannot match" and "Searches over the store that cannot match"), which costs no scan of the
    rows, several at once (:func:`_run_all`), or taken from ``empty`` (job index -> its rows over
    its data sets emptied, run ahead: :class:`_EmptyRuns`)."""
    now = [i for i, (_, c) in enumerate(jobs) if presence is None or presence.can_match(c)]
    chosen = set(now)
    later = [i for i in range(len(jobs)) if i not in chosen]
    # several at once over the rows too: DuckDB scans Arrow data on about one thread a search
    narrow = _narrowing(tables) if tables else None
    rows = dict(zip(now, _run_all(engine, [jobs[i][1] for i in now], narrow), strict=True))
    if later and empty is not None and all(i in empty for i in later):
        logger.debug("%d of %d detections cannot match the rows read", len(later), len(jobs))
        rows |= {i: empty[i] for i in later}
    elif later:
        logger.debug("%d of %d detections cannot match the rows read", len(later), len(jobs))
        for dataset in dict.fromkeys(d for i in later for d in jobs[i][1].datasets):
            engine.register_arrow(dataset, empty_table(dataset))
        rows |= zip(later, _run_empty(engine, [jobs[i][1] for i in later]), strict=True)
    results = []
    for index, (detection, compiled) in enumerate(jobs):
        low, high = window.info(compiled.datasets)
        results.append(DetectionResult(detection, compiled, rows[index], low, high))
    return results


def _run_empty(engine: Engine, searches: Sequence[CompiledSearch]) -> list[pa.Table]:
    """:func:`_run_all` over data sets the engine holds emptied: a search from the compile
    cache takes the result a run kept there (``CachedSearch.empty_result``: no rows, the
    engine's schema for them) when the engine names its version (``cache_name``); those run
    keep theirs. docs/semantics.md, "Detections that cannot match"."""
    from escudo.compile.cache import CachedSearch

    name = getattr(engine, "cache_name", None)
    out: dict[int, pa.Table] = {}
    if name is not None:
        for i, search in enumerate(searches):
            kept = search.empty_result(name) if isinstance(search, CachedSearch) else None
            if kept is not None:
                out[i] = kept
    missing = [i for i in range(len(searches)) if i not in out]
    for i, table in zip(missing, _run_all(engine, [searches[i] for i in missing]), strict=True):
        out[i] = table
        search = searches[i]
        if name is not None and isinstance(search, CachedSearch):
            search.keep_empty_result(name, table)
    return [out[i] for i in range(len(searches))]


def _run_all(
    engine: Engine, searches: Sequence[CompiledSearch], narrow: _Narrow | None = None
) -> list[pa.Table]:
    """Each search's rows, in order: several at once where the engine can (DuckDB's
    ``run_many``: the fixed cost of each query overlaps; each over the rows ``narrow`` gives it,
    those over the same rows sharing the stages they begin with), else one after the other."""
    run_many = getattr(engine, "run_many", None)
    if run_many is not None and (len(searches) > 1 or narrow is not None):
        if narrow is not None:
            return list(run_many(searches, narrow=narrow, rows_key=narrow.rows_key))
        return list(run_many(searches))
    return [engine.run(compiled) for compiled in searches]


def _narrowing(tables: dict[str, pa.Table]) -> _Narrow:
    """For a search over one of ``tables``' data sets, that data set's rows its requirements
    admit, where fewer (``Narrowing``: the same result; docs/semantics.md, "Rows a search is run
    over"); the lookups are shared by every search."""
    return _Narrow({dataset: Narrowing(table, dataset) for dataset, table in tables.items()})


class _Narrow:
    """``run_many``'s ``narrow``: a search's narrower rows (``__call__``) and which searches it
    gives the same rows (``rows_key``: they may share their first stages)."""

    def __init__(self, narrowings: dict[str, Narrowing]) -> None:
        self.narrowings = narrowings

    def _clauses(self, compiled: Runnable) -> tuple[str, Requirements] | None:
        """The one data set ``compiled`` reads that can narrow, and its requirements on it."""
        if len(compiled.datasets) != 1 or compiled.datasets[0] not in self.narrowings:
            return None
        dataset = compiled.datasets[0]
        clauses = requirements_of(compiled).get(dataset, ())
        return (dataset, clauses) if clauses else None

    def __call__(self, compiled: Runnable) -> Mapping[str, pa.Table]:
        found = self._clauses(compiled)
        if found is None:
            return {}
        rows = self.narrowings[found[0]].rows(found[1])
        return {} if rows is None else {found[0]: rows}

    def rows_key(self, compiled: Runnable) -> Hashable:
        found = self._clauses(compiled)
        if found is None:
            return "all"
        key = self.narrowings[found[0]].rows_key(found[1])
        return "all" if key == "all" else (found[0], key)


def needs_of(jobs: Sequence[tuple[Detection, CompiledSearch]]) -> dict[str, list[Requirements]]:
    """Each data set the compiled searches read, with the requirements of each search reading it
    (what ``normalize.read_datasets`` takes; ``Risk.All_Risk`` included)."""
    needs: dict[str, list[Requirements]] = {}
    for _, compiled in jobs:
        for dataset in compiled.datasets:
            needs.setdefault(dataset, []).append(compiled.requirements.get(dataset, ()))
    return needs


def start_reading(
    paths: Sequence[Path | str],
    jobs: Sequence[tuple[Detection, CompiledSearch]],
    sourcetype: str | None = None,
    stats: ReadStats | None = None,
) -> Prefetch | None:
    """Start the read :func:`run_compiled` does (``reads=``) now, so it runs while the caller
    opens the engine: its worker processes (if it uses any) come up, and a background thread
    reads ahead (the C scan holds no GIL while the engine's imports run). None without logs to
    read. ``close()`` it when done (``reader.stop_workers(MultiNormalizer)`` stops workers no
    read took)."""
    from escudo.datamodels import normalize

    needs = needs_of(jobs)
    needs.pop(RISK_DATASET, None)
    if not needs or not paths:
        return None
    inputs = [Path(p) if p != "-" else p for p in paths]
    normalize.start_reading(inputs, needs, sourcetype)
    stream = normalize.read_datasets(inputs, needs, stats=stats, sourcetype=sourcetype)
    return Prefetch(stream)


class Prefetch:
    """The items of an iterator, taken by a background thread ahead of their consumer (at most
    ``depth`` waiting): an error is raised where the consumer takes it; :meth:`close` stops the
    thread (and closes the iterator) when the consumer is done or gave up."""

    _END = object()

    def __init__(self, items: Iterator[tuple[str, pa.RecordBatch]], depth: int = 4) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="escudo-read-ahead", daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[tuple[str, pa.RecordBatch]]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
        except Exception as exc:  # the consumer's to raise
            self._put(exc)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        self._put(self._END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# Arrow bytes of rows read kept in memory and scanned in place (a view: no copy into the engine,
# whose load of 340 MB of Sysmon process rows cost 2.6-3.5 CPU-s on one thread, more than the 10
# searches that then ran over them); past it every row goes to Arrow files the engine scans (the
# memory held does not grow with the input). 1M Sysmon events of an ESCU hunt: 358 MiB.
IN_PLACE_BYTES = 384 << 20


def _load_logs(
    engine: Engine,
    paths: Sequence[Path | str],
    needs: dict[str, list[Requirements]],
    window: _Window,
    stats: ReadStats,
    sourcetype: str | None,
    reads: Iterable[tuple[str, pa.RecordBatch]] | None = None,
    presence: LiteralPresence | None = None,
    before_register: Callable[[], None] | None = None,
    spool: Path | None = None,
) -> dict[str, pa.Table]:
    """Read the inputs once into every data set of ``needs``. Rows up to ``IN_PLACE_BYTES`` are
    held and registered as they are (the engine scans them in place); past it, and with a
    ``spool`` folder (kept by the caller until the searches ran), every row goes to an Arrow file
    per data set that the engine scans (:func:`_register_spooled`; memory stays bounded).
    ``reads``: that read, already started; ``presence`` looks at every row registered;
    ``before_register`` is called before the first data set is registered. Returns the tables
    registered in place (none when the rows were spooled)."""
    from escudo.datamodels.normalize import read_datasets

    inputs = [Path(p) if p != "-" else p for p in paths]
    stream = iter(
        reads
        if reads is not None
        else read_datasets(inputs, needs, stats=stats, sourcetype=sourcetype)
    )
    held: dict[str, list[pa.RecordBatch]] = {dataset: [] for dataset in needs}
    size = 0
    past = False
    for dataset, batch in stream:
        kept = window.take(dataset, batch)
        if kept is None:
            continue
        held[dataset].append(kept)
        if presence is not None:  # while the read goes on (the thread waits for it)
            presence.add(dataset, kept)
        size += kept.nbytes
        if spool is not None and size > IN_PLACE_BYTES:
            past = True
            break
    if past:
        assert spool is not None
        files = _spool(needs, window, spool, held, stream, presence)
        _trim()
    if presence is not None:
        presence.finish()
    if before_register is not None:
        before_register()
    tables: dict[str, pa.Table] = {}
    for dataset in needs:
        window.seen.setdefault(dataset, (None, None))
        if past:
            _register_spooled(engine, dataset, files.get(dataset))
        else:
            tables[dataset] = _in_place(dataset, held.pop(dataset))
            engine.register_arrow(dataset, tables[dataset])
    return tables


def _trim() -> None:
    """Give the memory of the rows no longer held back to the system (glibc keeps freed blocks
    of its heap, where most batches from the reader's workers lie: 0.5 GB more at the peak of a
    hunt over 2M Sysmon events); nothing where the C library has no ``malloc_trim``."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is not None:
        trim(0)


def _in_place(dataset: str, batches: list[pa.RecordBatch]) -> pa.Table:
    """``batches`` as one table (batches of several sources may differ in columns: unified by
    name), or the data set's empty table."""
    if not batches:
        return empty_table(dataset)
    if all(b.schema == batches[0].schema for b in batches):
        return pa.Table.from_batches(batches)
    return pa.concat_tables(
        [pa.Table.from_batches([b]) for b in batches], promote_options="permissive"
    )


def _spool(
    needs: dict[str, list[Requirements]],
    window: _Window,
    spool: Path,
    held: dict[str, list[pa.RecordBatch]],
    stream: Iterator[tuple[str, pa.RecordBatch]],
    presence: LiteralPresence | None,
) -> dict[str, list[Path]]:
    """``held`` (clipped to the window and added to ``presence`` already) and the rest of
    ``stream`` (added to it on the way) written to Arrow IPC files in ``spool``, uncompressed
    (written and read back at memory speed: Parquet cost a hunt's 60k Endpoint.Filesystem rows
    0.28 CPU-s, IPC 0.05 s); each data set's files (a new one where a source's batches differ in
    columns)."""
    import pyarrow.ipc as ipc

    writers: dict[str, tuple[ipc.RecordBatchFileWriter, pa.Schema]] = {}
    files: dict[str, list[Path]] = {}

    def write(dataset: str, batch: pa.RecordBatch) -> None:
        writer, schema = writers.get(dataset, (None, None))
        if writer is not None and schema != batch.schema:
            writer.close()
            writer = None
        if writer is None:
            path = spool / f"{sum(len(f) for f in files.values())}.arrow"
            files.setdefault(dataset, []).append(path)
            writer = ipc.new_file(path, batch.schema)
            writers[dataset] = (writer, batch.schema)
        writer.write_batch(batch)

    try:
        for dataset in needs:
            batches = held.pop(dataset)[::-1]
            while batches:  # each let go once written
                write(dataset, batches.pop())
        for dataset, batch in stream:
            kept = window.take(dataset, batch)
            if kept is not None:
                if presence is not None:
                    presence.add(dataset, kept)
                write(dataset, kept)
    finally:
        for writer, _ in writers.values():
            writer.close()
    return files


def _register_spooled(engine: Engine, dataset: str, files: list[Path] | None) -> None:
    """The Arrow files of ``dataset`` (:func:`_spool`) as its rows: scanned where they are by an
    engine that can (DuckDB's ``register_arrow_files``), else read back a batch at a time."""
    if not files:
        engine.register_arrow(dataset, empty_table(dataset))
        return
    register_files = getattr(engine, "register_arrow_files", None)
    if register_files is not None:
        register_files(dataset, files)
        return
    engine.register_arrow(dataset, _read_back(files))


def _read_back(files: list[Path]) -> Iterator[pa.RecordBatch]:
    """The batches of Arrow IPC ``files``, read (not memory-mapped): one at a time in memory."""
    import pyarrow.ipc as ipc

    for path in files:
        with pa.OSFile(str(path), "rb") as file, ipc.open_file(file) as spooled:
            for i in range(spooled.num_record_batches):
                yield spooled.get_batch(i)


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
    sourcetype: str | None = None,
    events: Path | None = None,
) -> list[DetectionResult]:
    """Run ``detections`` (default: every content detection whose datasets the inputs feed) over ``paths``.

    A default-set detection that does not compile is skipped and ``warn`` told why; nothing is printed.

    >>> from escudo.content.loader import load_content
    >>> hunt(["tests/fixtures/empty.log"], content=load_content())  # doctest: +SKIP
    [DetectionResult(...), ...]
    """
    jobs = compile_jobs(content, detections, warn=warn, earliest=earliest, latest=latest, now=now)
    if events is not None:
        jobs = store_jobs(jobs, named=bool(detections), warn=warn, events=events)
    return run_compiled(
        paths,
        jobs,
        earliest=earliest,
        latest=latest,
        stats=stats,
        engine=engine,
        store=store,
        sourcetype=sourcetype,
        events=events,
    )


def store_jobs(
    jobs: Sequence[tuple[Detection, CompiledSearch]],
    *,
    named: bool = False,
    warn: Callable[[str], None] | None = None,
    events: Path | None = None,
) -> list[tuple[Detection, CompiledSearch]]:
    """The jobs to run over the store ``events``: all of them, the searches over raw events too
    (the store keeps the raw events ``escudo ingest --raw-events`` chose); ``warn`` is told of
    each raw search that reads a sourcetype whose raw events the store lacks for some input
    (``named`` is kept for callers; a named detection is warned of as well)."""
    if events is None or warn is None:
        return list(jobs)
    for detection, compiled in jobs:
        message = raw_gap_warning(compiled, events)
        if message is not None:
            warn(f"{detection.name!r} {message}")
    return list(jobs)


def raw_sourcetypes(jobs: Iterable[tuple[Detection, CompiledSearch]]) -> frozenset[str]:
    """The sourcetypes (of the sources that give raw events) whose raw events the raw searches
    among ``jobs`` may read: what ``escudo ingest --raw-events auto`` keeps for them.

    >>> from escudo.compile import compile_search
    >>> from escudo.content.model import Detection
    >>> d = Detection(name="d", id="", search="", type="TTP", status="production")
    >>> sorted(raw_sourcetypes([(d, compile_search("sourcetype=linux:audit type=EXECVE"))]))
    ['linux:audit']
    >>> sorted(raw_sourcetypes([(d, compile_search("| tstats count from datamodel=Endpoint.Processes"))]))
    []
    """
    from escudo.datamodels.normalize import reads_sourcetype
    from escudo.sources.base import RawEventSource
    from escudo.sources.registry import SOURCES

    raw = [c.requirements.get(RAW_EVENTS, ()) for _, c in jobs if RAW_EVENTS in c.datasets]
    return frozenset(
        name
        for name, source in SOURCES.items()
        if isinstance(source, RawEventSource) and any(reads_sourcetype(name, r) for r in raw)
    )


def content_raw_sourcetypes(
    content: ContentSet, cache: CompileCache | None = None
) -> frozenset[str]:
    """:func:`raw_sourcetypes` of every detection of ``content`` that starts from events (its
    search does not begin with ``|``: ``| tstats``, ``| from datamodel`` read data models); a
    detection that does not compile reads nothing. ``cache``: compiled detections on disk."""
    candidates = [d for d in select_detections(content) if not d.search.lstrip().startswith("|")]
    return raw_sourcetypes(compile_default_set(content, candidates, cache=cache))


def raw_gap_warning(compiled: CompiledSearch, events: Path) -> str | None:
    """Why ``compiled`` (a raw search) misses events over the store ``events``: the inputs of
    the sourcetypes it reads that were ingested without their raw events; None when none was
    (or it reads no raw events)."""
    from escudo.datamodels.normalize import reads_sourcetype
    from escudo.store.read import raw_gaps

    if RAW_EVENTS not in compiled.datasets:
        return None
    requirements = compiled.requirements.get(RAW_EVENTS, ())
    gaps = {
        st: n
        for st, n in raw_gaps(events).items()
        if st is None or reads_sourcetype(st, requirements)
    }
    if not gaps:
        return None
    names = ", ".join(sorted(st or "unknown sourcetypes" for st in gaps))
    return NO_RAW_IN_STORE.format(sourcetypes=names, inputs=sum(gaps.values()))


def compile_jobs(
    content: ContentSet,
    detections: Sequence[Detection] | None = None,
    *,
    warn: Callable[[str], None] | None = None,
    earliest: datetime | None = None,
    latest: datetime | None = None,
    now: datetime | None = None,
    cache: CompileCache | None = None,
) -> list[tuple[Detection, CompiledSearch]]:
    """What :func:`hunt` runs: ``detections`` compiled (an error stops), or by default every
    content detection whose datasets the inputs feed (one that does not compile is skipped,
    ``warn`` told why). ``cache``: compiled detections kept on disk (``compile.cache``), used
    when there are no window bounds."""
    if detections:
        return [(d, _compile(d, content, earliest, latest, now, cache)) for d in detections]
    return compile_default_set(
        content,
        select_detections(content),
        warn=warn,
        earliest=earliest,
        latest=latest,
        now=now,
        cache=cache,
    )


def _compile(
    detection: Detection,
    content: ContentSet,
    earliest: datetime | None,
    latest: datetime | None,
    now: datetime | None,
    cache: CompileCache | None,
) -> CompiledSearch:
    if cache is not None and earliest is None and latest is None:
        return cache.compile(detection, content, now=now)
    return compile_detection(detection, content, earliest=earliest, latest=latest, now=now)


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
    sourcetype: str | None = None,
    events: Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> DetectionResult:
    """Run one ad-hoc SPL search over ``paths`` (macros from ``content``; ``Risk.All_Risk`` from
    ``store``); over the store ``events``, ``warn`` is told when it lacks raw events the search
    reads.

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
    if events is not None and warn is not None:
        message = raw_gap_warning(compiled, events)
        if message is not None:
            warn(f"the search {message}")
    adhoc = Detection(name="search", id="", search=spl, type="Hunting", status="experimental")
    return run_compiled(
        paths,
        [(adhoc, compiled)],
        earliest=earliest,
        latest=latest,
        stats=stats,
        engine=engine,
        store=store,
        sourcetype=sourcetype,
        events=events,
    )[0]
