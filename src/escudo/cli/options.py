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
