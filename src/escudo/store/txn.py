"""Atomic commits into a store directory (docs/architecture.md "Store").

A :class:`Transaction` stages Parquet files under ``_txn/<txn>/`` (invisible to readers). Its
commit writes an intent (``_txn/<txn>.intent.json``: the renames staged -> final and the new
checkpoints) atomically, performs the renames, replaces ``checkpoints/inputs.json`` and deletes the
intent. :func:`recover` (run when a store is opened) finishes every intent a crash left (a rename
already done is skipped) and deletes staging folders without one: after a ``kill -9`` at any moment
the store holds each committed file once and the checkpoints that match it.

``ESCUDO_TEST_KILL_AT=<point>`` kills the process (SIGKILL) at a commit step, for the crash tests:
``after-stage``, ``after-intent``, ``mid-rename``, ``after-rename``, ``after-checkpoint``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from escudo.store.layout import StoreLayout, fsync_dir, write_atomic

INTENT_SUFFIX = ".intent.json"
LOCK_NAME = ".lock"


def kill_point(name: str) -> None:
    """Fault injection for the crash tests: SIGKILL this process at commit step ``name``."""
    if os.environ.get("ESCUDO_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def read_checkpoints(layout: StoreLayout) -> dict[str, Any]:
    """The committed checkpoints (``{}`` for a new store)."""
    try:
        data = json.loads(layout.checkpoints.read_bytes())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def writer_lock(layout: StoreLayout) -> Iterator[None]:
    """Hold the store's writer lock (one ingest at a time); recover a crashed commit first."""
    layout.txn.mkdir(parents=True, exist_ok=True)
    with open(layout.txn / LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _recover(layout)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def recover(layout: StoreLayout) -> None:
    """Finish a crashed commit unless a writer is at work (then it is not crashed)."""
    if not layout.txn.is_dir():
        return
    try:
        lock = open(layout.txn / LOCK_NAME, "a+b")  # noqa: SIM115
    except OSError:  # a read-only store: nothing to finish from here
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return
        try:
            _recover(layout)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _recover(layout: StoreLayout) -> None:
    intents = sorted(layout.txn.glob(f"*{INTENT_SUFFIX}"))
    for intent in intents:
        try:
            plan = json.loads(intent.read_bytes())
        except (OSError, ValueError):  # written atomically: cannot be partial; unreadable: leave
            continue
        _apply(layout, plan, intent)
    for staging in layout.txn.iterdir():
        if staging.is_dir():  # staged by a run that never wrote its intent: never committed
            shutil.rmtree(staging, ignore_errors=True)


def _apply(layout: StoreLayout, plan: dict[str, Any], intent: Path) -> None:
    renames: list[list[str]] = plan["renames"]
    folders: set[Path] = set()
    for i, (staged_rel, final_rel) in enumerate(renames):
        staged, final = layout.root / staged_rel, layout.root / final_rel
        if staged.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
            folders.add(final.parent)
        if i == len(renames) // 2:
            kill_point("mid-rename")
    for folder in folders:
        fsync_dir(folder)
    kill_point("after-rename")
    if plan.get("checkpoints") is not None:
        write_atomic(layout.checkpoints, json.dumps(plan["checkpoints"], sort_keys=True).encode())
    kill_point("after-checkpoint")
    shutil.rmtree(layout.txn / str(plan["txn"]), ignore_errors=True)
    intent.unlink(missing_ok=True)
    fsync_dir(layout.txn)


class Transaction:
    """Parquet files staged for one atomic commit (use under :func:`writer_lock`)."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.id = time.time_ns()
        self.folder = layout.txn / str(self.id)
        self.renames: list[tuple[Path, Path]] = []

    def stage(self, final_folder: Path) -> Path:
        """A new staging path for a file that commits as ``final_folder/part-<txn>-<n>.parquet``."""
        n = len(self.renames)
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = self.folder / f"{n}.parquet"
        self.renames.append((staged, final_folder / f"part-{self.id}-{n}.parquet"))
        return staged

    def commit(self, checkpoints: dict[str, Any] | None) -> None:
        """Make the staged files visible and ``checkpoints`` current, all or nothing."""
        kill_point("after-stage")
        root = self.layout.root
        plan = {
            "txn": self.id,
            "renames": [[str(s.relative_to(root)), str(f.relative_to(root))] for s, f in self.renames],
            "checkpoints": checkpoints,
        }
        if self.folder.is_dir():
            fsync_dir(self.folder)
        intent = self.layout.txn / f"{self.id}{INTENT_SUFFIX}"
        write_atomic(intent, json.dumps(plan).encode())
        kill_point("after-intent")
        _apply(self.layout, plan, intent)

    def abort(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
