"""Run a chunk processor over inputs, in this process or in a pool of worker processes.

A *processor* is a picklable callable ``(data: bytes, name: str) -> (RecordBatch, ReadStats)``
(e.g. :class:`escudo.sources.sysmon.SysmonPlan`). Plain files are cut into newline-aligned byte
ranges that workers read themselves (no copy through a pipe); ``.gz`` and stdin are read here and
shipped as bytes. Results come back in input order; at most ``4 * workers`` chunks are in flight,
so memory stays bounded whatever the input size (architecture "Performance design").

>>> from escudo.sources.sysmon import SysmonPlan
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.log").write_bytes(b"noise\\n")
>>> stats = ReadStats()
>>> [b.num_rows for b in read_batches([d], SysmonPlan(fields=("EventID",)), stats=stats)], stats.skipped
([], 1)
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path

import pyarrow as pa

from escudo.errors import EscudoError
from escudo.sources.base import ReadStats
from escudo.sources.framing import (
    Input,
    ReadError,
    count_lines,
    expand_inputs,
    file_ranges,
    note_bad_text,
    os_reason,
    read_chunks,
    read_range,
)

Processor = Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]]
Result = tuple[pa.RecordBatch | None, ReadStats, int]

DEFAULT_CHUNK_BYTES = 8 << 20
# A processor that ``streams`` (reads a file range itself, in small blocks through one buffer)
# takes ranges of up to this many chunks (see range_bytes), read in blocks of 1/BLOCKS_PER_CHUNK.
STREAM_RANGE_CHUNKS = 4
BLOCKS_PER_CHUNK = 8
# Chunks queued per worker: with fewer, a worker waits for this process (its threads share the
# busy cores) to hand it the next one; a ``range`` task holds no data here, a stream chunk does.
IN_FLIGHT_PER_WORKER = 4
# Below this much input a process pool costs more (start-up, imports) than it saves.
PARALLEL_MIN_BYTES = 64 << 20
# A processor that streams (the C range scan holds no GIL) and leaves Python at most this share
# of the bytes of a sample (the first PROBE_BYTES of the first file) runs in threads of this
# process: a selective hunt scans at the speed of the C scan on every core, with no worker
# process to start (a Python with pyarrow & co, ~0.3 s of CPU each) and no batch to pickle.
THREAD_MAX_PYTHON_SHARE = 0.02
PROBE_BYTES = 8 << 20


def run_chunk(processor: Processor, name: str, data: bytes) -> Result:
    """Process one chunk of bytes (module-level so a worker process can run it); no batch when
    it has no rows (most chunks of a hunt: an Arrow batch costs ~0.3 ms to pickle and unpickle)."""
    batch, stats = processor(data, name)
    note_bad_text(data, name, 1, stats)
    return batch if batch.num_rows else None, stats, stats.lines or count_lines(data)


def _unreadable(name: str, reason: str, cut: bool = False) -> Result:
    """The result of a task that could not read its input: no rows, the problem reported (at
    the line where the data stops when ``cut``)."""
    stats = ReadStats()
    stats.add_unreadable(name, reason, 1 if cut else 0)
    return None, stats, 0


def streams(processor: Processor) -> bool:
    """Whether ``processor`` reads file ranges itself: ``read_range(path, offset, length, name,
    block_bytes)`` returning what ``processor(bytes, name)`` would, with ``stats.lines`` set."""
    return bool(getattr(processor, "streams", False))


def run_range(
    processor: Processor, name: str, path: Path, offset: int, length: int, block_bytes: int = 0
) -> Result:
    """Process a byte range of a plain file (in a worker process), in blocks if it streams. A
    file that cannot be opened or read any more (removed, replaced) is reported, not raised."""
    try:
        if block_bytes and streams(processor):
            batch, stats = processor.read_range(path, offset, length, name, block_bytes)  # type: ignore[attr-defined]
            return batch if batch.num_rows else None, stats, stats.lines
        data = read_range(path, offset, length)
    except OSError as exc:
        return _unreadable(name, os_reason(exc, vanished_hint=True))
    return run_chunk(processor, name, data)


# ("chunk", (name, data)) | ("range", (name, path, offset, length, block_bytes))
# | ("error", (name, reason, cut)): an input that could not be read (further), in input order
# | ("live", (name, data)): a chunk of a stream (stdin, a FIFO), as "chunk"
Task = tuple[str, tuple[object, ...]]


def range_bytes(
    file_size: int, chunk_bytes: int, workers: int, chunks: int = STREAM_RANGE_CHUNKS
) -> int:
    """The range size of a streaming read: up to ``chunks`` chunks (fewer tasks to hand out),
    but at least four ranges per worker while the file allows, so no worker waits idle.

    >>> range_bytes(1 << 30, 8 << 20, 2) >> 20, range_bytes(100 << 20, 8 << 20, 8) >> 20
    (32, 8)
    """
    share = file_size // (4 * max(1, workers))
    return max(chunk_bytes, min(chunk_bytes * chunks, share))


def _tasks(
    inputs: list[Input],
    chunk_bytes: int,
    ranges: bool,
    in_blocks: bool = False,
    workers: int = 1,
    chunks: int = STREAM_RANGE_CHUNKS,
) -> Iterator[Task]:
    for inp in inputs:
        try:
            if ranges and inp.seekable:
                assert inp.path is not None
                size, block = chunk_bytes, 0
                if in_blocks:
                    size = range_bytes(inp.path.stat().st_size, chunk_bytes, workers, chunks)
                    block = max(1, chunk_bytes // BLOCKS_PER_CHUNK)
                for offset, length in file_ranges(inp.path, size):
                    yield "range", (inp.name, inp.path, offset, length, block)
                continue
            kind = "live" if inp.path is None or inp.stream else "chunk"
            for data in read_chunks(inp, chunk_bytes):
                yield kind, (inp.name, data)
        except ReadError as exc:
            yield "error", (inp.name, exc.reason, exc.cut)
        except OSError as exc:  # listed, then removed or made unreadable before its turn
            yield "error", (inp.name, os_reason(exc, vanished_hint=True), False)


def _run(processor: Processor, task: Task) -> Result:
    kind, args = task
    if kind == "range":
        return run_range(processor, *args)  # type: ignore[arg-type]
    if kind == "error":
        return _unreadable(*args)  # type: ignore[arg-type]
    return run_chunk(processor, *args)  # type: ignore[arg-type]


# In a worker: processors already unpickled, by their pickle (sent once per task as plain bytes,
# which pickle as a copy, instead of a dataclass tree pickled and unpickled for every chunk).
_PROCESSORS: dict[bytes, Processor] = {}


def _run_pickled(blob: bytes, task: Task) -> Result:
    processor = _PROCESSORS.get(blob)
    if processor is None:
        if len(_PROCESSORS) >= 8:
            _PROCESSORS.clear()
        processor = _PROCESSORS[blob] = pickle.loads(blob)
    return _run(processor, task)


def threaded(inputs: list[Input], processor: Processor) -> bool:
    """Whether a parallel read of ``inputs`` runs ``processor`` in threads rather than worker
    processes: it streams, and its ``python_share(sample)`` (the share of a sample's bytes its
    Python path would read) is at most THREAD_MAX_PYTHON_SHARE on the first file's first bytes.
    The answer is kept for the same file (path, size, time, inode) and processor (its repr):
    ``start_workers`` asks first, the read itself again (the sample cost ~10 ms each time)."""
    share = getattr(processor, "python_share", None)
    if share is None or not streams(processor):
        return False
    path = next((i.path for i in inputs if i.seekable), None)
    if path is None:
        return False
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            key = (os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ino, repr(processor))
            known = _THREADED.get(key)
            if known is not None:
                return known
            sample = fh.read(PROBE_BYTES)
    except OSError:
        return False  # reported when its turn comes
    if len(sample) == PROBE_BYTES:
        sample = sample[: sample.rfind(b"\n") + 1]
    answer = bool(sample) and float(share(sample)) <= THREAD_MAX_PYTHON_SHARE
    if len(_THREADED) >= 8:
        _THREADED.clear()
    _THREADED[key] = answer
    return answer


_THREADED: dict[tuple[str, int, int, int, str], bool] = {}  # threaded()'s answers


def _ready() -> bool:
    """A no-op task: its answer tells that a worker process is up."""
    return True


def _size(inp: Input) -> int:
    try:
        return inp.path.stat().st_size if inp.seekable else 0  # type: ignore[union-attr]
    except OSError:
        return 0  # reported when its turn comes


def _auto_workers(inputs: list[Input]) -> int:
    size = sum(_size(i) for i in inputs)
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _context(preload: str) -> BaseContext:
    """forkserver: forking a process that may already run DuckDB threads is unsafe; workers fork
    from a server that already imported ``preload`` (the processor's module: pyarrow & co).
    Windows: spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload([preload])  # no effect once the server runs (start_workers)
    return server


# Pools started ahead by start_workers, by preload module, with their worker count, each with
# the no-op tasks that tell its workers are up.
_Started = tuple[ProcessPoolExecutor, list[Future[bool]]]
_EARLY: dict[str, tuple[int, threading.Thread, list[_Started]]] = {}


def start_workers(
    paths: Iterable[str | os.PathLike[str] | Input], processor: type | Processor
) -> None:
    """Start the worker processes now when :func:`read_batches` will use a pool for ``paths``.

    ``processor`` is the processor the read will use, or its class: the workers are Pythons that
    import its module (pyarrow & co, about 0.3 s); started first thing, in a background thread,
    they come up while the caller imports and compiles, and the next :func:`read_batches` whose
    processor is of a class from that module takes them over (the class, not a module name, so
    the two cannot disagree and leave the pool unused). Inputs one process reads start nothing,
    nor does a processor the read runs in threads (:func:`threaded`: the class alone cannot say).

    >>> from escudo.datamodels.normalize import Normalizer
    >>> start_workers(["no-such-file"], Normalizer)  # errors wait for the read
    """
    preload = processor.__module__ if isinstance(processor, type) else type(processor).__module__
    try:
        inputs = expand_inputs(paths)
    except EscudoError:
        return  # reported by the read itself, where it is located
    workers = _auto_workers(inputs)
    if workers == 1 or preload in _EARLY:
        return
    if not isinstance(processor, type) and threaded(inputs, processor):
        return
    pools: list[_Started] = []

    def start() -> None:  # blocks until the fork server has imported ``preload``
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(preload))
        try:
            pools.append((pool, [pool.submit(_ready) for _ in range(workers)]))
        except (OSError, RuntimeError):  # no pool then: the read starts its own, and reports
            pool.shutdown(wait=False, cancel_futures=True)

    thread = threading.Thread(target=start, name="escudo-start-workers", daemon=True)
    thread.start()
    _EARLY[preload] = (workers, thread, pools)


