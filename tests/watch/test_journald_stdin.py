"""journald followed through a real journalctl (journal files written by Debian's
systemd-journal-remote), resumed at its cursor; stdin read without waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sysmon_events import event_xml

from escudo.datamodels.normalize import read_dataset
from escudo.errors import InputError
from escudo.watch.base import Piece, WatchInput
from escudo.watch.journald import JournaldInput
from escudo.watch.stdin import StdinInput

JOURNAL_REMOTE = next(
    (p for p in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
     if os.path.exists(p)),
    None,
)  # fmt: skip
needs_journal_tools = pytest.mark.skipif(
    JOURNAL_REMOTE is None,
    reason="systemd-journal-remote (Debian's package) writes the test journal: run "
    "scripts/ensure_rsyslog.sh",
)
WAIT = 30.0  # seconds journalctl may take to show an entry on a loaded machine (a wait)
BOOT = uuid.uuid4().hex


def write_journal(folder: Path, messages: list[str], start: int) -> None:
    """Append entries (``MESSAGE``, host web-01, identifier sysmon) to ``folder``'s journal in
    journald's export format, through systemd-journal-remote."""
    entries = []
    for i, message in enumerate(messages, start):
        entries.append(
            f"__REALTIME_TIMESTAMP={1_700_000_000_000_000 + i}\n__MONOTONIC_TIMESTAMP={1000 + i}\n"
            f"_BOOT_ID={BOOT}\n_HOSTNAME=web-01\nSYSLOG_IDENTIFIER=sysmon\nMESSAGE={message}\n\n"
        )
    assert JOURNAL_REMOTE is not None
    subprocess.run(
        [JOURNAL_REMOTE, f"--output={folder / 'remote.journal'}", "--split-mode=none", "-"],
        input="".join(entries).encode(),
        check=True,
        capture_output=True,
    )


def entries(follow: JournaldInput, count: int) -> list[dict[str, str]]:
    got: list[Piece] = []
    deadline = time.monotonic() + WAIT
    while sum(p.data.count(b"\n") for p in got) < count and time.monotonic() < deadline:
        got.extend(follow.poll(1 << 20))
        time.sleep(0.02)
    return [json.loads(line) for p in got for line in p.data.splitlines()]


@needs_journal_tools
def test_journald_follows_and_resumes_at_the_cursor(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    write_journal(journal, [f"first {i}" for i in range(3)], 0)
    follow = JournaldInput([f"--directory={journal}"])
    assert isinstance(follow, WatchInput)
    try:
        follow.restore(None)
        got = entries(follow, 3)
        assert [e["MESSAGE"] for e in got] == ["first 0", "first 1", "first 2"]
        assert follow.checkpoint() == {"cursor": got[-1]["__CURSOR"]}
        write_journal(journal, ["second 0", "second 1"], 3)  # appended while followed
        assert [e["MESSAGE"] for e in entries(follow, 2)] == ["second 0", "second 1"]
        state = json.loads(json.dumps(follow.checkpoint()))
    finally:
        follow.close()
    write_journal(journal, ["while down"], 5)
    again = JournaldInput([f"--directory={journal}"])
    try:
        again.restore(state)
        assert [e["MESSAGE"] for e in entries(again, 1)] == ["while down"]
        time.sleep(0.3)
        assert again.poll(1 << 20) == []  # nothing before the cursor again
    finally:
        again.close()


@needs_journal_tools
def test_journald_lines_are_read_as_sysmon(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    write_journal(journal, [event_xml(record=i) for i in range(4)], 0)
    follow = JournaldInput([f"--directory={journal}", "SYSLOG_IDENTIFIER=sysmon"])
    try:
        follow.restore(None)
        lines = entries(follow, 4)
    finally:
        follow.close()
    spooled = tmp_path / "journal.jsonl"
    spooled.write_text("".join(json.dumps(e) + "\n" for e in lines))
    rows = [r for b in read_dataset([spooled], "Endpoint.Processes") for r in b.to_pylist()]
    assert [r["host"] for r in rows] == ["web-01"] * 4


def test_journald_failure_is_an_input_error(tmp_path: Path) -> None:
    follow = JournaldInput([f"--directory={tmp_path / 'missing'}"])
    try:
        follow.restore(None)
        with pytest.raises(InputError, match=r"journalctl stopped \(exit 1\): Failed to open"):
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                follow.poll(1 << 20)
                time.sleep(0.02)
    finally:
        follow.close()
    missing = JournaldInput(journalctl="no-such-journalctl")
    with pytest.raises(InputError, match="no-such-journalctl not found"):
        missing.restore(None)
    missing.close()


def test_stdin_whole_lines_without_waiting() -> None:
    r, w = os.pipe()
    follow = StdinInput(r)
    assert isinstance(follow, WatchInput)
    follow.restore(None)
    assert follow.poll(100) == []  # nothing yet: returns at once
    os.write(w, b"a\nb\nhalf")
    assert [(p.data, p.first_line, p.name) for p in follow.poll(100)] == [(b"a\nb\n", 1, "-")]
    os.write(w, b" line\n")
    os.close(w)
    assert [(p.data, p.first_line) for p in follow.poll(100)] == [(b"half line\n", 3)]
    assert follow.ended and follow.poll(100) == [] and follow.checkpoint() == {}
    follow.close()


def test_stdin_is_left_blocking_as_found() -> None:
    """Standard input is shared with the shell that started escudo (the same open file):
    non-blocking while followed, blocking again once closed."""
    r, w = os.pipe()
    code = (
        "import os; from escudo.watch.stdin import StdinInput; s = StdinInput(); "
        "s.restore(None); print(os.get_blocking(0), s.poll(10)); s.close()"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], stdin=r, capture_output=True, text=True)
        assert done.stdout == "False []\n", done.stderr
        assert os.get_blocking(r)
    finally:
        os.close(r)
        os.close(w)
