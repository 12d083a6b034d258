"""The C extraction (``escudo.sources._sysmon``) against the Python paths it stands for.

test_columnar.py runs every reading test with each of the two columnar paths; here the C module
meets, on generated lines and on lines mutated byte by byte, the Python regex path (wherever that
path reads the chunk) and the exact per-event path over the whole chunk, for every plan the
readers make: one data set, every data set of an ingest (four EventIDs), and the raw fields of
every EventID.
"""

from __future__ import annotations

import shutil
import sysconfig

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sysmon_events import event_xml, syslog_line

from escudo.datamodels.mappings import get_mapping
from escudo.sources import sysmon_columnar
from escudo.sources.base import ReadStats
from escudo.sources.registry import get_sourcetype
from escudo.sources.sysmon import SysmonPlan, _Sink
from escudo.sources.sysmon_columnar import _layouts, read_columnar_python
from escudo.sources.sysmon_xml import EVENT_FIELDS
from escudo.store.parse import ChunkParser

_sysmon = sysmon_columnar._sysmon
needs_c = pytest.mark.skipif(_sysmon is None, reason="escudo.sources._sysmon was not built")
SOURCETYPE = get_sourcetype("sysmon:linux")


def _plan(kind: str) -> SysmonPlan:
    if kind == "store":  # what an ingest reads: every data set's fields and EventIDs at once
        normalizer = ChunkParser("sysmon:linux").normalizer
        assert normalizer is not None
        plan = normalizer.plan
    elif kind == "raw":
        plan = SOURCETYPE.plan(SOURCETYPE.all_fields, None, None, "fast")
    else:
        mapping = get_mapping(SOURCETYPE.name, kind)
        plan = SOURCETYPE.plan(mapping.raw_fields, mapping.record_types, None, "fast")
    assert isinstance(plan, SysmonPlan)
    return plan


PLANS = ("store", "raw", "Endpoint.Processes", "Endpoint.Filesystem", "Network_Traffic.All_Traffic")


def _summary(stats: ReadStats) -> tuple[object, ...]:
    problems = [(p.line, p.reason) for p in stats.problems]
    return (stats.events, stats.skipped, stats.malformed, stats.other, stats.invalid_utf8, problems)


def _exact(plan: SysmonPlan, data: bytes) -> tuple[list[dict[str, object]], tuple[object, ...]]:
    """The exact per-event path over the whole chunk, line by line."""
    sink = _Sink()
    plan._read_lines(data, "f.log", 0, len(data), 1, [], sink)
    sink.stats.events = len(sink.rows)
    return plan._batch(sink.hosts, sink.rows, sink.stats).to_pylist(), _summary(sink.stats)


def _lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _agree(plan: SysmonPlan, data: bytes) -> pa.RecordBatch:
    """C's rows and counts are the exact path's, and the Python regex path's where it reads."""
    batch, stats = sysmon_columnar._read_c(plan, data, "f.log")
    assert batch.schema == plan.schema
    batch.validate(full=True)  # offsets, UTF-8
    rows = batch.to_pylist()
    assert (rows, _summary(stats)) == _exact(plan, data)
    assert stats.lines == _lines(data)
    python = read_columnar_python(plan, data, "f.log")
    if python is not None:
        assert rows == python[0].to_pylist()
        assert _summary(stats) == _summary(python[1])
    return batch


@needs_c
def test_plain_events_of_every_eventid_come_back_as_columns() -> None:
    lines = [
        syslog_line(event_xml({"Image": "/bin/a&amp;b"}, eventid=e, fields=f, record=e))
        for e, f in EVENT_FIELDS.items()
    ]
    data = ("\n".join(lines) + "\n").encode()
    plan = _plan("raw")
    assert _sysmon is not None
    rows, *_, exact, skipped, other, count = _sysmon.extract(
        data, _layouts(plan.fields, None), None, len(plan.fields)
    )
    assert (rows, exact, skipped, other, count) == (len(EVENT_FIELDS), [], 0, 0, len(lines))
    batch = _agree(plan, data)
    assert batch.column("EventID").to_pylist() == [str(e) for e in EVENT_FIELDS]
    assert batch.column("host").to_pylist() == ["web-01"] * len(lines)
    assert batch.column("EventRecordID").to_pylist() == [str(e) for e in EVENT_FIELDS]


