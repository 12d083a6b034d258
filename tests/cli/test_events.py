"""``escudo events`` end to end, through ``escudo.cli.main``."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from escudo.cli import main

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
EVENT = (
    ROOT / "tests" / "fixtures" / "sysmon" / "golden" / "shape_rfc3164.Endpoint.Processes.log"
).read_text()


def test_sample_to_jsonl(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["events", str(SAMPLE)]) == 0
    out, err = capsysbinary.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 27
    assert list(rows[0])[:5] == ["_time", "host", "source", "sourcetype", "action"]
    assert rows[0]["_time"] == "2024-03-11T09:14:03.018000Z"
    ngrok = [r["process"] for r in rows if r["process_name"] == "ngrok"]
    assert ngrok == [
        "/tmp/ngrok authtoken 2d8Xq1LkPz3mWvT7rJ5nDcE_6aUsGhKpXoN1yB4iZfQ",
        "/tmp/ngrok tcp 22 --log=stdout",
        "/tmp/ngrok http 8080 --log=stdout",
        "/tmp/ngrok service install --config /etc/ngrok.yml",
    ]
    assert {r["host"] for r in rows} == {"web-01", "db-01", "build-01"}
    assert err.decode().startswith("escudo: read 27 events; skipped 3 non-event lines; 0 malformed")


def test_garbage_is_reported_and_strict_fails(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    log = tmp_path / "mixed.log"
    log.write_text("cron noise\n" + EVENT + EVENT[:500] + "\n" + EVENT)
    assert main(["events", str(log), "--format", "csv"]) == 0
    out, err = capsysbinary.readouterr()
    assert len(out.decode().splitlines()) == 3  # header + 2 events
    assert f"{log}:3: event cut short" in err.decode()
    assert "read 2 events; skipped 1 non-event lines; 1 malformed" in err.decode()
    assert main(["events", str(log), "--strict"]) == 2


def test_parquet_needs_output_then_writes_it(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["events", str(SAMPLE), "--format", "parquet"]) == 2
    assert (
        "escudo: error: --format parquet needs --output FILE"
        in capsysbinary.readouterr().err.decode()
    )
    out = tmp_path / "p.parquet"
    assert (
        main(["events", str(SAMPLE), "-d", "Endpoint.Filesystem", "-f", "parquet", "-o", str(out)])
        == 0
    )
    table = pq.read_table(out)
    assert table.num_rows == 7
    assert str(table.schema.field("_time").type) == "timestamp[us, tz=UTC]"
    assert sorted(set(table.column("action").to_pylist())) == ["created", "deleted"]


def test_table_and_raw(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["events", str(SAMPLE), "--datamodel", "raw", "--format", "table"]) == 0
    out = capsysbinary.readouterr().out.decode().splitlines()
    assert out[0].split()[:6] == [
        "_time",
        "host",
        "source",
        "sourcetype",
        "ProviderName",
        "ProviderGuid",
    ]
    assert len(out) == 2 + 38


def test_bad_arguments_exit_2(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["events", str(tmp_path / "missing.log")]) == 2
    assert (
        f"escudo: error: {tmp_path / 'missing.log'}: no such file or directory"
        in capsysbinary.readouterr().err.decode()
    )
    assert main(["events", str(SAMPLE), "--datamodel", "Web.Web"]) == 2
    assert "unknown data model dataset 'Web.Web'" in capsysbinary.readouterr().err.decode()


def test_stdin_through_the_console_entry_point() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from escudo.cli import run; run()",
            "events",
            "-",
            "-d",
            "Endpoint.Processes",
        ],
        input=EVENT.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["process"] == "sudo gdb -nx -ex !sh -ex quit"


def test_fields_selects_columns_in_order(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["events", str(SAMPLE), "-F", "process_name,dest", "-f", "csv"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines[:2] == ["process_name,dest", "systemctl,web-01"]
    assert main(["events", str(SAMPLE), "-F", "dest,nope"]) == 2
    assert "--fields: nope not in Endpoint.Processes" in capsysbinary.readouterr().err.decode()


def test_summary_lists_the_first_five_problems(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    log = tmp_path / "cut.log.gz"
    log.write_bytes(gzip.compress(((EVENT[:300] + "\n") * 7 + EVENT).encode()))
    assert main(["events", str(log), "--strict", "-F", "dest"]) == 2
    out, err = capsysbinary.readouterr()
    assert out.decode() == '{"dest": "ar-linux"}\n'
    lines = err.decode().splitlines()
    assert lines[0] == "escudo: read 1 events; skipped 0 non-event lines; 7 malformed"
    assert [line.split(": ")[0].strip() for line in lines[1:6]] == [
        f"{log}:{n}" for n in range(1, 6)
    ]
    assert lines[6] == "  ... and 2 more"
