"""engines stage of escudo: running compiled searches (see docs/architecture.md, "Engines").

Every engine implements the :class:`~escudo.engines.base.Engine` protocol and is registered here by
name; callers make one with :func:`new_engine` and never build a database connection themselves.

>>> sorted(ENGINES)
['duckdb', 'spark']
"""

from __future__ import annotations

from typing import Any

from escudo.engines.base import ArrowData, Engine
from escudo.engines.duckdb import DuckDBEngine
from escudo.engines.spark import SparkEngine
from escudo.errors import EngineError

# Engine name -> class. Spark needs the spark extra (pyspark) and Java; it is imported when one starts.
ENGINES: dict[str, type[Engine]] = {"duckdb": DuckDBEngine, "spark": SparkEngine}
DEFAULT_ENGINE = "duckdb"


def new_engine(name: str = DEFAULT_ENGINE, **settings: Any) -> Engine:
    """A new engine of kind ``name`` with its ``settings`` (DuckDB: ``threads``, ``memory_limit``;
    Spark: ``master``, ``config``).

    >>> with new_engine(threads=1) as engine:
    ...     engine.dialect
    'duckdb'
    """
    try:
        kind = ENGINES[name.lower()]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise EngineError(f"unknown engine {name!r} (escudo runs on {known})") from None
    return kind(**settings)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "ArrowData", "Engine", "new_engine"]
