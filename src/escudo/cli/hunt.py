"""``escudo hunt`` (detections over logs) and ``escudo search`` (ad-hoc SPL over logs).

Exit codes: 0 done; 1 with ``--fail-on-findings`` when any row was found; 2 on errors, and with
``--strict`` when the input had malformed records. A read summary goes to stderr.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from escudo.content.model import ContentSet
from escudo.detect.result import DetectionResult
from escudo.errors import InputError
from escudo.outputs.hec import add_hec_options, hec_from_options
from escudo.sources.base import ReadStats

FORMATS = ("table", "jsonl", "csv")
EMIT_KINDS = ("results", "risk", "findings")


def parse_time(value: str | None, option: str) -> datetime | None:
    """A ``--earliest``/``--latest`` value (Splunk time modifier or ISO time) as a UTC datetime."""
    if value is None:
        return None
    from escudo.compile.timefmt import parse_time_modifier

    try:
        return parse_time_modifier(value, datetime.now(UTC))
    except InputError as exc:
        try:  # escudo also takes ISO 8601 (naive means UTC)
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{option}: {exc.message}") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def load_user_content(content_dirs: Sequence[Path]) -> ContentSet:
    from escudo.content.loader import load_content

    return load_content(list(content_dirs))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _cell(value: Any, mv_sep: str) -> str:
    """One value as text: NULL is empty, multivalue fields are joined (Splunk exports one per line)."""
    value = _jsonable(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return mv_sep.join(_cell(v, mv_sep) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_rows(
    out: TextIO,
    groups: Sequence[tuple[str | None, list[str], list[dict[str, Any]]]],
    fmt: str,
) -> None:
    """Write ``(title, columns, rows)`` groups as a table (one block per title), JSON lines or CSV.

    A group's title becomes the ``detection`` key of each JSON line / CSV row (none when ``None``).
    """
    if fmt == "jsonl":
        for title, columns, rows in groups:
            for row in rows:
                obj = {"detection": title} if title is not None else {}
                obj.update({c: _jsonable(row.get(c)) for c in columns})
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        return
    if fmt == "csv":
        header: list[str] = []
        titled = any(title is not None for title, _, _ in groups)
        for _, columns, _ in groups:
            header += [c for c in columns if c not in header]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((["detection"] if titled else []) + header)
        for title, _, rows in groups:
            for row in rows:
                cells = [_cell(row.get(c), "\n") for c in header]
                writer.writerow(([title or ""] if titled else []) + cells)
        return
    for title, columns, rows in groups:
        if title is not None:
            noun = "result" if len(rows) == 1 else "results"
            out.write(f"== {title} ({len(rows)} {noun})\n")
        if rows:
            _write_table(out, columns, rows)
        if title is not None:
            out.write("\n")


def _write_table(out: TextIO, columns: list[str], rows: list[dict[str, Any]]) -> None:
    cells = [[_cell(row.get(c), ", ").replace("\n", "\\n") for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out.write(line.rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")


def result_group(
    result: DetectionResult, titled: bool
) -> tuple[str | None, list[str], list[dict[str, Any]]]:
    columns = list(result.compiled.output_fields or result.rows.column_names)
    columns += [c for c in result.rows.column_names if c not in columns]
    return (result.detection.name if titled else None, columns, result.records())


def emit_groups(
    results: list[DetectionResult], kind: str, emitted: Mapping[Any, list[dict[str, Any]]]
) -> list[tuple[str | None, list[str], list[dict[str, Any]]]]:
    """Rows for ``--emit``: result rows grouped by detection, or one block of risk events/findings."""
    if kind == "results":
        return [result_group(r, True) for r in results]
    records = emitted[kind]
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    return [(None, columns, records)]


def finish(
    stats: ReadStats,
    groups: Sequence[tuple[str | None, list[str], list[dict[str, Any]]]],
    fmt: str,
    fail_on_findings: bool,
    strict: bool,
) -> int:
    """Write the output and the stderr summary; the exit code."""
    write_rows(sys.stdout, groups, fmt)
    sys.stdout.flush()
    click.echo(stats.summary(), err=True)
    if strict and stats.malformed:
        click.echo(f"escudo: error: --strict: {stats.malformed} malformed input records", err=True)
        return 2
    if fail_on_findings and any(rows for _, _, rows in groups):
        return 1
    return 0


def _common(f: Any) -> Any:
    options = [
        click.option("--content", "content_dirs", multiple=True, type=click.Path(path_type=Path),
                     help="A content folder (detections/, macros/, lookups/); later ones win."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.option("--earliest", help="Only events at or after this time: -24h, -7d@d, 01/31/2024:00:00:00, ISO 8601."),
        click.option("--latest", help="Only events before this time."),
        click.option("--fail-on-findings", is_flag=True, help="Exit 1 when any result row is found."),
        click.option("--strict", is_flag=True, help="Exit 2 when the input had malformed records."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--detection",
    "detection_refs",
    multiple=True,
    metavar="NAME|ID|FILE",
    help="Run only this detection (repeatable). Default: every detection the input feeds.",
)
@_common
@click.option(
    "--emit",
    "emit_kind",
    type=click.Choice(EMIT_KINDS),
    default="results",
    show_default=True,
    help="Print result rows, risk events or findings.",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="Keep results, risk events and findings in this store (a DuckDB file).",
)
@click.option(
    "--identities",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Identity lookup CSV (ES layout) merging user aliases into normalized_risk_object.",
)
@click.option(
    "--assets",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Asset lookup CSV (ES layout) merging host aliases into normalized_risk_object.",
)
@click.option(
    "--attack-stix",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A full MITRE enterprise-attack.json to use instead of the bundled ATT&CK table.",
)
@add_hec_options
def hunt(
    paths: tuple[str, ...],
    detection_refs: tuple[str, ...],
    content_dirs: tuple[Path, ...],
    fmt: str,
    earliest: str | None,
    latest: str | None,
    fail_on_findings: bool,
    strict: bool,
    emit_kind: str,
    store: Path | None,
    identities: Path | None,
    assets: Path | None,
    attack_stix: Path | None,
    **hec: Any,
) -> int:  # fmt: skip
    """Run ESCU detections over log files, directories, .gz files or - (stdin)."""
    from escudo.detect.hunt import hunt as run_hunt
    from escudo.detect.hunt import select_detections

    content = load_user_content(content_dirs)
    detections = select_detections(content, detection_refs) if detection_refs else None
    stats = ReadStats()
    results = run_hunt(
        paths,
        detections,
        content=content,
        earliest=parse_time(earliest, "--earliest"),
        latest=parse_time(latest, "--latest"),
        stats=stats,
    )
    sender = hec_from_options(**hec)
    if emit_kind == "results" and store is None and sender is None:
        return finish(
            stats, [result_group(r, True) for r in results], fmt, fail_on_findings, strict
        )

    from escudo.detect.attack import use_stix
    from escudo.detect.emit import emit_all
    from escudo.detect.identity import IdentityResolver

    if attack_stix is not None:
        use_stix(attack_stix)
    resolver = IdentityResolver.from_csv(identities, assets) if identities or assets else None
    emitted = emit_all(results, store_path=store, identities=resolver)
    if sender is not None:  # risk events and findings go to Splunk, whatever is printed
        click.echo(sender.send([*emitted["risk"], *emitted["findings"]]).summary(), err=True)
    return finish(stats, emit_groups(results, emit_kind, emitted), fmt, fail_on_findings, strict)


@click.command()
@click.argument("spl")
@click.argument("paths", nargs=-1, required=True)
@_common
def search(
    spl: str,
    paths: tuple[str, ...],
    content_dirs: tuple[Path, ...],
    fmt: str,
    earliest: str | None,
    latest: str | None,
    fail_on_findings: bool,
    strict: bool,
) -> int:
    """Run an ad-hoc SPL search over log files (its datasets come from the search)."""
    from escudo.detect.hunt import search as run_search

    content = load_user_content(content_dirs)
    stats = ReadStats()
    result = run_search(
        spl,
        paths,
        content=content,
        earliest=parse_time(earliest, "--earliest"),
        latest=parse_time(latest, "--latest"),
        stats=stats,
    )
    return finish(stats, [result_group(result, False)], fmt, fail_on_findings, strict)
