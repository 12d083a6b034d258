"""Files and globs followed like ``tail -F``: :class:`FileInput`, a :class:`~escudo.watch.base.WatchInput`.

A followed file is known by its identity, not its name: device and inode, checked by a fingerprint
of its first bytes (an inode is reused once its file is deleted). So a file renamed by a rotation
(``app.log`` to ``app.log.1``) keeps its place and is read to its end while the new ``app.log`` is
read from its start; a file truncated in place (logrotate's ``copytruncate``) starts again at 0; a
compressed file (a rotated ``app.log.2.gz``) is never read: its lines were read before it was
compressed (semantics "Following files").

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "app.log").write_bytes(b"one\\ntwo\\npart")
>>> follow = FileInput(str(folder / "app.log*")); follow.restore(None)
>>> [(p.data, p.first_line) for p in follow.poll(1 << 20)]
[(b'one\\ntwo\\n', 1)]
>>> _ = (folder / "app.log").rename(folder / "app.log.1")
>>> with open(folder / "app.log.1", "ab") as fh: _ = fh.write(b"ial\\n")
>>> _ = (folder / "app.log").write_bytes(b"new\\n")
>>> [(Path(p.name).name, p.data, p.first_line) for p in follow.poll(1 << 20)]
[('app.log.1', b'partial\\n', 3), ('app.log', b'new\\n', 1)]
>>> follow.close()
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import io
import lzma
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from escudo.watch.base import Checkpoint, Piece

FINGERPRINT_BYTES = 1024
# Magic numbers of compressed files (gzip, bzip2, xz, zstd): a rotated, compressed copy of lines
# already followed; never read as new data.
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")
# A file whose name no longer leads to it (renamed out of the pattern, deleted) is still read
# through its open descriptor until it has been at its end for this long: the writer may append
# a last line before it reopens its log.
ROTATED_GRACE = 1.0
READ_BYTES = 1 << 20
# Compressed files a restore may finish (a file rotated and compressed while escudo was stopped):
# their magic number and how to decompress them as a stream.
DECOMPRESS: dict[bytes, Callable[[BinaryIO], io.BufferedIOBase]] = {
    b"\x1f\x8b": lambda raw: gzip.GzipFile(fileobj=raw),
    b"BZh": bz2.BZ2File,
    b"\xfd7zXZ\x00": lzma.LZMAFile,
}


def fingerprint(head: bytes) -> str:
    """A short digest of a file's first bytes (at most :data:`FINGERPRINT_BYTES` of them)."""
    return hashlib.sha256(head).hexdigest()[:32]


@dataclass
class _Followed:
    """One file followed: identity (``dev``, ``ino``, the fingerprint of its first ``fp_len``
    bytes), position (``offset`` just after the last line handed out, ``line`` its number) and
    the order it was first seen in (``seq``: older files are read first)."""

    path: str
    dev: int
    ino: int
    fp_len: int
    fp: str
    offset: int = 0
    line: int = 0
    seq: int = 0
    fd: int = -1
    gone_at: float | None = None  # when its name stopped leading to it
    ignored: bool = False  # compressed: never read
    packed: bool = False  # compressed since the checkpoint: read decompressed to its end
    stream: io.BufferedIOBase | None = None  # the decompressed data of a packed file, at ``offset``

    def state(self) -> dict[str, object]:
        return {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "fp_len": self.fp_len,
            "fp": self.fp,
            "offset": self.offset,
            "line": self.line,
            "seq": self.seq,
            "ignored": self.ignored,
            "packed": self.packed,
        }

    def matches(self, size: int, fd: int | None = None) -> bool:
        """Whether the file (of ``size`` bytes, open as ``fd``, by default its own descriptor)
        starts with the bytes this file's fingerprint is of."""
        if size < self.fp_len:
            return False
        return fingerprint(os.pread(self.fd if fd is None else fd, self.fp_len, 0)) == self.fp

    def unpack(self, fd: int) -> io.BufferedIOBase | None:
        """The decompressed data of the compressed file ``fd`` at this file's offset if it
        starts with this file's first bytes (the rotated file, compressed), else None."""
        magic = next((m for m in DECOMPRESS if os.pread(fd, len(m), 0) == m), None)
        if magic is None or self.fp_len <= 0:
            return None
        stream = DECOMPRESS[magic](os.fdopen(os.dup(fd), "rb"))
        try:
            if fingerprint(stream.read(self.fp_len)) == self.fp:
                stream.seek(self.offset)
                if stream.tell() == self.offset:
                    return stream
        except (OSError, EOFError, lzma.LZMAError):
            pass
        stream.close()
        return None


