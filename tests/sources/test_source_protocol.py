"""The source protocol: per-file sniffing, ``--sourcetype`` overriding it, a source's needles."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from escudo.cli import main
from escudo.datamodels.normalize import sources_of
from escudo.sources import registry
from escudo.sources.base import RawFilter, Requirements, Source
from escudo.sources.sysmon import SysmonSource

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"


class DemoSource:
    """A source with its own shape: lines starting ``DEMO``."""

    name, source = "demo:lines", "demo"
    all_fields = ("SystemTime", "Computer")

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"DEMO ")

    def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        return RawFilter()

    def plan(self, fields, record_types, raw_filter, extractor):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_each_file_is_read_with_the_source_its_content_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = DemoSource()
    assert isinstance(demo, Source) and isinstance(SysmonSource(), Source)
    monkeypatch.setitem(registry.SOURCES, demo.name, demo)
    (tmp_path / "a.log").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(b"DEMO 1\nDEMO 2\n"))
    (tmp_path / "c.log").write_bytes(b"DEMO 3\n")
    (tmp_path / "d.log").write_bytes(b"no event here\n")  # nobody's: the default source
    runs = [(s.name, [i.name for i in inputs]) for s, inputs in sources_of([tmp_path])]
    assert runs == [
        ("sysmon:linux", [str(tmp_path / "a.log")]),
        ("demo:lines", [str(tmp_path / "b.log.gz"), str(tmp_path / "c.log")]),
        ("sysmon:linux", [str(tmp_path / "d.log")]),
    ]
    forced = sources_of([tmp_path], "sysmon:linux")
    assert [(s.name, len(i)) for s, i in forced] == [("sysmon:linux", 4)]


def test_sysmon_needles_come_from_its_own_mapping() -> None:
    source = SysmonSource()
    requirements = (
        (("process_name", "ngrok"),),
        (("process", "/tmp/x"), ("process", "tcp")),
        (("action", "allowed"),),  # a constant in the Sysmon mapping: no needle, clause dropped
    )
    assert source.needles("Endpoint.Processes", requirements).clauses == (
        ("ngrok",),
        ("tmp", "tcp"),
    )
    assert source.needles("Risk.All_Risk", ((("risk_object", "x"),),)).clauses == ()


def test_unknown_sourcetype_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    spl = "| tstats count from datamodel=Endpoint.Processes"
    assert main(["search", spl, str(SAMPLE), "--sourcetype", "nope:x"]) == 2
    known = "(known: ecs:json, linux:audit, ocsf:json, sysmon:linux)"
    assert f"unknown sourcetype 'nope:x' {known}" in capsys.readouterr().err
    assert main(["search", spl, str(SAMPLE), "--sourcetype", "sysmon:linux"]) == 0
