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
from escudo.sources.sysmon import sysmon_needle
from escudo.spl import ast
from escudo.spl.parser import parse


def where(text: str) -> ast.Predicate | None:
    cmd = parse(f"| tstats count from datamodel=Endpoint.Processes where {text}").commands[0]
    assert isinstance(cmd, ast.Tstats)
    return cmd.where


def clauses(text: str, dataset: str = "Endpoint.Processes") -> tuple[tuple[str, ...], ...]:
    return raw_filter_for(dataset, where(text)).clauses


def needle(pattern: str) -> str | None:
    """The Sysmon needle of a ``field=pattern`` term: the compiler's literal, then the source's."""
    literal = needle_for(pattern)
    return None if literal is None else sysmon_needle(literal)


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


def test_an_in_list_as_long_as_escus_gives_a_clause() -> None:
    # "Linux Common Process For Elevation Control" lists 35 process names: past a 32-needle
    # limit it had no requirement, so it could neither be prefiltered nor skipped when absent.
    names = [f"tool{i}" for i in range(35)]
    listed = ", ".join(f'"{n}"' for n in names)
    assert clauses(f"Processes.process_name IN ({listed})") == (tuple(names),)
    too_many = ", ".join(f'"t{i}"' for i in range(65))
    assert clauses(f"Processes.process_name IN ({too_many})") == ()


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


def test_needles_are_the_literal_as_written() -> None:
    # A Sysmon value keeps the XML escapes (Splunk's add-on; docs/semantics.md), so the raw text
    # holds a search literal verbatim: no escaping, whatever characters it has.
    assert needle("*a&b<c>\"d'*") == "a&b<c>\"d'"
    # ESCU spells the escapes in its searches: the needle is that text, as the raw XML holds it.
    assert clauses('Processes.process = "*&amp;&gt;/dev/null*"') == (("&amp;&gt;",),)
    assert clauses(
        'Processes.process IN ("* echo 3 &gt; *", "* echo 2 &gt; *") '
        'Processes.process = "*/proc/sys/vm/drop_caches"'
    ) == ((" echo 3 &gt; ", " echo 2 &gt; "), ("drop_caches",))


def test_unsure_characters_are_cut_out_of_needles() -> None:
    # Non-ASCII, control characters, backslash and "/" have transport-dependent spellings.
    assert needle("*caf\u00e9*") == "caf"
    assert needle("*a\tbc*") == "bc"
    assert needle("*C:\\Windows\\x*") == "Windows"
    assert needle("*/a/b/*") == "a"
    assert needle("*\u00e9/*") is None
    assert needle("*") is None


def _written(value: str) -> str:
    # How Sysmon for Linux writes Data text: & < > " escaped, ' not (linux-telemetry.md 1.3). This
    # is also the field's value: Splunk's add-on keeps the escapes.
    return escape(value, quote=False).replace('"', "&quot;")


def _xml_line(value: str) -> bytes:
    return f"<Data Name='CommandLine'>{_written(value)}</Data>".encode()


def _splunk_match(pattern: str, value: str) -> bool:
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


_PIECES = [*"abgtAB -&<>\"'*/;#\\\t\u00e9", "&gt;", "&amp;", "&quot;", "&lt;", "&#13;"]


def _texts(pieces: list[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), min_size=min_size, max_size=max_size).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    _texts(_PIECES, 1, 12),
    _texts([p for p in _PIECES if p != "*"], 0, 16),
)
def test_needles_never_drop_a_matching_event(pattern: str, value: str) -> None:
    """If the search matches the field's value (the text Sysmon wrote, escapes kept), the raw line
    holding it passes the filter; patterns spell escapes (``&gt;``) as ESCU does, or not."""
    quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
    raw = RawFilter(clauses(f'Processes.process="{quoted}"'))
    if _splunk_match(pattern, _written(value)):
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
