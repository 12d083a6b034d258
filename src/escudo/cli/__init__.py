"""The ``escudo`` command: argument parsing and rendering only; the work lives in the library.

Each subcommand lives in its own module of this package and is registered in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from escudo import __version__
from escudo.errors import EscudoError

# subcommand name -> "module:attribute" (imported lazily so `escudo --help` stays fast)
COMMANDS: dict[str, str] = {
    "events": "escudo.cli.events:events",
    "hunt": "escudo.cli.hunt:hunt",
    "search": "escudo.cli.hunt:search",
    "explain": "escudo.cli.explain:explain",
    "test": "escudo.cli.testing:test",
    "validate": "escudo.cli.validate:validate",
    "drilldown": "escudo.cli.drilldown:drilldown",
    "navigator": "escudo.cli.navigator:navigator",
    "ingest": "escudo.cli.ingest:ingest",
    "store": "escudo.cli.store:store",
    "watch": "escudo.cli.watch:watch",
    "status": "escudo.cli.watch:status",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name)


def _load(name: str) -> click.Command | None:
    target = COMMANDS.get(name)
    if target is None:
        return None
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name == module_name:
            return None
        raise
    command = getattr(module, attr)
    assert isinstance(command, click.Command)
    return command


# Set to 1 (or pass ``escudo --debug``) to see the Python traceback of an unexpected error.
DEBUG_ENV = "ESCUDO_DEBUG"
PREFIX = "escudo: error: "


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="escudo")
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the Python traceback of an unexpected error (or set {DEBUG_ENV}=1).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run Splunk ESCU detections on Linux endpoint telemetry, without Splunk."""
    state = ctx.ensure_object(dict)
    state["debug"] = state.get("debug", False) or debug


def main(argv: list[str] | None = None) -> int:
    """Entry point: every failure ends as one ``escudo: error: ...`` message and exit code 2.

    An :class:`EscudoError` prints its rendered message (maybe with a caret excerpt); a click usage
    error the same prefix and a pointer to ``--help``; an :class:`OSError` naming a file
    ``file: reason``; anything else is a bug, printed as ``internal error`` (its traceback with
    ``--debug`` or ``ESCUDO_DEBUG=1``).
    """
    state: dict[str, Any] = {"debug": os.environ.get(DEBUG_ENV, "") not in ("", "0")}
    try:
        rv = cli.main(args=argv, prog_name="escudo", standalone_mode=False, obj=state)
    except EscudoError as exc:
        _fail(exc.render(), state)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(f"{exc.format_message().rstrip('.')}{hint}", state)
        return 2
    except click.ClickException as exc:
        _fail(exc.format_message(), state)
        return 2
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 130
    except BrokenPipeError:  # the reader went away (`escudo events ... | head`): stop quietly
        _silence_stdout()
        return 2
    except OSError as exc:  # a file the command was given: missing folder, name too long, ...
        where = f"{exc.filename}: " if exc.filename is not None else ""
        _fail(f"{where}{exc.strerror or exc}", state)
        return 2
    except Exception as exc:  # a bug: still one line, the traceback only when asked for
        text = " ".join(str(exc).split())  # one line, whatever the exception says
        _fail(
            f"internal error: {type(exc).__name__}: {text} "
            f"(run with --debug or {DEBUG_ENV}=1 for the traceback)",
            state,
        )
        return 2
    return rv if isinstance(rv, int) else 0


def _fail(message: str, state: dict[str, Any]) -> None:
    if state.get("debug") and sys.exc_info()[0] is not None:
        traceback.print_exc()
    first, sep, rest = message.partition("\n")
    click.echo(f"{PREFIX}{_one_line(first)}{sep}{rest}", err=True)


def _one_line(text: str, limit: int = 500) -> str:
    """``text`` without control characters, cut to ``limit`` characters (a 1 MB argument must
    not become a 1 MB error line)."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would report the broken pipe again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind stdout (a test's capture)
        pass


def run() -> None:
    sys.exit(main())
