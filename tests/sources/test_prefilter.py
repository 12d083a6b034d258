"""The chunk-level raw prefilter (sources/prefilter.py) against the exact per-line path.

For any chunk, reading with the vectorised split must give the rows AND the ReadStats (counts,
problem lines and reasons) of ``SysmonPlan._read_lines`` over the whole chunk, which re-checks
every line with the reference test. Lines mix needles in random case, ``&#`` references, the
Kelvin sign and dotted capital I, cut events, blank and blank-only lines, JSON, CRLF, two events on
one line, other EventIDs and junk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sysmon_events import event_xml, syslog_line

from escudo.datamodels.normalize import read_dataset
from escudo.sources import prefilter
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.prefilter import choose_clause, line_starts, split_chunk, split_chunk_python
from escudo.sources.sysmon import SysmonPlan, _compile_filter, _Sink

FIELDS = ("EventID", "EventRecordID", "CommandLine", "Computer")


@pytest.fixture(autouse=True, params=["c", "python"])
def scan_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test of this module runs with the C scan and with the Python one (in this process:
    worker processes import the module afresh and use the C scan when it is built)."""
    if request.param == "python":
        monkeypatch.setattr(prefilter, "_scan", None)
    elif prefilter._scan is None:
        pytest.skip("no C scan in use (not built, or no SIMD blocks on this CPU)")
    return str(request.param)


SEED = RawFilter((("ngrok",), ("start", "--config", "http", "authtoken", "tcp")))


def _exact(plan: SysmonPlan, data: bytes) -> tuple[list[dict[str, object]], ReadStats]:
    """The reference: the per-line path over the whole chunk."""
    sink = _Sink()
    plan._read_lines(data, "x", 0, len(data), 1, [], sink)
    sink.stats.events = len(sink.rows)
    return plan._batch(sink.hosts, sink.rows, sink.stats).to_pylist(), sink.stats


def _key(stats: ReadStats) -> tuple[object, ...]:
    problems = [(p.line, p.reason) for p in stats.problems]
    return (stats.events, stats.skipped, stats.malformed, stats.filtered, stats.other, problems)


def _check(plan: SysmonPlan, data: bytes) -> tuple[list[dict[str, object]], ReadStats]:
    assert plan.raw_filter is not None
    assert split_chunk(data, _compile_filter(plan.raw_filter) or ()) is not None  # vectorised
    batch, stats = plan(data, "x")
    rows, expected = _exact(plan, data)
    assert batch.to_pylist() == rows
    assert _key(stats) == _key(expected)
    assert stats.lines == data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return rows, stats


def _event(command: str, record: int, eventid: int = 1) -> str:
    neutral = {"Image": "/usr/bin/x", "ParentCommandLine": "bash"}  # the defaults hold "ngrok"
    return event_xml({**neutral, "CommandLine": command}, eventid=eventid, record=record)


WORDS = ["ngrok", "NgRoK", "tcp", "HTTP", "curl", "&", "&#110;grok", "ngro\u212a", "\u0130", "x"]


def _line(kind: str, words: list[str], record: int) -> str:
    xml = _event(" ".join(words), record, eventid=3 if kind == "other" else 1)
    xml = xml.replace("&amp;#110;", "&#110;")
    shapes = {
        "syslog": syslog_line(xml),
        "bare": xml,
        "other": syslog_line(xml),
        "cut": syslog_line(xml)[:700],
        "blank": "",
        "spaces": "   ",
        "junk": "Mar 11 09:15:01 web-01 CRON[4011]: " + " ".join(words),
        "json": json.dumps({"MESSAGE": xml, "_HOSTNAME": "j1"}),
        "json-other": json.dumps({"MESSAGE": " ".join(words)}),
        "crlf": syslog_line(xml) + "\r",
        "trailing": syslog_line(xml) + "  ",
        "two": syslog_line(xml + _event("ngrok tcp", record + 1000)),
        "close-only": "junk " + " ".join(words) + "</Event>",
        "leading": "  " + xml,
        "brace": "{" + xml,
        "broken": syslog_line(xml.replace("<Computer>", "<Computer><b>")),
    }
    return shapes[kind]


