"""The hunting library: detection selection, one read per dataset, the search window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
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


def test_a_read_started_ahead_hands_over_its_items_errors_and_stops() -> None:
    """detect.hunt.Prefetch (start_reading's read ahead): the items in order; an error raised
    where the consumer takes it; close() stops a producer its consumer left (its iterator closed)."""
    from escudo.detect.hunt import Prefetch

    closed: list[int] = []

    def items(count: int, fail_at: int = -1) -> Iterator[tuple[str, pa.RecordBatch]]:
        try:
            for i in range(count):
                if i == fail_at:
                    raise InputError("x.log: cannot read: gone")
                yield str(i), pa.record_batch({"n": [i]})
        finally:
            closed.append(count)

    ahead = Prefetch(items(5), depth=2)
    assert [name for name, _ in ahead] == ["0", "1", "2", "3", "4"]
    ahead.close()
    failing = Prefetch(items(6, fail_at=3), depth=2)
    taken = []
    with pytest.raises(InputError, match="cannot read: gone"):
        for name, _ in failing:
            taken.append(name)
    assert taken == ["0", "1", "2"]
    failing.close()
    endless = Prefetch(items(10**9), depth=2)
    assert next(iter(endless))[0] == "0"
    endless.close()  # the producer waits on a full queue: it stops, its generator closed
    assert closed == [5, 6, 10**9]
