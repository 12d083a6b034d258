"""The event list behind a bundled Sysmon for Linux log, for the writers of other formats.

Used only to (re)generate the bundled attack data (see ``README.md`` beside this file): the ECS and
OCSF renderings (``ecs_writer.py``, ``ocsf_writer.py``) take the very events ``sysmon_writer.py``
wrote, read back from the Sysmon log with an XML parser, so every format tells the same story.
Values are decoded here (``&gt;`` is ``>``): the JSON formats carry plain text.

Example::

    >>> line = ('<Event><System><EventID>1</EventID><Computer>h</Computer></System><EventData>'
    ...     '<Data Name="UtcTime">2026-10-14 09:55:00.100</Data>'
    ...     '<Data Name="CommandLine">a &gt; b</Data></EventData></Event>')
    >>> e = read_events([line])[0]
    >>> e.event_id, e.host, e.data["CommandLine"], e.time.isoformat()
    (1, 'h', 'a > b', '2026-10-14T09:55:00.100000+00:00')
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Event:
    """One Sysmon event: its EventID, host (``Computer``), activity time (``UtcTime``, ms) and
    EventData values, decoded; Sysmon's ``-`` (no value) is kept, writers decide what it means."""

    event_id: int
    host: str
    time: datetime
    record_id: int
    data: dict[str, str]

    def value(self, name: str) -> str | None:
        """The field's value, None when Sysmon wrote ``-`` or nothing."""
        text = self.data.get(name)
        return None if text in (None, "", "-") else text


def read_events(lines: Iterable[str]) -> list[Event]:
    """Parse bare ``<Event>`` lines (as ``sysmon_writer`` writes them) in order."""
    events = []
    for line in lines:
        if not line.strip():
            continue
        root = ET.fromstring(line)
        system = root.find("System")
        assert system is not None
        data = {d.get("Name", ""): d.text or "" for d in root.iter("Data")}
        when = datetime.strptime(data["UtcTime"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        events.append(
            Event(
                event_id=int(system.findtext("EventID", "0")),
                host=system.findtext("Computer", ""),
                time=when,
                record_id=int(system.findtext("EventRecordID", "0")),
                data=data,
            )
        )
    return events


def basename(path: str) -> str:
    """The text after the last ``/``.

    >>> basename("/usr/local/bin/ngrok")
    'ngrok'
    """
    return path.rsplit("/", 1)[-1]


def dirname(path: str) -> str:
    """The folder of a path (``/`` for a file at the root).

    >>> dirname("/tmp/ngrok"), dirname("/ngrok")
    ('/tmp', '/')
    """
    head = path.rsplit("/", 1)[0]
    return head or "/"
