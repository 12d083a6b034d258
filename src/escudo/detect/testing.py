"""``escudo test``: run each detection's ``tests:`` on attack data and judge them as contentctl does.

Rules (``../shared/reference/escu-semantics.md`` section 5.1, contentctl v5.6.0
``DetectionTestingInfrastructure.py``):

* each ``attack_data.data`` URL is resolved to a local file, never fetched (:func:`resolve_attack_data`);
* the file is read with the source its ``sourcetype``/``source`` names; ``update_timestamp`` shifts event
  times so the newest event is now (see ``docs/semantics.md``, "escudo test and validate");
* the search runs over all time, with the detection's filter macro as ``search *`` (user filter
  macros are ignored, as contentctl's test app builds them);
* PASS iff at least one result, every risk-object field present and not ``"null"`` in every result, and
  every threat-object field non-null in at least one result (:func:`judge`); Hunting detections pass with
  any result; escudo's negative tests (``expect: none``) pass iff there is no result;
* SKIP for ``manual_test``, non-production, Correlation and Baseline detections; ERROR on exceptions.

>>> from escudo.content.loader import load_content
>>> content = load_content()
>>> report = run_tests([content.detections["Linux Ngrok Reverse Proxy Usage"]], content=content)
>>> report.success
True
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from escudo.content.loader import is_file
from escudo.content.model import AttackData, ContentSet, Detection, DetectionTest
from escudo.detect.hunt import compile_detection, empty_table
from escudo.errors import ContentError, EscudoError, InputError
from escudo.sources.base import ReadStats

if TYPE_CHECKING:
    from escudo.compile import CompiledSearch

Status = Literal["pass", "fail", "error", "skip"]

BUNDLED_ATTACK_DATA = Path(__file__).resolve().parent.parent / "data" / "attack_data"

# A ``%XX`` escape left after decoding once: the URL was encoded twice (``%252e%252e%252f``).
PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")

# Where Splunk's attack_data repository paths start in a test URL (raw, media and LFS URLs alike).
ATTACK_DATA_MARKER = "/attack_data/master/"

# Splunk ``source`` -> sourcetype, for tests that name only the source (data_sources/*.yml).
SOURCE_SOURCETYPES: dict[str, str] = {
    "Syslog:Linux-Sysmon/Operational": "sysmon:linux",
    "/var/log/audit/audit.log": "linux:audit",
}

# contentctl skips these detection types (Correlation) or cannot run them (Baseline).
SKIPPED_TYPES = frozenset({"Correlation", "Baseline"})


@dataclass
class TestResult:
    """One ``tests[]`` entry's outcome (contentctl's UnitTestResult fields, snake_cased where noted)."""

    __test__ = False  # not a pytest class

    name: str
    test_type: str = "unit"
    status: Status = "pass"
    message: str = ""
    exception: str | None = None
    duration: float = 0.0
    result_count: int | None = None
    expect: str = "results"
    attack_data: tuple[str, ...] = ()  # resolved local files

    @property
    def success(self) -> bool:
        return self.status in ("pass", "skip")


@dataclass
class DetectionTestResult:
    """A detection and the outcome of each of its tests."""

    detection: Detection
    tests: list[TestResult] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """contentctl: FAIL if any test failed or errored, SKIP if all skipped, else PASS."""
        statuses = {t.status for t in self.tests}
        if statuses & {"fail", "error"}:
            return "fail"
        if not statuses or statuses == {"skip"}:
            return "skip"
        return "pass"

    @property
    def duration(self) -> float:
        return sum(t.duration for t in self.tests)


@dataclass
class TestReport:
    """Everything one ``escudo test`` run produced."""

    __test__ = False

    detections: list[DetectionTestResult] = field(default_factory=list)
    mode: str = "selected"
    duration: float = 0.0

    @property
    def tests(self) -> list[TestResult]:
        return [t for d in self.detections for t in d.tests]

    @property
    def success(self) -> bool:
        """True when every test passed or was skipped (exit code 0)."""
        return all(t.success for t in self.tests)

    def count(self, status: Status) -> int:
        return sum(t.status == status for t in self.tests)


def resolve_attack_data(
    url: str,
    attack_data_dirs: Sequence[Path] = (),
    *,
    base: Path | None = None,
    origin: str | None = None,
    line: int | None = None,
) -> Path:
    """The local file for an ``attack_data.data`` entry; never the network, never outside its tree.

    A URL into splunk/attack_data maps to its path after ``/attack_data/master/`` (percent-decoded
    once, as a web server would) under each of ``attack_data_dirs`` and then the bundled attack
    data; a plain path is taken relative to the detection's folder (``base``) and those folders.
    A path that would leave the folder it is looked up in (an absolute path, ``..``, a path still
    percent-encoded after decoding, a symlink leading out) is a :class:`ContentError` located at
    ``origin:line`` (the detection file and its ``data:`` line).

    >>> url = "https://media.githubusercontent.com/media/splunk/attack_data/master/datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    >>> resolve_attack_data(url).name
    'ngrok_linux-sysmon.log'
    >>> resolve_attack_data("../../etc/passwd", origin="d.yml", line=9)
    Traceback (most recent call last):
    ...
    escudo.errors.ContentError: d.yml:9: attack data '../../etc/passwd' is refused: '..' leaves the attack data folder
    """
    roots = [Path(d) for d in attack_data_dirs] + [BUNDLED_ATTACK_DATA]

    def refuse(reason: str) -> ContentError:
        return ContentError(f"attack data {url!r} is refused: {reason}", path=origin, line=line)

    if "://" in url:
        if ATTACK_DATA_MARKER not in url:
            raise InputError(
                f"attack data {url} is not in splunk/attack_data and escudo does not download; "
                "give a local path or put the file under --attack-data"
            )
        raw = re.split(r"[?#]", url.split(ATTACK_DATA_MARKER, 1)[1], maxsplit=1)[0]
        try:
            relative = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise refuse("not UTF-8 once percent-decoded") from None
        if PERCENT_ESCAPE.search(relative):
            raise refuse("percent-encoded twice")
        bases = roots
    else:
        relative = url
        bases = ([base] if base is not None else []) + roots
    path = PurePosixPath(relative)
    if any(ord(ch) < 32 for ch in relative):
        raise refuse("a control character in the path")
    if not relative or path.is_absolute() or relative.startswith("~"):
        raise refuse("an absolute path; give one relative to --attack-data")
    if ".." in path.parts:
        raise refuse("'..' leaves the attack data folder")
    candidates = [folder / path for folder in bases]
    for folder, candidate in zip(bases, candidates, strict=True):
        if is_file(candidate):
            if not candidate.resolve().is_relative_to(folder.resolve()):
                raise refuse(f"{candidate} is a symlink leading out of {folder}")
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InputError(f"attack data not found: {url} (looked for {looked})")


def supported_sourcetypes() -> frozenset[str]:
    """Sourcetypes with a reader (the ingest registry).

    >>> "sysmon:linux" in supported_sourcetypes()
    True
    """
    from escudo.sources.registry import SOURCES

    return frozenset(SOURCES)


def sourcetype_of(data: AttackData) -> str:
    """The sourcetype to read ``data`` with; an unsupported one is an error naming it."""
    sourcetype = data.sourcetype or SOURCE_SOURCETYPES.get(data.source or "")
    if sourcetype is None:
        raise InputError(f"attack data {data.data} names no sourcetype (source {data.source!r})")
    if sourcetype not in supported_sourcetypes():
        raise InputError(f"unsupported sourcetype {sourcetype!r} for attack data {data.data}")
    return sourcetype


def _present(value: Any) -> bool:
    """A field value Splunk would treat as set: not missing, not empty, not tstats' ``"null"`` fill."""
    if value is None:
        return False
    if isinstance(value, list):
        return any(_present(v) for v in value)
    return str(value) not in ("", "null")


