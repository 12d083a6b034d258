"""How much of the ESCU Linux corpus escudo loads, expands, parses, compiles and runs.

Usage: ``python benchmarks/compat_report.py PATH_TO_ESCU [--json] [--group sysmon|auditd|other]
[--engines duckdb,spark]``

``PATH_TO_ESCU`` is a security_content-layout folder (``detections/``, ``macros/``...), e.g.
``../shared/reference/escu``; it is read in place, never copied. Each detection goes through the stages

* ``load``: the YAML into escudo's model (``escudo.content.loader``),
* ``expand``: macro expansion (``escudo.spl.macros.expand_macros``),
* ``parse``: the expanded SPL into an AST (``escudo.spl.parser.parse``),
* ``compile``: lowering to SQL (``escudo.compile.compile_search``, DuckDB and Spark),
* ``run``: the SQL on DuckDB over empty data-model tables,
* ``agree`` (with ``--engines duckdb,spark``): the detection returns the same rows on every engine
  listed, over data made for it (see ``seeded_rows``: the values its own search compares fields
  with, as written and in the variants that separate engines: sub-second times, a final newline,
  ``\r``, ``İ`` for ``i``, a trailing Greek word ending in capital sigma), plus the project's own
  Sysmon data,

and the report gives the first failing stage with its reason, then totals per stage and group. Detections
are grouped by data source: Sysmon for Linux (94 in the 2024 snapshot), Linux auditd (50), other.

Then, per registered source (``sysmon:linux``, ``ecs:json``, ``ocsf:json``), how many of the compiled
detections it serves: ``feeds`` (the source maps every data set the search reads), ``needles`` (the source
turns the search's requirements into its raw prefilter; ``prefiltered`` counts those with a non-empty one)
and ``run`` (the search runs on DuckDB over that source's rendering of the bundled ngrok intrusion).
Exit status 0 (the report is the product, not a test).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

STAGES = ("load", "expand", "parse", "compile", "run")
AGREE = "agree"
GROUPS = ("sysmon", "auditd", "other")
SOURCE_STAGES = ("feeds", "needles", "run")
NGROK = (
    Path(__file__).resolve().parents[1]
    / "src/escudo/data/attack_data/datasets/attack_techniques/T1572/ngrok"
)
# Each source's rendering of the same intrusion (data/attack_data/generate_edr_json.py).
SAMPLES = {
    "sysmon:linux": NGROK / "ngrok_linux-sysmon.log",
    "ecs:json": NGROK / "ngrok_linux-ecs.ndjson",
    "ocsf:json": NGROK / "ngrok_linux-ocsf.json",
}
ROOT = Path(__file__).resolve().parents[1]
PROJECT_LOGS = (
    ROOT / "src/escudo/data/attack_data/datasets",
    ROOT / "tests/fixtures/sysmon/golden",
)


@dataclass
class Status:
    """One detection's outcome: ``failed_stage`` is None when every stage passed."""

    file: str
    name: str
    group: str
    failed_stage: str | None = None
    reason: str = ""
    # per source, for a detection that compiled: "ok", "ok prefiltered" or "FAIL@<stage>: <reason>"
    sources: dict[str, str] = field(default_factory=dict)
    rows: int | None = None  # agree stage: the rows every engine returned


