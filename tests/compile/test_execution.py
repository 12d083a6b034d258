"""Each command compiled and run on a small hand-made Endpoint.Processes table (real DuckDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from escudo.compile import compile_search
from escudo.engines.duckdb import DuckDBEngine
from escudo.errors import SplSyntaxError, UnsupportedSplError

NOW = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
LOOKUPS = {"suspicious_tools": Path(__file__).parent / "lookups" / "suspicious_tools.csv"}


def t(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, 3, hour, minute, second, tzinfo=UTC)


ROWS: list[dict[str, Any]] = [
    {"_time": t(1), "dest": "web1", "user": "root", "process_name": "ngrok", "process": "ngrok http 80", "process_id": "100", "parent_process_id": "1"},
    {"_time": t(2), "dest": "web1", "user": "bob", "process_name": "NGROK", "process": "NGROK tcp 22", "process_id": "200", "parent_process_id": "1"},
    {"_time": t(3), "dest": "web2", "user": None, "process_name": "curl", "process": "curl -O http://x", "process_id": "9", "parent_process_id": "2"},
    {"_time": t(4), "dest": "db1", "user": "svc_backup", "process_name": "tar", "process": "tar czf /tmp/b.tgz /etc", "process_id": "1000", "parent_process_id": "2"},
    {"_time": t(4, 10), "dest": None, "user": "O'Brien\\", "process_name": "sh", "process": "x'); drop table x; --", "process_id": "7", "parent_process_id": "3"},
]  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as eng:
        eng.register("Endpoint.Processes", pa.Table.from_pylist(ROWS))
        yield eng


def run(engine: DuckDBEngine, spl: str) -> list[dict[str, Any]]:
    compiled = compile_search(spl, now=NOW, lookups=LOOKUPS)
    table = engine.run(compiled)
    assert table.column_names == compiled.output_fields
    return table.to_pylist()


def test_tstats_where_is_case_insensitive_with_wildcards(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        '| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok Processes.process IN ("*HTTP*", "*tcp*") by Processes.user',
    )
    assert rows == [{"Processes.user": "bob", "count": 1}, {"Processes.user": "root", "count": 1}]


def test_tstats_aggregations(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count count(Processes.user) as users_seen dc(Processes.user) as users values(Processes.process_name) "
        "min(_time) as firstTime max(_time) as lastTime min(Processes.process_id) as lo max(Processes.process_id) as hi "
        "sum(Processes.process_id) as total avg(Processes.parent_process_id) as mean earliest(Processes.user) as e "
        "latest(Processes.user) as l from datamodel=Endpoint.Processes by Processes.dest",
    )
    assert rows[0] == {
        "Processes.dest": "db1", "count": 1, "users_seen": 1, "users": 1, "values(Processes.process_name)": ["tar"],
        "firstTime": t(4).timestamp(), "lastTime": t(4).timestamp(), "lo": "1000", "hi": "1000",
        "total": 1000.0, "mean": 2.0, "e": "svc_backup", "l": "svc_backup",
    }  # fmt: skip
    web1 = rows[1]
    assert web1["values(Processes.process_name)"] == ["NGROK", "ngrok"]  # distinct, lexicographic
    assert (web1["count"], web1["users"], web1["lo"], web1["hi"], web1["e"], web1["l"]) == (
        2,
        2,
        "100",
        "200",
        "root",
        "bob",
    )
    assert [r["Processes.dest"] for r in rows] == ["db1", "web1", "web2"]  # null BY field dropped


def test_tstats_fillnull_value_keeps_missing_by_fields(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats fillnull_value=null count from datamodel=Endpoint.Processes by Processes.dest Processes.user",
    )
    assert {(r["Processes.dest"], r["Processes.user"]) for r in rows} == {
        ("web1", "root"), ("web1", "bob"), ("web2", "null"), ("db1", "svc_backup"), ("null", "O'Brien\\"),
    }  # fmt: skip


def test_tstats_where_operators(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count from datamodel=Endpoint.Processes where (Processes.process_id>=100 OR Processes.process_id<8) "
        "NOT Processes.user=root Processes.dest!=web2 by Processes.process_id",
    )
    assert [r["Processes.process_id"] for r in rows] == ["1000", "200"]


def test_tstats_time_span(engine: DuckDBEngine) -> None:
    rows = run(engine, "| tstats count from datamodel=Endpoint.Processes by _time span=2h")
    assert [(r["_time"], r["count"]) for r in rows] == [(t(0), 1), (t(2), 2), (t(4), 2)]


def test_seed_style_pipeline(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes where Processes.process_name=ngrok by Processes.dest Processes.user "
        '| rename Processes.* AS * | convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(firstTime) | search *',
    )
    assert rows == [
        {"dest": "web1", "user": "bob", "count": 1, "firstTime": "2024-05-03T02:00:00"},
        {"dest": "web1", "user": "root", "count": 1, "firstTime": "2024-05-03T01:00:00"},
    ]


def test_from_and_search_time_modifiers(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | search starthoursago=10 endhoursago=9 | table process_name",
    )
    assert rows == [{"process_name": "NGROK"}]  # 02:00 <= _time < 03:00
    rows = run(
        engine,
        "| from datamodel:Endpoint.Processes | search earliest=-8h latest=@h process_name=* | table process_name",
    )
    assert rows == [{"process_name": "sh"}, {"process_name": "tar"}]


def test_compile_time_bounds(engine: DuckDBEngine) -> None:
    compiled = compile_search(
        "| from datamodel Endpoint.Processes | table process_name", earliest=t(2), latest=t(4)
    )
    assert engine.run(compiled).to_pylist() == [{"process_name": "curl"}, {"process_name": "NGROK"}]


def test_where_and_eval_are_case_sensitive(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        '| from datamodel Endpoint.Processes | eval n=len(process_name), tag=process_name . ":" . n | where process_name="NGROK" OR n<3 | table tag',
    )
    assert rows == [{"tag": "sh:2"}, {"tag": "NGROK:5"}]


def test_where_numeric_comparison(engine: DuckDBEngine) -> None:
    rows = run(
        engine, "| from datamodel Endpoint.Processes | where process_id >= 100 | table process_id"
    )
    assert rows == [{"process_id": "1000"}, {"process_id": "200"}, {"process_id": "100"}]


def test_missing_field_is_null_not_an_error(engine: DuckDBEngine) -> None:
    rows = run(engine, "| from datamodel Endpoint.Processes | search nosuch=* | table dest")
    assert rows == []
    rows = run(
        engine, "| from datamodel Endpoint.Processes | head 1 | eval y=nosuch | table y nosuch"
    )
    assert rows == [{"y": None, "nosuch": None}]


def test_rename_wildcards_and_overwrite(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.user | rename Processes.* AS * | rename dest AS user | head 1",
    )
    assert rows == [{"user": "db1", "count": 1}]


def test_table_and_fields(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | head 1 | table process* dest | fields - process_path",
    )
    assert list(rows[0]) == [
        "process",
        "process_current_directory",
        "process_exec",
        "process_guid",
        "process_hash",
        "process_id",
        "process_integrity_level",
        "process_name",
        "dest",
    ]
    rows = run(engine, "| from datamodel Endpoint.Processes | head 1 | fields dest")
    assert list(rows[0]) == ["dest", "_time"]


def test_stats_drops_rows_without_by_field(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | stats count values(process_name) as names dc(user) by dest",
    )
    assert rows == [
        {"dest": "db1", "count": 1, "names": ["tar"], "dc(user)": 1},
        {"dest": "web1", "count": 2, "names": ["NGROK", "ngrok"], "dc(user)": 2},
        {"dest": "web2", "count": 1, "names": ["curl"], "dc(user)": 0},
    ]


def test_dedup_keeps_first_in_order(engine: DuckDBEngine) -> None:
    rows = run(engine, "| from datamodel Endpoint.Processes | dedup dest | table dest process_id")
    assert rows == [
        {"dest": "db1", "process_id": "1000"},
        {"dest": "web2", "process_id": "9"},
        {"dest": "web1", "process_id": "200"},
    ]


def test_sort_numbers_before_strings_and_stable(engine: DuckDBEngine) -> None:
    rows = run(engine, "| from datamodel Endpoint.Processes | sort process_id | table process_id")
    assert [r["process_id"] for r in rows] == ["7", "9", "100", "200", "1000"]
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | sort - parent_process_id | table parent_process_id process_id",
    )
    assert [r["process_id"] for r in rows] == ["7", "1000", "9", "200", "100"]
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | sort str(process_id) | head 2 | table process_id",
    )
    assert [r["process_id"] for r in rows] == ["100", "1000"]


def test_head_and_tail(engine: DuckDBEngine) -> None:
    rows = run(engine, "| from datamodel Endpoint.Processes | head 3 | tail 2 | table process_id")
    assert rows == [{"process_id": "9"}, {"process_id": "1000"}]


def test_rex_named_groups_and_regex(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        '| from datamodel Endpoint.Processes | rex field=process "(?<verb>http|tcp) (?<port>\\d+)" | where isnotnull(port) | table verb port',
    )
    assert rows == [{"verb": "tcp", "port": "22"}, {"verb": "http", "port": "80"}]
    rows = run(
        engine,
        '| from datamodel Endpoint.Processes | regex process_name="^(?i)ngrok$" | regex user!="^r" | table user',
    )
    assert rows == [{"user": "bob"}]


def test_fillnull(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| from datamodel Endpoint.Processes | sort process_id | head 2 | fillnull value=NA dest extra | table dest extra",
    )
    assert rows == [{"dest": "NA", "extra": "NA"}, {"dest": "web2", "extra": "NA"}]


def test_lookup_exact_match_multivalue_and_outputnew(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count from datamodel=Endpoint.Processes by Processes.process_name | rename Processes.process_name as name "
        "| lookup update=true suspicious_tools name OUTPUT category, risk AS level | table name category level",
    )
    assert rows[:3] == [
        {"name": "NGROK", "category": None, "level": None},  # exact, case-sensitive match
        {"name": "curl", "category": None, "level": None},
        {
            "name": "ngrok",
            "category": ["tunnel", "duplicate"],
            "level": ["high", "low"],
        },  # two rows match
    ]
    rows = run(
        engine,
        '| from datamodel Endpoint.Processes | head 2 | eval category=if(process_name="ngrok", "relay", "none"), '
        'tool="kept" | lookup suspicious_tools category OUTPUTNEW name AS tool, risk | table category tool risk',
    )
    assert rows == [
        {"category": "none", "tool": "kept", "risk": None},
        {"category": "none", "tool": "kept", "risk": None},
    ]
    rows = run(
        engine,
        '| from datamodel Endpoint.Processes | head 1 | eval category="relay" | lookup suspicious_tools category | table category name risk',
    )
    assert rows == [{"category": "relay", "name": "socat", "risk": "medium"}]


def test_injection_attempts_are_inert(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        """| from datamodel Endpoint.Processes | search process="*'); drop table x; --*" user="O'Brien\\\\" | eval q="'" . "\\"" | table user q""",
    )
    assert rows == [{"user": "O'Brien\\", "q": "'\""}]
    assert engine.execute("SELECT count(*) AS n FROM dm_endpoint_processes").to_pylist() == [
        {"n": 5}
    ]


