"""Audit events: records assembled across chunks, decoded values, parents, CIM rows."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from auditd_lines import Exec, exec_records, interleave, tree

from escudo.datamodels.normalize import read_dataset, read_datasets
from escudo.sources.auditd import EVENT_FIELDS
from escudo.sources.auditd_events import EventPlan, assemble
from escudo.sources.base import ReadStats
from escudo.sources.reader import read_batches

FIXTURES = Path(__file__).parents[1] / "fixtures" / "auditd"
FIELDS = tuple(f for f in EVENT_FIELDS)


def _write(tmp_path: Path, lines: list[str], name: str = "audit.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _events(
    path: Path, chunk_bytes: int, edge_lines: int, workers: int = 1
) -> list[dict[str, Any]]:
    stats = ReadStats()
    plan = EventPlan(FIELDS, None, None, edge_lines)
    batches = read_batches([path], plan, stats=stats, workers=workers, chunk_bytes=chunk_bytes)
    assembled = assemble(batches, FIELDS, None, None, stats, edge_lines)
    rows = [r for b in assembled for r in b.to_pylist()]
    assert stats.malformed == 0
    assert stats.events == len(rows)
    return sorted(rows, key=lambda r: int(r["serial"]))


def _gap(lines: list[str]) -> int:
    """The most lines between two records of one event."""
    seen: dict[str, int] = {}
    gap = 0
    for number, line in enumerate(lines):
        key = line[line.index("audit(") :].split(")")[0]
        gap = max(gap, number - seen.get(key, number))
        seen[key] = number
    return gap


def _expected(events: list[Exec]) -> list[tuple[str, ...]]:
    """Each exec's fields as the test writes them, its parent the latest exec of its ppid."""
    last: dict[int, str] = {}
    out: list[tuple[str, ...]] = []
    for e in sorted(events, key=lambda e: e.serial):
        parent = last.get(e.ppid)
        out.append((str(e.serial), str(e.pid), e.exe, " ".join(e.argv), e.cwd, parent or ""))
        last[e.pid] = e.exe
    return out


def _got(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (r["serial"], r["pid"], r["exe"], r["command_line"], r["cwd"], r["parent_exe"] or "")
        for r in rows
    ]


def test_events_assembled_whatever_the_chunks(tmp_path: Path) -> None:
    events = tree(120, node="web-02")
    lines = interleave([exec_records(e) for e in events], random.Random(3))
    path = _write(tmp_path, lines)
    assert _gap(lines) < 30  # how far apart one event's records are
    whole = _events(path, 1 << 24, 512)
    assert _got(whole) == _expected(events)
    for chunk_bytes in (700, 3000, 20000, 50000):
        assert _events(path, chunk_bytes, 30) == whole, chunk_bytes
    # the same records after a syslog header: the per-line path, not the whole-chunk pattern
    forwarded = [f"Oct 14 09:55:00 web-02 audisp-syslog: {x.removeprefix('node=web-02 ')}"
                 for x in lines]  # fmt: skip
    other = _write(tmp_path, forwarded, "forwarded.log")
    for chunk_bytes in (3000, 50000):
        assert _got(_events(other, chunk_bytes, 30)) == _got(whole)


def test_events_assembled_by_worker_processes(tmp_path: Path) -> None:
    events = tree(60)
    lines = interleave([exec_records(e) for e in events], random.Random(5))
    path = _write(tmp_path, lines)
    assert _events(path, 4000, 30, workers=2) == _events(path, 1 << 24, 512)


def test_long_argument_pieces_and_hex() -> None:
    e = Exec(9, 1791971700.5, 7, 1, "/usr/bin/a b", ["a b", "x" * 20000, 'say "hi"'])
    path_lines = exec_records(e, piece=7000)
    assert any("a1[2]=" in x for x in path_lines)
    rows = _rows_of(path_lines, "Endpoint.Processes")
    assert rows[0]["process"] == " ".join(e.argv)
    assert (rows[0]["process_path"], rows[0]["process_name"]) == ("/usr/bin/a b", "a b")


