"""The contract between ``escudo watch``'s inputs (files followed like ``tail -F``, journald, stdin,
the syslog receiver) and its batch loop.

An input hands out :class:`Piece` s of whole lines and a JSON-serialisable checkpoint of how far
it has handed out. The loop commits that checkpoint in the same atomic step as the outputs of the
batch the pieces went into; after a crash it calls :meth:`WatchInput.restore` with the last
committed checkpoint, so every line is processed exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Checkpoint = dict[str, object]
"""A JSON-serialisable position (file identities and offsets, a journald cursor, ...)."""


@dataclass(frozen=True)
class Piece:
    """Whole lines read from one input.

    ``data`` ends with ``\\n`` (a last line without one is held back until it is complete, or
    until the input is closed); ``name`` is what problems are reported against (a path);
    ``first_line`` is the 1-based line number of ``data``'s first line in that file (0: unknown);
    ``sourcetype`` names the sourcetype when the input knows it (None: sniffed from ``data``).
    """

    input: str
    name: str
    data: bytes
    first_line: int = 0
    sourcetype: str | None = None


@runtime_checkable
class WatchInput(Protocol):
    """One followed input. Not thread-safe: the loop calls it from one thread."""

    name: str  # stable identity, e.g. "file:/var/log/syslog*", "journald", "syslog:tcp:127.0.0.1:5514"

    def restore(self, state: Checkpoint | None) -> None:
        """Resume just after ``state`` (None: a first start, read from the beginning of what
        exists). Called once, before the first :meth:`poll`."""
        ...

    def poll(self, max_bytes: int) -> list[Piece]:
        """New whole lines since the last poll, at most about ``max_bytes``; ``[]`` when nothing
        is new. Returns without waiting for data."""
        ...

    def checkpoint(self) -> Checkpoint:
        """The position just after everything :meth:`poll` has returned so far."""
        ...

    def close(self) -> None:
        """Release files, sockets and child processes."""
        ...
