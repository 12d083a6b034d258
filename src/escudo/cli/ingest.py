"""``escudo ingest PATH... --store DIR``: normalized events into a store directory, incrementally.

Only what is new since the last run is added (per-input checkpoints); a run commits all at once.
Exit codes: 0 done; 2 on errors, and with ``--strict`` when an input could not be read (in full)
or had malformed records. A read summary and an ingest summary go to stderr; progress too on long
runs when stderr is a terminal.
"""

from __future__ import annotations

from pathlib import Path

import click

from escudo.cli.output import strict_exit
from escudo.sources.base import ReadStats


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
def ingest(paths: tuple[str, ...], store: Path, strict: bool, sourcetype: str | None) -> int:
    """Add the events of log files, directories, .gz files or - (stdin) to a store."""
    from escudo.store.ingest import ingest as run_ingest

    stats = ReadStats()
    report = run_ingest(list(paths), store, stats=stats, sourcetype=sourcetype)
    click.echo(stats.summary(), err=True)
    click.echo(report.summary(), err=True)
    return strict_exit(stats, strict)