@needs_c
def test_every_dataset_of_an_ingest_is_read_by_c() -> None:
    """Four EventIDs at once: more than the Python regex path takes, so it was per event."""
    plan = _plan("store")
    data = "".join(
        syslog_line(event_xml(eventid=e, fields=EVENT_FIELDS[e])) + "\n" for e in (1, 3, 5, 11, 23)
    ).encode()
    assert read_columnar_python(plan, data, "f.log") is None
    assert _sysmon is not None
    wanted = tuple(sorted(plan.eventids or ()))
    rows, *_, exact, _skipped, other, _ = _sysmon.extract(
        data, _layouts(plan.fields, plan.eventids), wanted, len(plan.fields)
    )
    assert (rows, exact, other) == (4, [], 1)
    assert _agree(plan, data).column("EventID").to_pylist() == ["1", "3", "11", "23"]


# --- generated and mutated lines ----------------------------------------------------------------

VALUE = st.text(alphabet="ab /-.é日&<>\"'\r\t;#x0123]", max_size=10)
PREFIX = st.sampled_from(
    [
        "",
        "Mar 11 09:15:21 web-01 sysmon: ",
        "Mar  1 09:15:21 db-2 sysmon[12]: ",
        "Xyz 11 09:15:21 web-01 sysmon: ",
        "<14>Mar 11 09:15:21 web-01 sysmon: ",
        "<1234>Mar 11 09:15:21 web-01 sysmon: ",
        "<14>1 2024-03-11T09:15:21.6+00:00 web-9 sysmon - - - ",
        "2024-03-11T09:15:21.618+00:00 iso-host sysmon: ",
        " Mar 11 09:15:21 web-01 sysmon: ",
        "\x0bMar 11 09:15:21 web-01 sysmon: ",
        "a]]>b sysmon: ",
        "{",
    ]
)
TIME = st.sampled_from(
    [
        "2024-03-11T09:15:21.618000000Z",
        "2024-03-11T09:15:21Z",
        "2024-03-11T09:15:21.1Z",
        "2024-03-11T09:15:21.1234567890Z",
        "2024-03-11T09:15:21.Z",
        "2024-03-11 09:15:21Z",
        "9999-99-99T99:99:99.999999999Z",
    ]
)
# What a mutation inserts or writes over: markup, entities, line ends, bytes that are not UTF-8.
PIECES = st.sampled_from(
    [
        b"<", b">", b"&", b'"', b"]", b"]]>", b"\n", b"\r", b" ", b"{", b"\x00", b"\x0b", b"0",
        b"1", b"9", b"&amp;", b"&lt", b"&#13;", b"&#x0;", b"<Event>", b"</Event>", b"</Data>",
        b"<EventID>", b"</EventID>", b"\xff", b"\xc3", b"\xc3\xa9", b"\xed\xa0\x80", b"\xf4\x90",
        b"\xe2\x84\xaa",
    ]
)  # fmt: skip


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    eventid = draw(st.sampled_from([*EVENT_FIELDS, 2, 7]))
    fields = EVENT_FIELDS.get(eventid, EVENT_FIELDS[5])
    values = {f: draw(VALUE) for f in draw(st.sets(st.sampled_from(fields), max_size=3))}
    xml = event_xml(
        values, eventid=eventid, fields=fields, computer=draw(VALUE), time=draw(TIME)
    ).encode()
    line = draw(PREFIX).encode() + xml + draw(st.sampled_from([b"", b" ", b"\r", b" \t", b" x"]))
    # where values start (after '>' or '="'): most mutations land there, in a value
    starts = [i + 1 for i, b in enumerate(line) if b == ord(">")]
    starts += [i + 2 for i in range(len(line)) if line.startswith(b'="', i)]
    for _ in range(draw(st.integers(0, 3))):
        how = draw(
            st.sampled_from(["value", "value", "value", "insert", "replace", "delete", "cut"])
        )
        at = draw(st.sampled_from(starts) if how == "value" else st.integers(0, len(line)))
        piece = draw(PIECES)
        if how in ("value", "insert"):
            line = line[:at] + piece + line[at:]
        elif how == "replace":
            line = line[:at] + piece + line[at + len(piece) :]
        elif how == "delete":
            line = line[:at] + line[at + draw(st.integers(1, 8)) :]
        else:
            line = line[:at]
    return line


JUNK = st.sampled_from(
    [
        b"",
        b"   ",
        b"\r",
        b"Mar 11 09:15:21 web-01 CRON[1]: (root) CMD (true)",
        b'{"MESSAGE": "hello", "_HOSTNAME": "j"}',
        b"{not json <Event>",
        b"\t<Event>",
        b"\xff\xfe junk",
    ]
)


