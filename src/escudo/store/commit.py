"""Atomic commits of results, risk events and findings: stage, write an intent, rename, forget it.

A writer (holding the store's lock) stages new files under ``DIR/_txn/commit-<txn>/``, then writes
the intent ``DIR/_txn/commit-<txn>.commit.json`` (written to a temporary name and renamed, so it is whole or absent)
listing the renames (staged file -> its place) and the deletes (files it replaces). Once the intent
exists the commit is decided: the renames and deletes are done, then the intent and the staging folder
are removed. A writer that dies before the intent leaves only a staging folder (discarded); one that
dies after leaves an intent, which :func:`roll_forward` finishes. Only ``commit-*`` names are
this module's: ingest's own staging and intents (``escudo.store.txn``) are left to it. Readers skip names starting with
``_`` or ``.`` (Hive's, Spark's and pyarrow's convention), so they never see staged files.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> txn = Transaction(root)
>>> staged = txn.stage("risk/date=2024-05-01/part-1-0.parquet")
>>> _ = staged.write_text("data")
>>> txn.commit()
>>> sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
['risk/date=2024-05-01/part-1-0.parquet']
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from escudo.store.layout import TXN as TXN_DIR

PREFIX = "commit-"
INTENT_SUFFIX = ".commit.json"


def new_txn_id() -> str:
    """A transaction number that grows with time (nanoseconds since the epoch), as the store's
    ``part-<txn>-<n>.parquet`` names want."""
    return str(time.time_ns())


def _fsync_dir(path: Path) -> None:
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


class Transaction:
    """Files staged for one commit to ``root`` (call under the store's writer lock)."""

    def __init__(self, root: Path, txn_id: str | None = None) -> None:
        self.root = root
        self.id = txn_id or new_txn_id()
        self.staging = root / TXN_DIR / f"{PREFIX}{self.id}"
        self.renames: list[tuple[str, str]] = []
        self.deletes: list[str] = []

    def stage(self, final: str) -> Path:
        """A path to write the file that will be ``root/final`` once committed."""
        staged = self.staging / final
        staged.parent.mkdir(parents=True, exist_ok=True)
        self.renames.append((str(staged.relative_to(self.root)), final))
        return staged

    def delete(self, final: str) -> None:
        """Remove ``root/final`` (relative path) as part of the commit."""
        self.deletes.append(final)

    def commit(self) -> None:
        """Make every staged file and delete take effect, all or (if nothing was decided) none."""
        if not self.renames and not self.deletes:
            self.abort()
            return
        for staged, _ in self.renames:
            with open(self.root / staged, "rb") as handle:
                os.fsync(handle.fileno())
        intent = self.root / TXN_DIR / f"{PREFIX}{self.id}{INTENT_SUFFIX}"
        partial = intent.with_name(f".{intent.name}.tmp")
        partial.write_text(json.dumps({"renames": self.renames, "deletes": self.deletes}))
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, intent)  # the commit point
        _fsync_dir(intent.parent)
        apply_intent(self.root, intent)

    def abort(self) -> None:
        """Discard what was staged."""
        shutil.rmtree(self.staging, ignore_errors=True)


def apply_intent(root: Path, intent: Path) -> None:
    """Finish the commit ``intent`` describes (idempotent: safe to repeat after a crash)."""
    plan = json.loads(intent.read_text())
    for staged, final in plan["renames"]:
        source, target = root / staged, root / final
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            _fsync_dir(target.parent)
    for final in plan["deletes"]:
        (root / final).unlink(missing_ok=True)
    shutil.rmtree(intent.with_name(intent.name.removesuffix(INTENT_SUFFIX)), ignore_errors=True)
    intent.unlink(missing_ok=True)
    _fsync_dir(intent.parent)


def pending(root: Path) -> list[Path]:
    """Intents a writer decided but did not finish, oldest first."""
    folder = root / TXN_DIR
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{PREFIX}*{INTENT_SUFFIX}"))


def roll_forward(root: Path) -> None:
    """Finish every decided commit, then discard staging folders of commits never decided
    (call under the writer lock)."""
    for intent in pending(root):
        apply_intent(root, intent)
    folder = root / TXN_DIR
    if folder.is_dir():
        for leftover in folder.glob(f"{PREFIX}*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
        for partial in folder.glob(f".{PREFIX}*.tmp"):
            partial.unlink(missing_ok=True)
