"""The raw-text prefilter of raw-event searches is sound: a search over events read with its
needles returns what it returns over every event (docs/semantics.md, "Raw-event search: the
prefilter before parsing"), and the C scan's path reads what the per-line path reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escudo.compile import compile_search
from escudo.datamodels.normalize import raw_events_filter, raw_normalizer, read_datasets
from escudo.engines.duckdb import DuckDBEngine
from escudo.sources.auditd import RawPlan
from escudo.sources.base import RAW_EVENTS, RawFilter, ReadStats
from escudo.sources.prefilter import has_c_scan
from escudo.sources.registry import get_sourcetype
from escudo.sources.sysmon_raw import SysmonRawPlan

AUDIT, SYSMON = get_sourcetype("linux:audit"), get_sourcetype("sysmon:linux")

# Values as ESCU's searches name them, in the spellings a raw event may hold them: other case,
# non-ASCII letters that LOWER folds (É, the Kelvin sign, dotted capital I), and hex (the kernel's
# encoding of a value holding a blank or a control byte).
WORDS = ["ngrok", "NGROK", "whoami", "/usr/bin/whoami", "/tmp/ngrok", "at", "atd", "café", "CAFÉ"]
WORDS += ["\u212aill", "kill", "\u0130d", "id", "/etc/sudoers", "/etc/sudoers.d/x", "a b", "x=1"]
HEX = [w.encode().hex().upper() for w in ("ngrok", "/tmp/ngrok", "a b")]
KEYS = ["comm", "exe", "a0", "a1", "name", "proctitle", "unit", "UID", "pid", "type", "res"]
TYPES = ["SYSCALL", "EXECVE", "PATH", "PROCTITLE", "SERVICE_STOP", "USER_CMD"]


@st.composite
def audit_lines(draw: st.DrawFn) -> str:
    """One line of an audit log: a record in one of its shapes, or something else."""
    serial = draw(st.integers(1, 9))
    pairs = []
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4)):
        value = draw(st.sampled_from(WORDS + HEX))
        quoted = " " in value or draw(st.booleans())
        pairs.append(f'{key}="{value}"' if quoted else f"{key}={value}")
    body = " ".join(pairs)
    if draw(st.booleans()):
        body += " msg='" + " ".join(pairs[:2]) + "'"
    if draw(st.booleans()):
        body += '\x1dUID="' + draw(st.sampled_from(WORDS)) + '" SYSCALL=execve'
    kind = draw(st.sampled_from(TYPES))
    record = f"type={kind} msg=audit(1700000000.{serial:03d}:{serial}): {body}"
    shape = draw(st.sampled_from(["bare", "node", "syslog", "json", "bytes", "cut", "other"]))
    if shape == "node":
        return "node=h1 " + record
    if shape == "syslog":
        return "Dec  6 21:00:01 web-1 audispd: " + record
    if shape == "json":  # json.dumps escapes é and the control byte: the needles are not there
        return json.dumps({"MESSAGE": record, "_HOSTNAME": "j1"})
    if shape == "bytes":  # journald's byte-array MESSAGE
        return json.dumps({"MESSAGE": list(record.encode()), "_HOSTNAME": "j2"})
    if shape == "cut":
        return record[: draw(st.integers(0, len(record)))]
    return draw(st.sampled_from([record, "", "   ", "----", "ngrok without a record", record]))


@st.composite
def predicates(draw: st.DrawFn, depth: int = 0) -> str:
    """A search predicate over the fields and words above."""
    choice = draw(st.integers(0, 6 if depth < 2 else 3))
    word = draw(st.sampled_from(WORDS[:-2] + HEX))
    if draw(st.booleans()):  # a wildcard somewhere
        cut = draw(st.integers(0, len(word)))
        word = draw(st.sampled_from([f"*{word[cut:]}", f"{word[:cut]}*", f"*{word}*"]))
    key = draw(st.sampled_from(KEYS))
    if choice == 0:
        return f'"{word}"'
    if choice == 1:
        return f'{key}="{word}"'
    if choice == 2:
        other = draw(st.sampled_from(WORDS[:-2]))
        return f'{key} IN ("{word}", "{other}")'
    if choice == 3:
        return f'{key}=="{word}"' if draw(st.booleans()) else f'_raw="{word}"'
    left, right = draw(predicates(depth + 1)), draw(predicates(depth + 1))
    if choice == 4:
        return f"({left} OR {right})"
    if choice == 5:
        return f"NOT {left} {right}"
    return f"{left} {right}"


@pytest.fixture(scope="module", autouse=True)
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as one:  # one engine for every search of the module (fast examples)
        ENGINE.append(one)
        yield one
        ENGINE.clear()


ENGINE: list[DuckDBEngine] = []


def run(spl: str, source: Any, plan: Any, data: bytes) -> list[dict[str, Any]]:
    """The rows of ``spl`` over the raw events ``plan`` reads from ``data``."""
    batch, _ = plan(data, "t")
    normalizer = raw_normalizer(source, None)
    assert normalizer is not None
    ENGINE[0].register_arrow(RAW_EVENTS, pa.Table.from_batches([normalizer.rows(batch)]))
    return sorted(ENGINE[0].run(compile_search(spl)).to_pylist(), key=repr)


def needles(spl: str, source: Any) -> RawFilter | None:
    return raw_events_filter(source, compile_search(spl).requirements[RAW_EVENTS])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(audit_lines(), max_size=30), predicate=predicates())
def test_auditd_search_with_its_needles_equals_the_search_over_every_event(
    lines: list[str], predicate: str
) -> None:
    data = "\n".join(lines).encode()
    spl = f"sourcetype=linux:audit {predicate} | table _time host _raw"
    found = needles(spl, AUDIT)
    assert found is not None
    everything = run(spl, AUDIT, RawPlan(None), data)
    assert run(spl, AUDIT, RawPlan(found), data) == everything
    assert run(spl, AUDIT, RawPlan(found, exact=True), data) == everything


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(audit_lines(), max_size=60), predicate=predicates())
def test_auditd_scan_path_reads_what_the_per_line_path_reads(
    lines: list[str], predicate: str
) -> None:
    data = ("\n".join(lines) + "\n" * (len(lines) % 2)).encode()
    found = needles(f"sourcetype=linux:audit {predicate}", AUDIT)
    assert found is not None
    batch, stats = RawPlan(found)(data, "t")
    exact_batch, exact_stats = RawPlan(found, exact=True)(data, "t")
    assert batch.to_pylist() == exact_batch.to_pylist()
    assert stats == exact_stats


SYSMON_EVENT = (
    "<Event><System><EventID>{eid}</EventID><TimeCreated SystemTime='2024-01-01T00:00:00Z'/>"
    "<Computer>c1</Computer></System><EventData><Data Name='Image'>{image}</Data>"
    '<Data Name="CommandLine">{command}</Data></EventData></Event>'
)


@st.composite
def sysmon_lines(draw: st.DrawFn) -> str:
    event = SYSMON_EVENT.format(
        eid=draw(st.sampled_from(["1", "3", "11"])),
        image=draw(st.sampled_from([*WORDS[:-2], "a &amp; b"])),
        command=draw(st.sampled_from(WORDS)),
    )
    shape = draw(st.sampled_from(["bare", "syslog", "json", "cut", "other"]))
    if shape == "syslog":
        return "Oct 24 17:05:38 h1 sysmon: " + event
    if shape == "json":
        return json.dumps({"MESSAGE": event, "_HOSTNAME": "j1"})
    if shape == "cut":
        return event[: draw(st.integers(0, len(event)))]
    return draw(st.sampled_from([event, "", "noise ngrok"]))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(sysmon_lines(), max_size=30),
    predicate=predicates(),
    key=st.sampled_from(["Image", "CommandLine", "EventID"]),
    value=st.sampled_from(["1", "/tmp/ngrok", "*ngrok", "CAFÉ", "\u212aill", "a &amp; b"]),
)
def test_sysmon_search_with_its_needles_equals_the_search_over_every_event(
    lines: list[str], predicate: str, key: str, value: str
) -> None:
    data = "\n".join(lines).encode()
    spl = f'sourcetype=sysmon:linux {predicate} {key}="{value}" | table _time host _raw'
    found = needles(spl, SYSMON)
    assert found is not None
    everything = run(spl, SYSMON, SysmonRawPlan(None), data)
    assert run(spl, SYSMON, SysmonRawPlan(found), data) == everything
    batch, stats = SysmonRawPlan(found)(data, "t")
    exact_batch, exact_stats = SysmonRawPlan(found, exact=True)(data, "t")
    assert batch.to_pylist() == exact_batch.to_pylist() and stats == exact_stats


# --- the rules, one example each ---------------------------------------------------------------


def test_a_term_folded_by_lower_is_found_in_its_other_case() -> None:
    # DuckDB's LOWER folds É to é: CAFÉ matches café, so the needle is the ASCII run "CAF"
    data = b"type=USER_CMD msg=audit(1.000:1): cmd=caf\xc3\xa9\n"
    spl = "sourcetype=linux:audit CAFÉ | table _raw"
    found = needles(spl, AUDIT)
    assert found is not None and found.clauses == (("CAF",),)
    assert run(spl, AUDIT, RawPlan(found), data) == [{"_raw": data.decode().strip()}]


def test_a_value_is_found_quoted_and_bare() -> None:
    data = b'type=SYSCALL msg=audit(1.000:1): comm="ngrok"\ntype=X msg=audit(1.000:2): comm=ngrok\n'
    spl = "sourcetype=linux:audit comm=NGROK | table _raw"
    found = needles(spl, AUDIT)
    assert found is not None and found.clauses == (("comm=NGROK", 'comm="NGROK"'),)
    assert len(run(spl, AUDIT, RawPlan(found), data)) == 2


def test_a_journald_record_spelled_in_bytes_is_read() -> None:
    # journald writes a MESSAGE holding a control byte (ENRICHED's 0x1D) as an array of byte
    # values: "ngrok" is not in the line, only in the record it decodes to
    record = 'type=SYSCALL msg=audit(1.000:1): comm="ngrok"\x1dUID="root"'
    data = json.dumps({"MESSAGE": list(record.encode()), "_HOSTNAME": "h"}).encode() + b"\n"
    spl = "sourcetype=linux:audit ngrok | table _raw host"
    found = needles(spl, AUDIT)
    assert found is not None and b"ngrok" not in data
    assert run(spl, AUDIT, RawPlan(found), data) == [{"_raw": record, "host": "h"}]


def test_hex_values_stay_hex_so_a_decoded_word_matches_nothing_either_way() -> None:
    # proctitle=6E67726F6B is "ngrok" hex-encoded: search-time extraction keeps it as written
    # (ESCU's normalizing macros decode it later), so proctitle=ngrok matches it with or without
    # the needle, and proctitle=6E67* (its written form) finds it through the needle
    data = b"type=PROCTITLE msg=audit(1.000:1): proctitle=6E67726F6B\n"
    for spl, expected in (
        ("sourcetype=linux:audit proctitle=ngrok | table _raw", 0),
        ("sourcetype=linux:audit proctitle=6e67* | table _raw", 1),
    ):
        found = needles(spl, AUDIT)
        assert found is not None
        assert len(run(spl, AUDIT, RawPlan(None), data)) == expected
        assert len(run(spl, AUDIT, RawPlan(found), data)) == expected


def test_lines_without_a_needle_are_counted_not_parsed() -> None:
    data = (
        b"type=SYSCALL msg=audit(1.000:1): comm=ngrok\n"
        b"type=SYSCALL msg=audit(1.000:2): comm=ls\n"
        b'type=CWD msg=audit(1.000:3): cwd="/ro\n'  # cut, no needle: dropped, not reported
        b"----\n"
        b'type=CWD msg=audit(1.000:4): cwd="/ngrok\n'  # cut, with the needle: reported
    )
    batch, stats = RawPlan(RawFilter((("ngrok",),)))(data, "t")
    assert [r["_raw"] for r in batch.to_pylist()] == ["type=SYSCALL msg=audit(1.000:1): comm=ngrok"]
    assert (stats.events, stats.filtered, stats.skipped, stats.malformed) == (1, 2, 1, 1)
    assert str(stats.problems[0]) == "t:5: record cut short: a quoted value is not closed"


@pytest.mark.skipif(not has_c_scan(), reason="the C scan is not built")
def test_a_selective_raw_read_streams_file_ranges_in_threads(tmp_path: Path) -> None:
    from escudo.datamodels.normalize import _processors
    from escudo.sources.framing import expand_inputs
    from escudo.sources.reader import threaded

    path = tmp_path / "audit.log"
    lines = [f"type=SYSCALL msg=audit(1.000:{i}): comm=ls pid={i}" for i in range(20000)]
    lines[12345] = "type=SYSCALL msg=audit(1.000:12345): comm=ngrok"
    path.write_text("\n".join(lines) + "\n")
    spl = "sourcetype=linux:audit comm=ngrok"
    needs = {RAW_EVENTS: [compile_search(spl).requirements[RAW_EVENTS]]}
    (inputs, processor, _), *_ = list(_processors([path], needs, None))
    assert inputs == expand_inputs([path]) and threaded(inputs, processor)
    batch, stats = processor.read_range(path, 0, path.stat().st_size, str(path), 1 << 16)
    assert [r["_raw"] for r in batch[RAW_EVENTS].to_pylist()] == [lines[12345]]
    assert (stats.lines, stats.filtered) == (20000, 19999)
    stats = ReadStats()
    rows = [b for _, b in read_datasets([path], needs, stats=stats, workers=2, chunk_bytes=1 << 16)]
    assert sum(b.num_rows for b in rows) == 1 and stats.filtered == 19999


# --- needles from where LIKE(...) after ESCU's normalizing macros (compile/rawflow.py) -----------

EXECVE_MACRO = (
    'type=EXECVE | eval relevant_fields=if(type="EXECVE", "", relevant_fields) | foreach a* [eval '
    "relevant_fields=if(type=\"EXECVE\", mvappend(relevant_fields, '<<FIELD>>'), relevant_fields)]"
    ' | eval process_exec=if(type="EXECVE", mvjoin(relevant_fields, " "), process_exec) | eval '
    'process_exec=if(type="EXECVE", trim(process_exec), process_exec)'
)
PROCTITLE_MACRO = (
    'type=PROCTITLE | eval normalized_proctitle_delimiter = if(type=="PROCTITLE" AND '
    'isnotnull(proctitle), if(match(proctitle,"^[0-9A-F]+$"), replace(proctitle, "000", "020"),'
    "proctitle),null()) | eval process_exec = if(match(normalized_proctitle_delimiter,"
    '"^[0-9A-F]+$"),urldecode(replace(normalized_proctitle_delimiter,"([0-9A-F]{2})","%\\1")),'
    "normalized_proctitle_delimiter)"
)
ARGS = ["rm", "-rf", "/", "--no-preserve-root", "ngrok", "tcp 22", "a_b", "50%", "x", "chmod", "+s"]


@st.composite
def exec_events(draw: st.DrawFn) -> list[str]:
    args = draw(st.lists(st.sampled_from(ARGS), min_size=1, max_size=5))
    serial = draw(st.integers(1, 99))
    head = f"msg=audit(1700000000.000:{serial}):"
    written = []
    for i, arg in enumerate(args):
        if " " in arg or draw(st.booleans()):  # the kernel hex-encodes a value with a blank
            written.append(f"a{i}={arg.encode().hex().upper()}")
        else:
            written.append(f'a{i}="{arg}"')
    title = "00".join(a.encode().hex().upper() for a in args)
    return [
        f"type=EXECVE {head} argc={len(args)} {' '.join(written)}",
        f"type=PROCTITLE {head} proctitle={title}",
    ]


@st.composite
def like_filters(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 1 and draw(st.booleans()):
        op = draw(st.sampled_from(["AND", "OR"]))
        return f"({draw(like_filters(depth + 1))} {op} {draw(like_filters(depth + 1))})"
    words = draw(st.lists(st.sampled_from(ARGS), min_size=1, max_size=2))
    pattern = " ".join(words).replace("%", "\\\\%")
    pattern = draw(st.sampled_from([f"%{pattern}%", f"{pattern}%", f"% {pattern} %", pattern]))
    return f'LIKE(process_exec, "{pattern}")'


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(exec_events(), max_size=12),
    where=like_filters(),
    macro=st.sampled_from([EXECVE_MACRO, PROCTITLE_MACRO]),
)
def test_where_like_after_the_normalizing_macros_keeps_every_matching_event(
    events: list[list[str]], where: str, macro: str
) -> None:
    data = "\n".join(line for event in events for line in event).encode()
    spl = f'sourcetype="linux:audit" {macro} | rename host as dest | where {where} '
    spl += "| table _time process_exec"
    found = needles(spl, AUDIT)
    assert found is not None
    assert run(spl, AUDIT, RawPlan(found), data) == run(spl, AUDIT, RawPlan(None), data)


def test_where_like_gives_needles_only_through_per_event_commands() -> None:
    base = f'sourcetype="linux:audit" {EXECVE_MACRO} | rename host as dest'
    cases = {
        '| where LIKE(process_exec, "%rm %") AND LIKE(process_exec, "% -rf %")': (
            ("rm",),
            ("-rf",),
        ),
        '| where LIKE(process_exec, "%ngrok%") OR LIKE(process_exec, "%chmod +s%")': (
            ("chmod", "ngrok"),
        ),
        '| where LIKE(process_exec, "%a\\\\_b%")': (("a_b",),),
        '| stats count by process_exec | where LIKE(process_exec, "%ngrok%")': (),
        '| eval process_exec=process_exec . dest | where LIKE(process_exec, "%ngrok%")': (),
        '| eval process_exec=urldecode(process_exec) | where LIKE(process_exec, "%ngrok%")': (),
        '| where NOT LIKE(process_exec, "%ngrok%")': (),
        '| foreach comm [eval k="<<FIELD>>"] | where LIKE(k, "%m%")': (),  # the name, not in _raw
    }
    for tail, expected in cases.items():
        found = needles(f"{base} {tail}", AUDIT)
        assert found is not None
        later = tuple(
            tuple(sorted(c)) for c in found.clauses if c != ("type=EXECVE", 'type="EXECVE"')
        )
        assert later == expected, tail
    proctitle = f'sourcetype="linux:audit" {PROCTITLE_MACRO} | where LIKE(process_exec, "%ngrok%")'
    found = needles(proctitle, AUDIT)
    assert found is not None and found.clauses == (("type=PROCTITLE", 'type="PROCTITLE"'),)
