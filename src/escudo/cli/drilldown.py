"""``escudo drilldown``: run a detection's drilldown searches for one of its results.

The result comes from re-hunting over PATH... (``--row N``, 1-based); without PATH, from re-hunting
over the events of ``--store DIR`` when ``escudo ingest`` filled it (the drilldowns then read its
events too), else from the results an earlier ``escudo hunt --store`` kept there. ``--token
NAME=VALUE`` sets or overrides a token. Risk events (``Risk.All_Risk``) always come from the store
(``--store``, else the default one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from escudo.cli.options import content_option
from escudo.cli.output import check_output, output_options, write_output
from escudo.errors import InputError
from escudo.outputs import Section
from escudo.outputs.base import format_time
from escudo.outputs.table import terminal_text


def parse_tokens(values: tuple[str, ...]) -> dict[str, str]:
    """``("user=alice", "dest=web-02")`` -> ``{"user": "alice", "dest": "web-02"}``.

    >>> parse_tokens(("user=a=b",))
    {'user': 'a=b'}
    """
    tokens: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--token {value!r}: expected NAME=VALUE")
        tokens[name.strip()] = text
    return tokens


@click.command()
@click.argument("detection_ref", metavar="DETECTION")
@click.argument("paths", nargs=-1)
@click.option(
    "--row", type=click.IntRange(min=1), help="Use result row N (1-based) of the detection."
)
@click.option(
    "--token", "token_values", multiple=True, metavar="NAME=VALUE", help="Set a $NAME$ token."
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    help="The store (default: the user's); without PATH, its ingested events are hunted.",
)
@content_option()
@output_options("table")
def drilldown(
    detection_ref: str,
    paths: tuple[str, ...],
    row: int | None,
    token_values: tuple[str, ...],
    store_path: Path | None,
    content_dirs: tuple[Path, ...],
    fmt: str,
    output: str | None,
    csv_safe: bool,
) -> int:
    """Run DETECTION's drilldown searches for a result over PATH... or over the store."""
    from escudo.content.loader import load_content, resolve_detection
    from escudo.detect.drilldown import run_drilldowns, trigger_from
    from escudo.detect.store import Store
    from escudo.store.read import has_events

    check_output(fmt, output)
    content = load_content(list(content_dirs))
    detection = resolve_detection(content, detection_ref)
    if not detection.drilldown_searches:
        raise InputError(f"{detection.name!r} has no drilldown_searches")
    store = Store(store_path)
    events = store_path if not paths and has_events(store_path) else None
    trigger, rows = trigger_from(
        detection,
        content,
        row=row,
        tokens=parse_tokens(token_values),
        paths=paths,
        store=None if paths else store,
        events=events,
    )
    runs = run_drilldowns(
        detection, content, trigger, paths=paths, store=store, stored_rows=rows, events=events
    )
    sections: list[Section] = []
    for run in runs:
        window = f"{_iso(run.earliest)} .. {_iso(run.latest)}"
        # The search holds token values taken from logs: shown escaped, like table cells.
        line = f"escudo: drilldown {run.name!r} over {window}: {run.spl}"
        click.echo(terminal_text(line), err=True)
        sections.append(Section.of_table(run.name, run.rows))
    write_output(sections, fmt, output, csv_safe)
    return 0


def _iso(value: Any) -> str:
    return format_time(value) if value is not None else "*"
