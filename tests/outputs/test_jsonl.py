"""``--format jsonl``: one JSON object per row, exactly JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from rows import BATCH, HOSTILE, render, render_sections

from escudo.outputs import Section


def test_keys_in_column_order_time_rfc3339_lists_as_arrays() -> None:
    assert render("jsonl", [BATCH]).splitlines() == [
        '{"_time": "2021-10-24T17:05:38.412320Z", "user": "ubuntu", "count": 3, "values": ["a", "b"]}',
        '{"_time": null, "user": null, "count": 1, "values": []}',
    ]


def test_other_zones_and_units_are_written_in_utc_with_microseconds() -> None:
    column = pa.array(
        [datetime(2021, 10, 24, 19, 5, 38, tzinfo=UTC)], pa.timestamp("ms", tz="Europe/Paris")
    )
    naive = pa.array([datetime(2021, 10, 24, 19, 5, 38)], pa.timestamp("s"))
    batch = pa.record_batch([column, naive], names=["t", "naive"])
    assert render("jsonl", [batch]) == (
        '{"t": "2021-10-24T19:05:38.000000Z", "naive": "2021-10-24T19:05:38.000000Z"}\n'
    )


def test_control_characters_only_get_json_escapes_and_read_back_exactly() -> None:
    text = render("jsonl", [pa.record_batch({"process": [HOSTILE]})])
    assert text.isascii() and text.count("\n") == 1
    assert "\\u001b[2J" in text and "\\r" in text and "\\u202e" in text
    assert json.loads(text) == {"process": HOSTILE}


def test_nan_is_null_so_the_line_stays_json() -> None:
    batch = pa.record_batch({"ratio": [float("nan"), float("inf"), 0.5]})
    rows = [
        json.loads(line, parse_constant=_reject) for line in render("jsonl", [batch]).splitlines()
    ]
    assert rows == [{"ratio": None}, {"ratio": None}, {"ratio": 0.5}]


def _reject(name: str) -> None:
    raise AssertionError(f"not JSON: {name}")


def test_titled_sections_lead_with_detection_and_keep_their_own_columns() -> None:
    sections = [
        Section.of_table("A", pa.table({"user": ["alice"]})),
        Section.of_table("B", pa.table({"dest": ["web-02"], "n": [2]})),
    ]
    assert render_sections("jsonl", sections).splitlines() == [
        '{"detection": "A", "user": "alice"}',
        '{"detection": "B", "dest": "web-02", "n": 2}',
    ]
