"""A DuckDB engine that notes, for each search run, what held its data set then."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import pyarrow as pa

from escudo.datamodels.cim import get_dataset
from escudo.engines.base import Runnable
from escudo.engines.duckdb import DuckDBEngine


class RecordingEngine(DuckDBEngine):
    """``held``: for each search run (one by one or several at once), what holds its data set
    (a view over the rows read, held: "rows"; a view over the Arrow files they were spooled to:
    "files"; a table) and how many rows it has; ``narrowed``: for each search given narrower rows
    (``run_many``'s ``narrow``), keyed by ``id()``, the rows of each data set it ran over."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, int]] = []
        self.narrowed: dict[int, dict[str, int]] = {}

    def _note(self, compiled: Runnable) -> None:
        relation = get_dataset(compiled.datasets[0]).relation
        views = self.connection.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = ?", [relation]
        ).fetchall()
        # a view over the Arrow rows held, or over the Arrow files spooled; else a table
        kind = (
            "table" if not views else "files" if "__escudo_arrow_files_" in views[0][0] else "rows"
        )
        rows = self.connection.execute(f'SELECT count(*) FROM "{relation}"').fetchall()[0][0]
        self.held.append((kind, rows))

    def run(self, compiled: Runnable) -> pa.Table:
        self._note(compiled)
        return super().run(compiled)

    def run_many(
        self,
        searches: Sequence[Runnable],
        workers: int | None = None,
        narrow: Callable[[Runnable], Mapping[str, pa.Table]] | None = None,
        rows_key: Callable[[Runnable], Hashable] | None = None,
    ) -> list[pa.Table]:
        for compiled in searches:
            self._note(compiled)
        if narrow is None:
            return super().run_many(searches, workers)

        def noted(compiled: Runnable) -> Mapping[str, pa.Table]:
            rows = narrow(compiled)
            if rows:
                self.narrowed[id(compiled)] = {d: t.num_rows for d, t in rows.items()}
            return rows

        return super().run_many(searches, workers, noted, rows_key)