KINDS = st.sampled_from(
    ["syslog"] * 6
    + ["bare", "other", "cut", "blank", "spaces", "junk", "json", "json-other", "crlf"]
    + ["trailing", "two", "close-only", "leading", "brace", "broken"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(KINDS, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)), max_size=25
    ),
    final_newline=st.booleans(),
    eventids=st.sampled_from([None, frozenset({1})]),
    clauses=st.sampled_from(
        [SEED.clauses, (("ngrok",),), (("tcp", "curl"), ("http",)), (("NGROK", "x"),)]
    ),
)
def test_chunk_filter_equals_the_per_line_path(
    lines: list[tuple[str, list[str]]],
    final_newline: bool,
    eventids: frozenset[int] | None,
    clauses: tuple[tuple[str, ...], ...],
) -> None:
    text = "\n".join(_line(kind, words, i) for i, (kind, words) in enumerate(lines))
    data = (text + ("\n" if final_newline and lines else "")).encode()
    plan = SysmonPlan(FIELDS, eventids, RawFilter(clauses))
    _check(plan, data)


def test_counts_and_line_numbers_of_a_known_chunk() -> None:
    lines = [
        syslog_line(_event("ngrok tcp 8080", 1)),  # kept
        syslog_line(_event("sshd -D", 2)),  # filtered
        "Mar 11 09:15:01 web-01 CRON[4011]: (root) CMD (ngrok)",  # skipped
        "",  # blank: not counted
        syslog_line(_event("ngrok http 80", 3))[:600],  # cut: malformed, line 5
        syslog_line(_event("ls", 4, eventid=3)),  # other type, no needle: filtered
        syslog_line(_event("NGROK START", 5, eventid=3)),  # other type with the needles: other
        syslog_line(_event("/tmp/NGRO\u212a tcp", 6)),  # Kelvin sign: kept for the exact test
    ]
    data = ("\n".join(lines) + "\n").encode()
    rows, stats = _check(SysmonPlan(FIELDS, frozenset({1}), SEED), data)
    assert [r["EventRecordID"] for r in rows] == ["1", "6"]
    assert (stats.events, stats.filtered, stats.skipped, stats.malformed, stats.other) == (
        2,
        2,
        1,
        1,
        1,
    )
    assert [p.line for p in stats.problems] == [5]


@pytest.mark.parametrize(
    ("spelling", "kept"),
    [
        ("/usr/local/bin/ngrok", True),
        ("/usr/local/bin/NGRO\u212a", True),  # U+212A KELVIN SIGN: DuckDB lower() gives "k"
        ("/usr/local/bin/\u0130ngrok", True),  # U+0130 holds no needle but always passes
        ("/usr/local/bin/ngro&#107;", True),  # a character reference may spell any letter
        ("/usr/local/bin/ngro", False),
    ],
)
def test_always_pass_sequences(spelling: str, kept: bool) -> None:
    one = RawFilter((("ngrok",),))
    raw = syslog_line(_event(spelling, 1)).replace("&amp;#107;", "&#107;").encode()
    assert one.matches(raw) is kept
    rows, stats = _check(SysmonPlan(FIELDS, None, one), raw + b"\n")
    assert (len(rows), stats.filtered) == ((1, 0) if kept else (0, 1))


def test_choose_clause_and_line_starts() -> None:
    assert choose_clause(((b"tcp", b"http"), (b"ngrok",))) == (b"ngrok",)
    assert choose_clause(((b"ab",), (b"cd", b"ef"))) == (b"ab",)
    assert choose_clause(((b"",),)) is None
    assert list(line_starts(b"\n\nx")) == [0, 1, 2, 3]


def test_mostly_candidates_falls_back_to_the_exact_path() -> None:
    data = ("\n".join(syslog_line(_event("ngrok tcp", i)) for i in range(100)) + "\n").encode()
    assert split_chunk(data, (((b"ngrok",),))) is None
    batch, stats = SysmonPlan(FIELDS, None, RawFilter((("ngrok",),)))(data, "x")
    assert (batch.num_rows, stats.filtered) == (100, 0)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=400))