def test_unsupported_option_is_not_silent() -> None:
    with pytest.raises(UnsupportedSplError) as info:
        compile_search("| tstats prestats=t count from datamodel=Endpoint.Processes")
    assert info.value.message == "tstats option prestats= is not supported"
    assert info.value.column == 10
    with pytest.raises(UnsupportedSplError) as info:
        compile_search("| where x=1")
    assert "cannot start a search; begin with | tstats, | from datamodel or events" in (
        info.value.message
    )
    # nodename= names a data model child node, not a field: it must not quietly match nothing.
    spl = "| tstats count from datamodel=Endpoint.Processes where Processes.user=x NOT nodename=Processes.Child"
    with pytest.raises(UnsupportedSplError, match="nodename") as info:
        compile_search(spl)
    assert info.value.offset == spl.index("nodename")


def test_multivalue_fields_in_where_search_and_stats(engine: DuckDBEngine) -> None:
    base = (
        "| tstats values(Processes.user) as u from datamodel=Endpoint.Processes by Processes.dest"
    )
    assert run(engine, base + ' | where u="bob" | table Processes.dest') == [
        {"Processes.dest": "web1"}
    ]
    assert run(engine, base + " | search u=SVC* | table Processes.dest") == [
        {"Processes.dest": "db1"}
    ]
    assert run(engine, base + " | stats dc(u) as n count(u) as c values(u) as all") == [
        {"n": 3, "c": 3, "all": ["bob", "root", "svc_backup"]}
    ]
    rows = run(engine, base + ' | eval r=mvfilter(match(u, "^r")) | table Processes.dest r')
    assert rows == [
        {"Processes.dest": "db1", "r": []},
        {"Processes.dest": "web1", "r": ["root"]},
        {"Processes.dest": "web2", "r": None},
    ]


