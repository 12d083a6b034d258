"""A :class:`~escudo.sources.base.RawFilter` applied to a whole chunk at once, not line by line.

Most lines of a hunt fail the prefilter, so the per-line Python loop (about 10 us a line) is the
cost of a filtered read. Here compiled code does the scanning: one pass finds the lines, the
needles of the most selective clause (ASCII case-insensitive, like ``bytes.lower``), what always
passes (``&#``, the Kelvin sign, dotted capital I) and each line's shape. Only *candidate* lines
(a needle, an always-pass sequence, or an unusual shape: cut event, JSON, leading blank, no
newline) go through the exact per-line path, which re-checks the whole CNF and does the
accounting. Every other line is counted without per-line Python work: an event line ending in
``</Event>`` is ``filtered``, a non-blank line without ``<Event>`` is ``skipped``, a blank line
is not counted; exactly what the per-line path would do with it (tests hold both equal, rows and
stats).

Two implementations give the same answer: the C module ``escudo.sources._scan`` (64-byte blocks
compared with AVX2 or SSE2 on x86-64, about 4-7x faster; built with the package where a C compiler
is found) and :func:`split_chunk_python` (Arrow kernels, ``memmem``), used without it or on other
CPUs.

>>> split = split_chunk(b"a\\n<Event>x</Event>\\nngrok <Event>y</Event>\\n", ((b"ngrok",),))
>>> split.runs, split.filtered, split.skipped, split.lines
([(2, 19, 42)], 1, 1, 3)
"""

from __future__ import annotations

import ctypes
import functools
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources import base

try:
    from escudo.sources import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler
    _scan = None
if _scan is not None and _scan.used() == "bytes":
    # No SIMD block comparison on this CPU (the C scan has SSE2/AVX2, i.e. x86-64): byte by byte
    # it is slower than Arrow (benchmarks/bench_scan.py: 0.36 against 1.2 GB/s).
    _scan = None

Needles = tuple[tuple[bytes, ...], ...]

# Lines holding these always pass (base.ALWAYS_PASS: a numeric character reference, a caution kept
# from decoded values; DuckDB's lower()/ILIKE fold U+212A KELVIN SIGN to "k" and U+0130 to "i").
# Each is found by memchr on its rarest byte (the index paired with it): '#', 0xE2, 0xC4 are rare.
ALWAYS_PASS: tuple[tuple[bytes, int], ...] = tuple(
    (seq, {b"&#": 1}.get(seq, 0)) for seq in base.ALWAYS_PASS
)
# What bytes.strip() removes, and '{' (journald JSON): a line without <Event> starting with one
# of these may be JSON or blank-only, which the exact path decides.
_ODD_STARTS = (b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"{")
_ENDS = (b"</Event>\n", b"</Event>\r\n")
# Beyond this share of candidate lines (in a chunk of some size) the exact path over the whole
# chunk is as cheap.
MAX_CANDIDATE_SHARE = 0.25


def _load_memmem() -> Callable[[int, int, bytes, int], int | None] | None:
    """glibc/BSD ``memmem`` (about 3x ``bytes.find`` for a 5-byte needle), or None (Windows)."""
    try:
        fn = ctypes.CDLL(None).memmem
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return fn


_MEMMEM = _load_memmem()


@dataclass
class ChunkSplit:
    """A chunk's lines sorted out: ``runs`` of consecutive candidate lines for the exact path, each
    ``(first, begin, end)`` (the 0-based index of its first line, the bytes ``[begin, end)`` it
    covers), and the counts of the other lines."""

    runs: list[tuple[int, int, int]] = field(default_factory=list)
    filtered: int = 0
    skipped: int = 0
    lines: int = 0


def python_share(split: ChunkSplit | None, size: int) -> float:
    """The share of a chunk of ``size`` bytes the exact (Python) per-line path reads: its
    candidate runs, or all of it (no split: no filter, or too many candidates).

    >>> python_share(ChunkSplit(runs=[(1, 2, 8)]), 8), python_share(None, 8)
    (0.75, 1.0)
    """
    if split is None or not size:
        return 1.0
    return sum(end - begin for _, begin, end in split.runs) / size


