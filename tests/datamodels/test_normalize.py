"""Normalization details: calculated fields, fallbacks, time, the schema contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from escudo.datamodels.cim import DATASETS
from escudo.datamodels.mappings import MAPPINGS, get_mapping
from escudo.datamodels.normalize import dataset_schema, normalize_batch
from escudo.sources.registry import SOURCES


def _raw(mapping_fields: tuple[str, ...], **values: list[str | None]) -> pa.RecordBatch:
    n = len(next(iter(values.values())))
    columns = {"host": values.pop("host", [None] * n)}
    for f in mapping_fields:
        columns[f] = values.get(f, [None] * n)
    return pa.record_batch({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _normalize(dataset: str, **values: list[str | None]) -> list[dict[str, object]]:
    mapping = get_mapping("sysmon:linux", dataset)
    raw = _raw(mapping.raw_fields, **values)
    return normalize_batch(raw, mapping, dataset_schema(dataset), "src", "sysmon:linux").to_pylist()


def test_unknown_fills_empty_and_missing_but_keeps_dash() -> None:
    rows = _normalize(
        "Endpoint.Processes",
        SystemTime=["2024-03-11T09:15:21.618000000Z"] * 3,
        Computer=["", "-", "h"],
        User=[None, "-", ""],
        Image=["/usr/bin/ls", "-", "/bin/x"],
        CommandLine=["", "-", "x"],
    )
    assert [r["dest"] for r in rows] == ["unknown", "-", "h"]
    assert [r["user"] for r in rows] == ["unknown", "-", "unknown"]
    assert [r["process"] for r in rows] == ["unknown", "-", "x"]
    assert [r["original_file_name"] for r in rows] == ["unknown"] * 3
    assert [r["user_id"] for r in rows] == [None] * 3
    assert [r["host"] for r in rows] == ["", "-", "h"]


def test_empty_image_falls_back_to_cims_command_word() -> None:
    rows = _normalize(
        "Endpoint.Processes",
        SystemTime=["2024-03-11T09:15:21Z"] * 3,
        Image=["", "", ""],
        CommandLine=['"C:\\Tools\\ngrok.exe" tcp 22', "/tmp/ngrok tcp 22", ""],
    )
    assert [r["process_name"] for r in rows] == ["ngrok.exe", "/tmp/ngrok", "unknown"]


def test_network_ports_and_direction() -> None:
    rows = _normalize(
        "Network_Traffic.All_Traffic",
        SystemTime=["2024-03-11T09:15:21Z"] * 3,
        DestinationPort=["443", "-", None],
        Initiated=["true", "false", "maybe"],
        Protocol=["TCP", "udp", ""],
    )
    assert [r["dest_port"] for r in rows] == ["443", "0", "0"]
    assert [r["direction"] for r in rows] == ["outbound", "inbound", None]
    assert [r["transport"] for r in rows] == ["tcp", "udp", "unknown"]


def test_time_is_utc_microseconds_even_out_of_nanosecond_range() -> None:
    rows = _normalize(
        "Endpoint.Processes",
        SystemTime=["2024-03-11T09:15:21.618999999Z", "2300-01-01T00:00:00.5Z"],
    )
    assert rows[0]["_time"] == datetime(2024, 3, 11, 9, 15, 21, 618999, tzinfo=UTC)
    assert rows[1]["_time"] == datetime(2300, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)


def test_every_mapping_targets_real_fields_and_schema_follows_the_contract() -> None:
    for (sourcetype, dataset), mapping in MAPPINGS.items():
        assert sourcetype in SOURCES  # every mapping belongs to a registered source
        fields = set(DATASETS[dataset].fields)
        assert {f for f, _ in mapping.fields} <= fields, dataset
        schema = dataset_schema(dataset)
        assert schema.names == list(DATASETS[dataset].all_fields)
        assert schema.field("_time").type == pa.timestamp("us", tz="UTC")
        assert all(f.type == pa.string() for f in schema if f.name != "_time")
