"""The two extractors: equal on every fixture and on generated events; escapes kept; refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sysmon_events import PROCESS_CREATE, escape, event_xml

from escudo.sources.sysmon import SysmonPlan
from escudo.sources.sysmon_fast import FastExtractor
from escudo.sources.sysmon_xml import (
    ALL_FIELDS,
    EVENT_FIELDS,
    MalformedEvent,
    extract_generic,
    extract_reference,
)

GOLDEN = Path(__file__).parents[1] / "fixtures" / "sysmon" / "golden"
FAST = FastExtractor(ALL_FIELDS)


def _events() -> list[str]:
    lines = []
    for path in sorted(GOLDEN.glob("*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if (
                line.startswith(("<Event>", "Mar", "Aug", "Oct", "<14>", "20"))
                and "<Event>" in line
            ):
                lines.append(line[line.index("<Event>") : line.rindex("</Event>") + 8])
    return lines


def _both(xml: str) -> dict[str, str | None]:
    reference = extract_reference(xml)
    fast = dict(zip(ALL_FIELDS, FAST.extract(xml), strict=True))
    assert {k: v for k, v in fast.items() if v is not None} == {
        k: v for k, v in reference.items() if k in ALL_FIELDS
    }
    assert extract_generic(xml) == reference
    encoded = xml.encode()
    got = FAST.extract_bytes(encoded, 0, len(encoded), int(reference["EventID"]))
    assert tuple(None if v is None else v.decode() for v in got) == tuple(fast.values())
    return fast


@pytest.mark.parametrize("xml", _events())
def test_fixture_events_agree(xml: str) -> None:
    _both(xml)


def test_public_elastic_values_read_as_in_the_original() -> None:
    # elastic/integrations sysmon_linux sample (c81e9fe7): EventID 5 with an escaped Image, which
    # Splunk's add-on extracts as written (docs/semantics.md, "Field values keep the XML escapes").
    line = next(x for x in _events() if "&lt;unknown process&gt;" in x)
    record = _both(line)
    assert record["Image"] == "&lt;unknown process&gt;"
    assert record["EventID"] == "5"
    assert record["SystemTime"] == "2021-10-24T17:05:38.419503000Z"
    assert record["Computer"] == "james-ubuntu-demo"
    assert record["ExecutionProcessID"] == "3099"


def test_every_eventid_has_a_standard_layout() -> None:
    assert set(EVENT_FIELDS) == {1, 3, 4, 5, 9, 10, 11, 16, 23, 255}


# Any text Sysmon can write: anything but surrogates and our private-use carrier range.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x10FEFF), max_size=40
)
ESCAPES = st.text(alphabet="&<>\"'\r\t\n;#x0123aélmpqtuo日😀\x01\x1b", max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(EVENT_FIELDS)), st.data())
def test_generated_events_round_trip_on_both_paths(eventid: int, data: st.DataObject) -> None:
    fields = EVENT_FIELDS[eventid]
    values = {f: data.draw(st.one_of(TEXT, ESCAPES), label=f) for f in fields}
    computer = data.draw(TEXT, label="computer")
    xml = event_xml(values, eventid=eventid, fields=fields, computer=computer)
    record = _both(xml)
    for f in fields:
        assert record[f] == escape(values[f])  # as Sysmon wrote it, escapes kept
    assert record["Computer"] == escape(computer)


@pytest.mark.parametrize(
    "text",
    ["echo 3 &gt; /proc/sys/vm/drop_caches", "a &amp;&gt;/dev/null", "&lt;&gt;&quot;&apos;",
     "&#13;&#x41;&#65;", "&amp;lt;", "&#x1F600;"],
)  # fmt: skip
def test_values_keep_references_as_written(text: str) -> None:
    # Splunk's add-on extracts <Data> text with regex transforms: nothing is decoded.
    xml = event_xml().replace("/tmp/ngrok tcp 22", text)
    assert _both(xml)["CommandLine"] == text
    for extractor in ("fast", "scan", "reference"):
        plan = SysmonPlan(("CommandLine",), frozenset({1}), extractor=extractor)
        batch, _ = plan(((xml + "\n") * 3).encode(), "f")
        assert batch.column("CommandLine").to_pylist() == [text] * 3


HOSTILE = {
    "doctype": '<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    "entity": "&x;",
    "undefined entity": "&nbsp;",
    "stray ampersand": "a & b",
    "invalid character reference": "&#1;",
    "comment": "<!-- c -->",
    "cdata": "<![CDATA[x]]>",
    "processing instruction": "<?php x ?>",
    "cdata close in text": "a]]>b",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_markup_is_refused_on_both_paths(case: str) -> None:
    xml = event_xml().replace("/tmp/ngrok tcp 22", HOSTILE[case])
    with pytest.raises(MalformedEvent):
        extract_reference(xml)
    with pytest.raises(MalformedEvent):
        FAST.extract(xml)
    for extractor in ("fast", "reference"):
        batch, stats = SysmonPlan(PROCESS_CREATE, extractor=extractor)(xml.encode() + b"\n", "f")
        assert (batch.num_rows, stats.malformed, stats.problems[0].line) == (0, 1, 1)


def test_billion_laughs_is_never_expanded() -> None:
    bomb = '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with pytest.raises(MalformedEvent, match="markup declaration"):
        extract_reference(bomb + event_xml().replace("/tmp/ngrok tcp 22", "&b;"))


def test_missing_time_is_malformed() -> None:
    xml = event_xml().replace(
        'SystemTime="2024-03-11T09:15:21.618000000Z"', 'SystemTime="yesterday"'
    )
    for extract in (extract_reference, FAST.extract):
        with pytest.raises(MalformedEvent, match="SystemTime"):
            extract(xml)


MUTATIONS = {
    "raw >": lambda x: x.replace("&gt;", ">"),
    "apos entity": lambda x: x.replace("'x'", "&apos;x&apos;"),
    "blanks between elements": lambda x: x.replace("><Data", ">\n  <Data").replace(
        "><EventData", "> <EventData"
    ),
    "empty element": lambda x: x.replace(
        '<Data Name="RuleName">-</Data>', '<Data Name="RuleName"/>'
    ),
    "single quotes": lambda x: x.replace('Name="Image"', "Name='Image'"),
    "attribute spacing": lambda x: x.replace(
        '<TimeCreated SystemTime="', '<TimeCreated  SystemTime = "'
    ),
    "reordered data": lambda x: x.replace('<Data Name="RuleName">-</Data>', "").replace(
        "</EventData>", '<Data Name="RuleName">-</Data></EventData>'
    ),
    "char refs": lambda x: x.replace("ngrok", "&#110;&#x67;rok"),
    "extra system element": lambda x: x.replace(
        "<Correlation/>", '<Correlation ActivityID="{x}"/>'
    ),
}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(MUTATIONS)), unique=True),
    st.text(alphabet="a>'&\"<é\t", max_size=12),
)
def test_valid_but_unusual_xml_agrees(mutations: list[str], text: str) -> None:
    xml = event_xml({"CommandLine": f"ngrok {text} 'x' > y"})
    for name in mutations:
        xml = MUTATIONS[name](xml)
    record = _both(xml)
    written = MUTATIONS["char refs"]("/tmp/ngrok") if "char refs" in mutations else "/tmp/ngrok"
    assert record["Image"] == written  # references kept as written
