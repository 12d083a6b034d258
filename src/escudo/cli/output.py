"""The output options every row-printing command shares (``events``, ``hunt``, ``search``,
``drilldown``): ``--format/-f``, ``--output/-o``, ``--csv-safe``; declared once so they behave the
same everywhere, and the one place an ``--output`` file is opened (:func:`open_output`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

import click

from escudo.cli.options import check_output_path
from escudo.errors import InputError
from escudo.outputs import WRITERS, OutputOptions, Section, write_sections
from escudo.sources.base import ReadStats


def output_options(default_format: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format/-f FORMAT``, ``--output/-o FILE`` and ``--csv-safe``, passed to the command as
    ``fmt``, ``output`` and ``csv_safe``.

    >>> @click.command()
    ... @output_options("table")
    ... def cmd(fmt: str, output: str | None, csv_safe: bool) -> None: ...
    >>> [p.opts for p in cmd.params]
    [['--format', '-f'], ['--output', '-o'], ['--csv-safe']]
    """
    options = [
        click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(list(WRITERS)),
            default=default_format,
            show_default=True,
            help="table: aligned text for a terminal (control characters escaped); jsonl: one JSON "
            "object per row; csv: a header and one row per result; parquet: a Parquet file "
            "(needs --output).",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False),
            help="Write here instead of stdout.",
        ),
        click.option(
            "--csv-safe",
            is_flag=True,
            help="CSV: prefix a cell starting with = + - @, tab or CR with ' so a spreadsheet "
            "shows it as text instead of running it as a formula.",
        ),
    ]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def check_output(fmt: str, output: str | None) -> None:
    """Usage errors found before any work: Parquet is a file format, never a terminal's, and an
    ``--output`` file that cannot be created (a missing folder, a folder, a name too long)."""
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet needs --output FILE")
    check_output_path(output, "--output")


@contextmanager
def open_output(output: str | None) -> Iterator[BinaryIO]:
    """The binary stream rows are written to: ``output`` opened for writing, else stdout."""
    if output is None:
        sys.stdout.flush()  # anything printed before, through the text layer, comes first
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()  # rows before the summary on a shared terminal
        return
    with open(output, "wb") as fh:
        yield fh


def write_output(sections: Sequence[Section], fmt: str, output: str | None, csv_safe: bool) -> int:
    """Write ``sections`` as the output options say (each command has called
    :func:`check_output` before its work); the number of rows written."""
    with open_output(output) as out:
        return write_sections(sections, fmt, out, OutputOptions(csv_safe=csv_safe))


def strict_exit(stats: ReadStats, strict: bool) -> int:
    """2 when ``--strict`` fails the read (its reason printed as the error line), else 0."""
    failure = stats.strict_failure() if strict else None
    if failure:
        click.echo(f"escudo: error: {failure}", err=True)
        return 2
    return 0
