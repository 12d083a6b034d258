"""``escudo watch --schedule``: arrivals ingested into the store, each detection run on its cron
over its event-time window, overlapping windows suppressed, a scheduled run repeated once after a
crash. The clock is the loop's own (a function the test drives), not the machine's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from watch_helpers import NGROK, SAMPLE, TailFile, counts, log_part, read_jsonl

from escudo._session import HuntRun, Session
from escudo.content.loader import load_content
from escudo.errors import ContentError
from escudo.outputs import OutputOptions
from escudo.watch.loop import Runner
from escudo.watch.outputs import FileOutput
from escudo.watch.schedule import Cron, ScheduleLoop, schedule_of
from escudo.watch.state import StateDir

BUILTIN = Path(__file__).parents[2] / "src/escudo/content/builtin/detections/endpoint"


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def content_every(tmp_path: Path, cron: str, throttling: str = "") -> Path:
    """User content: the seed detection scheduled on ``cron`` over [-70m@m, -10m@m)."""
    folder = tmp_path / "content" / "detections"
    folder.mkdir(parents=True)
    text = (BUILTIN / "linux_ngrok_reverse_proxy_usage.yml").read_text()
    text += (
        "deployment:\n  scheduling:\n"
        f"    cron_schedule: '{cron}'\n    earliest_time: -70m@m\n    latest_time: -10m@m\n"
    )
    (folder / "ngrok.yml").write_text(text + throttling)
    return tmp_path / "content"


def loop_for(
    tmp_path: Path, clock: Clock, content: Path | None, out_cls: type = FileOutput
) -> ScheduleLoop:
    dirs = [content] if content is not None else []
    runner = Runner(
        lambda: Session(content_dirs=dirs, detections=[NGROK], store=tmp_path / "store")
    )
    output = out_cls(tmp_path / "alerts.jsonl", "jsonl", "results", OutputOptions())
    return ScheduleLoop(
        [TailFile(tmp_path / "app.log")], runner, [output], StateDir(tmp_path / "state"),
        clock=clock,
    )  # fmt: skip


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, 11, hour, minute, tzinfo=UTC)  # the sample's events: 09:14-09:15


def drain(loop: ScheduleLoop) -> None:
    while loop.step():
        pass


def test_cron_and_schedule_defaults() -> None:
    ngrok = load_content().detections[NGROK]
    schedule = schedule_of(ngrok)
    assert (schedule.cron.text, schedule.earliest, schedule.latest) == (
        "0 * * * *",
        "-70m@m",
        "-10m@m",
    )
    assert schedule.window(at(10)) == (at(8, 50), at(9, 50))
    assert Cron("0 0 * * 0").matches(datetime(2024, 3, 10, tzinfo=UTC))  # a Sunday
    with pytest.raises(ContentError, match="expected 5 fields"):
        Cron("* * *")


def test_each_run_sees_its_event_time_window_once(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_bytes(log_part(0))
    clock = Clock(at(9, 20))
    loop = loop_for(tmp_path, clock, None)
    loop.start()
    drain(loop)  # ingested; no run is due yet (schedules start now)
    assert read_jsonl(tmp_path / "alerts.jsonl") == []
    clock.moment = at(11, 30)  # 10:00 covers 08:50-09:50; 11:00 covers 09:50-10:50
    drain(loop)
    loop.close()
    rows = read_jsonl(tmp_path / "alerts.jsonl")
    expected = counts(Session(detections=[NGROK]).hunt([SAMPLE]).emitted()["results"])
    assert sum(counts(rows).values()) == sum(expected.values())
    assert len(rows) == len(expected)
    last = StateDir(tmp_path / "state").committed().extra["schedule"]
    assert last == {NGROK: at(11).isoformat()}


def test_overlapping_windows_do_not_alert_twice_and_late_events_count(tmp_path: Path) -> None:
    content = content_every(tmp_path, "*/20 * * * *")  # windows of 60 min every 20 min
    (tmp_path / "app.log").write_bytes(log_part(0))
    clock = Clock(at(9, 50))
    loop = loop_for(tmp_path, clock, content)
    loop.start()
    drain(loop)
    clock.moment = at(10, 45)  # runs 10:00 [08:50, 09:50), 10:20 [09:10, 10:10), 10:40
    drain(loop)
    first = read_jsonl(tmp_path / "alerts.jsonl")
    assert first and len(first) == len({tuple(sorted(r.items())) for r in first})
    # A late event: it happened at 10:05 (inside the 11:00 run's window) but arrives now.
    late = log_part(1).replace(b"2024-03-11T09:15", b"2024-03-11T10:05")
    late = late.replace(b"2024-03-11 09:15", b"2024-03-11 10:05")
    with open(tmp_path / "app.log", "ab") as fh:
        fh.write(late)
    drain(loop)
    clock.moment = at(11, 10)
    drain(loop)
    loop.close()
    rows = read_jsonl(tmp_path / "alerts.jsonl")
    assert {r["dest"] for r in rows[len(first) :]} == {"web-1"}  # the late rows, once


def test_a_scheduled_run_interrupted_is_repeated_once(tmp_path: Path) -> None:
    class Crash(Exception):
        pass

    class CrashOnce(FileOutput):
        def deliver(self, batch: int, run: HuntRun) -> None:
            super().deliver(batch, run)
            if any(r.rows.num_rows for r in run.results):
                raise Crash

    (tmp_path / "app.log").write_bytes(log_part(0))
    clock = Clock(at(9, 20))
    first = loop_for(tmp_path, clock, None, CrashOnce)
    first.start()
    drain(first)
    clock.moment = at(10, 5)
    with pytest.raises(Crash):
        drain(first)
    first.close()
    second = loop_for(tmp_path, clock, None)
    second.start()
    drain(second)
    second.close()
    rows = read_jsonl(tmp_path / "alerts.jsonl")
    assert rows and len(rows) == len({tuple(sorted(r.items())) for r in rows})
    assert StateDir(tmp_path / "state").committed().extra["schedule"][NGROK] == at(10).isoformat()


def test_the_same_bytes_arriving_twice_are_ingested_twice(tmp_path: Path) -> None:
    """The second batch's spool file gets the first one's inode back (removed at commit) and
    starts with the same bytes: ingest must not take it for the file it already read."""
    part = log_part(0)
    (tmp_path / "app.log").write_bytes(part)
    clock = Clock(at(9, 20))
    loop = loop_for(tmp_path, clock, None)
    loop.start()
    drain(loop)
    with open(tmp_path / "app.log", "ab") as fh:
        fh.write(part)
    drain(loop)
    clock.moment = at(10, 5)
    drain(loop)
    loop.close()
    rows = read_jsonl(tmp_path / "alerts.jsonl")
    assert rows and {r["count"] for r in rows} == {2}


def test_a_run_before_anything_arrived_finds_nothing_and_moves_on(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_bytes(b"")
    clock = Clock(at(9, 20))
    loop = loop_for(tmp_path, clock, None)
    loop.start()
    drain(loop)
    clock.moment = at(10, 1)
    drain(loop)  # the 10:00 run over a store nothing was ingested into
    loop.close()
    assert not (tmp_path / "store").exists()
    assert StateDir(tmp_path / "state").committed().extra["schedule"][NGROK] == at(10).isoformat()


def test_a_raw_search_is_scheduled_over_the_raw_events_ingested_for_it(tmp_path: Path) -> None:
    """A detection that starts from events runs over the raw events the schedule's ingest kept
    for it (before, the store kept none: the run found nothing)."""
    folder = tmp_path / "content" / "detections"
    folder.mkdir(parents=True)
    text = (BUILTIN / "linux_ngrok_reverse_proxy_usage.yml").read_text()
    start = text.index("search: ")
    end = text.index("\n", text.index("search: ") + 8)
    while text[end + 1 : end + 3] == "  ":  # a folded search's next lines
        end = text.index("\n", end + 1)
    search = "search: 'sourcetype=sysmon:linux EventID=1 ngrok | stats count by host Image'"
    text = text[:start] + search + text[end:]
    text = text.replace(f"name: {NGROK}", "name: Raw Ngrok").replace("id: bc84d574", "id: 0c84d574")
    text += "deployment:\n  scheduling:\n    cron_schedule: '0 * * * *'\n"
    text += "    earliest_time: -70m@m\n    latest_time: -10m@m\n"
    (folder / "raw_ngrok.yml").write_text(text)
    (tmp_path / "app.log").write_bytes(log_part(0))
    runner = Runner(
        lambda: Session(
            content_dirs=[tmp_path / "content"], detections=["Raw Ngrok"], store=tmp_path / "store"
        )
    )
    output = FileOutput(tmp_path / "alerts.jsonl", "jsonl", "results", OutputOptions())
    clock = Clock(at(9, 20))
    loop = ScheduleLoop(
        [TailFile(tmp_path / "app.log")], runner, [output], StateDir(tmp_path / "state"),
        clock=clock,
    )  # fmt: skip
    loop.start()
    drain(loop)
    clock.moment = at(10, 30)
    drain(loop)
    loop.close()
    rows = read_jsonl(tmp_path / "alerts.jsonl")
    (tmp_path / "part.log").write_bytes(log_part(0))
    session = Session(content_dirs=[tmp_path / "content"], detections=["Raw Ngrok"])
    expected = counts(session.hunt([tmp_path / "part.log"]).emitted()["results"])
    assert expected and counts(rows) == expected
