"""No valid event lost to a bad neighbour: each input that cannot be read (in full) is reported
once as ``path: reason`` (``path:line`` where the data stops at a line), the lines read before the
problem are kept, and the other inputs are read. Lines that are not UTF-8 text are counted and
reported as ``path:line`` (issue 9). Real gzip files, FIFOs, permissions and /proc: no mocks.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sysmon_events import event_xml, syslog_line

from escudo.datamodels.normalize import read_dataset
from escudo.sources.base import Problem, RawFilter, ReadStats
from escudo.sources.framing import expand_inputs
from escudo.sources.reader import run_range
from escudo.sources.sysmon import SysmonPlan


def _lines(first: int, count: int) -> bytes:
    events = (
        syslog_line(event_xml({"ProcessId": str(i)}, record=i)) for i in range(first, first + count)
    )
    return "".join(line + "\n" for line in events).encode()


def _ids(paths: list[str | Path], stats: ReadStats, **kw: object) -> list[int]:
    batches = read_dataset(paths, "Endpoint.Processes", stats=stats, **kw)  # type: ignore[arg-type]
    return [int(r["process_id"]) for b in batches for r in b.to_pylist()]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.log"
    path.write_bytes(_lines(100, 5))
    return path


GOOD_IDS = list(range(100, 105))


def _one(stats: ReadStats) -> Problem:
    assert len(stats.unreadable) == 1, stats.summary()
    return stats.unreadable[0]


# --- gzip ---------------------------------------------------------------------------------------


def test_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path, good: Path) -> None:
    data = _lines(0, 400)  # several deflate blocks: the cut leaves whole lines decoded
    whole = gzip.compress(data, compresslevel=1)
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    stats = ReadStats()
    ids = _ids([cut, good], stats)
    kept = ids[: -len(GOOD_IDS)]
    assert ids[-len(GOOD_IDS) :] == GOOD_IDS
    assert 0 < len(kept) < 400 and kept == list(range(len(kept)))  # the good part, in order
    problem = _one(stats)
    assert (problem.path, problem.line) == (str(cut), len(kept) + 1)  # where the data stops
    assert problem.reason.startswith("truncated gzip")
    assert stats.malformed == 0  # the line cut by the truncation is not also a malformed event


def test_gzip_with_a_bad_crc_keeps_its_lines(tmp_path: Path, good: Path) -> None:
    raw = bytearray(gzip.compress(_lines(0, 20)))
    raw[-8] ^= 0xFF  # the CRC-32 of the trailer (RFC 1952 section 2.3)
    bad = tmp_path / "crc.gz"
    bad.write_bytes(bytes(raw))
    stats = ReadStats()
    assert _ids([bad, good], stats) == [*range(20), *GOOD_IDS]
    assert str(_one(stats)) == f"{bad}: gzip CRC check failed: the data read may be corrupt"


def test_gzip_with_trailing_garbage_keeps_its_lines(tmp_path: Path, good: Path) -> None:
    bad = tmp_path / "trailing.gz"
    bad.write_bytes(gzip.compress(_lines(0, 20)) + b"this is not gzip")
    stats = ReadStats()
    assert _ids([good, bad], stats) == [*GOOD_IDS, *range(20)]
    assert str(_one(stats)) == f"{bad}: trailing garbage after the gzip data (ignored)"


# --- files and directories that cannot be read -------------------------------------------------


# capability(7): CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH let root past file permissions.
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_dac_capabilities() -> None:
    """In the child, before exec: out of the bounding set, so the exec'd root process does not
    get them and file permissions bind it (a process not root has none to drop)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_bound_by_permissions(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a child that file permissions bind, even when the tests run as root."""
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None,
        )
    except subprocess.SubprocessError as exc:  # the preexec_fn failed: no CAP_SETPCAP here
        pytest.skip(f"cannot drop root's file capabilities: {exc}")


READ_IN_CHILD = (
    "import sys; from escudo.datamodels.normalize import read_dataset; "
    "from escudo.sources.base import ReadStats; s = ReadStats(); "
    "ids = [r['process_id'] for b in read_dataset(sys.argv[1:], 'Endpoint.Processes', stats=s) "
    "for r in b.to_pylist()]; print(ids); print(s.summary())"
)


def test_unreadable_file_is_reported_and_the_others_read(tmp_path: Path) -> None:
    secret = tmp_path / "a-secret.log"
    secret.write_bytes(_lines(0, 3))
    secret.chmod(0)
    good = tmp_path / "b-good.log"
    good.write_bytes(_lines(100, 5))
    done = _run_bound_by_permissions([sys.executable, "-c", READ_IN_CHILD, str(secret), str(good)])
    assert done.returncode == 0, done.stderr
    ids, summary, problem = done.stdout.splitlines()
    assert ids == str([str(i) for i in GOOD_IDS])
    assert summary.endswith("; 1 inputs not read in full")
    assert problem == f"  {secret}: cannot read: Permission denied"


def test_file_whose_read_fails_is_reported(good: Path) -> None:
    """/proc/self/mem opens but reading its first page fails (EIO), for root too."""
    stats = ReadStats()
    assert _ids(["/proc/self/mem", good], stats) == GOOD_IDS
    assert str(_one(stats)) == "/proc/self/mem: cannot read: Input/output error"


def test_unreadable_directory_is_reported_and_the_others_read(tmp_path: Path) -> None:
    top = tmp_path / "logs"
    (top / "locked").mkdir(parents=True)
    (top / "locked" / "x.log").write_bytes(_lines(0, 3))
    (top / "z.log").write_bytes(_lines(100, 5))
    (top / "locked").chmod(0)
    try:
        done = _run_bound_by_permissions([sys.executable, "-c", READ_IN_CHILD, str(top)])
    finally:
        (top / "locked").chmod(0o755)  # so pytest can remove it
    assert done.returncode == 0, done.stderr
    ids, _summary, problem = done.stdout.splitlines()
    assert ids == str([str(i) for i in GOOD_IDS])
    assert problem == f"  {top / 'locked'}: cannot list directory: Permission denied"


def _feed(fifo: Path, data: bytes, before_write: object = None) -> threading.Thread:
    """Write ``data`` into ``fifo`` from a thread (its open waits for the reader's)."""

    def write() -> None:
        with open(fifo, "wb") as out:
            if callable(before_write):
                before_write()
            out.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _release(fifo: Path, thread: threading.Thread) -> None:
    """Unblock the writer if the reader never opened the FIFO (so a failing test ends)."""
    if thread.is_alive():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        thread.join()
        os.close(fd)


READ_ARGS = (
    "import sys; from escudo.datamodels.normalize import read_dataset; "
    "from escudo.sources.base import ReadStats; s = ReadStats(); "
    "print([r['process_id'] for b in read_dataset(sys.argv[1:], 'Endpoint.Processes', stats=s) "
    "for r in b.to_pylist()]); print(s.summary())"
)


def _read_in_child(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """A separate reader process (a FIFO test that hangs must fail, not hang the suite)."""
    return subprocess.run(
        [sys.executable, "-c", READ_ARGS, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("compressed", [False, True])
def test_fifo_is_read_as_a_stream(tmp_path: Path, good: Path, compressed: bool) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = _lines(0, 3)
    writer = _feed(fifo, gzip.compress(data) if compressed else data)
    try:
        done = _read_in_child([fifo, good])
    finally:
        _release(fifo, writer)
    assert done.returncode == 0, done.stderr
    ids, summary = done.stdout.splitlines()
    assert ids == str([str(i) for i in [0, 1, 2, *GOOD_IDS]])
    assert "0 malformed" in summary and "not read" not in summary


def test_fifo_inside_a_directory_is_reported_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(_lines(100, 5))
    os.mkfifo(tmp_path / "b.pipe")  # nothing writes to it: reading would wait forever
    stats = ReadStats()
    assert _ids([tmp_path], stats) == GOOD_IDS
    assert str(_one(stats)) == (
        f"{tmp_path / 'b.pipe'}: skipped: a FIFO, not a regular file (name it to read it)"
    )


def test_file_removed_after_listing_is_reported(tmp_path: Path, good: Path) -> None:
    """The FIFO comes first, so escudo has listed (and sniffed) ``gone.log`` before it opens the
    FIFO; the writer removes ``gone.log`` then, before escudo reaches it."""
    fifo = tmp_path / "first"
    os.mkfifo(fifo)
    gone = tmp_path / "gone.log"
    gone.write_bytes(_lines(50, 2))
    writer = _feed(fifo, _lines(0, 2), before_write=gone.unlink)
    try:
        done = _read_in_child([fifo, gone, good])
    finally:
        _release(fifo, writer)
    assert done.returncode == 0, done.stderr
    ids, _summary, problem = done.stdout.splitlines()
    assert ids == str([str(i) for i in [0, 1, *GOOD_IDS]])
    assert problem == (
        f"  {gone}: cannot read: No such file or directory (removed while escudo ran?)"
    )


def test_worker_range_of_a_removed_file_is_reported_once(tmp_path: Path) -> None:
    """What a worker does with a range of a file removed since the ranges were cut: no raise,
    one report however many ranges hit it."""
    path = tmp_path / "big.log"
    path.write_bytes(_lines(0, 10))
    path.unlink()
    stats = ReadStats()
    for offset in (0, 4096):
        batch, range_stats, lines = run_range(SysmonPlan(), str(path), path, offset, 4096)
        assert (batch, lines) == (None, 0)
        stats.merge(range_stats)
    assert [str(p) for p in stats.unreadable] == [
        f"{path}: cannot read: No such file or directory (removed while escudo ran?)"
    ]


def test_dangling_link_in_a_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(_lines(100, 5))
    (tmp_path / "b.log").symlink_to(tmp_path / "rotated-away.log")
    stats = ReadStats()
    assert _ids([tmp_path], stats) == GOOD_IDS
    assert str(_one(stats)) == f"{tmp_path / 'b.log'}: cannot read: No such file or directory"
    assert [i.error is None for i in expand_inputs([tmp_path])] == [True, False]


# --- lines that are not text --------------------------------------------------------------------


def test_invalid_utf8_lines_are_counted_and_located(tmp_path: Path) -> None:
    lines = [
        syslog_line(event_xml({"ProcessId": "1"})).encode(),
        syslog_line(event_xml({"ProcessId": "2", "CommandLine": "caf\udce9"})).encode(
            "utf-8", "surrogateescape"
        ),
        b"Mar 11 09:15:01 web-01 kernel: caf\xe9 noise",
        syslog_line(event_xml({"ProcessId": "3"})).encode(),
    ]
    path = tmp_path / "latin1.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    # one process; workers over byte ranges; workers reading ranges in blocks (raw prefilter)
    for kw in ({"workers": 1}, {"workers": 2}, {"workers": 2, "raw_filter": RawFilter((("-",),))}):
        stats = ReadStats()
        assert _ids([path], stats, chunk_bytes=4096, **kw) == [1, 2, 3]  # kept, with U+FFFD
        assert stats.not_utf8 == 2
        column = lines[1].index(b"\xe9") + 1
        assert [str(p) for p in stats.problems] == [
            f"{path}:2: invalid UTF-8 (byte 0xe9 at column {column})",
            f"{path}:3: invalid UTF-8 (byte 0xe9 at column 35)",
        ]


def test_binary_garbage_is_counted_and_located(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 3  # NUL bytes, invalid UTF-8, three newlines
    path = tmp_path / "crashed.log"
    path.write_bytes(_lines(0, 2) + junk + b"\n" + _lines(2, 2))
    stats = ReadStats()
    assert _ids([path], stats) == [0, 1, 2, 3]
    assert (stats.binary, stats.not_utf8) == (3, 1)
    assert [str(p) for p in stats.problems] == [
        f"{path}:3: binary data (NUL byte at column 1)",
        f"{path}:4: binary data (NUL byte at column 246)",
        f"{path}:5: binary data (NUL byte at column 246)",
        f"{path}:6: invalid UTF-8 (byte 0x80 at column 118)",  # bytes 11 to 255: no NUL
    ]
    assert "; 1 lines with invalid UTF-8 (replaced by U+FFFD); 3 lines of binary data\n" in (
        stats.summary()
    )


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=700).map(lambda b: b.replace(b"\0", b"a")),
    st.integers(0, 700),
    st.sampled_from([b"", b"\0", b"\x80", b"\xff", b"\x7f"]),
)
def test_c_plain_text_is_ascii_without_nul(data: bytes, at: int, odd: bytes) -> None:
    """The C fast test of first_bad_text against its definition, at every position of a word
    and of a 256-byte step."""
    _scan = pytest.importorskip("escudo.sources._scan")  # built where a compiler is found
    data = data[:at] + odd + data[at:]
    assert _scan.plain_text(data) is (data.isascii() and b"\0" not in data)
    assert _scan.plain_text(memoryview(data)[1:]) is (data[1:].isascii() and b"\0" not in data[1:])