def test_two_workers_and_small_chunks_keep_rows_stats_and_lines(
    tmp_path: Path, pattern: list[int]
) -> None:
    kinds = ["sshd -D", "ngrok tcp 22", "cut", "junk"]
    lines = []
    for i, k in enumerate(pattern):
        line = syslog_line(_event(kinds[k], i))
        lines.append(line[:500] if kinds[k] == "cut" else "cron: x" if k == 3 else line)
    path = tmp_path / "p.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    expected = [i for i, k in enumerate(pattern) if k == 1]
    cut = [i + 1 for i, k in enumerate(pattern) if k == 2][:5]
    for workers, chunk in ((1, 3000), (2, 7000)):
        stats = ReadStats()
        batches = list(
            read_dataset(
                [path], "raw", raw_filter=SEED, stats=stats, workers=workers, chunk_bytes=chunk
            )
        )
        table = pa.Table.from_batches(batches) if batches else None
        got = [] if table is None else [int(r) for r in table.column("EventRecordID").to_pylist()]
        assert got == expected
        assert [p.line for p in stats.problems] == cut
        assert stats.filtered == pattern.count(0)
        assert stats.skipped == pattern.count(3)


def test_without_memmem_the_bytes_find_fallback_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [syslog_line(_event(c, i)) for i, c in enumerate(["ls", "NGROK tcp", "x", "ngrok"])]
    data = ("\n".join(lines) + "\n").encode()
    with_memmem = split_chunk_python(data, (b"ngrok",))
    monkeypatch.setattr(prefilter, "_MEMMEM", None)
    without = split_chunk_python(data, (b"ngrok",))
    assert with_memmem is not None and without is not None
    assert [r[0] for r in with_memmem.runs] == [r[0] for r in without.runs] == [1, 3]
    assert with_memmem.runs == without.runs
    _check(SysmonPlan(FIELDS, None, SEED), data)


def test_hunt_finds_ngrok_spelled_with_a_kelvin_sign(tmp_path: Path) -> None:
    """End to end: the search (DuckDB folds U+212A to "k") matches; the prefilter must keep it."""
    from escudo.content.loader import load_content
    from escudo.detect.hunt import hunt, select_detections

    kelvin = "/tmp/NGRO\u212a"
    values = {"Image": kelvin, "CommandLine": f"{kelvin} tcp 22", "ParentCommandLine": "bash"}
    path = tmp_path / "k.log"
    path.write_text(syslog_line(event_xml(values)) + "\n", encoding="utf-8")
    content = load_content()
    stats = ReadStats()
    chosen = select_detections(content, ["Linux Ngrok Reverse Proxy Usage"])
    [result] = hunt([path], chosen, content=content, stats=stats)
    assert result.rows.column("process_name").to_pylist() == ["NGRO\u212a"]
    assert (stats.events, stats.filtered) == (1, 0)


def test_worker_processes_and_this_process_give_the_same_batches(tmp_path: Path) -> None:
    from escudo.sources.reader import read_batches

    lines = []
    for i in range(300):
        command = "ngrok tcp 22" if i % 40 == 3 else "sshd -D"
        line = syslog_line(_event(command, i))
        lines.append(line[:500] if i % 70 == 9 else line)
    path = tmp_path / "w.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    plan = SysmonPlan(FIELDS, frozenset({1}), SEED)
    got = {}
    for workers, here in ((1, True), (2, False), (2, True)):
        stats = ReadStats()
        batches = read_batches(
            [path], plan, stats=stats, workers=workers, chunk_bytes=20_000, warm_up_here=here
        )
        rows = [r for b in batches for r in b.to_pylist()]
        got[workers, here] = (rows, _key(stats))
    assert got[1, True] == got[2, False] == got[2, True]
    rows, key = got[1, True]
    assert [r["EventRecordID"] for r in rows] == [str(i) for i in range(3, 300, 40)]
    assert key[5] == [(10, "event cut short: no </Event> (syslog size limit?)")] + [
        (n, "event cut short: no </Event> (syslog size limit?)") for n in (80, 150, 220, 290)
    ]


def test_a_chunk_without_candidates_gives_counts_and_no_rows() -> None:
    """The fast return for a chunk where no line is a candidate (most chunks of a hunt)."""
    lines = [syslog_line(_event(f"sshd -D {i}", i)) for i in range(80)]
    lines[10:10] = ["Mar 11 09:15:01 web-01 CRON[4011]: (root) CMD (true)", ""]
    data = ("\n".join(lines) + "\n").encode()
    split = split_chunk(data, ((b"ngrok",),))
    assert split is not None and split.runs == []
    rows, stats = _check(SysmonPlan(FIELDS, frozenset({1}), SEED), data)
    assert rows == []
    assert (stats.events, stats.filtered, stats.skipped, stats.lines) == (0, 80, 1, 82)
    batch, _ = SysmonPlan(FIELDS, frozenset({1}), SEED)(data, "x")
    assert batch.schema.names == ["host", *FIELDS] and batch.num_rows == 0


