"""journald followed through ``journalctl -f -o json``: :class:`JournaldInput`.

``journalctl`` runs as a child process whose output is read without waiting; each piece is
whole ``journalctl -o json`` lines (the Sysmon reader takes the event from ``MESSAGE`` and the host
from ``_HOSTNAME``); the checkpoint is the ``__CURSOR`` of the last entry handed out, and a restore
starts ``journalctl --after-cursor`` it (semantics "journald and stdin").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from escudo.errors import InputError
from escudo.watch.base import Checkpoint, Piece

JOURNALCTL = "journalctl"
# -f: follow; --no-tail: from the first entry (-f alone starts at the last ten); --all: fields
# longer than 4096 bytes in full (else JSON output has null: journalctl(1), --all).
FOLLOW_ARGS = ("-f", "-o", "json", "--no-tail", "--all", "--no-pager", "-q")


class JournaldInput:
    """Follow the journal ``journalctl`` shows with ``args`` (which journal and which entries:
    ``--directory=DIR``, ``--file=FILE``, ``-u sysmon.service``, ``SYSLOG_IDENTIFIER=sysmon``,
    ...). The checkpoint is ``{"cursor": ...}``."""

    def __init__(self, args: Sequence[str] = (), *, journalctl: str = JOURNALCTL) -> None:
        self.args = list(args)
        self.journalctl = journalctl
        self.name = "journald" + ("" if not self.args else ":" + " ".join(self.args))
        self._cursor: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._buf = bytearray()

    def restore(self, state: Checkpoint | None) -> None:
        """Start ``journalctl``: after the cursor of ``state``, else from the first entry."""
        cursor = None if state is None else state.get("cursor")
        self._cursor = cursor if isinstance(cursor, str) else None
        path = shutil.which(self.journalctl)
        if path is None:
            raise InputError(f"journald: {self.journalctl} not found")
        command = [path, *FOLLOW_ARGS, *self.args]
        if self._cursor is not None:
            command.append(f"--after-cursor={self._cursor}")
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self._process.stdout is not None
        os.set_blocking(self._process.stdout.fileno(), False)

    def poll(self, max_bytes: int) -> list[Piece]:
        """The whole entries ``journalctl`` has written since the last poll (about
        ``max_bytes``); :class:`InputError` with its message if it has stopped."""
        if self._process is None:
            self.restore(None)
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        ended = False
        while len(self._buf) < max_bytes:
            try:
                block = os.read(fd, max(max_bytes - len(self._buf), 1 << 16))
            except BlockingIOError:
                break
            if not block:
                ended = True
                break
            self._buf += block
        cut = self._buf.rfind(b"\n", 0, max(max_bytes, self._buf.find(b"\n") + 1)) + 1
        if ended and not cut:
            self._stopped()
        if not cut:
            return []
        data = bytes(self._buf[:cut])
        del self._buf[:cut]
        last = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]
        try:
            cursor = json.loads(last).get("__CURSOR")
        except (ValueError, AttributeError):
            cursor = None
        if not isinstance(cursor, str):
            raise InputError(f"journald: journalctl wrote a line without __CURSOR: {last[:80]!r}")
        self._cursor = cursor
        return [Piece(self.name, "journald", data)]

    def _stopped(self) -> None:
        assert self._process is not None
        code = self._process.wait()
        self._stderr.seek(0)
        message = self._stderr.read().decode(errors="replace").strip().splitlines()
        why = message[-1] if message else "no message"
        raise InputError(f"journald: journalctl stopped (exit {code}): {why}")

    def checkpoint(self) -> Checkpoint:
        return {} if self._cursor is None else {"cursor": self._cursor}

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        self._stderr.close()