PLAIN = syslog_line(event_xml()).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_line(), _line(), _line(), JUNK), min_size=1, max_size=8),
    st.sampled_from(PLANS),
    st.booleans(),
)
@example([PLAIN], "store", True)
@example([PLAIN.replace(b"/tmp/ngrok", b"/tmp/\xff")], "store", True)  # not UTF-8
@example([PLAIN.replace(b"/tmp/ngrok", b"/tmp/]]>")], "store", True)  # refused in XML text
@example([PLAIN.replace(b'Name="Linux-', b'Name="]]>Linux-')], "store", False)  # in the head
@example([PLAIN.replace(b'Guid="{', b'Guid="]]>{')], "raw", True)  # too: the exact path refuses
@example([PLAIN.replace(b'Name="Linux-', b'Name="Linux&')], "raw", True)  # a stray '&'
@example([PLAIN.replace(b">1<", b">12345678901<")], "store", True)  # EventID past 10 digits
@example([PLAIN.replace(b".618000000Z", b".6180000000Z")], "store", True)  # 10 fraction digits
@example([event_xml(eventid=3, fields=EVENT_FIELDS[3]).encode() + b" x"], "store", False)
@needs_c
def test_c_equals_the_exact_path_and_the_python_path(
    lines: list[bytes], plan: str, final_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    _agree(_plan(plan), data)


@needs_c
@pytest.mark.parametrize(
    "sequence",
    [b"\xc3\xa9", b"\xe6\x97\xa5", b"\xf0\x9f\x98\x80", b"\xff", b"\xc3", b"\xe6\x97", b"\xc0\xaf",
     b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xf0\x8f\xbf\xbf"],
)  # fmt: skip
def test_utf8_is_checked_at_every_offset(sequence: bytes) -> None:
    """Valid and invalid UTF-8 (overlong, surrogate, past U+10FFFF, cut) at each offset of a
    value, so across the 64-byte blocks the C check reads at once."""
    head, tail = PLAIN.split(b"/tmp/ngrok tcp 22", 1)
    lines = [head + b"x" * k + sequence + b"y" * (70 - k) + tail for k in range(70)]
    batch = _agree(_plan("store"), b"\n".join(lines) + b"\n")
    valid = sequence.decode("utf-8", "replace") == sequence.decode("utf-8", "ignore")
    replaced = ["\ufffd" in v for v in batch.column("CommandLine").to_pylist()]
    assert replaced == [not valid] * 70


@needs_c
def test_bad_arguments_and_bad_bytes() -> None:
    assert _sysmon is not None
    plan = _plan("Endpoint.Processes")
    layouts = _layouts(plan.fields, plan.eventids)
    n = len(plan.fields)
    with pytest.raises(TypeError):
        _sysmon.extract("text", layouts, (1,), n)
    with pytest.raises(TypeError):
        _sysmon.extract(b"", layouts, [1], n)
    with pytest.raises(ValueError, match="head"):
        _sysmon.extract(b"", {1: layouts[1]}, (1,), n)
    with pytest.raises(ValueError, match="slot"):
        _sysmon.extract(b"", layouts, (1,), 1)
    with pytest.raises(ValueError, match="negative"):
        _sysmon.extract(b"", layouts, (1,), -1)
    digits, steps, final = layouts[1]  # type: ignore[misc]
    bad = {**layouts, 1: (digits, ((steps[0][0], 7, -1),), final)}
    with pytest.raises(ValueError, match="kind"):
        _sysmon.extract(b"", bad, (1,), n)
    for broken in ({**layouts, "head": [0, 1, 2]}, {**layouts, 1: [digits, steps, final]}):
        with pytest.raises(TypeError, match="tuple"):
            _sysmon.extract(b"", broken, (1,), n)
    with pytest.raises(TypeError, match="step"):
        _sysmon.extract(b"", {**layouts, 1: (digits, (list(steps[0]),), final)}, (1,), n)
    assert _sysmon.extract(b"", layouts, (1,), n)[0] == 0
    # bytes that are no text at all: counted or handed to the exact path, never a row
    junk = bytes(range(256)) * 4 + b"\n<Event>\x00\xff</Event>\n\n"
    batch = _agree(plan, junk)
    assert batch.num_rows == 0
    assert _sysmon.extract(memoryview(junk), layouts, (1,), n)[7] == _lines(junk)  # any buffer


def test_c_extraction_is_built_where_a_compiler_is() -> None:
    """CI has a compiler: a build that silently dropped the extension fails here."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) here: the Python regex path is used")
    assert _sysmon is not None, "a C compiler is here but escudo.sources._sysmon is missing"
