"""engines stage of escudo: running compiled searches (see docs/architecture.md, "Engines").

Every engine implements the :class:`~escudo.engines.base.Engine` protocol and is registered here by
name; callers make one with :func:`new_engine` and never build a database connection themselves.

>>> sorted(ENGINES)
['duckdb', 'spark']
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, cast

from escudo.engines.base import ArrowData, Engine
from escudo.errors import EngineError

# Engine name -> "module:class", imported when an engine of that kind is made: the CLI lists the
# names without paying for DuckDB's and sqlglot's imports before its workers start. Spark needs the
# spark extra (pyspark) and Java.
ENGINES: dict[str, str] = {
    "duckdb": "escudo.engines.duckdb:DuckDBEngine",
    "spark": "escudo.engines.spark:SparkEngine",
}
DEFAULT_ENGINE = "duckdb"


def engine_class(name: str) -> type[Engine]:
    """The class of the engines called ``name`` (any case).

    >>> engine_class("DuckDB").__name__
    'DuckDBEngine'
    """
    try:
        module, _, attribute = ENGINES[name.lower()].partition(":")
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise EngineError(f"unknown engine {name!r} (escudo runs on {known})") from None
    return cast("type[Engine]", getattr(import_module(module), attribute))


def new_engine(name: str = DEFAULT_ENGINE, **settings: Any) -> Engine:
    """A new engine of kind ``name`` with its ``settings`` (DuckDB: ``threads``, ``memory_limit``;
    Spark: ``master``, ``config``).

    >>> with new_engine(threads=1) as engine:
    ...     engine.dialect
    'duckdb'
    """
    return engine_class(name)(**settings)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "ArrowData", "Engine", "engine_class", "new_engine"]
