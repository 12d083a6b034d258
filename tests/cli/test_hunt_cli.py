"""``escudo hunt`` / ``escudo search`` end to end: every input shape against a plain-Python reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hunt_events import BY, SHAPES, reference_rows, write_shape

from escudo.cli import main

SEED = "Linux Ngrok Reverse Proxy Usage"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "content"
GOLDEN = FIXTURES / "hunt_ngrok_expected.jsonl"
COLUMNS = [*BY, "count", "firstTime", "lastTime"]


def _as_text(row: dict[str, object]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()}


def _jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_reference_matches_golden() -> None:
    """The hand-written reference and the golden file agree (the golden file is reviewed by hand)."""
    expected = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert reference_rows() == expected
    assert len(expected) == 5 and {r["count"] for r in expected} == {"1", "2"}


@pytest.mark.parametrize("shape", [*SHAPES, "gz", "dir"])
def test_seed_on_every_shape(
    tmp_path: Path, shape: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_shape(tmp_path, shape)
    rc = main(["hunt", str(path), "--detection", SEED, "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = _jsonl(out)
    assert all(r.pop("detection") == SEED for r in rows)
    assert [list(r) for r in rows] == [COLUMNS] * len(rows)  # output order: BY fields, then stats
    got = sorted((_as_text(r) for r in rows), key=lambda r: [r[f] for f in BY])
    assert got == reference_rows()
    assert "escudo: read " in err and "; 0 malformed" in err


def test_seed_from_stdin(tmp_path: Path) -> None:
    path = write_shape(tmp_path, "xml")
    proc = subprocess.run(
        [sys.executable, "-c", "from escudo.cli import run; run()", "hunt", "-", "--detection", SEED, "--format", "jsonl"],
        input=path.read_bytes(),
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [
        _as_text({k: v for k, v in r.items() if k != "detection"})
        for r in _jsonl(proc.stdout.decode())
    ]
    assert sorted(rows, key=lambda r: [r[f] for f in BY]) == reference_rows()
    assert "escudo: read " in proc.stderr.decode()


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    assert main(["hunt", str(path), "--detection", SEED, "--fail-on-findings"]) == 1
    quiet = tmp_path / "quiet.log"
    quiet.write_text(path.read_text().replace("ngrok", "nkorg").replace("NGROK", "NKORG"))
    assert main(["hunt", str(quiet), "--detection", SEED, "--fail-on-findings"]) == 0
    assert main(["hunt", str(tmp_path / "missing.log"), "--detection", SEED]) == 2
    assert main(["hunt", str(path), "--detection", "No Such Detection"]) == 2
    err = capsys.readouterr().err
    assert "escudo: error: no detection named or with id 'No Such Detection'" in err


def test_strict_on_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    lines = path.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]  # a truncated event
    path.write_text("\n".join(lines) + "\n")
    assert main(["hunt", str(path), "--detection", SEED]) == 0
    assert main(["hunt", str(path), "--detection", SEED, "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4" in err and "--strict" in err


def test_table_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    assert main(["hunt", str(path), "--detection", SEED]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"== {SEED} (5 results)\n")
    assert out.splitlines()[1].split() == COLUMNS
    assert main(["hunt", str(path), "--detection", SEED, "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0] == ",".join(["detection", *COLUMNS])
    assert len(csv_lines) == 6


def test_user_filter_macro_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tests/fixtures/content/user defines the seed's filter macro as search dest!="build-01"."""
    path = write_shape(tmp_path, "xml")
    user = tmp_path / "content"
    (user / "macros").mkdir(parents=True)
    (user / "macros" / "f.yml").write_text(
        'name: linux_ngrok_reverse_proxy_usage_filter\ndefinition: search dest!="db-02"\n'
    )
    assert (
        main(["hunt", str(path), "--detection", SEED, "--format", "jsonl", "--content", str(user)])
        == 0
    )
    rows = _jsonl(capsys.readouterr().out)
    assert {r["dest"] for r in rows} == {"web-01"}
    assert len(rows) == len([r for r in reference_rows() if r["dest"] != "db-02"])


def test_default_set_runs_every_builtin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    assert main(["hunt", str(path), "--content", str(FIXTURES / "user"), "--format", "jsonl"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    names = {r["detection"] for r in rows}
    # the user's filter macro drops build-01 only, so every seed row is still there
    assert len([r for r in rows if r["detection"] == SEED]) == len(reference_rows())
    assert "Linux Ngrok Any Use" in names  # a user detection joins the default set


def test_time_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    args = ["hunt", str(path), "--detection", SEED, "--format", "jsonl"]
    assert (
        main([*args, "--earliest", "2026-03-02T08:01:16", "--latest", "03/02/2026:09:00:00"]) == 0
    )
    rows = _jsonl(capsys.readouterr().out)
    assert [(r["process"], str(r["count"])) for r in rows] == [("/tmp/ngrok tcp 22", "1")]
    assert main([*args, "--earliest", "yesterday-ish"]) == 2
    assert "--earliest: invalid time modifier" in capsys.readouterr().err
    for far in ("-99999999d", "9999999999999"):  # well-formed, but no datetime can hold them
        assert main([*args, "--latest", far]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"escudo: error: --latest: time modifier '{far}' is out of range")


def test_search_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "journald")
    spl = (
        "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok "
        "by Processes.dest | `drop_dm_object_name(Processes)`"
    )
    assert main(["search", spl, str(path), "--format", "jsonl"]) == 0
    rows = _jsonl(capsys.readouterr().out)
    assert sorted((r["dest"], str(r["count"])) for r in rows) == [("db-02", "3"), ("web-01", "4")]
    assert (
        main(["search", "| tstats count from datamodel=Endpoint.Processes where (", str(path)]) == 2
    )
    assert "escudo: error:" in capsys.readouterr().err


def test_emit_risk_and_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_shape(tmp_path, "xml")
    args = ["hunt", str(path), "--detection", SEED, "--format", "jsonl"]
    assert main([*args, "--emit", "risk"]) == 0
    events = _jsonl(capsys.readouterr().out)
    # one risk event per risk object (user, dest) per result row, score 100*50/100
    assert len(events) == 2 * len(reference_rows())
    assert {(e["risk_object_type"], e["risk_score"]) for e in events} == {
        ("user", 50),
        ("system", 50),
    }
    store = tmp_path / "store.db"
    assert main([*args, "--emit", "findings", "--store", str(store)]) == 0
    findings = _jsonl(capsys.readouterr().out)
    assert store.exists() and findings
    assert {f["normalized_risk_object"] for f in findings} <= {"db-02", "root", "alice", "web-01"}


def test_hec_options_without_a_url_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--hec-index``/``--hec-token`` typed without ``--hec-url`` would send nothing: exit 2
    before reading anything; a token from the environment alone is a standing setting, not an error."""
    path = write_shape(tmp_path, "xml")
    rc = main(["hunt", str(path), "--detection", SEED, "--hec-index", "main", "--hec-token", "t"])
    _, err = capsys.readouterr()
    assert rc == 2
    assert "escudo: error: --hec-index, --hec-token without --hec-url: nothing would be sent" in err
    assert "escudo: read" not in err
    assert main(["hunt", str(path), "--detection", SEED, "--hec-url", " "]) == 2
    assert "escudo: error: --hec-url is empty" in capsys.readouterr().err
    monkeypatch.setenv("ESCUDO_HEC_TOKEN", "from-the-environment")
    rc = main(["hunt", str(path), "--detection", SEED, "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert len(_jsonl(out)) == len(reference_rows())