def _rows_of(lines: list[str], dataset: str, tmp: Path | None = None) -> list[dict[str, Any]]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [r for b in read_dataset([path], dataset) for r in b.to_pylist()]


def test_cim_processes_from_fixture() -> None:
    rows = {r["process_id"]: r for b in read_dataset([FIXTURES / "records.log"],
            "Endpoint.Processes") for r in b.to_pylist()}  # fmt: skip
    bash = rows["2230"]
    assert bash["process"] == 'bash -c echo "hi there" '
    assert (bash["user"], bash["user_id"], bash["process_current_directory"]) == (
        "root",
        "0",
        "/root",
    )
    assert (bash["process_name"], bash["process_path"]) == ("bash", "/usr/bin/bash")
    assert (bash["parent_process_id"], bash["parent_process_name"]) == ("2201", "unknown")
    assert (bash["action"], bash["os"], bash["vendor_product"]) == (
        "allowed",
        "Linux",
        "linux:audit",
    )
    kernel = rows["2"]  # a kern.log SYSCALL line alone: an exec with no EXECVE record
    assert (kernel["dest"], kernel["process_name"], kernel["user"]) == ("web-04", "ls", "0")
    # the EXECVE records of serial 90 alone (no SYSCALL): an exec all the same, its name from
    # the command line (CIM's process_name calculation)
    awk = rows[None]
    assert (awk["process"], awk["process_name"]) == ("awk -v x=12345 top", "awk")
    assert set(rows) == {"2230", "2", None}


def test_parent_from_its_own_exec_else_unknown() -> None:
    shell = Exec(1, 1791971700.0, 10, 1, "/usr/bin/dash", ["sh"], node="h")
    child = Exec(2, 1791971700.1, 11, 10, "/tmp/ngrok", ["./ngrok", "tcp", "22"], node="h")
    other_host = Exec(3, 1791971700.2, 12, 10, "/tmp/ngrok", ["ngrok"], node="g")
    again = Exec(4, 1791971700.3, 10, 1, "/usr/bin/python3", ["python3"], node="h")  # pid reuse
    late = Exec(5, 1791971700.4, 13, 10, "/usr/bin/id", ["id"], node="h")
    lines = [x for e in (shell, child, other_host, again, late) for x in exec_records(e)]
    rows = {r["process_id"]: r for r in _rows_of(lines, "Endpoint.Processes")}
    assert rows["11"]["parent_process_name"] == "dash"
    assert rows["11"]["parent_process_path"] == "/usr/bin/dash"
    assert rows["12"]["parent_process_name"] == "unknown"  # pid 10 of another host
    assert rows["13"]["parent_process_name"] == "python3"


def test_filesystem_create_and_delete() -> None:
    stamp = "msg=audit(1791971700.000:50):"
    lines = [
        f"type=SYSCALL {stamp} arch=c000003e syscall=257 success=yes exit=3 items=2 ppid=1 "
        'pid=40 uid=33 comm="curl" exe="/usr/bin/curl" key=(null)',
        f'type=CWD {stamp} cwd="/var/www/html"',
        f'type=PATH {stamp} item=0 name="/var/www/html" nametype=PARENT',
        f"type=PATH {stamp} item=1 name=6E67726F6B2E74677A nametype=CREATE",
        "type=SYSCALL msg=audit(1791971701.000:51): arch=c000003e syscall=87 success=yes "
        'exit=0 items=2 ppid=1 pid=41 uid=0 comm="rm" exe="/usr/bin/rm" key=(null)',
        'type=PATH msg=audit(1791971701.000:51): item=1 name="/tmp/x" nametype=DELETE',
        "type=SYSCALL msg=audit(1791971702.000:52): arch=c000003e syscall=87 success=no "
        'exit=-2 items=1 ppid=1 pid=42 uid=0 comm="rm" exe="/usr/bin/rm" key=(null)',
        'type=PATH msg=audit(1791971702.000:52): item=0 name="/tmp/y" nametype=DELETE',
    ]
    rows = _rows_of(lines, "Endpoint.Filesystem")
    got = [(r["action"], r["file_path"], r["file_name"], r["process_name"]) for r in rows]
    assert got == [
        ("created", "/var/www/html/ngrok.tgz", "ngrok.tgz", "curl"),
        ("deleted", "/tmp/x", "x", "rm"),
    ]