def group_of(data_sources: tuple[str, ...]) -> str:
    """``sysmon`` / ``auditd`` / ``other`` from a detection's ``data_source`` names."""
    text = " ".join(data_sources).lower()
    if "sysmon for linux" in text:
        return "sysmon"
    if "linux auditd" in text:
        return "auditd"
    return "other"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def check(path: Path, content: Any, engines: dict[str, Any] | None = None) -> Status:
    """Run one detection file through the stages, stopping at the first failure; with two or
    more ``engines`` (name -> open engine), then the ``agree`` stage."""
    from escudo.content.loader import load_detection, macros_for

    status = Status(file=path.name, name=path.stem, group="other")
    state: dict[str, Any] = {}

    def load() -> None:
        state["d"] = d = load_detection(path)
        status.name, status.group = d.name, group_of(d.data_source)
        state["macros"] = macros_for(content, d)

    def expand() -> None:
        from escudo.spl.macros import expand_macros

        state["spl"] = expand_macros(state["d"].search, state["macros"], origin=str(path))

    def parse_() -> None:
        from escudo.spl.parser import parse

        parse(state["spl"], origin=str(path))

    def compile_() -> None:
        from escudo.compile import compile_search

        state["c"] = c = compile_search(
            state["d"].search, macros=state["macros"], origin=str(path), lookups=content.lookups
        )
        c.sql("duckdb")
        c.sql("spark")

    def run() -> None:
        from escudo.detect.hunt import empty_table
        from escudo.engines.duckdb import DuckDBEngine

        compiled = state["c"]
        with DuckDBEngine() as engine:
            for dataset in compiled.datasets:
                engine.register(dataset, empty_table(dataset))
            engine.run(compiled)

    def agree() -> None:
        compiled = state["c"]
        answers: dict[str, list[str]] = {}
        for name, engine in (engines or {}).items():
            for dataset in compiled.datasets:
                engine.register_arrow(dataset, seeded_rows(dataset, compiled))
            answers[name] = canonical_rows(engine.run(compiled))
        first, *others = answers.items()
        status.rows = len(first[1])
        for name, rows in others:
            if rows != first[1]:
                only = sorted(set(rows) ^ set(first[1]))[:1]
                raise AssertionError(
                    f"{name} returns {len(rows)} rows, {first[0]} {len(first[1])}; e.g. {only}"
                )

    steps: dict[str, Callable[[], None]] = {
        "load": load,
        "expand": expand,
        "parse": parse_,
        "compile": compile_,
        "run": run,
        AGREE: agree,
    }
    for stage in stages_for(engines):
        try:
            steps[stage]()
        except Exception as exc:  # the report records every failure, whatever raised it
            status.failed_stage, status.reason = stage, _one_line(exc)
            break
    if "c" in state:
        from escudo.sources.registry import SOURCES

        status.sources = {name: check_source(state["c"], name) for name in SOURCES}
    return status


@cache
def sample_rows(sourcetype: str, dataset: str) -> Any:
    """The CIM rows of ``dataset`` in the source's rendering of the ngrok intrusion (a table)."""
    import pyarrow as pa

    from escudo.datamodels.normalize import dataset_schema, read_dataset

    batches = list(read_dataset([SAMPLES[sourcetype]], dataset, sourcetype=sourcetype, workers=0))
    return pa.Table.from_batches(batches, schema=dataset_schema(dataset))


def check_source(compiled: Any, sourcetype: str) -> str:
    """Whether one source serves a compiled search (see the module doc), its first failure."""
    from escudo.datamodels.mappings import get_mapping
    from escudo.engines.duckdb import DuckDBEngine
    from escudo.sources.base import RAW_EVENTS, RawEventSource
    from escudo.sources.registry import get_sourcetype

    source = get_sourcetype(sourcetype)
    prefiltered = False

    def feeds() -> None:
        for dataset in compiled.datasets:
            if dataset == RAW_EVENTS:  # raw-event searches: a source that gives raw events
                if not isinstance(source, RawEventSource):
                    raise ValueError(f"{sourcetype} gives no raw events")
                continue
            get_mapping(sourcetype, dataset)

    def needles() -> None:
        nonlocal prefiltered
        for dataset in compiled.datasets:
            requirements = compiled.requirements.get(dataset, ())
            prefiltered |= bool(source.needles(dataset, requirements).clauses)

    def run() -> None:
        if sourcetype not in SAMPLES:
            return
        with DuckDBEngine() as engine:
            for dataset in compiled.datasets:
                engine.register(dataset, sample_rows(sourcetype, dataset))
            engine.run(compiled)

    steps = {"feeds": feeds, "needles": needles, "run": run}
    for stage in SOURCE_STAGES:
        try:
            steps[stage]()
        except Exception as exc:  # recorded, like the stages above
            return f"FAIL@{stage}: {_one_line(exc)}"
    return "ok prefiltered" if prefiltered else "ok"