def line_starts(data: bytes) -> array[int]:
    """Offsets of each line's first byte, then ``len(data)`` (one memchr per line).

    >>> list(line_starts(b"a\\nbc\\nd")), list(line_starts(b"a\\n")), list(line_starts(b""))
    ([0, 2, 5, 6], [0, 2], [0])
    """
    out = array("q", [0])
    append, find = out.append, data.find
    i = find(b"\n")
    while i >= 0:
        append(i + 1)
        i = find(b"\n", i + 1)
    if data and not data.endswith(b"\n"):
        append(len(data))
    return out


@functools.lru_cache(maxsize=64)  # asked again for every block of a read
def choose_clause(needles: Needles) -> tuple[bytes, ...] | None:
    """The clause to scan for: the longest shortest needle (rarer), then the fewest needles.

    A clause with an empty needle always matches and is never chosen.

    >>> choose_clause(((b"start", b"tcp"), (b"ngrok",), (b"",)))
    (b'ngrok',)

    Each needle costs one more pass over the chunk, so one holding another needle of its clause
    is dropped: a line with it has the shorter one too (the clause is an OR).

    >>> choose_clause(((b"ngrok", b"tunnel.us.ngrok.com", b"chisel"),))
    (b'ngrok', b'chisel')
    """
    usable = [_minimal(c) for c in needles if c and all(c)]
    if not usable:
        return None
    return max(usable, key=lambda c: (min(map(len, c)), -len(c)))


def _minimal(clause: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """``clause`` once each, without the needles that contain another of its needles."""
    unique = tuple(dict.fromkeys(clause))
    return tuple(n for n in unique if not any(o != n and o in n for o in unique))


def _hits(low: pa.Buffer, needle: bytes, starts: array[int]) -> Iterator[int]:
    """Indices of the lines of ``low`` holding ``needle`` (each line once)."""
    size, last = starts[-1], len(starts) - 1  # the chunk's length (a buffer may be padded)
    if _MEMMEM is None:
        text = low.to_pybytes()
    base, pos = low.address, 0
    while pos < size:
        if _MEMMEM is not None:
            hit = _MEMMEM(base + pos, size - pos, needle, len(needle))
            off = -1 if not hit else hit - base
        else:
            off = text.find(needle, pos)
        if off < 0:
            return
        line = bisect_right(starts, off) - 1
        yield line
        pos = starts[line + 1] if line < last else size


def _always_pass(data: bytes, starts: array[int]) -> Iterator[int]:
    """Indices of the lines holding an :data:`ALWAYS_PASS` sequence (memchr on its rarest byte)."""
    for seq, key in ALWAYS_PASS:
        byte = seq[key : key + 1]
        i = data.find(byte)
        while i >= 0:
            if i >= key and data.startswith(seq, i - key):
                yield bisect_right(starts, i - key) - 1
            i = data.find(byte, i + 1)


def _lines_view(data: bytes, starts: array[int]) -> pa.Array:
    """The chunk's lines (newline included) as a zero-copy Arrow binary array."""
    return pa.Array.from_buffers(
        pa.large_binary(), len(starts) - 1, [None, pa.py_buffer(starts), pa.py_buffer(data)]
    )


def _ascii_lower(data: bytes) -> pa.Buffer:
    """``data.lower()`` as an Arrow buffer (a SIMD kernel, about 6x faster; it maps bytes A-Z
    only and does not validate UTF-8, so any bytes are fine)."""
    one = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(array("q", [0, len(data)])), pa.py_buffer(data)]
    )
    return pc.ascii_lower(one).buffers()[2]


