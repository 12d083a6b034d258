"""docs/spl-support.md is generated from the COMMANDS table and must not drift (datasette's habit)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from escudo.compile.commands import COMMANDS
from escudo.spl.parser import PARSERS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_spl_support.py"


def test_spl_support_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_spl_support", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PAGE.read_text(encoding="utf-8") == module.render(), (
        "run python scripts/gen_spl_support.py"
    )


def test_every_parsed_command_is_lowered() -> None:
    assert set(PARSERS) == set(COMMANDS)
