"""Operating ``escudo watch``: the config file, the systemd unit, SIGHUP, ``escudo status``."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from watch_helpers import (
    ESCUDO,
    HANG_GUARD,
    NGROK,
    append,
    committed,
    log_part,
    read_jsonl,
    started,
    wait_for,
)

from escudo.cli import main
from escudo.errors import InputError
from escudo.watch.config import parse_config

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "packaging" / "escudo-watch.service"


def readme_config() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```toml\n(.*?)```", text, re.S)
    assert match, "README has no TOML example"
    return match.group(1)


def reloads(state: Path) -> int:
    try:
        return int(json.loads((state / "status.json").read_text()).get("reloads", 0))
    except (FileNotFoundError, ValueError):
        return 0


def test_the_readme_example_config_is_valid() -> None:
    config = parse_config(readme_config(), "README.md")
    assert config.inputs and config.outputs and config.state is not None


def test_config_errors_name_the_key_and_the_file() -> None:
    with pytest.raises(InputError, match=r"watch.toml: unknown key 'intervall'"):
        parse_config("intervall = 3\n", "watch.toml")
    with pytest.raises(InputError, match=r"watch.toml: interval: expected float"):
        parse_config('interval = "soon"\n', "watch.toml")
    with pytest.raises(InputError, match="a webhook output needs url"):
        parse_config('[[outputs]]\ntype = "webhook"\n', "watch.toml")


def test_schedule_needs_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["watch", str(tmp_path / "x.log"), "--schedule", "--state", str(tmp_path)])
    assert code == 2
    assert "escudo: error: --schedule runs detections over the store" in capsys.readouterr().err


def test_status_before_any_run_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--state", str(tmp_path)]) == 2
    assert "no status yet" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    # ExecStart must name an executable that exists here: the test's escudo.
    escudo = Path(sys.executable).parent / "escudo"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/escudo", str(escudo)))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert "ExecReload=/bin/kill -HUP $MAINPID" in UNIT.read_text()


def test_sighup_reloads_content_and_status_reports(tmp_path: Path) -> None:
    log, state, out = tmp_path / "app.log", tmp_path / "state", tmp_path / "alerts.jsonl"
    content = tmp_path / "content"
    (content / "macros").mkdir(parents=True)
    log.write_bytes(log_part(0))
    cmd = [
        *ESCUDO, "watch", str(log), "--detection", NGROK, "--state", str(state),
        "--output", str(out), "--interval", "0.2", "--content", str(content),
    ]  # fmt: skip
    proc = started(cmd)
    try:
        wait_for(lambda: committed(state) >= 1, "the first batch")
        (content / "macros" / "f.yml").write_text(
            'name: linux_ngrok_reverse_proxy_usage_filter\ndefinition: search dest!="web-1"\n'
        )
        proc.send_signal(signal.SIGHUP)
        status = subprocess.run(
            [*ESCUDO, "status", "--state", str(state)], capture_output=True, text=True
        )
        wait_for(lambda: reloads(state) >= 1, "the reload")
        append(log, log_part(1))  # web-1 only: filtered out after the reload
        append(log, log_part(2))
        wait_for(lambda: committed(state) >= 2, "the second batch")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = read_jsonl(out)
    assert {r["dest"] for r in rows} == {"web-0", "web-2"}
    assert status.returncode == 0
    assert re.search(r"^last batch: 1 ", status.stdout, re.M)
    assert "errors: 0" in status.stdout


def test_config_file_runs_inputs_and_outputs_and_emits_risk(tmp_path: Path) -> None:
    log, state, out = tmp_path / "app.log", tmp_path / "state", tmp_path / "risk.jsonl"
    log.write_bytes(log_part(0))
    config = tmp_path / "watch.toml"
    config.write_text(
        f'state = "{state}"\ninterval = 0.2\ndetections = ["{NGROK}"]\n'
        f'[[inputs]]\npath = "{log}"\n'
        f'[[outputs]]\ntype = "file"\npath = "{out}"\nemit = "risk"\n'
    )
    proc = started([*ESCUDO, "watch", "--config", str(config)])
    try:
        wait_for(lambda: committed(state) >= 1, "the first batch")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    risk = read_jsonl(out)
    assert risk and {r["search_name"] for r in risk} == {f"ESCU - {NGROK} - Rule"}
    assert {r["risk_object_type"] for r in risk} == {"user", "system"}


def test_watching_stdin_ends_when_stdin_does(tmp_path: Path) -> None:
    done = subprocess.run(
        [*ESCUDO, "watch", "-", "--detection", NGROK, "--interval", "0.2", "--state",
         str(tmp_path / "state")],
        input=log_part(0),
        capture_output=True,
        timeout=HANG_GUARD,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 4 and {r["dest"] for r in rows} == {"web-0"}
