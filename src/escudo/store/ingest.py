"""``escudo ingest``: normalized CIM rows of log files into a store directory, incrementally.

Each input is read from where the last run stopped: its checkpoint (``checkpoints/inputs.json``)
holds the file's identity (device, inode, the hash of its first bytes), the byte offset after
the last whole line ingested and the line number there. A plain file with the same identity that
has not shrunk continues from the offset; any other file at the path (rotated) or a shrunk one
(truncated) is read from the start; a ``.gz`` file is read once, whole. A last line without its
newline waits for the next run (it may be half written). Standard input and FIFOs are read whole,
with no checkpoint. Everything a run writes commits at once (``escudo.store.txn``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from escudo.sources.base import ReadStats
from escudo.sources.framing import Input, ReadError, expand_inputs, os_reason, read_chunks
from escudo.store.layout import EVENTS, NO_DATE, StoreLayout
from escudo.store.txn import Transaction

CHUNK_BYTES = 8 << 20
HEAD_BYTES = 4096  # the first bytes whose hash tells one file from another at the same inode
ROWS_PER_FILE = 4 << 20  # a partition file is closed past this many rows (a new one opened)
ROW_GROUP_ROWS = 128 << 10  # small enough that _time statistics skip most of a partition
CHECKPOINT_VERSION = 1
_DAY_US = 86_400_000_000


@dataclass
class IngestReport:
    """What a run added: events (rows over every data set), files committed, inputs read."""

    events: int = 0
    files: int = 0
    inputs: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        per = ", ".join(f"{d} {n}" for d, n in sorted(self.rows.items()))
        return (
            f"escudo: ingested {self.events} events from {self.inputs} inputs into "
            f"{self.files} files" + (f" ({per})" if per else "")
        )


def store_datasets() -> tuple[str, ...]:
    """The CIM data sets an ingest fills: every one the sourcetype mappings feed."""
    from escudo.datamodels.mappings import MAPPINGS

    return tuple(sorted({dataset for _, dataset in MAPPINGS}))


def read_events(
    chunks: Iterable[bytes], name: str, first_line: int, stats: ReadStats
) -> Iterator[tuple[str, pa.RecordBatch, int]]:
    """``(dataset, rows, lines read so far)`` of newline-aligned ``chunks`` of one input.

    The one place that knows the reading API (``escudo.datamodels.normalize``): each chunk is
    parsed once, for the raw fields of every data set, then each data set's record types are
    normalized; problems are numbered from ``first_line``.
    """
    from escudo.datamodels.mappings import get_mapping
    from escudo.datamodels.normalize import dataset_schema, normalize_batch
    from escudo.sources.framing import note_bad_text
    from escudo.sources.registry import get_sourcetype

    st = get_sourcetype(None)
    mappings = [(d, get_mapping(st.name, d), dataset_schema(d, st.name)) for d in store_datasets()]
    fields = sorted({"EventID"}.union(*(m.raw_fields for _, m, _ in mappings)))
    every = any(m.record_types is None for _, m, _ in mappings)
    types = None if every else frozenset().union(*(m.record_types or () for _, m, _ in mappings))
    plan = st.plan(tuple(fields), types, None, "fast")
    line = first_line
    for data in chunks:
        raw, chunk_stats = plan(data, name)
        note_bad_text(data, name, 1, chunk_stats)
        for problem in chunk_stats.problems:
            problem.line += line
        stats.merge(chunk_stats)
        line += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        ids = raw.column("EventID") if raw.num_rows else None
        for dataset, mapping, schema in mappings:
            if ids is None:
                continue
            rows = raw
            if mapping.record_types is not None:
                wanted = pa.array(sorted(str(t) for t in mapping.record_types), ids.type)
                rows = raw.filter(pc.fill_null(pc.is_in(ids, wanted), False))
            if rows.num_rows:
                batch = normalize_batch(rows, mapping, schema, st.source, st.name)
                yield dataset, batch, line - first_line
        yield "", pa.record_batch([]), line - first_line  # the lines read, rows or not


def _file_chunks(path: Path, start: int, done: list[int]) -> Iterator[bytes]:
    """Whole lines of a plain file from byte ``start`` to its size now; ``done[0]`` is advanced
    past each chunk handed out (a last line without newline is left for the next run)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(start)
        pos, carry = start, b""
        while pos < size:
            block = f.read(min(CHUNK_BYTES, size - pos))
            if not block:
                break
            pos += len(block)
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            out = data[: cut + 1]
            done[0] += len(out)
            yield out