def judge(detection: Detection, test: DetectionTest, rows: pa.Table) -> tuple[Status, str]:
    """PASS/FAIL of one test's result rows, with the reason (contentctl's unit-test rule).

    >>> d = Detection(name="x", id="1", search="", type="Hunting")
    >>> judge(d, DetectionTest(name="t"), pa.table({"user": ["root"]}))
    ('pass', '1 result')
    """
    count = rows.num_rows
    if test.expect == "none":
        return (
            ("pass", "0 results, as expected")
            if count == 0
            else ("fail", f"{count} results, expected none")
        )
    if count == 0:
        return "fail", "0 results"
    noun = "result" if count == 1 else "results"
    if detection.type == "Hunting":  # no risk objects: any result passes
        return "pass", f"{count} {noun}"
    columns = set(rows.column_names)
    for risk in detection.risk_objects:
        if risk.field not in columns:
            return "fail", f"risk object field {risk.field!r} missing from results"
        nulls = sum(not _present(v) for v in rows.column(risk.field).to_pylist())
        if nulls:
            return "fail", f"risk object field {risk.field!r} was null in {nulls} of {count} {noun}"
    for threat in detection.threat_objects:
        if threat.field not in columns:
            return "fail", f"threat object field {threat.field!r} missing from results"
        if not any(_present(v) for v in rows.column(threat.field).to_pylist()):
            return "fail", f"threat object field {threat.field!r} was null in all results"
    return "pass", f"{count} {noun}"


