"""``--format table``: aligned blocks, whole cells, nothing raw reaches the terminal."""

from __future__ import annotations

import pyarrow as pa
from rows import BATCH, HOSTILE, SCHEMA, render, render_sections

from escudo.outputs import Section
from escudo.outputs.table import terminal_text


def test_control_characters_are_shown_escaped() -> None:
    text = render("table", [pa.record_batch({"process": [HOSTILE]})])
    shown = text.splitlines()[2]
    assert shown == "ok\\x1b[2J\\x1b]0;t\\x07\\rX\\x08\\x7f\\x9b1m\\u202egnp.exe\\u2028end"
    assert all(ch.isprintable() for line in text.splitlines() for ch in line)


def test_every_c0_c1_and_bidi_control_is_escaped() -> None:
    controls = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
    controls += ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))]
    controls += [*map(chr, range(0x2066, 0x206A)), "\ufeff"]
    for ch in controls:
        escaped = terminal_text(f"a{ch}b")
        assert escaped.startswith("a\\") and escaped.endswith("b") and escaped.isprintable(), ch


def test_printable_text_of_any_script_is_untouched() -> None:
    for text in ("café", "Ñandú", "日本語", "Ελληνικά", "عربى", "C:\\Windows\\x", "a\\x1b"):
        assert terminal_text(text) == text


def test_titles_and_column_names_are_escaped_too() -> None:
    section = Section.of_table("D\x1b[31m", pa.table({"a\rb": ["x"]}))
    assert render_sections("table", [section]).splitlines()[:2] == [
        "== D\\x1b[31m (1 result)",
        "a\\rb",
    ]


def test_time_multivalue_null_and_alignment() -> None:
    assert render("table", [BATCH]).splitlines() == [
        "_time                        user    count  values",
        "---------------------------  ------  -----  ------",
        "2021-10-24T17:05:38.412320Z  ubuntu  3      a, b",
        "                                     1",
    ]


def test_blocks_per_title_with_whole_cells() -> None:
    long = "/tmp/ngrok service install --config /etc/ngrok.yml --log=stdout --region eu --x y"
    sections = [
        Section.of_table("A", pa.table({"user": ["alice", None], "n": [1, 2]})),
        Section.of_table("B", pa.table({"process": [long], "mv": [["x", "y\nz"]]})),
        Section.of_table("C", pa.table({"t": pa.array([], pa.string())})),
    ]
    assert render_sections("table", sections).split("\n") == [
        "== A (2 results)",
        "user   n",
        "-----  -",
        "alice  1",
        "       2",
        "",
        "== B (1 result)",
        "process" + " " * (len(long) - 5) + "mv",
        "-" * len(long) + "  -------",
        long + "  x, y\\nz",  # never cut
        "",
        "== C (0 results)",
        "",
        "",
    ]


def test_an_untitled_empty_table_still_names_its_columns() -> None:
    assert render("table", [], SCHEMA).splitlines() == [
        "_time  user  count  values",
        "-----  ----  -----  ------",
    ]
