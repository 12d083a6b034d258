"""Never a traceback (issue 9, point 4): every command ends with its output or with one line
``escudo: error: ...`` and exit 2, whatever its arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from escudo.cli import main

SEED = "Linux Ngrok Reverse Proxy Usage"
SAMPLE = str(Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log")
HEAD = "| tstats count from datamodel=Endpoint.Processes by Processes.process_name | rename Processes.* AS * "


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The last stderr line, checked to be the one error line (no traceback anywhere)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith("escudo: error: ") or err.count("escudo: error: ") == 1
    return err[err.index("escudo: error: ") :].splitlines()[0]


# A name that cannot be a file (ENAMETOOLONG past 255 bytes, and past PATH_MAX at 4096).
@pytest.mark.parametrize("size", [300, 5000])
@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "{long}"],
        ["test", "{long}"],
        ["drilldown", "{long}"],
        ["validate", "{long}"],
        ["hunt", SAMPLE, "--detection", "{long}"],
        ["hunt", "{long}"],
        ["search", HEAD, "{long}"],
        ["events", "{long}"],
        ["events", SAMPLE, "--output", "{long}"],
    ],
    ids=lambda argv: "-".join(
        a for a in argv if a.startswith(("-", "e", "t", "d", "v", "h", "s", "n"))
    ),
)
def test_a_long_name_or_file_argument_is_one_error_line(
    argv: list[str], size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "a" * size
    assert main([a.replace("{long}", long) for a in argv]) == 2
    line = _error_line(capsys)
    assert len(line) < 700  # the argument is cut, not echoed whole
    assert "aaaa" in line


@pytest.mark.parametrize("size", [300, 5000])
def test_explain_compiles_a_long_search(size: int, capsys: pytest.CaptureFixture[str]) -> None:
    """A real search longer than a file name may be (an ESCU search given to explain)."""
    pad = "a" * size
    spl = f"| tstats count from datamodel=Endpoint.Processes where Processes.process_name={pad}"
    assert main(["explain", spl, "--sql"]) == 0
    assert pad in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["events", SAMPLE, "--output", "{missing}/rows.jsonl"], "--output"),
        (["events", SAMPLE, "-f", "parquet", "-o", "{missing}/rows.parquet"], "--output"),
        (["navigator", "--output", "{missing}/layer.json"], "--output"),
        (["test", SEED, "--junit", "{missing}/junit.xml"], "--junit"),
    ],
)
def test_output_into_a_missing_folder_fails_before_the_work(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such"
    assert main([a.replace("{missing}", str(missing)) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing was run or printed before the error
    assert err == f"escudo: error: {option}: folder not found: {missing}\n"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://splunk:99999", "Port out of range 0-65535"),
        ("https://splunk:http", "Port could not be cast to integer value as 'http'"),
        ("https://[::1:8088", "Invalid IPv6 URL"),
    ],
)
def test_a_hec_url_with_a_bad_port_is_one_error_line(
    url: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["hunt", SAMPLE, "--detection", SEED, "--hec-url", url, "--hec-token", "t"]
    assert main([*argv, "--hec-spool", str(tmp_path)]) == 2
    assert _error_line(capsys) == f"escudo: error: --hec-url {url!r}: {reason}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hunt", "--bogus"], "No such option '--bogus' (see 'escudo hunt --help')"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["events", SAMPLE, "-f", "xml"], "Invalid value for '--format' / '-f'"),
        (["drilldown"], "Missing argument 'DETECTION'"),
    ],
)
def test_click_usage_errors_use_the_same_prefix(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"escudo: error: {message}") and err.count("\n") == 1
    assert "Error:" not in err and "Usage:" not in err


@pytest.mark.parametrize("depth", [150, 10_000])
@pytest.mark.parametrize("command", ["eval x=", "where "])
def test_deeply_nested_search_is_a_located_error(
    command: str, depth: int, capsys: pytest.CaptureFixture[str]
) -> None:
    spl = HEAD + "| " + command + "(" * depth + "count" + ")" * depth
    assert main(["explain", spl]) == 2
    err = capsys.readouterr().err
    first, excerpt, caret = err.rstrip("\n").split("\n")
    assert first.startswith("escudo: error: expression nested deeper than 64 levels at line 1")
    assert len(excerpt) < 200 and caret.strip() == "^"


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("something escudo did not expect")


def test_an_unexpected_exception_is_one_internal_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bug stands in for any bug: the command's work raises what nothing handles.
    monkeypatch.setattr("escudo.cli.explain.pick_target", _boom)
    monkeypatch.delenv("ESCUDO_DEBUG", raising=False)
    assert main(["explain", SEED]) == 2
    assert capsys.readouterr().err == (
        "escudo: error: internal error: RuntimeError: something escudo did not expect "
        "(run with --debug or ESCUDO_DEBUG=1 for the traceback)\n"
    )


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_shows_the_traceback(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("escudo.cli.explain.pick_target", _boom)
    if how == "environment":
        monkeypatch.setenv("ESCUDO_DEBUG", "1")
        argv = ["explain", SEED]
    else:
        monkeypatch.delenv("ESCUDO_DEBUG", raising=False)
        argv = ["--debug", "explain", SEED]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert 'in _boom\n    raise RuntimeError("something escudo did not expect")' in err
    assert err.rstrip("\n").splitlines()[-1].startswith("escudo: error: internal error: ")