def split_chunk(data: bytes | memoryview, needles: Needles) -> ChunkSplit | None:
    """Sort the chunk's lines for ``needles`` (a compiled CNF), or None: use the exact path.

    The C scan (``escudo.sources._scan``, built with the package where a compiler is found) and
    :func:`split_chunk_python` give the same answer; tests hold them equal.
    """
    clause = choose_clause(needles)
    if clause is None:
        return None
    if _scan is None:
        return split_chunk_python(bytes(data), clause)
    count, filtered, skipped, candidates, runs = _scan.scan(data, clause)
    if candidates > _limit(count):
        return None
    return ChunkSplit(runs=runs, filtered=filtered, skipped=skipped, lines=count)


# scan_range's items: a run of candidate lines, a block for the exact path, a block that is not
# plain text (for framing.note_bad_text); and the bytes they may hold before it returns.
RANGE_RUN, RANGE_WHOLE, RANGE_BAD_TEXT = 0, 1, 2
RANGE_MAX_OUT = 16 << 20


def scan_range(
    fd: int, offset: int, length: int, clause: tuple[bytes, ...], block_bytes: int
) -> tuple[int, int, int, int, list[tuple[int, int, bytes]]]:
    """The C scan over a file range, read in newline-aligned blocks of about ``block_bytes``
    (``framing.iter_blocks``) without holding the GIL: ``(consumed, lines, filtered, skipped,
    items)``, what :func:`split_chunk` and ``framing.first_bad_text`` say of each block. Items,
    in file order, are ``(kind, line, bytes)``: ``RANGE_RUN`` a run of candidate lines (``line``:
    the 0-based index in the range of its first line), ``RANGE_WHOLE`` a block with too many
    candidates and ``RANGE_BAD_TEXT`` a block that is not plain text (``line``: the lines
    before it). ``filtered`` and ``skipped`` leave out whole blocks. It stops early once the
    items hold ``RANGE_MAX_OUT`` bytes, after ``consumed`` bytes (a line boundary); call it again
    for the rest. Needs the C module (:func:`has_c_scan`).

    >>> import os, tempfile
    >>> with tempfile.TemporaryFile() as fh:
    ...     _ = fh.write(b"a\\n<Event>x</Event>\\nngrok <Event>y</Event>\\n"); _ = fh.flush()
    ...     scan_range(fh.fileno(), 0, 42, (b"ngrok",), 1 << 20) if has_c_scan() else (42, 3, 1, 1,
    ...         [(0, 2, b"ngrok <Event>y</Event>\\n")])
    (42, 3, 1, 1, [(0, 2, b'ngrok <Event>y</Event>\\n')])
    """
    assert _scan is not None
    result: tuple[int, int, int, int, list[tuple[int, int, bytes]]] = _scan.scan_range(
        fd, offset, length, clause, block_bytes, MAX_CANDIDATE_SHARE, RANGE_MAX_OUT
    )
    return result


def has_c_scan() -> bool:
    """Whether :func:`split_chunk` runs the C scan (which also takes a memoryview)."""
    return _scan is not None


def _limit(count: int) -> float:
    """How many candidate lines a chunk of ``count`` lines may have before the exact path over
    the whole chunk is as cheap."""
    return MAX_CANDIDATE_SHARE * count if count > 64 else count


