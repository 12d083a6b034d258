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
