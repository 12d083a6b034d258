"""The auditd hunt in threads over file ranges, and the exec images it defers (issue 12).

``EventPlan.read_range`` reads whole file ranges (threads, no worker process), and
``auditd_events.assemble`` holds those batches back, then gives the assembler only the rows a
result can depend on (``_Deferred``). The rows and counts must be those of every batch fed
whole, and of the general path that builds every event in Python.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from auditd_lines import Exec, exec_records, interleave, tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escudo.sources import auditd_hunt, reader
from escudo.sources.auditd import EVENT_FIELDS, AuditdSource
from escudo.sources.auditd_events import Assembler, EventPlan, Ranged, assemble
from escudo.sources.base import ReadStats
from escudo.sources.reader import read_batches

pytestmark = pytest.mark.skipif(not auditd_hunt.has_c_index(), reason="built without a C compiler")

FIELDS = tuple(EVENT_FIELDS)
KINDS = frozenset({"execve"})
SEED = AuditdSource().needles(
    "Endpoint.Processes", ((("process_name", "ngrok"),), (("process", "http"), ("process", "tcp")))
)


class GeneralPlan(EventPlan):
    """Every event parsed and built in Python, chunk by chunk (the reference)."""

    range_chunks = 4

    @property
    def streams(self) -> bool:
        return False

    def _indexed(self, *args: Any) -> None:
        return None

    def _fast(self, data: bytes) -> None:
        return None


def _events(seed: int, hosts: int, count: int, shuffle: float) -> list[str]:
    """Exec events of ``hosts`` hosts (pids reused, equal serials across hosts), records of
    neighbours interleaved, some times out of order (a later serial with an earlier time)."""
    rng = random.Random(seed)
    per_host = []
    for h in range(hosts):
        node = None if hosts == 1 and seed % 2 else f"web-{h}"
        events = tree(count, seed=seed + h, node=node)
        for e in events:
            if rng.random() < shuffle:
                e.seconds -= rng.choice([0.25, 0.5, 3.0])
        # a long-lived parent: its exec far before its ngrok child
        events.insert(1, Exec(5, 1791971600.0, 4242, 1, "/usr/sbin/sshd", ["sshd"], node=node))
        events.append(Exec(9999, 1791971900.0, 4243, 4242, "/tmp/ngrok", ["ngrok", "tcp"],
                           node=node))  # fmt: skip
        per_host.append([exec_records(e) for e in events])
    merged = [e for group in zip(*per_host, strict=True) for e in group]
    return interleave(merged, rng)


def _files(tmp_path: Path, lines: list[str], parts: int) -> list[Path]:
    """The lines in ``parts`` files (an event may straddle two of them)."""
    size = -(-len(lines) // parts)
    paths = []
    for i in range(parts):
        path = tmp_path / f"audit.{i}.log"
        path.write_text("".join(x + "\n" for x in lines[i * size : (i + 1) * size]))
        paths.append(path)
    return paths


def _batches(plan: EventPlan, paths: list[Path], chunk: int, stats: ReadStats) -> Any:
    return read_batches(paths, plan, stats=stats, workers=2, chunk_bytes=chunk)


def _rows(batches: Any, stats: ReadStats, edge: int, cap: int | None) -> list[dict[str, Any]]:
    out = assemble(batches, FIELDS, KINDS, SEED, stats, edge, cap)
    return [r for b in out for r in b.to_pylist()]


def _whole(batches: Any) -> Any:
    """The batches as a stream's: none deferred."""
    for batch in batches:
        yield batch.whole() if isinstance(batch, Ranged) else batch


def _run(
    paths: list[Path], chunk: int, edge: int, cap: int | None, how: str
) -> tuple[list[dict[str, Any]], tuple[int, int, int]]:
    stats = ReadStats()
    if how == "general":
        batches = _batches(GeneralPlan(FIELDS, KINDS, SEED, edge), paths, chunk, stats)
    else:
        batches = _batches(EventPlan(FIELDS, KINDS, SEED, edge), paths, chunk, stats)
        if how == "whole":
            batches = _whole(batches)
    rows = _rows(batches, stats, edge, cap)
    return rows, (stats.events, stats.filtered, stats.other)


