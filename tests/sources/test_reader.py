"""Reading lines into events: garbage, malformed and odd lines, inputs, workers, raw filters."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sysmon_events import event_xml, syslog_line

from escudo.datamodels.normalize import read_dataset
from escudo.sources.base import RawFilter, ReadStats
from escudo.sources.framing import (
    expand_inputs,
    file_ranges,
    iter_blocks,
    iter_chunks,
    read_range,
    syslog_host,
)

GARBAGE = [
    "Mar 11 09:15:01 web-01 CRON[4011]: (root) CMD (run-parts /etc/cron.hourly)",
    'Mar 11 09:15:02 web-01 kernel: [1183.2] audit: type=1400 apparmor="DENIED"',
    "Mar 11 09:15:03 web-01 sysmon[811]: Sysmon v1.3.3 - Monitors system events",
    "",
    '{"MESSAGE": "Started Session 3", "_HOSTNAME": "web-01"}',
    "{not json at all",
    "\x00\x01\x02 binary junk \xff",
]


def _rows(
    paths: list[str | Path], dataset: str = "Endpoint.Processes", **kw: object
) -> list[dict[str, object]]:
    return [r for b in read_dataset(paths, dataset, **kw) for r in b.to_pylist()]  # type: ignore[arg-type]


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8", "surrogateescape") + newline.encode())
    return path


def test_n_valid_events_among_garbage(tmp_path: Path) -> None:
    valid = [syslog_line(event_xml({"ProcessId": str(i)}, record=i)) for i in range(7)]
    cut = syslog_line(event_xml())[:900]  # a syslog size limit cut the event
    broken = syslog_line(event_xml().replace("<Computer>", "<Computer><b>"))
    lines = [*GARBAGE, valid[0], cut, *valid[1:4], broken, *GARBAGE, *valid[4:]]
    stats = ReadStats()
    rows = _rows([_write(tmp_path / "syslog", lines)], stats=stats)
    assert [r["process_id"] for r in rows] == [str(i) for i in range(7)]
    assert (stats.events, stats.malformed, stats.skipped, stats.binary) == (7, 2, 12, 2)
    assert [(p.line, p.reason.split(":")[0]) for p in stats.problems] == [
        (7, "binary data (NUL byte at column 1)"),  # the junk line: skipped, and reported
        (9, "event cut short"),
        (13, "unexpected markup in <System>"),
        (20, "binary data (NUL byte at column 1)"),
    ]
    assert "syslog:9: event cut short" in stats.summary()


def test_crlf_huge_and_invalid_utf8_lines(tmp_path: Path) -> None:
    huge = "A" * 400_000
    lines = [
        syslog_line(event_xml({"CommandLine": huge})),
        syslog_line(event_xml({"CommandLine": "caf\udce9 au lait"})),  # a lone Latin-1 byte
    ]
    stats = ReadStats()
    rows = _rows([_write(tmp_path / "x.log", lines, "\r\n")], stats=stats)
    assert rows[0]["process"] == huge
    assert rows[1]["process"] == "caf\ufffd au lait"
    assert (stats.events, stats.invalid_utf8, stats.malformed) == (2, 1, 0)


def test_gzip_is_sniffed_not_named_and_directories_recurse_sorted(tmp_path: Path) -> None:
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "z.log").write_text(syslog_line(event_xml({"ProcessId": "3"})) + "\n")
    (tmp_path / "b" / "a.log").write_bytes(
        gzip.compress((syslog_line(event_xml({"ProcessId": "2"})) + "\n").encode())
    )
    (tmp_path / "a.txt").write_text(syslog_line(event_xml({"ProcessId": "1"})) + "\n")
    (tmp_path / ".hidden").write_text(syslog_line(event_xml({"ProcessId": "9"})) + "\n")
    assert [r["process_id"] for r in _rows([tmp_path])] == ["1", "2", "3"]
    assert [i.gzipped for i in expand_inputs([tmp_path])] == [False, True, False]


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    import pytest

    from escudo.errors import InputError

    with pytest.raises(InputError) as info:
        _rows([tmp_path / "nope.log"])
    assert info.value.path == str(tmp_path / "nope.log")


def test_stdin_plain_and_gzipped(tmp_path: Path) -> None:
    data = (syslog_line(event_xml({"ProcessId": "77"})) + "\n").encode()
    code = (
        "import sys; from escudo.datamodels.normalize import read_dataset;"
        "print([r['process_id'] for b in read_dataset(['-'], 'Endpoint.Processes') for r in b.to_pylist()])"
    )
    for payload in (data, gzip.compress(data)):
        out = subprocess.run(
            [sys.executable, "-c", code], input=payload, capture_output=True, check=True
        )
        assert out.stdout.strip() == b"['77']"


def test_two_workers_match_one_and_keep_line_numbers(tmp_path: Path) -> None:
    lines = []
    for i in range(300):
        lines.append(syslog_line(event_xml({"ProcessId": str(i)}, record=i)))
        if i % 50 == 7:
            lines.append(syslog_line(event_xml())[:700])
    path = _write(tmp_path / "big.log", lines)
    one, two = ReadStats(), ReadStats()
    serial = _rows([path], stats=one, workers=1, chunk_bytes=20_000)
    parallel = _rows([path], stats=two, workers=2, chunk_bytes=20_000)
    assert parallel == serial and len(serial) == 300
    assert (
        [p.line for p in two.problems] == [p.line for p in one.problems] == [9, 60, 111, 162, 213]
    )


# --- properties ---------------------------------------------------------------------------------

JUNK = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=60
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(JUNK, max_size=4), after=st.lists(JUNK, max_size=4), prefix=JUNK)
def test_text_around_an_event_never_changes_it(
    tmp_path: Path, before: list[str], after: list[str], prefix: str
) -> None:
    xml = event_xml({"CommandLine": 'sh -c "a & b" > /dev/null'})
    expected = _rows([_write(tmp_path / "clean.log", [xml])])
    path = _write(tmp_path / "noisy.log", [*before, prefix.replace("<Event>", "") + xml, *after])
    rows = _rows([path])
    assert len(rows) >= 1
    event = rows[[r["process"] for r in rows].index("sh -c &quot;a &amp; b&quot; &gt; /dev/null")]
    assert {k: v for k, v in event.items() if k != "host"} == {
        k: v for k, v in expected[0].items() if k != "host"
    }


WORDS = ["ngrok", "NGROK", "tcp", "http", "curl", "&amp;", "&#110;grok", "sh", "zzz"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    commands=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=1, max_size=12
    ),
    clauses=st.lists(
        st.lists(st.sampled_from(["ngrok", "tcp", "http", "curl", "n"]), min_size=1, max_size=2),
        max_size=3,
    ),
)
def test_raw_filter_keeps_exactly_the_matching_events(
    tmp_path: Path, commands: list[list[str]], clauses: list[list[str]]
) -> None:
    lines = [
        syslog_line(event_xml({"CommandLine": " ".join(c)}, record=i))
        .replace("&amp;amp;", "&amp;")
        .replace("&amp;#110;", "&#110;")
        for i, c in enumerate(commands)
    ]
    path = _write(tmp_path / "f.log", lines)
    raw_filter = RawFilter(tuple(tuple(c) for c in clauses))
    keep = {str(i) for i, line in enumerate(lines) if raw_filter.matches(line.encode())}
    all_rows = _rows([path], "raw")
    stats = ReadStats()
    filtered = _rows([path], "raw", raw_filter=raw_filter, stats=stats)
    assert filtered == [r for r in all_rows if r["EventRecordID"] in keep]
    assert stats.filtered == len(lines) - len(keep)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.integers(1, 200),
)
def test_chunks_and_ranges_cut_only_at_newlines(lines: list[bytes], size: int) -> None:
    import io
    import tempfile

    data = b"\n".join(lines)
    chunks = list(iter_chunks(io.BytesIO(data), size))
    assert b"".join(chunks) == data
    assert all(c.endswith(b"\n") for c in chunks[:-1])
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        pieces = [read_range(Path(fh.name), o, n) for o, n in file_ranges(Path(fh.name), size)]
        offset = len(pieces[0]) if pieces else 0  # a range inside the file, not from its start
        blocks = [bytes(v) for v in iter_blocks(Path(fh.name), offset, len(data) - offset, size)]
    assert b"".join(pieces) == data
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    assert b"".join(blocks) == data[offset:]
    assert all(b.endswith(b"\n") for b in blocks[:-1]) and all(blocks)


def test_syslog_shapes() -> None:
    assert syslog_host("Oct  4 09:59:47 ip-172-31-60-25 sysmon: ") == "ip-172-31-60-25"
    assert syslog_host("<14>Nov 24 09:59:47 relay sysmon: ") == "relay"
    assert syslog_host("2022-11-24T09:59:47.851002+00:00 h1 sysmon: ") == "h1"
    assert syslog_host("<14>1 2022-11-24T09:59:47.851002+00:00 h2 sysmon - - - ") == "h2"
    assert syslog_host("<14>1 2022-11-24T09:59:47Z - sysmon - - - ") is None
    assert syslog_host("Nov 24 09:59:47 h3 sysmon[3041]: ") == "h3"
    assert syslog_host("random words ") is None


def test_empty_result_keeps_the_schema(tmp_path: Path) -> None:
    batches = list(read_dataset([_write(tmp_path / "e.log", GARBAGE)], "Endpoint.Processes"))
    assert batches == [] or pa.Table.from_batches(batches).num_rows == 0


def test_rows_keep_file_order_across_fast_and_general_paths(tmp_path: Path) -> None:
    lines = [
        syslog_line(event_xml({"ProcessId": "0"})),
        syslog_line(event_xml({"ProcessId": "1", "CommandLine": "x"}).replace(">x<", ">&#120;<")),
        "{" + event_xml({"ProcessId": "2"}),  # starts like JSON but is not
        "  " + event_xml({"ProcessId": "3"}),
        syslog_line(event_xml({"ProcessId": "4"}) + event_xml({"ProcessId": "5"})),
        syslog_line(event_xml({"ProcessId": "6"}, eventid=5)),
        syslog_line(event_xml({"ProcessId": "7"})) + "  ",
    ]
    stats = ReadStats()
    rows = _rows([_write(tmp_path / "o.log", lines)], stats=stats)
    assert [r["process_id"] for r in rows] == ["0", "1", "2", "3", "7"]
    assert rows[1]["process"] == "&#120;"  # as written (docs/semantics.md)
    assert (stats.malformed, stats.other, stats.problems[0].line) == (1, 1, 5)
