"""Run compiled searches on an embedded DuckDB (the :class:`~escudo.engines.base.Engine` protocol).

Each data set is a table or view named ``relation_name(dataset)`` (``dm_endpoint_processes``) holding
the data set's columns (``_time`` TIMESTAMP WITH TIME ZONE, every other field VARCHAR); columns the
registered data lacks are added as NULL, so compiled SQL always finds every field. A data set the
search reads but nobody registered is an empty table.

>>> import pyarrow as pa
>>> from escudo.compile import compile_search
>>> with DuckDBEngine() as engine:
...     engine.register_arrow("Endpoint.Processes", pa.table({"dest": ["h1", "h1", "h2"]}))
...     engine.run(compile_search("| tstats count from datamodel=Endpoint.Processes by Processes.dest")).to_pylist()
[{'Processes.dest': 'h1', 'count': 2}, {'Processes.dest': 'h2', 'count': 1}]
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from escudo.datamodels.cim import Dataset, get_dataset
from escudo.engines import prefixes
from escudo.engines.base import ArrowData, ClosedOnExit, Runnable, parquet_files
from escudo.errors import EngineError

if TYPE_CHECKING:  # sqlglot only to write a tree's SQL (a cached search has its text)
    from sqlglot import exp

    from escudo.detect.store import Store

dialect = "duckdb"
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_THREADS = 2


def _sql_type(field: str, multivalue: frozenset[str] = frozenset()) -> str:
    if field in multivalue:
        return "VARCHAR[]"
    return "TIMESTAMP WITH TIME ZONE" if field == "_time" else "VARCHAR"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _projection(ds: Dataset, names: list[str]) -> str:
    """The data set's columns, typed, from data holding ``names`` (missing ones NULL), then the
    data's extra columns as they are."""
    present = set(names)
    columns = [
        f"CAST({_quote(f) if f in present else 'NULL'} AS {_sql_type(f, ds.multivalue)}) AS {_quote(f)}"
        for f in ds.all_fields
    ]
    extra = [_quote(n) for n in names if n not in ds.all_fields]
    return ", ".join(columns + extra)


