"""The auditd hunt's fast path (``auditd_hunt``): the C index equals its Python specification,
and a hunt through it gives the rows and counts the general path gives (every event built)."""

from __future__ import annotations

import itertools
import os
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from auditd_lines import Exec, exec_records, interleave, tree

from escudo.sources import auditd_events, auditd_hunt
from escudo.sources.auditd import EVENT_FIELDS, AuditdSource
from escudo.sources.auditd_events import Assembler, EventPlan, assemble
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.reader import read_batches

FIELDS = tuple(EVENT_FIELDS)
STAMP = "msg=audit({t:.3f}:{s}):"


class GeneralPlan(EventPlan):
    """The plan without its whole-chunk paths: every event parsed and built (the reference)."""

    def _indexed(self, *args: Any) -> None:
        return None

    def _fast(self, data: bytes) -> None:
        return None


def _odd_events(node: str | None, start: int) -> list[list[str]]:
    """Events the fast path must sort out as the general path does."""
    head = f"node={node} " if node else ""
    t = 1791971800.0 + start

    def rec(kind: str, serial: int, body: str, at: float) -> str:
        return f"{head}type={kind} {STAMP.format(t=at, s=serial)} {body}"

    s = start
    title = "6E67726F6B0068747470003830"  # "ngrok http 80" with NULs
    return [
        # an exec with no EXECVE record (syscall 59): its image is a parent all the same
        [rec("SYSCALL", s, "arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=7001 uid=0 "
             'comm="dash" exe="/usr/bin/dash" key=(null)', t),
         rec("CWD", s, 'cwd="/"', t), rec("PROCTITLE", s, "proctitle=64617368", t)],
        # its child: ngrok, whose "http" is only in the PROCTITLE hex (no EXECVE either)
        [rec("SYSCALL", s + 1, "arch=c000003e syscall=59 success=yes exit=0 ppid=7001 pid=7002 "
             'uid=0 comm="ngrok" exe="/usr/local/bin/ngrok" key=(null)', t + 0.1),
         rec("PROCTITLE", s + 1, f"proctitle={title}", t + 0.1)],
        # ENRICHED SYSCALL=execve on an unknown arch, and a failed exec
        [rec("SYSCALL", s + 2, "arch=deadbeef syscall=1 success=yes exit=0 ppid=7002 pid=7003 "
             'uid=0 comm="x" exe="/opt/x" key=(null)\x1dARCH=? SYSCALL=execve UID="root"',
             t + 0.2)],
        [rec("SYSCALL", s + 3, "arch=c000003e syscall=59 success=no exit=-2 ppid=7002 pid=7004 "
             'uid=0 comm="ngrok" exe="/nope/ngrok" key=(null)', t + 0.3)],
        # ngrok hex-encoded only: an exe with a space, upper case; a Kelvin sign for its k
        exec_records(Exec(s + 4, t + 0.4, 7005, 7001, "/tmp/a b/NGROK", ["x", "tcp"], node=node)),
        exec_records(Exec(s + 5, t + 0.5, 7006, 7005, "/tmp/a b/ngro\u212a", ["y", "tcp"], node=node)),
        # a quoted value with a space (not the kernel's, but readable): the exact path
        [rec("SYSCALL", s + 6, "arch=c000003e syscall=59 success=yes exit=0 ppid=7006 pid=7007 "
             'uid=0 comm="a b" exe="/usr/bin/env" key=(null)', t + 0.6),
         rec("EXECVE", s + 6, 'argc=2 a0="env" a1="ngrok"', t + 0.6)],
        # a user-space record with msg='...' holding a hex-encoded ngrok, and a file creation
        [rec("USER_CMD", s + 7, "pid=7008 uid=0 auid=0 msg='cwd=\"/\" cmd=6E67726F6B20746370 "
             "terminal=pts/0 res=success'", t + 0.7)],
        [rec("SYSCALL", s + 8, "arch=c000003e syscall=257 success=yes exit=3 ppid=1 pid=7009 "
             'uid=0 comm="touch" exe="/usr/bin/touch" key=(null)', t + 0.8),
         rec("CWD", s + 8, 'cwd="/tmp"', t + 0.8),
         rec("PATH", s + 8, 'item=0 name="ngrok.yml" nametype=CREATE', t + 0.8)],
        # pid 7001 reused by another image: the latest exec wins for later children
        exec_records(Exec(s + 9, t + 0.9, 7001, 1, "/usr/bin/zsh", ["zsh"], node=node)),
        exec_records(Exec(s + 10, t + 1.0, 7010, 7001, "/tmp/ngrok", ["ngrok", "tcp"], node=node)),
    ]  # fmt: skip


