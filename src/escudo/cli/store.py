"""``escudo store migrate OLD NEW``: copy a DuckDB store file of escudo 0.1 into a store directory."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def store() -> None:
    """Manage escudo's store (a directory of Parquet files)."""


@store.command()
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("new", type=click.Path(path_type=Path, file_okay=False))
def migrate(old: Path, new: Path) -> None:
    """Copy the DuckDB store file OLD (escudo 0.1) into the store directory NEW (created if
    missing; an existing store gains what it lacks). OLD is only read."""
    from escudo.detect.store import Store, migrate_duckdb

    results, risk, findings = migrate_duckdb(old, Store(new))
    click.echo(f"{new}: {results} results, {risk} risk events, {findings} findings added", err=True)