def stop_workers(processor: type | Processor) -> None:
    """Stop the workers :func:`start_workers` started for ``processor`` if no read took them."""
    _early_pool(
        processor.__module__ if isinstance(processor, type) else type(processor).__module__, 0
    )


@contextmanager
def workers_started(
    paths: Iterable[str | os.PathLike[str]], processor: type | Processor
) -> Iterator[None]:
    """:func:`start_workers` on entry, :func:`stop_workers` on exit (when no read took them).

    >>> from escudo.datamodels.normalize import Normalizer
    >>> with workers_started(["no-such-file"], Normalizer):
    ...     pass
    """
    start_workers(paths, processor)
    try:
        yield
    finally:
        stop_workers(processor)


def _early_pool(preload: str, workers: int) -> _Started | None:
    """The pool :func:`start_workers` started for ``preload`` with ``workers`` processes, if any,
    and its start-up no-ops."""
    if preload not in _EARLY:
        return None
    count, thread, pools = _EARLY.pop(preload)
    thread.join()
    if count == workers and pools:
        return pools[0]
    for pool, _ in pools:  # not the shape this read wants
        pool.shutdown(wait=False, cancel_futures=True)
    return None


def _short_live(task: Task, chunk_bytes: int) -> bool:
    """Whether ``task`` is a chunk a stream handed over before it had ``chunk_bytes`` (its
    source is slow: no pool needed, and its rows are awaited)."""
    return task[0] == "live" and len(task[1][1]) < chunk_bytes // 2  # type: ignore[arg-type]


