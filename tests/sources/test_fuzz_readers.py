"""Fuzzing the Sysmon reader: mutated real shapes in files, ``.gz``, directories and stdin.

Inputs start from every line of the golden fixtures (each Sysmon shape: RFC 3164, ``<14>``
forwarded, ISO rsyslog, RFC 5424, journalctl short and JSON, bare XML) and from generated events,
then get byte mutations (markup and entity fragments, invalid UTF-8, NUL, CR, cuts, duplicated
slices), random bytes, huge lines, UTF-16 and Latin-1 text. Properties, whatever the input:

* the read raises nothing (a file that exists is never an error; only escudo's errors may
  ever come out of a read);
* every non-blank line is accounted for exactly once: ``events + skipped + malformed + other +
  filtered`` is the number of non-blank lines, and every problem names a line of its file;
* the whole-chunk fast path agrees with the per-event path (rows and counts), and a read does not
  depend on how the input is cut into chunks, compressed, split into files or piped to stdin.

``benchmarks/fuzz.py`` runs these same properties (``TARGETS``) for minutes instead of seconds.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sysmon_events import event_xml, syslog_line

from escudo.datamodels.normalize import read_dataset
from escudo.errors import EscudoError
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import GZIP_MAGIC
from escudo.sources.registry import get_sourcetype
from escudo.sources.sysmon import SysmonPlan
from escudo.sources.sysmon_xml import EVENT_FIELDS

GOLDEN = Path(__file__).parents[1] / "fixtures" / "sysmon" / "golden"
DATASETS = ("Endpoint.Processes", "Endpoint.Filesystem", "Network_Traffic.All_Traffic", "raw")
SOURCETYPE = get_sourcetype(None)

# CI: a bounded, derandomized run (same examples on every machine); the benchmark overrides it.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEEDS: list[bytes] = sorted(
    {
        line.rstrip(b"\r")
        for path in GOLDEN.glob("*.log")
        for line in path.read_bytes().split(b"\n")
        if b"<Event>" in line
    }
)
PREFIXES = [
    b"",
    b"Mar 11 09:15:21 web-01 sysmon: ",
    b"<14>Mar 11 09:15:21 relay sysmon: ",
    b"2024-03-11T09:15:21.618+00:00 iso-host sysmon: ",
    b"<14>1 2024-03-11T09:15:21.6+00:00 web-9 sysmon - - - ",
    b'<14>1 2024-03-11T09:15:21Z - sysmon - - [x@1 a="b"] ',
    b"Mar 09 10:42:47 ar-linux sysmon[1465]: ",
    b"\xef\xbb\xbfMar 11 09:15:21 bom sysmon: ",
    b"Xyz 99 99:99:99 bad sysmon: ",
    b" ",
]
# Fragments a mutation inserts: markup, entities, CDATA, a DTD, invalid UTF-8, control bytes.
TOKENS = [
    b"<", b">", b"&", b"&amp;", b"&lt;", b"&#", b"&#65;", b"&#x41;", b"&#0;", b"&#xD800;",
    b"&#1114112;", b"&bogus;", b"]]>", b"<![CDATA[x]]>", b"<!--c-->", b"<?pi x?>",
    b'<!DOCTYPE E [<!ENTITY a "b">]>', b"&a;", b"\x00", b"\x01", b"\x0b", b"\xff", b"\xc3",
    b"\xe2\x84\xaa", b"\xc4\xb0", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\n", b"\t", b" ",
    b"<Event>", b"</Event>", b"<EventID>", b"</EventID>", b"<EventID>4294967296</EventID>",
    b"<System>", b"</System>", b'<Data Name="Image">', b"</Data>", b"<Data/>", b'"', b"'",
    b"{", b"}", b'"MESSAGE": ', b"\\u003cEvent>", b"\\", b"=", b"<x y='1' y='2'/>",
]  # fmt: skip
VALUE = st.text(alphabet="ab /-.é日&<>\"'\r\t;#x0]\x01\x7f\ufffd\U0001f600", max_size=16)


@st.composite
def generated_event(draw: st.DrawFn) -> bytes:
    """A well-formed event of any EventID, in one of the Sysmon shapes (journald JSON too)."""
    eventid = draw(st.sampled_from(sorted(EVENT_FIELDS)))
    fields = EVENT_FIELDS[eventid]
    values = {f: draw(VALUE) for f in draw(st.sets(st.sampled_from(fields), max_size=4))}
    xml = event_xml(
        values, eventid=eventid, fields=fields, computer=draw(VALUE), record=draw(st.integers(0))
    )
    shape = draw(st.sampled_from(["syslog", "prefix", "json", "json-bytes"]))
    if shape == "syslog":
        return syslog_line(xml, host=draw(st.sampled_from(["web-01", "h", "a.b.c"]))).encode()
    if shape == "json":
        return json.dumps({"MESSAGE": xml, "_HOSTNAME": "jh", "PRIORITY": "6"}).encode()
    if shape == "json-bytes":  # journald's array of bytes for a non-UTF-8 field
        return json.dumps({"MESSAGE": list(xml.encode()), "_HOSTNAME": "jb"}).encode()
    return draw(st.sampled_from(PREFIXES)) + xml.encode()


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` with a few byte-level mutations."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "insert", "delete", "flip", "cut", "dup", "swap"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos:]
        elif op == "dup":
            end = min(len(data), pos + draw(st.integers(1, 200)))
            data[end:end] = data[pos:end]
        elif op == "swap" and data:
            other = draw(st.integers(0, len(data) - 1))
            size = draw(st.integers(1, 30))
            a, b = data[pos : pos + size], data[other : other + size]
            data[pos : pos + size], data[other : other + size] = b, a
    return bytes(data)


@st.composite
def odd_encoding(draw: st.DrawFn) -> bytes:
    """An event in UTF-16 (a mis-set rsyslog template) or a value in Latin-1."""
    xml = event_xml({"CommandLine": draw(st.text(alphabet="aé€ \u00ff", max_size=8))})
    kind = draw(st.sampled_from(["utf-16", "utf-16-le", "latin-1"]))
    return xml.encode(kind, "replace")


@st.composite
def huge_event(draw: st.DrawFn) -> bytes:
    """An event with one value of up to ~200 KB (a long command line), maybe cut."""
    size = draw(st.sampled_from([4096, 65_536, 200_000]))
    line = syslog_line(event_xml({"CommandLine": draw(st.sampled_from("A&<é")) * size})).encode()
    if draw(st.booleans()):
        line = line[: draw(st.integers(0, len(line)))]
    return line


SEED = st.sampled_from(SEEDS)
LINE = st.one_of(
    SEED,
    generated_event(),
    mutated(SEED),
    mutated(generated_event()),
    st.binary(max_size=80),
    st.sampled_from([b"", b"   ", b"\r", b"\x0b\x0c", b"{}", b"[]", b"null", b'{"MESSAGE": 1}']),
    odd_encoding(),
)
LINES = st.lists(LINE, min_size=1, max_size=12)
NEWLINE = st.sampled_from([b"\n", b"\n", b"\r\n"])
CHUNK_BYTES = st.sampled_from([1, 64, 700, 5000, 8 << 20])
RAW_FILTER = st.none() | st.builds(
    RawFilter,
    st.lists(
        st.lists(st.sampled_from(["ngrok", "tcp", "/tmp", "a", "é", "&", "<"]), min_size=1).map(
            tuple
        ),
        max_size=2,
    ).map(tuple),
)


def join(lines: list[bytes], newline: bytes, final: bool) -> bytes:
    return newline.join(lines) + (newline if final else b"")


def nonblank_lines(data: bytes) -> int:
    """What the reader must account for: lines (cut at ``\\n``) not all ASCII whitespace."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _plan(dataset: str, extractor: str, raw_filter: RawFilter | None = None) -> SysmonPlan:
    if dataset == "raw":
        plan = SOURCETYPE.plan(SOURCETYPE.all_fields, None, raw_filter, extractor)
    else:
        from escudo.datamodels.mappings import get_mapping

        mapping = get_mapping(SOURCETYPE.name, dataset)
        plan = SOURCETYPE.plan(mapping.raw_fields, mapping.record_types, raw_filter, extractor)
    assert isinstance(plan, SysmonPlan)
    return plan


