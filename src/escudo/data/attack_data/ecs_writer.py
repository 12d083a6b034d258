"""Render Sysmon-for-Linux events as Elastic Common Schema NDJSON, as Elastic Defend writes it.

Used only to (re)generate the bundled attack data (``generate_edr_json.py``); escudo never imports
it at run time. One JSON object per line, the shape of an Elastic Defend (Elastic Agent endpoint
integration) document on Linux, ECS 8.x (sources: the ECS field reference, elastic.co/guide/en/ecs,
Process, Event, File, Source/Destination, Network and Host fields; the ``endpoint.events.*`` data
streams of Elastic Defend):

* process start (Sysmon EventID 1): ``event.category ["process"]``, ``event.type ["start"]``,
  ``event.action "exec"``, ``process.*`` with ``process.parent.*``, ``user.name``;
* process end (EventID 5): ``event.type ["end"]``, ``event.action "end"``;
* file creation (EventID 11) and deletion (23): ``event.category ["file"]``, ``event.type``
  and ``event.action`` ``creation`` / ``deletion``, ``file.path`` / ``file.name`` /
  ``file.directory``;
* network connection (EventID 3): ``event.category ["network"]``, ``event.type ["start"]``,
  ``event.action "connection_attempted"``, ``source.*``, ``destination.*``,
  ``network.transport``, ``network.direction "egress"``.

``@timestamp`` is the activity time (Sysmon ``UtcTime``, milliseconds, ``Z``). Values are plain text
(JSON escapes only); Sysmon's ``-`` (no value) becomes an absent field. ``process.args`` is the
command line split on spaces (Sysmon joins argv with single spaces, so that is what it knows).

Example::

    >>> from event_list import read_events
    >>> line = ('<Event><System><EventID>1</EventID><Computer>h</Computer></System><EventData>'
    ...     '<Data Name="UtcTime">2026-10-14 09:55:00.100</Data><Data Name="Image">/bin/ls</Data>'
    ...     '<Data Name="CommandLine">ls &gt; f</Data><Data Name="User">root</Data></EventData></Event>')
    >>> doc = json.loads(render_ecs(read_events([line]))[0])
    >>> doc["@timestamp"], doc["process"]["command_line"], doc["event"]["type"]
    ('2026-10-14T09:55:00.100Z', 'ls > f', ['start'])
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from event_list import Event, basename, dirname

ECS_VERSION = "8.10.0"
AGENT_VERSION = "8.15.2"


def _id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _timestamp(event: Event) -> str:
    return event.time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            value = _drop_none(value)
        if value is not None and value != {}:
            out[key] = value
    return out


def _process(e: Event, prefix: str = "") -> dict[str, Any]:
    """``process`` (prefix "") or ``process.parent`` (prefix "Parent") from Sysmon fields."""
    image = e.value(f"{prefix}Image")
    command = e.value(f"{prefix}CommandLine")
    pid = e.value(f"{prefix}ProcessId")
    guid = e.value(f"{prefix}ProcessGuid")
    return {
        "pid": int(pid) if pid else None,
        "entity_id": guid.strip("{}") if guid else None,
        "executable": image,
        "name": basename(image) if image else None,
        "command_line": command,
        "args": command.split(" ") if command else None,
        "args_count": len(command.split(" ")) if command else None,
        "working_directory": e.value("CurrentDirectory") if not prefix else None,
    }


def _document(e: Event, dataset: str, action: str, category: str, type_: str) -> dict[str, Any]:
    host_id = _id("host", e.host)[:32]
    return {
        "@timestamp": _timestamp(e),
        "agent": {
            "id": str(uuid.UUID(_id("agent", e.host)[:32])),
            "type": "endpoint",
            "version": AGENT_VERSION,
        },
        "data_stream": {"dataset": dataset, "namespace": "default", "type": "logs"},
        "ecs": {"version": ECS_VERSION},
        "event": {
            "action": action,
            "category": [category],
            "created": _timestamp(e),
            "dataset": dataset,
            "id": _id(e.host, e.record_id)[:24],
            "kind": "event",
            "module": "endpoint",
            "type": [type_],
        },
        "host": {
            "hostname": e.host,
            "id": host_id,
            "name": e.host,
            "os": {"family": "ubuntu", "name": "Linux", "platform": "ubuntu", "type": "linux"},
        },
    }


def render_event(e: Event) -> dict[str, Any] | None:
    """One Sysmon event as an ECS document (None for an EventID this writer does not render)."""
    if e.event_id == 1:
        doc = _document(e, "endpoint.events.process", "exec", "process", "start")
        doc["message"] = "Endpoint process event"
        doc["process"] = {**_process(e), "parent": _process(e, "Parent")}
    elif e.event_id == 5:
        doc = _document(e, "endpoint.events.process", "end", "process", "end")
        doc["message"] = "Endpoint process event"
        doc["process"] = _process(e)
    elif e.event_id in (11, 23):
        verb = "creation" if e.event_id == 11 else "deletion"
        doc = _document(e, "endpoint.events.file", verb, "file", verb)
        path = e.data["TargetFilename"]
        doc["file"] = {"directory": dirname(path), "name": basename(path), "path": path}
        doc["message"] = "Endpoint file event"
        doc["process"] = _process(e)
    elif e.event_id == 3:
        doc = _document(e, "endpoint.events.network", "connection_attempted", "network", "start")
        doc["destination"] = {"ip": e.data["DestinationIp"], "port": int(e.data["DestinationPort"])}
        doc["message"] = "Endpoint network event"
        doc["network"] = {
            "direction": "egress" if e.data.get("Initiated") == "true" else "ingress",
            "transport": e.data["Protocol"],
            "type": "ipv6" if e.data.get("SourceIsIpv6") == "true" else "ipv4",
        }
        doc["process"] = _process(e)
        doc["source"] = {"ip": e.data["SourceIp"], "port": int(e.data["SourcePort"])}
    else:
        return None
    doc["user"] = {"name": e.value("User")}
    return _drop_none(doc)


def render_ecs(events: Iterable[Event]) -> list[str]:
    """NDJSON lines, one per rendered event, in the events' order (UTF-8 as is, no ``\\u``)."""
    docs = (render_event(e) for e in events)
    return [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in docs if d]
