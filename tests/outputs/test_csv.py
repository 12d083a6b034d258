"""``--format csv``: RFC 4180 with one header; ``--csv-safe`` against formula injection."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from rows import BATCH, SCHEMA, render, render_sections

from escudo.outputs import Section
from escudo.outputs.csv import FORMULA_STARTS, csv_lines


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_header_time_and_multivalue_newline_joined() -> None:
    text = render("csv", [BATCH])
    assert text == '_time,user,count,values\n2021-10-24T17:05:38.412320Z,ubuntu,3,"a\nb"\n,,1,\n'


def test_empty_input_is_the_header_of_the_schema() -> None:
    assert render("csv", [], SCHEMA) == "_time,user,count,values\n"


def test_a_carriage_return_is_quoted_and_reads_back() -> None:
    values = ["a\rb", "c,d", 'say "x"', "line\nbreak", "plain"]
    text = render("csv", [pa.record_batch({"v": values})])
    assert _read(text) == [["v"], *([v] for v in values)]


CELLS = ['=HYPERLINK("http://x","y")', "+1+cmd", "-bash", "@SUM(A1:A2)", "\tx", "\rx", "\0x"]


def test_off_by_default_cells_are_exact() -> None:
    text = render("csv", [pa.record_batch({"v": CELLS})])
    assert [row[0] for row in _read(text)[1:]] == CELLS


@pytest.mark.parametrize("cell", CELLS)
def test_csv_safe_prefixes_formula_cells_with_a_quote(cell: str) -> None:
    assert cell.startswith(FORMULA_STARTS)
    text = render("csv", [pa.record_batch({"v": [cell]})], csv_safe=True)
    assert _read(text)[1] == ["'" + cell]


def test_csv_safe_leaves_numbers_and_plain_text_and_guards_the_header() -> None:
    batch = pa.record_batch({"=x": ["-5", "+1.5e3", "ls -l", "a=b"], "n": [-1, 2, 3, 4]})
    rows = _read(render("csv", [batch], csv_safe=True))
    assert rows == [["'=x", "n"], ["-5", "-1"], ["+1.5e3", "2"], ["ls -l", "3"], ["a=b", "4"]]


def test_csv_safe_guards_a_multivalue_cell_and_a_title() -> None:
    section = Section.of_table("=evil", pa.table({"mv": [["-c", "x"]]}))
    rows = _read(render_sections("csv", [section], csv_safe=True))
    assert rows == [["detection", "mv"], ["'=evil", "'-c\nx"]]


def test_sections_share_one_header_with_detection_first() -> None:
    sections = [
        Section.of_table("A", pa.table({"user": ["alice", None], "n": [1, 2]})),
        Section.of_table("B", pa.table({"dest": ["web-02"], "mv": [["x", "y\nz"]]})),
        Section.of_table("C", pa.table({"t": pa.array([], pa.string())})),
    ]
    assert _read(render_sections("csv", sections)) == [
        ["detection", "user", "n", "dest", "mv", "t"],
        ["A", "alice", "1", "", "", ""],
        ["A", "", "2", "", "", ""],
        ["B", "", "", "web-02", "x\ny\nz", ""],
    ]


TRICKY = [
    "",
    "a",
    "a,b",
    'say "x"',
    "two\nlines",
    " lead",
    "trail ",
    "tab\tin",
    "é",
    "'q",
    ";",
    "\\",
]


def test_the_fast_and_the_cr_paths_write_the_same_csv() -> None:
    """Rows without a CR go through Python's csv module; a batch with one takes csv_lines."""
    rows = [[a, b] for a in TRICKY for b in TRICKY] + [[c] for c in TRICKY]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    assert csv_lines(rows) == buffer.getvalue()
    assert _read(csv_lines([*rows, ["x\ry"]])) == [*rows, ["x\ry"]]
