"""FileInput follows files like ``tail -F``: rotation by rename and copytruncate, new files,
compressed rotations, partial lines, and restore from a checkpoint after a crash."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from escudo.watch.base import Piece, WatchInput
from escudo.watch.files import FINGERPRINT_BYTES, FileInput


def drain(follow: FileInput, max_bytes: int = 1 << 20) -> list[Piece]:
    """Poll until nothing new."""
    out: list[Piece] = []
    while pieces := follow.poll(max_bytes):
        out.extend(pieces)
    return out


def lines(pieces: list[Piece]) -> list[bytes]:
    return [line for p in pieces for line in p.data.splitlines()]


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def restarted(follow: FileInput) -> FileInput:
    """A new input resumed from ``follow``'s checkpoint (through JSON, as the loop stores it),
    as after a crash: ``follow`` is dropped."""
    state = json.loads(json.dumps(follow.checkpoint()))
    follow.close()
    again = FileInput(follow.pattern, rotated_grace=0)
    again.restore(state)
    return again


def test_is_a_watch_input(tmp_path: Path) -> None:
    follow = FileInput(str(tmp_path / "x.log"))
    assert isinstance(follow, WatchInput)
    assert follow.name == f"file:{tmp_path / 'x.log'}"


def test_whole_lines_only_and_line_numbers(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\npar")
    follow = FileInput(str(log), sourcetype="sysmon:linux")
    follow.restore(None)
    first = drain(follow)
    assert [(p.data, p.first_line, p.name, p.sourcetype) for p in first] == [
        (b"a\nb\n", 1, str(log), "sysmon:linux")
    ]
    assert drain(follow) == []  # the partial line waits
    append(log, b"tial\nc\n")
    assert [(p.data, p.first_line) for p in drain(follow)] == [(b"partial\nc\n", 3)]


def test_max_bytes_bounds_a_poll_but_a_long_line_comes_whole(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    long_line = b"x" * 300_000 + b"\n"
    log.write_bytes(b"".join(b"%05d\n" % i for i in range(1000)) + long_line + b"end\n")
    follow = FileInput(str(log))
    follow.restore(None)
    sizes = []
    got: list[bytes] = []
    while pieces := follow.poll(1000):
        sizes.append(sum(len(p.data) for p in pieces))
        got.extend(lines(pieces))
    assert got == [b"%05d" % i for i in range(1000)] + [long_line[:-1], b"end"]
    assert max(sizes) == len(long_line)  # the long line is never split, and comes alone
    assert sorted(sizes)[-2] <= 1000  # the others stay within max_bytes


def test_rotation_by_rename_in_the_glob(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n2\n")
    follow = FileInput(str(tmp_path / "app.log*"))
    follow.restore(None)
    assert lines(drain(follow)) == [b"1", b"2"]
    append(log, b"3\n4")  # a half-written line at the rotation
    log.rename(tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", b"\n5\n")  # the writer finishes before it reopens
    log.write_bytes(b"6\n")
    pieces = drain(follow)
    assert lines(pieces) == [b"3", b"4", b"5", b"6"]
    assert [(Path(p.name).name, p.first_line) for p in pieces] == [("app.log.1", 3), ("app.log", 1)]
    append(log, b"7\n")
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")  # rotated once more: nothing new
    assert lines(drain(follow)) == [b"7"]


def test_rotation_by_rename_out_of_a_single_name(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n")
    follow = FileInput(str(log), rotated_grace=0)
    follow.restore(None)
    assert lines(drain(follow)) == [b"1"]
    append(log, b"2\n3")
    log.rename(tmp_path / "old.log")  # out of the pattern: finished through the open file
    log.write_bytes(b"4\n")
    assert lines(drain(follow)) == [b"2", b"3", b"4"]  # the last line of a finished file
    state = json.loads(json.dumps(follow.checkpoint()))
    assert [f["path"] for f in state["files"]] == [str(log)]  # the finished file is dropped


def test_copytruncate_single_name(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n2\n")
    follow = FileInput(str(log))
    follow.restore(None)
    assert lines(drain(follow)) == [b"1", b"2"]
    shutil.copyfile(log, tmp_path / "copy.log")
    os.truncate(log, 0)
    append(log, b"3\n")
    pieces = drain(follow)
    assert lines(pieces) == [b"3"] and pieces[0].first_line == 1


def test_truncated_and_regrown_past_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"old 1\n")
    follow = FileInput(str(log))
    follow.restore(None)
    assert lines(drain(follow)) == [b"old 1"]
    with open(log, "wb") as fh:  # truncated, then more written than was read before
        fh.write(b"new 1\nnew 2\n")
    assert lines(drain(follow)) == [b"new 1", b"new 2"]


@pytest.mark.parametrize("size", [20, 2 * FINGERPRINT_BYTES])
def test_copytruncate_with_the_copy_in_the_glob(tmp_path: Path, size: int) -> None:
    log = tmp_path / "app.log"
    head = b"".join(b"line %04d\n" % i for i in range(size // 10))
    log.write_bytes(head)
    follow = FileInput(str(tmp_path / "app.log*"))
    follow.restore(None)
    assert len(lines(drain(follow))) == size // 10
    append(log, b"unread\n")  # written before the copy, not yet read
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    append(log, b"after\n")
    assert lines(drain(follow)) == [b"unread", b"after"]


def test_new_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"a\n")
    (tmp_path / ".hidden").write_bytes(b"hidden\n")
    follow = FileInput(str(tmp_path))
    follow.restore(None)
    assert lines(drain(follow)) == [b"a"]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log").write_bytes(b"b\n")
    (tmp_path / "c.log").write_bytes(b"")
    assert lines(drain(follow)) == [b"b"]
    append(tmp_path / "c.log", b"c\n")
    assert lines(drain(follow)) == [b"c"]


def test_compressed_rotations_are_not_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    (tmp_path / "app.log.3.gz").write_bytes(gzip.compress(b"archived\n"))
    log.write_bytes(b"1\n")
    follow = FileInput(str(tmp_path / "app.log*"))
    follow.restore(None)
    assert lines(drain(follow)) == [b"1"]
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"2\n")
    assert lines(drain(follow)) == [b"2"]
    # logrotate's compress: the rotated file is compressed into a new file, then removed; the
    # new file is seen empty first, then with its gzip data
    gz = tmp_path / "app.log.1.gz"
    gz.write_bytes(b"")
    assert drain(follow) == []
    gz.write_bytes(gzip.compress((tmp_path / "app.log.1").read_bytes()))
    (tmp_path / "app.log.1").unlink()
    append(log, b"3\n")
    assert lines(drain(follow)) == [b"3"]


def test_restore_resumes_at_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n2\n")
    follow = FileInput(str(log))
    follow.restore(None)
    assert lines(drain(follow)) == [b"1", b"2"]
    append(log, b"3\n")
    follow = restarted(follow)
    pieces = drain(follow)
    assert lines(pieces) == [b"3"] and pieces[0].first_line == 3


def test_restore_after_a_rotation_by_rename_meanwhile(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n")
    follow = FileInput(str(log))  # the rotated name is not in the pattern
    follow.restore(None)
    assert lines(drain(follow)) == [b"1"]
    state = json.loads(json.dumps(follow.checkpoint()))
    follow.close()  # down: lines appended, the file rotated, a new one started
    append(log, b"2\n")
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"3\n")
    again = FileInput(str(log), rotated_grace=0)
    again.restore(state)
    pieces = drain(again)
    assert lines(pieces) == [b"2", b"3"]
    assert [(Path(p.name).name, p.first_line) for p in pieces] == [("app.log.1", 2), ("app.log", 1)]


def test_restore_after_a_copytruncate_meanwhile(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"1\n")
    follow = FileInput(str(log))
    follow.restore(None)
    assert lines(drain(follow)) == [b"1"]
    state = json.loads(json.dumps(follow.checkpoint()))
    follow.close()
    append(log, b"2\n")
    shutil.copyfile(log, tmp_path / "app.log.1")  # found by its fingerprint
    os.truncate(log, 0)
    append(log, b"3\n")
    again = FileInput(str(log), rotated_grace=0)
    again.restore(state)
    assert lines(drain(again)) == [b"2", b"3"]


def test_restore_when_the_file_was_replaced(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first file\n")
    follow = FileInput(str(log))
    follow.restore(None)
    drain(follow)
    state = json.loads(json.dumps(follow.checkpoint()))
    follow.close()
    with open(log, "wb") as fh:  # same inode, other content: a new file
        fh.write(b"second file, longer than the first\n")
    again = FileInput(str(log))
    again.restore(state)
    assert lines(drain(again)) == [b"second file, longer than the first"]


@pytest.mark.parametrize("seed", range(6))
def test_random_rotations_and_crashes_lose_and_repeat_nothing(tmp_path: Path, seed: int) -> None:
    """Appends (sometimes a half line), rotations by rename and by copytruncate, crashes with a
    restore from the last checkpoint: every line is handed out once (in the order written
    within a file; a copy's lines and its truncated original's may interleave)."""
    rng = random.Random(seed)
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follow = FileInput(str(tmp_path / "app.log*"), rotated_grace=0)
    follow.restore(None)
    written: list[bytes] = []
    got: list[bytes] = []
    pending = b""  # a line begun, not finished
    state = follow.checkpoint()
    since_state: list[bytes] = []  # handed out after ``state``: lost in a crash, read again
    for step in range(120):
        action = rng.random()
        if action < 0.5:
            batch = [b"s%d n%d.%d %s" % (seed, step, i, b"x" * rng.randrange(80)) for i in range(3)]
            data = (pending + b"\n" if pending else b"") + b"\n".join(batch) + b"\n"
            written.extend(batch)
            pending = b""
            if rng.random() < 0.3:
                pending = b"s%d n%d half" % (seed, step)
                written.append(pending)
                data += pending[:4]
                pending = pending[4:]
            append(log, data)
        elif action < 0.72 and not pending:  # rotated names as logrotate's dateext
            rotated = tmp_path / f"app.log.{step}"
            if action < 0.65:
                log.rename(rotated)
                log.write_bytes(b"")
            else:
                shutil.copyfile(log, rotated)
                os.truncate(log, 0)
        elif action < 0.85:
            pieces = lines(follow.poll(rng.choice([100, 1000, 1 << 20])))
            got.extend(pieces)
            since_state.extend(pieces)
        elif action < 0.93:
            state = json.loads(json.dumps(follow.checkpoint()))
            since_state = []
        else:  # crash: what was handed out after the last checkpoint is handed out again
            follow.close()
            del got[len(got) - len(since_state) :]
            since_state = []
            follow = FileInput(str(tmp_path / "app.log*"), rotated_grace=0)
            follow.restore(state)
    if pending:
        append(log, pending + b"\n")
    got.extend(lines(drain(follow)))
    follow.close()
    assert sorted(got) == sorted(written)
    assert len(set(got)) == len(got)


@pytest.mark.parametrize("packer", ["gzip", "bz2", "xz"])
def test_restore_after_a_rotation_compressed_meanwhile(tmp_path: Path, packer: str) -> None:
    """Rotated and compressed while escudo was down (logrotate's compress without
    delaycompress): the rest of the file is read from the archive, once, even across another
    crash in the middle of it; the archive is not read again afterwards."""
    import bz2
    import lzma

    packers: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress
    }  # fmt: skip
    compress = packers[packer]
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"old %03d\n" % i for i in range(300)))  # past the fingerprint
    follow = FileInput(str(tmp_path / "app.log*"))
    follow.restore(None)
    assert len(lines(follow.poll(1000))) < 300
    state = json.loads(json.dumps(follow.checkpoint()))
    read_before = int(state["files"][0]["line"])
    follow.close()
    append(log, b"older tail")  # a last line without its newline
    (tmp_path / "app.log.1.z").write_bytes(compress(log.read_bytes()))
    log.unlink()
    log.write_bytes(b"new 1\n")
    again = FileInput(str(tmp_path / "app.log*"))
    again.restore(state)
    pieces = again.poll(500)  # part of the archive, then a crash
    first = lines(pieces)
    assert first[0] == b"old %03d" % read_before and pieces[0].first_line == read_before + 1
    again = restarted(again)
    rest = lines(drain(again))
    assert first + rest == [b"old %03d" % i for i in range(read_before, 300)] + [
        b"older tail",
        b"new 1",
    ]
    append(log, b"new 2\n")
    assert lines(drain(again)) == [b"new 2"]
    assert lines(drain(restarted(again))) == []
