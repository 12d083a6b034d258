"""The examples in the docstrings of the SPL front end, compiler and engines run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "escudo.spl.tokens",
    "escudo.spl.parser",
    "escudo.spl.cursor",
    "escudo.spl.commands",
    "escudo.spl.expressions",
    "escudo.spl.macros",
    "escudo.compile",
    "escudo.compile.pushdown",
    "escudo.engines.duckdb",
    "escudo.engines.spark",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
