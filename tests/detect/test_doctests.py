"""The docstring examples of the detect and outputs modules run, so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "escudo.detect.attack",
    "escudo.detect.drilldown",
    "escudo.detect.emit",
    "escudo.detect.findings",
    "escudo.detect.hunt",
    "escudo.detect.identity",
    "escudo.detect.risk",
    "escudo.detect.store",
    "escudo.detect.testing",
    "escudo.outputs.hec",
    "escudo.outputs.junit",
    "escudo.outputs.navigator",
    "escudo.outputs.records",
    "escudo.outputs.spool",
    "escudo.outputs.test_summary",
    "escudo.cli.drilldown",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
