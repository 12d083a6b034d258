"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from escudo.engines.spark import SparkEngine

# One small local Spark for the whole test session (each xdist worker has its own): starting one
# costs tens of seconds, so engines made in tests reuse it (escudo.engines.spark keeps the process's
# Spark running while any engine is open).
SPARK_TEST_CONFIG = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkEngine]:
    """A Spark engine open for the whole session; ``new_engine("spark")`` shares its Spark."""
    with SparkEngine(master="local[2]", config=SPARK_TEST_CONFIG) as engine:
        yield engine


@pytest.fixture(scope="session", autouse=True)
def compile_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hunts keep compiled detections in the user's cache folder (escudo.compile.cache): the
    tests' go to a folder of their own (escudo commands run by tests inherit it)."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
