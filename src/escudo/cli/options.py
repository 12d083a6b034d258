"""Options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

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
