"""``escudo store migrate``: a DuckDB store file of escudo 0.1 copied into a store directory."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from seed import seed_detection, seed_result, seed_row

from escudo.cli import main
from escudo.detect.emit import emit_all
from escudo.detect.store import Store, results_rows, to_json

# escudo 0.1's tables (detect/store.py create_schema), with the risk table cut to the columns the
# migration reads (it had every Risk.All_Risk field besides).
OLD_SCHEMA = (
    "CREATE TABLE results (result_id VARCHAR PRIMARY KEY, detection VARCHAR, detection_id VARCHAR, "
    "_time TIMESTAMPTZ, info_min_time TIMESTAMPTZ, info_max_time TIMESTAMPTZ, "
    "stored_at TIMESTAMPTZ, row_index BIGINT, row_json VARCHAR)",
    "CREATE TABLE risk (_time TIMESTAMPTZ, risk_event_id VARCHAR PRIMARY KEY, event_json VARCHAR)",
    "CREATE TABLE findings (finding_id VARCHAR PRIMARY KEY, _time TIMESTAMPTZ, rule VARCHAR, "
    "severity VARCHAR, finding_json VARCHAR)",
)


def run() -> list:
    rows = [seed_row(user=f"u{i}", last=f"2024-05-01T1{i}:00:00", pid=str(i)) for i in range(3)]
    return [seed_result(seed_detection(), rows)]


def old_store(path: Path) -> None:
    """A DuckDB file as escudo 0.1's ``hunt --store`` left it after one run."""
    emitted = emit_all(run())
    con = duckdb.connect(str(path))
    for statement in OLD_SCHEMA:
        con.execute(statement)
    con.execute("SET TimeZone = 'UTC'")
    con.register("incoming", results_rows(run()))
    con.execute("INSERT INTO results SELECT * FROM incoming")
    for event in emitted["risk"]:
        con.execute(
            "INSERT INTO risk VALUES (?, ?, ?)",
            [event["_time"], event["risk_event_id"], to_json(event)],
        )
    for finding in emitted["findings"]:
        con.execute(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?)",
            [finding["finding_id"], finding["_time"], finding["rule"], finding["severity"],
             to_json(finding)],
        )  # fmt: skip
    con.close()


def test_migrate_copies_an_old_store_into_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, fresh = tmp_path / "escudo.duckdb", tmp_path / "store", tmp_path / "fresh"
    old_store(old)
    before = old.read_bytes()
    assert main(["store", "migrate", str(old), str(new)]) == 0
    assert capsys.readouterr().err == f"{new}: 3 results, 6 risk events, 1 findings added\n"
    assert old.read_bytes() == before
    emit_all(run(), store_path=fresh)  # what a hunt into a new store keeps
    migrated, direct = Store(new), Store(fresh)
    assert migrated.findings() == direct.findings()
    assert migrated.risk_events() == direct.risk_events()
    assert [r["row"] for r in migrated.results()] == [r["row"] for r in direct.results()]
    assert main(["store", "migrate", str(old), str(new)]) == 0  # again: nothing new
    assert capsys.readouterr().err == f"{new}: 0 results, 0 risk events, 0 findings added\n"


def test_migrate_refuses_what_is_not_an_old_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "notes.txt"
    old.write_text("hello\n" * 10)
    assert main(["store", "migrate", str(old), str(tmp_path / "store")]) == 2
    assert capsys.readouterr().err == f"escudo: error: {old}: not a DuckDB store of escudo 0.1\n"
    assert not (tmp_path / "store").exists()
