"""The batch loop of ``escudo watch``: poll the inputs, run the detections, deliver, commit.

Micro-batches (the default): every ``interval`` seconds the lines that arrived since the last
batch are one batch (by arrival, like Splunk's index time: a replay of old logs is detected too);
every detection runs over them as ``escudo hunt`` would over a file holding them, and its rows,
risk events and findings go to every output. Then the inputs' checkpoints and the outputs'
positions are committed in one atomic step (``escudo.watch.state``), so a ``kill -9`` at any
moment, then a restart, loses nothing and repeats nothing (docs/semantics.md, "Exactly once").

One step, for a test or a caller that drives the clock::

    loop = WatchLoop(inputs, runner, outputs, StateDir(path))
    loop.start()
    loop.step()      # one batch, if anything arrived; True when one was committed
    loop.close()
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escudo.watch.base import Piece, WatchInput
from escudo.watch.state import Commit, OpenBatch, StateDir

if TYPE_CHECKING:
    from escudo._session import HuntRun, Session
    from escudo.compile import CompiledSearch
    from escudo.content.model import Detection
    from escudo.watch.outputs import WatchOutput

# One batch's lines at most (about: an input's last poll may pass it). A full batch reaches the
# reader's PARALLEL_MIN_BYTES (64 MB), so a backlog is read by the worker pool (both cores).
MAX_BATCH_BYTES = 64 * 1024 * 1024
POLL_BYTES = 8 * 1024 * 1024
RETRY_SECONDS = 5.0  # a batch an output refused is tried again after this long (at most)


class Runner:
    """Runs the compiled detections over one batch's files with a library session."""

    def __init__(self, make_session: Callable[[], Session]) -> None:
        self.make_session = make_session
        self.warnings: list[str] = []
        self.session = make_session()
        self.jobs: list[tuple[Detection, CompiledSearch]] = self.session.compile(self.warnings)

    def reload(self) -> None:
        """Content read again and compiled (SIGHUP); the old one stays if the new one fails."""
        session = self.make_session()
        warnings: list[str] = []
        jobs = session.compile(warnings)
        self.session, self.jobs, self.warnings = session, jobs, warnings

    def run(self, files: Sequence[Path]) -> HuntRun:
        return self.session.hunt(files, compiled=self.jobs)


