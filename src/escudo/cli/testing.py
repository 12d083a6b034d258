"""``escudo test``: run detections' tests on attack data, the way ``contentctl test`` judges them.

Exit codes: 0 when every test passed or was skipped, 1 on any FAIL or ERROR, 2 on usage or content
errors (an unknown detection, an unreadable content folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from escudo.cli.options import check_output_path, content_option


@click.command()
@click.argument("detection_refs", nargs=-1, metavar="[DETECTION|FILE]...")
@content_option()
@click.option(
    "--attack-data",
    "attack_data_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A local copy of splunk/attack_data (searched before the bundled data; repeatable).",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="Run each test over the events of this store (`escudo ingest` filled it) instead of "
    "its attack data.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a JUnit XML report to this file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="table: one line per test; json: contentctl's summary.yml shape.",
)
def test(
    detection_refs: tuple[str, ...],
    content_dirs: tuple[Path, ...],
    attack_data_dirs: tuple[Path, ...],
    store: Path | None,
    junit_path: Path | None,
    fmt: str,
) -> int:
    """Test DETECTIONs (name, id or YAML file; default: every detection with tests).

    Each test's attack_data URL is looked up locally (its path after /attack_data/master/ under
    --attack-data folders, then escudo's bundled attack data); nothing is downloaded. A test entry
    with `expect: none` is a negative test: it passes when the search finds nothing. With
    --store DIR each test runs over the store's events instead (no attack data is read).
    """
    from escudo.content.loader import load_content, resolve_detection
    from escudo.detect.testing import run_tests
    from escudo.errors import InputError
    from escudo.outputs.junit import write_junit
    from escudo.outputs.test_summary import render_table, summary

    check_output_path(junit_path, "--junit")
    if store is not None:
        from escudo.store.read import open_store

        open_store(store)  # checked before the run: an error, not a failed test per entry
    for folder in attack_data_dirs:
        if not folder.is_dir():
            raise InputError(f"--attack-data: folder not found: {folder}")
    content = load_content(list(content_dirs))
    if detection_refs:
        by_name = {d.name: d for d in (resolve_detection(content, ref) for ref in detection_refs)}
        detections = list(by_name.values())
        mode = "selected"
    else:
        detections = sorted(
            (d for d in content.detections.values() if d.tests), key=lambda d: d.name
        )
        mode = "all"
        if not detections:
            raise InputError("no detection in the loaded content has tests")
    report = run_tests(
        detections, content=content, attack_data_dirs=attack_data_dirs, mode=mode, events=store
    )
    if fmt == "json":
        click.echo(json.dumps(summary(report), indent=2))
    else:
        click.echo(render_table(report))
    if junit_path is not None:
        try:
            write_junit(report, junit_path)
        except OSError as exc:
            raise InputError(f"--junit: cannot write {junit_path}: {exc.strerror}") from None
    return 0 if report.success else 1