def source_totals(statuses: list[Status]) -> dict[str, dict[str, int]]:
    """Per source: of the detections that compiled, how many passed each source stage."""
    out: dict[str, dict[str, int]] = {}
    for s in statuses:
        for name, result in s.sources.items():
            row = out.setdefault(
                name, {"compiled": 0, **dict.fromkeys(SOURCE_STAGES, 0), "prefiltered": 0}
            )
            row["compiled"] += 1
            failed = (
                result.split(":")[0].removeprefix("FAIL@") if result.startswith("FAIL@") else None
            )
            limit = SOURCE_STAGES.index(failed) if failed else len(SOURCE_STAGES)
            for stage in SOURCE_STAGES[:limit]:
                row[stage] += 1
            row["prefiltered"] += result == "ok prefiltered"
    return out


def stages_for(engines: dict[str, Any] | None) -> tuple[str, ...]:
    return (*STAGES, AGREE) if engines and len(engines) > 1 else STAGES


# --- data for the agree stage -----------------------------------------------------------------


def _literal_values(compiled: Any) -> dict[str, list[str]]:
    """Field -> the text values the search compares it with (``=``, ``IN``, ``LIKE`` patterns
    with their wildcards filled), so rows made of them reach the search's output."""
    from sqlglot import exp

    found: dict[str, list[str]] = {}

    def column_of(node: exp.Expr) -> str | None:
        while isinstance(node, (exp.Lower, exp.Upper, exp.Cast, exp.TryCast, exp.Paren)):
            node = node.this
        return node.name.rsplit(".", 1)[-1] if isinstance(node, exp.Column) else None

    def add(field: str | None, value: exp.Expr) -> None:
        if field and isinstance(value, exp.Literal) and value.is_string:
            text = value.name.replace("\\%", "%").strip("%").replace("%", " ").replace("_", "x")
            if text and text not in found.setdefault(field, []):
                found[field].append(text)

    for node in compiled.expression.find_all(exp.EQ, exp.Like, exp.In):
        field = column_of(node.this)
        if isinstance(node, exp.In):
            for value in node.expressions:
                add(field, value)
        else:
            add(field, node.expression)
    return found


def _variants(value: str, index: int) -> str:
    """The variant ``index`` of a value: as is, then what separates Spark from DuckDB."""
    return [
        value,
        value + "\n",
        value.replace("i", "İ"),
        value + " ΟΔΟΣ\r",
    ][index % 4]


def _project_rows(dataset: str) -> Any:
    import pyarrow as pa

    from escudo.datamodels.normalize import read_dataset
    from escudo.detect.hunt import empty_table

    schema = empty_table(dataset).schema
    if dataset not in _PROJECT:
        logs = [p for folder in PROJECT_LOGS if folder.is_dir() for p in folder.rglob("*.log")]
        try:
            batches = list(read_dataset(logs, dataset))
            table = pa.Table.from_batches(batches, schema=schema) if batches else None
        except Exception:  # a data set no Sysmon event feeds
            table = None
        _PROJECT[dataset] = table if table is not None else schema.empty_table()
    return _PROJECT[dataset]


_PROJECT: dict[str, Any] = {}