def _lines(seed: int, node: str | None, enriched: bool) -> list[str]:
    events = tree(50, seed=seed, node=node)
    if not enriched:
        for e in events:
            e.user = None
    records = [exec_records(e) for e in events]
    records[10:10] = _odd_events(node, 900)
    records[35:35] = _odd_events(node, 950)
    return interleave(records, random.Random(seed))


def _write(tmp_path: Path, lines: list[str], name: str = "audit.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _hunt(
    plan_type: type[EventPlan], path: Path, raw_filter: RawFilter, chunk: int, edge: int
) -> tuple[list[dict[str, Any]], tuple[int, int, int]]:
    stats = ReadStats()
    plan = plan_type(FIELDS, frozenset({"execve"}), raw_filter, edge)
    batches = read_batches([path], plan, stats=stats, chunk_bytes=chunk)
    rows = [
        r
        for b in assemble(batches, FIELDS, frozenset({"execve"}), raw_filter, stats, edge)
        for r in b.to_pylist()
    ]
    return rows, (stats.events, stats.filtered, stats.other)


SEED_NEEDS = ((("process_name", "ngrok"),), (("process", "http"), ("process", "tcp")))


@pytest.mark.parametrize("shape", ["node", "bare", "enriched", "hosts"])
@pytest.mark.parametrize(
    "needs",
    [
        SEED_NEEDS,
        ((("process", "NGROK"),),),
        ((("process_path", "local"),),),
        ((("user", "root"),),),
    ],
)
def test_hunt_equals_general_path(tmp_path: Path, shape: str, needs: Any) -> None:
    """Rows (parents included) and counts as when every event is built, for chunks and edges
    of any size (events cut by them too); ngrok hidden in hex, PROCTITLE-only command lines, execs without EXECVE,
    reused pids, interleaved records."""
    raw_filter = AuditdSource().needles("Endpoint.Processes", tuple(tuple(c) for c in needs))
    node = None if shape == "bare" else "web-03"
    lines = _lines(11, node, shape == "enriched")
    if shape == "hosts":  # two hosts' logs merged: events equal in time and serial, pids too
        lines = [x for pair in zip(lines, _lines(11, "web-04", False), strict=True) for x in pair]
    path = _write(tmp_path, lines)
    assert _hunt(GeneralPlan, path, raw_filter, 1 << 24, 512)[0], "the needles find rows"
    for chunk, edge in ((1 << 24, 512), (30000, 20), (3000, 8), (700, 4)):
        general = _hunt(GeneralPlan, path, raw_filter, chunk, edge)
        assert _hunt(EventPlan, path, raw_filter, chunk, edge) == general, (chunk, edge)


def test_hunt_finds_hidden_ngrok_and_parents(tmp_path: Path) -> None:
    """What the general path gives for the odd events, which the fast path must keep: the
    PROCTITLE-only ngrok with its parent from an exec without EXECVE, the hex-encoded and the
    Kelvin-sign ngrok, and the child of a reused pid."""
    raw_filter = AuditdSource().needles("Endpoint.Processes", SEED_NEEDS)
    benign = [exec_records(e) for e in tree(60, node="h") if "ngrok" not in e.exe]
    records = benign[:30] + _odd_events("h", 10) + benign[30:]
    path = _write(tmp_path, [x for e in records for x in e])
    rows, _ = _hunt(EventPlan, path, raw_filter, 1 << 24, 20)  # away from the edges
    got = {(r["pid"], r["exe"], r["parent_exe"]) for r in rows}
    assert ("7002", "/usr/local/bin/ngrok", "/usr/bin/dash") in got
    assert ("7005", "/tmp/a b/NGROK", "/usr/bin/dash") in got
    assert ("7006", "/tmp/a b/ngro\u212a", "/tmp/a b/NGROK") in got
    assert ("7010", "/tmp/ngrok", "/usr/bin/zsh") in got


