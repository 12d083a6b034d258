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
