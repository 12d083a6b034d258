"""``escudo store compact`` (merge a partition's small files) and ``escudo store prune --before
DATE`` (retention: drop every partition of an earlier day). Each is one atomic commit under the
store's writer lock: readers see the old files or the new ones, never both or neither. Both cover
the events' data sets and the raw events' sourcetypes alike."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from escudo.errors import InputError
from escudo.store.layout import (
    EVENTS,
    FINDINGS,
    NO_DATE,
    RAW,
    RESULTS,
    RISK,
    StoreLayout,
    hidden,
)

COMPACT_ROWS = 4 << 20  # a compacted file holds at most this many rows
TABLES = (EVENTS, RAW, RISK, FINDINGS, RESULTS)


@dataclass
class MaintainReport:
    removed: int = 0
    written: int = 0

    def summary(self, verb: str) -> str:
        return f"escudo: {verb}: {self.removed} files removed, {self.written} written"


def _existing(path: Path) -> None:
    if not (path / "escudo-store.json").is_file():
        raise InputError("not an escudo store (no escudo-store.json)", path=str(path))


def compact(store: Path) -> MaintainReport:
    """Merge the files of each event partition (the raw events' too) into as few as hold its
    rows (row order kept).

    >>> import tempfile
    >>> from escudo.store.ingest import ingest
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> s = Path(tempfile.mkdtemp()) / "s"
    >>> _ = ingest([sample], s); (s / "checkpoints" / "inputs.json").unlink(); _ = ingest([sample], s)
    >>> compact(s).summary("compact")
    'escudo: compact: 6 files removed, 3 written'
    """
    from escudo.detect.store import Store

    _existing(store)
    layout, report = StoreLayout(store), MaintainReport()
    with Store(store)._writing() as txn:
        for table in (EVENTS, RAW):
            for folder in layout.partition_folders(table):
                files = layout.files(folder)
                if len(files) < 2:
                    continue
                rel = folder.relative_to(store).as_posix()
                writer, rows, n = None, 0, 0
                for part in files:
                    for batch in pq.ParquetFile(part).iter_batches(batch_size=65536):
                        if writer is None or rows >= COMPACT_ROWS:
                            if writer is not None:
                                writer.close()
                            n += 1
                            staged = txn.stage(f"{rel}/part-{txn.id}-{n:05d}.parquet")
                            from escudo.store.layout import writer_options

                            writer = pq.ParquetWriter(
                                staged, batch.schema, **writer_options(batch.schema)
                            )
                            rows = 0
                            report.written += 1
                        writer.write_batch(batch, row_group_size=128 << 10)
                        rows += batch.num_rows
                    txn.delete(part.relative_to(store).as_posix())
                    report.removed += 1
                if writer is not None:
                    writer.close()
        txn.commit()
    return report


def prune(store: Path, before: date) -> MaintainReport:
    """Drop every partition (events, risk events, findings, results) of a day before ``before``;
    rows without a time (``date=none``) are kept."""
    from escudo.detect.store import Store

    _existing(store)
    report = MaintainReport()
    with Store(store)._writing() as txn:
        folders = []
        for table in TABLES:
            root = store / table
            if not root.is_dir():
                continue
            for folder in sorted(root.rglob("date=*")):
                rel = folder.relative_to(store)
                if not folder.is_dir() or any(hidden(p) for p in rel.parts):
                    continue
                value = folder.name.split("=", 1)[1]
                if value == NO_DATE or value.startswith("__"):
                    continue
                try:
                    day = date.fromisoformat(value)
                except ValueError:
                    continue
                if day < before:
                    folders.append(folder)
                    for part in sorted(folder.glob("*.parquet")):
                        if not hidden(part.name):
                            txn.delete(part.relative_to(store).as_posix())
                            report.removed += 1
        txn.commit()
        for folder in folders:  # empty now: readers skip empty folders anyway
            with contextlib.suppress(OSError):
                folder.rmdir()
    return report
