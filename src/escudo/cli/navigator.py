"""``escudo navigator``: an ATT&CK Navigator layer (format 4.5) of coverage or of what fired."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from escudo.cli.options import check_output_path, content_option
from escudo.detect import attack
from escudo.errors import InputError
from escudo.outputs.navigator import coverage, fired, navigator_layer


@click.command()
@content_option()
@click.option("--builtin/--no-builtin", default=True, help="Include the built-in content.")
@click.option(
    "--fired", "use_fired", is_flag=True, help="Techniques whose risk events are in the store."
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Store file for --fired (default: the user's data directory).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the layer here instead of standard output.",
)
@click.option(
    "--attack-stix",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A full MITRE enterprise-attack.json to use instead of the bundled ATT&CK table.",
)
@click.option("--name", default=None, help="Layer name.")
def navigator(
    content_dirs: tuple[Path, ...],
    builtin: bool,
    use_fired: bool,
    store_path: Path | None,
    output: Path | None,
    attack_stix: Path | None,
    name: str | None,
) -> int:
    """Write an ATT&CK Navigator layer: detection coverage of the content, or (--fired) the
    techniques of the risk events in the store. Scores count detections per technique."""
    if store_path is not None and not use_fired:
        raise InputError("--store is only used with --fired")
    check_output_path(output, "--output")
    with attack.stix_in_use(attack_stix):
        layer = _layer(content_dirs, builtin, use_fired, store_path, name)
    text = json.dumps(layer, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write layer: {exc.strerror}", path=str(output)) from exc
        click.echo(f"wrote {len(layer['techniques'])} techniques to {output}", err=True)
    return 0


def _layer(
    content_dirs: tuple[Path, ...],
    builtin: bool,
    use_fired: bool,
    store_path: Path | None,
    name: str | None,
) -> dict[str, Any]:
    if use_fired:
        from escudo.detect.store import Store

        store = Store(store_path)
        by_technique, counts = fired(store.risk_table())
        return navigator_layer(
            by_technique,
            name=name or "escudo: techniques that fired",
            description=f"Techniques of the risk events in {store.path}; score = detections that fired.",
            counts=counts,
        )
    from escudo.content.loader import load_content

    content = load_content(content_dirs, builtin=builtin)
    return navigator_layer(
        coverage(content.detections.values()),
        name=name or "escudo: detection coverage",
        description=f"{len(content.detections)} detections; score = detections per technique.",
    )
