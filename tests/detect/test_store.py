"""The store: idempotent inserts, the Risk.All_Risk table, two real processes writing at once, the
Parquet directory other tools read without escudo, atomic commits, damage as one located line."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from seed import seed_detection, seed_result, seed_row

from escudo.datamodels.cim import get_dataset
from escudo.detect.emit import emit
from escudo.detect.store import Store, default_path
from escudo.errors import InputError
from escudo.store.txn import Transaction

TIMES = ("2024-05-01T10:00:00", "2024-05-01T12:00:00", "2024-05-01T14:00:00")


def seed_results() -> list:
    rows = [seed_row(user=f"u{i}", last=t, pid=str(i)) for i, t in enumerate(TIMES)]
    return [seed_result(seed_detection(), rows)]


def counts(store: Store) -> tuple[int, int, int]:
    return len(store.results()), len(store.risk_events()), len(store.findings())


def test_replaying_the_same_results_adds_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    emit(seed_results(), "risk", store_path=store.path)
    assert counts(store) == (3, 6, 1)  # 3 rows; user + host per row; one 24 h finding for web-02
    emit(seed_results(), "findings", store_path=store.path)
    assert counts(store) == (3, 6, 1)
    assert store.write(results=seed_results()) == (0, 0, 0)


def test_risk_accumulates_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "store"
    results = seed_results()[0]
    first = seed_result(results.detection, results.records()[:2])
    second = seed_result(results.detection, results.records()[2:])
    assert emit([first], "findings", store_path=path) == []
    [finding] = emit([second], "findings", store_path=path)
    assert (finding["normalized_risk_object"], finding["risk_score"]) == ("web-02", 150)
    assert Store(path).findings()[0]["finding_id"] == finding["finding_id"]


def test_risk_table_has_the_risk_dataset_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
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
    store = Store(tmp_path / "none" / "store")
    assert store.risk_table().num_rows == 0
    assert counts(store) == (0, 0, 0)
    assert not store.path.exists()


def test_default_path_is_under_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "escudo" / "store"
    assert Store().path == default_path()


def test_an_old_default_store_is_not_silently_left_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    old = tmp_path / "escudo" / "escudo.duckdb"
    old.parent.mkdir()
    duckdb.connect(str(old)).execute("CREATE TABLE risk (risk_event_id VARCHAR)").close()
    with pytest.raises(InputError) as info:
        Store().risk_table()
    assert str(info.value) == (
        f"{old}: the default store is now a directory; copy this DuckDB store of escudo 0.1 "
        f"into it with: escudo store migrate {old} {default_path()}"
    )
    assert Store(default_path()).risk_table().num_rows == 0  # named explicitly: read as asked


def test_busy_store_is_a_located_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", timeout=0.05)
    store.write(results=seed_results())
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
    path = tmp_path / "shared"
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
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    with pytest.raises(InputError) as info:
        Store(path).write(results=seed_results())
    assert str(info.value) == f"{path}: not an escudo store: a file, not a store directory"


@pytest.mark.parametrize("use", ["write", "risk_table"])
def test_an_old_duckdb_store_names_the_migration(tmp_path: Path, use: str) -> None:
    path = tmp_path / "escudo.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE risk (risk_event_id VARCHAR)").close()
    before = path.read_bytes()
    with pytest.raises(InputError) as info:
        USES[use](Store(path))
    assert str(info.value) == (
        f"{path}: a DuckDB store of escudo 0.1 (before the store became a directory); copy it "
        f"into a store directory with: escudo store migrate {path} NEW_DIR"
    )
    assert path.read_bytes() == before


def test_spl_sees_the_store_as_the_risk_data_model(tmp_path: Path) -> None:
    from escudo.compile import compile_search
    from escudo.engines.duckdb import DuckDBEngine

    store = Store(tmp_path / "store")
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


def test_a_foreign_directory_is_neither_read_nor_written(tmp_path: Path) -> None:
    path = tmp_path / "photos"
    path.mkdir()
    (path / "cat.jpg").write_bytes(b"\xff\xd8")
    for use in ("write", "risk_table", "findings"):
        with pytest.raises(InputError) as info:
            USES[use](Store(path))
        assert (
            str(info.value) == f"{path}: not an escudo store: a directory without escudo-store.json"
        )
    assert sorted(p.name for p in path.iterdir()) == ["cat.jpg"]


def damaged_store(folder: Path, damage: str, kind: str) -> tuple[Path, Path]:
    """A real store, then one Parquet file of ``kind`` cut in half (``truncated``) or overwritten
    with text (``overwritten``); the store and that file."""
    path = folder / damage
    emit(seed_results(), "risk", store_path=path)
    [part] = sorted((path / kind).rglob("*.parquet"))[:1]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"a,b\n" * 100)
    return path, part


USES = {
    "write": lambda store: store.write(results=seed_results()),
    "risk_table": lambda store: store.risk_table(),
    "results": lambda store: store.results(),
    "findings": lambda store: store.findings(),
}
READS = {"write": "results", "risk_table": "risk", "results": "results", "findings": "findings"}


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_store_is_one_located_line(tmp_path: Path, damage: str, use: str) -> None:
    path, part = damaged_store(tmp_path, damage, READS[use])
    with pytest.raises(InputError) as info:
        USES[use](Store(path, timeout=5))
    assert str(info.value) == (
        f"{part}: store is damaged: not a readable Parquet file (truncated or overwritten)"
    )


def test_other_tools_read_the_store_without_escudo(tmp_path: Path) -> None:
    """pyarrow.dataset with Hive partitioning, and DuckDB's read_parquet on a plain connection
    (built in: no extension, nothing downloaded), see the same risk events and findings."""
    store = Store(tmp_path / "store")
    emit(seed_results(), "risk", store_path=store.path)
    risk = ds.dataset(store.path / "risk", format="parquet", partitioning="hive").to_table()
    assert risk.num_rows == 6
    assert risk.schema.field("_time").type == pa.timestamp("us", tz="UTC")
    assert risk.schema.field("threat_object").type == pa.list_(pa.string())
    assert set(risk.column("date").to_pylist()) == {"2024-05-01"}
    assert sorted(risk.column("risk_event_id").to_pylist()) == sorted(
        e["risk_event_id"] for e in store.risk_events()
    )
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})  # fmt: skip
    found = con.execute(
        "SELECT finding_id, rule, severity, CAST(date AS VARCHAR) FROM read_parquet(?, "
        "hive_partitioning = true)",
        [str(store.path / "findings" / "*" / "*.parquet")],
    ).fetchall()
    [finding] = store.findings()
    assert found == [(finding["finding_id"], finding["rule"], finding["severity"], "2024-05-01")]
    summed = con.execute(
        "SELECT normalized_risk_object, sum(CAST(risk_score AS INT)) FROM read_parquet(?, "
        "hive_partitioning = true) WHERE risk_object_type = 'system' GROUP BY ALL",
        [str(store.path / "risk" / "**" / "*.parquet")],
    ).fetchall()
    assert summed == [("web-02", 150)]
    installed = con.execute(
        "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
    ).fetchall()
    assert ("httpfs",) not in installed


def test_replaced_findings_leave_one_findings_file_set(tmp_path: Path) -> None:
    """Findings are replaced as a whole: the late event moves the finding, and the old file goes."""
    store = Store(tmp_path / "store")
    emit(seed_results(), "risk", store_path=store.path)
    before = sorted((store.path / "findings").rglob("*.parquet"))
    late = seed_row(user="u3", last="2024-05-01T09:00:00", pid="3")
    emit([seed_result(seed_detection(), [late])], "risk", store_path=store.path)
    after = sorted((store.path / "findings").rglob("*.parquet"))
    assert len(before) == len(after) == 1 and before != after
    rows = ds.dataset(store.path / "findings", format="parquet", partitioning="hive").to_table()
    assert rows.column("finding_id").to_pylist() == [f["finding_id"] for f in store.findings()]


def test_a_commit_cut_after_its_intent_is_finished_and_one_before_it_vanishes(
    tmp_path: Path,
) -> None:
    """A writer killed after writing its intent: the next reader finishes the commit. One killed
    while staging (no intent): its files are never seen and are removed by the next writer."""
    store = Store(tmp_path / "store")
    store.write(results=seed_results())
    template = next((store.path / "results").rglob("*.parquet"))
    decided = Transaction(store.path, "1")
    decided.stage("results/date=2024-05-02/part-1-0.parquet").write_bytes(template.read_bytes())
    decided.delete(str(template.relative_to(store.path)))
    # the commit point, as Transaction.commit writes it, then the "crash" before the renames
    (store.path / "_txn" / "1.json").write_text(
        '{"renames": [["_txn/1/results/date=2024-05-02/part-1-0.parquet", '
        '"results/date=2024-05-02/part-1-0.parquet"]], '
        f'"deletes": ["{template.relative_to(store.path)}"]}}'
    )
    undecided = Transaction(store.path, "2")
    undecided.stage("results/date=2024-05-03/part-2-0.parquet").write_bytes(b"half")
    assert len(store.results()) == 3  # the decided commit, moved and not doubled
    assert (store.path / "results/date=2024-05-02/part-1-0.parquet").is_file()
    assert not template.exists()
    assert not (store.path / "_txn" / "1.json").exists()
    store.write(results=seed_results())
    assert sorted(p.name for p in (store.path / "_txn").iterdir()) == []


class CountingStore(Store):
    """A store that counts how often each of its data sets is read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads: Counter[str] = Counter()

    def _read(self, kind: str, columns: Sequence[str]) -> pa.Table:
        self.reads[kind] += 1
        return super()._read(kind, columns)


def test_a_write_reads_the_stored_risk_events_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    events = [
        {"_time": datetime(2024, 5, 1, 10, i, tzinfo=UTC), "risk_event_id": f"e{i}",
         "normalized_risk_object": "alice", "risk_object": "alice", "risk_object_type": "user",
         "risk_score": "60", "source": "S"}
        for i in range(3)
    ]  # fmt: skip
    store.write(risk_events=events[:2])
    store.reads.clear()
    assert store.write(risk_events=events) == (0, 1, 0)
    assert store.reads["risk"] == 1  # the ids and the rules' input: one read
    assert len(store.risk_events()) == 3