def test_workers_started_ahead_are_taken_by_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_workers' pool serves the next read (same rows and counts as one process); one no
    read took is stopped by stop_workers; an input one process reads starts nothing."""
    from escudo.sources import reader

    lines = [syslog_line(_event("ngrok tcp 22" if i % 9 == 4 else "ls", i)) for i in range(120)]
    path = tmp_path / "a.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    plan = SysmonPlan(FIELDS, frozenset({1}), SEED)
    module = type(plan).__module__
    reader.start_workers([path], type(plan))
    assert module not in reader._EARLY  # small: read here
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(reader.os, "cpu_count", lambda: 2)
    got = {}
    for ahead in (False, True):
        if ahead:
            reader.start_workers([path], type(plan))
            assert module in reader._EARLY
        stats = ReadStats()
        batches = reader.read_batches([path], plan, stats=stats, chunk_bytes=4000)
        got[ahead] = ([r for b in batches for r in b.to_pylist()], _key(stats))
        assert module not in reader._EARLY
    assert got[True] == got[False]
    assert [r["EventRecordID"] for r in got[True][0]] == [str(i) for i in range(4, 120, 9)]
    reader.start_workers([path], type(plan))
    reader.stop_workers(type(plan))
    assert module not in reader._EARLY
    reader.stop_workers(type(plan))  # nothing to stop: harmless


def test_a_selective_read_runs_in_threads(
    scan_impl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the C scan, a read whose filter leaves Python few lines runs in threads: no worker
    process starts ahead for it, and its rows and counts are one process's; a filter most lines
    pass (or the Python scan) keeps worker processes."""
    from escudo.sources import reader
    from escudo.sources.framing import expand_inputs

    lines = [syslog_line(_event("ngrok tcp 22" if i == 400 else "ls", i)) for i in range(3000)]
    path = tmp_path / "a.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(reader.os, "cpu_count", lambda: 2)
    selective = SysmonPlan(FIELDS, frozenset({1}), SEED)
    common = SysmonPlan(FIELDS, frozenset({1}), RawFilter((("ls",),)))
    inputs = expand_inputs([path])
    assert reader.threaded(inputs, selective) is (scan_impl == "c")
    assert not reader.threaded(inputs, common)
    module = type(selective).__module__
    reader.start_workers([path], selective)
    assert (module in reader._EARLY) is (scan_impl != "c")
    reader.stop_workers(selective)
    got = {}
    for workers in (1, 2):
        stats = ReadStats()
        batches = reader.read_batches([path], selective, stats=stats, workers=workers)
        got[workers] = ([r for b in batches for r in b.to_pylist()], _key(stats), stats.lines)
    assert got[2] == got[1]
    assert [r["EventRecordID"] for r in got[2][0]] == ["400"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(KINDS, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)), max_size=25
    ),
    block=st.sampled_from([1, 300, 2000, 1 << 20]),
    skip=st.integers(0, 3),
    final_newline=st.booleans(),
)
def test_a_range_read_in_blocks_equals_the_per_line_path(
    scan_impl: str,
    tmp_path: Path,
    lines: list[tuple[str, list[str]]],
    block: int,
    skip: int,
    final_newline: bool,
) -> None:
    """SysmonPlan.read_range (blocks through one buffer, split by the C or the Python scan) gives
    the rows, counts and line numbers of the exact per-line path over the range's bytes."""
    text = "\n".join(_line(kind, words, i) for i, (kind, words) in enumerate(lines))
    raw = (text + ("\n" if final_newline and lines else "")).encode()
    path = tmp_path / f"r{block}.log"
    path.write_bytes(raw)
    offset = min(sum(len(line) + 1 for line in raw.split(b"\n")[:skip]), len(raw))
    data = raw[offset:]
    plan = SysmonPlan(FIELDS, frozenset({1}), SEED)
    assert plan.streams is (scan_impl == "c")
    batch, stats = plan.read_range(path, offset, len(data), "x", block)
    rows, expected = _exact(plan, data)
    assert batch.to_pylist() == rows
    assert _key(stats) == _key(expected)
    assert stats.lines == data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(
            KINDS,
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
            st.sampled_from([b"", b"", b"", b"\xff\xfe", b"\x00", "é".encode()]),
        ),
        max_size=40,
    ),
    block=st.sampled_from([1, 300, 2000, 1 << 20]),
    max_out=st.sampled_from([1, 700, 1 << 20]),
)
def test_the_c_range_scan_equals_the_block_loop(
    scan_impl: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[tuple[str, list[str], bytes]],
    block: int,
    max_out: int,
) -> None:
    """SysmonPlan.read_range through the C range scan (prefilter.scan_range: called again when
    it stops at RANGE_MAX_OUT bytes) gives the rows, counts and problem lines (not UTF-8 text
    included) of the loop over framing.iter_blocks it replaces."""
    if scan_impl != "c":
        pytest.skip("the range scan is C only")
    monkeypatch.setattr(prefilter, "RANGE_MAX_OUT", max_out)
    raw = b"\n".join(
        _line(kind, words, i).encode() + extra for i, (kind, words, extra) in enumerate(lines)
    )
    path = tmp_path / f"c{block}-{max_out}.log"
    path.write_bytes(raw)
    plan = SysmonPlan(FIELDS, frozenset({1}), SEED)
    got = plan.read_range(path, 0, len(raw), "x", block)
    monkeypatch.setattr(prefilter, "has_c_scan", lambda: False)  # the loop in Python
    expected = plan.read_range(path, 0, len(raw), "x", block)
    assert got[0].to_pylist() == expected[0].to_pylist()
    assert _key(got[1]) == _key(expected[1])
    counts = [(s.lines, s.invalid_utf8, s.not_utf8, s.binary) for s in (got[1], expected[1])]
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("where", "kept"),
    [
        # ESCU spells the escapes: the needle is that text, which Sysmon writes for a real ">"
        ('Processes.process="* echo 3 &gt; *"', ["echo 3 > /proc/sys/vm/drop_caches"]),
        ('Processes.process="*&amp;&gt;/dev/null*"', ["wget -q x &>/dev/null"]),
        # a raw ">" or "&" in a search: no Sysmon value holds one, nothing is lost by the needle
        ('Processes.process="* echo 3 > *"', []),
        # (cut at "/": the needle is "null", which both commands hold; the search drops them later)
        (
            'Processes.process="*&>/dev/null*"',
            ["wget -q x &>/dev/null", "wget -q x &amp;&gt;/dev/null"],
        ),
        # the escape typed as text: Sysmon wrote "&amp;gt;", which the value holds
        ('Processes.process="* echo 3 &amp;gt; *"', ["echo 3 &gt; /proc/sys/vm/drop_caches"]),
    ],
)
def test_literals_with_escapes_find_the_events_sysmon_wrote(where: str, kept: list[str]) -> None:
    from escudo.compile.pushdown import raw_filter_for
    from escudo.spl.parser import parse

    tstats = parse(f"| tstats count from datamodel=Endpoint.Processes where {where}").commands[0]
    raw_filter = raw_filter_for("Endpoint.Processes", tstats.where)  # type: ignore[attr-defined]
    assert raw_filter.clauses
    commands = [
        "echo 3 > /proc/sys/vm/drop_caches",  # as typed; Sysmon escapes it
        "echo 3 &gt; /proc/sys/vm/drop_caches",
        "wget -q x &>/dev/null",
        "wget -q x &amp;&gt;/dev/null",
    ]
    lines = [syslog_line(_event(f"bash -c {c}", i)) for i, c in enumerate(commands)]
    filler = [syslog_line(_event(f"ls /var/{i}", 100 + i)) for i in range(200)]
    data = ("\n".join(filler[:100] + lines + filler[100:]) + "\n").encode()
    rows, stats = _check(SysmonPlan(FIELDS, frozenset({1}), raw_filter), data)
    written = [c.replace("&", "&amp;").replace(">", "&gt;") for c in kept]
    assert [r["CommandLine"] for r in rows] == [f"bash -c {w}" for w in written]
    assert [r["EventRecordID"] for r in rows] == [str(commands.index(c)) for c in kept]
    assert stats.filtered == 204 - len(kept)
