"""A cache of compiled detections on disk: a hunt's second run compiles nothing (nor imports sqlglot).

A detection's compiled search (its DuckDB SQL, data sets, requirements, output fields, expanded
text) is kept as one JSON file under the user's cache folder (``$XDG_CACHE_HOME/escudo/compiled``,
``platformdirs.user_cache_dir``), named by a digest of everything the compile reads: escudo's
own code and sqlglot's (each file's size and modification time), the search, its origin, every
macro it can see, every lookup file (CSV contents are inlined into the SQL) and the window bounds.
Change any of them and the digest changes: the entry is simply not found. A search whose SQL
depends on the time it is compiled (``earliest=-24h`` in the SPL: its ``now``) is never kept; it
is found out by compiling it at two times and comparing. Runs with a window (``--earliest``,
``--latest``) do not use the cache. The cache is best effort: an unreadable or unwritable folder
or a damaged entry only means compiling. Entries not used for 30 days are removed, and at most
5,000 are kept (:meth:`CompileCache.prune`, once a day).

What comes back is a :class:`CachedSearch`: a :class:`~escudo.compile.CompiledSearch` whose SQL
text is known; its sqlglot tree and AST are compiled again on first use (Spark, ``explain``). Next
to its entry, a run keeps the search's result over no rows on an engine when it has none
(:meth:`CachedSearch.keep_empty_result`). A search that does not compile is kept as its error
(an ``SplError``, raised again as it was; docs/semantics.md, "Results over no rows and compile
errors, kept between runs").

>>> import tempfile
>>> from escudo.content.loader import load_content
>>> content = load_content()
>>> ngrok = content.detections["Linux Ngrok Reverse Proxy Usage"]
>>> cache = CompileCache(Path(tempfile.mkdtemp()))
>>> first = cache.compile(ngrok, content)
>>> again = cache.compile(ngrok, content)
>>> type(again).__name__, again.sql() == first.sql(), again.datasets
('CachedSearch', True, ('Endpoint.Processes',))
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escudo.compile import CompiledSearch
from escudo.errors import SplError, SplSyntaxError, UnsupportedSplError
from escudo.sources.base import Requirements

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from escudo.content.model import ContentSet, Detection
    from escudo.spl.ast import Pipeline

FORMAT = 1  # of an entry; part of the digest
# Pruning: an entry not used for KEEP_DAYS is removed, and at most MAX_ENTRIES (the most recently
# used) are kept; done at most once a day, by the first run that writes an entry (a marker file).
KEEP_DAYS = 30
MAX_ENTRIES = 5000
_PRUNED = ".pruned"
# A search's result over empty data sets, kept next to its entry (CachedSearch.empty_result).
_EMPTY = ".empty-"
# A far-away second time a search is compiled at: equal SQL means the SQL does not use ``now``.
_OTHER_NOW = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


def _code_stamp() -> list[Any]:
    """Size and modification time of every file of escudo's and sqlglot's code (what compiles)."""
    stamp: list[Any] = []
    roots = [Path(__file__).resolve().parents[1]]
    spec = find_spec("sqlglot")
    if spec is not None and spec.origin is not None:
        roots.append(Path(spec.origin).parent)
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".so")):
                    info = os.stat(os.path.join(folder, name))
                    stamp.append([os.path.join(folder, name), info.st_size, info.st_mtime_ns])
    return stamp


def _file_stamp(path: Path) -> list[Any]:
    try:
        info = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), info.st_size, info.st_mtime_ns]


def _error_entry(exc: SplError) -> dict[str, Any]:
    """An entry keeping a compile's error: its class and what it was made of."""
    return {
        "error": type(exc).__name__,
        "message": exc.message,
        "source": exc.source,
        "offset": exc.offset,
        "end": exc.end,
        "origin": exc.origin,
    }


def _failure(compile_at: Callable[[datetime], CompiledSearch], at: datetime) -> Any:
    """The error entry of compiling at ``at`` (None: it compiled)."""
    try:
        compile_at(at)
    except SplError as exc:
        return _error_entry(exc)
    return None


def _kept_error(entry: dict[str, Any]) -> SplError | None:
    """The error an entry kept (as :func:`_error_entry` wrote it), or None: a compiled search."""
    if "error" not in entry:
        return None
    kinds = {cls.__name__: cls for cls in (SplError, SplSyntaxError, UnsupportedSplError)}
    return kinds[entry["error"]](
        entry["message"],
        source=entry["source"],
        offset=entry["offset"],
        end=entry["end"],
        origin=entry["origin"],
    )