# DuckDB fetches and loads extensions on its own when a query needs one it lacks (an ``https://``
# path, a spatial function): "Securing DuckDB" (duckdb.org/docs/stable/operations_manual/
# securing_duckdb) lists these settings to stop it. escudo ships every function it compiles to, so
# nothing is installed or loaded at run time.
NO_EXTENSIONS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect(
    database: str = ":memory:",
    *,
    read_only: bool = False,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
    utc: bool = False,
    readable: Sequence[str] = (),
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that cannot reach past the data escudo hands it.

    No extension is installed or loaded on demand; ``enable_external_access`` is off (no file,
    URL, ``ATTACH``, ``INSTALL``/``LOAD`` or Python-variable scan from SQL: escudo registers Arrow
    data and reads no file through DuckDB except the database itself); ``utc`` sets ``TimeZone``;
    then ``lock_configuration`` keeps SQL from turning any of it back on. ``readable``: folders
    (ending in ``/``) whose files SQL may read all the same (DuckDB's ``allowed_directories``).

    >>> con = connect()
    >>> con.execute("SELECT current_setting('autoload_known_extensions')").fetchone()
    (False,)
    >>> con.execute("SELECT current_setting('enable_progress_bar')").fetchone()
    (False,)
    """
    con = duckdb.connect(database, read_only=read_only, config={**(config or {}), **NO_EXTENSIONS})
    try:
        # No progress bar: DuckDB draws one on stdout for a query past 2 s, into escudo's output
        # (a hunt's JSONL got a "100% ▕███▏" line on a loaded machine).
        con.execute("SET enable_progress_bar = false")
        if utc:
            con.execute("SET TimeZone = 'UTC'")
        if readable:  # set once the database runs, before external access is turned off
            con.execute("SET allowed_directories = ?", [list(readable)])
            # Each file's footer parsed once per connection, not once per query (the store's
            # files never change in place: a commit writes new names).
            con.execute("SET parquet_metadata_cache = true")
        # Set after opening: with it in ``config`` DuckDB refuses ``temp_directory``.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _release(connection: duckdb.DuckDBPyConnection, spill: str) -> None:
    connection.close()
    shutil.rmtree(spill, ignore_errors=True)


_DBAPI_ARROW_COPY = "Arrow output on a DB-API result makes an extra copy"
_WARNINGS = threading.Lock()


class DuckDBEngine(ClosedOnExit):
    """An in-process DuckDB database holding data set tables; use as a context manager."""

    dialect = dialect
    # What a result kept from an earlier run depends on (compile.cache: results over no rows).
    cache_name = f"duckdb {duckdb.__version__}"

    def __init__(
        self,
        *,
        threads: int = DEFAULT_THREADS,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        read_dirs: Sequence[str | Path] = (),
    ) -> None:
        # Spill files go to a private temporary folder, not to ".tmp" in the working directory.
        self._spill = tempfile.mkdtemp(prefix="escudo-duckdb-")
        # Folders whose Parquet DuckDB may read itself (its own reader: parallel, with filter and
        # row-group pruning; several times faster than an Arrow dataset scan). Nothing else.
        self._read_dirs = [str(Path(d).resolve()) + "/" for d in read_dirs]
        self.threads = threads
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": threads,
            "memory_limit": memory_limit,
            "temp_directory": self._spill,
        }
        try:
            self.connection = connect(":memory:", config=config, readable=self._read_dirs)
        except duckdb.Error as exc:
            shutil.rmtree(self._spill, ignore_errors=True)
            raise EngineError(f"cannot start DuckDB: {exc}") from None
        # close() releases the database and its folder; an engine its caller never closes releases
        # them when it is garbage-collected or at interpreter exit (finalize runs at most once).
        self._release = weakref.finalize(self, _release, self.connection, self._spill)
        self.registered: set[str] = set()
        # data set -> (the name its view reads, the Arrow data registered under it on this
        # connection: run_many registers it on its cursors too)
        self._arrow_sources: dict[str, tuple[str, object]] = {}
        # how many searches the last run_many ran over stages they share with others
        self.last_shared = 0

    @property
    def connection_only(self) -> set[str]:
        """The data sets whose rows this connection alone sees: views over Arrow data registered
        on it (its cursors read them once ``run_many`` registers the data on them too)."""
        return set(self._arrow_sources)

    def close(self) -> None:
        """Close the database and remove its spill folder; closing twice is harmless."""
        self._release()

    def _reader(self, data: ArrowData) -> pa.RecordBatchReader:
        if isinstance(data, pa.RecordBatchReader):
            return data
        if isinstance(data, pa.Table):
            return data.to_reader()
        batches: Iterator[pa.RecordBatch] = iter(data)
        first = next(batches, None)
        if first is None:
            return pa.RecordBatchReader.from_batches(pa.schema([]), [])

        def chain() -> Iterable[pa.RecordBatch]:
            yield first
            yield from batches

        return pa.RecordBatchReader.from_batches(first.schema, chain())

    def register_arrow(self, dataset: str, data: ArrowData) -> None:
        """Load ``data`` (a table, batches or a reader, streamed) as ``dataset``'s rows.

        Fields of the data set missing from ``data`` become NULL columns; extra columns are kept.
        Registering a data set again replaces it. A ``pyarrow.Table`` is scanned in place through
        a view (no copy); batches and readers, which can be read once, are loaded into a table, as
        is a table without rows (an empty table every cursor sees, see :meth:`run_many`).
        """
        ds = get_dataset(dataset)
        if isinstance(data, pa.Table) and data.num_columns and data.num_rows:
            self._register_view(ds, data)
            return
        reader = self._reader(data)
        staging = f"__escudo_load_{ds.relation}"
        try:
            if not reader.schema.names:
                self.register_empty(dataset)
                return
            self.connection.register(staging, reader)
            self._drop(ds.relation)
            self.connection.execute(
                f"CREATE OR REPLACE TABLE {_quote(ds.relation)} AS SELECT "
                f"{_projection(ds, reader.schema.names)} FROM {_quote(staging)}"
            )
        except duckdb.Error as exc:
            raise EngineError(f"cannot load {dataset}: {exc}") from None
        finally:
            with contextlib.suppress(duckdb.Error):
                self.connection.unregister(staging)
        self._registered_as(ds)

    # The name before the Engine protocol (register_arrow); kept so existing callers keep working.
    register = register_arrow

    def register_parquet(self, dataset: str, path: str | Path | Sequence[str | Path]) -> None:
        """Scan Parquet as ``dataset``'s rows, through a view (nothing is loaded ahead): a file, a
        folder (every ``*.parquet`` below it) or a glob (``events/*.parquet``, ``**`` for any
        depth). Files may hold different columns (matched by name); fields of the data set missing
        from all are NULL.

        The files are opened here, as an Arrow dataset DuckDB scans: SQL itself reads no file
        (``connect`` turns DuckDB's external access off), except files below the engine's
        ``read_dirs``, which DuckDB's own Parquet reader scans.
        """
        import pyarrow.dataset as arrow_dataset
        import pyarrow.parquet as pq

        ds = get_dataset(dataset)
        files = parquet_files(path)
        if not files:
            raise EngineError(f"cannot load {dataset}: no Parquet file at {path}")
        resolved = [str(Path(f).resolve()) for f in files]
        if self._read_dirs and all(f.startswith(tuple(self._read_dirs)) for f in resolved):
            self._register_read_parquet(ds, resolved, path)
            return
        try:
            schema = pa.unify_schemas([pq.read_schema(f) for f in files])
            scanned = arrow_dataset.dataset(files, schema=schema, format="parquet")
        except (OSError, pa.ArrowException) as exc:
            raise EngineError(f"cannot load {dataset} from Parquet {path}: {exc}") from None
        self._register_scanned(ds, scanned, "parquet", f"Parquet {path}")

    def register_arrow_files(self, dataset: str, paths: Sequence[str | Path]) -> None:
        """Arrow IPC files (of one schema each; columns matched by name) as ``dataset``'s rows,
        scanned where they are through a view, a batch at a time (nothing loaded ahead, nothing
        mapped): what a hunt spools past its in-place budget."""
        import pyarrow.dataset as arrow_dataset

        ds = get_dataset(dataset)
        try:
            parts = [arrow_dataset.dataset(str(p), format="ipc") for p in paths]
            schema = pa.unify_schemas([part.schema for part in parts])
            scanned = arrow_dataset.dataset([str(p) for p in paths], schema=schema, format="ipc")
        except (OSError, pa.ArrowException) as exc:
            raise EngineError(f"cannot load {dataset} from Arrow files: {exc}") from None
        self._register_scanned(ds, scanned, "arrow_files", "Arrow files")

    def _register_scanned(self, ds: Dataset, scanned: Any, kind: str, what: str) -> None:
        """``ds``'s view over a pyarrow dataset (``scanned``: files DuckDB reads a batch at a
        time), registered on this connection as ``__escudo_<kind>_<relation>`` (and on the
        cursors of ``run_many``); ``what`` names the files in an error."""
        source = f"__escudo_{kind}_{ds.relation}"
        try:
            self._drop(ds.relation)
            self.connection.register(source, scanned)
            self._create_view(ds, scanned.schema.names, _quote(source))
        except duckdb.Error as exc:
            raise EngineError(f"cannot load {ds.name} from {what}: {exc}") from None
        self._registered_as(ds, (source, scanned))

    def _register_read_parquet(
        self, ds: Dataset, files: list[str], path: str | Path | Sequence[str | Path]
    ) -> None:
        """``files`` (below ``read_dirs``) as a view over DuckDB's own Parquet reader; their
        columns from DuckDB too (it reads every footer in one call, where pyarrow opened each file
        for its schema and again for an Arrow dataset the view did not use: 0.15 s of a seed hunt
        over a 10M-event store's 40 files)."""
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        scan = f"read_parquet([{listed}], union_by_name = true)"
        try:
            described = self.connection.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
            names = [row[0] for row in described]
            self._drop(ds.relation)
            self._create_view(ds, names, scan)
        except duckdb.Error as exc:
            raise EngineError(f"cannot load {ds.name} from Parquet {path}: {exc}") from None
        self._registered_as(ds)

    def register_risk_store(self, store: Store) -> None:
        """The risk events kept in ``store`` as ``Risk.All_Risk`` (read once, under the store's
        shared lock, so the store is not held open while searches run)."""
        from escudo.detect.store import RISK_DATASET

        self.register_arrow(RISK_DATASET, store.risk_table())

    def _create_view(self, ds: Dataset, names: list[str], source: str) -> None:
        """``ds``'s view: the data set's projection of ``source`` (SQL: a relation or a scan),
        whose columns are ``names``."""
        self.connection.execute(
            f"CREATE OR REPLACE VIEW {_quote(ds.relation)} AS SELECT "
            f"{_projection(ds, names)} FROM {source}"
        )

    def _registered_as(self, ds: Dataset, source: tuple[str, object] | None = None) -> None:
        """``ds`` is registered; ``source``: as a view over that Arrow data (the name it is
        registered under on this connection, the data), which ``run_many``'s cursors register."""
        self.registered.add(ds.name)
        if source is None:
            self._arrow_sources.pop(ds.name, None)
        else:
            self._arrow_sources[ds.name] = source

    def _drop(self, relation: str) -> None:
        """Drop whatever holds ``relation`` now (a view over Arrow data, or a loaded table)."""
        found = self.connection.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [relation]
        ).fetchone()
        if found is not None:
            kind = "VIEW" if found[0] == "VIEW" else "TABLE"
            self.connection.execute(f"DROP {kind} {_quote(relation)}")

    def _register_view(self, ds: Dataset, table: pa.Table) -> None:
        source = f"__escudo_arrow_{ds.relation}"
        try:
            self._drop(ds.relation)
            self.connection.register(source, table)
            self._create_view(ds, table.column_names, _quote(source))
        except duckdb.Error as exc:
            raise EngineError(f"cannot load {ds.name}: {exc}") from None
        self._registered_as(ds, (source, table))

    def register_empty(self, dataset: str) -> None:
        """An empty table with the data set's columns."""
        ds = get_dataset(dataset)
        columns = ", ".join(f"{_quote(f)} {_sql_type(f, ds.multivalue)}" for f in ds.all_fields)
        try:
            self._drop(ds.relation)
            self.connection.execute(f"CREATE OR REPLACE TABLE {_quote(ds.relation)} ({columns})")
        except duckdb.Error as exc:
            raise EngineError(f"cannot create {dataset}: {exc}") from None
        self._registered_as(ds)

    def execute(self, sql_or_expression: str | exp.Expr) -> pa.Table:
        """Run SQL (text in DuckDB's dialect, or a sqlglot expression) and return the result."""
        return _execute(self.connection, sql_or_expression)

    def run(self, compiled: Runnable) -> pa.Table:
        """Run a compiled search (or any runnable query); data sets not registered yet read as empty."""
        self._register_missing(compiled)
        return _run_on(self.connection, compiled)

    def run_many(
        self,
        searches: Sequence[Runnable],
        workers: int | None = None,
        narrow: Callable[[Runnable], Mapping[str, pa.Table]] | None = None,
        rows_key: Callable[[Runnable], Hashable] | None = None,
    ) -> list[pa.Table]:
        """:meth:`run` of each search, in order, ``workers`` at a time (default: the engine's
        threads), each thread on its own cursor of the database: DuckDB plans and runs a query
        without Python's lock, so the fixed cost of each (parse, bind, optimise: ~10 ms for an
        ESCU search over an empty data set) overlaps, and so do searches over Arrow data, which
        DuckDB scans on about one thread each (the Arrow data a view reads is registered on each
        cursor too, in place).

        ``narrow(search)``, called on the thread that runs the search just before it runs: data
        sets to run it over instead of all their rows (a table with the columns of the one
        registered, which must give the search the same result: ``detect.presence.Narrowing``).
        Only a data set registered as a table in place takes them; each is let go once its search
        ran. ``rows_key(search)`` tells which searches ``narrow`` gives the same rows (equal keys):
        those that also begin with the same stages share them (``engines.prefixes``: the stages run
        once into a table, each search then over it; without ``narrow``, every search reads the
        same rows)."""
        for compiled in searches:
            self._register_missing(compiled)
        workers = workers or self.threads
        # the Arrow data views read, as it is now: each cursor registers it too
        sources = list(self._arrow_sources.values())
        groups, chains, texts = self._shared(searches, narrow, rows_key)
        member_of = {index: group for group in groups for index in group.members}
        made: set[str] = set()  # the groups' tables made
        lock = threading.Lock()
        self.last_shared = 0

        def make(con: duckdb.DuckDBPyConnection, group: prefixes.Group) -> None:
            sql = f"CREATE TABLE {_quote(group.table)} AS {group.prefix_sql}"
            try:
                with self._narrowed(con, searches[group.members[0]], narrow):
                    con.execute(sql)
            except duckdb.Error:
                return  # its members run on their own (the error, if theirs, is theirs)
            made.add(group.table)

        def task(con: duckdb.DuckDBPyConnection, index: int) -> pa.Table:
            group = member_of.get(index)
            compiled = searches[index]
            if group is not None and group.table in made:
                try:
                    shared = _execute(con, chains[index].over(group.stage, group.table))
                except EngineError:
                    pass  # not in the shape prefixes read: run as it is
                else:
                    with lock:
                        self.last_shared += 1
                    return _selected(compiled, shared)
            with self._narrowed(con, compiled, narrow):
                return _run_on(con, compiled, texts[index])

        tables: dict[int, pa.Table] = {}
        try:
            if workers > 1 and len(searches) > 1:
                local = threading.local()
                cursors: list[duckdb.DuckDBPyConnection] = []

                def cursor() -> duckdb.DuckDBPyConnection:
                    con = getattr(local, "cursor", None)
                    if con is None:
                        con = local.cursor = self.connection.cursor()
                        with lock:
                            cursors.append(con)
                        for name, data in sources:
                            con.register(name, data)
                    return con

                try:
                    with ThreadPoolExecutor(workers, thread_name_prefix="escudo-duckdb") as pool:
                        list(pool.map(lambda g: make(cursor(), g), groups))
                        tables = dict(
                            enumerate(pool.map(lambda i: task(cursor(), i), range(len(searches))))
                        )
                finally:
                    for con in cursors:
                        con.close()
            else:
                for group in groups:
                    make(self.connection, group)
            for index in range(len(searches)):
                if index not in tables:
                    tables[index] = task(self.connection, index)
        finally:
            for table in made:
                self.connection.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
        return [tables[i] for i in range(len(searches))]

    def _shared(
        self,
        searches: Sequence[Runnable],
        narrow: Callable[[Runnable], Mapping[str, pa.Table]] | None,
        rows_key: Callable[[Runnable], Hashable] | None,
    ) -> tuple[list[prefixes.Group], dict[int, prefixes.Chain], list[str]]:
        """The groups of ``searches`` that share their first stages over the same rows
        (``prefixes.plan``): the rows are all those registered without ``narrow``, else those
        ``rows_key`` tells (none shared without it); and the SQL text of each search written out
        for that ("" where none was)."""
        if len(searches) < prefixes.MIN_MEMBERS:
            return [], {}, [""] * len(searches)
        keys: list[object] = [
            "all" if narrow is None else rows_key(c) if rows_key is not None else None
            for c in searches
        ]
        texts = [_sql_of(c) if keys[i] is not None else "" for i, c in enumerate(searches)]
        groups, chains = prefixes.plan(texts, keys)
        return groups, chains, texts

    @contextlib.contextmanager
    def _narrowed(
        self,
        con: duckdb.DuckDBPyConnection,
        compiled: Runnable,
        narrow: Callable[[Runnable], Mapping[str, pa.Table]] | None,
    ) -> Iterator[None]:
        """While in it, ``con`` reads ``narrow(compiled)``'s tables instead of the data sets they
        can stand for (each registered in place, with the same columns); then the tables
        registered again."""
        swapped = []
        for dataset, rows in (narrow(compiled) if narrow is not None else {}).items():
            name, registered = self._arrow_sources.get(get_dataset(dataset).name, ("", None))
            if isinstance(registered, pa.Table) and rows.schema == registered.schema:
                swapped.append((name, registered))
                con.register(name, rows)
        try:
            yield
        finally:
            for name, registered in swapped:
                con.register(name, registered)

    def _register_missing(self, compiled: Runnable) -> None:
        for dataset in compiled.datasets:
            if get_dataset(dataset).name not in self.registered:
                self.register_empty(dataset)


def _execute(con: duckdb.DuckDBPyConnection, sql_or_expression: str | exp.Expr) -> pa.Table:
    """SQL (text in DuckDB's dialect, or a sqlglot expression) run on ``con``, its rows."""
    sql = sql_or_expression if isinstance(sql_or_expression, str) else _written(sql_or_expression)
    try:
        # execute, not sql(): a relation binds its query once more to describe it, which
        # cost a hunt ~30% of its per-query CPU (97 ESCU searches: 1.1 s -> 0.8 s, empty
        # tables). The result streams out in batches: DuckDB's warning about a copy of the
        # rows is about one batch at a time here.
        result = con.execute(sql)
        if result.description is None:  # a statement without rows
            return pa.table({})
        # catch_warnings swaps the process's filters: one thread at a time (run_many).
        with _WARNINGS, warnings.catch_warnings():
            warnings.filterwarnings("ignore", _DBAPI_ARROW_COPY, UserWarning)
            reader: pa.RecordBatchReader = result.to_arrow_reader()
        return reader.read_all()
    except duckdb.Error as exc:
        raise EngineError(f"DuckDB failed: {exc}") from None


def _run_on(con: duckdb.DuckDBPyConnection, compiled: Runnable, text: str = "") -> pa.Table:
    """The search's rows; ``text``: its SQL (:func:`_sql_of`), where written out already."""
    return _selected(compiled, _execute(con, text or _sql_of(compiled)))


def _selected(compiled: Runnable, table: pa.Table) -> pa.Table:
    """``table`` with the search's output fields, in their order."""
    if compiled.output_fields is not None and table.column_names != compiled.output_fields:
        table = table.select(compiled.output_fields)
    return table


def _sql_of(compiled: Runnable) -> str:
    """The search's SQL text in DuckDB's dialect: a search from the compile cache brings it
    (compile.cache.CachedSearch), else its tree is written out."""
    text: str = getattr(compiled, "duckdb_sql", "")
    return text or _written(compiled.expression)


def _written(expression: exp.Expr) -> str:
    """A sqlglot tree as SQL text in escudo's DuckDB dialect."""
    from escudo.compile.dialects import EscudoDuckDB

    text: str = expression.sql(dialect=EscudoDuckDB)
    return text


__all__ = ["NO_EXTENSIONS", "DuckDBEngine", "connect", "dialect"]
