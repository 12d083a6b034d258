"""One pass: every input is read once per run, whatever the data sets the detections read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from escudo.cli import main
from escudo.compile import compile_search
from escudo.content.model import Detection
from escudo.datamodels import mappings
from escudo.detect.hunt import run_compiled
from escudo.sources.base import ReadStats

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
CHISEL = (
    ROOT / "src/escudo/content/builtin/detections/endpoint/linux_chisel_or_frp_tunnel_client.yml"
)
NETWORK_SEARCH = (
    "| tstats count from datamodel=Network_Traffic.All_Traffic "
    "where All_Traffic.dest_port=443 by All_Traffic.dest"
)


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def _accounted(stats: ReadStats) -> int:
    return stats.events + stats.skipped + stats.other + stats.filtered + stats.malformed


def test_run_over_two_data_sets_counts_each_line_once() -> None:
    jobs = []
    for spl in (
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest",
        NETWORK_SEARCH,
    ):
        detection = Detection(name=spl, id="", search=spl, type="Hunting", status="experimental")
        jobs.append((detection, compile_search(spl)))
    stats = ReadStats()
    results = run_compiled([SAMPLE], jobs, stats=stats)
    assert _accounted(stats) == _lines(SAMPLE) == 41
    assert stats.events == 27 + 3  # EventID 1 and 3: each record extracted once
    assert all(r.rows.num_rows > 0 for r in results)


def test_hunt_cli_with_detections_on_two_data_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = tmp_path / "content" / "detections"
    content.mkdir(parents=True)
    text = CHISEL.read_text()
    search = text[text.index("search: |-") : text.index("how_to_implement:")]
    text = text.replace(search, f"search: '{NETWORK_SEARCH}'\n")
    text = text.replace("name: Linux Chisel Or Frp Tunnel Client", "name: Outbound HTTPS")
    text = text.replace(
        "5e0d1e9f-83b3-490d-8ff7-6d9ba752b145", "5e0d1e9f-83b3-490d-8ff7-6d9ba752b146"
    )
    (content / "outbound_https.yml").write_text(text)
    rc = main(["hunt", str(SAMPLE), "--content", str(tmp_path / "content"), "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert '"detection": "Outbound HTTPS"' in out
    summary = next(line for line in err.splitlines() if line.startswith("escudo: read "))
    counts = [int(n) for n in re.findall(r"(\d+) (?:events|non-event|malformed|dropped)", summary)]
    assert sum(counts) == 41, summary  # events, skipped, malformed, of other types, dropped


def test_second_mapping_keeps_the_sysmon_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second source feeding Endpoint.Processes (not XML) leaves Sysmon's needles alone."""
    other = mappings.Mapping(
        "demo:json",
        "Endpoint.Processes",
        None,
        (("process_name", mappings.Raw("process.name")), ("action", mappings.Const("allowed"))),
        host="host.name",
    )
    monkeypatch.setitem(mappings.MAPPINGS, ("demo:json", "Endpoint.Processes"), other)
    spl = "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok by Processes.dest"
    compiled = compile_search(spl)
    assert compiled.raw_filters["Endpoint.Processes"].clauses == (("ngrok",),)
    stats = ReadStats()
    detection = Detection(name="ngrok", id="", search=spl, type="Hunting", status="experimental")
    run_compiled([SAMPLE], [(detection, compiled)], stats=stats)
    assert stats.filtered > 0 and _accounted(stats) == 41
