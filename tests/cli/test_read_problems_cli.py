"""A bad input next to a good one, end to end through ``escudo events``, ``hunt`` and ``search``:
the good file's events all count, the bad one is one stderr line ``path: reason`` (or
``path:line: reason``), exit 0, exit 2 with ``--strict``, never a traceback (issue 9)."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from escudo.cli import main

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
SEED = "Linux Ngrok Reverse Proxy Usage"
# The sample without the seed's needle: a bad input's readable part adds no hunt or search row.
QUIET = SAMPLE.read_bytes().replace(b"ngrok", b"nkorg").replace(b"NGROK", b"NKORG")


def _truncated(d: Path) -> Path:
    whole = gzip.compress(QUIET * 20, compresslevel=1)
    (d / "cut.gz").write_bytes(whole[: len(whole) * 2 // 3])
    return d / "cut.gz"


def _bad_crc(d: Path) -> Path:
    raw = bytearray(gzip.compress(QUIET))
    raw[-8] ^= 0xFF  # the trailer's CRC-32 (RFC 1952 section 2.3)
    (d / "crc.gz").write_bytes(bytes(raw))
    return d / "crc.gz"


def _trailing(d: Path) -> Path:
    (d / "trailing.gz").write_bytes(gzip.compress(QUIET) + b"not gzip")
    return d / "trailing.gz"


def _unreadable(d: Path) -> Path:
    return Path("/proc/self/mem")  # opens, then reading its first page fails (EIO), root or not


def _invalid_utf8(d: Path) -> Path:
    (d / "latin1.log").write_bytes(QUIET + b"Mar 11 09:16:00 web-01 kernel: caf\xe9\n")
    return d / "latin1.log"


def _binary(d: Path) -> Path:
    (d / "crashed.log").write_bytes(QUIET + b"\x00\x00\x00\x00\x7fELF\x02\x01\n")
    return d / "crashed.log"


def _fifo_in_directory(d: Path) -> Path:
    (d / "logs").mkdir()
    (d / "logs" / "a.log").write_bytes(QUIET)
    os.mkfifo(d / "logs" / "b.pipe")
    return d / "logs" / "b.pipe"


BAD: dict[str, Callable[[Path], Path]] = {
    "truncated gz": _truncated,
    "bad crc": _bad_crc,
    "trailing garbage": _trailing,
    "unreadable file": _unreadable,
    "invalid utf-8": _invalid_utf8,
    "binary garbage": _binary,
    "fifo in a directory": _fifo_in_directory,
}

COMMANDS = {
    "events": ["events", "-f", "csv"],
    "hunt": ["hunt", "--detection", SEED, "--format", "jsonl"],
    "search": [
        "search",
        "| tstats count from datamodel=Endpoint.Processes"
        " where Processes.process_name=ngrok by Processes.dest",
        "--format",
        "jsonl",
    ],
}


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", BAD)
def test_good_file_next_to_a_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    bad = BAD[case](tmp_path)
    given = bad.parent if case == "fifo in a directory" else bad
    args = COMMANDS[command]
    code, alone, _ = _run([*args, str(SAMPLE)], capsys)
    assert code == 0
    code, out, err = _run([*args, str(SAMPLE), str(given)], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    if command == "events":  # every row of the good file, then what the bad one held
        assert out.splitlines()[: len(alone.splitlines())] == alone.splitlines()
    else:  # the bad input holds no ngrok event: the same rows as the good file alone
        assert out == alone and out
    about = [line for line in err.splitlines() if str(bad) in line]
    assert len(about) == 1, err
    assert re.fullmatch(rf"  {re.escape(str(bad))}(:\d+)?: [a-z].*", about[0]), about[0]
    code, _, err = _run([*args, "--strict", str(SAMPLE), str(given)], capsys)
    assert code == 2
    assert err.splitlines()[-1].startswith("escudo: error: --strict: ")
    assert "Traceback" not in err


def test_fifo_named_on_the_command_line_is_read_like_stdin(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'exec cat "$0" > "$1"', str(SAMPLE), str(fifo)])
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from escudo.cli import run; run()", "events", "-f", "csv",
             "--strict", str(fifo), str(SAMPLE)],
            capture_output=True,
            text=True,
            timeout=300,  # a guard: a reader that never opens the FIFO must fail, not hang
            check=False,
        )  # fmt: skip
    finally:
        if writer.poll() is None:  # the reader never opened the FIFO: release the writer
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.wait()
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 2 * 27  # header, the sample twice
    assert done.stderr.startswith("escudo: read 54 events;")


# A user detection on Endpoint.Filesystem: with the seed (Endpoint.Processes), a hunt of two reads.
ANY_USE = ROOT / "tests" / "fixtures" / "content" / "user" / "detections" / "endpoint"
FILES_SEEN = re.sub(
    r"^search: .*$",
    "search: '| tstats count from datamodel=Endpoint.Filesystem by Filesystem.dest"
    " | `drop_dm_object_name(Filesystem)`'",
    (ANY_USE / "linux_ngrok_any_use.yml")
    .read_text()
    .replace("Linux Ngrok Any Use", "Files Seen")
    .replace("6f1c5d8e-0b8e-4d1e-9a77-4a0b1d7c9e21", "0d7c0a52-1f0e-4c55-9a4c-7f4f3b0c2e11"),
    flags=re.MULTILINE,
)


@pytest.mark.parametrize("via", ["stdin", "fifo"])
def test_a_stream_feeds_every_data_set_of_a_hunt(tmp_path: Path, via: str) -> None:
    """Two detections on two data sets are two reads of the input: a stream is read once (kept
    for the second read), not found empty (stdin) or waited on forever (a FIFO opened again)."""
    content = tmp_path / "content" / "detections"
    content.mkdir(parents=True)
    (content / "files_seen.yml").write_text(FILES_SEEN)
    args = ["hunt", "--detection", SEED, "--detection", "Files Seen", "--format", "jsonl"]
    args += ["--content", str(tmp_path / "content")]
    entry = [sys.executable, "-c", "from escudo.cli import run; run()", *args]

    def hunt(path: str, data: bytes | None) -> subprocess.CompletedProcess[bytes]:
        # timeout: a guard, so a reader waiting on the FIFO fails the test instead of hanging it
        return subprocess.run([*entry, path], input=data, capture_output=True, timeout=300)

    expected = hunt(str(SAMPLE), None)
    assert expected.returncode == 0, expected.stderr
    assert b'"detection": "Files Seen"' in expected.stdout
    if via == "stdin":
        got = hunt("-", SAMPLE.read_bytes())
    else:
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        writer = subprocess.Popen(["sh", "-c", 'exec cat "$0" > "$1"', str(SAMPLE), str(fifo)])
        try:
            got = hunt(str(fifo), None)
        finally:
            if writer.poll() is None:
                os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            writer.wait()
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected.stdout


# capability(7): without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, root is bound by permissions.
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_dac_capabilities() -> None:
    """In the child before exec: out of the bounding set, so the exec'd root process lacks them."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _events(paths: list[Path], strict: bool = False) -> subprocess.CompletedProcess[str]:
    """``escudo events`` in a child that file permissions bind (root included)."""
    args = ["events", "-F", "process_id", "-f", "csv", *(["--strict"] if strict else [])]
    try:
        return subprocess.run(
            [sys.executable, "-c", "from escudo.cli import run; run()", *args, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=300,  # a guard: a reader waiting on a FIFO must fail the test, not hang it
            check=False,
            preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None,
        )
    except subprocess.SubprocessError as exc:  # the preexec_fn failed: no CAP_SETPCAP here
        pytest.skip(f"cannot drop root's file capabilities: {exc}")


def _check(done: subprocess.CompletedProcess[str], rows: int, bad: Path, reason: str) -> None:
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + rows  # the header, every row of the good file
    assert [line for line in done.stderr.splitlines() if str(bad) in line] == [f"  {bad}: {reason}"]
    assert "Traceback" not in done.stderr


def test_unreadable_file_and_directory_next_to_a_good_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.log"
    secret.write_bytes(QUIET)
    secret.chmod(0)
    (tmp_path / "logs" / "locked").mkdir(parents=True)
    (tmp_path / "logs" / "locked" / "x.log").write_bytes(QUIET)
    (tmp_path / "logs" / "locked").chmod(0)
    try:
        for bad, given, reason in [
            (secret, secret, "cannot read: Permission denied"),
            (
                tmp_path / "logs" / "locked",
                tmp_path / "logs",
                "cannot list directory: Permission denied",
            ),
        ]:
            _check(_events([SAMPLE, given]), 27, bad, reason)
            done = _events([SAMPLE, given], strict=True)
            assert done.returncode == 2
            assert done.stderr.splitlines()[-1].startswith("escudo: error: --strict: ")
    finally:
        (tmp_path / "logs" / "locked").chmod(0o755)  # so pytest can remove it


@pytest.mark.parametrize("strict", [False, True])
def test_file_removed_mid_run_next_to_a_good_file(tmp_path: Path, strict: bool) -> None:
    """A FIFO first: escudo has listed ``gone.log`` when it opens the FIFO; the writer removes
    ``gone.log`` then, before escudo's turn comes to it."""
    fifo = tmp_path / "first"
    os.mkfifo(fifo)
    gone = tmp_path / "gone.log"
    gone.write_bytes(QUIET)
    script = 'exec 3>"$0"; rm "$1"; cat "$2" >&3'  # open the FIFO, remove the file, then write
    writer = subprocess.Popen(["sh", "-c", script, str(fifo), str(gone), str(SAMPLE)])
    try:
        done = _events([fifo, gone, SAMPLE], strict=strict)
    finally:
        if writer.poll() is None:  # the reader never opened the FIFO: release the writer
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.wait()
    reason = "cannot read: No such file or directory (removed while escudo ran?)"
    if strict:
        assert done.returncode == 2 and "escudo: error: --strict: " in done.stderr
    else:
        _check(done, 2 * 27, gone, reason)
