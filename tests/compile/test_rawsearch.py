"""Searches that start from events: raw events read by the real sources, fields extracted from
``_raw`` at search time, run on DuckDB (docs/semantics.md, "Raw-event search")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.datamodels.normalize import read_dataset
from escudo.engines.duckdb import DuckDBEngine
from escudo.errors import UnsupportedSplError
from escudo.sources.base import RAW_EVENTS

AUDIT = (
    'node=web-01 type=EXECVE msg=audit(1723044684.257:15795): argc=3 a0="base64" a1="-d" '
    'a2="/tmp/x"\n'
    "node=web-01 type=SYSCALL msg=audit(1723044684.257:15796): arch=c000003e syscall=59 "
    'success=yes exit=0 ppid=1 pid=2 uid=0 comm="whoami" exe="/usr/bin/whoami"\x1d'
    'ARCH=x86_64 SYSCALL=execve UID="root"\n'
    "node=db-01 type=SERVICE_STOP msg=audit(1722957155.494:4802): pid=1 uid=0 "
    'msg=\'unit=auditd comm="systemd" exe="/usr/lib/systemd/systemd" hostname=db-01 '
    'addr=? terminal=? res=success\'\x1dUID="root" AUID="unset"\n'
    'node=db-01 type=EXECVE msg=audit(1722957156.000:4803): argc=11 a0="echo" a1="1" '
    'a2="2" a3="3" a4="4" a5="5" a6="6" a7="7" a8="8" a9="9" a10="10"\n'
)
SYSMON = Path(__file__).resolve().parents[2] / "samples" / "sysmon-linux-syslog.log"


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "audit.log"
    path.write_bytes(AUDIT.encode())
    return path


def search(spl: str, *paths: Path) -> list[dict[str, Any]]:
    batches = list(read_dataset(list(paths), RAW_EVENTS))
    compiled = compile_search(spl)
    with DuckDBEngine() as engine:
        engine.register_arrow(RAW_EVENTS, pa.Table.from_batches(batches))
        return engine.run(compiled).to_pylist()


def test_key_values_of_audit_records_incl_user_message_and_enriched(audit_log: Path) -> None:
    rows = search(
        'index=linux sourcetype="linux:audit" type=SERVICE_STOP unit IN ("auditd") '
        "| rename hostname as dest | table type unit comm exe res UID AUID dest host",
        audit_log,
    )
    assert rows == [
        {
            "type": "SERVICE_STOP",
            "unit": "auditd",
            "comm": "systemd",
            "exe": "/usr/lib/systemd/systemd",
            "res": "success",
            "UID": "root",
            "AUID": "unset",
            "dest": "db-01",
            "host": "db-01",
        }
    ]


def test_free_text_terms_match_raw_case_insensitively_with_wildcards(audit_log: Path) -> None:
    rows = search("sourcetype=linux:audit WHOAMI usr/BIN* | table comm", audit_log)
    assert rows == [{"comm": "whoami"}]
    assert search("sourcetype=linux:audit whoam | table comm", audit_log) == [{"comm": "whoami"}]
    assert search("sourcetype=linux:audit nosuchword | table comm", audit_log) == []


def test_foreach_over_search_time_fields_in_key_order(audit_log: Path) -> None:
    rows = search(
        'sourcetype="linux:audit" type=EXECVE | eval f="" '
        "| foreach a* [eval f=mvappend(f, '<<FIELD>>')] | eval cmd=trim(mvjoin(f, \" \")) "
        "| table host cmd",
        audit_log,
    )
    # a0 a1 a10 a2 ... then argc: fields in lexicographic order, as Splunk lists them
    assert rows == [  # newest first
        {"host": "web-01", "cmd": "base64 -d /tmp/x 3"},
        {"host": "db-01", "cmd": "echo 1 10 2 3 4 5 6 7 8 9 11"},
    ]


def test_foreach_names_and_matchstr(audit_log: Path) -> None:
    rows = search(
        'sourcetype="linux:audit" type=EXECVE host=web-01 '
        '| foreach a* [eval keys=mvappend(keys, "<<FIELD>>=<<MATCHSTR>>")] | table keys',
        audit_log,
    )
    assert rows == [{"keys": ["a0=0", "a1=1", "a2=2", "argc=rgc"]}]


def test_a_renamed_field_is_not_extracted_again(audit_log: Path) -> None:
    rows = search(
        "sourcetype=linux:audit type=SYSCALL | rename comm as c | eval again=comm | table c again",
        audit_log,
    )
    assert rows == [{"c": "whoami", "again": None}]


def test_the_same_raw_search_over_sysmon_events() -> None:
    rows = search(
        "sourcetype=sysmon:linux EventID=1 Image=*/ngrok ngrok tcp | stats count by Image host",
        SYSMON,
    )
    assert rows == [{"Image": "/tmp/ngrok", "host": "web-01", "count": 1}]


def test_foreach_over_known_fields_after_stats(audit_log: Path) -> None:
    rows = search(
        "sourcetype=linux:audit | stats count as n_all, dc(type) as n_types "
        "| foreach n_* [eval <<FIELD>>=<<FIELD>> * 10]",
        audit_log,
    )
    assert rows == [{"n_all": 40.0, "n_types": 30.0}]


@pytest.mark.parametrize(
    ("spl", "message", "where"),
    [
        ("sourcetype=linux:audit | table a*", "wildcard field name 'a*'", "table a*"),
        ("sourcetype=linux:audit | fillnull", "fillnull without a field list", "fillnull"),
        (
            "sourcetype=linux:audit | foreach a* [eval x=1 | eval y=2]",
            "one eval assignment",
            "foreach",
        ),
        (
            "sourcetype=linux:audit | foreach a* [eval <<FIELD>>=1]",
            "cannot assign <<FIELD>>",
            "foreach",
        ),
    ],
)
def test_unsupported_raw_search_shapes_point_at_the_command(
    spl: str, message: str, where: str
) -> None:
    with pytest.raises(UnsupportedSplError) as caught:
        compile_search(spl)
    assert message in caught.value.message
    assert spl[caught.value.offset :].startswith(where)


def test_a_raw_search_reads_only_the_events_it_can_match(audit_log: Path) -> None:
    from escudo.datamodels.normalize import read_datasets
    from escudo.sources.base import ReadStats

    compiled = compile_search("sourcetype=linux:audit WHOAMI | table comm")
    requirements = compiled.requirements[RAW_EVENTS]
    assert requirements == ((("sourcetype", "linux:audit"),), (("_raw", "WHOAMI"),))
    stats = ReadStats()
    needs = {RAW_EVENTS: [requirements]}
    read = [b for _, b in read_datasets([audit_log, SYSMON], needs, stats=stats)]
    rows = pa.Table.from_batches(read).to_pylist()
    # the Sysmon file gives no raw events (sourcetype), the audit records without the term none
    assert [(r["sourcetype"], r["_raw"].split()[1]) for r in rows] == [
        ("linux:audit", "type=SYSCALL")
    ]
    assert stats.filtered == 3
    with DuckDBEngine() as engine:
        engine.register_arrow(RAW_EVENTS, pa.Table.from_batches(read))
        assert engine.run(compiled).to_pylist() == [{"comm": "whoami"}]


@pytest.mark.parametrize(
    ("terms", "needles"),
    [
        (
            "type=SYSCALL comm=whoami",
            (('type="SYSCALL"', "type=SYSCALL"), ('comm="whoami"', "comm=whoami")),
        ),
        (
            'comm IN ("at", "atd") OR exe="/usr/bin/at"',
            (
                (
                    'comm="at"',
                    'comm="atd"',
                    "comm=at",
                    "comm=atd",
                    'exe="/usr/bin/at"',
                    "exe=/usr/bin/at",
                ),
            ),
        ),
        ("exe=*/whoami", (("/whoami",),)),  # its longest literal run: the value ends with it
        ('name="/etc/sudoers*"', (('name="/etc/sudoers', "name=/etc/sudoers"),)),  # a prefix
        ("pid=2", (('pid="2"', "pid=2"),)),  # a number matches as text: 2.0 does not
        ('a1="LD PRELOAD"', (('a1="LD PRELOAD"', "a1=LD PRELOAD"),)),  # extracted as written
        ("comm=CAFÉ", (('comm="CAF', "comm=CAF"),)),  # LOWER folds É: only the ASCII prefix
        ("CAFÉ-au-lait", (("-au-lait",),)),  # a term: its longest ASCII run
        ("NOT comm=whoami", ()),
        ("comm!=whoami", ()),
    ],
)
def test_field_values_are_raw_needles_in_the_sources_spelling(
    terms: str, needles: tuple[Any, ...]
) -> None:
    from escudo.datamodels.normalize import raw_events_filter
    from escudo.sources.registry import get_sourcetype

    requirements = compile_search(f"sourcetype=linux:audit {terms}").requirements[RAW_EVENTS]
    assert requirements[0] == (("sourcetype", "linux:audit"),)
    found = raw_events_filter(get_sourcetype("linux:audit"), requirements)
    assert found is not None
    assert tuple(tuple(sorted(c)) for c in found.clauses) == needles


def test_sysmon_field_values_are_needles_around_its_xml() -> None:
    from escudo.datamodels.normalize import raw_events_filter
    from escudo.sources.registry import get_sourcetype

    spl = "sourcetype=sysmon:linux EventID=1 Image=/usr/bin/* ngrok"
    requirements = compile_search(spl).requirements[RAW_EVENTS]
    found = raw_events_filter(get_sourcetype("sysmon:linux"), requirements)
    assert found is not None and found.clauses == (
        ("EventID>1<", "EventID'>1<", 'EventID">1<'),
        ("Image>/usr/bin/", "Image'>/usr/bin/", 'Image">/usr/bin/'),
        ("ngrok",),
    )
    assert raw_events_filter(get_sourcetype("linux:audit"), requirements) is None


def test_an_error_in_a_foreach_body_points_at_the_body() -> None:
    spl = "sourcetype=linux:audit | stats count as n_a | foreach n_* [eval x=nosuch(<<FIELD>>)]"
    with pytest.raises(UnsupportedSplError) as caught:
        compile_search(spl)
    assert caught.value.message.startswith("in foreach body for n_a: unknown or unsupported")
    assert spl[caught.value.offset : caught.value.end] == "eval x=nosuch(<<FIELD>>)"
