"""The JSON EDR sources (ECS NDJSON, OCSF JSON lines): raw records, CIM rows field by field,
line accounting, record types, sniffing and sound prefilter needles."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escudo.datamodels.normalize import read_dataset
from escudo.sources.base import ReadStats
from escudo.sources.ecs import EcsSource
from escudo.sources.jsonsource import flatten, json_needle, loads, passes, pick
from escudo.sources.ocsf import OcsfSource
from escudo.sources.registry import sniff_source

ATTACK_DATA = Path(__file__).parents[2] / "src" / "escudo" / "data" / "attack_data"
NGROK = ATTACK_DATA / "datasets" / "attack_techniques" / "T1572" / "ngrok"

ECS_EXEC: dict[str, Any] = {
    "@timestamp": "2026-10-14T10:16:22.010Z",
    "agent": {"type": "endpoint"},
    "ecs": {"version": "8.10.0"},
    "event": {"action": "exec", "category": ["process"], "type": ["start"], "kind": "event"},
    "host": {"name": "web-02", "hostname": "web-02", "os": {"name": "Linux", "type": "linux"}},
    "process": {
        "pid": 2940,
        "entity_id": "abc",
        "executable": "/tmp/ngrok",
        "name": "ngrok",
        "command_line": '/tmp/ngrok http 8080 > /dev/null && echo "ok"',
        "args": ["/tmp/ngrok", "http", "8080"],
        "working_directory": "/tmp",
        "parent": {
            "pid": 2930,
            "entity_id": "def",
            "executable": "/usr/bin/dash",
            "name": "dash",
            "command_line": "sh -c /tmp/ngrok http 8080",
        },
    },
    "user": {"name": "www-data", "id": "33"},
}

OCSF_LAUNCH: dict[str, Any] = {
    "activity_id": 1,
    "class_uid": 1007,
    "category_uid": 1,
    "type_uid": 100701,
    "time": 1791972982010,
    "metadata": {"version": "1.1.0", "product": {"name": "Sysmon for Linux"}},
    "device": {"hostname": "web-02", "os": {"name": "Linux", "type_id": 200}},
    "process": {
        "pid": 2940,
        "uid": "{g1}",
        "name": "ngrok",
        "cmd_line": "/tmp/ngrok tcp 22 > /dev/null",
        "file": {"path": "/tmp/ngrok", "name": "ngrok"},
        "user": {"name": "www-data", "uid": "33"},
        "parent_process": {
            "pid": 2930,
            "uid": "{g0}",
            "name": "dash",
            "cmd_line": "sh -c x",
            "file": {"path": "/usr/bin/dash", "name": "dash"},
            "user": {"name": "www-data"},
        },
    },
    "actor": {"process": {"pid": 2930}, "user": {"name": "www-data"}},
}


def _lines(*docs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def _rows(
    tmp_path: Path, data: bytes, dataset: str, sourcetype: str | None = None
) -> tuple[list[dict[str, Any]], ReadStats]:
    path = tmp_path / "events.json"
    path.write_bytes(data)
    stats = ReadStats()
    rows = [
        r
        for b in read_dataset([path], dataset, stats=stats, sourcetype=sourcetype, workers=0)
        for r in b.to_pylist()
    ]
    return rows, stats


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


# -- writers: the bundled renderings are the Sysmon logs' events ------------------------------


def test_bundled_renderings_are_the_sysmon_events() -> None:
    sys.path.insert(0, str(ATTACK_DATA))
    try:
        from ecs_writer import render_ecs  # type: ignore[import-not-found]
        from event_list import read_events  # type: ignore[import-not-found]
        from ocsf_writer import render_ocsf  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ATTACK_DATA))
    for log, stem in (("ngrok_linux-sysmon.log", "ngrok_linux"),
                      ("ngrok_linux-sysmon-benign.log", "ngrok_linux-benign")):  # fmt: skip
        events = read_events((NGROK / log).read_text().splitlines())
        assert (NGROK / f"{stem}-ecs.ndjson").read_text().splitlines() == render_ecs(events)
        assert (NGROK / f"{stem}-ocsf.json").read_text().splitlines() == render_ocsf(events)
        assert len(render_ecs(events)) == len(events)  # EventIDs 1, 3, 5, 11: all rendered


# -- CIM rows, field by field -----------------------------------------------------------------


def test_ecs_process_row(tmp_path: Path) -> None:
    [row], stats = _rows(tmp_path, _lines(ECS_EXEC), "Endpoint.Processes", "ecs:json")
    assert stats.events == 1
    assert row["_time"].isoformat() == "2026-10-14T10:16:22.010000+00:00"
    expected = {
        "host": "web-02", "source": "ecs", "sourcetype": "ecs:json", "action": "allowed",
        "dest": "web-02", "os": "Linux", "user": "www-data", "user_id": "33",
        "process": '/tmp/ngrok http 8080 > /dev/null && echo "ok"',  # plain text, no XML escape
        "process_name": "ngrok", "process_path": "/tmp/ngrok", "process_exec": "ngrok",
        "process_id": "2940", "process_guid": "abc", "process_current_directory": "/tmp",
        "parent_process": "sh -c /tmp/ngrok http 8080", "parent_process_name": "dash",
        "parent_process_path": "/usr/bin/dash", "parent_process_exec": "dash",
        "parent_process_id": "2930", "parent_process_guid": "def",
        "parent_user": "unknown", "original_file_name": "unknown",  # CIM fills
        "process_hash": None, "process_integrity_level": None, "vendor_product": "ecs:json",
    }  # fmt: skip
    assert {k: row[k] for k in expected} == expected


def test_ecs_file_and_network_rows(tmp_path: Path) -> None:
    base = {k: ECS_EXEC[k] for k in ("@timestamp", "ecs", "host", "user")}
    subject = {"pid": 7, "executable": "/usr/bin/curl", "name": "curl", "entity_id": "e7"}
    created = {
        **base,
        "event": {"category": ["file"], "type": ["creation"]},
        "file": {"path": "/tmp/ngrok.tgz", "name": "ngrok.tgz"},
        "process": subject,
    }
    deleted = _with(created, "event.type", ["deletion"])
    network = {**base, "event": {"category": ["network"], "type": ["start"]}, "process": subject,
               "source": {"ip": "10.0.0.1", "port": 40118},
               "destination": {"ip": "198.51.100.23", "port": 443},
               "network": {"transport": "TCP", "direction": "egress"}}  # fmt: skip
    data = _lines(created, deleted, network)
    files, stats = _rows(tmp_path, data, "Endpoint.Filesystem", "ecs:json")
    assert [(r["action"], r["file_path"], r["file_name"], r["process_name"]) for r in files] == [
        ("created", "/tmp/ngrok.tgz", "ngrok.tgz", "curl"),
        ("deleted", "/tmp/ngrok.tgz", "ngrok.tgz", "curl"),
    ]
    assert (stats.events, stats.other) == (2, 1)
    [net], _ = _rows(tmp_path, data, "Network_Traffic.All_Traffic", "ecs:json")
    expected = {
        "action": "allowed", "src": "10.0.0.1", "src_ip": "10.0.0.1", "src_port": "40118",
        "dest": "198.51.100.23", "dest_ip": "198.51.100.23", "dest_port": "443",
        "transport": "tcp", "direction": "outbound", "user": "www-data", "process_id": "7",
        "process_name": "curl", "process_path": "/usr/bin/curl", "process_guid": "e7",
    }  # fmt: skip
    assert {k: net[k] for k in expected} == expected


def test_ocsf_process_row(tmp_path: Path) -> None:
    [row], _ = _rows(tmp_path, _lines(OCSF_LAUNCH), "Endpoint.Processes", "ocsf:json")
    assert row["_time"].isoformat() == "2026-10-14T10:16:22.010000+00:00"  # ms since the epoch
    expected = {
        "host": "web-02", "source": "ocsf", "sourcetype": "ocsf:json", "action": "allowed",
        "dest": "web-02", "os": "Linux", "user": "www-data", "user_id": "33",
        "process": "/tmp/ngrok tcp 22 > /dev/null", "process_name": "ngrok",
        "process_path": "/tmp/ngrok", "process_exec": "ngrok", "original_file_name": "ngrok",
        "process_id": "2940", "process_guid": "{g1}", "parent_process": "sh -c x",
        "parent_process_name": "dash", "parent_process_path": "/usr/bin/dash",
        "parent_process_exec": "dash", "parent_process_id": "2930",
        "parent_process_guid": "{g0}", "parent_user": "www-data",
        "vendor_product": "Sysmon for Linux",
    }  # fmt: skip
    assert {k: row[k] for k in expected} == expected


def test_ocsf_file_and_network_rows(tmp_path: Path) -> None:
    base = {k: OCSF_LAUNCH[k] for k in ("time", "metadata", "device")}
    actor = {"process": {"pid": 7, "uid": "{a}", "name": "curl", "cmd_line": "curl x",
                         "file": {"path": "/usr/bin/curl", "name": "curl"}},
             "user": {"name": "alice"}}  # fmt: skip
    events = [
        {**base, "class_uid": 1001, "activity_id": activity, "actor": actor,
         "file": {"path": "/etc/ngrok.yml", "name": "ngrok.yml"}}
        for activity in (1, 2, 3, 4, 5, 7, 14)
    ]  # fmt: skip
    events.append(
        {**base, "class_uid": 4001, "activity_id": 1, "actor": actor, "disposition": "Allowed",
         "src_endpoint": {"ip": "10.0.0.1", "port": 1}, "dst_endpoint": {"ip": "10.0.0.2"},
         "connection_info": {"protocol_num": 17, "protocol_name": "udp", "direction_id": 3}}
    )  # fmt: skip
    files, stats = _rows(tmp_path, _lines(*events), "Endpoint.Filesystem", "ocsf:json")
    assert [r["action"] for r in files] == [
        "created",
        "read",
        "modified",
        "deleted",
        "modified",
        "acl_modified",
    ]
    assert {(r["user"], r["process"], r["process_name"], r["file_name"]) for r in files} == {
        ("alice", "curl x", "curl", "ngrok.yml")
    }
    assert (stats.events, stats.other) == (6, 2)  # 1001 Open (14) and the 4001 event
    [net], _ = _rows(tmp_path, _lines(*events), "Network_Traffic.All_Traffic", "ocsf:json")
    expected = {
        "action": "allowed", "transport": "udp", "protocol": "udp", "direction": "lateral",
        "src": "10.0.0.1", "src_port": "1", "dest": "10.0.0.2", "dest_port": "0",  # CIM fill
        "user": "alice", "process_id": "7", "vendor_product": "Sysmon for Linux",
    }  # fmt: skip
    assert {k: net[k] for k in expected} == expected


# -- values as written ------------------------------------------------------------------------


def test_values_are_the_json_text() -> None:
    obj = loads('{"p": {"pid": 0012, "f": 1.50, "e": 1E3, "b": false, "n": null, "s": "a\\u003eb"}}'
                .replace("0012", "12"))  # fmt: skip
    assert flatten(obj) == {
        "p.pid": "12",
        "p.f": "1.50",
        "p.e": "1E3",
        "p.b": "false",
        "p.s": "a>b",
    }
    # a key holding dots is the same path as nested objects; arrays join their values
    assert flatten({"process.name": "x", "process": {"args": ["a", {"k": "v"}, "b"]}}) == {
        "process.name": "x",
        "process.args": "a\nb",
        "process.args.k": "v",
    }


def test_dotted_keys_read_like_nested(tmp_path: Path) -> None:
    flat = {"@timestamp": ECS_EXEC["@timestamp"], "ecs.version": "8.10.0",
            "event.category": "process", "event.type": "start", "host.name": "h",
            "process.name": "ngrok", "process.command_line": "ngrok tcp 22"}  # fmt: skip
    [row], _ = _rows(tmp_path, _lines(flat), "Endpoint.Processes", "ecs:json")
    assert (row["dest"], row["process_name"], row["process"]) == ("h", "ngrok", "ngrok tcp 22")


def test_times(tmp_path: Path) -> None:
    stamps = ["2026-10-14T12:16:22.010+02:00", "1791972982010", "2026-10-14T10:16:22.010"]
    docs = [_with(ECS_EXEC, "@timestamp", s) for s in stamps]
    rows, _ = _rows(tmp_path, _lines(*docs), "Endpoint.Processes", "ecs:json")
    assert {r["_time"].isoformat() for r in rows} == {"2026-10-14T10:16:22.010000+00:00"}


# -- accounting and record types --------------------------------------------------------------


def test_line_accounting(tmp_path: Path) -> None:
    end = _with(ECS_EXEC, "event.type", ["end"])
    fork = _with(ECS_EXEC, "event.action", "fork")
    no_time = _with(ECS_EXEC, "@timestamp", None)
    bad_time = _with(ECS_EXEC, "@timestamp", "soon")
    data = b"".join([
        _lines(ECS_EXEC),
        b"\n   \n",  # blank: not counted
        b"plain text line\n",  # skipped
        b'{"@timestamp": "2026-10-14T10:16:22Z", "event": {"categ\n',  # cut: malformed (line 5)
        b"[1, 2]\n",  # not an object: skipped
        _lines({"hello": "world"}, no_time),  # objects, not ECS events: skipped
        _lines(end, fork),  # other record types
        _lines(bad_time),  # an ECS event with no usable time: malformed
        _lines(ECS_EXEC).rstrip(b"\n") + b"\r\n",  # CRLF
    ])  # fmt: skip
    rows, stats = _rows(tmp_path, data, "Endpoint.Processes", "ecs:json")
    assert len(rows) == stats.events == 2
    assert (stats.skipped, stats.other, stats.malformed) == (4, 2, 2)
    assert [p.line for p in stats.problems] == [5, 11]
    assert "not a JSON object" in stats.problems[0].reason
    assert "'@timestamp'" in stats.problems[1].reason


def test_ocsf_record_type_computed_when_missing(tmp_path: Path) -> None:
    no_type = _with(OCSF_LAUNCH, "type_uid", None)
    terminate = _with(no_type, "activity_id", 2)
    rows, stats = _rows(tmp_path, _lines(no_type, terminate), "Endpoint.Processes", "ocsf:json")
    assert len(rows) == 1 and stats.other == 1


def test_raw_datamodel_lists_the_fields(tmp_path: Path) -> None:
    [row], _ = _rows(tmp_path, _lines(ECS_EXEC), "raw", "ecs:json")
    assert row["record_type"] == "process:start"
    assert row["process.parent.name"] == "dash"
    assert row["event.category"] == "process"


# -- sniffing ---------------------------------------------------------------------------------


def test_sniff_from_content() -> None:
    ecs_head = (NGROK / "ngrok_linux-ecs.ndjson").read_bytes()[:65536]
    ocsf_head = (NGROK / "ngrok_linux-ocsf.json").read_bytes()[:65536]
    sysmon_head = (NGROK / "ngrok_linux-sysmon.log").read_bytes()[:65536]
    assert sniff_source(ecs_head).name == "ecs:json"  # type: ignore[union-attr]
    assert sniff_source(ocsf_head).name == "ocsf:json"  # type: ignore[union-attr]
    assert sniff_source(sysmon_head).name == "sysmon:linux"  # type: ignore[union-attr]
    # an ECS event whose command line mentions <Event> is still ECS
    mention = _with(ECS_EXEC, "process.command_line", "grep '<Event>' /var/log/syslog")
    assert sniff_source(_lines(mention)).name == "ecs:json"  # type: ignore[union-attr]
    journald = b'{"__CURSOR": "s", "MESSAGE": "<Event><System></System></Event>"}\n'
    assert sniff_source(journald).name == "sysmon:linux"  # type: ignore[union-attr]
    assert not EcsSource().sniff(b'{"@timestamp": "x", "message": "plain"}\n')
    assert not OcsfSource().sniff(b'{"class_uid": 1007}\n')  # no metadata.version


# -- prefilter needles ------------------------------------------------------------------------


def test_needles_through_the_mapping() -> None:
    source = EcsSource()
    req = (
        (("process_name", "ngrok"),),
        (("process", 'say "hi" \\ there'), ("process", "http")),
    )
    assert source.needles("Endpoint.Processes", req).clauses == (
        ("ngrok",),
        ('say \\"hi\\" \\\\ there', "http"),
    )
    # derived values the raw text does not hold: the clause is dropped (sound)
    assert source.needles("Endpoint.Processes", ((("action", "allowed"),),)).clauses == ()
    assert source.needles("Endpoint.Filesystem", ((("action", "created"),),)).clauses == ()
    # CIM's fills: "unknown" for a missing value, "0" for a port that is not a number
    assert source.needles("Endpoint.Processes", ((("parent_user", "NOWN"),),)).clauses == ()
    assert (
        OcsfSource().needles("Network_Traffic.All_Traffic", ((("dest_port", "0"),),)).clauses == ()
    )
    assert source.needles("Endpoint.Processes", ((("process", "\t\u212a"),),)).clauses == ()
    assert source.needles("Endpoint.Processes", ((("process", "é/x\tab"),),)).clauses == (("/x",),)
    assert source.needles("No.Such", ((("process", "x"),),)).clauses == ()


_TEXT = st.text(alphabet=st.sampled_from('aZk/\\"é\u212a\t <>&'), max_size=8)


@given(_TEXT, _TEXT, _TEXT, st.booleans(), st.booleans())
def test_needles_are_sound(
    before: str, literal: str, after: str, ascii_only: bool, escape_slash: bool
) -> None:
    """A value holding the literal (any case) is on a line the literal's needle keeps, however
    the encoder spelled the line (ASCII-only escapes, ``\\/``)."""
    value = before + literal.upper() + after
    line = json.dumps({"process": {"command_line": value}}, ensure_ascii=ascii_only)
    if escape_slash:
        line = line.replace("/", "\\/")
    clauses = EcsSource().needles("Endpoint.Processes", ((("process", literal),),)).clauses
    needles = tuple(tuple(n.lower().encode() for n in c) for c in clauses)
    assert flatten(loads(line))["process.command_line"] == value
    if literal.lower() in value.lower():
        assert passes(line.encode(), needles)


def test_json_needle() -> None:
    assert json_needle("/tmp/ngrok") == "/tmp/ngrok"
    assert json_needle('a"b\\c') == 'a\\"b\\\\c'
    assert json_needle("\n") is None
    assert json_needle("ab\nc") == "ab"


@pytest.mark.parametrize("name", ["ngrok_linux-ecs.ndjson", "ngrok_linux-ocsf.json"])
def test_prefilter_keeps_the_same_rows(tmp_path: Path, name: str) -> None:
    """Reading with the seed's needles keeps every row the requirement accepts."""
    sourcetype = "ecs:json" if "ecs" in name else "ocsf:json"
    path = NGROK / name
    everything = [
        r for b in read_dataset([path], "Endpoint.Processes", sourcetype=sourcetype, workers=0)
        for r in b.to_pylist()
    ]  # fmt: skip
    stats = ReadStats()
    needles = sniff_source(path.read_bytes()).needles(  # type: ignore[union-attr]
        "Endpoint.Processes", ((("process_name", "ngrok"),),)
    )
    assert needles.clauses == (("ngrok",),)
    kept = [
        r
        for b in read_dataset(
            [path], "Endpoint.Processes", sourcetype=sourcetype, workers=0, stats=stats,
            raw_filter=needles,
        )
        for r in b.to_pylist()
    ]  # fmt: skip

    def ngrok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if "ngrok" in r["process_name"].lower()]

    assert all(r in everything for r in kept)
    assert ngrok(kept) == ngrok(everything) and len(ngrok(kept)) >= 9
    assert stats.filtered > 0


