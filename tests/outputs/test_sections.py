"""One writer table, one time format: what every format shares."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from rows import BATCH, render, render_sections

from escudo.errors import InputError
from escudo.outputs import WRITERS, Section, records_section, write_batches
from escudo.outputs.base import TIME_FORMAT

MOMENT = datetime(2024, 3, 11, 9, 15, 21, 618000, tzinfo=UTC)
EXPECTED = "2024-03-11T09:15:21.618000Z"


def test_writer_table() -> None:
    assert list(WRITERS) == ["table", "jsonl", "csv", "parquet"]
    for cls in WRITERS.values():
        assert {"begin", "write", "close"} <= set(vars(cls)), cls
        assert isinstance(cls.blocks, bool) and isinstance(cls.one_schema, bool)


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown output format 'xml'"):
        write_batches([BATCH], "xml", io.BytesIO())


def test_one_time_format_in_every_text_format_for_tables_and_records() -> None:
    """A result table's timestamp and a risk event's Python datetime are written alike."""
    assert MOMENT.strftime(TIME_FORMAT.replace("%S", "%S.%f")) == EXPECTED
    table = pa.table({"_time": pa.array([MOMENT], pa.timestamp("us", tz="UTC"))})
    for section in (Section.of_table(None, table), records_section(None, [{"_time": MOMENT}])):
        assert json.loads(render_sections("jsonl", [section])) == {"_time": EXPECTED}
    section = records_section(None, [{"_time": MOMENT}])
    assert list(csv.reader(io.StringIO(render_sections("csv", [section])))) == [
        ["_time"],
        [EXPECTED],
    ]
    section = records_section(None, [{"_time": MOMENT}])
    assert render_sections("table", [section]).splitlines()[2] == EXPECTED


def test_records_keep_each_rows_types_in_jsonl() -> None:
    """A finding's ``source`` is text, a risk incident's a list: JSONL writes each as it is."""
    records = [
        {"finding_type": "ttp", "source": "ESCU - X - Rule", "risk_score": 50},
        {"finding_type": "risk_incident", "source": ["ESCU - X - Rule"], "risk_event_count": 3},
        {"finding_type": "ttp", "source": "ESCU - Y - Rule", "risk_score": 80.5},
    ]
    rows = [json.loads(line) for line in render_sections("jsonl", [records_section(None, records)]).splitlines()]  # fmt: skip
    assert rows == [
        {"finding_type": "ttp", "source": "ESCU - X - Rule", "risk_score": 50, "risk_event_count": None},
        {"finding_type": "risk_incident", "source": ["ESCU - X - Rule"], "risk_score": None, "risk_event_count": 3},
        {"finding_type": "ttp", "source": "ESCU - Y - Rule", "risk_score": 80.5, "risk_event_count": None},
    ]  # fmt: skip
    assert type(rows[0]["risk_score"]) is int


def test_nothing_to_write() -> None:
    assert render_sections("jsonl", []) == ""
    assert render_sections("table", []) == ""
    assert render_sections("csv", []) == "\n"
    assert render("jsonl", []) == ""
