"""Raw-text prefilters: what gives a needle, what must not, and a soundness property."""

from __future__ import annotations

import json
import re
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.compile.pushdown import needle_for, raw_filter_for
from escudo.sources.base import RawFilter
from escudo.spl import ast
from escudo.spl.parser import parse


def where(text: str) -> ast.Predicate | None:
    cmd = parse(f"| tstats count from datamodel=Endpoint.Processes where {text}").commands[0]
    assert isinstance(cmd, ast.Tstats)
    return cmd.where


def clauses(text: str, dataset: str = "Endpoint.Processes") -> tuple[tuple[str, ...], ...]:
    return raw_filter_for(dataset, where(text)).clauses


def test_positive_terms_give_needles() -> None:
    assert clauses(
        'Processes.process_name=ngrok Processes.process IN ("*start*", "*--config*")'
    ) == (
        ("ngrok",),
        ("start", "--config"),
    )


def test_longest_literal_run_between_wildcards() -> None:
    assert clauses('Processes.process="*rpm*--eval*"') == (("--eval",),)


def test_or_distributes_and_not_gives_nothing() -> None:
    assert clauses(
        '(Processes.process_name=chmod OR Processes.process="*chmod *") Processes.process="* root *"'
    ) == (
        ("chmod", "chmod "),
        (" root ",),
    )
    assert clauses("NOT Processes.process_name=ngrok") == ()
    assert clauses("Processes.process_name!=ngrok") == ()
    assert clauses("Processes.process_id>5") == ()
    assert (
        clauses("Processes.process_name=a OR Processes.os=Linux") == ()
    )  # os is a constant, not raw text


def test_fill_values_and_computed_fields_give_no_needle() -> None:
    assert clauses("Processes.user=*know*") == ()  # could match the CIM "unknown" fill
    assert clauses("Processes.action=allowed") == ()  # a constant from the mapping
    assert clauses("Filesystem.action=deleted", "Endpoint.Filesystem") == ()  # a lookup on EventID
    assert clauses('Filesystem.file_path="/etc/cron.*"', "Endpoint.Filesystem") == (("cron.",),)
    assert (
        raw_filter_for(
            "Endpoint.Processes", where("Processes.user=nul*"), fill_values=["null"]
        ).clauses
        == ()
    )


def test_xml_escaping_of_needles() -> None:
    assert needle_for("*a&b<c>\"d'*") == "a&amp;b&lt;c&gt;&quot;d'"
    # ESCU writes the escaped text itself in two searches; the needle is escaped once more, as the
    # raw XML then holds "&amp;amp;" (Sysmon escapes the literal "&" of "&amp;").
    assert clauses('Processes.process = "*&amp;&gt;/dev/null*"') == (("&amp;amp;&amp;gt;",),)


def test_unsure_characters_are_cut_out_of_needles() -> None:
    # Non-ASCII, control characters, backslash and "/" have transport-dependent spellings.
    assert needle_for("*caf\u00e9*") == "caf"
    assert needle_for("*a\tbc*") == "bc"
    assert needle_for("*C:\\Windows\\x*") == "Windows"
    assert needle_for("*/a/b/*") == "a"
    assert needle_for("*\u00e9/*") is None
    assert needle_for("*") is None


def _xml_line(value: str) -> bytes:
    # How Sysmon for Linux writes a Data element: & < > " escaped, ' not (linux-telemetry.md 1.3).
    text = escape(value, quote=False).replace('"', "&quot;")
    return f"<Data Name='CommandLine'>{text}</Data>".encode()


def _splunk_match(pattern: str, value: str) -> bool:
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


_CHARS = st.sampled_from(list("abAB -&<>\"'*/;\\\t\u00e9"))


@settings(max_examples=300, deadline=None)
@given(
    st.text(_CHARS, min_size=1, max_size=12),
    st.text(_CHARS.filter(lambda c: c != "*"), max_size=16),
)
def test_needles_never_drop_a_matching_event(pattern: str, value: str) -> None:
    """If the search matches the value, the raw line holding it passes the filter."""
    quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
    raw = RawFilter(clauses(f'Processes.process="{quoted}"'))
    if _splunk_match(pattern, value):
        line = _xml_line(value)
        assert raw.matches(line)
        # the same event carried in JSON (journalctl -o json; an encoder escaping "/" and non-ASCII)
        carried = json.dumps(line.decode(), ensure_ascii=True).replace("/", "\\/")
        assert raw.matches(carried.encode())


@pytest.mark.parametrize("dataset", ["Risk.All_Risk"])
def test_datasets_without_xml_sources_get_no_filter(dataset: str) -> None:
    assert raw_filter_for(dataset, where("risk_object=x")).clauses == ()


def test_search_right_after_from_refines_the_filter() -> None:
    from escudo.compile import compile_search

    compiled = compile_search(
        "| from datamodel Endpoint.Processes | search process_name=ngrok | search process=*tcp*"
    )
    assert compiled.raw_filters == {"Endpoint.Processes": RawFilter((("ngrok",),))}
    assert compile_search("| from datamodel Endpoint.Processes").raw_filters == {
        "Endpoint.Processes": RawFilter()
    }