_KEY = st.sampled_from(["a", "b", "a.b", "c"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.sampled_from(["x", "", "1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(_KEY, _JSON, max_size=4))
def test_pick_is_flatten_restricted(obj: dict[str, Any]) -> None:
    """The plan's path lookups give what flattening the whole object gives, for the paths asked
    (a path both nested and dotted in one object, ``{"a.b": 1, "a": {"b": 2}}``, may list its
    values in another order)."""
    paths = ("a", "a.b", "a.b.c", "c.a", "b")
    flat = flatten(obj)

    def values(d: dict[str, str]) -> dict[str, list[str]]:
        return {k: sorted(v.split("\n")) for k, v in d.items()}

    assert values(pick(obj, paths)) == values({p: flat[p] for p in paths if p in flat})


# -- any bytes: nothing raised, every line counted once, the prefilter drops or keeps as is ----

_SEED_LINES = [
    line
    for name in ("ngrok_linux-ecs.ndjson", "ngrok_linux-ocsf.json")
    for line in (NGROK / name).read_bytes().split(b"\n")[:12]
    if line
]
_PIECES = st.sampled_from([b"\\u00", b"\\/", b'"', b"{", b"}", b"\xff", b"\x00", b"\r", b"\n",
                           b"ngrok", b"NGROK", b'"@timestamp":1,', b"[", b"]", b",", b" "])  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.sampled_from(_SEED_LINES), min_size=1, max_size=6))
    out = []
    for line in lines:
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(line)))
            cut = draw(st.booleans())
            line = line[:at] + (b"" if cut else draw(_PIECES)) + line[at + (3 if cut else 0) :]
        out.append(line)
    return b"\n".join(out) + draw(st.sampled_from([b"", b"\n"]))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(_mutated(), st.sampled_from(["ecs:json", "ocsf:json"]))
