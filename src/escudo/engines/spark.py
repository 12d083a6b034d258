"""Spark SQL generation (running on Spark comes with the scale-out work).

The same sqlglot query that DuckDB runs is written in escudo's Spark dialect
(``escudo.compile.dialects.EscudoSpark``): ``compiled.sql(dialect)``. A Spark engine will implement
``escudo.engines.base.Engine`` and join ``escudo.engines.ENGINES``; until then Spark is this name.
Spark must run with ``spark.sql.session.timeZone=UTC`` (see ``escudo.compile.timefmt``).

>>> from escudo.compile import compile_search
>>> compile_search("| from datamodel Endpoint.Processes | head 1").sql(dialect).startswith("WITH")
True
"""

from __future__ import annotations

dialect = "spark"

__all__ = ["dialect"]
