"""DuckDBEngine: registering tables, batches and readers; errors; settings."""

from __future__ import annotations

import gc
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from escudo.compile import compile_search
from escudo.datamodels.cim import DATASETS
from escudo.engines import duckdb as duckdb_engine
from escudo.engines import spark
from escudo.engines.base import Runnable
from escudo.engines.duckdb import DuckDBEngine
from escudo.errors import EngineError

COUNT_BY_DEST = "| tstats count from datamodel=Endpoint.Processes by Processes.dest"


def batches() -> list[pa.RecordBatch]:
    table = pa.table({"dest": ["a", "b", "a"], "extra": ["x", "y", "z"]})
    return table.to_batches(max_chunksize=1)


def test_register_batches_streams_and_fills_missing_columns() -> None:
    with DuckDBEngine() as engine:
        engine.register("Endpoint.Processes", iter(batches()))
        rows = engine.run(compile_search(COUNT_BY_DEST)).to_pylist()
        assert rows == [{"Processes.dest": "a", "count": 2}, {"Processes.dest": "b", "count": 1}]
        columns = engine.execute("SELECT * FROM dm_endpoint_processes LIMIT 0").column_names
        assert columns == [*DATASETS["Endpoint.Processes"].all_fields, "extra"]


def test_register_reader_and_replace() -> None:
    with DuckDBEngine() as engine:
        reader = pa.RecordBatchReader.from_batches(batches()[0].schema, batches())
        engine.register("endpoint.processes", reader)  # data set names are case-insensitive
        engine.register("Endpoint.Processes", pa.table({"dest": ["c"]}))
        assert engine.run(compile_search(COUNT_BY_DEST)).to_pylist() == [
            {"Processes.dest": "c", "count": 1}
        ]


def test_time_column_is_cast_to_timestamptz() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with DuckDBEngine() as engine:
        engine.register(
            "Endpoint.Processes",
            pa.table({"_time": pa.array([when], pa.timestamp("us", tz="UTC"))}),
        )
        table = engine.execute('SELECT "_time" FROM dm_endpoint_processes')
        assert table.schema.field("_time").type == pa.timestamp("us", tz="Etc/UTC")
        assert table.to_pylist()[0]["_time"] == when


def test_unregistered_dataset_reads_empty_and_register_empty() -> None:
    with DuckDBEngine() as engine:
        assert engine.run(compile_search(COUNT_BY_DEST)).num_rows == 0
        engine.register_empty("Endpoint.Filesystem")
        assert engine.execute(exp.select("*").from_("dm_endpoint_filesystem")).num_rows == 0
        engine.register("Endpoint.Processes", iter([]))
        assert engine.execute("SELECT count(*) AS n FROM dm_endpoint_processes").to_pylist() == [
            {"n": 0}
        ]


def test_errors_are_engine_errors() -> None:
    with (
        DuckDBEngine() as engine,
        pytest.raises(EngineError, match=r"DuckDB failed: .*no_such_table"),
    ):
        engine.execute("SELECT * FROM no_such_table")


def test_settings() -> None:
    with DuckDBEngine(threads=2, memory_limit="512MB") as engine:
        rows = engine.execute(
            "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m"
        ).to_pylist()
        assert rows[0]["t"] == 2
        assert rows[0]["m"].replace(" ", "").upper().startswith(("512", "488"))


def test_extensions_are_never_installed_or_loaded_at_run_time() -> None:
    """An https:// path needs httpfs: stock DuckDB downloads and loads it on the spot."""
    with DuckDBEngine() as engine:
        settings = engine.execute(
            "SELECT current_setting('autoinstall_known_extensions') AS install, "
            "current_setting('autoload_known_extensions') AS load, "
            "current_setting('enable_external_access') AS external, "
            "current_setting('lock_configuration') AS locked"
        ).to_pylist()
        assert settings == [{"install": False, "load": False, "external": False, "locked": True}]
        with pytest.raises(EngineError) as info:
            engine.execute("SELECT * FROM read_csv('https://example.invalid/x.csv')")
        assert "install" not in str(info.value)
        assert "disabled by configuration" in str(info.value)
        for sql in ("INSTALL httpfs", "LOAD httpfs", "SET autoload_known_extensions = true"):
            with pytest.raises(EngineError, match=r"disabled|locked"):
                engine.execute(sql)


