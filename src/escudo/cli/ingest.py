"""``escudo ingest PATH... --store DIR``: normalized events into a store directory, incrementally.

Only what is new since the last run is added (per-input checkpoints); a run commits all at once.
Exit codes: 0 done; 2 on errors, and with ``--strict`` when an input could not be read (in full)
or had malformed records. A read summary and an ingest summary go to stderr; progress too on long
runs when stderr is a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from escudo.cli.options import content_option
from escudo.cli.output import strict_exit
from escudo.sources.base import ReadStats

RAW_EVENTS_HELP = (
    "Which raw events to keep too, for searches that start from events (sourcetype=linux:audit "
    "...): auto (default) those of the sourcetypes the content's raw searches read, all, or none."
)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    required=True,
    help="The store directory (created if missing).",
)
@click.option("--strict", is_flag=True, help="Exit 2 when an input could not be read or had malformed or non-UTF-8 lines.")  # fmt: skip
@click.option("--sourcetype", default=None, metavar="NAME", help="Read every input as this sourcetype (default: found per file from its content).")  # fmt: skip
@click.option("--raw-events", type=click.Choice(["auto", "all", "none"]), default="auto", show_default=True, help=RAW_EVENTS_HELP)  # fmt: skip
@content_option("A content folder whose raw searches --raw-events auto serves; repeatable.")
def ingest(
    paths: tuple[str, ...],
    store: Path,
    strict: bool,
    sourcetype: str | None,
    raw_events: str,
    content_dirs: tuple[Path, ...],
) -> int:
    """Add the events of log files, directories, .gz files or - (stdin) to a store."""
    from escudo.store.ingest import ingest as run_ingest

    stats = ReadStats()
    kept = raw_sourcetypes(raw_events, content_dirs)
    report = run_ingest(list(paths), store, stats=stats, sourcetype=sourcetype, raw_events=kept)
    click.echo(stats.summary(), err=True)
    click.echo(report.summary(), err=True)
    return strict_exit(stats, strict)


def raw_sourcetypes(choice: str, content_dirs: Sequence[Path]) -> frozenset[str] | None:
    """The sourcetypes whose raw events ``--raw-events choice`` keeps (None: all of them); auto:
    those the raw searches of the built-in content and ``content_dirs`` read."""
    if choice == "all":
        return None
    if choice == "none":
        return frozenset()
    from escudo.compile.cache import CompileCache
    from escudo.content.loader import load_content
    from escudo.detect.hunt import content_raw_sourcetypes

    return content_raw_sourcetypes(load_content(list(content_dirs)), CompileCache.default())
