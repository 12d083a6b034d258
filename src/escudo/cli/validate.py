"""``escudo validate``: check detection YAML files, one ``path:line: message`` per problem.

Exit codes: 0 when every file is clean, 1 when problems were found, 2 on usage errors.
"""

from __future__ import annotations

from pathlib import Path

import click

from escudo.cli.options import content_option


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path), metavar="[PATH]...")
@content_option(
    "A content folder: its macros resolve searches; with no PATH its detections are checked."
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print problems only, no per-file OK lines or tally."
)
def validate(paths: tuple[Path, ...], content_dirs: tuple[Path, ...], quiet: bool) -> int:
    """Validate detection YAML (files or folders; default: the --content folders, else built-in content).

    Checks required keys and types of all three ESCU schemas, the `<name>_filter` macro, message
    `$field$` tokens against the search's output fields, ATT&CK ids, drilldowns, macros, id and enums.
    """
    from escudo.content.loader import BUILTIN_DIR
    from escudo.content.validate import detection_files, load_macros, validate_file
    from escudo.errors import InputError

    for folder in content_dirs:
        if not folder.is_dir():
            raise InputError(f"--content: folder not found: {folder}")
    for path in paths:
        try:
            exists = path.exists()
        except OSError as exc:  # e.g. a name longer than the system allows
            raise InputError(f"{exc.strerror}: {path}") from None
        if not exists:
            raise InputError(f"no such file or folder: {path}")
    targets = list(paths) or list(content_dirs) or [BUILTIN_DIR]
    macros, problems = load_macros(list(content_dirs))
    files = detection_files(targets)
    if not files:
        raise InputError(f"no detection YAML under {', '.join(str(t) for t in targets)}")
    bad_files = 0
    for problem in problems:
        click.echo(str(problem))
    for file in files:
        found = validate_file(file, macros=macros)
        for problem in found:
            click.echo(str(problem))
        if found:
            bad_files += 1
        elif not quiet:
            click.echo(f"{file}: OK")
        problems += found
    if not quiet:
        click.echo(
            f"validated {len(files)} detection file{'s' if len(files) != 1 else ''}: "
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {bad_files} file{'s' if bad_files != 1 else ''}"
        )
    return 1 if problems else 0
