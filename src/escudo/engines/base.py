"""The engine seam: what every engine that runs escudo's compiled searches provides.

An engine holds CIM data sets (``Endpoint.Processes``, ``Risk.All_Risk``, ...) and runs compiled
searches over them. It is given data three ways: Arrow (a table, batches or a reader, streamed once),
a Parquet data set (a file, a folder of files or a glob) and the risk store (``Risk.All_Risk``, the
risk events ``escudo hunt --store`` kept). Whatever the way, the data set's table has every field of
the data set (``_time`` a UTC timestamp, the rest text, multivalue fields lists; fields the data lacks
are NULL) plus the data's extra columns, so compiled SQL always finds its columns. A data set a search
reads that nobody registered reads as empty.

An engine writes SQL in one of escudo's dialects (``escudo.compile.dialects.DIALECTS``) named by its
``dialect``. Engines are registered by name in ``escudo.engines.ENGINES``; ``new_engine(name)`` makes
one. Use one as a context manager: ``close`` releases what it holds (memory, spill files).

>>> from escudo.engines import new_engine
>>> with new_engine("duckdb") as engine:
...     isinstance(engine, Engine)
True
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeAlias, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:
    from sqlglot import exp

    from escudo.detect.store import Store

# Arrow data an engine can register: a table (scanned in place where the engine can), or batches or
# a reader (streamed, read once).
ArrowData: TypeAlias = pa.Table | Iterable[pa.RecordBatch] | pa.RecordBatchReader


class Runnable(Protocol):
    """What ``Engine.run`` takes: a sqlglot query over data sets, written in the engine's dialect.

    ``escudo.compile.CompiledSearch`` (a compiled SPL search) and
    ``escudo.detect.findings.RuleQuery`` (a risk incident rule) are both runnable.
    """

    @property
    def expression(self) -> exp.Query:
        """The query, one sqlglot tree (the engine writes it with ``dialect_for(engine.dialect)``)."""
        ...

    @property
    def datasets(self) -> tuple[str, ...]:
        """The data sets it reads (each a relation named ``relation_name(dataset)``)."""
        ...

    @property
    def output_fields(self) -> list[str] | None:
        """Its columns in order (``None``: as the query returns them)."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Runs compiled searches over registered CIM data sets and returns Arrow tables."""

    # The escudo dialect it runs (a key of escudo.compile.dialects.DIALECTS).
    dialect: str

    def register_arrow(self, dataset: str, data: ArrowData) -> None:
        """``data`` as the rows of ``dataset`` (replacing any earlier registration)."""
        ...

    def register_parquet(self, dataset: str, path: str | Path | Sequence[str | Path]) -> None:
        """The Parquet file, folder (every ``*.parquet`` below it) or glob ``path`` as ``dataset``
        (a list: all of those, in order; the store registers a data set's partition files so)."""
        ...

    def register_risk_store(self, store: Store) -> None:
        """The risk events kept in ``store`` as ``Risk.All_Risk``."""
        ...

    def run(self, compiled: Runnable) -> pa.Table:
        """The rows of ``compiled`` over the registered data sets, columns in its output order
        (a data set it reads that nobody registered reads as empty)."""
        ...

    def close(self) -> None:
        """Release what the engine holds; closing twice is harmless."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def parquet_files(path: str | Path | Sequence[str | Path]) -> list[str]:
    """The Parquet files ``path`` names: itself, every ``*.parquet`` below a folder, or a glob's
    (a list: those of each item, in order); what every engine's ``register_parquet`` reads."""
    if not isinstance(path, (str, Path)):
        return [f for item in path for f in parquet_files(item)]
    text = str(path)
    if Path(text).is_dir():
        return sorted(str(p) for p in Path(text).rglob("*.parquet") if p.is_file())
    if any(char in text for char in "*?["):  # a glob pattern
        return sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
    return [text] if Path(text).is_file() else []


class ClosedOnExit:
    """The ``with`` block of every engine: the engine is closed when the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["ArrowData", "ClosedOnExit", "Engine", "Runnable", "parquet_files"]