def seeded_rows(dataset: str, compiled: Any) -> Any:
    """Rows of ``dataset`` for one detection: each field takes, row after row, the values its
    search compares it with (in the four variants of ``_variants``), at sub-second times; then the
    project's own Sysmon rows."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from escudo.detect.hunt import empty_table

    schema = empty_table(dataset).schema
    values = _literal_values(compiled)
    count = 4 * max([len(v) for v in values.values()] + [1])
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    rows = []
    for index in range(count):
        row: dict[str, object] = {
            name: _variants(values[name][(index // 4) % len(values[name])], index)
            if name in values
            else f"v{index % 3}"
            for name in schema.names[1:]
        }
        row["_time"] = start + timedelta(seconds=index, microseconds=(index * 137_911) % 1_000_000)
        rows.append(row)
    seeded = pa.Table.from_pylist(rows, schema=schema)
    return pa.concat_tables([seeded, _project_rows(dataset)])


def canonical_rows(table: Any) -> list[str]:
    """Rows as sorted text: timestamps in UTC, a whole DOUBLE as the integer it is."""
    from datetime import UTC, datetime

    def value(v: object) -> object:
        if isinstance(v, datetime):
            return v.astimezone(UTC)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [value(x) for x in v]
        return v

    return sorted(repr({k: value(v) for k, v in row.items()}) for row in table.to_pylist())


def open_engines(names: list[str]) -> dict[str, Any]:
    from escudo.engines import new_engine

    settings: dict[str, dict[str, Any]] = {
        "spark": {"master": "local[2]", "config": {"spark.sql.shuffle.partitions": "2"}}
    }
    return {name: new_engine(name, **settings.get(name, {})) for name in names}


def report(
    corpus: Path, groups: tuple[str, ...] = GROUPS, engines: dict[str, Any] | None = None
) -> list[Status]:
    """The status of every detection under ``corpus/detections`` in ``groups``."""
    from escudo.content.loader import load_content, load_detection

    content = load_content([corpus], builtin=False)
    out = []
    for path in sorted((corpus / "detections").rglob("*.yml")):
        try:  # only the groups asked for reach the engines
            if group_of(load_detection(path).data_source) not in groups:
                continue
        except Exception:  # the load stage reports it
            pass
        out.append(check(path, content, engines))
    return [s for s in out if s.group in groups]


def totals(statuses: list[Status], stages: tuple[str, ...] = STAGES) -> dict[str, dict[str, int]]:
    """Per group: how many detections passed each stage (and the group size)."""
    out: dict[str, dict[str, int]] = {}
    for s in statuses:
        row = out.setdefault(s.group, {"total": 0, **dict.fromkeys(stages, 0)})
        row["total"] += 1
        limit = stages.index(s.failed_stage) if s.failed_stage else len(stages)
        for stage in stages[:limit]:
            row[stage] += 1
    return out


def render(statuses: list[Status], stages: tuple[str, ...] = STAGES) -> str:
    lines = []
    for s in sorted(statuses, key=lambda s: (GROUPS.index(s.group), s.name)):
        state = "ok" if s.failed_stage is None else f"FAIL@{s.failed_stage}"
        lines.append(
            f"{s.group:7s} {state:13s} {s.name}" + (f"  -- {s.reason}" if s.reason else "")
        )
    lines.append("")
    lines.append(f"{'group':7s} {'total':>5s} " + " ".join(f"{st:>7s}" for st in stages))
    for group, row in sorted(totals(statuses, stages).items(), key=lambda kv: GROUPS.index(kv[0])):
        cells = " ".join(f"{row[st]:7d}" for st in stages)
        lines.append(f"{group:7s} {row['total']:5d} {cells}")
    agreed = [s for s in statuses if s.rows is not None and s.failed_stage is None]
    if agreed:
        found = sum(1 for s in agreed if s.rows)
        lines.append(f"agree: {len(agreed)} detections, {found} of them returning rows")
    per_source = source_totals(statuses)
    if per_source:
        columns = ("compiled", *SOURCE_STAGES, "prefiltered")
        lines.append("")
        lines.append(f"{'source':12s} " + " ".join(f"{c:>11s}" for c in columns))
        for name, row in per_source.items():
            lines.append(f"{name:12s} " + " ".join(f"{row[c]:11d}" for c in columns))
        for s in statuses:
            for name, result in s.sources.items():
                if result.startswith("FAIL@"):
                    lines.append(f"{name:12s} {result}  ({s.name})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ESCU corpus compatibility report for escudo")
    parser.add_argument("corpus", type=Path, help="a security_content-layout folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--group", choices=GROUPS, action="append", help="only these groups")
    parser.add_argument(
        "--engines",
        default="duckdb",
        help="comma-separated engines; two or more add the agree stage (e.g. duckdb,spark)",
    )
    args = parser.parse_args(argv)
    if not (args.corpus / "detections").is_dir():
        parser.error(f"{args.corpus} has no detections/ folder")
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    engines = open_engines(names) if len(names) > 1 else None
    try:
        statuses = report(args.corpus, tuple(args.group or GROUPS), engines)
    finally:
        for engine in (engines or {}).values():
            engine.close()
    stages = stages_for(engines)
    if args.json:
        doc = {
            "detections": [asdict(s) for s in statuses],
            "totals": totals(statuses, stages),
            "sources": source_totals(statuses),
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render(statuses, stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