def _chunks(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    lines = _lines(seed, "n1" if seed % 2 else None, seed % 3 == 0)
    out = []
    while lines:
        take = rng.randrange(1, 200)
        out.append(("\n".join(lines[:take]) + ("\n" if rng.random() < 0.8 else "")).encode())
        lines = lines[take:]
    return out


ODD_CHUNKS = [
    b"",
    b"\n",
    b"type=EOE msg=audit(1.5:2): \r\n",
    b"type=EOE msg=audit(1.5:2): \n\ntype=EOE msg=audit(1.5:3): \n",
    'type=CWD msg=audit(1.5:2): cwd="/\u00e9"\n'.encode(),
    b'type=CWD msg=audit(1.5:2): cwd="/a\n',  # a cut quoted value
    b"type=PROCTITLE msg=audit(1.5:2): proctitle=6E6\n",  # hex of odd length, last
    b"type=USER msg=audit(1.5:2): msg='a=b\n",  # a cut msg='...'
    b"node= type=EOE msg=audit(1.5:2): \n",
    b'node=a"b type=SYSCALL msg=audit(1.5:2): syscall=59 pid=1 exe="/x"\n',
    b"node=a\x1cb type=EOE msg=audit(1.5:2): \n",
    b"type=EOE msg=audit(1.5:2):\n",
    b'type=SYSCALL msg=audit(123456789012.5:2): arch=c000003e syscall=59 pid=1 exe="/x"\n',
    b"type=SYSCALL msg=audit(1.5:2): arch=c000003e syscall=59 pid=1 exe=2F78\n",
    b'type=SYSCALL msg=audit(1.5:2): arch=c000003e syscall=59 exe="/x"\n',
    b"type=SYSCALL msg=audit(1.5:2): arch=c000003e syscall=59 pid=1 exe=\n",
    b"type=SYSCALL msg=audit(1.5:2): syscall=59 arch=c000003e pid=1 exe=ab a1_len=3 a1[0]=6E\n",
    b'type=SYSCALL msg=audit(1.5:2): a=1 exe="/x"\x1dSYSCALL="execve" pid=9\n',
    b'type=SYSCALL msg=audit(1.5:2): a=1 pid=2 exe="/x"\x1dSYSCALL=execveat A="b c"\n',
    b"type=X msg=audit(1.5:2): v=E284AA w=C4B0\ntype=Y msg=audit(1.5:3): v=4E47524F4B\n",
    # the last value: hex after a later '=' (not the value's start), all hex, hex after a space
    b"type=PATH msg=audit(1.5:2): item=0 name=a=ABC\n",
    b"type=PATH msg=audit(1.5:2): ABC\n",
    b"type=PATH msg=audit(1.5:2): name= ABC\n",
    b"type=PATH msg=audit(1.5:2): x=1 name=ABC\n",
    b"type=PATH msg=audit(1.5:2): x=1 nam=ABC\n",
    b"type=EXECVE msg=audit(1.5:2): argc=1 a0=6E67726F6\n",
    # hex needles' near misses: E2840A, C4B1, a needle's ends without its middle
    b"type=X msg=audit(1.5:2): v=E2840A w=C4B1 x=nxxxk y=6E0000006B\n",
]


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
@pytest.mark.parametrize("clause", [(b"ngrok",), (b"http", b"tcp"), (b"a",), (b"root", b"-la")])
def test_c_index_equals_python(clause: tuple[bytes, ...]) -> None:
    from escudo.sources import _auditd  # type: ignore[attr-defined]

    for seed in range(6):
        for data in _chunks(seed):
            for edge in (0, 3, 512):
                got = _auditd.index(data, clause, edge)
                assert got == auditd_hunt.index_python(data, clause, edge), (seed, edge, data)
    for data in ODD_CHUNKS:
        assert _auditd.index(data, clause, 1) == auditd_hunt.index_python(data, clause, 1), data


def test_index_builds_only_candidates() -> None:
    """Without a needle and away from the edges, an event is an exec image (Arrow columns) or
    dropped: no event for Python to build."""
    events = [e for e in tree(40) if "ngrok" not in e.exe]
    lines = [x for e in events for x in exec_records(e, piece=1 << 20)]
    data = ("\n".join(lines) + "\n").encode()
    found = auditd_hunt.index(data, (b"ngrok",), 10)
    assert found is not None
    count, dropped, groups, slim = found
    assert count == len(lines) and dropped == 0
    assert all(g[1] for g in groups)  # only the edges' pieces
    order, columns = auditd_hunt.slim_arrays(slim)
    assert len(order) + len(groups) == len({x.split("):")[0].split("(")[1] for x in lines})
    assert set(columns["exe"].to_pylist()) <= {e.exe for e in events}


@pytest.mark.parametrize(
    ("needles", "clause"),
    [
        (((b"ngrok",), (b"http", b"tcp")), (b"ngrok",)),
        (((b"/tmp/ngrok",),), None),  # a relative PATH name joined to the CWD may hold it
        (((b"created",),), None),  # file_action
        (((b"create",),), None),
        (((b"2024-03",),), None),  # the time
        (((b"my files",),), None),
        (((b"a,b",),), None),
    ],
)
def test_clause_for(needles: Any, clause: Any) -> None:
    assert auditd_hunt.clause_for(needles) == clause


def _assembler(native: bool) -> Assembler:
    """An assembler whose parent table is the C one (``native``) or the Python dict."""
    if native and not auditd_hunt.has_c_index():
        pytest.skip("built without a C compiler")
    assembler = Assembler(FIELDS, None, None, ReadStats())
    if auditd_hunt.has_c_index():
        assert assembler.native is not None, "the C table where the C module is built"
    if not native:
        assembler.native = None
    return assembler


@pytest.mark.parametrize("native", [True, False])
def test_update_keeps_the_most_recent_processes(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    """Runs of images into the table give the table that one update at a time gives (each key
    moved to the end, the oldest beyond MAX_PROCESSES dropped), whatever the runs."""
    monkeypatch.setattr(auditd_events, "MAX_PROCESSES", 7)
    rng = random.Random(2)
    keys = [(rng.choice(["a", "b", None]), str(rng.randrange(12))) for _ in range(400)]
    exes = [f"/bin/{rng.randrange(5)}" for _ in keys]
    reference: OrderedDict[tuple[str | None, str], str] = OrderedDict()
    assembler = _assembler(native)
    start = 0
    while start < len(keys):
        stop = start + rng.randrange(1, 30)
        for key, exe in zip(keys[start:stop], exes[start:stop], strict=False):
            reference[key] = exe
            reference.move_to_end(key)
            if len(reference) > 7:
                reference.popitem(last=False)
        assembler._update(keys[start:stop], exes[start:stop])
        assert assembler.processes() == list(reference.items())
        start = stop


def _release_rows(rng: random.Random, size: int) -> pa.Table:
    """Rows as the assembler's _parents reads them: exec images, look-ups, nulls, reused pids,
    the empty host apart from no host, images of every length (a slice, as after a filter)."""

    def some(values: list[Any]) -> Any:
        return rng.choice(values)

    hosts: list[Any] = ["a", "b", "", None, "h\u00e9"]
    pids = [str(n) for n in range(14)] + [""]
    rows = [
        {
            "record_type": some(["execve", "execve", "file_create", None]),
            "dest": some(hosts),
            "pid": some([*pids, None]),
            "ppid": some([*pids, None]),
            "exe": some(["/bin/sh", "/usr/bin/python3.11", "", "/x", "/\u00e9/b", None]),
            "_pass": some([True, False, False, None]),
        }
        for _ in range(size + 3)
    ]
    return pa.Table.from_pylist(rows, schema=_PARENT_COLUMNS).slice(2, size)


_PARENT_COLUMNS = pa.schema(
    [("record_type", pa.string()), ("dest", pa.string()), ("pid", pa.string()),
     ("ppid", pa.string()), ("exe", pa.string()), ("_pass", pa.bool_())]
)  # fmt: skip


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
@pytest.mark.parametrize("cap", [0, 1, 7, 1 << 20])
def test_c_parents_equal_python(monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    """The C parent table resolves every release's parents as the Python dict and queue do
    (look-up before the row's own update, the cap's least recently updated gone), and holds the
    same processes after each."""
    monkeypatch.setattr(auditd_events, "MAX_PROCESSES", cap)
    rng = random.Random(cap)
    native, python = _assembler(True), _assembler(False)
    for _ in range(60):
        table = _release_rows(rng, rng.randrange(0, 40))
        got, want = native._parents(table), python._parents(table)
        assert got.to_pylist() == want.to_pylist()
        got.validate(full=True)
        assert native.processes() == python.processes()


def test_hunt_reads_bigger_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hunt through the index reads chunks CHUNK_FACTOR times the reader's (fewer events cut
    by chunk ends for the assembler to join), with the rows of the reader's chunks."""
    from escudo.datamodels.normalize import read_datasets

    path = _write(tmp_path, _lines(5, "web-03", False))
    sizes: list[int] = []
    call = EventPlan.__call__

    def spy(self: EventPlan, data: bytes, name: str) -> Any:
        sizes.append(len(data))
        return call(self, data, name)

    needs = {"Endpoint.Processes": [tuple(tuple(c) for c in SEED_NEEDS)]}

    def rows(chunk: int) -> list[dict[str, Any]]:
        got = read_datasets([path], needs, workers=1, chunk_bytes=chunk)
        return [r for _, b in got for r in b.to_pylist()]

    whole = rows(1 << 24)
    monkeypatch.setattr(EventPlan, "__call__", spy)
    assert rows(4000) == whole and whole
    assert max(sizes) > 4000 * (auditd_hunt.CHUNK_FACTOR - 1)
    # each range at least CHUNK_FACTOR chunks (extended to a newline), the last one aside
    assert len(sizes) <= -(-path.stat().st_size // (4000 * auditd_hunt.CHUNK_FACTOR))


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
def test_hunt_without_the_c_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C module (no compiler at install), the index and the parent table run in
    Python and the hunt gives the same rows and counts."""
    raw_filter = AuditdSource().needles("Endpoint.Processes", SEED_NEEDS)
    lines = _lines(11, "web-03", True)
    lines = [x for pair in zip(lines, _lines(11, "web-04", False), strict=True) for x in pair]
    path = _write(tmp_path, lines)
    assert auditd_hunt.process_table(7) is not None
    native = [_hunt(EventPlan, path, raw_filter, chunk, 8) for chunk in (1 << 24, 3000)]
    monkeypatch.setattr(auditd_hunt, "_auditd", None)
    assert auditd_hunt.process_table(7) is None and not auditd_hunt.has_c_index()
    python = [_hunt(EventPlan, path, raw_filter, chunk, 8) for chunk in (1 << 24, 3000)]
    assert python == native and native[0][0]


@pytest.mark.parametrize("bad", [b"\0", b"\xff"])
def test_hunt_reports_binary_lines(tmp_path: Path, bad: bytes) -> None:
    """A chunk with a NUL or a byte that is not UTF-8 is not for the index: the other paths
    read it and report the line (``path:line``), as ``framing.note_bad_text`` does, and the
    other lines give the rows they give without it."""
    from escudo.datamodels.normalize import read_datasets

    lines = _lines(3, "web-03", False)
    clean = _write(tmp_path, lines, "clean.log")
    at = len(lines) // 2
    broken = lines[at] + " x=" + bad.decode("latin-1")
    text = "\n".join([*lines[:at], broken, *lines[at:]]) + "\n"
    path = tmp_path / "bad.log"
    path.write_bytes(text.encode("latin-1"))
    needs = {"Endpoint.Processes": [tuple(tuple(c) for c in SEED_NEEDS)]}
    assert auditd_hunt.index(path.read_bytes(), (b"ngrok",), 0) is None
    stats = ReadStats()
    got = [
        r for _, b in read_datasets([path], needs, stats=stats, workers=1) for r in b.to_pylist()
    ]
    want = [r for _, b in read_datasets([clean], needs, workers=1) for r in b.to_pylist()]
    assert stats.binary + stats.not_utf8 == 1
    assert [(p.path, p.line) for p in stats.problems] == [(str(path), at + 1)]
    assert got == want and want


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
@pytest.mark.parametrize("needle", [b"a", b"ngrok", b"-la", b"zq", b"ngrokhttp"])
@pytest.mark.parametrize("seed", range(4))
def test_c_marks_equal_python_at_every_offset(needle: bytes, seed: int) -> None:
    """A single needle's marks (``_auditd.c``'s one pass for the needle, its hex form and what
    may hide one, and the separate passes where it stops) find the lines the Python index finds,
    wherever in a line and a 32-byte block the needle, its hex form in either case, ``]=``,
    ``E284AA`` or ``C4B0`` starts, and near misses (a needle's ends without its middle)."""
    from escudo.sources import _auditd  # type: ignore[attr-defined]

    rng = random.Random(seed)
    hexed = needle.hex().upper()
    forms = [
        needle.decode(),
        needle.decode().upper(),
        hexed,
        hexed.replace("6", "4"),
        "]=",
        "E284AA",
        "C4B0",
        needle.decode()[:1] + "x" * len(needle) + needle.decode()[-1:],
        hexed[:-1],
        "E284A",
        "C4",
    ]
    lines = []
    for serial in range(400):
        pad = "".join(rng.choice("0123456789ABCDEFxyz=/ ") for _ in range(rng.randrange(0, 70)))
        form = rng.choice(forms) if rng.random() < 0.3 else ""
        tail = "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randrange(0, 40)))
        lines.append(f'type=X msg=audit(1.5:{serial}): v="{pad}{form}" w={tail}x')
    data = ("\n".join(lines) + "\n").encode()
    for edge in (0, 7):
        got = _auditd.index(data, (needle,), edge)
        assert got == auditd_hunt.index_python(data, (needle,), edge)
        assert got is not None and got[2], "some lines hold a needle"


def _spans_as_text(found: Any, data: bytes) -> Any:
    """An index's groups with each span pair replaced by the line it points at in ``data``."""
    lines, dropped, groups, slim = found
    listed = [
        (*g[:5], tuple(data[g[5][i] : g[5][i + 1]] for i in range(0, len(g[5]), 2)), *g[6:])
        for g in groups
    ]
    return lines, dropped, listed, slim


@pytest.mark.skipif(
    not hasattr(auditd_hunt._auditd, "index_mapped"), reason="no mapped index on this system"
)
@pytest.mark.parametrize("clause", [(b"ngrok",), (b"http", b"tcp")])
def test_mapped_index_equals_index_of_the_bytes(tmp_path: Path, clause: tuple[bytes, ...]) -> None:
    """``index_file`` (the range read through a mapping, the listed lines copied out) gives what
    :func:`index` gives for the same bytes, ranges starting anywhere in a page."""
    path = _write(tmp_path, _lines(7, "web-03", False) + _lines(8, None, True))
    data = path.read_bytes()
    cuts = sorted({0, len(data), *(data.index(b"\n", at) + 1 for at in (333, 4096, 9000, 60000))})
    for start, end in itertools.pairwise(cuts):
        for edge in (0, 5):
            mapped = auditd_hunt.index_file(path, start, end - start, clause, edge)
            want = auditd_hunt.index(data[start:end], clause, edge)
            assert mapped and want is not None
            assert _spans_as_text(mapped[:4], mapped[4]) == _spans_as_text(want, data[start:end])
    odd = _write(tmp_path, ["type=EOE msg=audit(1.5:2): \r"], "odd.log")
    assert auditd_hunt.index_file(odd, 0, odd.stat().st_size, clause, 0) is None


@pytest.mark.skipif(
    not hasattr(auditd_hunt._auditd, "index_mapped"), reason="no mapped index on this system"
)
def test_mapped_index_survives_a_cut_file(tmp_path: Path) -> None:
    """A file cut shorter while it is read (copytruncate) makes the mapping's next read of a page
    past its end a SIGBUS: the index catches it and says False, and the hunt reads the range
    again and gives the rows of what is left, as if it had read that from the start."""
    lines = _lines(9, "web-03", False) * 40
    path = _write(tmp_path, lines)
    size = path.stat().st_size
    keep = path.read_bytes()[: size // 3]
    keep = keep[: keep.rindex(b"\n") + 1]
    fd = os.open(path, os.O_RDONLY)
    try:
        os.truncate(path, len(keep))  # mapped past the end: the first page there faults
        assert auditd_hunt._auditd.index_mapped(fd, 0, size, (b"ngrok",), 0) is False
    finally:
        os.close(fd)
    assert auditd_hunt.index_file(path, 0, size, (b"ngrok",), 0) is False
    raw_filter = AuditdSource().needles("Endpoint.Processes", SEED_NEEDS)
    plan = EventPlan(FIELDS, frozenset({"execve"}), raw_filter)
    cut, stats = plan.read_range(path, 0, size, str(path), 1 << 20)
    whole, _ = plan.read_range(
        _write(tmp_path, [keep.decode()[:-1]], "kept.log"), 0, len(keep), "kept", 1 << 20
    )
    assert cut.whole().to_pylist() == whole.whole().to_pylist()
    assert stats.lines == len(keep.splitlines())


HEADERS = [
    "node=web-03 type=SYSCALL msg=audit(1700000000.123:4567): ",
    "node=a-very-long-node-name.example.internal type=EXECVE msg=audit(1.5:2): ",
    "node=x type=PATH msg=audit(1700000000.123:4567):",
    "node= type=EOE msg=audit(1.5:2): ",
    "node=a\tb type=EOE msg=audit(1.5:2): ",
    "node=a\x01b type=EOE msg=audit(1.5:2): ",
    "node=a\x1fb type=EOE msg=audit(1.5:2): ",
    'node=a"b type=SYSCALL msg=audit(1.5:2): ',
    "nodes=a type=EOE msg=audit(1.5:2): ",
    "type=SYSCALLX msg=audit(1.5:2): ",
    "type=EXECVEX msg=audit(1.5:2): ",
    "type=SYSCAL msg=audit(1.5:2): ",
    "type=syscall msg=audit(1.5:2): ",
    "type= msg=audit(1.5:2): ",
    "type=EOE msg=audit(.5:2): ",
    "type=EOE msg=audit(1.:2): ",
    "type=EOE msg=audit(1.5:): ",
    "type=EOE msg=audit(1.5:2) ",
    "type=EOE msg=audit(12345678901234567890.5:2): ",
    "type=EOE msg=audit(1.5:123456789012345678): ",
    "type=EOE msg=audit(1x5:2): ",
    "type=EOE  msg=audit(1.5:2): ",
    "type=EOE msg=audi(1.5:2): ",
]


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
@pytest.mark.parametrize("head", HEADERS)
def test_c_headers_equal_python(head: str) -> None:
    """Each header, well formed or not, read as the Python index reads it, when it is short or
    followed by more lines (the C scan reads eight bytes at a time where the buffer allows)."""
    from escudo.sources import _auditd  # type: ignore[attr-defined]

    good = 'type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=59 pid=3 exe="/bin/ngrok"'
    for body in ("", "a=1 b=2", "x=" + "y" * 40, 'arch=c000003e syscall=59 pid=4 exe="/bin/ls"'):
        for data in (
            f"{head}{body}\n".encode(),
            f"{good}\n{head}{body}\n{good}\n{good}\n".encode(),
        ):
            for edge in (0, 1):
                want = auditd_hunt.index_python(data, (b"ngrok",), edge)
                assert _auditd.index(data, (b"ngrok",), edge) == want, (head, body)


@pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")
@pytest.mark.parametrize("size", [1, 15, 16, 17, 31, 32, 33, 47, 64, 65])
@pytest.mark.parametrize("key", ["proctitle", "a1", "a1[0]", "other", "x y=z proctitle"])
def test_c_cut_hex_tail_equals_python(size: int, key: str) -> None:
    """A line ending in a hex value of any length, after a hex field's key or another, and after
    a value holding '=': cut (odd length, a hex field: the chunk is not for the index) or not, as
    the Python index says (the C walk back over the digits goes sixteen bytes at a time)."""
    from escudo.sources import _auditd  # type: ignore[attr-defined]

    rng = random.Random(size)
    digits = "".join(rng.choice("0123456789ABCDEF") for _ in range(size))
    good = 'type=SYSCALL msg=audit(1.5:9): arch=c000003e syscall=59 pid=3 exe="/bin/ngrok"'
    for value in (digits, "Z" + digits, "=" + digits, "g" + digits):
        line = f"type=PROCTITLE msg=audit(1.5:9): {key}={value}"
        for data in (f"{line}\n".encode(), f"{good}\n{line}\n{good}\n".encode()):
            want = auditd_hunt.index_python(data, (b"ngrok",), 0)
            assert _auditd.index(data, (b"ngrok",), 0) == want, (key, value)


_SIGBUS_SCRIPT = """
import os, signal, sys, threading, time
from escudo.sources import _auditd
path, mode = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
fd = os.open(path, os.O_RDONLY)
if mode == "unguarded":  # another handler since the import: the mapping is not read
    signal.signal(signal.SIGBUS, signal.SIG_DFL)
    print(_auditd.index_mapped(fd, 0, size, (b"ngrok",), 0))
    sys.exit(0)
scanner = threading.get_ident()
def send():  # a SIGBUS sent to the scanning thread, not a fault of its mapping
    time.sleep(0.005)
    signal.pthread_kill(scanner, signal.SIGBUS)
threading.Thread(target=send).start()
for _ in range(100):
    _auditd.index_mapped(fd, 0, size, (b"ngrok",), 0)
print("not killed")
"""


@pytest.mark.skipif(
    not hasattr(auditd_hunt._auditd, "index_mapped"), reason="no mapped index on this system"
)
def test_mapped_index_leaves_other_sigbus_alone(tmp_path: Path) -> None:
    """The SIGBUS guard catches only a fault of the mapping being scanned: a SIGBUS sent to the
    scanning thread ends the process as it would without escudo, and once SIGBUS no longer comes
    to the guard (another handler set since the import) no range is mapped (False: read it)."""
    import signal
    import subprocess
    import sys

    path = _write(tmp_path, _lines(9, "web-03", False) * 60)
    script = tmp_path / "sigbus.py"
    script.write_text(_SIGBUS_SCRIPT)
    sent = subprocess.run(
        [sys.executable, str(script), str(path), "sent"], capture_output=True, timeout=120
    )
    assert sent.returncode == -signal.SIGBUS, sent
    assert b"not killed" not in sent.stdout
    unguarded = subprocess.run(
        [sys.executable, str(script), str(path), "unguarded"], capture_output=True, timeout=120
    )
    assert unguarded.returncode == 0 and unguarded.stdout.strip() == b"False", unguarded


def test_range_the_index_refuses_reads_as_a_chunk(tmp_path: Path) -> None:
    """A range the index says is not for it (records forwarded through syslog: a transport
    prefix on each line) gives, through ``read_range``, the rows and counts the plan gives the
    same bytes as a chunk (the other paths, the index not tried again)."""
    lines = [f"Mar 11 08:00:00 web-03 audispd: {line}" for line in _lines(4, None, False)]
    path = _write(tmp_path, lines)
    data = path.read_bytes()
    raw_filter = AuditdSource().needles("Endpoint.Processes", SEED_NEEDS)
    plan = EventPlan(FIELDS, frozenset({"execve"}), raw_filter)
    assert auditd_hunt.index(data, (b"ngrok",), 0) is None
    ranged, stats = plan.read_range(path, 0, len(data), str(path), 1 << 20)
    batch, chunk_stats = plan(data, str(path))
    assert ranged.whole().to_pylist() == batch.to_pylist()
    assert (stats.lines, stats.filtered, stats.malformed) == (
        chunk_stats.lines or len(lines),
        chunk_stats.filtered,
        chunk_stats.malformed,
    )
    assert batch.num_rows and stats.malformed == 0
