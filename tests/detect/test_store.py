"""The store: idempotent inserts, the Risk.All_Risk table, two real processes writing at once."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from seed import seed_detection, seed_result, seed_row

from escudo.datamodels.cim import get_dataset
from escudo.detect.emit import emit
from escudo.detect.store import Store, default_path
from escudo.errors import InputError

TIMES = ("2024-05-01T10:00:00", "2024-05-01T12:00:00", "2024-05-01T14:00:00")


def seed_results() -> list:
    rows = [seed_row(user=f"u{i}", last=t, pid=str(i)) for i, t in enumerate(TIMES)]
    return [seed_result(seed_detection(), rows)]


def counts(store: Store) -> tuple[int, int, int]:
    return len(store.results()), len(store.risk_events()), len(store.findings())


def test_replaying_the_same_results_adds_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "escudo.duckdb")
    emit(seed_results(), "risk", store_path=store.path)
    assert counts(store) == (3, 6, 1)  # 3 rows; user + host per row; one 24 h finding for web-02
    emit(seed_results(), "findings", store_path=store.path)
    assert counts(store) == (3, 6, 1)
    assert store.write(results=seed_results()) == (0, 0, 0)


def test_risk_accumulates_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    results = seed_results()[0]
    first = seed_result(results.detection, results.records()[:2])
    second = seed_result(results.detection, results.records()[2:])
    assert emit([first], "findings", store_path=path) == []
    [finding] = emit([second], "findings", store_path=path)
    assert (finding["normalized_risk_object"], finding["risk_score"]) == ("web-02", 150)
    assert Store(path).findings()[0]["finding_id"] == finding["finding_id"]


def test_risk_table_has_the_risk_dataset_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    emit(seed_results(), "risk", store_path=store.path)
    table = store.risk_table()
    assert table.column_names == list(get_dataset("Risk.All_Risk").all_fields)
    assert table.schema.field("_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("annotations.mitre_attack.mitre_tactic").type == pa.list_(pa.string())
    assert table.schema.field("risk_score").type == pa.string()
    row = next(r for r in table.to_pylist() if r["risk_object_type"] == "user")
    assert row["annotations.mitre_attack.mitre_tactic"] == ["Command and Control"]
    assert (row["risk_object"], row["risk_score"], row["source"]) == (
        "u0",
        "50",
        "ESCU - Linux Ngrok Reverse Proxy Usage - Rule",
    )


def test_missing_store_reads_empty(tmp_path: Path) -> None:
    store = Store(tmp_path / "none" / "s.duckdb")
    assert store.risk_table().num_rows == 0
    assert counts(store) == (0, 0, 0)
    assert not store.path.exists()


def test_default_path_is_under_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "escudo" / "escudo.duckdb"
    assert Store().path == default_path()


def test_busy_store_is_a_located_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb", timeout=0.05)
    with open(store.lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(InputError) as info:
            store.write(results=seed_results())
    assert str(info.value).startswith(f"{store.path}: store is busy")


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    from escudo.detect.store import Store
    path, tag, batches = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = Store(path)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for b in range(batches):
        events = [
            {"_time": start + timedelta(minutes=b), "risk_object": f"{tag}-{b}-{i}",
             "normalized_risk_object": f"{tag}-{b}-{i}", "risk_object_type": "system",
             "risk_score": 1, "risk_event_id": f"{tag}-{b}-{i}", "threat_object": ["x"]}
            for i in range(5)
        ]
        store.write(risk_events=events)
    print("done", tag)
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), tag, "15"], stdout=subprocess.PIPE, text=True
        )
        for tag in ("a", "b")
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == ["done a\n", "done b\n"]
    ids = {e["risk_event_id"] for e in Store(path).risk_events()}
    assert len(ids) == 2 * 15 * 5
    assert {i.split("-")[0] for i in ids} == {"a", "b"}


def test_a_file_that_is_not_a_store_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n" * 100)
    with pytest.raises(InputError) as info:
        Store(path).write(results=seed_results())
    assert str(info.value) == f"{path}: not an escudo store: the file is not a DuckDB database"


def test_spl_sees_the_store_as_the_risk_data_model(tmp_path: Path) -> None:
    from escudo.compile import compile_search
    from escudo.engines.duckdb import DuckDBEngine

    store = Store(tmp_path / "s.duckdb")
    emit(seed_results(), "risk", store_path=store.path)
    tstats = compile_search(
        "| tstats sum(All_Risk.calculated_risk_score) as risk_score "
        "values(All_Risk.annotations.mitre_attack.mitre_tactic) as tactics dc(source) as source_count "
        "from datamodel=Risk.All_Risk where All_Risk.threat_object=ngrok "
        "by All_Risk.normalized_risk_object All_Risk.risk_object_type "
        "| rename All_Risk.* AS * | where risk_score > 100"
    )
    events = compile_search(
        '| from datamodel Risk.All_Risk | search risk_object_type=system threat_object="bash"'
    )
    with DuckDBEngine() as engine:
        engine.register("Risk.All_Risk", store.risk_table())
        summed = engine.run(tstats).to_pylist()
        found = engine.run(events).to_pylist()
    assert summed == [
        {
            "normalized_risk_object": "web-02",
            "risk_object_type": "system",
            "risk_score": 150,
            "tactics": ["Command and Control"],
            "source_count": 1,
        }
    ]
    assert [(e["risk_object"], e["threat_object"]) for e in found] == [
        ("web-02", ["bash", "ngrok"])
    ] * 3


def test_a_foreign_duckdb_file_is_not_read_as_a_store(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(InputError) as info:
        Store(path).risk_table()
    assert str(info.value) == f"{path}: not an escudo store (no results/risk/findings tables)"


def damaged_store(folder: Path, damage: str) -> Path:
    """A real store, then cut in half (``truncated``) or with bytes overwritten in both of DuckDB's
    database headers, which carry a checksum (``corrupt``)."""
    path = folder / f"{damage}.duckdb"
    Store(path).write(results=seed_results())
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        for header in (4096, 8192):
            data[header + 100 : header + 200] = b"\xff" * 100
    path.write_bytes(bytes(data))
    return path


DAMAGE = {
    "truncated": "store is damaged: the file is truncated",
    "corrupt": "store is damaged: a block's checksum does not match",
}
USES = {
    "write": lambda store: store.write(results=seed_results()),
    "risk_table": lambda store: store.risk_table(),
    "results": lambda store: store.results(),
    "findings": lambda store: store.findings(),
}


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_store_is_one_located_line(tmp_path: Path, damage: str, use: str) -> None:
    path = damaged_store(tmp_path, damage)
    with pytest.raises(InputError) as info:
        USES[use](Store(path, timeout=5))
    assert str(info.value) == f"{path}: {DAMAGE[damage]}"


def test_a_foreign_duckdb_file_is_not_written_to(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE accounts (x INT)").close()
    with pytest.raises(InputError) as info:
        Store(path).write(results=seed_results())
    assert str(info.value) == f"{path}: not an escudo store (it holds other tables: accounts)"
    tables = duckdb.connect(str(path), read_only=True).execute("SHOW TABLES").fetchall()
    assert tables == [("accounts",)]


def test_store_connections_load_no_extension_and_stay_locked(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    store.write(results=seed_results())
    with store.reading() as con:
        assert con is not None
        settings = con.execute(
            "SELECT current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions'), current_setting('TimeZone')"
        ).fetchall()
        assert settings == [(False, False, "UTC")]
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("SELECT * FROM read_csv('https://example.invalid/x.csv')")
        with pytest.raises(Exception, match="locked"):
            con.execute("SET autoload_known_extensions = true")