@pytest.mark.parametrize("call", ['split(u, ".")', "lower(u)", 'u . "x"', 'replace(u, "a", "b")'])
def test_single_value_functions_refuse_a_multivalue_field(call: str) -> None:
    # Not SQL the engine rejects (split of VARCHAR[]) or renders as "[a, b]": a located error.
    spl = (
        "| tstats values(Processes.user) as u from datamodel=Endpoint.Processes by Processes.dest"
        f" | eval s={call}"
    )
    with pytest.raises(UnsupportedSplError, match="multivalue field is not supported") as info:
        compile_search(spl)
    assert spl.index("eval") <= info.value.offset <= spl.index(call)


def test_search_on_numbers_and_time(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest | search count>1 count IN (2, 3)",
    )
    assert rows == [{"Processes.dest": "web1", "count": 2}]
    rows = run(
        engine,
        f"| from datamodel Endpoint.Processes | search _time>={t(4).timestamp():.0f} | table process_id",
    )
    assert rows == [{"process_id": "7"}, {"process_id": "1000"}]


def test_whole_epoch_seconds_match_and_print_without_fraction(engine: DuckDBEngine) -> None:
    # _time and min(_time) are whole seconds: Splunk matches and prints "1714705200", never
    # "1714705200.0", in search, values(), concatenation and fillnull.
    epoch = f"{t(1).timestamp():.0f}"
    rows = run(
        engine,
        f"| from datamodel Endpoint.Processes | search _time={epoch} | table process_id",
    )
    assert rows == [{"process_id": "100"}]
    rows = run(
        engine,
        "| tstats min(_time) as firstTime from datamodel=Endpoint.Processes by Processes.dest "
        f'| search firstTime={epoch} | eval s=firstTime . "" | fillnull value=x firstTime '
        "| stats values(firstTime) as v by s",
    )
    assert rows == [{"s": epoch, "v": [epoch]}]
    rows = run(
        engine,
        f'| from datamodel Endpoint.Processes | regex _time="^{epoch}$" | table process_id',
    )
    assert rows == [{"process_id": "100"}]


