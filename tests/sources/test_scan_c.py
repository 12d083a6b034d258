"""The C chunk scan (``escudo.sources._scan``) against the Python one it replaces (prefilter.py).

test_prefilter.py runs every reading test with each of the two; here they meet byte for byte.
"""

from __future__ import annotations

import shutil
import sysconfig

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from escudo.sources import base, prefilter
from escudo.sources.prefilter import line_starts, split_chunk_python

try:
    from escudo.sources import _scan as scan  # type: ignore[attr-defined]
except ImportError:
    scan = None
needs_c = pytest.mark.skipif(scan is None, reason="escudo.sources._scan was not built")


def _available() -> list[str]:
    """The block comparisons this CPU can run (the one chosen at import first)."""
    if scan is None:
        return []
    chosen, found = scan.used(), []
    for how in ("avx2", "sse2", "bytes"):
        try:
            found.append(scan.use(how))
        except ValueError:
            continue
    scan.use(chosen)
    return sorted(found, key=lambda h: h != chosen)


COMPARISONS = _available()


# Pieces of a chunk where the two scans could part: needle bytes in any case and cut anywhere,
# line ends, the start of each always-pass sequence without its end, event tags, odd starts.
PIECES = st.sampled_from(
    [
        *base.ALWAYS_PASS,
        *prefilter._ODD_STARTS,
        *prefilter._ENDS,
        *(
            b"ngrok",
            b"NgRoK",
            b"ngro",
            b"k",
            b"N",
            b"tcp",
            b"\n",
            b"\r\n",
            b"\r",
            b"&",
            b"#",
            b"&#",
        ),
        *(b"\xe2", b"\x84", b"\xaa", b"\xe2\x84\xaa", b"\xc4", b"\xb0", b"\xc4\xb0", b"\x00"),
        *(b"<Event>", b"</Event>", b"</Event>\n", b"<Event", b" ", b"\t", b"{", b"\x0b", b"x" * 17),
        *(b"Mar 11 09:15:01 h sysmon: ", b"a", b"@", b"[", b"`", b"{z", b"\xff", b"y" * 63),
    ]
)


@needs_c
@pytest.mark.parametrize("how", COMPARISONS)
@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(PIECES, max_size=80),
    clause=st.sampled_from(
        [
            *((b"ngrok",), (b"tcp", b"ngrok"), (b"k",), (b"@[",), (b"&#",), (b"\n<",)),
            *((b"x" * 20,), (b"ngrok", b"\xc4\xb0", b"y" * 70)),
        ]
    ),
)
@example(pieces=[b"ngrok", b"\n", b"ngrok", b"x" * 17], clause=(b"ngrok",))  # a 2nd hit line
@example(
    pieces=[b"y" * 9, b"\n<Event>x</Event>\n", b"y" * 99], clause=(b"\n<",)
)  # hit on a newline
@example(pieces=[b"y" * 63, b"&", b"#", b"\n", b"y" * 63], clause=(b"k",))  # cut at a block edge
def test_c_scan_equals_the_python_scan(
    how: str, pieces: list[bytes], clause: tuple[bytes, ...]
) -> None:
    """Byte for byte on chunks built from the pieces where the two could differ (64-byte blocks
    of the C scan and sequences cut at their edges included), with each block comparison."""
    assert scan is not None
    data = b"".join(pieces)
    chosen = scan.used()
    scan.use(how)
    try:
        count, filtered, skipped, candidates, runs = scan.scan(data, clause)
    finally:
        scan.use(chosen)
    old_share = prefilter.MAX_CANDIDATE_SHARE
    prefilter.MAX_CANDIDATE_SHARE = 1.0  # the Python scan gives up on mostly-candidate chunks
    try:
        expected = split_chunk_python(data, clause)
    finally:
        prefilter.MAX_CANDIDATE_SHARE = old_share
    assert expected is not None
    assert (count, filtered, skipped, runs) == (
        expected.lines,
        expected.filtered,
        expected.skipped,
        expected.runs,
    )
    assert candidates == sum(len(line_starts(data[b:e])) - 1 for _, b, e in runs)


@needs_c
def test_bad_arguments_and_empty_data() -> None:
    assert scan is not None
    with pytest.raises(TypeError, match="needles must be non-empty bytes"):
        scan.scan(b"x", ("ngrok",))
    with pytest.raises(TypeError, match="needles must be non-empty bytes"):
        scan.scan(b"x", (b"",))
    with pytest.raises(ValueError, match="not available"):
        scan.use("neon")
    assert scan.scan(b"", (b"ngrok",)) == (0, 0, 0, 0, [])
    assert scan.scan(memoryview(b"ngrok\n"), (b"ngrok",)) == (1, 0, 0, 1, [(0, 0, 6)])


def test_c_scan_is_built_where_a_compiler_is() -> None:
    """``setup.py`` marks the extension optional: a silent fallback must not go unnoticed."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) here: the Python scan is used")
    assert scan is not None, "a C compiler is here but escudo.sources._scan is missing"
    if scan.used() != "bytes":  # a CPU with SIMD blocks: the reader uses it
        assert prefilter._scan is scan


def test_the_c_scan_spells_out_what_the_python_scan_reads() -> None:
    """``_scan.c`` hard-codes these (the always-pass bytes, the blank and JSON starts, the event
    ends): change them there too, or the C scan parts from the Python one unseen."""
    assert base.ALWAYS_PASS == (b"&#", b"\xe2\x84\xaa", b"\xc4\xb0")
    assert prefilter._ODD_STARTS == (b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"{")
    assert prefilter._ENDS == (b"</Event>\n", b"</Event>\r\n")
