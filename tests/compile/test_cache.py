"""The compile cache (escudo.compile.cache): what it gives back is what a compile gives, and any
change to what a compile reads (search, macro, lookup file, the compile's ``now`` when the SQL
uses it) is compiled afresh."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from escudo import Session
from escudo.compile.cache import CachedSearch, CompileCache
from escudo.content.loader import load_content
from escudo.detect.hunt import compile_detection
from escudo.errors import UnsupportedSplError

SAMPLE = Path(__file__).parents[2] / "samples" / "sysmon-linux-syslog.log"
NGROK = "Linux Ngrok Reverse Proxy Usage"
NOW = datetime(2024, 3, 12, 8, 0, tzinfo=UTC)


def _content(folder: Path, macro: str, tools: str, search: str) -> None:
    for sub in ("detections", "macros", "lookups"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "macros" / "tunnels.yml").write_text(f"name: tunnels\ndefinition: '{macro}'\n")
    (folder / "lookups" / "tools.csv").write_text(f"name,kind\n{tools},tunnel\n")
    (folder / "detections" / "t.yml").write_text(
        f"name: Tunnels\nid: 1\nsearch: '{search}'\n", encoding="utf-8"
    )


SEARCH = (
    "| tstats count from datamodel=Endpoint.Processes where `tunnels` by Processes.process_name"
    " | `drop_dm_object_name(Processes)` | lookup tools name AS process_name OUTPUT kind"
)


def _same(got: object, want: object) -> None:
    for attribute in ("spl", "datasets", "requirements", "output_fields"):
        assert getattr(got, attribute) == getattr(want, attribute), attribute
    assert got.sql() == want.sql()  # type: ignore[attr-defined]


def test_an_entry_gives_back_the_compile(tmp_path: Path) -> None:
    content = load_content()
    detection = content.detections[NGROK]
    first = CompileCache(tmp_path).compile(detection, content, now=NOW)
    assert not isinstance(first, CachedSearch)  # nothing kept yet: compiled
    again = CompileCache(tmp_path).compile(detection, content, now=NOW)  # another run
    assert isinstance(again, CachedSearch)
    _same(again, compile_detection(detection, content, now=NOW))
    # The tree and the AST are compiled again on demand: Spark's SQL, explain.
    assert again.sql("spark") == first.sql("spark")
    assert again.pipeline == first.pipeline


def test_a_change_to_what_the_compile_reads_compiles_again(tmp_path: Path) -> None:
    folder, cache = tmp_path / "content", CompileCache(tmp_path / "cache")
    _content(folder, "Processes.process_name=ngrok", "ngrok", SEARCH)
    for macro, tools, search in [
        ("Processes.process_name=ngrok", "ngrok", SEARCH),  # kept...
        ("Processes.process_name=chisel", "ngrok", SEARCH),  # a macro changed
        ("Processes.process_name=chisel", "chisel", SEARCH),  # a lookup file changed
        ("Processes.process_name=chisel", "chisel", SEARCH.replace("count", "count AS n")),
    ]:
        _content(folder, macro, tools, search)
        stat = (folder / "lookups" / "tools.csv").stat()  # written in the same tick: still new
        os.utime(folder / "lookups" / "tools.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        content = load_content([folder])
        detection = content.detections["Tunnels"]
        got = cache.compile(detection, content, now=NOW)
        _same(got, compile_detection(detection, content, now=NOW))
        assert isinstance(cache.compile(detection, content, now=NOW), CachedSearch)


def test_a_search_whose_sql_uses_now_is_never_kept(tmp_path: Path) -> None:
    folder, cache = tmp_path / "content", CompileCache(tmp_path / "cache")
    _content(folder, "earliest=-1d@d", "ngrok", SEARCH)
    content = load_content([folder])
    detection = content.detections["Tunnels"]
    later = datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    assert "2024-03-11" in cache.compile(detection, content, now=NOW).sql()
    got = cache.compile(detection, content, now=later)
    assert not isinstance(got, CachedSearch)
    assert "2025-01-01" in got.sql()
    assert not list((tmp_path / "cache").glob("*.json"))


def test_a_hunt_with_the_cache_finds_what_one_without_finds(tmp_path: Path) -> None:
    os.environ["XDG_CACHE_HOME"] = str(tmp_path)  # restored by the session fixture at the end
    tables = []
    for compile_cache in (False, True, True):
        session = Session(detections=[NGROK], now=NOW, compile_cache=compile_cache)
        tables.append(session.hunt([SAMPLE]).tables[NGROK])
    assert tables[0].num_rows == 4
    assert tables[1].equals(tables[0]) and tables[2].equals(tables[0])
    assert len(list((tmp_path / "escudo" / "compiled").glob("*.json"))) == 1


def test_entries_not_used_for_a_month_are_pruned_once_a_day(tmp_path: Path) -> None:
    content = load_content()
    cache = CompileCache(tmp_path)
    cache.compile(content.detections[NGROK], content, now=NOW)  # written, and a first prune
    kept = list(tmp_path.glob("*.json"))
    assert len(kept) == 1
    month = 31 * 86400
    old = tmp_path / ("0" * 64 + ".json")
    old.write_text("{}")
    stale = kept[0].stat().st_mtime - month
    os.utime(old, (stale, stale))
    assert cache.prune() == 0  # pruned less than a day ago: nothing looked at
    assert old.exists()
    assert cache.prune(now=kept[0].stat().st_mtime + 2 * 86400) == 1  # a day later
    assert not old.exists() and kept[0].exists()


def test_a_read_entry_counts_as_used(tmp_path: Path) -> None:
    content = load_content()
    detection = content.detections[NGROK]
    CompileCache(tmp_path).compile(detection, content, now=NOW)
    (entry,) = tmp_path.glob("*.json")
    os.utime(entry, (0, 0))
    assert isinstance(CompileCache(tmp_path).compile(detection, content, now=NOW), CachedSearch)
    assert entry.stat().st_mtime > 0


def test_a_search_that_does_not_compile_is_kept_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "content"
    _content(folder, "Processes.process_name=ngrok", "ngrok", SEARCH + " | map search=x")
    content = load_content([folder])
    detection = content.detections["Tunnels"]
    with pytest.raises(UnsupportedSplError) as first:
        CompileCache(tmp_path / "cache").compile(detection, content, now=NOW)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def compiled(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again: the kept error was not used")

    monkeypatch.setattr("escudo.detect.hunt.compile_detection", compiled)
    with pytest.raises(UnsupportedSplError) as again:  # another run: no compile
        CompileCache(tmp_path / "cache").compile(detection, content, now=NOW)
    assert str(again.value) == str(first.value)
    assert again.value.render() == first.value.render()  # the caret excerpt too
    assert (again.value.line, again.value.column) == (first.value.line, first.value.column)


def test_results_over_no_rows_are_kept_per_engine(tmp_path: Path) -> None:
    content = load_content()
    detection = content.detections[NGROK]
    cache = CompileCache(tmp_path)
    cache.compile(detection, content, now=NOW)
    search = cache.compile(detection, content, now=NOW)
    assert isinstance(search, CachedSearch)
    none = pa.table({"n": pa.array([], pa.int64()), "name": pa.array([], pa.string())})
    assert search.empty_result("duckdb 1") is None
    search.keep_empty_result("duckdb 1", none)
    kept = search.empty_result("duckdb 1")
    assert kept is not None and kept.num_rows == 0 and kept.schema.equals(none.schema)
    assert search.empty_result("duckdb 2") is None  # another engine version: run again
    one = pa.table({"count": [0]})
    search.keep_empty_result("duckdb 2", one)  # rows over no rows (stats count): never kept
    assert search.empty_result("duckdb 2") is None


def test_a_hunt_with_results_over_no_rows_kept_finds_the_same(tmp_path: Path) -> None:
    os.environ["XDG_CACHE_HOME"] = str(tmp_path)  # restored by the session fixture at the end
    runs = []
    for _ in range(3):  # compiled; kept; every search over no rows from the cache
        session = Session(now=NOW)
        runs.append(session.hunt([SAMPLE]).tables)
    assert runs[0].keys() == runs[1].keys() == runs[2].keys()
    assert any(t.num_rows == 0 for t in runs[0].values())  # some ran over no rows
    for name, table in runs[0].items():
        assert runs[1][name].equals(table) and runs[2][name].equals(table), name
    assert list((tmp_path / "escudo" / "compiled").glob("*.empty-*.json"))
