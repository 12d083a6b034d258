"""End to end through the CLI: content that leaves its folder and a store escudo cannot use are one
``escudo: error: PATH[:LINE]: ...`` line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from seed import sysmon_line

from escudo.cli import main

SEED = "Linux Ngrok Reverse Proxy Usage"
CONTENT = str(Path(__file__).resolve().parents[1] / "fixtures" / "risk" / "rba")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    line = sysmon_line(
        host="web-02",
        when="2024-05-01T10:00:00",
        pid=2001,
        user="alice",
        image="/tmp/ngrok",
        command_line="/tmp/ngrok tcp 22",
    )
    path = tmp_path_factory.mktemp("logs") / "sysmon.log"
    path.write_text(line + "\n")
    return path


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Path:
    """A real store directory after one hunt."""
    store = tmp_path_factory.mktemp("store") / "s"
    argv = ["hunt", str(logs), "--content", CONTENT, "--detection", SEED]
    assert main([*argv, "--emit", "findings", "--format", "jsonl", "--store", str(store)]) == 0
    return store


def errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[str]:
    """Run escudo; it must exit 2; the stderr lines."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    return err.splitlines()


# --- a store escudo cannot use ------------------------------------------------------------------

STORE_DAMAGE = {
    "truncated": "store is damaged: not a readable Parquet file (truncated or overwritten)",
    "not-parquet": "store is damaged: not a readable Parquet file (truncated or overwritten)",
    "a-file": "not an escudo store: a file, not a store directory",
    "foreign-dir": "not an escudo store: a directory without escudo-store.json",
    "old-duckdb": "a DuckDB store of escudo 0.1 (before the store became a directory); copy it "
    "into a store directory with: escudo store migrate {store} NEW_DIR",
}


def damaged(folder: Path, good: Path, damage: str) -> tuple[Path, Path]:
    """The store to pass (a copy of ``good`` with ``damage``) and the path the error names."""
    store = folder / damage
    if damage in ("truncated", "not-parquet"):
        shutil.copytree(good, store)
        [part] = sorted((store / "risk").rglob("*.parquet"))[:1]
        data = part.read_bytes()
        part.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"x,y\n1,2\n" * 50)
        return store, part
    if damage == "a-file":
        store.write_text("user,password\nroot,hunter2\n" * 200)
    elif damage == "foreign-dir":
        store.mkdir()
        (store / "notes.txt").write_text("mine\n")
    else:  # the DuckDB file escudo 0.1 kept its store in
        duckdb.connect(str(store)).execute("CREATE TABLE risk (risk_event_id VARCHAR)").close()
    return store, store


def store_commands(store: Path, logs: Path) -> dict[str, list[str]]:
    """Every command that takes --store, reading or writing it."""
    return {
        "hunt": ["hunt", str(logs), "--content", CONTENT, "--detection", SEED,
                 "--emit", "findings", "--store", str(store)],
        "search": ["search", "| from datamodel Risk.All_Risk | stats count", str(logs),
                   "--store", str(store)],
        "drilldown": ["drilldown", SEED, "--content", CONTENT, "--store", str(store)],
        "navigator": ["navigator", "--fired", "--store", str(store)],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["hunt", "search", "drilldown", "navigator"])
@pytest.mark.parametrize("damage", STORE_DAMAGE)
def test_a_store_escudo_cannot_use_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    logs: Path,
    filled_store: Path,
    damage: str,
    command: str,
) -> None:
    store, named = damaged(tmp_path, filled_store, damage)
    argv = store_commands(store, logs)[command]
    message = STORE_DAMAGE[damage].format(store=store)
    assert errors(capsys, argv) == [f"escudo: error: {named}: {message}"]


# --- lookups stay in their content folder's lookups/ ----------------------------------------------


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "symlink"])
def test_a_lookup_outside_lookups_stops_every_command_that_loads_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logs: Path, how: str
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("process_name,category\nngrok,tunnel\n")
    lookups = tmp_path / "content" / "lookups"
    lookups.mkdir(parents=True)
    filename = {"dot-dot": "../../secret.csv", "absolute": str(secret), "symlink": "up/secret.csv"}
    (lookups / "up").symlink_to(tmp_path)
    yml = lookups / "tools.yml"
    yml.write_text(f"name: tunnel_tools\nfilename: {filename[how]}\n")
    reason = {
        "dot-dot": "'..' leaves lookups/",
        "absolute": "an absolute path",
        "symlink": f"a symlink leading out of {lookups}",
    }[how]
    expected = [f"escudo: error: {yml}:2: lookup file {filename[how]!r} is refused: {reason}"]
    spl = "| from datamodel Endpoint.Processes | lookup tunnel_tools process_name OUTPUT category"
    content = ["--content", str(tmp_path / "content")]
    for argv in (
        ["hunt", str(logs), *content, "--detection", SEED],
        ["search", spl, str(logs), *content],
        ["test", SEED, *content],
        ["drilldown", SEED, str(logs), *content],
    ):
        assert errors(capsys, argv) == expected, argv
