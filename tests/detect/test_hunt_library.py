"""The hunting library: detection selection, one read per dataset, the search window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hunt_events import BASE, EVENTS, reference_rows, write_shape

from escudo.content.loader import load_content
from escudo.detect.hunt import (
    compile_default_set,
    empty_table,
    fed_datasets,
    hunt,
    search,
    select_detections,
)
from escudo.errors import InputError
from escudo.sources.base import ReadStats

SEED = "Linux Ngrok Reverse Proxy Usage"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "content"


def test_fed_datasets_are_the_ingest_mappings() -> None:
    assert {"Endpoint.Processes", "Endpoint.Filesystem"} <= fed_datasets()
    assert "Risk.All_Risk" not in fed_datasets()


def test_empty_table_has_the_dataset_columns() -> None:
    table = empty_table("Endpoint.Processes")
    assert table.num_rows == 0
    assert table.column_names[:4] == ["_time", "host", "source", "sourcetype"]
    assert "process_name" in table.column_names


def test_select_detections() -> None:
    content = load_content([FIXTURES / "user"])
    assert [d.name for d in select_detections(content, [SEED, SEED.lower()])] == [SEED]
    assert len(select_detections(content)) == len(content.detections)
    with pytest.raises(InputError):
        select_detections(content, ["nope"])


def test_default_set_skips_what_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections" / "broken.yml").write_text(
        "name: Broken\nid: 1\nsearch: '| tstats count from datamodel=Endpoint.Processes | frobnicate'\n"
    )
    content = load_content([tmp_path])
    warnings: list[str] = []
    jobs = compile_default_set(content, select_detections(content), warn=warnings.append)
    names = {d.name for d, _ in jobs}
    assert SEED in names and "Broken" not in names
    assert len(warnings) == 1 and "skipped 'Broken'" in warnings[0] and "frobnicate" in warnings[0]


def test_each_dataset_is_read_once(tmp_path: Path) -> None:
    path = write_shape(tmp_path, "xml")
    content = load_content([FIXTURES / "user"])
    stats = ReadStats()
    results = hunt([path], None, content=content, stats=stats)
    assert len({r.detection.name for r in results}) == len(results) >= 5
    # 15 events in the file; a second read of Endpoint.Processes would count them again
    assert stats.events + stats.filtered <= len(EVENTS) + 1


def test_info_times_are_the_data_window(tmp_path: Path) -> None:
    path = write_shape(tmp_path, "xml")
    content = load_content()
    [result] = hunt([path], [content.detections[SEED]], content=content)
    assert len(result.records()) == len(reference_rows())
    assert result.info_min_time is not None and result.info_min_time >= BASE
    assert result.info_max_time is not None and result.info_max_time <= datetime(
        2026, 3, 3, tzinfo=UTC
    )
    early, late = datetime(2026, 3, 2, 8, 1, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)
    [bounded] = hunt(
        [path], [content.detections[SEED]], content=content, earliest=early, latest=late
    )
    assert (bounded.info_min_time, bounded.info_max_time) == (early, late)
    assert {r["process_id"] for r in bounded.records()} == {"3001", "3002", "3003", "2005"}


def test_adhoc_search(tmp_path: Path) -> None:
    path = write_shape(tmp_path, "iso")
    result = search(
        "| tstats count from datamodel=Endpoint.Processes where Processes.user=root",
        [path],
        content=load_content(),
    )
    assert [str(v) for v in result.rows.column("count").to_pylist()] == ["4"]
    assert result.detection.name == "search"
