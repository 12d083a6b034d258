"""The HEC spool's sent ledger stays bounded (escudo.outputs.spool)."""

from __future__ import annotations

from pathlib import Path

from escudo.outputs.spool import SENT, Spool


def _ids(start: int, count: int) -> list[str]:
    return [f"{n:032x}" for n in range(start, start + count)]  # risk_event_id-shaped


def test_the_sent_ledger_keeps_the_newest_ids_and_stays_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_sent=100)
    with spool.locked():
        for batch in range(20):  # 20 batches of 40: 800 ids confirmed over time
            spool.mark_sent(_ids(batch * 40, 40))
            assert len(spool.sent_ids()) <= 150 + 40  # cut back once past 1.5x
    kept = spool.sent_ids()
    assert set(_ids(760, 40)) <= kept  # the newest batch is always there
    assert not kept & set(_ids(0, 40))  # the oldest are gone
    assert len(kept) <= 150
    lines = (tmp_path / SENT).read_text().splitlines()
    assert lines == sorted(lines) and len(lines) == len(set(lines))  # order and no duplicates
    assert not list(tmp_path.glob(".sent.*"))  # no temporary file left behind


def test_a_small_ledger_is_only_appended_to(tmp_path: Path) -> None:
    spool = Spool(tmp_path)  # the default: a million ids
    with spool.locked():
        spool.mark_sent(_ids(0, 3))
        spool.mark_sent(_ids(3, 2))
    assert (tmp_path / SENT).read_text().splitlines() == _ids(0, 5)
