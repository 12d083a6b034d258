"""The Linux audit source: records in every transport, their fields, raw events, problems.

``tests/fixtures/auditd/records.log`` is written by the project (not copied) to hold every shape of
``../shared/reference/samples/auditd_public.txt`` and the transports: bare, ENRICHED (0x1D),
``node=``, hex values, a long argument in pieces, audisp-syslog and RFC 5424 headers, a kern.log
line, both journald forms, ausearch output. ``records.jsonl`` is its golden parse (regenerate with
``ESCUDO_UPDATE_GOLDEN=1``, then review the diff).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from escudo.cli import main
from escudo.sources.auditd import (
    AuditdSource,
    Malformed,
    RawPlan,
    decode,
    parse_fields,
    parse_line,
)
from escudo.sources.base import RawEventSource, RawFilter, ReadStats, Source
from escudo.sources.reader import read_batches
from escudo.sources.registry import sniff_source

FIXTURES = Path(__file__).parents[1] / "fixtures" / "auditd"
RECORDS = FIXTURES / "records.log"
PUBLIC = Path(__file__).parents[2].parent / "shared" / "reference" / "samples"
PUBLIC = PUBLIC / "auditd_public.txt"


def parsed(path: Path) -> list[dict[str, Any]]:
    """Every record of a file: its line, header, fields as written, hex-capable values decoded."""
    out: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        record = parse_line(line)
        if record is None:
            continue
        fields = parse_fields(record.body)
        decoded = {k: decode(k, v) for k, v in fields.items() if decode(k, v) != v}
        out.append({
            "line": number, "host": record.host, "node": record.node, "type": record.type,
            "time": record.when, "serial": record.serial, "fields": fields, "decoded": decoded,
            "raw": record.text,
        })  # fmt: skip
    return out


def test_records_golden() -> None:
    got = parsed(RECORDS)
    golden = FIXTURES / "records.jsonl"
    if os.environ.get("ESCUDO_UPDATE_GOLDEN"):
        golden.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in got))
    expected = [json.loads(x) for x in golden.read_text().splitlines()]
    assert got == expected


def test_transports_give_host_and_record() -> None:
    by_line = {r["line"]: r for r in parsed(RECORDS)}
    assert by_line[14]["host"] == "web-02" and by_line[14]["raw"].startswith("node=web-02 type=CWD")
    assert by_line[15]["host"] == "web-03"
    assert (by_line[16]["host"], by_line[16]["type"]) == ("web-04", "1300")
    assert by_line[17]["host"] == "web-05"
    rebuilt = by_line[18]
    assert (rebuilt["host"], rebuilt["type"], rebuilt["serial"]) == ("web-06", "PATH", "95")
    assert rebuilt["time"] == "2026-10-14T09:55:09.123000Z"
    assert by_line[21]["time"] == "2026-10-14T09:55:10.500000Z"  # ausearch -i: read as UTC
    assert 19 not in by_line and 20 not in by_line and 22 not in by_line


def test_enriched_and_hex_values() -> None:
    first = parsed(RECORDS)[0]
    assert first["fields"]["UID"] == "root" and first["fields"]["uid"] == "0"
    assert first["fields"]["SYSCALL"] == "execve"
    assert decode("exe", "2F746D702F612062") == "/tmp/a b"
    assert decode("a0", '"2F"') == "2F"  # quoted: as written
    assert decode("a0", "top") == "top"  # a bare word of an old kernel
    assert decode("arch", "C000003E") == "C000003E"  # not a field the kernel hex-encodes


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("type=SYSCALL msg=audit(1791971700.1", "no whole header"),
        ('type=CWD msg=audit(1.000:2): cwd="/ro', "quoted value is not closed"),
        ('type=USER_CMD msg=audit(1.000:2): pid=1 msg=\'cwd="/" cmd=6C', "msg='...'"),
        ("type=PROCTITLE msg=audit(1.000:2): proctitle=6C7", "odd length"),
    ],
)
def test_cut_records_are_malformed(line: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_line(line)


def test_source_protocols() -> None:
    source = AuditdSource()
    assert isinstance(source, Source) and isinstance(source, RawEventSource)
    assert source.source == "/var/log/audit/audit.log" and source.name == "linux:audit"


def test_sniffed_from_content() -> None:
    head = RECORDS.read_bytes()
    assert sniff_source(head) is not None and sniff_source(head).name == "linux:audit"  # type: ignore[union-attr]
    syslog = b'Oct 14 09:55:05 web-02 audisp-syslog: type=CWD msg=audit(1.000:2): cwd="/"\n'
    assert sniff_source(syslog).name == "linux:audit"  # type: ignore[union-attr]
    sysmon = b"<Event><System><EventID>1</EventID></System></Event>\n"
    assert sniff_source(sysmon).name == "sysmon:linux"  # type: ignore[union-attr]


def test_raw_plan_one_event_per_record() -> None:
    batch, stats = RawPlan(None)(RECORDS.read_bytes(), "records.log")
    rows = batch.to_pylist()
    golden = parsed(RECORDS)
    assert [r["_raw"] for r in rows] == [g["raw"] for g in golden]
    assert [r["_time"] for r in rows] == [g["time"] for g in golden]
    assert stats.events == len(golden) and stats.skipped == 3 and stats.malformed == 0
    assert "\x1d" in rows[0]["_raw"]  # ENRICHED kept as indexed
    assert "proctitle=62617368002D63" in rows[5]["_raw"]  # hex stays hex
    assert rows[13]["host"] == "web-02" and rows[7]["host"] == "db-01"  # transport, else node=
    assert not rows[13]["_raw"].startswith("Oct")  # the syslog header is not part of _raw


def test_raw_plan_filter() -> None:
    batch, stats = RawPlan(RawFilter((("CHARON",),)))(RECORDS.read_bytes(), "r")
    assert [r["_raw"].split()[1] for r in batch.to_pylist()] == ["type=SYSCALL", "type=PROCTITLE"]
    assert stats.filtered == len(parsed(RECORDS)) - 2


def test_malformed_reported_with_path_and_line(tmp_path: Path) -> None:
    data = RECORDS.read_bytes() + b'type=CWD msg=audit(1.000:2): cwd="/ro\n'
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(data))
    stats = ReadStats()
    rows = [b for b in read_batches([path], RawPlan(None), stats=stats)]
    assert sum(b.num_rows for b in rows) == len(parsed(RECORDS))
    assert stats.malformed == 1
    assert str(stats.problems[0]) == f"{path}:23: record cut short: a quoted value is not closed"


def test_cli_reads_audit_log_malformed_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(RECORDS.read_bytes() + b"type=SYSCALL msg=audit(17919\n")
    assert (
        main(["events", str(path), "--datamodel", "Endpoint.Processes", "--format", "jsonl"]) == 0
    )
    out, err = capsys.readouterr()
    assert "1 malformed" in err and f"{path}:23: audit record with no whole header" in err
    assert '"process": "bash -c echo \\"hi there\\" "' in out


@pytest.mark.skipif(not PUBLIC.exists(), reason="reference samples not available")
def test_every_public_line_parses() -> None:
    lines = PUBLIC.read_text(encoding="utf-8").split("\n")
    records = [n for n, x in enumerate(lines, 1) if parse_line(x) is not None]
    expected = [n for n, x in enumerate(lines, 1) if "audit(" in x and not x.startswith(("#", "{"))]
    assert records == expected and len(records) == 26
    stats = ReadStats()
    list(read_batches([PUBLIC], RawPlan(None), stats=stats))
    assert stats.malformed == 0 and stats.events == 26


def test_stdin_gzip_and_directory_give_the_same_events(tmp_path: Path) -> None:
    """An audit log piped to stdin (gzip or not; sniffed from its first write, or named with
    ``--sourcetype linux:audit``), and the same log gzipped in a directory (sniffed), give the
    same process rows."""
    import subprocess
    import sys

    data = (FIXTURES.parents[2] / "src/escudo/data/attack_data/datasets/attack_techniques/T1572"
            / "ngrok/ngrok_linux-auditd-syslog.log").read_bytes()  # fmt: skip
    folder = tmp_path / "logs" / "audit"
    folder.mkdir(parents=True)
    (folder / "audit.log.1").write_bytes(gzip.compress(data))
    command = [sys.executable, "-c", "from escudo.cli import run; run()", "events"]
    wanted = ["-d", "Endpoint.Processes", "-F", "dest,process,parent_process_name"]
    outs = []
    for stdin, args in (
        (data, ["-", "--sourcetype", "linux:audit"]),
        (gzip.compress(data), ["-", "--sourcetype", "linux:audit"]),
        (b"", [str(tmp_path / "logs")]),
        (data, ["-"]),
        (gzip.compress(data), ["-"]),
    ):
        done = subprocess.run(
            command + args + wanted, input=stdin, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        outs.append(sorted(done.stdout.splitlines()))
    assert all(out == outs[0] for out in outs) and len(outs[0]) == 67