def _write_json(path: Path, entry: Any) -> bool:
    """``entry`` as the JSON file ``path``, whole or not at all (best effort: False on error)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(entry, out)
        os.replace(tmp, path)  # readers see a whole entry or none
    except OSError:
        with contextlib.suppress(NameError, OSError):
            os.unlink(tmp)
        return False
    return True


class CachedSearch(CompiledSearch):
    """A compiled search read from the cache: what a hunt needs is here, its DuckDB SQL written
    out (``duckdb_sql``, which the DuckDB engine runs); ``pipeline`` and ``expression`` are
    compiled again on first use."""

    def __init__(
        self,
        *,
        spl: str,
        datasets: tuple[str, ...],
        requirements: dict[str, Requirements],
        output_fields: list[str] | None,
        duckdb_sql: str,
        recompile: Callable[[], CompiledSearch],
        entry: Path | None = None,
    ) -> None:
        # Not CompiledSearch.__init__: its tree and AST are what this class does without.
        self.spl = spl
        self.datasets = datasets
        self.requirements = requirements
        self.output_fields = output_fields
        self.duckdb_sql = duckdb_sql
        self._recompile = recompile
        self._full: CompiledSearch | None = None
        self._entry = entry  # its file in the cache (None: not kept)

    def _empty_path(self, engine: str) -> Path | None:
        """Where its result over empty data sets on ``engine`` is kept: next to its entry,
        named by the engine and the SQL run (an entry keeps the SQL its digest compiled to)."""
        if self._entry is None or not self.duckdb_sql:
            return None
        key = hashlib.sha256(json.dumps([FORMAT, engine, self.duckdb_sql]).encode()).hexdigest()
        return self._entry.with_name(f"{self._entry.stem}{_EMPTY}{key[:16]}.json")

    def empty_result(self, engine: str) -> pa.Table | None:
        """Its rows over its data sets emptied on ``engine`` (a name and version, e.g. ``duckdb
        1.2.0``) as a run kept them (:meth:`keep_empty_result`): none, their schema as the
        engine gave it; None when not kept (or damaged)."""
        path = self._empty_path(engine)
        if path is None:
            return None
        import pyarrow as pa

        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(kept["schema"])))
            with contextlib.suppress(OSError):
                os.utime(path)  # used (pruning)
            return schema.empty_table()
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            return None

    def keep_empty_result(self, engine: str, table: pa.Table) -> None:
        """Keep ``table``, its rows over its data sets emptied on ``engine``, when it has none
        (a search over no rows that gives some, ``stats count`` for one, is run each time)."""
        path = self._empty_path(engine)
        if path is None or table.num_rows:
            return
        schema = base64.b64encode(table.schema.serialize().to_pybytes()).decode("ascii")
        _write_json(path, {"schema": schema})

    def _compiled(self) -> CompiledSearch:
        if self._full is None:
            self._full = self._recompile()
        return self._full

    @property
    def pipeline(self) -> Pipeline:
        return self._compiled().pipeline

    @pipeline.setter
    def pipeline(self, value: Pipeline) -> None:
        self._compiled().pipeline = value

    @property
    def expression(self) -> exp.Query:
        return self._compiled().expression

    @expression.setter
    def expression(self, value: exp.Query) -> None:
        self._compiled().expression = value
        self.duckdb_sql = ""  # the tree changed: the text is no longer its SQL

    def sql(self, dialect: str = "duckdb", pretty: bool = False) -> str:
        if dialect.lower() == "duckdb" and not pretty and self.duckdb_sql:
            return self.duckdb_sql
        return self._compiled().sql(dialect, pretty)


@dataclass
class CompileCache:
    """Compiled detections kept under ``folder`` (see the module's docstring)."""

    folder: Path
    # id(content) -> (content, digest). The content is held so that its id cannot be reused by
    # another content set loaded later (an id alone once gave a changed macro a stale digest).
    _stamps: dict[int, tuple[ContentSet, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def default(cls) -> CompileCache:
        """The user's cache folder (``$XDG_CACHE_HOME/escudo/compiled`` on Linux)."""
        import platformdirs

        return cls(Path(platformdirs.user_cache_dir("escudo")) / "compiled")

    def _content_stamp(self, content: ContentSet) -> str:
        """One digest of the code, the content's macros and its lookup files (once per content)."""
        key = id(content)
        kept = self._stamps.get(key)
        if kept is not None and kept[0] is content:
            return kept[1]
        macros = sorted([m.key, m.definition, list(m.arguments)] for m in content.macros.values())
        lookups = sorted([name, *_file_stamp(p)] for name, p in content.lookups.items())
        text = json.dumps([FORMAT, _code_stamp(), macros, lookups], default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()
        self._stamps[key] = (content, digest)
        return digest

    def compile(
        self,
        detection: Detection,
        content: ContentSet,
        *,
        now: datetime | None = None,
    ) -> CompiledSearch:
        """``detect.hunt.compile_detection(detection, content, now=now)``, from the cache when
        an entry is there, else compiled (and kept when its SQL does not depend on ``now``)."""
        from escudo.content.loader import macros_for
        from escudo.detect.hunt import compile_detection

        def fresh(at: datetime | None = now) -> CompiledSearch:
            return compile_detection(detection, content, now=at)

        own_filter = macros_for(content, detection).get(detection.filter_macro)
        origin = str(detection.path) if detection.path is not None else detection.name
        parts = [
            self._content_stamp(content),
            detection.search,
            origin,
            detection.filter_macro,
            None if own_filter is None else own_filter.definition,
        ]
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
        path = self.folder / f"{digest}.json"
        cached = self._read(path, fresh)  # (raises the SplError an entry kept)
        if cached is not None:
            return cached
        at = now or datetime.now(UTC)
        other = _OTHER_NOW if abs(at - _OTHER_NOW) > timedelta(days=1) else at - timedelta(days=900)
        try:
            compiled = fresh()
        except SplError as exc:  # kept too (a hunt skips it each run), when not from ``now``
            entry = _error_entry(exc)
            if _failure(fresh, other) == entry and _write_json(path, entry):
                self.prune()
            raise
        if fresh(other).sql() == compiled.sql():
            self._write(path, compiled)
        return compiled

    def _read(self, path: Path, recompile: Callable[[], CompiledSearch]) -> CachedSearch | None:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            with contextlib.suppress(OSError):
                os.utime(path)  # used: pruning removes what was not used for a while
            failed = _kept_error(entry)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or damaged: compiled again (and written over)
        if failed is not None:
            raise failed
        try:
            return CachedSearch(
                spl=entry["spl"],
                datasets=tuple(entry["datasets"]),
                requirements={
                    dataset: tuple(tuple((f, lit) for f, lit in clause) for clause in cnf)
                    for dataset, cnf in entry["requirements"].items()
                },
                output_fields=entry["output_fields"],
                duckdb_sql=entry["duckdb_sql"],
                recompile=recompile,
                entry=path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or damaged: compiled again (and written over)

    def _write(self, path: Path, compiled: CompiledSearch) -> None:
        entry = {
            "spl": compiled.spl,
            "datasets": list(compiled.datasets),
            "requirements": {
                dataset: [[list(pair) for pair in clause] for clause in cnf]
                for dataset, cnf in compiled.requirements.items()
            },
            "output_fields": compiled.output_fields,
            "duckdb_sql": compiled.sql("duckdb"),
        }
        if _write_json(path, entry):
            self.prune()

    def prune(self, *, now: float | None = None) -> int:
        """Remove the entries not used for :data:`KEEP_DAYS` days and all but the
        :data:`MAX_ENTRIES` most recently used; at most once a day (the ``.pruned`` marker's
        time). Best effort, like the rest of the cache. Returns how many entries it removed.

        Entries are named by a digest of what the compile reads, so an edit of a search, a
        macro or escudo itself leaves the old entry behind: without this the folder only grows.
        """
        now = time.time() if now is None else now
        marker = self.folder / _PRUNED
        with contextlib.suppress(OSError):
            if now - marker.stat().st_mtime < 86400:
                return 0
        entries: list[tuple[float, Path]] = []
        try:
            for path in self.folder.glob("*.json"):
                with contextlib.suppress(OSError):
                    entries.append((path.stat().st_mtime, path))
            marker.touch()
            os.utime(marker, (now, now))
        except OSError:
            return 0
        entries.sort(reverse=True)  # most recently used first
        removed = 0
        for rank, (used, path) in enumerate(entries):
            if rank >= MAX_ENTRIES or now - used > KEEP_DAYS * 86400:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed
