"""docs/architecture.md's "add an engine" recipe names files that exist, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def _recipe(start: str) -> str:
    """The bullet of "Where to add" that starts with ``start`` (up to the next bullet)."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"^- {re.escape(start)}.*?(?=^- |\Z)", text, re.M | re.S)
    assert found is not None, f"no recipe starting {start!r} in {DOC.name}"
    return found.group(0)


def _exists(path: str) -> bool:
    path = path.split(":")[0]
    return (ROOT / "src" / "escudo" / path).exists() or (ROOT / path).exists()


def test_add_an_engine_recipe_names_existing_files() -> None:
    recipe = _recipe("an engine")
    named = re.findall(r"`([\w/.]+\.py(?::\w+)?)`", recipe)
    assert {"engines/base.py:Engine", "engines/__init__.py:ENGINES", "compile/dialects.py"} <= set(
        named
    )
    assert [p for p in named if not _exists(p)] == []