def counts(stats: ReadStats) -> tuple[int, ...]:
    return (
        stats.events,
        stats.skipped,
        stats.malformed,
        stats.other,
        stats.filtered,
        stats.invalid_utf8,
    )


def accounted(stats: ReadStats) -> int:
    return stats.events + stats.skipped + stats.malformed + stats.other + stats.filtered


def check_accounting(stats: ReadStats, sizes: dict[str, int], expected: int) -> None:
    assert accounted(stats) == expected, counts(stats)
    # Problems are kept for malformed lines and for lines that are not text (NUL, invalid UTF-8).
    assert stats.problem_count >= len(stats.problems)
    for problem in stats.problems:
        assert 1 <= problem.line <= sizes[problem.path], (problem, sizes)


# --- properties (shared with benchmarks/fuzz.py) ------------------------------------------------


def check_chunk(lines: list[bytes], newline: bytes, final: bool, dataset: str) -> None:
    """One chunk through every extractor: nothing raised, every line accounted for, the fast
    path equal to the per-event scan (rows and counts)."""
    data = join(lines, newline, final)
    results = {}
    for extractor in ("fast", "scan", "reference"):
        batch, stats = _plan(dataset, extractor)(data, "f.log")
        check_accounting(stats, {"f.log": line_count(data)}, nonblank_lines(data))
        assert batch.num_rows == stats.events
        results[extractor] = (batch.to_pylist(), counts(stats))
    assert results["fast"] == results["scan"]