def test_division_by_zero_is_null(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest "
        "| eval a=count/0, b=count%0, c=count/(count-count), d=count/2, e=count%2 | head 1",
    )
    assert rows == [
        {"Processes.dest": "db1", "count": 1, "a": None, "b": None, "c": None, "d": 0.5, "e": 1}
    ]


def test_index_star_matches_everything_and_named_indexes_are_unsupported(
    engine: DuckDBEngine,
) -> None:
    rows = run(
        engine, "| tstats count from datamodel=Endpoint.Processes where index=* Processes.dest=web1"
    )
    assert rows == [{"count": 2}]
    with pytest.raises(UnsupportedSplError) as info:
        compile_search("| tstats count from datamodel=Endpoint.Processes where index=main")
    assert info.value.column == 56


def test_risk_drilldown_over_multivalue_fields() -> None:
    spl = (Path(__file__).parent / "golden" / "risk_drilldown.spl").read_text(encoding="utf-8")
    events = [
        {"_time": t(10), "normalized_risk_object": "ubuntu", "search_name": "ESCU - A - Rule", "analyticstories": ["S1", "S2"], "annotations.mitre_attack.mitre_tactic": ["command-and-control"]},
        {"_time": t(11), "normalized_risk_object": "ubuntu", "search_name": "ESCU - B - Rule", "analyticstories": ["S2"], "annotations.mitre_attack.mitre_tactic": None},
        {"_time": t(11), "normalized_risk_object": "other", "search_name": "ESCU - C - Rule", "analyticstories": ["S3"]},
    ]  # fmt: skip
    with DuckDBEngine() as eng:
        eng.register("Risk.All_Risk", pa.Table.from_pylist(events))
        rows = eng.run(compile_search(spl, now=NOW)).to_pylist()
    assert rows == [
        {
            "normalized_risk_object": "ubuntu", "count": 2, "firstTime": "2024-05-03T10:00:00",
            "lastTime": "2024-05-03T11:00:00", "Search Name": ["ESCU - A - Rule", "ESCU - B - Rule"],
            "Risk Message": None, "Analytic Stories": ["S1", "S2"], "Annotations": None,
            "ATT&CK Tactics": ["command-and-control"],
        }
    ]  # fmt: skip


