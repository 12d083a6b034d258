"""``run_tests`` / ``load_attack_data`` over the bundled data: time shift, replay fields, errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc

from escudo.content.loader import load_content
from escudo.content.model import AttackData, DetectionTest
from escudo.detect.testing import (
    BUNDLED_ATTACK_DATA,
    compile_for_test,
    load_attack_data,
    run_tests,
)
from escudo.sources.base import ReadStats

CONTENT = load_content()
SEED = CONTENT.detections["Linux Ngrok Reverse Proxy Usage"]
LOG = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)


def times(data: AttackData) -> tuple[datetime, datetime, int]:
    compiled = compile_for_test(SEED, CONTENT)
    table = load_attack_data(compiled, data, LOG, now=NOW, stats=ReadStats())["Endpoint.Processes"]
    bounds = pc.min_max(table.column("_time"))
    return bounds["min"].as_py(), bounds["max"].as_py(), table.num_rows


def test_update_timestamp_moves_the_newest_event_to_now() -> None:
    low, high, rows = times(AttackData(LOG.name, sourcetype="sysmon:linux", update_timestamp=True))
    assert high == NOW
    orig_low, orig_high, orig_rows = times(AttackData(LOG.name, sourcetype="sysmon:linux"))
    assert orig_high.date().isoformat() == "2026-10-14"  # as authored
    # Without a shift the raw prefilter keeps only ngrok lines; with one the whole file is read
    # (its newest event decides the shift), so the window can only be wider.
    assert rows > orig_rows
    assert high - low >= orig_high - orig_low


def test_replay_sets_source_sourcetype_and_host() -> None:
    data = AttackData(
        LOG.name,
        source="Syslog:Linux-Sysmon/Operational",
        sourcetype="sysmon:linux",
        host="replay-host",
    )
    compiled = compile_for_test(SEED, CONTENT)
    table = load_attack_data(compiled, data, LOG, now=NOW, stats=ReadStats())["Endpoint.Processes"]
    assert set(table.column("source").to_pylist()) == {"Syslog:Linux-Sysmon/Operational"}
    assert set(table.column("sourcetype").to_pylist()) == {"sysmon:linux"}
    assert set(table.column("host").to_pylist()) == {"replay-host"}


def test_user_filter_macro_is_ignored() -> None:
    # A user's filter macro that drops everything must not change the test (contentctl: `search *`).
    content = load_content()
    name = SEED.filter_macro
    from escudo.content.model import Macro

    content.macros[name] = Macro(name=name, definition="search user=nobody")
    report = run_tests([SEED], content=content, now=NOW)
    assert [t.status for t in report.tests] == ["pass"] * 4
    assert [t.result_count for t in report.tests] == [9, 0, 18, 0]


def test_a_search_that_does_not_compile_is_an_error_per_test() -> None:
    broken = dataclasses.replace(
        SEED, search="| tstats count from datamodel=Endpoint.Processes where ("
    )
    report = run_tests([broken], content=CONTENT, now=NOW)
    assert [t.status for t in report.tests] == ["error"] * 4
    assert report.tests[0].exception is not None and report.tests[0].exception.startswith(
        "SplSyntaxError"
    )
    assert not report.success


def test_several_attack_data_files_are_read_together() -> None:
    log = str(LOG.relative_to(BUNDLED_ATTACK_DATA))  # plain paths are relative to the data folders
    benign = log.replace(".log", "-benign.log")
    test = DetectionTest(
        name="Both", attack_data=(AttackData(log, sourcetype="sysmon:linux"), AttackData(benign, sourcetype="sysmon:linux"))
    )  # fmt: skip
    report = run_tests([dataclasses.replace(SEED, tests=(test,))], content=CONTENT, now=NOW)
    (result,) = report.tests
    assert (result.status, result.result_count, len(result.attack_data)) == ("pass", 9, 2)


def test_a_search_with_a_content_lookup_runs_under_test(tmp_path: Path) -> None:
    """``escudo test`` compiles as ``escudo hunt`` does: the content's CSV lookups resolve."""
    (tmp_path / "lookups").mkdir()
    (tmp_path / "lookups" / "tunnel_tools.csv").write_text("process_name,category\nngrok,tunnel\n")
    content = load_content([tmp_path])
    search = SEED.search.replace(
        "| `linux_ngrok_reverse_proxy_usage_filter`",
        '| lookup tunnel_tools process_name OUTPUT category | where category="tunnel" '
        "| `linux_ngrok_reverse_proxy_usage_filter`",
    )
    assert search != SEED.search
    detection = dataclasses.replace(SEED, search=search)
    report = run_tests([detection], content=content)
    statuses = {t.name: t.status for d in report.detections for t in d.tests}
    assert statuses == {
        "True Positive Test": "pass",
        "Benign Near Misses": "pass",
        "True Positive Test (auditd)": "pass",
        "Benign Near Misses (auditd)": "pass",
    }
