"""What is particular to the Spark engine (the protocol itself: test_protocol.py)."""

from __future__ import annotations

import sys

import pytest

from escudo.engines import new_engine
from escudo.errors import EngineError


def test_without_pyspark_the_engine_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module set to None in sys.modules fails to import, as an uninstalled one does.
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(EngineError) as info:
        new_engine("spark")
    assert str(info.value) == "pyspark is not installed: pip install 'escudo[spark]'"