def split_chunk_python(data: bytes, clause: tuple[bytes, ...]) -> ChunkSplit | None:
    """:func:`split_chunk` for one clause's needles, with Arrow kernels and ``memmem``."""
    starts = line_starts(data)
    count = len(starts) - 1
    limit = _limit(count)
    low = _ascii_lower(data)
    special: set[int] = set()
    for needle in clause:
        for line in _hits(low, needle, starts):
            special.add(line)
            if len(special) > limit:  # a common needle: stop looking, read line by line
                return None
    special.update(_always_pass(data, starts))
    lines = _lines_view(data, starts)
    has_event = pc.match_substring(lines, "<Event>")
    ends = pc.or_(*(pc.ends_with(lines, e) for e in _ENDS))
    odd = pc.starts_with(lines, _ODD_STARTS[0])
    for s in _ODD_STARTS[1:]:
        odd = pc.or_(odd, pc.starts_with(lines, s))
    blank = pc.starts_with(lines, "\n")
    filtered = pc.and_(has_event, ends)
    skipped = pc.and_not(pc.and_not(pc.invert(has_event), odd), blank)
    unusual = pc.or_(pc.and_not(has_event, ends), pc.and_not(odd, has_event))
    special.update(pc.indices_nonzero(unusual).to_pylist())
    if len(special) > limit:
        return None
    split = ChunkSplit(lines=count)
    split.filtered = pc.sum(filtered).as_py() or 0
    split.skipped = pc.sum(skipped).as_py() or 0
    for line in special:
        split.filtered -= bool(filtered[line].as_py())
        split.skipped -= bool(skipped[line].as_py())
    runs: list[list[int]] = []
    for line in sorted(special):
        if runs and runs[-1][1] == line:
            runs[-1][1] = line + 1
        else:
            runs.append([line, line + 1])
    split.runs = [(first, starts[first], starts[stop]) for first, stop in runs]
    return split


# How many of a filter's clauses split_best scans for before it keeps the best one.
MAX_CLAUSES_TRIED = 4


def scan_lines(data: bytes | memoryview, clause: tuple[bytes, ...]) -> tuple[ChunkSplit, int]:
    """The C scan of ``data`` for ``clause``, whatever its share of candidate lines: the split
    and how many candidate lines its runs hold. Needs the C module (:func:`has_c_scan`).

    >>> scan_lines(b"a\\nngrok\\nb\\n", (b"ngrok",))[1] if has_c_scan() else 1
    1
    """
    assert _scan is not None
    count, filtered, skipped, candidates, runs = _scan.scan(data, clause)
    return ChunkSplit(runs=runs, filtered=filtered, skipped=skipped, lines=count), candidates


def split_best(
    data: bytes | memoryview, needles: Needles, also: tuple[bytes, ...] = ()
) -> ChunkSplit | None:
    """:func:`split_chunk` with the C scan for the clause that leaves the fewest candidate lines
    in ``data`` (the longest needle is not always the rarest: ``type=SYSCALL`` against
    ``comm=ngrok``), trying up to MAX_CLAUSES_TRIED clauses, longest needles first; each line
    holding one of ``also`` is a candidate too. None: no usable clause, no C scan, or too many
    candidates (use the exact path).

    >>> split = split_best(b"a\\nSYSCALL x\\nSYSCALL ngrok\\n", ((b"syscall",), (b"ngrok",)))
    >>> [(first, begin, end) for first, begin, end in split.runs] if split else [(2, 12, 26)]
    [(2, 12, 26)]
    """
    if _scan is None:
        return None
    usable = [_minimal(c) for c in needles if c and all(c)]
    usable.sort(key=lambda c: (min(map(len, c)), -len(c)), reverse=True)
    tried = list(dict.fromkeys(usable))[:MAX_CLAUSES_TRIED]
    last = _BEST.get((needles, also))
    if last in tried:  # the best clause of the previous chunk first: likely the best again
        tried.remove(last)
        tried.insert(0, last)
    best: tuple[ChunkSplit, int, tuple[bytes, ...]] | None = None
    for clause in tried:
        split, candidates = scan_lines(data, tuple(dict.fromkeys(clause + also)))
        if best is None or candidates < best[1]:
            best = (split, candidates, clause)
        if candidates * 1000 <= split.lines:
            break  # rare enough: another pass would save less than it costs
    if best is None:
        return None
    _BEST[(needles, also)] = best[2]  # (threads may race here: any clause is a right answer)
    return None if best[1] > _limit(best[0].lines) else best[0]


# The clause split_best kept last, per filter: a read's chunks are alike.
_BEST: dict[tuple[Needles, tuple[bytes, ...]], tuple[bytes, ...]] = {}
