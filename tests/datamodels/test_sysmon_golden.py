"""Golden files: raw log lines -> the exact JSONL rows ``escudo events`` prints, on both extractors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from escudo.datamodels.normalize import dataset_schema, read_dataset
from escudo.outputs import write_batches
from escudo.sources.base import ReadStats

GOLDEN = Path(__file__).parents[1] / "fixtures" / "sysmon" / "golden"
CASES = sorted(GOLDEN.glob("*.log"))
UPDATE = os.environ.get("ESCUDO_UPDATE_GOLDEN") == "1"


def _dataset(case: Path) -> str:
    return case.name.removesuffix(".log").split(".", 1)[1]


def _render(case: Path, extractor: str) -> tuple[str, ReadStats]:
    stats = ReadStats()
    dataset = _dataset(case)
    out = io.BytesIO()
    batches = read_dataset([case], dataset, stats=stats, extractor=extractor, workers=1)
    write_batches(batches, "jsonl", out, schema=dataset_schema(dataset))
    return out.getvalue().decode(), stats


def test_every_shape_and_eventid_has_a_case() -> None:
    names = {c.name.split(".")[0] for c in CASES}
    assert {"shape_rfc3164", "shape_rfc5424", "shape_iso8601", "shape_forwarded_pri"} <= names
    assert {
        "shape_journal_short",
        "shape_journal_json",
        "shape_crlf",
        "public_splunk_eid1_bare",
    } <= names
    datasets = {_dataset(c) for c in CASES}
    assert datasets == {
        "Endpoint.Processes",
        "Endpoint.Filesystem",
        "Network_Traffic.All_Traffic",
        "raw",
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.removesuffix(".log"))
def test_golden(case: Path) -> None:
    expected_path = case.with_suffix(".jsonl")
    fast, stats = _render(case, "fast")
    if UPDATE:
        expected_path.write_text(fast, encoding="utf-8")
    assert fast == expected_path.read_text(encoding="utf-8")
    assert stats.malformed == 0
    reference, _ = _render(case, "reference")
    assert reference == fast
