"""Run compiled searches on Apache Spark (the :class:`~escudo.engines.base.Engine` protocol).

The same sqlglot query DuckDB runs is written in escudo's Spark dialect
(``escudo.compile.dialects.EscudoSpark``, ``compiled.sql("spark")``) and run by ``spark.sql``; the
result comes back as Arrow. pyspark is an optional extra (``pip install 'escudo[spark]'``, Java 17
on the path); it is imported when an engine starts, never at import of this module.

Where Spark runs: ``local[*]`` by default (a Spark inside this process's JVM), a master URL
(``spark://host:7077``, ``yarn``, ``k8s://...``) or Spark Connect (``sc://host:15002``). The session
runs with ``spark.sql.session.timeZone=UTC`` (escudo's times are UTC, ``escudo.compile.timefmt``),
Arrow transfers on, the web UI off, and nothing fetched at run time (no ``spark.jars.packages``).

Each data set is a temporary view named ``relation_name(dataset)`` (``dm_endpoint_processes``), as on
DuckDB, with the data set's columns (``_time`` TIMESTAMP, multivalue fields ARRAY<STRING>, every other
field STRING; missing ones NULL) then the data's extra columns. Each engine is its own Spark session
(``newSession``: its own views and settings) over the process's one SparkContext, which the first
engine starts and the last one to close stops.

>>> dialect
'spark'
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from escudo.compile.dialects import EscudoSpark
from escudo.datamodels.cim import Dataset, get_dataset
from escudo.engines.base import ArrowData, ClosedOnExit, Runnable, parquet_files
from escudo.errors import EngineError

if TYPE_CHECKING:
    from escudo.detect.store import Store

dialect = "spark"
DEFAULT_MASTER = "local[*]"
MISSING = "pyspark is not installed: pip install 'escudo[spark]'"

# Settings of every session escudo starts (a remote Spark Connect server keeps its own static ones).
SESSION_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -Duser.language=en -Duser.country=US",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC -Duser.language=en -Duser.country=US",
}

# The process's root session and how many engines use it (the last to close stops it).
_lock = threading.Lock()
_root: Any = None
_master = DEFAULT_MASTER
_users = 0


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise EngineError(MISSING) from None
    return pyspark.sql


def _spark_errors() -> tuple[type[BaseException], ...]:
    """The exceptions pyspark raises for a failed query or session (Py4J's too when present)."""
    kinds: list[type[BaseException]] = []
    try:
        from pyspark.errors import PySparkException

        kinds.append(PySparkException)
    except ImportError:  # pragma: no cover - pyspark < 3.4
        pass
    try:
        from py4j.protocol import Py4JError

        kinds.append(Py4JError)
    except ImportError:  # pragma: no cover - Spark Connect only
        pass
    return tuple(kinds)


def _root_session(master: str | None, config: dict[str, str]) -> Any:
    """The process's root SparkSession, started on first use (on ``master``, ``local[*]`` when
    None); one already running serves every engine that names no other master."""
    global _root, _master, _users
    sql = _pyspark()
    with _lock:
        if _root is not None and master is not None and master != _master:
            raise EngineError(f"Spark already runs on {_master} in this process, not {master}")
        if _root is None:
            master = master or DEFAULT_MASTER
            builder = sql.SparkSession.builder.appName("escudo")
            builder = (
                builder.remote(master) if master.startswith("sc://") else builder.master(master)
            )
            for key, value in {**SESSION_CONFIG, **config}.items():
                builder = builder.config(key, value)
            failures: tuple[type[BaseException], ...] = (*_spark_errors(), RuntimeError, OSError)
            try:
                _root = builder.getOrCreate()
            except failures as exc:
                raise EngineError(f"cannot start Spark ({master}): {exc}") from None
            if not master.startswith("sc://"):
                _root.sparkContext.setLogLevel("ERROR")
            _master = master
        _users += 1
        return _root


def _release_root() -> None:
    global _root, _users
    with _lock:
        _users -= 1
        if _users <= 0 and _root is not None:
            _root.stop()
            _root = None
            _users = 0


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sql_type(field: str, multivalue: frozenset[str] = frozenset()) -> str:
    if field in multivalue:
        return "ARRAY<STRING>"
    return "TIMESTAMP" if field == "_time" else "STRING"


def _projection(ds: Dataset, names: list[str]) -> str:
    """The data set's columns, typed, from data holding ``names`` (missing ones NULL), then the
    data's extra columns as they are (the DuckDB engine's projection, in Spark SQL)."""
    present = set(names)
    columns = [
        f"CAST({_quote(f) if f in present else 'NULL'} AS {_sql_type(f, ds.multivalue)}) "
        f"AS {_quote(f)}"
        for f in ds.all_fields
    ]
    extra = [_quote(n) for n in names if n not in ds.all_fields]
    return ", ".join(columns + extra)


def _table(data: ArrowData) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    batches = list(data)
    return pa.Table.from_batches(batches) if batches else pa.table({})


class SparkEngine(ClosedOnExit):
    """A Spark session holding data set views; use as a context manager.

    ``master``: ``local[*]`` (default), any Spark master URL, or ``sc://`` for Spark Connect;
    ``config``: extra Spark settings (``spark.sql.shuffle.partitions`` ...), used when this engine
    starts the process's Spark.
    """

    dialect = dialect

    def __init__(self, *, master: str | None = None, config: dict[str, str] | None = None) -> None:
        root = _root_session(master, dict(config or {}))
        self.master = _master
        self._errors = _spark_errors()
        try:
            # Spark Connect has no newSession: its engines share the one remote session.
            self.session: Any = root if self.master.startswith("sc://") else root.newSession()
            for key in ("spark.sql.session.timeZone", "spark.sql.execution.arrow.pyspark.enabled"):
                self.session.conf.set(key, SESSION_CONFIG[key])
        except self._errors as exc:
            _release_root()
            raise EngineError(f"cannot start a Spark session: {exc}") from None
        self._open = True
        self.registered: set[str] = set()
        self._views = 0

    def close(self) -> None:
        """Drop this engine's views and release Spark; closing twice is harmless."""
        if not self._open:
            return
        self._open = False
        for name in self.session.catalog.listTables():
            if name.isTemporary:
                self.session.catalog.dropTempView(name.name)
        _release_root()

    def _view(self, ds: Dataset, frame: Any, names: list[str]) -> None:
        """``ds``'s view: the data set's projection of ``frame`` (a DataFrame holding ``names``)."""
        self._views += 1
        source = f"__escudo_source_{self._views}_{ds.relation}"
        try:
            frame.createOrReplaceTempView(source)
            self.session.sql(
                f"CREATE OR REPLACE TEMPORARY VIEW {_quote(ds.relation)} AS SELECT "
                f"{_projection(ds, names)} FROM {_quote(source)}"
            )
        except self._errors as exc:
            raise EngineError(f"cannot load {ds.name} on Spark: {exc}") from None
        self.registered.add(ds.name)

    def register_arrow(self, dataset: str, data: ArrowData) -> None:
        """``data`` (a table, batches or a reader) as ``dataset``'s rows, sent to Spark as Arrow.

        Fields of the data set missing from ``data`` become NULL columns; extra columns are kept.
        Registering a data set again replaces it.
        """
        ds = get_dataset(dataset)
        table = _table(data)
        if not table.num_columns:
            self.register_empty(dataset)
            return
        try:
            frame = self.session.createDataFrame(table)
        except self._errors as exc:
            raise EngineError(f"cannot load {dataset} on Spark: {exc}") from None
        self._view(ds, frame, table.column_names)

    def register_parquet(self, dataset: str, path: str | Path | Sequence[str | Path]) -> None:
        """Scan Parquet as ``dataset``'s rows: a file, a folder (every ``*.parquet`` below it) or
        a glob, or a list of those; files may hold different columns (merged by name, Spark's
        ``mergeSchema``)."""

        ds = get_dataset(dataset)
        files = parquet_files(path)
        if not files:
            raise EngineError(f"cannot load {dataset}: no Parquet file at {path}")
        try:
            frame = self.session.read.option("mergeSchema", "true").parquet(*files)
            names = list(frame.columns)
        except self._errors as exc:
            raise EngineError(f"cannot load {dataset} from Parquet {path}: {exc}") from None
        self._view(ds, frame, names)

    def register_risk_store(self, store: Store) -> None:
        """The risk events kept in ``store`` as ``Risk.All_Risk`` (read once from the store)."""
        from escudo.detect.store import RISK_DATASET

        self.register_arrow(RISK_DATASET, store.risk_table())

    def register_empty(self, dataset: str) -> None:
        """An empty view with the data set's columns."""
        ds = get_dataset(dataset)
        columns = ", ".join(
            f"CAST(NULL AS {_sql_type(f, ds.multivalue)}) AS {_quote(f)}" for f in ds.all_fields
        )
        try:
            self.session.sql(
                f"CREATE OR REPLACE TEMPORARY VIEW {_quote(ds.relation)} AS "
                f"SELECT {columns} WHERE FALSE"
            )
        except self._errors as exc:
            raise EngineError(f"cannot create {dataset} on Spark: {exc}") from None
        self.registered.add(ds.name)

    def execute(self, sql: str) -> pa.Table:
        """Run Spark SQL text and return the result as Arrow."""
        try:
            frame = self.session.sql(sql)
            table: pa.Table = frame.toArrow()
        except self._errors as exc:
            raise EngineError(f"Spark failed: {_first_line(exc)}") from None
        return table

    def run(self, compiled: Runnable) -> pa.Table:
        """Run a compiled search (its tree written in ``EscudoSpark``); data sets not registered
        yet read as empty."""
        for dataset in compiled.datasets:
            if get_dataset(dataset).name not in self.registered:
                self.register_empty(dataset)
        table = self.execute(compiled.expression.sql(dialect=EscudoSpark))
        if compiled.output_fields is not None and table.column_names != compiled.output_fields:
            table = table.select(compiled.output_fields)
        return table


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["DEFAULT_MASTER", "SESSION_CONFIG", "SparkEngine", "dialect"]
