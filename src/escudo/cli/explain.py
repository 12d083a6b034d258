"""``escudo explain DETECTION|FILE|'SPL'``: the macro-expanded SPL and, with ``--sql``, the compiled SQL.

Exit 0 when the search compiles; 2 with the located error (line, column, caret) when it does not.
"""

from __future__ import annotations

from pathlib import Path

import click

from escudo.cli.options import content_option
from escudo.content.loader import is_file, macros_for, resolve_detection
from escudo.content.model import ContentSet, Detection
from escudo.errors import InputError

DIALECTS = ("duckdb", "spark")


def pick_target(content: ContentSet, ref: str) -> Detection | None:
    """The detection ``ref`` names (name, id or YAML file), or ``None`` when ``ref`` is SPL text.

    Text that names nothing is SPL only when it looks like a search (``|``, ``=`` or a backtick
    macro); otherwise it is a mistyped name, reported with the loader's "did you mean" hint rather
    than as a search that does not start with ``| tstats``.

    >>> from escudo.content.loader import load_content
    >>> pick_target(load_content(), "| tstats count from datamodel=Endpoint.Processes") is None
    True
    """
    looks_like_file = ref.endswith((".yml", ".yaml")) or is_file(Path(ref))
    looks_like_spl = any(mark in ref for mark in "|=`")
    try:
        return resolve_detection(content, ref)
    except InputError:
        if looks_like_file or not looks_like_spl:
            raise
    return None


@click.command()
@click.argument("target", metavar="DETECTION|FILE|'SPL'")
@content_option()
@click.option("--sql", "show_sql", is_flag=True, help="Also print the compiled SQL.")
@click.option("--dialect", type=click.Choice(DIALECTS), default="duckdb", show_default=True)
def explain(target: str, content_dirs: tuple[Path, ...], show_sql: bool, dialect: str) -> int:  # fmt: skip
    """Show the expanded SPL of a detection or search and (with --sql) the SQL it compiles to."""
    from escudo.compile import compile_search
    from escudo.content.loader import load_content

    content = load_content(list(content_dirs))
    detection = pick_target(content, target)
    if detection is None:
        compiled = compile_search(target, macros=macros_for(content), lookups=content.lookups)
        click.echo("-- SPL (macros expanded)")
    else:
        origin = str(detection.path) if detection.path is not None else detection.name
        compiled = compile_search(
            detection.search,
            macros=macros_for(content, detection),
            origin=origin,
            lookups=content.lookups,
        )
        click.echo(f"-- {detection.name} ({origin})")
        click.echo("-- SPL (macros expanded)")
    click.echo(compiled.spl)
    if show_sql:
        click.echo(f"-- SQL ({dialect})")
        click.echo(compiled.sql(dialect, pretty=True))
    return 0
