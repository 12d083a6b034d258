"""Options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from escudo.errors import InputError

CONTENT_HELP = (
    "A content folder (detections/, macros/, lookups/, ESCU layout); repeatable, later wins."
)


def content_option(help: str = CONTENT_HELP) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--content DIR`` (repeatable), passed to the command as ``content_dirs``.

    >>> @click.command()
    ... @content_option()
    ... def cmd(content_dirs: tuple[Path, ...]) -> None: ...
    >>> [p.opts for p in cmd.params]
    [['--content']]
    """
    return click.option(
        "--content",
        "content_dirs",
        multiple=True,
        type=click.Path(path_type=Path, file_okay=False),
        help=help,
    )


def emit_option(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--emit results|risk|findings`` (default results), passed as ``emit_kind``; ``verb``
    says what the command does with them ("Print", "Deliver").

    >>> @click.command()
    ... @emit_option("Print")
    ... def cmd(emit_kind: str) -> None: ...
    >>> [(p.opts, p.default) for p in cmd.params]
    [(['--emit'], 'results')]
    """
    from escudo.detect.result import EMIT_KINDS

    return click.option(
        "--emit",
        "emit_kind",
        type=click.Choice(EMIT_KINDS),
        default="results",
        show_default=True,
        help=f"{verb} result rows, risk events or findings.",
    )


def check_output_path(path: Path | str | None, option: str) -> None:
    """Refuse an output file that cannot be created, before the command does its work: a missing
    folder, a folder given as the file, a name the system refuses (longer than 255 bytes).

    >>> check_output_path("/nonexistent-folder/out.json", "--output")
    Traceback (most recent call last):
    ...
    escudo.errors.InputError: --output: folder not found: /nonexistent-folder
    """
    if path is None:
        return
    target = Path(path)
    try:
        if target.is_dir():
            raise InputError(f"{option}: {target} is a folder, not a file")
        if not target.parent.is_dir():
            raise InputError(f"{option}: folder not found: {target.parent}")
    except OSError as exc:
        raise InputError(f"{option}: {exc.strerror}: {target}") from None


ENGINE_HELP = (
    "Where searches run: duckdb (in process, the default) or spark (pyspark, escudo[spark])."
)
SPARK_MASTER_HELP = (
    "Spark master: local[*] (default), spark://HOST:PORT, yarn, k8s://URL, or sc://HOST:PORT for "
    "Spark Connect."
)


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine duckdb|spark`` and ``--spark-master URL``, passed as ``engine`` and
    ``spark_master``; :func:`engine_settings` turns them into the session's engine settings.

    >>> @click.command()
    ... @engine_options
    ... def cmd(engine: str, spark_master: str | None) -> None: ...
    >>> [p.opts for p in cmd.params]
    [['--engine'], ['--spark-master']]
    """
    from escudo.engines import DEFAULT_ENGINE, ENGINES

    command = click.option("--spark-master", metavar="URL", help=SPARK_MASTER_HELP)(command)
    return click.option(
        "--engine",
        type=click.Choice(sorted(ENGINES), case_sensitive=False),
        default=DEFAULT_ENGINE,
        show_default=True,
        help=ENGINE_HELP,
    )(command)


def engine_settings(engine: str, spark_master: str | None) -> dict[str, Any]:
    """The engine settings the options ask for (the session makes and closes the engine);
    ``--spark-master`` needs ``--engine spark``.

    >>> engine_settings("duckdb", None), engine_settings("spark", "local[2]")
    ({}, {'master': 'local[2]'})
    """
    if spark_master and engine.lower() != "spark":
        raise InputError("--spark-master needs --engine spark")
    return {"master": spark_master} if spark_master else {}
