"""The output options end to end: the same -f/-o/--csv-safe in events, hunt, search and drilldown,
one time format, Parquet from hunt, and nothing from a log reaching the terminal raw."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import click
import pyarrow.parquet as pq
import pytest
from seed import sysmon_line

from escudo.cli import _load, main

SEED = "Linux Ngrok Reverse Proxy Usage"
CONTENT = str(Path(__file__).resolve().parents[1] / "fixtures" / "risk" / "rba")
ROW_COMMANDS = ("events", "hunt", "search", "drilldown")
RFC3339_UTC_US = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
# What a hostile log can hold: clear screen, a window title (OSC ... BEL), CR, backspace, the C1
# CSI, a right-to-left override.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\r\x08\x9b31m\u202e"
SEARCH = "| from datamodel=Endpoint.Processes | table _time process_id process"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = [
        sysmon_line(host="web-02", when="2024-05-01T10:00:00", pid=2001, user="alice",
                    image="/tmp/ngrok", command_line="/tmp/ngrok tcp 22"),
        sysmon_line(host="web-02", when="2024-05-01T10:00:07", pid=2002, user="bob" + HOSTILE,
                    image="/tmp/ngrok", command_line="/tmp/ngrok http 80 " + HOSTILE, record=2),
        sysmon_line(host="db-01", when="2024-05-01T11:00:00", pid=3001, user="carol",
                    image="/usr/bin/python3", command_line='=HYPERLINK("http://x","y")', record=3),
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("logs") / "sysmon.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_every_command_has_the_same_output_options() -> None:
    def described(name: str) -> list[tuple[object, ...]]:
        command = _load(name)
        assert command is not None
        params = {p.name: p for p in command.params}
        out = []
        for key in ("fmt", "output", "csv_safe"):
            p = params[key]
            assert isinstance(p, click.Option)
            choices = getattr(p.type, "choices", None)
            out.append((tuple(p.opts), choices, p.help))
        return out

    reference = described("events")
    assert reference[0][1] == ("table", "jsonl", "csv", "parquet")
    for name in ROW_COMMANDS[1:]:
        assert described(name) == reference, name


def test_hunt_writes_parquet(
    capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path
) -> None:
    args = ["hunt", str(logs), "--detection", SEED, "--content", CONTENT]
    rows = [json.loads(line) for line in run(capsys, *args, "-f", "jsonl")[0].splitlines()]
    target = tmp_path / "hunt.parquet"
    out, err = run(capsys, *args, "--format", "parquet", "--output", str(target))
    assert out == "" and "escudo: read " in err
    table = pq.read_table(target)
    assert table.schema.names == list(rows[0])  # detection first, then the search's fields
    assert table.to_pylist() == rows and len(rows) == 2


@pytest.mark.parametrize("command", ["hunt", "search", "drilldown"])
def test_parquet_needs_output(command: str, capsys: pytest.CaptureFixture[str], logs: Path) -> None:
    args = {"hunt": [str(logs)], "search": [SEARCH, str(logs)], "drilldown": [SEED, str(logs)]}
    assert main([command, *args[command], "--format", "parquet"]) == 2
    assert "escudo: error: --format parquet needs --output FILE" in capsys.readouterr().err


def test_one_time_format_across_commands(capsys: pytest.CaptureFixture[str], logs: Path) -> None:
    events = run(capsys, "events", str(logs), "-F", "_time,process_id", "-f", "jsonl")[0]
    search = run(capsys, "search", SEARCH, str(logs), "-f", "jsonl")[0]
    risk = run(capsys, "hunt", str(logs), "--detection", SEED, "--content", CONTENT,
               "--emit", "risk", "-f", "jsonl")[0]  # fmt: skip
    times = {
        name: [json.loads(line)["_time"] for line in text.splitlines()]
        for name, text in (("events", events), ("search", search), ("risk", risk))
    }
    assert (
        sorted(times["events"])
        == sorted(times["search"])
        == [
            "2024-05-01T10:00:00.000000Z",
            "2024-05-01T10:00:07.000000Z",
            "2024-05-01T11:00:00.000000Z",
        ]
    )
    assert times["risk"] and all(RFC3339_UTC_US.fullmatch(t) for t in times["risk"])
    table = run(capsys, "search", SEARCH, str(logs), "-f", "table")[0].splitlines()
    csv_text = run(capsys, "search", SEARCH, str(logs), "-f", "csv")[0]
    csv_rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    assert table[2].split()[0] == csv_rows[1][0] == times["search"][0]


@pytest.mark.parametrize("command", ROW_COMMANDS)
def test_table_never_prints_a_control_character(
    command: str, capsys: pytest.CaptureFixture[str], logs: Path
) -> None:
    args = {
        "events": ["events", str(logs), "-F", "user,process", "-f", "table"],
        "hunt": ["hunt", str(logs), "--detection", SEED, "--content", CONTENT],
        "search": ["search", SEARCH, str(logs), "-f", "table"],
        "drilldown": ["drilldown", SEED, str(logs), "--row", "2", "--content", CONTENT],
    }
    out, err = run(capsys, *args[command])
    assert "http 80 \\x1b[2J\\x1b]0;owned\\x07\\r\\x08\\x9b31m\\u202e" in out
    for line in (out + err).splitlines():
        assert line.isprintable(), repr(line)


def test_json_keeps_the_exact_value(capsys: pytest.CaptureFixture[str], logs: Path) -> None:
    out = run(capsys, "search", SEARCH, str(logs), "-f", "jsonl")[0]
    assert out.isascii()
    assert json.loads(out.splitlines()[1])["process"] == "/tmp/ngrok http 80 " + HOSTILE


def test_csv_safe(capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path) -> None:
    args = ["events", str(logs), "-F", "process_id,process,user", "-f", "csv"]
    exact = list(csv.reader(io.StringIO(run(capsys, *args)[0], newline="")))
    # Sysmon writes '"' as '&quot;' and the field keeps it, as Splunk's add-on extracts it.
    formula = "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)"
    assert [row for row in exact if row[0] == "3001"] == [["3001", formula, "carol"]]
    target = tmp_path / "safe.csv"
    run(capsys, *args, "--csv-safe", "-o", str(target))
    safe = list(csv.reader(io.StringIO(target.read_bytes().decode(), newline="")))
    assert [row for row in safe if row[0] == "3001"] == [["3001", "'" + formula, "carol"]]
    assert [row[0] for row in safe] == [row[0] for row in exact]  # numbers stay numbers
    assert safe[1:3] == exact[1:3]  # cells that are no formula are left as they are