def _open(path: str) -> tuple[int, os.stat_result] | None:
    """A read-only descriptor of the regular file ``path`` and its status, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _compressed(head: bytes) -> bool:
    return any(head.startswith(magic) for magic in COMPRESSED_MAGIC)


class FileInput:
    """Follow the files a path, a glob or a directory names (a directory: every file under it,
    dot-files skipped), like ``tail -F``: only whole lines are handed out; a last line without
    its newline waits for it (a rotated file's is handed out, with a newline, once the file is
    finished). The checkpoint lists every followed file's identity and position.
    """

    def __init__(
        self, pattern: str, *, sourcetype: str | None = None, rotated_grace: float = ROTATED_GRACE
    ) -> None:
        self.pattern = pattern
        self.sourcetype = sourcetype
        self.rotated_grace = rotated_grace
        self.name = f"file:{pattern}"
        self._files: list[_Followed] = []
        self._next_seq = 0
        self._restored = False

    # -- listing ------------------------------------------------------------------------------

    def _paths(self) -> list[str]:
        """The paths the pattern names now (sorted; regular files are checked when opened)."""
        if os.path.isdir(self.pattern):
            found: list[str] = []
            for folder, dirs, files in os.walk(self.pattern):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(os.path.join(folder, f) for f in files if not f.startswith("."))
            return sorted(found)
        if glob.has_magic(self.pattern):
            return sorted(glob.glob(self.pattern))
        return [self.pattern]

    def _scan(self) -> None:
        """Match the paths named now against the followed files: renames, truncations, new
        files and copies, files whose names no longer lead to them."""
        seen: set[int] = set()
        by_inode = {(f.dev, f.ino): f for f in self._files}
        # A new file that starts as a followed one (its fingerprint) is a copy of it (logrotate's
        # copytruncate): it goes on from where the followed file was before this scan, whose
        # lines are already handed out.
        before = [(f.fp_len, f.fp, f.offset, f.line, f) for f in self._files if f.fp_len > 0]
        for path in self._paths():
            try:  # a followed file is known by its status: only new files are opened
                st = os.stat(path)
            except OSError:
                continue
            known = by_inode.get((st.st_dev, st.st_ino))
            if known is None:
                opened = _open(path)
                if opened is None:
                    continue
                fd, st = opened
                known = by_inode.get((st.st_dev, st.st_ino))  # replaced since the stat
                if known is not None:
                    os.close(fd)
            if known is not None:
                # The same inode is the same file while its descriptor is held open (an inode
                # is reused only once its file is deleted and closed).
                if not known.packed and not known.matches(st.st_size):
                    self._restart(known)  # truncated (or rewritten) in place
                known.path, known.gone_at = path, None
                seen.add(id(known))
                continue
            head = os.pread(fd, FINGERPRINT_BYTES, 0)
            copied = (
                (offset, line, f)
                for fp_len, fp, offset, line, f in before
                if fp_len <= len(head) and offset <= st.st_size and fingerprint(head[:fp_len]) == fp
            )
            offset, line, original = next(copied, (0, 0, None))
            self._files.append(self._new(path, fd, st, head, offset, line))
            if original is not None:  # the copy's lines come before the original's new ones
                copy = self._files[-1]
                copy.seq, original.seq = original.seq, copy.seq
            seen.add(id(self._files[-1]))
        now = time.monotonic()
        for f in self._files:
            if id(f) not in seen and f.gone_at is None:
                f.gone_at = now

    def _new(
        self, path: str, fd: int, st: os.stat_result, head: bytes, offset: int, line: int
    ) -> _Followed:
        entry = _Followed(path, st.st_dev, st.st_ino, len(head), fingerprint(head), offset, line)
        entry.seq, self._next_seq = self._next_seq, self._next_seq + 1
        entry.fd = fd
        entry.ignored = _compressed(head)
        return entry

    def _forget(self, f: _Followed) -> None:
        if f.stream is not None:
            f.stream.close()
        os.close(f.fd)
        self._files.remove(f)

    def _restart(self, f: _Followed) -> None:
        """Read a file truncated in place (logrotate's ``copytruncate``) from its start."""
        f.offset = f.line = 0
        f.fp_len = -1
        self._refresh_fingerprint(f)

    def _refresh_fingerprint(self, f: _Followed) -> None:
        """Lengthen the fingerprint of a file that was shorter than :data:`FINGERPRINT_BYTES`
        when first seen (a file is checked for compression until its first bytes are read)."""
        head = os.pread(f.fd, FINGERPRINT_BYTES, 0)
        if len(head) > f.fp_len:
            f.fp_len, f.fp = len(head), fingerprint(head)
            if f.offset == 0:
                f.ignored = _compressed(head)

    # -- the WatchInput protocol ----------------------------------------------------------------

    def restore(self, state: Checkpoint | None) -> None:
        """Resume from ``state``: each file of it is found again by identity (at its last path,
        or another path of the pattern or of its folder: a rotation since the checkpoint) and
        read on from its offset; a file of the checkpoint that cannot be found any more is
        dropped; a file not in it is new, read from its start."""
        self._restored = True
        entries = [] if state is None else list(state.get("files", []))  # type: ignore[call-overload]
        candidates = self._paths()
        folders = {os.path.dirname(str(e["path"])) or "." for e in entries}
        for folder in sorted(folders):
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            candidates += [os.path.join(folder, n) for n in names if not n.startswith(".")]
        opened: dict[tuple[int, int], tuple[str, int, os.stat_result]] = {}
        for path in candidates:
            got = _open(path)
            if got is None:
                continue
            fd, st = got
            key = (st.st_dev, st.st_ino)
            if key in opened:
                os.close(fd)
                continue
            opened[key] = (path, fd, st)
        unmatched = []
        for e in sorted(entries, key=lambda e: int(e["seq"])):
            f = _Followed(
                str(e["path"]), int(e["dev"]), int(e["ino"]), int(e["fp_len"]), str(e["fp"]),
                int(e["offset"]), int(e["line"]), int(e["seq"]), ignored=bool(e.get("ignored")),
            )  # fmt: skip
            found = opened.get((f.dev, f.ino))
            if e.get("packed") and found is not None:
                f.stream = f.unpack(found[1])
                if f.stream is not None:
                    f.packed = True
                    del opened[(f.dev, f.ino)]
                    self._resume(f, found)
                    continue
            # The same inode with other first bytes, or shorter than read: truncated in place
            # or reused by a new file, new either way.
            if (
                found is not None
                and found[2].st_size >= f.offset
                and f.matches(found[2].st_size, found[1])
            ):
                del opened[(f.dev, f.ino)]
                self._resume(f, found)
            else:
                unmatched.append(f)
        for f in unmatched:  # a copy of it (copytruncate) or the file compressed, by fingerprint
            for key, found in opened.items():
                if (
                    f.fp_len > 0
                    and found[2].st_size >= f.offset
                    and f.matches(found[2].st_size, found[1])
                ):
                    del opened[key]
                    self._resume(f, found)
                    break
                f.stream = f.unpack(found[1])
                if f.stream is not None:
                    f.packed, f.ignored = True, False
                    del opened[key]
                    self._resume(f, found)
                    break
        for _path, fd, _st in opened.values():
            os.close(fd)
        self._scan()

    def _resume(self, f: _Followed, found: tuple[str, int, os.stat_result]) -> None:
        f.path, f.fd = found[0], found[1]
        f.dev, f.ino = found[2].st_dev, found[2].st_ino
        self._files.append(f)
        self._next_seq = max(self._next_seq, f.seq + 1)

    def poll(self, max_bytes: int) -> list[Piece]:
        """Whole new lines of every followed file, older files first, about ``max_bytes``."""
        if not self._restored:
            self.restore(None)
        self._scan()
        pieces: list[Piece] = []
        budget = max_bytes
        now = time.monotonic()
        for f in sorted(self._files, key=lambda f: f.seq):
            if budget <= 0:
                break
            data, at_end = self._read(f, budget) if f.stream is None else self._unpack(f, budget)
            finished = f.packed or (f.gone_at is not None and now - f.gone_at >= self.rotated_grace)
            if at_end and finished:
                data += self._rest(f)  # finished: a last line without its newline gets one
                self._forget(f)
            if data:
                pieces.append(Piece(self.name, f.path, data, f.line + 1, self.sourcetype))
                f.line += data.count(b"\n")
                budget -= len(data)
            if not at_end:  # the budget is spent: newer files wait, so lines keep their order
                break
        return pieces

    def _read(self, f: _Followed, budget: int) -> tuple[bytes, bool]:
        """The whole lines after ``f.offset`` (at least one line, however long, if there is
        one; else about ``budget`` bytes), and whether the file's end was reached."""
        size = os.fstat(f.fd).st_size
        if size < f.offset:  # truncated in place (copytruncate): start again
            self._restart(f)
        elif f.fp_len < FINGERPRINT_BYTES and size > f.fp_len:
            self._refresh_fingerprint(f)
        if f.ignored:
            return b"", True
        buf = bytearray()
        pos, eof = f.offset, False
        while True:
            block = os.pread(f.fd, max(min(budget - len(buf), READ_BYTES), 4096), pos)
            if not block:
                eof = True
                break
            buf += block
            pos += len(block)
            if len(buf) >= budget and b"\n" in buf:
                break
        # the whole lines within the budget, or the first line if it alone is longer
        cut = buf.rfind(b"\n", 0, max(budget, buf.find(b"\n") + 1)) + 1
        f.offset += cut
        return bytes(buf[:cut]), eof and b"\n" not in buf[cut:]

    def _unpack(self, f: _Followed, budget: int) -> tuple[bytes, bool]:
        """:meth:`_read` for a packed file: its decompressed lines after ``f.offset``."""
        assert f.stream is not None
        buf = bytearray()
        eof = False
        try:
            while len(buf) < budget or b"\n" not in buf:
                block = f.stream.read(READ_BYTES)
                if not block:
                    eof = True
                    break
                buf += block
        except (OSError, EOFError, lzma.LZMAError):  # a corrupt archive: what came before
            eof = True
        cut = buf.rfind(b"\n", 0, max(budget, buf.find(b"\n") + 1)) + 1
        f.offset += cut
        f.stream.seek(f.offset)  # back to the line after the last one handed out
        if eof and cut < len(buf):  # a last line without its newline, finished now
            return bytes(buf) + b"\n", True
        return bytes(buf[:cut]), eof

    def _rest(self, f: _Followed) -> bytes:
        """The last line of a finished file that never got its newline, with one."""
        if f.packed:
            return b""
        rest = b""
        while block := os.pread(f.fd, READ_BYTES, f.offset + len(rest)):
            rest += block
        f.offset += len(rest)
        return rest + b"\n" if rest else b""

    def checkpoint(self) -> Checkpoint:
        return {"files": [f.state() for f in sorted(self._files, key=lambda f: f.seq)]}

    def close(self) -> None:
        for f in self._files:
            if f.stream is not None:
                f.stream.close()
            os.close(f.fd)
        self._files.clear()
