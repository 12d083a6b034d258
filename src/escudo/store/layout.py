"""Where everything lives in a store directory (docs/architecture.md "Store"); shared by ingest
(``escudo.store.ingest``) and the risk / findings / results tables (``escudo.detect.store``, which
also creates and checks the store and holds its lock).

```
DIR/escudo-store.json                     {"format": "escudo-store", "version": 1}
DIR/events/dataset=<Dataset>/date=YYYY-MM-DD/part-<txn>-<piece>-<n>.parquet   (_time UTC)
  (<txn>: nanoseconds, 20 digits, then random hex; <piece>, <n>: 5 digits, so names sort by commit,
  then in input order; a compacted file is part-<txn>-<n>.parquet)
DIR/raw/sourcetype=<sourcetype, Hive-escaped>/date=YYYY-MM-DD/part-...parquet   (raw events)
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
>>> layout.raw_partition("linux:audit", "2024-01-31").as_posix()
'/s/raw/sourcetype=linux%3Aaudit/date=2024-01-31'
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT = "escudo-store"
VERSION = 1
MARKER = "escudo-store.json"
EVENTS = "events"
RAW = "raw"  # the raw events (sources.base.RAW_EVENTS), partitioned by sourcetype and date
RISK = "risk"
FINDINGS = "findings"
RESULTS = "results"
CHECKPOINTS = "checkpoints"
TXN = "_txn"
# The date partition of rows whose _time is NULL (unparsable timestamps): they sort after every date.
NO_DATE = "none"


# Each data set's row groups are sorted by the lower-cased value of one field (Arrow's sort is
# stable: rows of one value keep their input order; no value last), the field most searches test: its rows of one value lie together,
# so an engine that filters it first skips whole runs of rows, never reading the other columns
# there (DuckDB reads a column of a vector only for rows that passed the filters before it, and
# checks filters in the files' column order). Measured on a 10M-event store (8M processes), the
# seed's filter `lower(process_name)='ngrok' AND lower(process) LIKE ...`: 1.1 s unsorted, 0.5 s
# with process_name before process, 0.13-0.27 s sorted too (load 19-21 on 2 cores).
CLUSTER_BY = {
    "Endpoint.Processes": "process_name",
    "Endpoint.Filesystem": "file_name",
    "Network_Traffic.All_Traffic": "dest_port",
}
# Written first, in this order (after _time and the cluster field): short, often-tested fields.
FIRST_COLUMNS = (
    "process_name", "parent_process_name", "file_name", "dest_port", "action", "dest", "user",
    "original_file_name", "transport", "src",
)  # fmt: skip

# Fields that hold a new value in (nearly) every event: written without a dictionary, and those
# holding text in DELTA_LENGTH_BYTE_ARRAY. Parquet writers build a dictionary per column chunk
# until it passes 1 MB, then fall back to PLAIN pages, so such a column paid for a dictionary it
# then dropped (measured on a 115k-row row group of the 1M-event benchmark's processes: 1.2
# against 1.5-2.0 us per row to write, 30 against 37 bytes per row on disk); and PLAIN strings
# must be walked one by one to skip rows: a scan that keeps 1,820 of 8M rows (the seed) still
# decoded every process_id, parent_process_id and process_guid (1.35 CPU-s on a 10M-event store,
# 0.28 with these columns DELTA_LENGTH_BYTE_ARRAY: all lengths first, so skipping rows costs no
# string walk). A raw event's `_raw` is unique too.
NO_DICTIONARY = frozenset(
    {"_time", "process_guid", "parent_process_guid", "process_id", "parent_process_id",
     "file_create_time", "src_port", "_raw"}
)  # fmt: skip


def writer_options(schema: pa.Schema) -> dict[str, object]:
    """``pyarrow.parquet.ParquetWriter`` settings of every event file of the store: zstd, the
    :data:`NO_DICTIONARY` columns without a dictionary, those of them that hold text in
    ``DELTA_LENGTH_BYTE_ARRAY`` (a Parquet 1.0 encoding that DuckDB, Spark 3.3+, Trino and Polars
    read), the other columns dictionary-encoded.

    >>> import pyarrow as pa
    >>> writer_options(pa.schema([("process_id", pa.string()), ("process", pa.string())]))
    {'compression': 'zstd', 'compression_level': 1, 'use_dictionary': ['process'], \
'column_encoding': {'process_id': 'DELTA_LENGTH_BYTE_ARRAY'}}
    """
    import pyarrow as pa

    delta = [
        f.name
        for f in schema
        if f.name in NO_DICTIONARY
        and (
            pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_binary(f.type)
        )
    ]
    options: dict[str, object] = {
        "compression": "zstd",
        "compression_level": 1,
        "use_dictionary": dictionary_columns(schema.names),
    }
    if delta:
        options["column_encoding"] = dict.fromkeys(delta, "DELTA_LENGTH_BYTE_ARRAY")
    return options


def dictionary_columns(names: list[str]) -> list[str]:
    """The columns of ``names`` written with a dictionary (``pq.ParquetWriter(use_dictionary=)``).

    >>> dictionary_columns(["_time", "process_name", "process_guid"])
    ['process_name']
    """
    return [n for n in names if n not in NO_DICTIONARY]


def column_order(dataset: str, names: list[str]) -> list[str]:
    """The store's column order for ``dataset`` rows holding ``names``: ``_time``, the cluster
    field, :data:`FIRST_COLUMNS`, then the rest as they come (readers match columns by name).

    >>> column_order("Endpoint.Processes", ["_time", "host", "process", "process_name", "user"])
    ['_time', 'process_name', 'user', 'host', 'process']
    """
    key = CLUSTER_BY.get(dataset)
    first = [n for n in ("_time", key, *FIRST_COLUMNS) if n is not None and n in names]
    first = list(dict.fromkeys(first))
    return first + [n for n in names if n not in first]


def cluster(dataset: str, table: pa.Table) -> pa.Table:
    """``table`` sorted (stably) by the lower-cased :data:`CLUSTER_BY` field of ``dataset``, its
    columns in :func:`column_order`.

    >>> import pyarrow as pa
    >>> t = pa.table({"process": ["a", "b", "c"], "process_name": ["sh", "Bash", "sh"]})
    >>> cluster("Endpoint.Processes", t).to_pydict()
    {'process_name': ['Bash', 'sh', 'sh'], 'process': ['b', 'a', 'c']}
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    key = CLUSTER_BY.get(dataset)
    if key is not None and key in table.column_names and table.num_rows > 1:
        lowered = pc.utf8_lower(table.column(key).cast(pa.string()))
        order = pc.sort_indices(pa.table({"k": lowered}), sort_keys=[("k", "ascending")])
        table = table.take(order)
    return table.select(column_order(dataset, table.column_names))


