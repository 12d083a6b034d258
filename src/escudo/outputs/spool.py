"""A disk spool for an at-least-once sender: pending events, a sent-ids ledger, a dead-letter file.

One folder per destination holds::

    pending.jsonl    events not yet confirmed delivered, one JSON object a line ({"id", "time", "event"});
                     replaced atomically (write a temporary file, fsync, rename, fsync the folder)
    sent.ids         ids of events the destination confirmed, one a line, appended and fsynced per batch;
                     past 1.5x ``max_sent`` ids it is cut to the newest ``max_sent`` (atomic replace)
    rejected.jsonl   events the destination refused as malformed, with the reason (never resent)
    lock             flock()ed for the whole of a send, so two escudo processes never interleave

A torn last line (a crash mid-append) is skipped when read: for ``sent.ids`` that can only cause a
resend, never a loss.

>>> import tempfile
>>> spool = Spool(Path(tempfile.mkdtemp()))
>>> with spool.locked():
...     spool.write_pending([{"id": "a", "time": 1.0, "event": {}}])
...     spool.mark_sent(["a"])
>>> [i["id"] for i in spool.pending()], sorted(spool.sent_ids())
(['a'], ['a'])
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from escudo.errors import InputError

PENDING = "pending.jsonl"
SENT = "sent.ids"
REJECTED = "rejected.jsonl"
LOCK = "lock"
# The sent ledger keeps this many ids (about 33 MB of risk event ids): an event confirmed before
# the newest MAX_SENT_IDS could be sent again if a later run finds it again.
MAX_SENT_IDS = 1_000_000
_ID_BYTES = 33  # a risk_event_id and its newline: to tell from the file's size when to cut


class Spool:
    """The spool folder of one destination (created on first use)."""

    def __init__(
        self, directory: Path, *, lock_timeout: float = 120.0, max_sent: int = MAX_SENT_IDS
    ) -> None:
        self.directory = Path(directory)
        self.lock_timeout = lock_timeout
        self.max_sent = max_sent

    def _ensure(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create spool folder: {exc.strerror}", path=str(self.directory)
            ) from exc

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's exclusive lock; waits up to ``lock_timeout`` seconds for another sender."""
        self._ensure()
        with (self.directory / LOCK).open("a") as handle:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise InputError(
                            "another escudo process holds the spool lock", path=str(self.directory)
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @property
    def pending_path(self) -> Path:
        """The file holding what is not delivered yet."""
        return self.directory / PENDING

    def pending(self) -> list[dict[str, Any]]:
        """Spooled items in order; lines that are not a JSON object with an ``id`` are skipped."""
        return [
            item
            for item in _read_jsonl(self.directory / PENDING)
            if isinstance(item.get("id"), str)
        ]

    def write_pending(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Replace the pending file atomically (an empty list removes it)."""
        self._ensure()
        lines = [
            json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n" for item in items
        ]
        target = self.directory / PENDING
        if not lines:
            target.unlink(missing_ok=True)
            _fsync_dir(self.directory)
            return
        _replace(target, lines)

    def sent_ids(self) -> set[str]:
        """Ids the destination confirmed (a torn last line is ignored)."""
        return set(_complete_lines(self.directory / SENT))

    def mark_sent(self, ids: Iterable[str]) -> None:
        """Append confirmed ids and fsync before returning; past 1.5x ``max_sent`` ids (judged
        from the file's size, then counted), keep the newest ``max_sent``. Call it under
        :meth:`locked`."""
        path = self.directory / SENT
        _append(path, [f"{i}\n" for i in ids])
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size > 1.5 * self.max_sent * _ID_BYTES:
            self._cut_sent(path)

    def _cut_sent(self, path: Path) -> None:
        lines = _complete_lines(path)
        if len(lines) > 1.5 * self.max_sent:  # else longer ids than usual: not yet
            _replace(path, [f"{line}\n" for line in lines[-self.max_sent :]])

    def reject(self, items: Iterable[Mapping[str, Any]], reason: str) -> None:
        """Keep refused events, with the reason, in the dead-letter file."""
        rows = [
            json.dumps({**item, "reason": reason}, separators=(",", ":")) + "\n" for item in items
        ]
        _append(self.directory / REJECTED, rows)


def _replace(target: Path, lines: list[str]) -> None:
    """Replace ``target`` with ``lines`` atomically: a temporary file beside it, fsynced, renamed
    over it, then the folder fsynced."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _complete_lines(path: Path) -> list[str]:
    """The non-empty lines of ``path`` that end in a newline (a torn last one is left out)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in (lines if text.endswith("\n") else lines[:-1]) if line]


def _append(path: Path, lines: list[str]) -> None:
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    items: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            items.append(item)
    return items


def _fsync_dir(directory: Path) -> None:
    # the rename is durable only once the folder entry is on disk (POSIX rename(2) + fsync(2))
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
