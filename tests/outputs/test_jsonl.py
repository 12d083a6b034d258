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


def _dumps_lines(batch: pa.RecordBatch) -> bytes:
    """What the writer wrote before it encoded by column: ``json.dumps`` of each row's dict."""
    from escudo.outputs.base import json_default, text_rows

    names = batch.schema.names
    return b"".join(
        json.dumps(dict(zip(names, row, strict=True)), default=json_default).encode() + b"\n"
        for row in text_rows(batch)
    )


def test_lines_encoded_by_column_are_json_dumps_bytes_for_every_kind_of_value() -> None:
    from escudo.outputs.jsonl import jsonl_lines

    texts = ['say "hi"', "back\\slash", HOSTILE, "", None, "caf\u00e9 \U0001f600", "\x7f\x00\t\n"]
    n = len(texts)
    batch = pa.record_batch(
        {
            "text": texts,
            "large": pa.array(texts, pa.large_string()),
            "dictionary": pa.array(texts).dictionary_encode(),
            "int": pa.array([0, -1, 2**62, None, 7, 8, 9], pa.int64()),
            "small": pa.array([1, 2, 3, 4, 5, 6, None], pa.uint8()),
            "flag": [True, False, None, True, False, True, None],
            "ratio": [1.0, 1e16, 1e-7, 0.1, None, float("nan"), -2.5],
            "values": [["a", None], [], None, ['"q"'], ["\u202e"], ["x"] * 3, [HOSTILE]],
            "nested": pa.array([[[1]], [], None, [[2, 3]], [[]], [[4]], [[5]]]),
            "struct": [{"k": "v", "n": i} if i % 2 else None for i in range(n)],
            "bytes": pa.array([b"caf\xc3\xa9", b"\xff", None, b"", b"a", b"b", b"c"]),
            "null": pa.nulls(n),
            "when": pa.array([datetime(2024, 5, 1, tzinfo=UTC)] * (n - 1) + [None]),
        }
    )
    for part in (batch, batch.slice(2, 3), batch.slice(n)):
        assert jsonl_lines(part) == _dumps_lines(part)
    assert render("jsonl", [batch]).encode() == _dumps_lines(batch)


def test_a_row_with_a_repeated_column_name_keeps_the_last_value_where_the_first_stood() -> None:
    from escudo.outputs.jsonl import jsonl_lines

    columns = [pa.array(["a"]), pa.array([1]), pa.array(["b"])]
    batch = pa.RecordBatch.from_arrays(columns, ["x", "n", "x"])
    assert jsonl_lines(batch) == _dumps_lines(batch) == b'{"x": "b", "n": 1}\n'
    assert jsonl_lines(pa.RecordBatch.from_pydict({})) == b""
    no_columns = pa.RecordBatch.from_struct_array(pa.array([{}, {}], pa.struct([])))
    assert jsonl_lines(no_columns) == _dumps_lines(no_columns) == b""
