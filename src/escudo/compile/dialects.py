"""escudo's SQL dialects: sqlglot's DuckDB and Spark, subclassed.

A few Splunk behaviours are expression classes of escudo's own (``replace()`` with ``\\1``
back-references, ``printf``, order-keeping ``mvdedup``, ``strptime`` formats); sqlglot has no spelling
for them. Each module that defines such a class lists how each engine writes it (``SQL_WRITERS`` in
``compile/functions.py`` and ``compile/timefmt.py``), and the dialects below add those writers to
their generator's ``TRANSFORMS``, the way sqlglot's own dialects extend their base
(``sqlglot/generators/spark.py``). sqlglot's ``DuckDB`` and ``Spark`` are left as shipped: another
library in the same process writing ``.sql("duckdb")`` gets stock sqlglot.

``DIALECTS`` maps the names escudo uses (``--dialect duckdb|spark``) to these classes; every SQL text
escudo writes goes through :func:`dialect_for`.

>>> from sqlglot import exp
>>> from escudo.compile.functions import lower_function
>>> lower_function("printf", [exp.Literal.string("%d"), exp.column("n")]).sql(EscudoSpark)
"FORMAT_STRING('%d', n)"
>>> dialect_for("duckdb") is EscudoDuckDB
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.spark import Spark

from escudo.compile import functions, timefmt


class EscudoDuckDB(DuckDB):
    """DuckDB SQL plus the writers of escudo's own expression classes."""

    class Generator(DuckDB.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **DuckDB.Generator.TRANSFORMS,
            **functions.SQL_WRITERS["duckdb"],
            **timefmt.SQL_WRITERS["duckdb"],
        }


class EscudoSpark(Spark):
    """Spark SQL (3.x) plus the writers of escudo's own expression classes."""

    class Generator(Spark.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **Spark.Generator.TRANSFORMS,
            **functions.SQL_WRITERS["spark"],
            **timefmt.SQL_WRITERS["spark"],
        }


# The dialect names escudo accepts, and the class that writes each.
DIALECTS: dict[str, type[Dialect]] = {"duckdb": EscudoDuckDB, "spark": EscudoSpark}


def dialect_for(name: str) -> type[Dialect]:
    """escudo's dialect class for ``name`` (``"duckdb"`` or ``"spark"``, any case).

    >>> dialect_for("Spark").__name__
    'EscudoSpark'
    """
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise ValueError(f"unknown SQL dialect {name!r} (escudo writes {known})") from None


__all__ = ["DIALECTS", "EscudoDuckDB", "EscudoSpark", "dialect_for"]
