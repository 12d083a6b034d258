"""``escudo explain``: expanded SPL, compiled SQL, located errors with a caret."""

from __future__ import annotations

from pathlib import Path

import pytest

from escudo.cli import main
from escudo.content.loader import BUILTIN_DIR

SEED = "Linux Ngrok Reverse Proxy Usage"
SEED_FILE = BUILTIN_DIR / "detections" / "endpoint" / "linux_ngrok_reverse_proxy_usage.yml"
CORPUS = Path(__file__).parents[3] / "shared" / "reference" / "escu"


@pytest.mark.parametrize("ref", [SEED, "bc84d574-708c-467d-b78a-4c1e20171f97", str(SEED_FILE)])
def test_explain_detection(ref: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", ref]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"-- {SEED} (")
    spl = out.split("-- SPL (macros expanded)\n", 1)[1]
    assert "`" not in spl  # every macro expanded
    assert "summariesonly=false allow_old_summaries=true fillnull_value=null" in spl
    assert "rename Processes.* AS *" in spl
    assert 'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(firstTime)' in spl
    assert spl.rstrip().endswith("search *")  # the default filter macro
    assert "-- SQL" not in out


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_explain_sql(dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", SEED, "--sql", "--dialect", dialect]) == 0
    out = capsys.readouterr().out
    sql = out.split(f"-- SQL ({dialect})\n", 1)[1]
    assert "SELECT" in sql.upper() and "dm_endpoint_processes" in sql
    assert "\n" in sql.strip()  # pretty-printed


def test_explain_user_filter_macro(capsys: pytest.CaptureFixture[str]) -> None:
    user = Path(__file__).parents[1] / "fixtures" / "content" / "user"
    assert main(["explain", SEED, "--content", str(user)]) == 0
    assert 'search dest!="build-01"' in capsys.readouterr().out


def test_explain_adhoc_spl(capsys: pytest.CaptureFixture[str]) -> None:
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.dest | `drop_dm_object_name(Processes)`"
    assert main(["explain", spl, "--sql"]) == 0
    out = capsys.readouterr().out
    assert "rename Processes.* AS *" in out and "-- SQL (duckdb)" in out


def test_explain_syntax_error_has_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad_detection.yml"
    text = SEED_FILE.read_text().replace(
        "where Processes.process_name=ngrok", "where (Processes.process_name=ngrok"
    )
    bad.write_text(text.replace("Linux Ngrok Reverse Proxy Usage", "Bad Detection"))
    assert main(["explain", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("escudo: error: ")
    assert str(bad) in err
    assert "line 1, column" in err
    caret_line = [line for line in err.splitlines() if line.strip() and set(line.strip()) == {"^"}]
    assert caret_line, err


def test_explain_unsupported_command(capsys: pytest.CaptureFixture[str]) -> None:
    spl = "| tstats count from datamodel=Endpoint.Processes | frobnicate x"
    assert main(["explain", spl]) == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err
    lines = err.splitlines()
    caret = next(line for line in lines if line.strip().startswith("^"))
    source = lines[lines.index(caret) - 1]
    assert source[caret.index("^") :].startswith("frobnicate")


def test_explain_mistyped_name_is_not_taken_for_a_search(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "Linux Ngrok Reverse Proxy Usag"]) == 2
    err = capsys.readouterr().err
    assert "no detection named or with id 'Linux Ngrok Reverse Proxy Usag'" in err
    assert f"did you mean {SEED!r}" in err
    # Text that looks like SPL is still compiled, and its error located.
    assert main(["explain", "index=main ngrok | table a*"]) == 2
    assert "wildcard field name 'a*' over raw events" in capsys.readouterr().err


def test_explain_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "no/such/detection.yml"]) == 2
    assert "detection file not found: no/such/detection.yml" in capsys.readouterr().err


@pytest.mark.skipif(not CORPUS.is_dir(), reason="reference corpus not available (not in CI)")
def test_explain_every_sysmon_for_linux_detection(capsys: pytest.CaptureFixture[str]) -> None:
    from escudo.content.loader import load_detection

    failures = []
    files = sorted((CORPUS / "detections").rglob("*.yml"))
    sysmon = [p for p in files if "Sysmon for Linux" in " ".join(load_detection(p).data_source)]
    assert len(sysmon) == 94
    for path in sysmon:
        if main(["explain", str(path), "--content", str(CORPUS), "--sql"]) != 0:
            failures.append(f"{path.name}: {capsys.readouterr().err.splitlines()[0]}")
        capsys.readouterr()
    assert not failures, "\n".join(failures)
