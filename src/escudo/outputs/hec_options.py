"""The ``--hec-*`` options of a command, apart from the HEC client so that declaring them imports
nothing heavy (:mod:`escudo.outputs.hec` pulls in http.client, ssl and the spool; a command
imports it only when it runs).

>>> import click
>>> @click.command()
... @add_hec_options
... def cmd(**hec: object) -> None: ...
>>> sorted(p.name for p in cmd.params)[:2]
['hec_index', 'hec_insecure']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

DEFAULT_SOURCETYPE = "escudo"


def add_hec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Click decorator adding the ``--hec-*`` options, refused without ``--hec-url``
    (:func:`check_hec_options`, before the command runs); pair it with
    :func:`escudo.outputs.hec.hec_from_options`.

    Usage in a command module::

        @click.command()
        @add_hec_options
        def hunt(..., **hec): sender = hec_from_options(**hec)
    """
    options = [
        click.option(
            "--hec-url",
            envvar="ESCUDO_HEC_URL",
            help="Splunk HEC URL, e.g. https://splunk:8088. Exit 3 when delivery gives up "
            "(the events stay spooled for the next run).",
        ),
        click.option(
            "--hec-token",
            envvar="ESCUDO_HEC_TOKEN",
            help="HEC token (or the ESCUDO_HEC_TOKEN variable).",
        ),
        click.option("--hec-index", help="Index for the events (default: the token's)."),
        click.option("--hec-sourcetype", help=f"Sourcetype (default: {DEFAULT_SOURCETYPE})."),
        click.option(
            "--hec-insecure", is_flag=True, help="Do not verify the collector's TLS certificate."
        ),
        click.option(
            "--hec-spool",
            type=click.Path(path_type=Path, file_okay=False),
            help="Spool folder for undelivered events (default: the user's state directory).",
        ),
    ]

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_hec_options({k: v for k, v in kwargs.items() if k.startswith("hec_")})
        return command(*args, **kwargs)

    wrapped: Callable[..., Any] = checked
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def check_hec_options(hec: Mapping[str, Any]) -> None:
    """Refuse ``--hec-*`` options typed on the command line without ``--hec-url``: they would
    send nothing, silently. A token from ``ESCUDO_HEC_TOKEN`` alone is fine (a standing setting).

    Runs inside the command (it reads where click took each value from); raises
    :class:`click.UsageError` (exit 2).
    """
    ctx = click.get_current_context()
    url = hec.get("hec_url")
    typed = ctx.get_parameter_source("hec_url") == ParameterSource.COMMANDLINE
    if typed and url is not None and not url.strip():
        raise click.UsageError("--hec-url is empty")
    if url:
        return
    given = [
        f"--{name.replace('_', '-')}"
        for name, value in hec.items()
        if name.startswith("hec_")
        and name != "hec_url"
        and value not in (None, False)
        and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)} without --hec-url: nothing would be sent")