def skip_reason(detection: Detection) -> str | None:
    """Why contentctl would not run this detection's tests, if it would not."""
    if detection.manual_test:
        return f"manual_test: {detection.manual_test}"
    if detection.status != "production":
        return f"status is {detection.status}"
    if detection.type in SKIPPED_TYPES:
        return f"{detection.type} detections are not unit tested"
    if not detection.tests:
        return "no tests"
    return None


def compile_for_test(detection: Detection, content: ContentSet) -> CompiledSearch:
    """The detection's search as ``escudo hunt`` compiles it, but with its filter macro forced to
    contentctl's ``search *`` (a user's filter must not hide a true positive)."""
    return compile_detection(detection, content, user_filter=False)


def load_attack_data(
    compiled: CompiledSearch,
    data: AttackData,
    path: Path,
    *,
    now: datetime,
    stats: ReadStats,
) -> dict[str, pa.Table]:
    """One attack-data file as a table per dataset the search reads, times shifted if asked."""
    from escudo.datamodels.normalize import read_dataset

    sourcetype = sourcetype_of(data)
    tables: dict[str, pa.Table] = {}
    for dataset in compiled.datasets:
        # With update_timestamp the newest event of the file decides the shift: read it all.
        needs = None if data.update_timestamp else compiled.requirements.get(dataset)
        batches = list(
            read_dataset([path], dataset, requirements=needs, stats=stats, sourcetype=sourcetype)
        )
        table = pa.Table.from_batches(batches) if batches else empty_table(dataset)
        # What the HEC replay would index: the test's source/sourcetype/host (contentctl replay).
        replay = {"source": data.source, "sourcetype": data.sourcetype, "host": data.host}
        for column, value in replay.items():
            if value and column in table.column_names:
                index = table.column_names.index(column)
                table = table.set_column(
                    index, column, pa.array([value] * table.num_rows, pa.string())
                )
        tables[dataset] = table
    if data.update_timestamp:
        newest = [t.column("_time") for t in tables.values() if t.num_rows]
        high = max((pc.max(c).as_py() for c in newest), default=None)
        if high is not None:
            shift = pa.scalar(now - high, pa.duration("us"))
            for dataset, table in tables.items():
                index = table.column_names.index("_time")
                shifted = pc.add(table.column("_time"), shift)
                tables[dataset] = table.set_column(index, "_time", shifted)
    return tables