@dataclass
class Status:
    """What ``escudo status`` and the Prometheus endpoint show (docs: README, "escudo watch")."""

    started_at: float = field(default_factory=time.time)
    batches: int = 0
    events: int = 0
    bytes: int = 0
    results: int = 0
    errors: int = 0
    reloads: int = 0
    last_error: str | None = None
    last_batch: int = 0
    last_batch_at: float | None = None
    last_batch_seconds: float = 0.0
    last_batch_events: int = 0
    events_per_second: float = 0.0
    lag_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class WatchLoop:
    """Inputs -> batches -> runner -> outputs, committed in the state folder."""

    def __init__(
        self,
        inputs: Sequence[WatchInput],
        runner: Runner,
        outputs: Sequence[WatchOutput],
        state: StateDir,
        *,
        interval: float = 5.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        on_batch: Callable[[HuntRun], None] | None = None,
    ) -> None:
        self.inputs = list(inputs)
        self.runner = runner
        self.outputs = list(outputs)
        self.state = state
        self.interval = interval
        self.max_batch_bytes = max_batch_bytes
        self.on_batch = on_batch
        self.on_error: Callable[[str], None] | None = None
        self.status = Status()
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self._commit = Commit()
        self._open: OpenBatch | None = None
        self._last_commit_time = time.monotonic()

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Lock the state folder, put inputs and outputs back where the last commit left them,
        and take up the batch a crash left open."""
        self.state.lock()
        self._commit = self.state.committed()
        self.status.last_batch = self._commit.batch
        pending = self.state.open_batch()
        if pending is not None and pending.batch <= self._commit.batch:
            self.state.drop_batch()  # committed, but the crash came before it was dropped
            pending = None
        positions = pending.inputs if pending is not None else self._commit.inputs
        for watched in self.inputs:
            watched.restore(positions.get(watched.name))
        for output in self.outputs:
            output.recover(self._commit.outputs.get(output.name))
        self._open = pending
        # An output no commit knows yet (a first start, a new one) gets its position recorded
        # now, so that what the first batch writes can be cut back after a crash too.
        fresh = [o for o in self.outputs if o.name not in self._commit.outputs]
        if fresh and pending is None:
            self._commit.outputs.update({o.name: o.position() for o in fresh})
            self.state.commit(self._commit)

    def close(self) -> None:
        for watched in self.inputs:
            watched.close()
        for output in self.outputs:
            output.close()
        self.state.unlock()

    def stop(self) -> None:
        """Finish (and commit) the batch under way, then leave :meth:`run` (SIGTERM)."""
        self.stop_event.set()

    def run(self) -> None:
        """Batches every ``interval`` seconds until :meth:`stop`."""
        while not self.stop_event.is_set():
            began = time.monotonic()
            if self.reload_event.is_set():
                self.reload_event.clear()
                self._reload()
            try:
                self.step()
            except Exception as exc:  # an output refused, a file vanished: retried, counted
                self._failed(exc)
                self.stop_event.wait(min(RETRY_SECONDS, max(self.interval, 0.1)))
                continue
            if (
                self._open is None
                and self.inputs
                and all(getattr(watched, "ended", False) for watched in self.inputs)
            ):  # stdin closed and read to its end: nothing more can come
                break
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def _reload(self) -> None:
        try:
            self.runner.reload()
        except Exception as exc:
            self._failed(exc, what="reload")
            return
        self.status.reloads += 1
        self.write_status()

    def _failed(self, exc: Exception, what: str = "batch") -> None:
        self.status.errors += 1
        self.status.last_error = f"{what}: {type(exc).__name__}: {exc}"
        if self.on_error is not None:
            self.on_error(self.status.last_error)
        self.write_status()

    # --- one batch ------------------------------------------------------------------------

    def step(self) -> bool:
        """Run the open batch, or open one from what arrived; True when a batch committed."""
        if self._open is None:
            self._open = self._poll()
        if self._open is None:
            return False
        batch = self._open
        began = time.monotonic()
        run = self.runner.run([path for path, _ in batch.files])
        for output in self.outputs:
            output.deliver(batch.batch, run)
        commit = Commit(
            batch.batch,
            {**self._commit.inputs, **batch.inputs},
            {output.name: output.position() for output in self.outputs},
            datetime.now(UTC).isoformat(),
            self._commit.extra,
        )
        self.state.commit(commit)
        self._commit, self._open = commit, None
        for output in self.outputs:
            output.committed()
        for watched in self.inputs:  # a syslog receiver drops the spool files read to their end
            release = getattr(watched, "release", None)
            if release is not None:
                release(commit.inputs.get(watched.name))
        self._account(batch, run, time.monotonic() - began)
        if self.on_batch is not None:
            self.on_batch(run)
        return True

    def _poll(self) -> OpenBatch | None:
        """Spool what every input has now (up to ``max_batch_bytes``) as the next batch."""
        files: dict[tuple[str, str, str | None], Path] = {}
        handles: dict[Path, Any] = {}
        total = 0
        try:
            for watched in self.inputs:
                while total < self.max_batch_bytes:
                    pieces = watched.poll(min(POLL_BYTES, self.max_batch_bytes - total))
                    if not pieces:
                        break
                    for piece in pieces:
                        total += self._spool(piece, files, handles)
        finally:
            for handle in handles.values():
                handle.close()
        if total == 0:
            return None
        batch = OpenBatch(
            self._commit.batch + 1,
            {watched.name: watched.checkpoint() for watched in self.inputs},
            [(path, key[2]) for key, path in files.items()],
            total,
            datetime.now(UTC).isoformat(),
        )
        self.state.open(batch)
        return batch

    def _spool(
        self,
        piece: Piece,
        files: dict[tuple[str, str, str | None], Path],
        handles: dict[Path, Any],
    ) -> int:
        # One file per followed file (each is sniffed for its source, as hunt sniffs each input).
        key = (piece.input, piece.name, piece.sourcetype)
        if key not in files:
            files[key] = self._new_file(len(files))
            handles[files[key]] = open(files[key], "wb")  # noqa: SIM115 (closed by _poll)
        handles[files[key]].write(piece.data)
        return len(piece.data)

    def _new_file(self, index: int) -> Path:
        """An empty file for the ``index``-th spooled file of a new batch."""
        path = self.state.new_batch_file(index)
        path.write_bytes(b"")
        return path

    def _account(self, batch: OpenBatch, run: HuntRun, seconds: float) -> None:
        status = self.status
        now = time.monotonic()
        # every event the batch read: those the raw-text prefilter dropped and those of other
        # record types were read too (counting only the extracted ones showed a busy watcher
        # reading 40k events/s as a few events/s)
        events = run.stats.events + run.stats.filtered + run.stats.other
        status.batches += 1
        status.events += events
        status.bytes += batch.events_bytes
        status.results += sum(r.rows.num_rows for r in run.results)
        status.last_batch = batch.batch
        status.last_batch_at = time.time()
        status.last_batch_seconds = seconds
        status.last_batch_events = events
        status.events_per_second = events / max(now - self._last_commit_time, 1e-6)
        self._last_commit_time = now
        if batch.opened_at is not None:  # from reading its lines to committing its alerts
            opened = datetime.fromisoformat(batch.opened_at).timestamp()
            status.lag_seconds = max(0.0, time.time() - opened)
        self.write_status()

    def write_status(self) -> None:
        with contextlib.suppress(OSError):  # status is best effort; the batch is committed
            self.state.write_status(self.status.to_json())
