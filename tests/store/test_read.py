"""Reading a store: a hunt holds the store's shared lock from listing its files until its searches
ran, so a writer (``escudo store compact``, an ingest) cannot remove what the engine scans."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pyarrow as pa
import pytest

from escudo.content.loader import load_content
from escudo.detect.hunt import hunt
from escudo.engines.base import Runnable
from escudo.engines.duckdb import DuckDBEngine
from escudo.store.ingest import ingest
from escudo.store.layout import EVENTS
from escudo.store.maintain import compact

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
SEED = "Linux Ngrok Reverse Proxy Usage"


class WriterProbe(DuckDBEngine):
    """DuckDB that, before each search, checks whether a writer could take the store's lock."""

    def __init__(self, store: Path) -> None:
        super().__init__(read_dirs=[store / EVENTS])
        self.lock = store / ".lock"
        self.writer_could_lock: list[bool] = []

    def run(self, compiled: Runnable) -> pa.Table:
        with self.lock.open("a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.writer_could_lock.append(False)
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                self.writer_could_lock.append(True)
        return super().run(compiled)


def test_a_hunt_over_the_store_keeps_writers_out_until_its_searches_ran(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest([SAMPLE], store)
    (store / "checkpoints" / "inputs.json").unlink()
    ingest([SAMPLE], store)  # two files per partition: something for compact to replace
    content = load_content()
    with WriterProbe(store) as engine:
        [result] = hunt(
            [], [content.detections[SEED]], content=content, engine=engine, events=store
        )
    assert engine.writer_could_lock == [False]
    assert result.rows.column("count").to_pylist() == [2, 2, 2, 2]  # the sample ingested twice
    assert compact(store).removed > 0  # the lock is released once the hunt is done


@pytest.mark.parametrize("missing", ["absent", "plain-dir"])
def test_hunting_what_is_not_a_store_is_an_error(tmp_path: Path, missing: str) -> None:
    from escudo.errors import InputError

    path = tmp_path / "s"
    if missing == "plain-dir":
        path.mkdir()
    content = load_content()
    with pytest.raises(InputError, match="not an escudo store"):
        hunt([], [content.detections[SEED]], content=content, events=path)


def _encodings(store: Path, column: str) -> set[str]:
    import pyarrow.parquet as pq

    found: set[str] = set()
    for f in (store / EVENTS / "dataset=Endpoint.Processes").rglob("*.parquet"):
        meta = pq.ParquetFile(f).metadata
        index = meta.schema.to_arrow_schema().get_field_index(column)
        for group in range(meta.num_row_groups):
            found.update(meta.row_group(group).column(index).encodings)
    return found


def test_per_event_fields_are_written_for_cheap_skipping_and_read_back(tmp_path: Path) -> None:
    """Ids and GUIDs are DELTA_LENGTH_BYTE_ARRAY (a scan skips the rows its filters drop without
    walking their strings: layout.NO_DICTIONARY), after ingest and after compact too."""
    store = tmp_path / "store"
    ingest([SAMPLE], store)
    (store / "checkpoints" / "inputs.json").unlink()
    ingest([SAMPLE], store)
    content = load_content()
    [before] = hunt([], [content.detections[SEED]], content=content, events=store)
    for column in ("process_guid", "process_id", "parent_process_id"):
        assert "DELTA_LENGTH_BYTE_ARRAY" in _encodings(store, column)
    assert "DELTA_LENGTH_BYTE_ARRAY" not in _encodings(store, "process_name")
    assert compact(store).removed > 0
    assert "DELTA_LENGTH_BYTE_ARRAY" in _encodings(store, "process_guid")
    [after] = hunt([], [content.detections[SEED]], content=content, events=store)
    assert after.rows.num_rows == 4
    assert after.rows.to_pylist() == before.rows.to_pylist()
