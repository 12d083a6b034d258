"""The library session: one object holds a run's configuration and does the work.

As ``httpx.Client`` holds what every request shares, a :class:`Session` holds what every run shares
(content folders, the detections chosen, the time window with ``now`` pinned, the engine, the store,
the identity and asset lookups, the ATT&CK table, a HEC sender) and runs hunts and searches over
inputs. It returns what a run produced (:class:`HuntRun`, :class:`SearchRun`): result tables, risk
events, findings, the read statistics and the warnings. It never prints; ``escudo hunt`` and
``escudo search`` only map their options to a session and render what it returns.

>>> from datetime import UTC, datetime
>>> session = Session(earliest="-1d@d", now=datetime(2024, 3, 12, 8, 0, tzinfo=UTC))
>>> session.earliest.isoformat(), session.latest
('2024-03-11T00:00:00+00:00', None)

This module is private; its names are exported by :mod:`escudo` (``escudo.Session``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escudo.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from escudo.compile import CompiledSearch
    from escudo.content.model import ContentSet, Detection
    from escudo.detect.identity import IdentityResolver
    from escudo.detect.result import DetectionResult, EmitKind
    from escudo.outputs.hec import HecSender, SendReport
    from escudo.sources.base import ReadStats

# An input: a file, a directory, a .gz file, or "-" (stdin).
Input = str | os.PathLike[str]


def parse_time(value: str | datetime | None, now: datetime, *, name: str) -> datetime | None:
    """A window bound as a UTC datetime: a Splunk time modifier relative to ``now`` (``-24h``,
    ``-7d@d``, ``01/31/2024:00:00:00``), an ISO 8601 time (naive means UTC) or a datetime.
    ``name`` starts the message of the :class:`InputError` a bad value raises.

    >>> now = datetime(2024, 3, 12, 8, 30, tzinfo=UTC)
    >>> parse_time("-1h@h", now, name="earliest").isoformat()
    '2024-03-12T07:00:00+00:00'
    >>> parse_time("2024-03-11T09:15", now, name="latest").isoformat()
    '2024-03-11T09:15:00+00:00'
    >>> parse_time("soon", now, name="latest")
    Traceback (most recent call last):
    escudo.errors.InputError: latest: invalid time modifier 'soon' ...
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    from escudo.compile.timefmt import parse_time_modifier

    try:
        return parse_time_modifier(value, now)
    except InputError as exc:
        try:  # escudo also takes ISO 8601 (naive means UTC)
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{name}: {exc.message}") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass
class SearchRun:
    """What :meth:`Session.search` produced: the search's rows, the read statistics, warnings."""

    result: DetectionResult
    stats: ReadStats
    warnings: list[str] = field(default_factory=list)

    @property
    def table(self) -> pa.Table:
        """The result rows, the search's output fields first."""
        return self.result.table()


