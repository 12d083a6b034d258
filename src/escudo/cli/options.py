"""Options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from escudo.engines.base import Engine

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


ENGINE_HELP = (
    "Where searches run: duckdb (in process, the default) or spark (pyspark, escudo[spark])."
)
SPARK_MASTER_HELP = (
    "Spark master: local[*] (default), spark://HOST:PORT, yarn, k8s://URL, or sc://HOST:PORT for "
    "Spark Connect."
)


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine duckdb|spark`` and ``--spark-master URL``, passed as ``engine`` and
    ``spark_master``; the command makes its engine with :func:`open_engine`.

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


def open_engine(engine: str, spark_master: str | None) -> Engine | None:
    """The engine the options ask for, closed at exit; None for the default DuckDB engine (the
    command's library call makes and closes its own). ``--spark-master`` needs ``--engine spark``.

    >>> open_engine("duckdb", None) is None
    True
    """
    import atexit

    from escudo.engines import DEFAULT_ENGINE, new_engine
    from escudo.errors import InputError

    name = engine.lower()
    if spark_master and name != "spark":
        raise InputError("--spark-master needs --engine spark")
    if name == DEFAULT_ENGINE:
        return None
    made = new_engine(name, master=spark_master) if name == "spark" else new_engine(name)
    atexit.register(made.close)
    return made