def check_filtered_chunk(
    lines: list[bytes], newline: bytes, dataset: str, raw_filter: RawFilter | None
) -> None:
    """The raw-text prefilter path: nothing raised, every line accounted for, the rows those of
    the lines read one at a time, and each line either dropped or read as without the filter,
    and never dropped when the filter's reference test (``RawFilter.matches``) keeps it."""
    data = join(lines, newline, True)
    batch, stats = _plan(dataset, "fast", raw_filter)(data, "f.log")
    check_accounting(stats, {"f.log": line_count(data)}, nonblank_lines(data))
    rows: list[dict[str, object]] = []
    for line in data.split(b"\n"):
        alone = _plan(dataset, "fast", raw_filter)(line + b"\n", "f.log")[0].to_pylist()
        unfiltered = _plan(dataset, "fast")(line + b"\n", "f.log")[0].to_pylist()
        assert alone in ([], unfiltered)
        if raw_filter is None or raw_filter.matches(line):
            assert alone == unfiltered
        rows += alone
    assert batch.to_pylist() == rows


@contextlib.contextmanager
def piped_stdin(data: bytes) -> Iterator[None]:
    """``sys.stdin`` reading ``data`` through a real buffered reader, as a pipe would be."""
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdin = saved


def _read(paths: list[str], dataset: str, **kw: Any) -> tuple[list[dict[str, object]], ReadStats]:
    stats = ReadStats()
    rows = [
        r for b in read_dataset(paths, dataset, stats=stats, workers=1, **kw) for r in b.to_pylist()
    ]
    return rows, stats


