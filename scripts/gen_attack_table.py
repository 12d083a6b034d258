#!/usr/bin/env python3
"""Regenerate escudo's bundled ATT&CK table from a full MITRE ``enterprise-attack.json``.

Usage::

    scripts/gen_attack_table.py STIX_JSON OUT [--ids-from DIR ...] [--id T1234 ...] [--all] [--no-builtin]

By default the table keeps the techniques named by ``mitre_attack_id`` in the YAML files under
``src/escudo/content/builtin`` and every ``--ids-from`` folder (for example the ESCU corpus'
``detections/``), plus the parents of sub-techniques; ``--all`` keeps every current technique.
Ids the bundle lacks (revoked or deprecated techniques) are printed and listed under ``"missing"``.

Get the bundle from MITRE: ``mitre-attack/attack-stix-data`` ``enterprise-attack/enterprise-attack-<v>.json``
(or ``mitre/cti`` ``enterprise-attack/enterprise-attack.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from escudo.detect.attack import TECHNIQUE_ID, dump_table, load_stix, normalize_id

BUILTIN = Path(__file__).resolve().parent.parent / "src" / "escudo" / "content" / "builtin"
# Schema A keeps the ids under tags:, schemas B and C at the top level (escu-semantics.md 1c).
ID_PATHS: tuple[tuple[str, ...], ...] = (("tags", "mitre_attack_id"), ("mitre_attack_id",))


def _walk(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def ids_in_yaml(folders: Iterable[Path]) -> Iterator[str]:
    """Every technique id named by ``mitre_attack_id`` in ``*.yml``/``*.yaml`` under the folders."""
    for folder in folders:
        for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")]):
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                print(f"warning: skipping {path}: {exc}", file=sys.stderr)
                continue
            for id_path in ID_PATHS:
                value = _walk(doc, id_path)
                for item in value if isinstance(value, list) else [value] if value else []:
                    tid = normalize_id(str(item))
                    if TECHNIQUE_ID.match(tid):
                        yield tid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stix_json", type=Path, help="a full enterprise-attack.json")
    parser.add_argument("out", type=Path, help="where to write the table (JSON)")
    parser.add_argument("--ids-from", type=Path, action="append", default=[], metavar="DIR")
    parser.add_argument("--id", action="append", default=[], metavar="TID")
    parser.add_argument("--all", action="store_true", help="keep every technique")
    parser.add_argument(
        "--no-builtin", action="store_true", help="do not scan the built-in content"
    )
    args = parser.parse_args(argv)

    table = load_stix(args.stix_json)
    source = f"MITRE ATT&CK Enterprise {table.version} {args.stix_json.name} (see README.md)"
    table = type(table)(table.version, source, table.techniques, table.tactics)
    ids: set[str] | None = None
    if not args.all:
        builtin = [BUILTIN] if BUILTIN.is_dir() and not args.no_builtin else []
        folders = [*builtin, *args.ids_from]
        ids = set(ids_in_yaml(folders)) | {normalize_id(i) for i in args.id}
    text = dump_table(table, ids)
    args.out.write_text(text, encoding="utf-8")
    missing = [i for i in sorted(ids or ()) if table.lookup(i) is None]
    kept = len(json.loads(text)["techniques"])
    print(f"ATT&CK {table.version}: wrote {args.out} ({kept} techniques)")
    if missing:
        print("not in this release (revoked or deprecated): " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
