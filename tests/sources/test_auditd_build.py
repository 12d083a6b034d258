"""The events path's C chunk builder (``_auditd.build`` behind ``EventPlan._built``) gives the
batch its Python specification (``EventPlan._fast``) gives, for any chunk of bare records: every
event built in C or left to Python, edges, interleaving, odd values."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escudo.datamodels.normalize import read_dataset
from escudo.sources import auditd_events
from escudo.sources.auditd import EVENT_FIELDS, RawPlan
from escudo.sources.auditd_events import EventPlan, assemble
from escudo.sources.base import ReadStats
from escudo.sources.reader import read_batches

needs_c = pytest.mark.skipif(auditd_events._auditd is None, reason="built without the C module")


class PythonPlan(EventPlan):
    """The plan without its C builder: the whole-chunk Python path (the specification)."""

    def _built(self, data: bytes) -> None:
        return None


def _hex(text: str) -> str:
    return text.encode().hex().upper()


# Values as the kernel writes them (quoted, hex) and as it does not (bare, lower case, cut).
EXES = ['"/usr/bin/ls"', _hex("/tmp/a b/x"), _hex("/tmp/\u00e9t\u00e9"), "/bin/bare", '""', "ABCD"]
ARGS = ['"ls"', _hex("-l a"), _hex("a\0b"), "(null)", '""', _hex("\u212a"), "2d6c", "ABCD"]
COMMS = ['"ls"', _hex("a b"), '"a b"']
KEYS = ["(null)", '"k"', _hex("key"), _hex("k\0y")]
TITLES = ["proctitle=" + _hex("ls\0-l"), 'proctitle="ls"', "x=1"]
LS_L = _hex("ls\0-l")
NAMES = ['"/usr/bin/ls"', '"x.txt"', '"/tmp/new"', _hex("/tmp/a b"), _hex("rel dir/f"), '""']


def _syscall(draw: st.DrawFn) -> str:
    arch = draw(st.sampled_from(["c000003e", "40000003", "c00000b7", "deadbeef"]))
    number = draw(st.sampled_from(["59", "322", "11", "221", "257", "87"]))
    fields = [
        f"arch={arch}", f"syscall={number}", f"success={draw(st.sampled_from(['yes', 'no']))}",
        "exit=0", f"ppid={draw(st.integers(1, 9))}", f"pid={draw(st.integers(1, 9))}",
        "auid=1000", f"uid={draw(st.sampled_from(['0', '33']))}", "gid=0", "euid=0", "ses=3",
        "tty=pts0", f"comm={draw(st.sampled_from(COMMS))}",
        f"exe={draw(st.sampled_from(EXES))}",
        f"key={draw(st.sampled_from(KEYS))}",
    ]  # fmt: skip
    kept = [f for f in fields if draw(st.integers(0, 9))]  # now and then a field missing
    body = " ".join(kept)
    if not draw(st.integers(0, 7)):
        body += '\x1dARCH=x86_64 SYSCALL=execve UID="root" AUID="alice"'
    return body


def _execve(draw: st.DrawFn) -> str:
    count = draw(st.integers(0, 4))
    words = [f"argc={count}"] if draw(st.integers(0, 5)) else []
    for i in range(count):
        key = draw(st.sampled_from([f"a{i}", f"a{i}", f"a{i}", "a1", "a01", f"a{i}[0]", "a1_len"]))
        words.append(f"{key}={draw(st.sampled_from(ARGS))}")
    sep = draw(st.sampled_from([" ", " ", " ", "  ", "\t"]))
    return sep.join(words)


def _path(draw: st.DrawFn) -> str:
    item = [f"item={draw(st.integers(0, 2))}"]
    if draw(st.integers(0, 5)):
        item.append(f"name={draw(st.sampled_from(NAMES))}")
    item.append("inode=1 dev=fd:01")
    kind = draw(st.sampled_from(["NORMAL", "CREATE", "DELETE", "PARENT", ""]))
    item.append(f"nametype={kind}")
    if draw(st.integers(0, 3)) == 0:
        item.append(f"objtype={draw(st.sampled_from(['CREATE', 'DELETE', 'NORMAL']))}")
    return " ".join(item)


@st.composite
def _event(draw: st.DrawFn, serial: int) -> list[str]:
    node = draw(st.sampled_from([None, "web-1", "h"]))
    seconds = draw(st.sampled_from(["1791971700", "1791971701", "100000000000"]))
    head = f"node={node} " if node else ""
    stamp = f"msg=audit({seconds}.{draw(st.sampled_from(['123', '5', '000']))}:{serial}):"
    records = []
    kinds = draw(
        st.lists(
            st.sampled_from(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE", "USER_CMD"]),
            min_size=1,
            max_size=7,
        )
    )
    for kind in kinds:
        if kind == "SYSCALL":
            body = _syscall(draw)
        elif kind == "EXECVE":
            body = _execve(draw)
        elif kind == "CWD":
            body = draw(st.sampled_from(['cwd="/root"', f"cwd={_hex('/home/a b')}", "x=1"]))
        elif kind == "PATH":
            body = _path(draw)
        elif kind == "PROCTITLE":
            body = draw(st.sampled_from(TITLES))
        elif kind == "EOE":
            body = ""
        else:
            body = "pid=1 uid=0 msg='cwd=\"/\" cmd=6C73 res=success'"
        records.append(f"{head}type={kind} {stamp} {body}")
    return records


@st.composite
def _chunk(draw: st.DrawFn) -> bytes:
    events = [draw(_event(serial)) for serial in range(draw(st.integers(1, 12)))]
    lines = []
    queue = [list(e) for e in events]
    rng = random.Random(draw(st.integers(0, 1000)))
    while queue:  # interleaved, each event's own order kept
        pick = rng.randrange(min(3, len(queue)))
        lines.append(queue[pick].pop(0))
        if not queue[pick]:
            queue.pop(pick)
    return ("\n".join(lines) + draw(st.sampled_from(["\n", ""]))).encode()


PROCESSES = ("record_type", "time", "dest", "user", "exe", "pid", "command_line", "ppid", "cwd",
             "uid")  # fmt: skip
FILESYSTEM = ("record_type", "time", "dest", "user", "exe", "pid", "command_line", "file_path",
              "file_action")  # fmt: skip


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_chunk(), edge=st.integers(0, 6))
def test_c_builder_equals_python(data: bytes, edge: int) -> None:
    for fields in (tuple(EVENT_FIELDS), PROCESSES, FILESYSTEM):
        assert EventPlan(fields, None, None, edge)._built(data) is not None  # the C path ran
        got, got_stats = EventPlan(fields, None, None, edge)(data, "f")
        want, want_stats = PythonPlan(fields, None, None, edge)(data, "f")
        assert got.to_pylist() == want.to_pylist()
        assert got.schema == want.schema
        assert (got_stats.filtered, got_stats.malformed) == (want_stats.filtered, 0)


def _assembled(path: Path, fields: tuple[str, ...], chunk: int, edge: int) -> list[Any]:
    stats = ReadStats()
    plan = EventPlan(fields, None, None, edge)
    batches = read_batches([path], plan, stats=stats, chunk_bytes=chunk)
    rows = [r for b in assemble(batches, fields, None, None, stats, edge) for r in b.to_pylist()]
    return [rows, stats.events, stats.other, stats.malformed]


@needs_c
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(_chunk(), min_size=1, max_size=4),
    chunk=st.integers(200, 4000),
    edge=st.integers(0, 8),
)
def test_c_paths_assemble_as_python(chunks: list[bytes], chunk: int, edge: int) -> None:
    """Events cut by chunks of any size, their pieces joined by the assembler (whose pieces of
    bare records go through the C builder too): the rows of the pure-Python paths."""
    data = b"".join(c if c.endswith(b"\n") else c + b"\n" for c in chunks)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.log"
        path.write_bytes(data)
        for fields in (tuple(EVENT_FIELDS), PROCESSES):
            got = _assembled(path, fields, chunk, edge)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(auditd_events, "_auditd", None)  # the fallback: no C module
                assert _assembled(path, fields, chunk, edge) == got


@needs_c
def test_c_builder_builds_the_kernels_exec_events() -> None:
    """An exec event as the kernel writes it is built in C (nothing left to Python)."""
    lines = [
        "type=SYSCALL msg=audit(1.000:7): arch=c000003e syscall=59 success=yes exit=0 ppid=1 "
        f'pid=2 uid=0 comm="ls" exe={_hex("/tmp/a b")} key=(null)',
        f'type=EXECVE msg=audit(1.000:7): argc=2 a0="ls" a1={_hex("-l a")}',
        'type=CWD msg=audit(1.000:7): cwd="/root"',
        'type=PATH msg=audit(1.000:7): item=0 name="/tmp/new" nametype=CREATE',
        f"type=PROCTITLE msg=audit(1.000:7): proctitle={LS_L}",
    ]
    data = "\n".join(["type=EOE msg=audit(0.5:1): ", *lines, "type=EOE msg=audit(2.5:9): "])
    lines_count, listed, built = auditd_events._auditd.build(data.encode(), 1)
    assert (lines_count, [g[0] for g in listed], built[0]) == (7, [0, 2], 1)
    row = EventPlan(tuple(EVENT_FIELDS), None, None, 1)(data.encode(), "f")[0].to_pylist()[1]
    assert (row["exe"], row["command_line"], row["proctitle"], row["path"]) == (
        "/tmp/a b",
        "ls -l a",
        "ls -l",
        "/tmp/new",
    )


def _one(tmp_path: Path, dataset: str, lines: list[str]) -> dict[str, Any]:
    path = tmp_path / "audit.log"
    pad = [f"type=EOE msg=audit(1600000000.000:{n}): " for n in range(600)]  # off the edges
    path.write_text("\n".join([*pad, *lines, *pad]) + "\n")
    rows = [r for b in read_dataset([path], dataset, stats=ReadStats()) for r in b.to_pylist()]
    assert len(rows) == 1
    return rows[0]


def test_filesystem_user_and_proctitle_command_line(tmp_path: Path) -> None:
    """The user of a file event is its uid (as when every field is built), and an exec whose
    EXECVE record gives no argument has its PROCTITLE as command line, whatever fields a read
    asks (the whole-chunk path left them out when the data set did not ask uid or proctitle)."""
    head = "type={} msg=audit(1700000000.{:03d}:{}): "
    created = [
        head.format("SYSCALL", 1, 5) + "arch=c000003e syscall=257 success=yes exit=3 ppid=1 "
        'pid=9 uid=33 comm="touch" exe="/usr/bin/touch" key=(null)',
        head.format("PATH", 1, 5) + 'item=0 name="/tmp/new" nametype=CREATE',
    ]
    assert _one(tmp_path, "Endpoint.Filesystem", created)["user"] == "33"
    execed = [
        head.format("SYSCALL", 2, 6) + "arch=c000003e syscall=59 success=yes exit=0 ppid=1 "
        'pid=10 uid=0 comm="ls" exe="/usr/bin/ls" key=(null)',
        head.format("EXECVE", 2, 6) + "argc=0",
        head.format("PROCTITLE", 2, 6) + f"proctitle={LS_L}",
    ]
    assert _one(tmp_path, "Endpoint.Processes", execed)["process"] == "ls -l"


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A chunk of bare records, now and then a line cut, a piece inserted or a long node name."""
    lines = draw(_chunk()).split(b"\n")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        where = draw(st.integers(0, len(line)))
        piece = draw(st.sampled_from([b"", b'"', b"'", b"\x1d", b"\xc3\xa9", b"\r", b"A", b"  "]))
        lines[at] = line[:where] + piece if piece == b"" else line[:where] + piece + line[where:]
    if draw(st.booleans()):
        lines[0] = b"node=" + b"n" * draw(st.integers(90, 260)) + b" " + lines[0]
    return b"\n".join(lines)


@needs_c
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated())
def test_c_raw_records_equal_python(data: bytes) -> None:
    """The raw events (one per record line) of the C path are those of the line-by-line path,
    counts and problems included, whatever the chunk holds."""
    got, got_stats = RawPlan(None)(data, "f")
    want, want_stats = RawPlan(None, exact=True)(data, "f")
    assert got.to_pylist() == want.to_pylist()
    assert got_stats == want_stats
