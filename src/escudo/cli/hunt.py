"""``escudo hunt`` (detections over logs) and ``escudo search`` (ad-hoc SPL over logs).

Exit codes: 0 done; 1 with ``--fail-on-findings`` when any row was found; 2 on errors, and with
``--strict`` when an input could not be read (in full) or had malformed records or lines that are
not UTF-8 text; 3 (``hunt --hec-url``) when HEC delivery gave up with events left in the spool, which
the next run sends first. When several apply, 2 wins over 3 and 3 over 1. A read summary goes to
stderr, with one ``path: reason`` line per unreadable input.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from escudo._session import Session, parse_time
from escudo.cli.options import content_option, emit_option, engine_options, engine_settings
from escudo.cli.output import check_output, output_options, strict_exit, write_output
from escudo.detect.result import DetectionResult, EmitKind
from escudo.outputs import Section, records_section
from escudo.outputs.hec_options import add_hec_options
from escudo.sources.base import ReadStats

if TYPE_CHECKING:
    from escudo.outputs.hec import HecSender

# HEC delivery gave up: the run's output is complete, but events wait in the spool (a failure to
# report, like 2, so it wins over --fail-on-findings' 1; 2 wins over it).
EXIT_UNDELIVERED = 3


def session_for(
    content_dirs: Sequence[Path], earliest: str | None, latest: str | None, **options: Any
) -> Session:
    """The library session the options describe (a bad ``--earliest``/``--latest`` is an error
    naming the option)."""
    now = datetime.now(UTC)
    return Session(
        content_dirs=content_dirs,
        earliest=parse_time(earliest, now, name="--earliest"),
        latest=parse_time(latest, now, name="--latest"),
        now=now,
        **options,
    )


def need_input(paths: Sequence[str], store: Path | None) -> None:
    """PATH... (logs), or --store DIR alone: then the run is over the store's events."""
    if not paths and store is None:
        raise click.UsageError(
            "give PATH... (logs) or --store DIR (a store `escudo ingest` filled)"
        )


def warn(warnings: Sequence[str]) -> None:
    """The library's warnings, one ``escudo:`` line each on stderr."""
    for warning in warnings:
        click.echo(f"escudo: {warning}", err=True)


def result_section(result: DetectionResult, titled: bool) -> Section:
    """A detection's result rows, its search's output fields first."""
    return Section.of_table(result.detection.name if titled else None, result.table())


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
    if code := strict_exit(stats, strict):
        return code
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
@click.argument("paths", nargs=-1)
@click.option(
    "--detection",
    "detection_refs",
    multiple=True,
    metavar="NAME|ID|FILE",
    help="Run only this detection (repeatable). Default: every detection the input feeds.",
)
@_common
@emit_option("Print")
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="Keep results, risk events and findings in this store (a directory of Parquet files); "
    "without PATH, hunt over the events `escudo ingest` put in it.",
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
@engine_options
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
    engine: str,
    spark_master: str | None,
    **hec: Any,
) -> int:  # fmt: skip
    """Run ESCU detections over log files, directories, .gz files or - (stdin), or over the
    events of a store (--store DIR without PATH)."""
    need_input(paths, store)
    check_output(fmt, output)
    output_to = {"fmt": fmt, "output": output, "csv_safe": csv_safe}
    # Options that read files or build a client are checked before the (maybe long) run.
    sender: HecSender | None = None
    if hec.get("hec_url"):  # the HEC client (http.client, ssl, the spool) only when asked for
        from escudo.outputs.hec import hec_from_options

        sender = hec_from_options(**hec)
    session = session_for(
        content_dirs,
        earliest,
        latest,
        detections=detection_refs,
        store=store,
        identities=identities,
        assets=assets,
        attack_stix=attack_stix,
        hec=sender,
        sourcetype=sourcetype,
        engine=engine,
        engine_settings=engine_settings(engine, spark_master),
    )
    run = session.hunt(paths)
    warn(run.warnings)
    if emit_kind == "results":
        sections = [result_section(r, True) for r in run.results]
    else:
        sections = [records_section(None, run.emitted()[cast(EmitKind, emit_kind)])]
    code = finish(run.stats, sections, output_to, fail_on_findings, strict)
    if sender is not None:  # risk events and findings go to Splunk, whatever is printed
        # After printing: a refused token (HecError, exit 2) must not swallow the run's output;
        # the events stay spooled for the next run.
        report = session.deliver(run)
        click.echo(report.summary(), err=True)
        if report.gave_up and code != 2:
            return EXIT_UNDELIVERED
    return code


@click.command()
@click.argument("spl")
@click.argument("paths", nargs=-1)
@_common
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="The store Risk.All_Risk is read from (default: the user's); without PATH, the search "
    "runs over the events `escudo ingest` put in it.",
)
@engine_options
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
    engine: str,
    spark_master: str | None,
) -> int:
    """Run an ad-hoc SPL search over log files (its datasets come from the search; Risk.All_Risk
    comes from the store an earlier `escudo hunt --store` filled)."""
    need_input(paths, store)
    check_output(fmt, output)
    run = session_for(
        content_dirs,
        earliest,
        latest,
        store=store,
        sourcetype=sourcetype,
        engine=engine,
        engine_settings=engine_settings(engine, spark_master),
    ).search(spl, paths)
    warn(run.warnings)
    output_to = {"fmt": fmt, "output": output, "csv_safe": csv_safe}
    return finish(
        run.stats, [result_section(run.result, False)], output_to, fail_on_findings, strict
    )