def _head_hash(path: Path, length: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def read_checkpoints(layout: StoreLayout) -> dict[str, Any]:
    """The committed checkpoints (``{}`` for a new store)."""
    try:
        data = json.loads(layout.checkpoints.read_bytes())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


@dataclass
class _Open:
    """A partition's open staged file: rows written, batches not yet written."""

    writer: pq.ParquetWriter
    rows: int = 0
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_rows: int = 0


class _Sink:
    """Open Parquet writers, one per (data set, date) partition, on staged files."""

    def __init__(self, layout: StoreLayout, txn: Transaction, report: IngestReport) -> None:
        self.layout, self.txn, self.report = layout, txn, report
        self.open: dict[tuple[str, str], _Open] = {}
        self.count = 0

    def write(self, dataset: str, batch: pa.RecordBatch) -> None:
        if not dataset or not batch.num_rows:
            return
        times = batch.column("_time")
        micros = pc.cast(pc.cast(times, pa.int64()), pa.float64())  # exact below 2**53 us
        days = pc.cast(pc.floor(pc.divide(micros, float(_DAY_US))), pa.int64())
        unique = pc.unique(days).to_pylist()
        for day in unique:
            part = (
                batch
                if len(unique) == 1
                else batch.filter(
                    pc.is_null(days) if day is None else pc.fill_null(pc.equal(days, day), False)
                )
            )
            self._put(dataset, _day_name(day), part)
        self.report.rows[dataset] = self.report.rows.get(dataset, 0) + batch.num_rows
        self.report.events += batch.num_rows

    def _put(self, dataset: str, day: str, batch: pa.RecordBatch) -> None:
        key = (dataset, day)
        entry = self.open.get(key)
        if entry is None:
            folder = self.layout.partition(EVENTS, dataset, day).relative_to(self.layout.root)
            self.count += 1
            name = f"{folder.as_posix()}/part-{self.txn.id}-{self.count:05d}.parquet"
            writer = pq.ParquetWriter(
                self.txn.stage(name), batch.schema, compression="zstd", compression_level=1
            )
            entry = self.open[key] = _Open(writer)
        entry.pending.append(batch)
        entry.pending_rows += batch.num_rows
        if entry.pending_rows >= ROW_GROUP_ROWS:  # whole row groups: few, with useful statistics
            self._flush(entry)
        if entry.rows >= ROWS_PER_FILE:
            self._close(key)

    def _flush(self, entry: _Open) -> None:
        if entry.pending:
            table = pa.Table.from_batches(entry.pending)
            entry.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            entry.rows += table.num_rows
            entry.pending, entry.pending_rows = [], 0

    def _close(self, key: tuple[str, str]) -> None:
        entry = self.open.pop(key)
        self._flush(entry)
        entry.writer.close()  # the commit makes it durable (fsync)
        self.report.files += 1

    def close(self) -> None:
        for key in list(self.open):
            self._close(key)


def _day_name(day: int | None) -> str:
    if day is None:
        return NO_DATE
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


class _Progress:
    """A one-line progress report on stderr (when it is a terminal), at most twice a second."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self.last, self.start = enabled, total, 0.0, time.monotonic()

    def show(self, done: int, events: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.5):
            return
        self.last = now
        rate = events / max(now - self.start, 1e-6)
        pct = f"{100 * done / self.total:.0f}% " if self.total else ""
        end = "\n" if final else ""
        sys.stderr.write(f"\rescudo: ingest {pct}{events} events ({rate:,.0f}/s)\x1b[K{end}")
        sys.stderr.flush()


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    store: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Add the events of ``paths`` not yet in ``store`` (created if needed); one atomic commit.

    >>> import tempfile
    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> store = Path(tempfile.mkdtemp()) / "store"
    >>> ingest([sample], store).events > 0, ingest([sample], store).events
    (True, 0)
    """
    from escudo.detect.store import Store

    stats = stats if stats is not None else ReadStats()
    layout = StoreLayout(Path(store))
    report = IngestReport()
    # the store's writer lock; a commit a crashed run decided is finished first
    with Store(layout.root)._writing() as txn:
        old = read_checkpoints(layout)
        entries: dict[str, Any] = dict(old.get("inputs", {}))
        inputs = expand_inputs(paths)
        total = sum(inp.path.stat().st_size for inp in inputs if inp.seekable and inp.path)
        show = _Progress(sys.stderr.isatty() if progress is None else progress, total)
        sink = _Sink(layout, txn, report)
        done_before = 0
        try:
            for inp in inputs:
                done_before += _ingest_one(inp, entries, sink, stats, show, done_before, report)
        finally:
            sink.close()
        show.show(done_before, report.events, final=True)
        if entries != old.get("inputs", {}):  # the checkpoints commit with the rows they cover
            final = layout.checkpoints.relative_to(layout.root).as_posix()
            staged = txn.stage(final)
            staged.write_text(
                json.dumps({"version": CHECKPOINT_VERSION, "inputs": entries}, sort_keys=True)
            )
        txn.commit()
    return report


def _ingest_one(
    inp: Input,
    entries: dict[str, Any],
    sink: _Sink,
    stats: ReadStats,
    show: _Progress,
    done_before: int,
    report: IngestReport,
) -> int:
    """Ingest the new part of one input, updating ``entries``; the bytes of it read."""
    if inp.error:
        stats.add_unreadable(inp.name, inp.error)
        return 0
    if inp.path is None or inp.stream:  # stdin, a FIFO: whole, no checkpoint
        report.inputs += 1
        try:
            for dataset, batch, _ in read_events(read_chunks(inp, CHUNK_BYTES), inp.name, 0, stats):
                sink.write(dataset, batch)
        except ReadError as exc:
            stats.add_unreadable(inp.name, exc.reason)
        return 0
    try:
        st = inp.path.stat()
        key = _key(st)
        prev = entries.get(key)
        start, line = 0, 0
        if inp.gzipped:
            if (
                prev is not None
                and prev.get("gzip")
                and prev["size"] == st.st_size
                and prev["head"] == _head_hash(inp.path, prev["head_len"])
            ):
                return 0  # read whole before
            report.inputs += 1
            try:
                for dataset, batch, _ in read_events(
                    read_chunks(inp, CHUNK_BYTES), inp.name, 0, stats
                ):
                    sink.write(dataset, batch)
            except ReadError as exc:
                stats.add_unreadable(inp.name, exc.reason)
            head_len = min(HEAD_BYTES, st.st_size)
            entries[key] = {
                "path": inp.name, "gzip": True, "size": st.st_size, "head_len": head_len,
                "head": _head_hash(inp.path, head_len), "offset": st.st_size, "line": 0,
            }  # fmt: skip
            return st.st_size
        if (
            prev is not None
            and not prev.get("gzip")
            and st.st_size >= prev["offset"]
            and prev["head"] == _head_hash(inp.path, prev["head_len"])
        ):
            start, line = prev["offset"], prev["line"]
        if start == st.st_size:
            return 0
        report.inputs += 1
        done = [start]
        lines = 0
        for dataset, batch, read in read_events(
            _file_chunks(inp.path, start, done), inp.name, line, stats
        ):
            sink.write(dataset, batch)
            lines = read
            show.show(done_before + done[0] - start, report.events)
        if done[0] == start:
            return 0
        head_len = min(HEAD_BYTES, done[0])
        entries[key] = {
            "path": inp.name, "gzip": False, "size": st.st_size, "head_len": head_len,
            "head": _head_hash(inp.path, head_len), "offset": done[0], "line": line + lines,
        }  # fmt: skip
        return done[0] - start
    except OSError as exc:
        stats.add_unreadable(inp.name, os_reason(exc, vanished_hint=True))
        return 0