def test_one_pass_feeds_both_datasets(tmp_path: Path) -> None:
    path = FIXTURES / "records.log"
    stats = ReadStats()
    got: dict[str, int] = {}
    for dataset, batch in read_datasets([path], {"Endpoint.Processes": [()],
                                                 "Endpoint.Filesystem": [()]}, stats=stats):  # fmt: skip
        got[dataset] = got.get(dataset, 0) + batch.num_rows
    assert got == {"Endpoint.Processes": 3, "Endpoint.Filesystem": 1}


@pytest.mark.parametrize(
    "literal", ["ngrok", "NGROK", "my files", "8080", "srv/my", "Print(", "in-no-event"]
)
def test_raw_filter_changes_no_row(tmp_path: Path, literal: str) -> None:
    """A read with the compiler's requirements keeps every row the unfiltered read has that
    meets them, parents included (they come from events the filter drops)."""
    events = tree(80)
    path = _write(tmp_path, interleave([exec_records(e) for e in events], random.Random(9)))
    need = ((("process", literal),),)
    every = [r for b in read_dataset([path], "Endpoint.Processes") for r in b.to_pylist()]
    stats = ReadStats()
    kept = [
        r
        for b in read_dataset([path], "Endpoint.Processes", requirements=need, stats=stats)
        for r in b.to_pylist()
    ]
    wanted = [r for r in every if literal.lower() in r["process"].lower()]
    assert [r for r in kept if literal.lower() in r["process"].lower()] == wanted
    assert stats.filtered > 0 and len(kept) < len(every)


@pytest.mark.parametrize("literal", ["ngrok", "srv/my", "rg/a", "PRINT(", "my files", "yyyy"])
def test_raw_filter_in_chunks_changes_no_row(tmp_path: Path, literal: str) -> None:
    """The same with events built inside chunks (the whole-chunk path and its candidates: lines
    holding a needle, or a hex value or argument pieces the needle may hide in)."""
    from escudo.sources.auditd import AuditdSource

    events = tree(300)
    path = _write(tmp_path, interleave([exec_records(e) for e in events], random.Random(4)))
    raw_filter = AuditdSource().needles("Endpoint.Processes", ((("process", literal),),))
    assert raw_filter.clauses == ((literal,),)
    every = _events(path, 30000, 20)
    stats = ReadStats()
    plan = EventPlan(FIELDS, None, raw_filter, 20)
    batches = read_batches([path], plan, stats=stats, chunk_bytes=30000)
    kept = [
        r for b in assemble(batches, FIELDS, None, raw_filter, stats, 20) for r in b.to_pylist()
    ]

    def matching(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((r for r in rows if literal.lower() in (r["command_line"] or "").lower()),
                      key=lambda r: int(r["serial"]))  # fmt: skip

    assert matching(kept) == matching(every) != []
    assert stats.filtered > 0


def test_hunt_read_takes_the_workers_started_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``start_reading`` starts worker processes ahead of an audit log's read, and the read takes
    them (it started a pool of its own, and the one started ahead idled until stopped)."""
    from escudo.datamodels.normalize import start_reading
    from escudo.sources import reader

    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 1)  # a pool for the small fixture
    monkeypatch.setattr(reader.os, "cpu_count", lambda: 2)
    needs: dict[str, list[Any]] = {"Endpoint.Processes": [()]}
    path = FIXTURES / "records.log"
    try:
        start_reading([path], needs)
        assert len(reader._EARLY) == 1
        rows = sum(b.num_rows for _, b in read_datasets([path], needs))
        assert not reader._EARLY
    finally:
        for preload in list(reader._EARLY):
            reader._early_pool(preload, 0)
    assert rows == 3