def run_one(
    detection: Detection,
    test: DetectionTest,
    *,
    content: ContentSet,
    attack_data_dirs: Sequence[Path] = (),
    now: datetime | None = None,
    compiled: CompiledSearch | None = None,
    events: Path | None = None,
) -> TestResult:
    """Run one test entry; exceptions become an ERROR result carrying the message. With
    ``events`` (a store ``escudo ingest`` filled) the search runs over the store's events instead
    of the test's attack data (which is neither looked up nor read)."""
    from escudo.engines import new_engine

    result = TestResult(name=test.name, test_type=test.test_type, expect=test.expect)
    started = time.perf_counter()
    try:
        if test.test_type != "unit":
            result.status, result.message = "skip", f"{test.test_type} tests need Splunk ES"
            return result
        if events is not None:
            from escudo.detect.hunt import run_compiled

            compiled = compiled or compile_for_test(detection, content)
            result.attack_data = (str(events),)
            found = run_compiled([], [(detection, compiled)], events=events)[0]
            result.result_count = found.rows.num_rows
            result.status, result.message = judge(detection, test, found.rows)
            return result
        if not test.attack_data:
            raise InputError(f"test {test.name!r} names no attack_data")
        base = detection.path.parent if detection.path is not None else None
        origin = str(detection.path) if detection.path is not None else detection.name
        paths = [
            resolve_attack_data(a.data, attack_data_dirs, base=base, origin=origin, line=a.line)
            for a in test.attack_data
        ]
        result.attack_data = tuple(str(p) for p in paths)
        compiled = compiled or compile_for_test(detection, content)
        stats = ReadStats()
        moment = now or datetime.now(UTC)
        per_dataset: dict[str, list[pa.Table]] = {}
        for data, path in zip(test.attack_data, paths, strict=True):
            tables = load_attack_data(compiled, data, path, now=moment, stats=stats)
            for dataset, table in tables.items():
                per_dataset.setdefault(dataset, []).append(table)
        with new_engine() as engine:
            for dataset, parts in per_dataset.items():
                engine.register_arrow(
                    dataset, pa.concat_tables(parts, promote_options="permissive")
                )
            rows = engine.run(compiled)
        result.result_count = rows.num_rows
        result.status, result.message = judge(detection, test, rows)
    except EscudoError as exc:
        result.status, result.message = "error", exc.render()
        result.exception = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug must not stop the other tests; report it in full
        result.status, result.message = "error", f"{type(exc).__name__}: {exc}"
        result.exception = traceback.format_exc()
    finally:
        result.duration = time.perf_counter() - started
    return result


def run_tests(
    detections: Sequence[Detection],
    *,
    content: ContentSet,
    attack_data_dirs: Sequence[Path] = (),
    now: datetime | None = None,
    mode: str = "selected",
    events: Path | None = None,
) -> TestReport:
    """Run every test of ``detections`` (see the module docstring for the rules); with ``events``
    over that store's events instead of each test's attack data (see :func:`run_one`)."""
    started = time.perf_counter()
    report = TestReport(mode=mode)
    for detection in detections:
        outcome = DetectionTestResult(detection)
        reason = skip_reason(detection)
        if reason is not None:
            tests = detection.tests or (DetectionTest(name="(no tests)"),)
            outcome.tests = [
                TestResult(t.name, t.test_type, "skip", reason, expect=t.expect) for t in tests
            ]
        else:
            compiled: CompiledSearch | None
            try:
                compiled = compile_for_test(detection, content)
            except Exception:
                compiled = None  # run_one compiles again and reports the error per test
            for test in detection.tests:
                result = run_one(
                    detection,
                    test,
                    content=content,
                    attack_data_dirs=attack_data_dirs,
                    now=now,
                    compiled=compiled,
                    events=events,
                )
                outcome.tests.append(result)
        report.detections.append(outcome)
    report.duration = time.perf_counter() - started
    return report


__all__ = [
    "BUNDLED_ATTACK_DATA",
    "DetectionTestResult",
    "TestReport",
    "TestResult",
    "judge",
    "resolve_attack_data",
    "run_one",
    "run_tests",
    "skip_reason",
]
