"""``--engine spark`` / ``--spark-master`` on hunt and search: the same rows as DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escudo.cli import main
from escudo.engines.spark import SparkEngine

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sysmon-linux-syslog.log"
SEED = "Linux Ngrok Reverse Proxy Usage"


def _rows(text: str) -> list[dict[str, object]]:
    return sorted((json.loads(line) for line in text.splitlines() if line), key=json.dumps)


def test_hunt_and_search_on_spark_return_duckdb_rows(
    spark_session: SparkEngine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = str(tmp_path / "escudo.duckdb")
    out = {}
    for engine in ("duckdb", "spark"):
        hunt = ["hunt", str(SAMPLE), "--detection", SEED, "--format", "jsonl"]
        assert main([*hunt, "--engine", engine]) == 0
        found = _rows(capsys.readouterr().out)
        spl = "| tstats count max(_time) as t from datamodel=Endpoint.Processes by Processes.user"
        search = ["search", spl, str(SAMPLE), "--format", "jsonl", "--store", store]
        assert main([*search, "--engine", engine]) == 0
        out[engine] = (found, _rows(capsys.readouterr().out))
    assert len(out["duckdb"][0]) == 4
    assert out["spark"] == out["duckdb"]


def test_spark_master_needs_the_spark_engine(capsys: pytest.CaptureFixture[str]) -> None:
    spl = "| tstats count from datamodel=Endpoint.Processes"
    assert main(["search", spl, str(SAMPLE), "--spark-master", "local[2]"]) == 2
    assert capsys.readouterr().err == "escudo: error: --spark-master needs --engine spark\n"
