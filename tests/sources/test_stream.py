"""Streams (a pipe, a FIFO, stdin) hand over their lines before their end: bounded delay."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from escudo.datamodels.normalize import read_dataset
from escudo.sources.framing import Input, read_chunks
from escudo.sources.reader import read_batches
from escudo.sources.sysmon import SysmonPlan

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
HANG_GUARD = 30.0  # seconds: a guard against a hang, not a measure of speed


def _next_before(items: Iterator[object]) -> object:
    """The next item of ``items``, or a test failure if it does not come (the writer still holds
    the pipe open, so a reader waiting for its end would never answer)."""
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(next(items)), daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    if not got:
        pytest.fail("nothing handed over while the pipe is open")
    return got[0]


def _pipe_input(read_fd: int) -> Input:
    return Input("pipe", Path(f"/dev/fd/{read_fd}"), stream=True)


def test_pipe_chunk_before_end() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"one\ntwo\nthr")
        chunks = read_chunks(_pipe_input(r), 8 << 20)
        assert _next_before(chunks) == b"one\ntwo\n"  # the cut line waits for its end
        os.write(w, b"ee\nfour\n")
        assert _next_before(chunks) == b"three\nfour\n"
    finally:
        os.close(w)
    assert list(chunks) == []
    os.close(r)


def test_gzip_pipe_chunk_before_end() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "wb") as sink, gzip.GzipFile(fileobj=sink, mode="wb") as gz:
        gz.write(b"alpha\nbeta\n")
        gz.flush()  # a sync flush: what is written so far can be decompressed
        sink.flush()
        chunks = read_chunks(_pipe_input(r), 8 << 20)
        assert _next_before(chunks) == b"alpha\nbeta\n"
        gz.write(b"gamma\n")
    assert list(chunks) == [b"gamma\n"]
    os.close(r)


def test_fifo_rows_before_end(tmp_path: Path) -> None:
    fifo = tmp_path / "live.pipe"
    os.mkfifo(fifo)
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    writer = os.open(fifo, os.O_RDWR)  # a writer that holds the FIFO open (Linux: no wait)
    try:
        os.write(writer, b"".join(lines[:10]))
        batches = read_dataset([fifo], "Endpoint.Processes")
        first = _next_before(batches)
        os.write(writer, b"".join(lines[10:]))
    finally:
        os.close(writer)
    rest = list(batches)
    assert first.num_rows >= 1  # type: ignore[attr-defined]
    assert first.num_rows + sum(b.num_rows for b in rest) == 27  # type: ignore[attr-defined]


def test_pool_hands_over_a_stream_chunk_before_end(tmp_path: Path) -> None:
    """With worker processes (and no warm-up in this process), a stream's short chunk is not held
    back until more chunks fill the pool's queue."""
    fifo = tmp_path / "live.pipe"
    os.mkfifo(fifo)
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    plan = SysmonPlan(fields=("EventID",))
    writer = os.open(fifo, os.O_RDWR)
    try:
        os.write(writer, b"".join(lines[:10]))
        batches = read_batches([fifo], plan, workers=2, warm_up_here=False)
        first = _next_before(batches)
        os.write(writer, b"".join(lines[10:]))
    finally:
        os.close(writer)
    rest = list(batches)
    whole = sum(b.num_rows for b in read_batches([SAMPLE], plan))
    assert first.num_rows >= 1  # type: ignore[attr-defined]
    assert first.num_rows + sum(b.num_rows for b in rest) == whole  # type: ignore[attr-defined]


def test_stdin_is_sniffed_once_and_read_whole() -> None:
    """stdin_head gives the same first bytes on every call, and stdin's stream reader hands them
    out before the rest: nothing read twice, nothing lost."""
    import ast
    import subprocess
    import sys

    script = (
        "import sys; from escudo.sources.framing import Input, stdin_head, stream_chunks\n"
        "a = stdin_head(8); b = stdin_head(8)\n"
        "rest = b''.join(stream_chunks(Input('-', None, stream=True), 1 << 20))\n"
        "sys.stdout.write(repr((a, b, rest, stdin_head(8))))\n"
    )
    data = b"first line\nsecond line\n"
    done = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, check=True
    )
    head, again, rest, after = ast.literal_eval(done.stdout.decode())
    assert head == again == after == data[:8] and rest == data
