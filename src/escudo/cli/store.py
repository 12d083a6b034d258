"""``escudo store compact|prune|migrate``: maintenance of a store directory (see ``escudo ingest``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from escudo.errors import InputError

_STORE = click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The store directory.",
)


@click.group()
def store() -> None:
    """Maintain a store directory."""


@store.command()
@_STORE
def compact(store: Path) -> int:
    """Merge each partition's small files into few big ones."""
    from escudo.store.maintain import compact as run

    click.echo(run(store).summary("compact"), err=True)
    return 0


@store.command()
@_STORE
@click.option("--before", required=True, metavar="YYYY-MM-DD", help="Drop data of days before this one.")  # fmt: skip
def prune(store: Path, before: str) -> int:
    """Retention: drop every partition of a day before --before (UTC)."""
    from escudo.store.maintain import prune as run

    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise InputError(f"--before: not a date (YYYY-MM-DD): {before!r}") from None
    click.echo(run(store, day).summary("prune"), err=True)
    return 0


@store.command()
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("new", type=click.Path(path_type=Path, file_okay=False))
def migrate(old: Path, new: Path) -> None:
    """Copy the DuckDB store file OLD (escudo 0.1) into the store directory NEW (created if
    missing; an existing store gains what it lacks). OLD is only read."""
    from escudo.detect.store import Store, migrate_duckdb

    results, risk, findings = migrate_duckdb(old, Store(new))
    click.echo(f"{new}: {results} results, {risk} risk events, {findings} findings added", err=True)
