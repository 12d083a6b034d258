"""The Engine protocol, run on every registered engine: Arrow batches, a Parquet data set and the
risk store in, compiled searches run, Arrow out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from escudo.compile import compile_search
from escudo.detect.store import Store
from escudo.engines import ENGINES, Engine, new_engine
from escudo.errors import EngineError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PROCESSES_BY_DEST = "| tstats count from datamodel=Endpoint.Processes by Processes.dest"
FILES_BY_NAME = (
    "| tstats count min(_time) as first from datamodel=Endpoint.Filesystem by Filesystem.file_name"
)
RISK_BY_OBJECT = (
    "| tstats sum(All_Risk.calculated_risk_score) as score from datamodel=Risk.All_Risk "
    "by All_Risk.risk_object"
)


def process_batches() -> list[pa.RecordBatch]:
    table = pa.table({"dest": ["web-01", "web-02", "web-01"], "not_a_cim_field": ["x", "y", "z"]})
    return table.to_batches(max_chunksize=1)


def write_filesystem_parquet(folder: Path) -> None:
    """Two files in nested folders with different columns, as a partitioned export would have."""
    (folder / "day=1").mkdir(parents=True)
    (folder / "day=2").mkdir()
    when = pa.array([T0], pa.timestamp("us", tz="UTC"))
    pq.write_table(
        pa.table({"_time": when, "file_name": ["a.sh"]}), folder / "day=1" / "part-0.parquet"
    )
    pq.write_table(
        pa.table({"file_name": ["a.sh", "b.so"], "file_hash": ["h1", "h2"]}),
        folder / "day=2" / "part-0.parquet",
    )


def risk_event(risk_event_id: str, score: int) -> dict[str, object]:
    return {
        "_time": T0,
        "risk_event_id": risk_event_id,
        "risk_object": "web-01",
        "calculated_risk_score": str(score),
    }


@pytest.fixture(params=sorted(ENGINES))
def engine_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "spark":
        request.getfixturevalue("spark_session")  # one Spark for the whole test session
    return name


def test_arrow_parquet_and_risk_store_through_the_protocol(
    engine_name: str, tmp_path: Path
) -> None:
    write_filesystem_parquet(tmp_path / "filesystem")
    store = Store(tmp_path / "escudo.duckdb")
    store.write(risk_events=[risk_event("r1", 40), risk_event("r2", 25)])
    with new_engine(engine_name) as engine:
        assert isinstance(engine, Engine)
        engine.register_arrow("Endpoint.Processes", iter(process_batches()))
        engine.register_parquet("Endpoint.Filesystem", tmp_path / "filesystem")
        engine.register_risk_store(store)
        processes = engine.run(compile_search(PROCESSES_BY_DEST))
        files = engine.run(compile_search(FILES_BY_NAME))
        risk = engine.run(compile_search(RISK_BY_OBJECT))
    assert isinstance(processes, pa.Table)
    assert processes.to_pylist() == [
        {"Processes.dest": "web-01", "count": 2},
        {"Processes.dest": "web-02", "count": 1},
    ]
    assert sorted(files.to_pylist(), key=lambda r: r["Filesystem.file_name"]) == [
        {"Filesystem.file_name": "a.sh", "count": 2, "first": T0.timestamp()},
        {"Filesystem.file_name": "b.so", "count": 1, "first": None},
    ]
    assert risk.to_pylist() == [{"All_Risk.risk_object": "web-01", "score": 65}]


def test_parquet_glob_keeps_extra_columns(engine_name: str, tmp_path: Path) -> None:
    write_filesystem_parquet(tmp_path)
    search = "| from datamodel Endpoint.Filesystem | where isnotnull(file_hash) | table file_hash"
    with new_engine(engine_name) as engine:
        engine.register_parquet("Endpoint.Filesystem", str(tmp_path / "day=2" / "*.parquet"))
        rows = engine.run(compile_search(search)).to_pylist()
    assert rows == [{"file_hash": "h1"}, {"file_hash": "h2"}]


def test_parquet_that_is_not_there_is_an_engine_error(engine_name: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for missing in (tmp_path / "none-*.parquet", tmp_path / "none.parquet", tmp_path / "empty"):
        with new_engine(engine_name) as engine, pytest.raises(EngineError) as info:
            engine.register_parquet("Endpoint.Filesystem", missing)
        assert str(info.value) == f"cannot load Endpoint.Filesystem: no Parquet file at {missing}"


def test_a_file_that_is_not_parquet_is_an_engine_error(engine_name: str, tmp_path: Path) -> None:
    (tmp_path / "events.parquet").write_text("not parquet")
    with new_engine(engine_name) as engine, pytest.raises(EngineError) as info:
        engine.register_parquet("Endpoint.Filesystem", tmp_path)
    assert str(info.value).startswith(f"cannot load Endpoint.Filesystem from Parquet {tmp_path}: ")


def test_unknown_engine_name() -> None:
    with pytest.raises(
        EngineError, match=r"unknown engine 'flink' \(escudo runs on duckdb, spark\)"
    ):
        new_engine("flink")