def test_sql_reads_no_file(tmp_path: Path) -> None:
    """escudo reads files itself; SQL that names one (a compiled search never does) is refused."""
    log = tmp_path / "x.csv"
    log.write_text("a\n1\n")
    with DuckDBEngine() as engine:
        with pytest.raises(EngineError, match="disabled by configuration"):
            engine.execute(f"SELECT * FROM read_csv('{log}')")
        with pytest.raises(EngineError, match="disabled by configuration"):
            engine.execute(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
    assert not (tmp_path / "out.csv").exists()


def test_spark_dialect_generation() -> None:
    sql = compile_search(COUNT_BY_DEST).sql(spark.dialect)
    assert "`Processes.dest`" in sql and '"' not in sql


def test_table_view_and_loaded_table_replace_each_other() -> None:
    with DuckDBEngine() as engine:
        engine.register("Endpoint.Processes", pa.table({"dest": ["v"]}))  # a view over Arrow
        engine.register("Endpoint.Processes", iter(batches()))  # a loaded table
        engine.register("Endpoint.Processes", pa.table({"dest": ["w"]}))
        assert engine.run(compile_search(COUNT_BY_DEST)).to_pylist() == [
            {"Processes.dest": "w", "count": 1}
        ]
        engine.register_empty("Endpoint.Processes")
        assert engine.run(compile_search(COUNT_BY_DEST)).num_rows == 0


def _spill_folder(engine: DuckDBEngine) -> str:
    rows = engine.execute("SELECT current_setting('temp_directory') AS d").to_pylist()
    folder: str = rows[0]["d"]
    return folder


def test_spill_folder_is_private_and_removed_on_close() -> None:
    engine = DuckDBEngine()
    folder = _spill_folder(engine)
    assert "escudo-duckdb-" in folder and os.path.isdir(folder)
    engine.close()
    assert not os.path.exists(folder)
    engine.close()  # closing twice is harmless
    assert DuckDBEngine.dialect == "duckdb"


def test_spill_folder_of_an_engine_nobody_closes_goes_with_the_engine() -> None:
    engine = DuckDBEngine()
    folder = _spill_folder(engine)
    del engine
    gc.collect()
    assert not os.path.exists(folder)


def test_spill_folder_is_removed_when_duckdb_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # mkdtemp's parent, for this test only
    with pytest.raises(EngineError, match="cannot start DuckDB"):
        DuckDBEngine(memory_limit="not a size")
    assert list(tmp_path.iterdir()) == []


def test_run_many_gives_each_search_its_rows_in_order_on_cursors_and_on_the_connection() -> None:
    from dataclasses import replace

    from escudo.errors import EngineError

    by_dest = "| tstats count from datamodel=Endpoint.Processes by Processes.dest"
    per_port = "| tstats count from datamodel=Network_Traffic.All_Traffic by All_Traffic.dest_port"
    searches = [
        compile_search(spl)
        for spl in (by_dest, per_port, "| tstats count from datamodel=Endpoint.Filesystem")
    ] * 3
    with DuckDBEngine() as engine:
        # a table (every cursor sees it) and a view over Arrow data (this connection only)
        engine.register_arrow(
            "Endpoint.Processes", iter(pa.table({"dest": ["a", "b", "a"]}).to_batches())
        )
        engine.register_arrow("Network_Traffic.All_Traffic", pa.table({"dest_port": ["443"]}))
        assert engine.connection_only == {"Network_Traffic.All_Traffic"}
        expected = [engine.run(s) for s in searches]
        assert engine.run_many(searches) == expected
        assert [t.num_rows for t in expected[:3]] == [2, 1, 1]
        with pytest.raises(EngineError, match="DuckDB failed"):
            engine.run_many([searches[0], replace(searches[0], expression=exp.select("nope"))])


def test_arrow_files_are_scanned_in_place_on_the_connection_and_its_cursors(
    tmp_path: Path,
) -> None:
    import pyarrow.ipc as ipc

    # two files of one data set, their columns differing (a second source): matched by name
    first, second = tmp_path / "0.arrow", tmp_path / "1.arrow"
    for path, table in (
        (first, pa.table({"dest": ["a", "b"], "user": ["u1", "u2"]})),
        (second, pa.table({"dest": ["a"], "extra": ["x"]})),
    ):
        with ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)
    searches = [compile_search(COUNT_BY_DEST), compile_search(COUNT_BY_DEST + " Processes.user")]
    with DuckDBEngine() as engine:
        engine.register_arrow_files("Endpoint.Processes", [first, second])
        expected = [
            [{"Processes.dest": "a", "count": 2}, {"Processes.dest": "b", "count": 1}],
            [
                {"Processes.dest": "a", "Processes.user": "u1", "count": 1},
                {"Processes.dest": "b", "Processes.user": "u2", "count": 1},
            ],
        ]
        assert [engine.run(s).to_pylist() for s in searches] == expected
        # two cursors, each with the files registered on it
        assert [t.to_pylist() for t in engine.run_many(searches * 2)] == expected * 2
        columns = engine.execute("SELECT * FROM dm_endpoint_processes LIMIT 0").column_names
        assert columns == [*DATASETS["Endpoint.Processes"].all_fields, "extra"]
        with pytest.raises(EngineError, match=r"cannot load Endpoint\.Processes from Arrow"):
            engine.register_arrow_files("Endpoint.Processes", [tmp_path / "none.arrow"])


def test_run_many_runs_searches_over_arrow_views_on_its_cursors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searches = [compile_search(COUNT_BY_DEST)] * 4
    threads: set[str] = set()
    run_on = duckdb_engine._run_on

    def noted(con: duckdb.DuckDBPyConnection, compiled: Runnable, text: str = "") -> pa.Table:
        threads.add(threading.current_thread().name)  # which thread ran it: the real run
        return run_on(con, compiled, text)

    monkeypatch.setattr(duckdb_engine, "_run_on", noted)
    with DuckDBEngine() as engine:
        engine.register_arrow("Endpoint.Processes", pa.table({"dest": ["a", "b", "a"]}))
        assert [t.num_rows for t in engine.run_many(searches)] == [2] * 4
    assert threads and all(name.startswith("escudo-duckdb") for name in threads)
