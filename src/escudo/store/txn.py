"""Atomic commits to a store directory: stage, write an intent, rename, forget the intent.

A writer (holding the store's lock) stages new files under ``DIR/_txn/<txn>/``, then writes the
intent ``DIR/_txn/<txn>.json`` (written to a temporary name and renamed, so it is whole or absent)
listing the renames (staged file -> its place) and the deletes (files it replaces). Once the intent
exists the commit is decided: the renames and deletes are done, then the intent and the staging folder
are removed. A writer that dies before the intent leaves only a staging folder (discarded); one that
dies after leaves an intent, which :func:`roll_forward` finishes. Readers skip names starting with
``_`` or ``.`` (Hive's, Spark's and pyarrow's convention), so they never see staged files.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> txn = Transaction(root)
>>> staged = txn.stage("risk/date=2024-05-01/part-x.parquet")
>>> _ = staged.write_text("data")
>>> txn.commit()
>>> sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
['risk/date=2024-05-01/part-x.parquet']
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from pathlib import Path

from escudo.store.layout import TXN as TXN_DIR
from escudo.store.layout import fsync_dir, write_atomic

INTENT_SUFFIX = ".json"


def new_txn_id() -> str:
    """A transaction id that sorts by time: nanoseconds since the epoch, then 8 random hex digits."""
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


def kill_point(name: str) -> None:
    """Fault injection for the crash tests: SIGKILL this process at commit step ``name``."""
    if os.environ.get("ESCUDO_TEST_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Transaction:
    """Files staged for one commit to ``root`` (call under the store's writer lock)."""

    def __init__(self, root: Path, txn_id: str | None = None) -> None:
        self.root = root
        self.id = txn_id or new_txn_id()
        self.staging = root / TXN_DIR / self.id
        self.renames: list[tuple[str, str]] = []
        self.deletes: list[str] = []
        self.decided = False  # the intent is written: the commit happens, now or at roll-forward

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
        kill_point("after-stage")
        for staged, _ in self.renames:
            with open(self.root / staged, "rb") as handle:
                os.fsync(handle.fileno())
        intent = self.root / TXN_DIR / f"{self.id}{INTENT_SUFFIX}"
        # The commit point: the intent appears whole (temporary name, fsync, rename) or not at all.
        write_atomic(
            intent, json.dumps({"renames": self.renames, "deletes": self.deletes}).encode()
        )
        self.decided = True
        kill_point("after-intent")
        apply_intent(self.root, intent)

    def abort(self) -> None:
        """Discard what was staged, unless the commit was decided: then the staged files are what
        the intent's renames need, and the next :func:`roll_forward` finishes the commit (removing
        them here would leave an intent whose deletes run without its renames)."""
        if not self.decided:
            shutil.rmtree(self.staging, ignore_errors=True)


def apply_intent(root: Path, intent: Path) -> None:
    """Finish the commit ``intent`` describes (idempotent: safe to repeat after a crash)."""
    plan = json.loads(intent.read_text())
    for i, (staged, final) in enumerate(plan["renames"]):
        if i == len(plan["renames"]) // 2:
            kill_point("mid-rename")
        source, target = root / staged, root / final
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            fsync_dir(target.parent)
    kill_point("after-rename")
    for final in plan["deletes"]:
        (root / final).unlink(missing_ok=True)
    shutil.rmtree(intent.with_suffix(""), ignore_errors=True)
    intent.unlink(missing_ok=True)
    fsync_dir(intent.parent)


def pending(root: Path) -> list[Path]:
    """Intents a writer decided but did not finish, oldest first."""
    folder = root / TXN_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{INTENT_SUFFIX}") if not p.name.startswith("."))


def roll_forward(root: Path) -> None:
    """Finish every decided commit, then discard staging folders of commits never decided
    (call under the writer lock)."""
    for intent in pending(root):
        apply_intent(root, intent)
    folder = root / TXN_DIR
    if folder.is_dir():
        for leftover in folder.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
