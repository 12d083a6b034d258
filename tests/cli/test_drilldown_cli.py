"""End to end through the CLI: hunt --emit/--store, then both seed drilldowns from that store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from seed import sysmon_line

from escudo.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "risk"

SEED = "Linux Ngrok Reverse Proxy Usage"
CONTENT = str(FIXTURES / "rba")  # the seed with rba: and the template's double space
RISK_DRILLDOWN = 'View risk events for the last 7 days for - "{user}" and "{dest}"'
RESULTS_DRILLDOWN = 'View the detection results for - "{user}" and "{dest}"'


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three ngrok starts on web-02 within 24 h (alice twice, bob once), one on db-01, and noise."""
    events = [
        (
            "web-02",
            "2024-05-01T10:00:00",
            2001,
            "alice",
            "/tmp/ngrok",
            "/tmp/ngrok tcp 22",
            "/usr/bin/bash",
        ),
        (
            "web-02",
            "2024-05-01T14:00:00",
            2002,
            "alice",
            "/tmp/ngrok",
            "/tmp/ngrok http 80",
            "/usr/bin/bash",
        ),
        (
            "web-02",
            "2024-05-02T08:00:00",
            2003,
            "bob",
            "/usr/local/bin/ngrok",
            "ngrok start --all",
            "/usr/bin/sh",
        ),
        (
            "db-01",
            "2024-05-01T11:00:00",
            3001,
            "carol",
            "/tmp/ngrok",
            "/tmp/ngrok tcp 5432",
            "/usr/bin/bash",
        ),
        ("web-02", "2024-05-01T10:05:00", 2004, "alice", "/usr/bin/ls", "ls -la", "/usr/bin/bash"),
    ]
    lines = [
        sysmon_line(
            host=h, when=w, pid=p, user=u, image=i, command_line=c, parent_image=pi, record=n
        )
        for n, (h, w, p, u, i, c, pi) in enumerate(events, start=1)
    ]
    path = tmp_path_factory.mktemp("logs") / "sysmon.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def hunt(capsys: pytest.CaptureFixture[str], logs: Path, store: Path, emit: str) -> list[dict]:
    argv = [
        "hunt", str(logs), "--content", CONTENT, "--detection", SEED,
        "--emit", emit, "--format", "jsonl", "--store", str(store),
    ]  # fmt: skip
    code, rows, err = run(capsys, *argv)
    assert code == 0, err
    return rows


def test_hunt_prints_two_risk_events_per_result(
    capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path
) -> None:
    events = hunt(capsys, logs, tmp_path / "s-store", "risk")
    assert len(events) == 8  # four results, user and host each
    first = next(e for e in events if e["process"] == "/tmp/ngrok tcp 22")
    assert first["risk_message"] == (
        "A reverse proxy was identified spawning from bash -  ngrok on endpoint web-02 by user alice."
    )
    pair = [
        (e["risk_object"], e["risk_object_type"], e["risk_score"])
        for e in events
        if e["process"] == first["process"]
    ]
    assert pair == [("alice", "user", 50), ("web-02", "system", 50)]
    assert first["threat_object"] == ["bash", "ngrok"]
    assert first["annotations.mitre_attack.mitre_tactic"] == ["Command and Control"]


def test_hunt_findings_and_replay(
    capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s-store"
    [finding] = hunt(capsys, logs, store, "findings")
    assert (finding["normalized_risk_object"], finding["risk_score"], finding["severity"]) == (
        "web-02",
        150,
        "medium",
    )
    assert hunt(capsys, logs, store, "findings") == [
        finding
    ]  # replay: the same finding, stored once
    from escudo.detect.store import Store

    assert len(Store(store).findings()) == 1 and len(Store(store).risk_events()) == 8


@pytest.fixture
def filled_store(capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path) -> Path:
    store = tmp_path / "s-store"
    hunt(capsys, logs, store, "results")
    return store


def drilldown(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, list[dict]]:
    code, rows, err = run(
        capsys, "drilldown", SEED, "--content", CONTENT, "--format", "jsonl", *argv
    )
    assert code == 0, err
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.pop("detection"), []).append(row)
    return groups


def test_both_seed_drilldowns_from_the_store(
    capsys: pytest.CaptureFixture[str], filled_store: Path
) -> None:
    groups = drilldown(
        capsys, "--store", str(filled_store), "--token", "user=alice", "--token", "dest=web-02"
    )
    results = groups[RESULTS_DRILLDOWN.format(user="alice", dest="web-02")]
    assert sorted(r["process"] for r in results) == ["/tmp/ngrok http 80", "/tmp/ngrok tcp 22"]
    assert {r["lastTime"] for r in results} == {"2024-05-01T10:00:00", "2024-05-01T14:00:00"}
    risk = groups[RISK_DRILLDOWN.format(user="alice", dest="web-02")]
    assert [(r["normalized_risk_object"], r["count"]) for r in risk] == [
        ("alice", 2),
        ("web-02", 3),
    ]
    assert risk[1]["ATT&CK Tactics"] == ["Command and Control"]
    assert risk[1]["Search Name"] == ["ESCU - Linux Ngrok Reverse Proxy Usage - Rule"]
    assert (risk[1]["firstTime"], risk[1]["lastTime"]) == (
        "2024-05-01T10:00:00",
        "2024-05-02T08:00:00",
    )


