"""The ``escudo`` command: argument parsing and rendering only; the work lives in the library.

Each subcommand lives in its own module of this package and is registered in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys

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


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="escudo")
def cli() -> None:
    """Run Splunk ESCU detections on Linux endpoint telemetry, without Splunk."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: EscudoError becomes one rendered message on stderr and exit code 2."""
    try:
        rv = cli.main(args=argv, prog_name="escudo", standalone_mode=False)
    except EscudoError as exc:
        click.echo(f"escudo: error: {exc.render()}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


def run() -> None:
    sys.exit(main())