@dataclass
class HuntRun:
    """What :meth:`Session.hunt` produced.

    ``results`` holds one :class:`~escudo.detect.result.DetectionResult` per detection run (also
    those with no rows); ``stats`` counts what the read saw (events, skipped lines, malformed
    records, with the first problems located); ``warnings`` says which detections were left out
    and why. Risk events and findings are made on first use (or by the hunt, with a store).
    """

    results: list[DetectionResult]
    stats: ReadStats
    warnings: list[str] = field(default_factory=list)
    _emit: Callable[[], dict[EmitKind, list[dict[str, Any]]]] | None = field(
        default=None, repr=False, compare=False
    )
    _emitted: dict[EmitKind, list[dict[str, Any]]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def tables(self) -> dict[str, pa.Table]:
        """Result rows by detection name, each search's output fields first."""
        return {r.detection.name: r.table() for r in self.results}

    @property
    def risk_events(self) -> list[dict[str, Any]]:
        """The risk events of the results (one per result row and risk object), as ES writes them."""
        return self.emitted()["risk"]

    @property
    def findings(self) -> list[dict[str, Any]]:
        """TTP findings of these results and the risk incident findings their risk events feed."""
        return self.emitted()["findings"]

    def emitted(self) -> dict[EmitKind, list[dict[str, Any]]]:
        """Result rows (``{"detection": name, **row}``), risk events and findings, by kind."""
        if self._emitted is None:
            from escudo.detect.emit import emit_all

            self._emitted = self._emit() if self._emit is not None else emit_all(self.results)
        return self._emitted


class Session:
    """Run ESCU detections and ad-hoc SPL over log files, without printing.

    ``content_dirs``: folders of user content (detections, macros, lookups) added to the shipped
    ESCU content. ``detections``: names, ids or YAML files to run (default: every detection the
    inputs feed; one that does not compile is left out with a warning). ``earliest``/``latest``:
    the time window (Splunk time modifiers, ISO 8601 or datetimes; ``latest`` exclusive),
    relative ones anchored at ``now`` (default: when the session was made; naive means UTC),
    which also anchors the searches' own relative times. ``engine``: a name in
    ``escudo.engines.ENGINES``. ``store``: the store directory :meth:`hunt` keeps results, risk events
    and findings in, and ``Risk.All_Risk`` is read from (default: read the user's store, keep
    nothing). ``identities``/``assets``: ES lookup CSVs that merge aliases into
    ``normalized_risk_object``. ``attack_stix``: a MITRE enterprise-attack.json used instead of
    the bundled ATT&CK table. ``hec``: a sender :meth:`deliver` sends risk events and findings
    through. ``compile_cache``: keep compiled detections in the user's cache folder, so the next
    hunt compiles nothing (``escudo.compile.cache``; not with ``earliest``/``latest``). The README's "Library" section runs a hunt and a search on the bundled sample.

    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
    >>> run = Session(detections=["Linux Ngrok Reverse Proxy Usage"]).hunt([sample])
    >>> run.tables["Linux Ngrok Reverse Proxy Usage"].num_rows, run.stats.events
    (4, 8)
    """

    def __init__(
        self,
        *,
        content_dirs: Sequence[str | os.PathLike[str]] = (),
        detections: Sequence[str] = (),
        earliest: str | datetime | None = None,
        latest: str | datetime | None = None,
        now: datetime | None = None,
        engine: str = "duckdb",
        store: str | os.PathLike[str] | None = None,
        identities: str | os.PathLike[str] | None = None,
        assets: str | os.PathLike[str] | None = None,
        attack_stix: str | os.PathLike[str] | None = None,
        hec: HecSender | None = None,
        sourcetype: str | None = None,
        engine_settings: Mapping[str, Any] | None = None,
        compile_cache: bool = True,
    ) -> None:
        if now is None:
            now = datetime.now(UTC)
        self.now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        self.earliest = parse_time(earliest, self.now, name="earliest")
        self.latest = parse_time(latest, self.now, name="latest")
        self.content_dirs = [Path(d) for d in content_dirs]
        self.detection_refs = list(detections)
        self.engine = engine
        self.engine_settings = dict(engine_settings or {})  # Spark: master, config
        self.store = Path(store) if store is not None else None
        self.attack_stix = Path(attack_stix) if attack_stix is not None else None
        self.hec = hec
        self.sourcetype = sourcetype  # None: each file's source, sniffed from its content
        self.compile_cache = compile_cache  # hunts keep compiled detections on disk (compile.cache)
        # Files checked now, before a (maybe long) run.
        self.identities: IdentityResolver | None = None
        if identities is not None or assets is not None:
            from escudo.detect.identity import IdentityResolver

            self.identities = IdentityResolver.from_csv(
                Path(identities) if identities is not None else None,
                Path(assets) if assets is not None else None,
            )
        self._content: ContentSet | None = None

    @property
    def content(self) -> ContentSet:
        """The shipped content plus ``content_dirs`` (loaded on first use)."""
        if self._content is None:
            from escudo.content.loader import load_content

            self._content = load_content(self.content_dirs)
        return self._content

    def selected(self) -> list[Detection] | None:
        """The detections ``detections`` names, or ``None`` for the default set."""
        if not self.detection_refs:
            return None
        from escudo.detect.hunt import select_detections

        return select_detections(self.content, self.detection_refs)

    def compile(self, warnings: list[str] | None = None) -> list[tuple[Detection, CompiledSearch]]:
        """The detections compiled once for many hunts (``hunt(inputs, compiled=...)``, as
        ``escudo watch`` runs every batch): the ones ``detections`` names, else the default set
        (a detection that does not compile is left out and ``warnings`` told why)."""
        from escudo.detect.hunt import compile_default_set, compile_detection, select_detections

        chosen = self.selected()
        if chosen is not None:
            return [(d, compile_detection(d, self.content, now=self.now)) for d in chosen]
        return compile_default_set(
            self.content,
            select_detections(self.content),
            warn=warnings.append if warnings is not None else None,
            now=self.now,
        )

    def hunt(
        self,
        inputs: Sequence[Input],
        *,
        compiled: Sequence[tuple[Detection, CompiledSearch]] | None = None,
    ) -> HuntRun:
        """Run the detections over ``inputs`` (files, folders, ``.gz`` files, ``"-"``); with no
        inputs, over the events of the ``store`` (``escudo ingest``). ``compiled``: the
        detections :meth:`compile` made (default: compiled for this hunt).

        Each CIM data set is read once for every detection. With a ``store``, results, risk
        events and findings are kept in it before this returns.
        """
        from escudo.compile.cache import CompileCache
        from escudo.datamodels.normalize import MultiNormalizer
        from escudo.detect.attack import stix_in_use
        from escudo.detect.hunt import compile_jobs, run_compiled, start_reading, store_jobs
        from escudo.detect.store import Store
        from escudo.sources.base import ReadStats
        from escudo.sources.reader import stop_workers

        detections = self.selected()
        stats = ReadStats()
        warnings: list[str] = []
        events = self.store if not inputs else None
        paths = [os.fspath(i) for i in inputs]
        jobs = (
            list(compiled)
            if compiled is not None
            else compile_jobs(
                self.content,
                detections,
                warn=warnings.append,
                earliest=self.earliest,
                latest=self.latest,
                now=self.now,
                cache=CompileCache.default() if self.compile_cache else None,
            )
        )
        if events is not None:
            jobs = store_jobs(jobs, named=bool(detections), warn=warnings.append, events=events)
        # The read starts now and runs while the engine opens: big inputs are read by worker
        # processes (none for a selective hunt, read in threads), which come up meanwhile.
        reads = start_reading(paths, jobs, self.sourcetype, stats)
        try:
            from escudo.engines import new_engine

            settings = dict(self.engine_settings)
            if events is not None:  # (store.read imports sqlglot, which a cached hunt avoids)
                from escudo.store.read import engine_settings

                settings |= engine_settings(self.engine, events)
            with (
                stix_in_use(self.attack_stix),
                new_engine(self.engine, **settings) as engine,
            ):
                results = run_compiled(
                    paths,
                    jobs,
                    earliest=self.earliest,
                    latest=self.latest,
                    stats=stats,
                    engine=engine,
                    store=Store(self.store),
                    sourcetype=self.sourcetype,
                    events=events,
                    reads=reads,
                )
        finally:
            if reads is not None:
                reads.close()
            stop_workers(MultiNormalizer)
        run = HuntRun(results, stats, warnings, self._emitter(results))
        if self.store is not None:
            run.emitted()  # kept now: a store is written by the hunt, not by reading the run
        return run

    def search(self, spl: str, inputs: Sequence[Input]) -> SearchRun:
        """Run one ad-hoc SPL search over ``inputs`` (macros and lookups from the content;
        ``Risk.All_Risk`` from the store); with no inputs, over the events of the ``store``."""
        from escudo.datamodels.normalize import Normalizer
        from escudo.sources.reader import workers_started

        with workers_started(inputs, Normalizer):
            from escudo.detect.hunt import search
            from escudo.detect.store import Store
            from escudo.engines import new_engine
            from escudo.sources.base import ReadStats
            from escudo.store.read import engine_settings

            stats = ReadStats()
            warnings: list[str] = []
            events = self.store if not inputs else None
            settings = {**self.engine_settings, **engine_settings(self.engine, events)}
            with new_engine(self.engine, **settings) as engine:
                result = search(
                    spl,
                    [os.fspath(i) for i in inputs],
                    content=self.content,
                    earliest=self.earliest,
                    latest=self.latest,
                    now=self.now,
                    stats=stats,
                    engine=engine,
                    store=Store(self.store),
                    sourcetype=self.sourcetype,
                    events=events,
                    warn=warnings.append,
                )
        return SearchRun(result, stats, warnings)

    def deliver(self, run: HuntRun) -> SendReport:
        """Send ``run``'s risk events and findings through the session's HEC sender (events not
        delivered stay spooled for the next send; see ``SendReport.gave_up``)."""
        if self.hec is None:
            raise InputError("no HEC sender: make the session with hec=HecSender(...)")
        return self.hec.send([*run.risk_events, *run.findings])

    def _emitter(
        self, results: list[DetectionResult]
    ) -> Callable[[], dict[EmitKind, list[dict[str, Any]]]]:
        def emit() -> dict[EmitKind, list[dict[str, Any]]]:
            from escudo.detect.attack import stix_in_use
            from escudo.detect.emit import emit_all

            with stix_in_use(self.attack_stix):
                return emit_all(results, store_path=self.store, identities=self.identities)

        return emit
