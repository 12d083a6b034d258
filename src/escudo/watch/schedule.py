"""``escudo watch --schedule``: each detection on its ESCU schedule over the store, with ES-style
suppression (docs/semantics.md, "escudo watch --schedule").

What arrives is ingested into the store every ``interval`` seconds (one batch, committed with the
inputs' checkpoints, as micro-batches are). A detection's schedule is its YAML's
``deployment.scheduling`` (``cron_schedule``, ``earliest_time``, ``latest_time``), else
contentctl's default for every ESCU detection type: ``0 * * * *`` over ``[-70m@m, -10m@m)``
(security_content ``deployments/``, escu-semantics.md 5.2). A run scheduled at T searches the
store's events whose ``_time`` (event time) is in ``[T+earliest, T+latest)``, as Splunk's
dispatch window. Every scheduled time is run once, late ones caught up in order
(``realtime_schedule = 0``, ES' continuous scheduling, the value contentctl writes).

Suppression (``alert.suppress``): rows whose suppression fields' values alerted within the
period before are dropped before any output, risk event or finding. Fields and period come from
the YAML's ``tags.throttling`` / ``throttling`` (``fields``, ``period`` like ``86400s``), else
every result field but ``count``, ``firstTime``, ``lastTime`` (the ``by`` key) for the length
of the search window.

>>> Cron("*/15 9-17 * * 1-5").matches(datetime(2024, 3, 11, 9, 45, tzinfo=UTC))
True
>>> [t.strftime("%H:%M") for t in Cron("0 * * * *").times(
...     datetime(2024, 3, 11, 9, 30, tzinfo=UTC), datetime(2024, 3, 11, 11, 0, tzinfo=UTC))]
['10:00', '11:00']
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escudo.errors import ContentError
from escudo.watch.loop import Runner, WatchLoop
from escudo.watch.state import Commit, OpenBatch, StateDir

if TYPE_CHECKING:
    from escudo._session import HuntRun
    from escudo.content.model import Detection
    from escudo.detect.result import DetectionResult
    from escudo.watch.base import WatchInput
    from escudo.watch.outputs import WatchOutput

DEFAULT_CRON = "0 * * * *"  # contentctl deployments: TTP, Anomaly, Hunting, Correlation
DEFAULT_EARLIEST = "-70m@m"
DEFAULT_LATEST = "-10m@m"
UNKEYED = ("count", "firstTime", "lastTime", "_time")
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


class Cron:
    """A five-field cron expression (minute hour day month weekday; ``*``, lists, ranges and
    ``/step``; Sunday is 0 or 7), as Splunk's ``cron_schedule`` reads it, in UTC."""

    def __init__(self, text: str) -> None:
        parts = text.split()
        if len(parts) != 5:
            raise ContentError(f"cron_schedule {text!r}: expected 5 fields")
        self.text = text
        self.sets = [
            _cron_field(part, low, high, text)
            for part, (_, low, high) in zip(parts, _FIELDS, strict=True)
        ]
        self.sets[4] = {0 if d == 7 else d for d in self.sets[4]}
        # cron: when both day of month and day of week are restricted, either may match
        self.day_or_weekday = parts[2] != "*" and parts[4] != "*"

    def matches(self, moment: datetime) -> bool:
        minute, hour, day, month, weekday = self.sets
        if moment.minute not in minute or moment.hour not in hour or moment.month not in month:
            return False
        on_day = moment.day in day
        on_weekday = (moment.isoweekday() % 7) in weekday
        return (on_day or on_weekday) if self.day_or_weekday else (on_day and on_weekday)

    def times(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every scheduled minute in ``(after, until]``."""
        moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while moment <= until:
            if self.matches(moment):
                yield moment
            moment += timedelta(minutes=1)


def _cron_field(part: str, low: int, high: int, text: str) -> set[int]:
    values: set[int] = set()
    for item in part.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
        if not match:
            raise ContentError(f"cron_schedule {text!r}: cannot read {item!r}")
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (int(x) for x in span.split("-"))
        else:
            start = end = int(span)
            if match.group(2):
                end = high
        if step < 1 or start < low or end > (7 if high == 6 else high) or start > end:
            raise ContentError(f"cron_schedule {text!r}: {item!r} out of range")
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Schedule:
    """When and over which window one detection runs, and how its alerts are suppressed."""

    cron: Cron
    earliest: str
    latest: str
    suppress_fields: tuple[str, ...] | None  # None: the result's own key fields
    suppress_seconds: float | None  # None: the window's length

    def window(self, at: datetime) -> tuple[datetime, datetime]:
        from escudo.compile.timefmt import parse_time_modifier

        return parse_time_modifier(self.earliest, at), parse_time_modifier(self.latest, at)


def schedule_of(detection: Detection) -> Schedule:
    """``detection``'s schedule from its YAML (``deployment.scheduling``, ``throttling``), else
    the documented defaults."""
    raw = detection.raw or {}
    deployment = raw.get("deployment") or {}
    scheduling = (deployment.get("scheduling") if isinstance(deployment, dict) else None) or {}
    tags = raw.get("tags") if isinstance(raw.get("tags"), dict) else {}
    throttling = raw.get("throttling") or (tags or {}).get("throttling") or {}
    fields = throttling.get("fields") if isinstance(throttling, dict) else None
    period = throttling.get("period") if isinstance(throttling, dict) else None
    return Schedule(
        Cron(str(scheduling.get("cron_schedule", DEFAULT_CRON))),
        str(scheduling.get("earliest_time", DEFAULT_EARLIEST)),
        str(scheduling.get("latest_time", DEFAULT_LATEST)),
        tuple(str(f) for f in fields) if fields else None,
        _seconds(period) if period is not None else None,
    )


def _seconds(period: Any) -> float:
    """``86400s``, ``60m``, ``1h``, ``1d`` or a number of seconds (savedsearches.conf
    ``alert.suppress.period``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(period))
    if not match:
        raise ContentError(f"throttling period {period!r}: expected e.g. 86400s, 60m, 1h, 1d")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * unit


def suppression_key(detection: str, row: dict[str, Any], fields: Sequence[str] | None) -> str:
    names = fields if fields is not None else sorted(k for k in row if k not in UNKEYED)
    return "\x1f".join([detection, *(f"{n}={row.get(n)!r}" for n in names)])


class ScheduleLoop(WatchLoop):
    """Ingest what arrives into the store; run each detection when its schedule says."""

    def __init__(
        self,
        inputs: Sequence[WatchInput],
        runner: Runner,
        outputs: Sequence[WatchOutput],
        state: StateDir,
        *,
        interval: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(inputs, runner, outputs, state, interval=interval)
        self.clock = clock or (lambda: datetime.now(UTC))
        store = runner.session.store
        if store is None:
            raise ContentError("--schedule runs detections over the store: give --store DIR")
        self.store: Path = store

    def step(self) -> bool:
        """Ingest one batch if lines arrived, then run the first scheduled search that is due;
        True when something committed."""
        done = False
        if self._open is None:
            self._open = self._poll()
        if self._open is not None and self._open.files:
            self._ingest(self._open)
            done = True
        due = self._open if self._open is not None else self._due()
        if due is not None:
            self._run_scheduled(due)
            done = True
        return done

    def _new_file(self, index: int) -> Path:
        """An empty spool file whose inode no ingest checkpoint of the store names.

        Ingest knows a file by device, inode and first bytes; a batch file is removed at commit
        and the file system hands its inode to the next one at once, so a next batch starting
        with the same bytes would be taken for the old file and skipped. Files that would be are
        kept (empty, unnamed in the manifest, dropped with the batch) while another is made."""
        from escudo.store.ingest import read_checkpoints
        from escudo.store.layout import StoreLayout

        known = set(read_checkpoints(StoreLayout(self.store)).get("inputs", {}))
        attempt = 0
        while True:
            path = self.state.new_batch_file(index).with_name(f"{index}-{attempt}.log")
            path.write_bytes(b"")
            st = os.stat(path)
            if f"{st.st_dev}:{st.st_ino}" not in known:
                return path
            attempt += 1

    def _ingest(self, batch: OpenBatch) -> None:
        from escudo.detect.hunt import raw_sourcetypes
        from escudo.store.ingest import ingest

        began = time.monotonic()
        # A repeat after a crash adds nothing: ingest's checkpoint of the spooled file (same
        # device, inode and first bytes) already covers what its commit added. The raw events
        # the detections' raw searches read are kept too (ingest --raw-events auto).
        paths = [path for path, _ in batch.files]
        raw = raw_sourcetypes(self.runner.jobs)
        report = ingest(paths, self.store, progress=False, raw_events=raw)
        self._commit_batch(batch, {})
        self.status.events += report.events
        self._note(batch, began, report.events)

    def _due(self) -> OpenBatch | None:
        """The next scheduled run whose time has come, opened (its record kept)."""
        now = self.clock()
        last = self._commit.extra.get("schedule", {})
        started = self._commit.extra.get("started") or now.isoformat()
        best: tuple[datetime, str] | None = None
        for detection, _ in self.runner.jobs:
            after = datetime.fromisoformat(last.get(detection.name, started))
            first = next(schedule_of(detection).cron.times(after, now), None)
            if first is not None and (best is None or first < best[0]):
                best = (first, detection.name)
        if best is None:
            if "started" not in self._commit.extra:  # the first start: schedules begin now
                self._commit.extra["started"] = started
            return None
        at = best[0]
        names = [
            d.name
            for d, _ in self.runner.jobs
            if schedule_of(d).cron.matches(at)
            and datetime.fromisoformat(last.get(d.name, started)) < at
        ]
        batch = OpenBatch(
            self._commit.batch + 1,
            {},
            [],
            0,
            datetime.now(UTC).isoformat(),
            {"scheduled": at.isoformat(), "detections": names, "started": started},
        )
        self.state.open(batch)
        return batch

    def _run_scheduled(self, batch: OpenBatch) -> None:
        began = time.monotonic()
        at = datetime.fromisoformat(batch.extra["scheduled"])
        names = set(batch.extra["detections"])
        jobs = [(d, c) for d, c in self.runner.jobs if d.name in names]
        suppressed = dict(self._commit.extra.get("suppressed", {}))
        results: list[DetectionResult] = []
        for detection, _ in jobs:
            results += self._search(detection, at)
        kept, suppressed = suppress(results, at, suppressed)
        run = self._hunt_run(kept)
        for output in self.outputs:
            output.deliver(batch.batch, run)
        last = dict(self._commit.extra.get("schedule", {}))
        last.update({name: at.isoformat() for name in names})
        # Expired suppressions go (the table holds only what still suppresses).
        live = {k: v for k, v in suppressed.items() if v > at.timestamp()}
        self._commit_batch(
            batch,
            {"schedule": last, "suppressed": live, "started": batch.extra.get("started")},
        )
        self.status.results += sum(r.rows.num_rows for r in kept)
        self._note(batch, began, 0)

    def _search(self, detection: Detection, at: datetime) -> list[DetectionResult]:
        from escudo.detect.hunt import compile_detection, run_compiled
        from escudo.detect.store import Store
        from escudo.engines import new_engine
        from escudo.sources.base import ReadStats
        from escudo.store.layout import MARKER
        from escudo.store.read import engine_settings

        if not (self.store / MARKER).is_file():  # nothing ingested yet: no events to search
            return []
        session = self.runner.session
        earliest, latest = schedule_of(detection).window(at)
        compiled = compile_detection(
            detection, session.content, earliest=earliest, latest=latest, now=at
        )
        settings = {**session.engine_settings, **engine_settings(session.engine, self.store)}
        with new_engine(session.engine, **settings) as engine:
            return run_compiled(
                [],
                [(detection, compiled)],
                earliest=earliest,
                latest=latest,
                stats=ReadStats(),
                engine=engine,
                store=Store(self.store),
                events=self.store,
            )

    def _hunt_run(self, results: list[DetectionResult]) -> HuntRun:
        from escudo._session import HuntRun
        from escudo.detect.emit import emit_all
        from escudo.sources.base import ReadStats

        store = self.store
        session = self.runner.session
        return HuntRun(
            results,
            ReadStats(),
            [],
            lambda: emit_all(results, store_path=store, identities=session.identities),
        )

    def _commit_batch(self, batch: OpenBatch, extra: dict[str, Any]) -> None:
        commit = Commit(
            batch.batch,
            {**self._commit.inputs, **batch.inputs},
            {output.name: output.position() for output in self.outputs},
            datetime.now(UTC).isoformat(),
            {**self._commit.extra, **extra},
        )
        self.state.commit(commit)
        self._commit, self._open = commit, None
        for output in self.outputs:
            output.committed()
        for watched in self.inputs:
            release = getattr(watched, "release", None)
            if release is not None:
                release(commit.inputs.get(watched.name))

    def _note(self, batch: OpenBatch, began: float, events: int) -> None:
        status = self.status
        status.batches += 1
        status.last_batch = batch.batch
        status.last_batch_at = time.time()
        status.last_batch_seconds = time.monotonic() - began
        status.last_batch_events = events
        self.write_status()


def suppress(
    results: list[DetectionResult], at: datetime, suppressed: dict[str, float]
) -> tuple[list[DetectionResult], dict[str, float]]:
    """The results without rows suppressed at ``at``, and the suppression table (key -> until,
    Unix time) with the kept rows' keys added."""
    import pyarrow as pa

    table = dict(suppressed)
    kept: list[DetectionResult] = []
    now = at.timestamp()
    for result in results:
        schedule = schedule_of(result.detection)
        earliest, latest = schedule.window(at)
        period = schedule.suppress_seconds
        if period is None:
            period = (latest - earliest).total_seconds()
        keep = []
        for index, row in enumerate(result.records()):
            key = suppression_key(result.detection.name, row, schedule.suppress_fields)
            if table.get(key, 0.0) > now:
                continue
            table[key] = now + period
            keep.append(index)
        rows = result.rows.take(pa.array(keep, pa.int64()))
        kept.append(
            type(result)(
                result.detection, result.compiled, rows, result.info_min_time, result.info_max_time
            )
        )
    return kept, table