# Hive's escaping of a partition value (FileUtils.escapePathName; Spark's
# ExternalCatalogUtils.escapePathName): these characters, and control characters, as %XX. A
# sourcetype holds a colon (linux:audit), which Hadoop's Path takes for a URI scheme unescaped.
_HIVE_ESCAPED = frozenset("\"#%'*/:=?\\\x7f{[]^")


def escape_value(value: str) -> str:
    """A partition value as Hive writes it in a folder name (``linux:audit`` -> ``linux%3Aaudit``),
    which Spark, Trino and pyarrow's ``partitioning="hive"`` read back as the value.

    >>> escape_value("linux:audit"), unescape_value("linux%3Aaudit")
    ('linux%3Aaudit', 'linux:audit')
    """
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 else c for c in value)


def unescape_value(text: str) -> str:
    """The partition value of a folder name's escaped text (:func:`escape_value` undone)."""
    from urllib.parse import unquote

    return unquote(text)


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

    def raw_partition(self, sourcetype: str, day: str) -> Path:
        """The folder of one (sourcetype, date) partition of the raw events."""
        return self.root / RAW / f"sourcetype={escape_value(sourcetype)}" / f"date={day}"

    def sourcetypes(self) -> list[str]:
        """The sourcetypes that have a partition folder of raw events."""
        folder = self.table(RAW)
        if not folder.is_dir():
            return []
        return sorted(
            unescape_value(p.name.split("=", 1)[1])
            for p in folder.iterdir()
            if p.is_dir() and not hidden(p.name) and p.name.startswith("sourcetype=")
        )

    def raw_partitions(self, sourcetype: str) -> Iterator[tuple[date | None, Path]]:
        """Each date partition folder of ``sourcetype``'s raw events (``None``: NO_DATE), by date."""
        yield from _dated(self.table(RAW) / f"sourcetype={escape_value(sourcetype)}")

    def partition_folders(self, kind: str) -> Iterator[Path]:
        """Every date partition folder of table ``kind`` (``events``: of each data set; ``raw``:
        of each sourcetype)."""
        if kind == RAW:
            for sourcetype in self.sourcetypes():
                for _, folder in self.raw_partitions(sourcetype):
                    yield folder
            return
        for dataset in self.datasets(kind):
            for _, folder in self.partitions(kind, dataset):
                yield folder

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
        yield from _dated(self.table(kind) / f"dataset={dataset}")

    def files(self, folder: Path) -> list[Path]:
        """The committed Parquet files of a partition folder, in commit order."""
        return sorted(
            (p for p in folder.iterdir() if p.suffix == ".parquet" and not hidden(p.name)),
            key=lambda p: p.name,  # part-<txn>-<n>: transaction ids sort by time
        )


def _dated(folder: Path) -> Iterator[tuple[date | None, Path]]:
    """The ``date=`` partition folders in ``folder`` (``None``: NO_DATE), by date."""
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
