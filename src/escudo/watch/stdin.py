"""Standard input (or any pipe) followed without waiting: :class:`StdinInput`.

A pipe cannot be read again: what was read before a crash is gone, so stdin cannot be exactly
once across restarts, and its checkpoint (``{}``) only says so (semantics "journald and stdin").

>>> r, w = os.pipe(); _ = os.write(w, b"one\\ntw")
>>> follow = StdinInput(r); follow.restore(None)
>>> [p.data for p in follow.poll(1 << 20)], follow.poll(1 << 20)
([b'one\\n'], [])
>>> _ = os.write(w, b"o\\nthree"); os.close(w)
>>> [p.data for p in follow.poll(1 << 20)], follow.ended
([b'two\\nthree\\n'], True)
>>> follow.close()
"""

from __future__ import annotations

import os
import sys

from escudo.watch.base import Checkpoint, Piece


class StdinInput:
    """Read a pipe (standard input by default) without waiting: whole lines; a last line
    without its newline is handed out with one once the pipe is closed (:attr:`ended`)."""

    name = "stdin"

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._owned = fd is not None  # a pipe given is closed by close(), stdin is not
        self.ended = False
        self._buf = bytearray()
        self._line = 0
        self._was_blocking = True

    def restore(self, state: Checkpoint | None) -> None:
        """Nothing to resume: a pipe is read from where it is now."""
        self._was_blocking = os.get_blocking(self.fd)
        os.set_blocking(self.fd, False)

    def poll(self, max_bytes: int) -> list[Piece]:
        while not self.ended and len(self._buf) < max_bytes:
            try:
                block = os.read(self.fd, max(max_bytes - len(self._buf), 1 << 16))
            except BlockingIOError:
                break
            if not block:
                self.ended = True
            self._buf += block
        if self.ended and self._buf and not self._buf.endswith(b"\n"):
            self._buf += b"\n"
        cut = self._buf.rfind(b"\n", 0, max(max_bytes, self._buf.find(b"\n") + 1)) + 1
        if not cut:
            return []
        data = bytes(self._buf[:cut])
        del self._buf[:cut]
        piece = Piece(self.name, "-", data, self._line + 1)
        self._line += data.count(b"\n")
        return [piece]

    def checkpoint(self) -> Checkpoint:
        return {}

    def close(self) -> None:
        if self._owned:
            os.close(self.fd)
        else:  # the descriptor is shared with the shell that started escudo: leave it as found
            os.set_blocking(self.fd, self._was_blocking)
