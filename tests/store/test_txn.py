"""The store's commits: once the intent is written, a failure cannot undo half of the commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from escudo.store import txn as txn_module
from escudo.store.txn import Transaction, pending, roll_forward


def test_a_decided_commit_that_fails_midway_is_finished_by_roll_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer replacing ``old`` by ``new`` fails after its intent (an I/O error in the renames):
    the staged file must survive the caller's abort, so the next writer's roll-forward does both
    the rename and the delete, never the delete alone."""
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "old.parquet").write_text("old")
    txn = Transaction(tmp_path)
    txn.stage("findings/new.parquet").write_text("new")
    txn.delete("findings/old.parquet")

    def disk_full(root: Path, intent: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(txn_module, "apply_intent", disk_full)
    with pytest.raises(OSError):
        txn.commit()
    txn.abort()  # what the store's writer does with any exception
    monkeypatch.undo()

    assert pending(tmp_path)  # decided, not finished
    roll_forward(tmp_path)
    assert not pending(tmp_path)
    assert sorted(p.name for p in (tmp_path / "findings").iterdir()) == ["new.parquet"]
    assert (tmp_path / "findings" / "new.parquet").read_text() == "new"


def test_an_undecided_commit_is_discarded(tmp_path: Path) -> None:
    txn = Transaction(tmp_path)
    txn.stage("risk/x.parquet").write_text("x")
    txn.abort()
    roll_forward(tmp_path)
    assert not (tmp_path / "risk").exists()
    assert not txn.staging.exists()