def _done(result: Result) -> Future[Result]:
    future: Future[Result] = Future()
    future.set_result(result)
    return future


def read_batches(
    paths: Iterable[str | os.PathLike[str] | Input],
    processor: Processor,
    *,
    stats: ReadStats | None = None,
    workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    warm_up_here: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Stream the processor's batches over every input, in order; ``stats`` accumulates counts.

    ``workers=None`` picks one process for small inputs and one per core for big ones. With
    ``warm_up_here`` this process reads the first chunks itself while the workers start.
    """
    stats = stats if stats is not None else ReadStats()
    inputs = expand_inputs(paths)
    workers = _auto_workers(inputs) if workers is None else max(1, workers)
    line_base: dict[str, int] = {}

    def account(task: Task, result: Result) -> pa.RecordBatch | None:
        batch, chunk_stats, nlines = result
        name = str(task[1][0])
        base = line_base.get(name, 0)
        for problem in chunk_stats.problems:
            problem.line += base
        for problem in chunk_stats.unreadable:
            problem.line += base if problem.line else 0
        line_base[name] = base + nlines
        stats.merge(chunk_stats)
        return batch

    if workers == 1:
        for task in _tasks(inputs, chunk_bytes, ranges=False):
            batch = account(task, _run(processor, task))
            if batch is not None:
                yield batch
        return

    preload = type(processor).__module__
    pool: Executor
    ready: list[Future[bool]]
    if threaded(inputs, processor):
        _early_pool(preload, 0)  # workers started ahead are not needed: stopped
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="escudo-read")
        ready = [Future()]
        ready[0].set_result(True)  # nothing to wait for

        def submit(task: Task) -> Future[Result]:
            return pool.submit(_run, processor, task)
    else:
        started = _early_pool(preload, workers)
        if started is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(preload))
            ready = [pool.submit(_ready) for _ in range(workers)]
        else:
            pool, ready = started
        blob = pickle.dumps(processor)

        def submit(task: Task) -> Future[Result]:
            return pool.submit(_run_pickled, blob, task)

    pending: deque[tuple[Task, Future[Result]]] = deque()
    try:
        # Starting the workers takes a while (a Python, pyarrow & co imported); this process would
        # only wait, so it reads the first chunks itself until a worker answers a no-op.
        in_blocks = streams(processor)
        # (a processor may want ranges of one chunk: ``range_chunks``)
        chunks = int(getattr(processor, "range_chunks", STREAM_RANGE_CHUNKS))
        for task in _tasks(inputs, chunk_bytes, True, in_blocks, workers, chunks):
            if _short_live(task, chunk_bytes):  # a stream's lines, handed over after a delay:
                while pending:  # their rows come now, not when more tasks fill the queue
                    done_task, future = pending.popleft()
                    batch = account(done_task, future.result())
                    if batch is not None:
                        yield batch
                batch = account(task, _run(processor, task))
                if batch is not None:
                    yield batch
                continue
            if task[0] == "error" or (warm_up_here and not any(f.done() for f in ready)):
                if pending:  # in input order: the line of an error follows the chunks before it
                    pending.append((task, _done(_run(processor, task))))
                    continue
                batch = account(task, _run(processor, task))
                if batch is not None:
                    yield batch
                continue
            pending.append((task, submit(task)))
            while len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                done_task, future = pending.popleft()
                batch = account(done_task, future.result())
                if batch is not None:
                    yield batch
        while pending:
            done_task, future = pending.popleft()
            batch = account(done_task, future.result())
            if batch is not None:
                yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
