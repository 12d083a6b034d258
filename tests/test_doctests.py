"""Every docstring example in the package runs, so none can drift from the code.

Modules are discovered, not listed: a new module's examples are tested the day it is added.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import escudo

MODULES = sorted(m.name for m in pkgutil.walk_packages(escudo.__path__, "escudo."))


def test_modules_are_discovered() -> None:
    assert {"escudo.errors", "escudo.spl.parser", "escudo.detect.risk"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