def test_any_bytes_are_accounted_for(data: bytes, sourcetype: str) -> None:
    from escudo.datamodels.mappings import get_mapping
    from escudo.sources.registry import get_sourcetype

    source = get_sourcetype(sourcetype)
    mapping = get_mapping(sourcetype, "Endpoint.Processes")
    plain = source.plan(mapping.raw_fields, mapping.record_types, None, "fast")
    needles = source.needles("Endpoint.Processes", ((("process_name", "ngrok"),),))
    filtered = source.plan(mapping.raw_fields, mapping.record_types, needles, "fast")
    batch, stats = plain(data, "x")
    lines = [line for line in data.split(b"\n") if line.strip()]
    assert stats.events + stats.skipped + stats.malformed + stats.other == len(lines)
    assert batch.num_rows == stats.events
    assert all(1 <= p.line <= data.count(b"\n") + 1 for p in stats.problems)
    kept, fstats = filtered(data, "x")
    total = fstats.events + fstats.skipped + fstats.malformed + fstats.other + fstats.filtered
    assert total == len(lines)
    rows, kept_rows = batch.to_pylist(), kept.to_pylist()
    assert all(r in rows for r in kept_rows)  # a kept line is read as without the filter

    def ngrok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if "ngrok" in (r["process.name"] or "").lower()]

    assert ngrok(kept_rows) == ngrok(rows)  # no row the requirement accepts is dropped