def test_drilldowns_from_a_row_over_the_logs(
    capsys: pytest.CaptureFixture[str], logs: Path, filled_store: Path
) -> None:
    groups = drilldown(capsys, str(logs), "--store", str(filled_store), "--row", "1")
    [(name, results), (_, risk)] = groups.items()
    user, dest = results[0]["user"], results[0]["dest"]
    assert name == RESULTS_DRILLDOWN.format(user=user, dest=dest)
    assert {(r["user"], r["dest"]) for r in results} == {(user, dest)}
    assert {r["normalized_risk_object"] for r in risk} == {user, dest}


def test_seven_day_window_counts_back_from_the_finding(
    capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path
) -> None:
    """Risk older than 168 h before the finding's time is left out; "now" is the replayed finding's time."""
    store = tmp_path / "s-store"
    old = tmp_path / "old.log"
    old.write_text(
        sysmon_line(host="web-02", when="2024-04-20T10:00:00", pid=999, user="alice", image="/tmp/ngrok",
                    command_line="/tmp/ngrok tcp 2222") + "\n"
    )  # fmt: skip
    hunt(capsys, old, store, "results")
    hunt(capsys, logs, store, "results")
    groups = drilldown(capsys, "--store", str(store), "--token", "user=alice", "--token", "dest=web-02",
                       "--token", "lastTime=2024-05-02T08:00:00")  # fmt: skip
    risk = groups[RISK_DRILLDOWN.format(user="alice", dest="web-02")]
    assert [(r["normalized_risk_object"], r["count"]) for r in risk] == [
        ("alice", 2),
        ("web-02", 3),
    ]


def test_a_token_value_cannot_widen_the_search(
    capsys: pytest.CaptureFixture[str], filled_store: Path
) -> None:
    hostile = 'x" OR user="*'
    groups = drilldown(
        capsys, "--store", str(filled_store), "--token", f"user={hostile}", "--token", "dest=web-02"
    )
    # The value stayed one string: no result has that user, and only web-02's risk matched.
    assert list(groups) == [RISK_DRILLDOWN.format(user=hostile, dest="web-02")]
    assert [r["normalized_risk_object"] for r in next(iter(groups.values()))] == ["web-02"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--row", "9"], "escudo: error: --row 9: 'Linux Ngrok Reverse Proxy Usage' has 4 result rows"),
        (["--token", "user"], "escudo: error: --token 'user': expected NAME=VALUE"),
        (["--token", "user=alice"], "escudo: error: drilldown needs a value for $dest$: pick a result with --row or pass --token"),
        (["--token", "user=alice", "--token", "dest=web-02", "--token", "info_min_time=soon"],
         "escudo: error: drilldown offset $info_min_time$: 'soon' is not a time"),
    ],
)  # fmt: skip
def test_bad_arguments(
    capsys: pytest.CaptureFixture[str], filled_store: Path, argv: list[str], message: str
) -> None:
    code = main(["drilldown", SEED, "--content", CONTENT, "--store", str(filled_store), *argv])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_search_reads_risk_all_risk_from_the_store(
    capsys: pytest.CaptureFixture[str], logs: Path, filled_store: Path, tmp_path: Path
) -> None:
    spl = (
        "| tstats count from datamodel=Risk.All_Risk by All_Risk.normalized_risk_object "
        "All_Risk.risk_object_type | rename All_Risk.* as *"
    )
    code, rows, err = run(
        capsys, "search", spl, str(logs), "--store", str(filled_store), "--format", "jsonl"
    )
    assert code == 0, err
    counts = {(r["normalized_risk_object"], r["risk_object_type"]): r["count"] for r in rows}
    assert counts == {
        ("alice", "user"): 2,
        ("bob", "user"): 1,
        ("carol", "user"): 1,
        ("web-02", "system"): 3,
        ("db-01", "system"): 1,
    }
    # an explicit store that does not exist yet holds no risk
    code, rows, err = run(
        capsys,
        "search",
        spl,
        str(logs),
        "--store",
        str(tmp_path / "new-store"),
        "--format",
        "jsonl",
    )
    assert (code, rows) == (0, [])


def test_drilldown_over_an_ingested_store_equals_over_the_logs(
    capsys: pytest.CaptureFixture[str], logs: Path, tmp_path: Path
) -> None:
    """``--store DIR`` without PATH re-hunts the store's events (no stored results needed) and the
    drilldowns read its events: the same rows as over the logs."""
    store = tmp_path / "ingested"
    assert main(["ingest", str(logs), "--store", str(store)]) == 0
    capsys.readouterr()
    for row in ("1", "3"):  # no risk events stored yet: the risk drilldown finds none
        over_store = drilldown(capsys, "--store", str(store), "--row", row)
        assert over_store == drilldown(capsys, str(logs), "--store", str(store), "--row", row)
        [(name, results)] = over_store.items()
        assert name.startswith("View the detection results") and results
    argv = ["hunt", "--store", str(store), "--content", CONTENT, "--detection", SEED, "-f", "jsonl"]
    assert run(capsys, *argv)[0] == 0  # over the store's events: its risk events kept there
    over_store = drilldown(capsys, "--store", str(store), "--row", "2")
    assert over_store == drilldown(capsys, str(logs), "--store", str(store), "--row", "2")
    assert len(over_store) == 2 and all(over_store.values())