def check_inputs(
    lines: list[bytes],
    newline: bytes,
    final: bool,
    container: str,
    dataset: str,
    chunk_bytes: int,
    raw_filter: RawFilter | None,
    split: int,
) -> None:
    """The whole read (``read_dataset``) from a plain file, a ``.gz``, a directory of several
    files (some gzipped) or stdin (plain or gzipped), with any chunk size and raw filter: nothing
    raised, every line accounted for, and the same rows and counts as one plain file read in one
    chunk."""
    data = join(lines, newline, final)
    # A plain input whose first bytes are gzip's magic is read as gzip and reported as damaged
    # (check_damaged_gzip): its lines are not accounted one by one.
    assume(not (container in ("file", "dir", "stdin") and data.startswith(GZIP_MAGIC)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = root / "plain.log"
        plain.write_bytes(data)
        expected_rows, expected = _read([str(plain)], dataset, raw_filter=raw_filter)
        check_accounting(expected, {str(plain): line_count(data)}, nonblank_lines(data))
        sizes: dict[str, int] = {}
        if container in ("file", "gz"):
            path = root / "input.log"
            path.write_bytes(gzip.compress(data) if container == "gz" else data)
            paths, sizes = [str(path)], {str(path): line_count(data)}
        elif container == "dir":
            # The lines split into files a/0.log, a/1.log.gz, ... (read in sorted order).
            cut = min(split, len(lines))
            parts = [lines[:cut], lines[cut:]] if 0 < cut < len(lines) else [lines]
            folder = root / "a"
            folder.mkdir()
            for i, part in enumerate(parts):
                body = join(part, newline, True)
                path = folder / f"{i}.log{'.gz' if i % 2 else ''}"
                path.write_bytes(gzip.compress(body) if i % 2 else body)
                sizes[str(path)] = line_count(body)
            paths = [str(folder)]
        else:
            paths, sizes = ["-"], {"-": line_count(data)}
        if container.startswith("stdin"):
            payload = gzip.compress(data) if container == "stdin-gz" else data
            with piped_stdin(payload):
                rows, stats = _read(paths, dataset, raw_filter=raw_filter, chunk_bytes=chunk_bytes)
        else:
            rows, stats = _read(paths, dataset, raw_filter=raw_filter, chunk_bytes=chunk_bytes)
    check_accounting(stats, sizes, nonblank_lines(data))
    assert rows == expected_rows
    assert counts(stats) == counts(expected)


def guard(check: Callable[..., None]) -> Callable[..., None]:
    """``check`` where an escudo error is an accepted outcome and any other exception a bug."""

    def run(**kwargs: Any) -> None:
        with contextlib.suppress(EscudoError):
            check(**kwargs)

    run.__name__ = check.__name__
    return run


CHUNK_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "lines": LINES,
    "newline": NEWLINE,
    "final": st.booleans(),
    "dataset": st.sampled_from(DATASETS),
}
FILTER_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "lines": LINES,
    "newline": NEWLINE,
    "dataset": st.sampled_from(DATASETS),
    "raw_filter": RAW_FILTER,
}
INPUT_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "lines": LINES,
    "newline": NEWLINE,
    "final": st.booleans(),
    "container": st.sampled_from(["file", "gz", "dir", "stdin", "stdin-gz"]),
    "dataset": st.sampled_from(DATASETS),
    "chunk_bytes": CHUNK_BYTES,
    "raw_filter": RAW_FILTER,
    "split": st.integers(0, 12),
}
HUGE_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "lines": st.lists(st.one_of(huge_event(), SEED, mutated(SEED)), min_size=1, max_size=3),
    "newline": NEWLINE,
    "final": st.booleans(),
    "dataset": st.sampled_from(DATASETS),
}


DAMAGED_GZIP_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "lines": LINES,
    "damage": st.sampled_from(["cut", "flip", "magic"]),
    "where": st.integers(0, 1 << 16),
}


