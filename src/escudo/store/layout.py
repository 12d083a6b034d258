"""Where everything lives in a store directory (docs/architecture.md "Store"); shared by ingest
(``escudo.store.ingest``) and the risk / findings / results tables (``escudo.detect.store``, which
also creates and checks the store and holds its lock).

```
DIR/escudo-store.json                     {"format": "escudo-store", "version": 1}
DIR/events/dataset=<Dataset>/date=YYYY-MM-DD/part-<txn>-<piece>-<n>.parquet   (_time UTC)
  (<txn>: nanoseconds, 20 digits, then random hex; <piece>, <n>: 5 digits, so names sort by commit,
  then in input order; a compacted file is part-<txn>-<n>.parquet)
DIR/risk/..., DIR/findings/..., DIR/results/...
DIR/checkpoints/inputs.json               per input: identity, offset, line
DIR/_txn/                                 staging and commit intents
```

Readers ignore every file or folder whose name starts with ``_`` or ``.`` (staging, intents,
temporary files), so only committed data is ever visible.

>>> from pathlib import Path
>>> layout = StoreLayout(Path("/s"))
>>> layout.partition("events", "Endpoint.Processes", "2024-01-31").as_posix()
'/s/events/dataset=Endpoint.Processes/date=2024-01-31'
>>> hidden("_txn"), hidden(".part-1.parquet.tmp"), hidden("part-1-0.parquet")
(True, True, False)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

FORMAT = "escudo-store"
VERSION = 1
MARKER = "escudo-store.json"
EVENTS = "events"
RISK = "risk"
FINDINGS = "findings"
RESULTS = "results"
CHECKPOINTS = "checkpoints"
TXN = "_txn"
# The date partition of rows whose _time is NULL (unparsable timestamps): they sort after every date.
NO_DATE = "none"


def hidden(name: str) -> bool:
    """Whether readers skip this file or folder name (staging, intents, temporary files)."""
    return name.startswith(("_", "."))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once (a temporary sibling, fsync, rename): a reader
    or a crash sees the old content or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make the renames in folder ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class StoreLayout:
    """The paths of a store directory ``root``."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS / "inputs.json"

    @property
    def txn(self) -> Path:
        return self.root / TXN

    def table(self, kind: str) -> Path:
        """The folder of one table: ``events``, ``risk``, ``findings``, ``results``."""
        return self.root / kind

    def partition(self, kind: str, dataset: str, day: str) -> Path:
        """The folder of one (data set, date) partition; ``day`` is ``YYYY-MM-DD`` or NO_DATE."""
        return self.root / kind / f"dataset={dataset}" / f"date={day}"

    def datasets(self, kind: str) -> list[str]:
        """The data sets that have a partition folder in table ``kind``."""
        folder = self.table(kind)
        if not folder.is_dir():
            return []
        return sorted(
            p.name.split("=", 1)[1]
            for p in folder.iterdir()
            if p.is_dir() and not hidden(p.name) and p.name.startswith("dataset=")
        )

    def partitions(self, kind: str, dataset: str) -> Iterator[tuple[date | None, Path]]:
        """Each date partition folder of ``dataset`` (``None``: the NO_DATE partition), by date."""
        folder = self.table(kind) / f"dataset={dataset}"
        if not folder.is_dir():
            return
        found: list[tuple[date | None, Path]] = []
        for p in folder.iterdir():
            if not p.is_dir() or hidden(p.name) or not p.name.startswith("date="):
                continue
            value = p.name.split("=", 1)[1]
            found.append((None if value == NO_DATE else date.fromisoformat(value), p))
        found.sort(key=lambda item: (item[0] is None, item[0] or date.min))
        yield from found

    def files(self, folder: Path) -> list[Path]:
        """The committed Parquet files of a partition folder, in commit order."""
        return sorted(
            (p for p in folder.iterdir() if p.suffix == ".parquet" and not hidden(p.name)),
            key=lambda p: p.name,  # part-<txn>-<n>: transaction ids sort by time
        )