def test_bin_time_buckets(engine: DuckDBEngine) -> None:
    rows = run(
        engine, "| from datamodel Endpoint.Processes | bin _time span=3h | stats count by _time"
    )
    assert rows == [{"_time": t(0), "count": 2}, {"_time": t(3), "count": 3}]
    with pytest.raises(UnsupportedSplError, match="only _time"):
        compile_search("| from datamodel Endpoint.Processes | bin process_id span=10")
    with pytest.raises(UnsupportedSplError, match="no field '_time' in the results"):
        compile_search(
            "| tstats count from datamodel=Endpoint.Processes by Processes.dest | bin _time span=1h"
        )


def test_stats_by_a_multivalue_field_counts_each_value(engine: DuckDBEngine) -> None:
    rows = run(
        engine,
        "| tstats values(Processes.user) as u from datamodel=Endpoint.Processes by Processes.dest | stats count by u",
    )
    assert rows == [  # the event without dest was dropped by tstats
        {"u": "bob", "count": 1},
        {"u": "root", "count": 1},
        {"u": "svc_backup", "count": 1},
    ]


def test_earliest_and_latest_skip_events_without_the_field() -> None:
    events = [
        {"_time": t(h), "dest": "h", "user": u}
        for h, u in ((1, None), (2, "a"), (3, "b"), (4, None))
    ]
    with DuckDBEngine() as eng:
        eng.register("Endpoint.Processes", pa.Table.from_pylist(events))
        spl = "| tstats earliest(Processes.user) as e latest(Processes.user) as l from datamodel=Endpoint.Processes by Processes.dest"
        assert eng.run(compile_search(spl)).to_pylist() == [
            {"Processes.dest": "h", "e": "a", "l": "b"}
        ]


@pytest.mark.parametrize(
    ("spl", "column", "message"),
    [
        ('| from datamodel Endpoint.Processes | regex process="(ngrok"', 53, "missing ),"),
        (
            '| from datamodel Endpoint.Processes | rex field=process "(?<t>[a-z+)"',
            57,
            "character set",
        ),
        ('| from datamodel Endpoint.Processes | regex process="*ngrok"', 53, "nothing to repeat"),
    ],
)
def test_broken_regex_is_a_located_syntax_error(spl: str, column: int, message: str) -> None:
    """A regex no engine could read fails at compile time, at the pattern, not in DuckDB at run time."""
    with pytest.raises(SplSyntaxError, match="invalid regular expression") as info:
        compile_search(spl)
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (1, column)


def test_flavour_specific_regex_is_left_to_the_engine(engine: DuckDBEngine) -> None:
    """Syntax Python rejects but RE2 reads (``\\pL``, a Unicode letter) is not refused at compile time."""
    everything = run(engine, "| from datamodel Endpoint.Processes | table process_name")
    letters = run(
        engine,
        r'| from datamodel Endpoint.Processes | regex process_name="^\pL+$" | table process_name',
    )
    assert letters == [r for r in everything if r["process_name"].isalpha()] != []