def check_damaged_gzip(lines: list[bytes], damage: str, where: int) -> None:
    """A ``.gz`` cut short or with a flipped byte, or a plain file starting with gzip's magic:
    nothing is raised, and the damage is reported (as the input, or a line, that could not be
    read) unless a flipped byte left the stream readable or a cut left no gzip magic."""
    data = gzip.compress(join(lines, b"\n", True))
    if damage == "cut":
        data = data[: where % len(data)]
    elif damage == "flip":
        pos = where % len(data)
        data = data[:pos] + bytes([data[pos] ^ 0x55]) + data[pos + 1 :]
    else:
        data = GZIP_MAGIC + join(lines, b"\n", True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.log"
        path.write_bytes(data)
        _, stats = _read([str(path)], "raw")
        if damage != "flip" and data.startswith(GZIP_MAGIC):  # a cut before the magic: plain text
            assert stats.unreadable or stats.problems, counts(stats)


def check_against_reference(lines: list[bytes], newline: bytes, final: bool, dataset: str) -> None:
    """The fast path against expat (the reference) on valid UTF-8: same rows and counts. Not in CI:
    the fast path's generic extractor accepts some markup expat refuses (a stray close tag such as
    ``<Task>1</Task>Opcode>0</Opcode>``), and the reference does not count invalid UTF-8."""
    data = join(lines, newline, final)
    try:
        data.decode()
    except UnicodeDecodeError:
        return
    fast, fast_stats = _plan(dataset, "fast")(data, "f.log")
    ref, ref_stats = _plan(dataset, "reference")(data, "f.log")
    assert (fast.to_pylist(), counts(fast_stats)) == (ref.to_pylist(), counts(ref_stats))


# Targets the benchmark runs but CI does not, with why: name -> (property, strategies, why)
KNOWN_TARGETS: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]], str]] = {
    "reader.vs-reference": (
        check_against_reference,
        CHUNK_ARGS,
        "none yet: lenient generic XML extractor (a difference, not an exception)",
    ),
}

# name -> (property, its arguments' strategies, examples in CI)
TARGETS: dict[str, tuple[Callable[..., None], dict[str, st.SearchStrategy[Any]], int]] = {
    "reader.chunk": (check_chunk, CHUNK_ARGS, 120),
    "reader.prefilter": (check_filtered_chunk, FILTER_ARGS, 60),
    "reader.inputs": (check_inputs, INPUT_ARGS, 40),
    "reader.huge": (check_chunk, HUGE_ARGS, 8),
    "reader.gzip-damaged": (check_damaged_gzip, DAMAGED_GZIP_ARGS, 40),
}


@settings(FUZZ, max_examples=TARGETS["reader.chunk"][2])
@given(**CHUNK_ARGS)
def test_chunks_of_mutated_shapes(**kw: Any) -> None:
    guard(check_chunk)(**kw)


@settings(FUZZ, max_examples=TARGETS["reader.prefilter"][2])
@given(**FILTER_ARGS)
def test_prefiltered_chunks_of_mutated_shapes(**kw: Any) -> None:
    guard(check_filtered_chunk)(**kw)


@settings(FUZZ, max_examples=TARGETS["reader.inputs"][2])
@given(**INPUT_ARGS)
def test_files_gzip_directories_and_stdin(**kw: Any) -> None:
    guard(check_inputs)(**kw)


@settings(FUZZ, max_examples=TARGETS["reader.huge"][2])
@given(**HUGE_ARGS)
def test_huge_lines(**kw: Any) -> None:
    guard(check_chunk)(**kw)


def test_an_event_cut_by_a_newline_reads_alike_whatever_else_the_chunk_holds() -> None:
    # Found by test_huge_lines: with ']]>' elsewhere in the chunk the fast path hands it to the
    # per-event scan, whose one pattern read the two halves of a cut event as one event.
    event = syslog_line(event_xml()).encode()
    cut = event.replace(b"tcp 22", b"tcp\n22", 1)
    for other in (event, event.replace(b"tcp 22", b"]]>")):
        for extractor in ("fast", "scan", "reference"):
            batch, stats = _plan("Endpoint.Processes", extractor)(cut + b"\n" + other, "f.log")
            assert batch.column("CommandLine").to_pylist() in ([], ["/tmp/ngrok tcp 22"])
            assert (stats.skipped, [p.line for p in stats.problems][:1]) == (1, [1])


@settings(FUZZ, max_examples=TARGETS["reader.gzip-damaged"][2])
@given(**DAMAGED_GZIP_ARGS)
def test_damaged_gzip_is_reported_never_raised(**kw: Any) -> None:
    check_damaged_gzip(**kw)
