"""The state folder of ``escudo watch``: what was committed, and the batch under way.

Layout (docs/semantics.md, "Exactly once")::

    STATE/.lock                    flock: one watcher per state folder
    STATE/commit.json              the last committed batch: its id, every input's checkpoint,
                                   every output's position (written whole: temporary file,
                                   fsync, rename; the commit point)
    STATE/batch/manifest.json      the batch under way: its id, the inputs' checkpoints after it,
                                   the files holding its lines (written last, atomically)
    STATE/batch/<n>.log            the batch's lines, one file per input and sourcetype
    STATE/delivery/<output>.log    ids of the messages an output delivered for the batch under way
    STATE/status.json              the last status (``escudo status --state STATE``)

A batch is opened (its lines spooled, then its manifest written) before any output sees it, and
committed by one rename once every output has it. After a crash the open batch is run again from
its spooled lines, so it is the same batch: file outputs are cut back to their committed size
first, the store keys rows by content, HEC by event id, syslog and the webhook skip the messages
their delivery log holds.

>>> import tempfile
>>> state = StateDir(Path(tempfile.mkdtemp()))
>>> state.committed().batch, state.open_batch() is None
(0, True)
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from escudo.errors import InputError
from escudo.store.layout import fsync_dir, write_atomic
from escudo.watch.base import Checkpoint

FORMAT = "escudo-watch-state"
VERSION = 1


@dataclass
class Commit:
    """The last committed batch (0: none yet)."""

    batch: int = 0
    inputs: dict[str, Checkpoint] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    committed_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # --schedule: last runs, suppressions

    def to_json(self) -> dict[str, Any]:
        return {
            "extra": self.extra,
            "format": FORMAT,
            "version": VERSION,
            "batch": self.batch,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "committed_at": self.committed_at,
        }


@dataclass
class OpenBatch:
    """A batch whose lines are spooled but which is not committed yet."""

    batch: int
    inputs: dict[str, Checkpoint]
    files: list[tuple[Path, str | None]]  # (spooled lines, sourcetype or None: sniffed)
    events_bytes: int = 0
    opened_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # --schedule: the run's time, detections


class StateDir:
    """One watcher's state folder (created when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock: IO[bytes] | None = None

    @property
    def commit_path(self) -> Path:
        return self.path / "commit.json"

    @property
    def batch_dir(self) -> Path:
        return self.path / "batch"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    def delivery_log(self, output: str) -> Path:
        return self.path / "delivery" / f"{output}.log"

    def lock(self) -> None:
        """Take the folder for this process; a second watcher on it is an error."""
        if self._lock is not None:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.path / ".lock", "ab")  # noqa: SIM115 (held until unlock)
        except OSError as exc:
            raise InputError(
                f"cannot use state folder: {exc.strerror}", path=str(self.path)
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise InputError(
                "another escudo watch uses this state folder", path=str(self.path)
            ) from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- the commit record ----------------------------------------------------------------

    def committed(self) -> Commit:
        """The last commit (an empty one before the first)."""
        try:
            data = json.loads(self.commit_path.read_bytes())
        except FileNotFoundError:
            return Commit()
        except (OSError, ValueError) as exc:
            raise InputError(
                f"unreadable commit record: {exc}", path=str(self.commit_path)
            ) from None
        if data.get("format") != FORMAT:
            raise InputError("not an escudo watch state folder", path=str(self.path))
        return Commit(
            int(data["batch"]),
            data["inputs"],
            data["outputs"],
            data.get("committed_at"),
            data.get("extra", {}),
        )

    def commit(self, commit: Commit) -> None:
        """Make ``commit`` the committed state (atomic), then drop the batch it closes."""
        body = json.dumps(commit.to_json(), sort_keys=True).encode() + b"\n"
        write_atomic(self.commit_path, body)
        self.drop_batch()

    # --- the batch under way --------------------------------------------------------------

    def new_batch_file(self, index: int) -> Path:
        """Where the ``index``-th spooled file of a new batch goes (the folder is made)."""
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        return self.batch_dir / f"{index}.log"

    def open(self, batch: OpenBatch) -> None:
        """Record ``batch`` (its files written and synced before): from now on a restart runs
        it again rather than polling its lines anew."""
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        for path, _ in batch.files:
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        manifest = {
            "batch": batch.batch,
            "inputs": batch.inputs,
            "files": [[p.name, st] for p, st in batch.files],
            "events_bytes": batch.events_bytes,
            "opened_at": batch.opened_at,
            "extra": batch.extra,
        }
        write_atomic(self.batch_dir / "manifest.json", json.dumps(manifest).encode())

    def open_batch(self) -> OpenBatch | None:
        """The batch a crash left open (None: none; a folder without manifest is dropped)."""
        manifest = self.batch_dir / "manifest.json"
        if not manifest.exists():
            self.drop_batch()
            return None
        data = json.loads(manifest.read_bytes())
        return OpenBatch(
            int(data["batch"]),
            data["inputs"],
            [(self.batch_dir / name, st) for name, st in data["files"]],
            int(data.get("events_bytes", 0)),
            data.get("opened_at"),
            data.get("extra", {}),
        )

    def drop_batch(self) -> None:
        if self.batch_dir.exists():
            shutil.rmtree(self.batch_dir)
            fsync_dir(self.path)

    # --- status ---------------------------------------------------------------------------

    def write_status(self, status: dict[str, Any]) -> None:
        write_atomic(self.status_path, json.dumps(status, sort_keys=True).encode() + b"\n")

    def read_status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.status_path.read_bytes())
        except FileNotFoundError:
            raise InputError(
                "no status yet (has escudo watch run here?)", path=str(self.path)
            ) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable status: {exc}", path=str(self.status_path)) from None
        return data