@pytest.fixture(autouse=True)
def _threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files read in threads too (as a big file with few candidates is)."""
    monkeypatch.setattr(reader, "THREAD_MAX_PYTHON_SHARE", 1.0)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    hosts=st.integers(1, 2),
    shuffle=st.sampled_from([0.0, 0.05, 0.3]),
    parts=st.integers(1, 3),
    chunk_edge=st.sampled_from([(1 << 22, 512), (30000, 20), (5000, 8), (1500, 4)]),
)
def test_deferred_equals_whole_and_general(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    hosts: int,
    shuffle: float,
    parts: int,
    chunk_edge: tuple[int, int],
) -> None:
    """Rows (parents included) and counts of the deferred read equal those of the same batches
    fed whole, and of the general path: interleaved records, events cut by chunk edges and
    files, hex-encoded values, reused pids, two hosts, times out of order, parents far back."""
    chunk, edge = chunk_edge
    paths = _files(tmp_path_factory.mktemp("d"), _events(seed, hosts, 60, shuffle), parts)
    deferred = _run(paths, chunk, edge, None, "deferred")
    assert deferred[0], "the needles find rows"
    assert deferred == _run(paths, chunk, edge, None, "whole")
    assert deferred == _run(paths, chunk, edge, None, "general")


@pytest.mark.parametrize("cap", [0, 3, 40, 400, 10_000])
def test_deferred_with_a_small_cap(tmp_path: Path, cap: int) -> None:
    """With a cap the updates may pass (parents evicted), the held batches go whole: the rows
    are those of the batches fed whole with that cap, evictions and all."""
    paths = _files(tmp_path, _events(3, 2, 80, 0.05), 2)
    whole = _run(paths, 5000, 8, cap, "whole")
    assert _run(paths, 5000, 8, cap, "deferred") == whole
    if cap == 3:  # the cap changes parents here: a run that ignored it would not be equal
        assert whole[0] != _run(paths, 5000, 8, None, "whole")[0]


def test_deferred_feeds_few_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The range batches are held, and the assembler gets the edge pieces, the rows that may
    pass and the images of their parents' pids: not every exec image; the rows read in the
    reader's threads, no worker process started."""
    events = [e for e in tree(400, seed=5) if "ngrok" not in e.exe]
    events.append(Exec(9999, 1791972000.0, 4243, events[0].pid, "/tmp/ngrok", ["ngrok", "tcp"]))
    paths = _files(tmp_path, [x for e in events for x in exec_records(e)], 1)
    fed: list[int] = []
    feed = Assembler.feed

    def spy(self: Assembler, batch: pa.RecordBatch) -> Any:
        fed.append(batch.num_rows)
        return feed(self, batch)

    monkeypatch.setattr(Assembler, "feed", spy)
    monkeypatch.setattr(reader, "ProcessPoolExecutor", None)  # a pool would fail
    stats = ReadStats()
    plan = EventPlan(FIELDS, KINDS, SEED, 8)
    batches = list(_batches(plan, paths, 60000, stats))
    assert len(batches) > 3 and all(isinstance(b, Ranged) for b in batches)
    total = sum(b.num_rows for b in batches)
    rows = _rows(iter(batches), stats, 8, None)
    assert rows and sum(fed) < total / 2


def test_stream_batches_are_not_held(tmp_path: Path) -> None:
    """Batches not read from a file range (stdin, a FIFO, .gz: ``__call__``) give their rows as
    they come: the assembler does not wait for the input's end."""
    lines = _events(7, 1, 60, 0.0)
    data = "".join(x + "\n" for x in lines).encode()
    plan = EventPlan(FIELDS, KINDS, SEED, 8)
    cut = data.rfind(b"\n", 0, len(data) - 200) + 1
    pulled: list[int] = []

    def batches() -> Any:
        for i, part in enumerate((data[:cut], data[cut:])):
            pulled.append(i)
            yield plan(part, "-")[0]

    out = assemble(batches(), FIELDS, KINDS, SEED, ReadStats(), 8)
    first = next(out)
    assert first.num_rows and pulled == [0]


def test_python_share_and_ranges() -> None:
    """The plan streams when the C index reads its hunt, and says how little of a chunk
    Python builds; its ranges are one chunk each (the assembler's batches stay the chunks)."""
    plan = EventPlan(FIELDS, KINDS, SEED)
    assert plan.streams and plan.range_chunks == 1
    assert not EventPlan(FIELDS, KINDS, None).streams
    ls = [Exec(i, 1791971700.0 + i, 100 + i, 1, "/usr/bin/ls", ["ls", "-la"]) for i in range(40)]
    quiet = "".join(x + "\n" for e in ls for x in exec_records(e))
    assert plan.python_share(quiet.encode()) < 0.02
    assert plan.python_share(b"not audit\n") == 1.0


def _shifted_lines() -> list[bytes]:
    """Records (of a type the index drops unless marked) with a needle, its hex, ``]=``, the hex
    of U+212A / U+0130, or right after the header a quote, a 0x1D, a CR or a high byte, at every
    offset of a 64-byte window: each crosses a 16- and a 32-byte block edge of the scans, and a
    line's end falls at every offset of a block."""
    out = []
    marks = [b"ngrok", b"NGroK", b"6E67526F4B", b"a1[0]=6E", b"E284AA", b"C4B0", b"ngro", b"6E6752"]
    odd = [b"'", b"\x1d", b"\r", b"\xc3\xa9", b'"', b"''"]
    for at in range(64):
        for i, mark in enumerate(marks):
            out.append(b"type=X msg=audit(1.%03d:%d): a=%s%s b=1" % (at, i, b"x" * at, mark))
        for i, mark in enumerate(odd):
            out.append(b"type=X msg=audit(2.%03d:%d): %sa=%s" % (at, i, mark, b"y" * at))
    return out


@pytest.mark.parametrize("avx2", [False, True])
@pytest.mark.parametrize("clause", [(b"ngrok",), (b"http", b"tcp")])
def test_c_index_in_blocks_equals_python(avx2: bool, clause: tuple[bytes, ...]) -> None:
    """The C index gives what its Python specification gives, scanning 16 or 32 bytes at a time
    (``_auditd.set_avx2``; where the CPU has no AVX2 both runs scan 16): marks, odd bytes and
    line ends at every offset of a block."""
    from escudo.sources import _auditd  # type: ignore[attr-defined]

    lines = _shifted_lines()
    before = _auditd.set_avx2(avx2)
    try:
        for start in range(0, len(lines), 3):
            for width in (1, 2, 5):
                data = b"\n".join(lines[start : start + width]) + b"\n"
                for cut in (len(data), len(data) - 1, len(data) - 17):
                    got = _auditd.index(data[:cut], clause, 2)
                    assert got == auditd_hunt.index_python(data[:cut], clause, 2), data[:cut]
    finally:
        _auditd.set_avx2(before)
