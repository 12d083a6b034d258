"""``escudo ingest``: normalized CIM rows of log files into a store directory, incrementally.

Each input is read from where the last run stopped: its checkpoint (``checkpoints/inputs.json``)
holds the file's identity (device, inode, the hash of its first bytes), the byte offset after
the last whole line ingested and the line number there. A plain file with the same identity that
has not shrunk continues from the offset; any other file at the path (rotated) or a shrunk one
(truncated) is read from the start; a ``.gz`` file is read once, whole (one that fails part way
keeps a checkpoint of what was read and is read again from there by the next run). A last line
without its newline waits for the next run (it may be half written). Standard input and FIFOs are
read whole, with no checkpoint. Everything a run writes commits at once (``escudo.store.txn``).

Each input is read as the source its first bytes show (``escudo.store.parse``). The new part of a
big plain file is cut into newline-aligned byte ranges that worker processes read, parse and write
as Parquet themselves, straight into the transaction's staging folder (no rows through a pipe);
the files of a range are named after its place in the input. Each row group is clustered by its
data set's most searched field (``layout.CLUSTER_BY``), so rows are not kept in input order: a
search orders its own output.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from escudo.sources.base import RAW_EVENTS, ReadStats
from escudo.sources.framing import Input, ReadError, os_reason, read_chunks
from escudo.store.layout import (
    EVENTS,
    NO_DATE,
    RAW,
    StoreLayout,
    cluster,
    column_order,
    escape_value,
    writer_options,
)
from escudo.store.txn import Transaction

if TYPE_CHECKING:
    from escudo.store.parse import ChunkParser, Parsed

CHUNK_BYTES = 8 << 20
HEAD_BYTES = 4096  # the first bytes whose hash tells one file from another at the same inode
ROWS_PER_FILE = 4 << 20  # a partition file is closed past this many rows (a new one opened)
ROW_GROUP_ROWS = 128 << 10  # small enough that _time statistics skip most of a partition
CHECKPOINT_VERSION = 1
# New data of a plain file below this is read here: a pool costs more (start-up, imports).
PARALLEL_MIN_BYTES = 64 << 20
RANGES_PER_WORKER = (
    2  # a few ranges per worker, so a worker slowed by the machine's load waits less
)
_DAY_US = 86_400_000_000


@dataclass
class IngestReport:
    """What a run added: events (rows over every data set), files committed, inputs read."""

    events: int = 0
    files: int = 0
    inputs: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    worker_cpu: float = 0.0  # CPU seconds worker processes spent (not counted in this one's)

    def summary(self) -> str:
        per = ", ".join(f"{d} {n}" for d, n in sorted(self.rows.items()) if d != RAW_EVENTS)
        if RAW_EVENTS in self.rows:
            per += f"; raw events {self.rows[RAW_EVENTS]}"
        return (
            f"escudo: ingested {self.events} events from {self.inputs} inputs into "
            f"{self.files} files" + (f" ({per})" if per else "")
        )


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
    dataset: str
    rows: int = 0
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_rows: int = 0


@dataclass
class Piece:
    """What reading one piece of input (a byte range, or a whole stream or ``.gz``) produced: the
    files it staged (their final paths in the store), rows per data set, counts, lines read."""

    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    stats: ReadStats = field(default_factory=ReadStats)
    lines: int = 0
    consumed: int = 0  # bytes of whole lines read (decompressed, for a .gz)
    error: ReadError | None = None
    cpu: float = 0.0  # CPU seconds the piece took in its process (the benchmark adds them up)


class PartWriter:
    """Open Parquet writers, one per (data set, date) partition, on files staged under ``staging``
    (a transaction's folder) named ``part-<prefix>-<n>.parquet`` (``prefix`` sorts in input order)."""

    def __init__(self, staging: Path, prefix: str, piece: Piece) -> None:
        self.staging, self.prefix, self.piece = staging, prefix, piece
        self.open: dict[tuple[str, str], _Open] = {}

    def write(self, dataset: str, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
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
        rows = self.piece.rows
        rows[dataset] = rows.get(dataset, 0) + batch.num_rows

    def _put(self, dataset: str, day: str, batch: pa.RecordBatch) -> None:
        folder = _folder(dataset, day, batch)
        key = (folder, day)
        entry = self.open.get(key)
        if entry is None:
            name = f"{folder}/part-{self.prefix}-{len(self.piece.files):05d}.parquet"
            path = self.staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            order = column_order(dataset, batch.schema.names)
            schema = pa.schema([batch.schema.field(n) for n in order])
            writer = pq.ParquetWriter(path, schema, **writer_options(schema))
            self.piece.files.append(name)
            entry = self.open[key] = _Open(writer, dataset)
        entry.pending.append(batch)
        entry.pending_rows += batch.num_rows
        if entry.pending_rows >= ROW_GROUP_ROWS:  # whole row groups: few, with useful statistics
            self._flush(entry)
        if entry.rows >= ROWS_PER_FILE:
            self._close(key)

    def _flush(self, entry: _Open) -> None:
        if entry.pending:
            # each row group clustered (layout.CLUSTER_BY): searches skip most of its rows
            table = cluster(entry.dataset, pa.Table.from_batches(entry.pending))
            entry.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            entry.rows += table.num_rows
            entry.pending, entry.pending_rows = [], 0

    def _close(self, key: tuple[str, str]) -> None:
        entry = self.open.pop(key)
        self._flush(entry)
        entry.writer.close()  # the commit makes it durable (fsync)

    def close(self) -> None:
        for key in list(self.open):
            self._close(key)


def _folder(dataset: str, day: str, batch: pa.RecordBatch) -> str:
    """The partition folder (relative to the store) of ``batch``'s rows of ``day``: the raw events
    by their sourcetype (one per batch: a parser reads one source), the rest by data set."""
    if dataset == RAW_EVENTS:
        sourcetype = batch.column("sourcetype")[0].as_py()
        return f"{RAW}/sourcetype={escape_value(sourcetype)}/date={day}"
    return f"{EVENTS}/dataset={dataset}/date={day}"


def parse_chunks(
    chunks: Iterable[bytes],
    sourcetype: str,
    name: str,
    writer: PartWriter,
    piece: Piece,
    progress: Callable[[Piece], None] | None = None,
    raw: bool = False,
) -> None:
    """Parse newline-aligned ``chunks`` of one input into ``writer``, counting into ``piece``
    (problem lines numbered from the piece's start; ``progress`` told after each chunk); a
    ReadError ends the piece (kept in it). ``raw``: the raw events too."""
    from escudo.store.parse import ChunkParser

    parser = ChunkParser(sourcetype, raw)
    if parser.assembles:
        _parse_assembled(parser, chunks, name, writer, piece, progress)
        return
    try:
        for data in chunks:
            parsed = parser(data, name)
            for problem in parsed.stats.problems:
                problem.line += piece.lines
            piece.stats.merge(parsed.stats)
            piece.lines += parsed.lines
            piece.consumed += len(data)
            for dataset, batch in parsed.batches:
                writer.write(dataset, batch)
            if progress is not None:
                progress(piece)
    except ReadError as exc:
        piece.error = exc
    finally:
        writer.close()


def _parse_assembled(
    parser: ChunkParser,
    chunks: Iterable[bytes],
    name: str,
    writer: PartWriter,
    piece: Piece,
    progress: Callable[[Piece], None] | None,
) -> None:
    """:func:`parse_chunks` for a source whose events span records (auditd): the chunks go
    through the source's assembly in order; counts as each chunk is read."""

    def counted(parsed: Parsed, size: int) -> None:
        for problem in parsed.stats.problems:
            problem.line += piece.lines
        piece.stats.merge(parsed.stats)
        piece.lines += parsed.lines
        piece.consumed += size
        if progress is not None:
            progress(piece)

    assembly = ReadStats()
    try:
        for dataset, batch in parser.assembled(chunks, name, counted, assembly):
            writer.write(dataset, batch)
    except ReadError as exc:
        piece.error = exc
    finally:
        piece.stats.merge(assembly)
        writer.close()


def _range_chunks(path: Path, offset: int, length: int) -> Iterator[bytes]:
    """Newline-aligned chunks of about CHUNK_BYTES of ``length`` bytes at ``offset`` (the range
    ends just after a newline). Each chunk is read once, to its last newline (found first in the
    window's last bytes): no copy joins or cuts it (three copies of each 8 MB cost ~0.5 us per
    event of an ingest)."""
    with open(path, "rb", buffering=0) as f:
        fd, pos, end = f.fileno(), offset, offset + length
        while pos < end:
            stop = _chunk_end(fd, pos, min(pos + CHUNK_BYTES, end), end)
            data = os.pread(fd, stop - pos, pos)
            if data:
                yield data
            if len(data) < stop - pos:  # the file shrank
                return
            pos = stop


def _chunk_end(fd: int, pos: int, want: int, end: int) -> int:
    """Just after the last newline in ``[pos, want)``, or the first after it (a line longer than
    a chunk), or ``end``."""
    if want >= end:
        return end
    at = want
    while at > pos:  # backwards from the window's end, 64 KiB at a time
        start = max(pos, at - (1 << 16))
        nl = os.pread(fd, at - start, start).rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        at = start
    at = want
    while at < end:  # no newline in the window: on to the end of its line
        block = os.pread(fd, min(1 << 16, end - at), at)
        if not block:  # the file shrank
            return end
        nl = block.find(b"\n")
        if nl >= 0:
            return at + nl + 1
        at += len(block)
    return end


def ingest_range(
    sourcetype: str,
    path: Path,
    offset: int,
    length: int,
    name: str,
    staging: Path,
    prefix: str,
    progress: Callable[[Piece], None] | None = None,
    raw: bool = False,
) -> Piece:
    """Read a newline-aligned byte range of a plain file into staged Parquet files (a worker
    process's task: the rows never travel through a pipe); a file that cannot be read (removed,
    replaced) is reported in the piece, not raised. ``raw``: the raw events too."""
    started = time.process_time()
    piece = Piece()
    writer = PartWriter(staging, prefix, piece)
    try:
        chunks = _range_chunks(path, offset, length)
        parse_chunks(chunks, sourcetype, name, writer, piece, progress, raw)
    except OSError as exc:
        piece.error = ReadError(os_reason(exc, vanished_hint=True), cut=True)
    piece.cpu = time.process_time() - started
    return piece


def _split(path: Path, start: int, end: int, pieces: int) -> list[tuple[int, int]]:
    """``[start, end)`` in up to ``pieces`` ranges, each ending just after a newline."""
    size = end - start
    cuts = [start]
    with open(path, "rb") as f:
        for i in range(1, pieces):
            at = max(cuts[-1], start + size * i // pieces)
            f.seek(at)
            while True:
                block = f.read(1 << 16)
                nl = block.find(b"\n")
                if not block or at >= end:
                    at = end
                    break
                if nl >= 0:
                    at += nl + 1
                    break
                at += len(block)
            if at < end and at > cuts[-1]:
                cuts.append(at)
    cuts.append(end)
    return [(a, b - a) for a, b in pairwise(cuts) if b > a]


def _whole_lines_end(path: Path, size: int) -> int:
    """The offset just after the last newline in the first ``size`` bytes (0: none)."""
    with open(path, "rb") as f:
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                return pos - step + nl + 1
            pos -= step
    return 0


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


class _Run:
    """One ingest run: its transaction, the worker pool (started when a big input needs it), what
    it added so far."""

    def __init__(
        self,
        txn: Transaction,
        report: IngestReport,
        stats: ReadStats,
        workers: int,
        show: _Progress,
        raw: frozenset[str] | None = frozenset(),
    ) -> None:
        self.txn, self.report, self.stats, self.workers = txn, report, stats, workers
        self.show = show
        self.raw = raw  # the sourcetypes whose raw events are kept (None: every one)
        self.done = 0  # bytes of the inputs before the one being read
        self.count = 0
        self.pool: ProcessPoolExecutor | None = None

    def progress(self, before: int) -> Callable[[Piece], None]:
        """Shows the progress of a piece read here, ``before`` bytes into its input."""

        def shown(piece: Piece) -> None:
            rows = sum(piece.rows.values())
            self.show.show(self.done + before + piece.consumed, self.report.events + rows)

        return shown

    def prefix(self) -> str:
        """A file name prefix for the next piece: the transaction, then pieces in input order."""
        self.count += 1
        return f"{self.txn.id}-{self.count:05d}"

    def take(self, piece: Piece, line_base: int) -> None:
        """Commit ``piece``'s files with the run, its problems numbered from ``line_base``."""
        for problem in piece.stats.problems:
            problem.line += line_base
        self.stats.merge(piece.stats)
        for name in piece.files:
            self.txn.stage(name)  # written there already: the rename joins the commit
        self.report.files += len(piece.files)
        for dataset, rows in piece.rows.items():
            self.report.rows[dataset] = self.report.rows.get(dataset, 0) + rows
            if dataset != RAW_EVENTS:  # the same events again, as raw search reads them
                self.report.events += rows

    def keeps_raw(self, sourcetype: str) -> bool:
        """Whether this run keeps the raw events of ``sourcetype``'s inputs (those of a source
        that gives raw events, ``sources.base.RawEventSource``)."""
        from escudo.sources.base import RawEventSource
        from escudo.sources.registry import get_sourcetype

        wanted = self.raw is None or sourcetype in self.raw
        return wanted and isinstance(get_sourcetype(sourcetype), RawEventSource)

    def ranges(self, sourcetype: str, path: Path, name: str, start: int, end: int) -> list[Piece]:
        """The pieces of ``[start, end)`` of a plain file: in worker processes when it is big,
        each range read where it lies on disk, its Parquet written by the worker."""
        staging = self.txn.staging
        from escudo.store.parse import ChunkParser

        whole = ChunkParser(sourcetype).assembles  # events span records: one ordered read
        raw = self.keeps_raw(sourcetype)
        if whole or self.workers < 2 or end - start < PARALLEL_MIN_BYTES:
            shown, prefix = self.progress(0), self.prefix()
            return [
                ingest_range(
                    sourcetype, path, start, end - start, name, staging, prefix, shown, raw
                )
            ]
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context())
        task = partial(ingest_range, sourcetype, path, name=name, staging=staging, raw=raw)
        jobs = [
            self.pool.submit(task, offset=offset, length=length, prefix=self.prefix())
            for offset, length in _split(path, start, end, RANGES_PER_WORKER * self.workers)
        ]
        pieces: list[Piece] = []
        for job in jobs:  # in order; progress as each range is done
            pieces.append(job.result())
            rows = sum(sum(p.rows.values()) for p in pieces)
            self.show.show(self.done + sum(p.consumed for p in pieces), self.report.events + rows)
        self.report.worker_cpu += sum(piece.cpu for piece in pieces)
        return pieces

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _context() -> BaseContext:
    """forkserver: workers fork from a server that imported this module, not from this process
    (which holds the store's lock and may run DuckDB threads); spawn where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload([__name__])
    return server


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    store: str | os.PathLike[str],
    *,
    stats: ReadStats | None = None,
    progress: bool | None = None,
    sourcetype: str | None = None,
    workers: int | None = None,
    raw_events: Iterable[str] | None = (),
) -> IngestReport:
    """Add the events of ``paths`` not yet in ``store`` (created if needed); one atomic commit.
    Each input is read as its own source (sniffed from its first bytes, as ``escudo hunt``
    does), or as ``sourcetype``. ``workers``: processes reading big files (default: one per core).
    ``raw_events``: the sourcetypes whose raw events are kept too, for raw searches over the
    store (``None``: every sourcetype's; default: none; ``detect.hunt.raw_sourcetypes``).

    >>> import tempfile
    >>> from pathlib import Path
    >>> sample = Path(__file__).parents[3] / "samples" / "sysmon-linux-syslog.log"
    >>> store = Path(tempfile.mkdtemp()) / "store"
    >>> ingest([sample], store).events > 0, ingest([sample], store).events
    (True, 0)
    """
    from escudo.datamodels.normalize import sources_of
    from escudo.detect.store import Store

    stats = stats if stats is not None else ReadStats()
    layout = StoreLayout(Path(store))
    report = IngestReport()
    workers = max(1, workers if workers is not None else min(os.cpu_count() or 1, 8))
    inputs = [(source.name, inp) for source, run in sources_of(paths, sourcetype) for inp in run]
    # the store's writer lock; a commit a crashed run decided is finished first
    with Store(layout.root)._writing() as txn:
        old = read_checkpoints(layout)
        entries: dict[str, Any] = dict(old.get("inputs", {}))
        total = sum(_size(inp) for _, inp in inputs)
        show = _Progress(sys.stderr.isatty() if progress is None else progress, total)
        raw = None if raw_events is None else frozenset(raw_events)
        run = _Run(txn, report, stats, workers, show, raw)
        try:
            for source, inp in inputs:
                run.done += _ingest_one(source, inp, entries, run)
                show.show(run.done, report.events)
        finally:
            run.close()
        show.show(run.done, report.events, final=True)
        if entries != old.get("inputs", {}):  # the checkpoints commit with the rows they cover
            final = layout.checkpoints.relative_to(layout.root).as_posix()
            staged = txn.stage(final)
            staged.write_text(
                json.dumps({"version": CHECKPOINT_VERSION, "inputs": entries}, sort_keys=True)
            )
        txn.commit()
    return report


def _size(inp: Input) -> int:
    try:
        return inp.path.stat().st_size if inp.seekable and inp.path else 0
    except OSError:
        return 0  # reported when its turn comes


def _skip(chunks: Iterable[bytes], count: int) -> Iterator[bytes]:
    """``chunks`` without their first ``count`` bytes (a line boundary: what a run read before)."""
    for data in chunks:
        if count >= len(data):
            count -= len(data)
            continue
        yield data[count:] if count else data
        count = 0


def _ingest_one(source: str, inp: Input, entries: dict[str, Any], run: _Run) -> int:
    """Ingest the new part of one input, updating ``entries``; the bytes of it read."""
    stats = run.stats
    if inp.error:
        stats.add_unreadable(inp.name, inp.error)
        return 0
    if inp.path is None or inp.stream:  # stdin, a FIFO: whole, no checkpoint
        run.report.inputs += 1
        piece = Piece()
        writer = PartWriter(run.txn.staging, run.prefix(), piece)
        chunks = read_chunks(inp, CHUNK_BYTES)
        parse_chunks(chunks, source, inp.name, writer, piece, None, run.keeps_raw(source))
        run.take(piece, 0)
        if piece.error is not None:
            stats.add_unreadable(inp.name, piece.error.reason)
        return 0
    try:
        st = inp.path.stat()
        key = _key(st)
        prev = entries.get(key)
        if inp.gzipped:
            return _ingest_gzip(source, inp, st, key, prev, entries, run)
        start, line, raw_kept = 0, 0, True
        if (
            prev is not None
            and not prev.get("gzip")
            and st.st_size >= prev["offset"]
            and prev["head"] == _head_hash(inp.path, prev["head_len"])
        ):
            start, line = prev["offset"], prev["line"]
            raw_kept = prev.get("raw", False)
        end = _whole_lines_end(inp.path, st.st_size)  # a last line without newline waits
        end = _events_end(source, inp.path, start, end)  # an event still being written waits
        if end <= start:
            return 0
        run.report.inputs += 1
        offset = start
        for piece in run.ranges(source, inp.path, inp.name, start, end):
            if piece.error is not None:  # what came after it is not kept: the next run reads it
                run.take(piece, line)
                stats.add_unreadable(inp.name, piece.error.reason)
                offset += piece.consumed
                line += piece.lines
                break
            run.take(piece, line)
            offset += piece.consumed
            line += piece.lines
        if offset == start:
            return 0
        head_len = min(HEAD_BYTES, offset)
        entries[key] = {
            "path": inp.name, "gzip": False, "size": st.st_size, "head_len": head_len,
            "head": _head_hash(inp.path, head_len), "offset": offset, "line": line,
            "sourcetype": source, "raw": raw_kept and run.keeps_raw(source),
        }  # fmt: skip
        return offset - start
    except OSError as exc:
        stats.add_unreadable(inp.name, os_reason(exc, vanished_hint=True))
        return 0


def _ingest_gzip(
    source: str,
    inp: Input,
    st: os.stat_result,
    key: str,
    prev: dict[str, Any] | None,
    entries: dict[str, Any],
    run: _Run,
) -> int:
    """A ``.gz`` is read whole, once; one that could not be read to its end (truncated, still
    being written, corrupt) keeps a checkpoint of what was read (decompressed bytes, lines), so
    the next run reads it again from there and adds the rest, or reports it again."""
    assert inp.path is not None
    skip, line, raw_kept = 0, 0, True
    if prev is not None and prev.get("gzip"):
        same = prev["head"] == _head_hash(inp.path, prev["head_len"])
        if prev.get("complete", True):
            if same and prev["size"] == st.st_size:
                return 0  # read whole before
        elif same:
            skip, line = prev["offset"], prev["line"]
            raw_kept = prev.get("raw", False)
    run.report.inputs += 1
    piece = Piece()
    writer = PartWriter(run.txn.staging, run.prefix(), piece)
    chunks = _skip(read_chunks(inp, CHUNK_BYTES), skip)
    raw = run.keeps_raw(source)
    parse_chunks(chunks, source, inp.name, writer, piece, run.progress(0), raw)
    run.take(piece, line)
    if piece.error is not None:
        run.stats.add_unreadable(inp.name, piece.error.reason)
    head_len = min(HEAD_BYTES, st.st_size)
    entries[key] = {
        "path": inp.name, "gzip": True, "complete": piece.error is None, "size": st.st_size,
        "head_len": head_len, "head": _head_hash(inp.path, head_len),
        "offset": skip + piece.consumed, "line": line + piece.lines,
        "sourcetype": source, "raw": raw_kept and raw,
    }  # fmt: skip
    return st.st_size


# The tail of a grown file searched for events still being written (lines); an event's records
# lie within auditd_events.EDGE_LINES lines of each other.
TAIL_LINES = 1024


def _events_end(source: str, path: Path, start: int, end: int) -> int:
    """``end``, or before it the start of the events at the end of ``[start, end)`` that are
    still being written (a source whose events span records: auditd's ``open_events``), so
    the checkpoint lies between events and the next run reads those events whole (docs/
    semantics.md "Raw events in the store"). Only the last :data:`TAIL_LINES` lines are read."""
    from escudo.sources.registry import get_sourcetype

    open_events = getattr(get_sourcetype(source), "open_events", None)
    if open_events is None or end <= start:
        return end
    with open(path, "rb") as f:
        at = end
        lines = 0
        while at > start and lines <= TAIL_LINES:
            step = min(1 << 16, at - start)
            f.seek(at - step)
            lines += f.read(step).count(b"\n")
            at -= step
        f.seek(at)
        tail = f.read(end - at)
    if at > start:  # from a line start, past the first (maybe partial) line
        cut = tail.find(b"\n") + 1
        at, tail = at + cut, tail[cut:]
    return at + int(open_events(tail))
