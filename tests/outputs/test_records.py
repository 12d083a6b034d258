"""Grouped-record writers (hunt, search, drilldown output): one golden text per format."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from escudo.outputs.records import FORMATS, Group, write_records

GROUPS: list[Group] = [
    ("A", ["user", "n"], [{"user": "alice", "n": 1}, {"user": None, "n": 2}]),
    ("B", ["dest", "mv"], [{"dest": "web-02", "mv": ["x", "y\nz"], "ignored": 1}]),
    ("C", ["t"], []),
]


def render(fmt: str, groups: list[Group] = GROUPS) -> str:
    out = io.StringIO()
    write_records(out, groups, fmt)
    return out.getvalue()


def test_jsonl_keeps_group_title_and_column_order_only() -> None:
    rows = [json.loads(line) for line in render("jsonl").splitlines()]
    assert rows == [
        {"detection": "A", "user": "alice", "n": 1},
        {"detection": "A", "user": None, "n": 2},
        {"detection": "B", "dest": "web-02", "mv": ["x", "y\nz"]},
    ]
    assert [list(r) for r in rows][2] == ["detection", "dest", "mv"]
    untitled = render("jsonl", [(None, ["t"], [{"t": datetime(2024, 5, 1, tzinfo=UTC)}])])
    assert untitled == '{"t": "2024-05-01T00:00:00+00:00"}\n'


def test_csv_header_is_the_union_and_multivalue_is_newline_joined() -> None:
    rows = list(csv.reader(io.StringIO(render("csv"))))
    assert rows == [
        ["detection", "user", "n", "dest", "mv", "t"],
        ["A", "alice", "1", "", "", ""],
        ["A", "", "2", "", "", ""],
        ["B", "", "", "web-02", "x\ny\nz", ""],
    ]


def test_table_blocks_per_title_with_whole_cells() -> None:
    long = "/tmp/ngrok service install --config /etc/ngrok.yml --log=stdout --region eu"
    text = render("table", [*GROUPS[:2], ("C", ["process"], [{"process": long}])])
    assert text.split("\n") == [
        "== A (2 results)",
        "user   n",
        "-----  -",
        "alice  1",
        "       2",
        "",
        "== B (1 result)",
        "dest    mv",
        "------  -------",
        "web-02  x, y\\nz",
        "",
        "== C (1 result)",
        "process",
        "-" * len(long),
        long,  # never cut, unlike escudo events' table
        "",
        "",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nothing_to_write(fmt: str) -> None:
    assert render(fmt, []) == ("\n" if fmt == "csv" else "")
