"""``escudo hunt`` (detections over logs) and ``escudo search`` (ad-hoc SPL over logs).

Exit codes: 0 done; 1 with ``--fail-on-findings`` when any row was found; 2 on errors, and with
``--strict`` when an input could not be read (in full) or had malformed records or lines that are
not UTF-8 text; 3 (``hunt --hec-url``) when HEC delivery gave up with events left in the spool, which
the next run sends first. When several apply, 2 wins over 3 and 3 over 1. A read summary goes to
stderr, with one ``path: reason`` line per unreadable input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from escudo.cli.options import content_option
from escudo.cli.output import check_output, output_options, write_output
from escudo.content.model import ContentSet
from escudo.detect.result import EMIT_KINDS, DetectionResult
from escudo.errors import InputError
from escudo.outputs import Section, records_section
from escudo.outputs.hec_options import add_hec_options
from escudo.sources.base import ReadStats

if TYPE_CHECKING:
    from escudo.outputs.hec import HecSender

# HEC delivery gave up: the run's output is complete, but events wait in the spool (a failure to
# report, like 2, so it wins over --fail-on-findings' 1; 2 wins over it).
EXIT_UNDELIVERED = 3

# The module of the chunk processor hunts read with (escudo.datamodels.normalize.Normalizer): the
# worker processes import it once, before forking.
NORMALIZER_MODULE = "escudo.datamodels.normalize"


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


def result_section(result: DetectionResult, titled: bool) -> Section:
    """A detection's result rows, its search's output fields first."""
    columns = [c for c in result.compiled.output_fields or () if c in result.rows.column_names]
    columns += [c for c in result.rows.column_names if c not in columns]
    return Section.of_table(result.detection.name if titled else None, result.rows.select(columns))


def emit_sections(
    results: list[DetectionResult], kind: str, emitted: Mapping[Any, list[dict[str, Any]]]
) -> list[Section]:
    """Rows for ``--emit``: result rows by detection, or one block of risk events or findings."""
    if kind == "results":
        return [result_section(r, True) for r in results]
    return [records_section(None, emitted[kind])]


def finish(
    stats: ReadStats,
    sections: Sequence[Section],
    output: dict[str, Any],
    fail_on_findings: bool,
    strict: bool,
) -> int:
    """Write the output (``output``: the output options) and the stderr summary; the exit code."""
    written = write_output(sections, **output)
    click.echo(stats.summary(), err=True)
    failure = stats.strict_failure() if strict else None
    if failure:
        click.echo(f"escudo: error: {failure}", err=True)
        return 2
    if fail_on_findings and written:
        return 1
    return 0


def _common(f: Any) -> Any:
    options = [
        content_option(),
        output_options("table"),
        click.option("--earliest", help="Only events at or after this time: -24h, -7d@d, 01/31/2024:00:00:00, ISO 8601."),
        click.option("--latest", help="Only events before this time."),
        click.option("--fail-on-findings", is_flag=True, help="Exit 1 when any result row is found."),
        click.option("--strict", is_flag=True, help="Exit 2 when an input could not be read or had malformed or non-UTF-8 lines."),
        click.option("--sourcetype", default=None, metavar="NAME", help="Read every input as this sourcetype (default: found per file from its content)."),
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
    output: str | None,
    csv_safe: bool,
    earliest: str | None,
    latest: str | None,
    fail_on_findings: bool,
    strict: bool,
    sourcetype: str | None,
    emit_kind: str,
    store: Path | None,
    identities: Path | None,
    assets: Path | None,
    attack_stix: Path | None,
    **hec: Any,
) -> int:  # fmt: skip
    """Run ESCU detections over log files, directories, .gz files or - (stdin)."""
    from escudo.sources.reader import workers_started

    check_output(fmt, output)
    output_to = {"fmt": fmt, "output": output, "csv_safe": csv_safe}

    # Big inputs are read by worker processes: start them while the detections load and compile.
    with workers_started(paths, NORMALIZER_MODULE):
        from escudo.detect.attack import stix_in_use
        from escudo.detect.hunt import hunt as run_hunt
        from escudo.detect.hunt import select_detections
        from escudo.detect.store import Store

        # Options that read files or build a client are checked before the (maybe long) run.
        sender: HecSender | None = None
        if hec.get("hec_url"):  # the HEC client (http.client, ssl, the spool) only when asked for
            from escudo.outputs.hec import hec_from_options

            sender = hec_from_options(**hec)
        resolver = None
        if identities or assets:
            from escudo.detect.identity import IdentityResolver

            resolver = IdentityResolver.from_csv(identities, assets)
        content = load_user_content(content_dirs)
        detections = select_detections(content, detection_refs) if detection_refs else None
        with stix_in_use(attack_stix):
            stats = ReadStats()
            results = run_hunt(
                paths,
                detections,
                content=content,
                earliest=parse_time(earliest, "--earliest"),
                latest=parse_time(latest, "--latest"),
                stats=stats,
                store=Store(store),
                sourcetype=sourcetype,
            )
            if emit_kind == "results" and store is None and sender is None:
                sections = [result_section(r, True) for r in results]
                return finish(stats, sections, output_to, fail_on_findings, strict)

            from escudo.detect.emit import emit_all

            emitted = emit_all(results, store_path=store, identities=resolver)
        sections = emit_sections(results, emit_kind, emitted)
        code = finish(stats, sections, output_to, fail_on_findings, strict)
        if sender is not None:  # risk events and findings go to Splunk, whatever is printed
            # After printing: a refused token (HecError, exit 2) must not swallow the run's output;
            # the events stay spooled for the next run.
            report = sender.send([*emitted["risk"], *emitted["findings"]])
            click.echo(report.summary(), err=True)
            if report.gave_up and code != 2:
                return EXIT_UNDELIVERED
        return code


@click.command()
@click.argument("spl")
@click.argument("paths", nargs=-1, required=True)
@_common
@click.option(
    "--store",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The store Risk.All_Risk is read from (default: the user's).",
)
def search(
    spl: str,
    paths: tuple[str, ...],
    content_dirs: tuple[Path, ...],
    fmt: str,
    output: str | None,
    csv_safe: bool,
    earliest: str | None,
    latest: str | None,
    fail_on_findings: bool,
    strict: bool,
    sourcetype: str | None,
    store: Path | None,
) -> int:
    """Run an ad-hoc SPL search over log files (its datasets come from the search; Risk.All_Risk
    comes from the store an earlier `escudo hunt --store` filled)."""
    from escudo.detect.hunt import search as run_search
    from escudo.detect.store import Store

    check_output(fmt, output)
    content = load_user_content(content_dirs)
    stats = ReadStats()
    result = run_search(
        spl,
        paths,
        content=content,
        earliest=parse_time(earliest, "--earliest"),
        latest=parse_time(latest, "--latest"),
        stats=stats,
        sourcetype=sourcetype,
        store=Store(store),
    )
    output_to = {"fmt": fmt, "output": output, "csv_safe": csv_safe}
    return finish(stats, [result_section(result, False)], output_to, fail_on_findings, strict)
