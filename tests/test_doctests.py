"""Every docstring example in the package runs, so none can drift from the code.

Modules are discovered, not listed: a new module's examples are tested the day it is added.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import escudo

MODULES = sorted(m.name for m in pkgutil.walk_packages(escudo.__path__, "escudo."))


def test_modules_are_discovered() -> None:
    assert {"escudo.errors", "escudo.spl.parser", "escudo.detect.risk"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_readme_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's library example runs (from the project folder, where its sample is)."""
    readme = Path(__file__).parents[1] / "README.md"
    monkeypatch.chdir(readme.parent)
    result = doctest.testfile(
        str(readme), module_relative=False, optionflags=doctest.ELLIPSIS, encoding="utf-8"
    )
    assert result.attempted >= 5 and result.failed == 0
