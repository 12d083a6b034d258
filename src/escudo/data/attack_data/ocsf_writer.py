"""Render Sysmon-for-Linux events as OCSF 1.1 JSON lines (classes 1007, 1001, 4001).

Used only to (re)generate the bundled attack data (``generate_edr_json.py``); escudo never imports
it at run time. One JSON object per line, as an OCSF producer that maps Sysmon for Linux would
write it (sources: the OCSF 1.1.0 schema, schema.ocsf.io: Process Activity, File System Activity,
Network Activity classes; Process, File, User, Device, Network Endpoint, Network Connection
Information objects):

* Sysmon EventID 1: class 1007 Process Activity, ``activity_id`` 1 Launch; ``process`` is the
  new process, ``process.parent_process`` and ``actor.process`` its parent, ``actor.user`` the
  parent's user;
* EventID 5: 1007, ``activity_id`` 2 Terminate;
* EventID 11 and 23: class 1001 File System Activity, ``activity_id`` 1 Create / 4 Delete,
  ``file``;
* EventID 3: class 4001 Network Activity, ``activity_id`` 1 Open, ``src_endpoint``,
  ``dst_endpoint``, ``connection_info`` (protocol name and number, direction 2 Outbound),
  ``disposition`` Allowed;
* every event: ``time`` in milliseconds since the epoch (OCSF ``timestamp_t``), ``type_uid`` =
  ``class_uid`` * 100 + ``activity_id``, ``metadata.version`` 1.1.0, ``metadata.product`` Sysmon
  for Linux (the producer whose events these are), ``device.hostname``.

Values are plain text; Sysmon's ``-`` becomes an absent attribute.

Example::

    >>> from event_list import read_events
    >>> line = ('<Event><System><EventID>1</EventID><Computer>h</Computer></System><EventData>'
    ...     '<Data Name="UtcTime">2026-10-14 09:55:00.100</Data><Data Name="Image">/bin/ls</Data>'
    ...     '<Data Name="CommandLine">ls &gt; f</Data><Data Name="User">root</Data></EventData></Event>')
    >>> doc = json.loads(render_ocsf(read_events([line]))[0])
    >>> doc["class_uid"], doc["type_uid"], doc["time"], doc["process"]["cmd_line"]
    (1007, 100701, 1791971700100, 'ls > f')
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from event_list import Event, basename, dirname

OCSF_VERSION = "1.1.0"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1}  # IANA protocol numbers


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            value = _drop_none(value)
        if value is not None and value != {}:
            out[key] = value
    return out


def _file(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    return {"name": basename(path), "parent_folder": dirname(path), "path": path, "type_id": 1}


def _process(e: Event, prefix: str = "") -> dict[str, Any]:
    pid = e.value(f"{prefix}ProcessId")
    image = e.value(f"{prefix}Image")
    return {
        "cmd_line": e.value(f"{prefix}CommandLine"),
        "file": _file(image),
        "name": basename(image) if image else None,
        "pid": int(pid) if pid else None,
        "uid": e.value(f"{prefix}ProcessGuid"),
        "user": {"name": e.value(f"{prefix}User")},
    }


_CLASSES = {
    # EventID: (class_uid, class_name, category_uid, category_name, activity_id, activity_name)
    1: (1007, "Process Activity", 1, "System Activity", 1, "Launch"),
    5: (1007, "Process Activity", 1, "System Activity", 2, "Terminate"),
    11: (1001, "File System Activity", 1, "System Activity", 1, "Create"),
    23: (1001, "File System Activity", 1, "System Activity", 4, "Delete"),
    3: (4001, "Network Activity", 4, "Network Activity", 1, "Open"),
}


def render_event(e: Event) -> dict[str, Any] | None:
    """One Sysmon event as an OCSF event (None for an EventID this writer does not render)."""
    if e.event_id not in _CLASSES:
        return None
    class_uid, class_name, category_uid, category_name, activity_id, activity = _CLASSES[e.event_id]
    doc: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": activity,
        "category_name": category_name,
        "category_uid": category_uid,
        "class_name": class_name,
        "class_uid": class_uid,
        "device": {
            "hostname": e.host,
            "os": {"name": "Linux", "type": "Linux", "type_id": 200},
            "type_id": 1,
        },
        "metadata": {
            "log_name": "Linux-Sysmon/Operational",
            "product": {"name": "Sysmon for Linux", "vendor_name": "Microsoft"},
            "uid": str(e.record_id),
            "version": OCSF_VERSION,
        },
        "severity": "Informational",
        "severity_id": 1,
        "time": (e.time - EPOCH) // timedelta(milliseconds=1),
        "type_name": f"{class_name}: {activity}",
        "type_uid": class_uid * 100 + activity_id,
    }
    if e.event_id == 1:
        parent = _process(e, "Parent")
        doc["actor"] = {"process": parent, "user": parent["user"]}
        doc["process"] = {**_process(e), "parent_process": parent}
        doc["process"]["file"] = _file(e.value("Image"))
    else:
        subject = _process(e)
        doc["actor"] = {"process": subject, "user": subject["user"]}
        if e.event_id == 5:
            doc["process"] = subject
        elif e.event_id in (11, 23):
            doc["file"] = _file(e.data["TargetFilename"])
        else:
            proto = e.data["Protocol"]
            outbound = e.data.get("Initiated") == "true"
            doc["connection_info"] = {
                "direction": "Outbound" if outbound else "Inbound",
                "direction_id": 2 if outbound else 1,
                "protocol_name": proto,
                "protocol_num": PROTOCOL_NUMBERS.get(proto, -1),
            }
            doc["disposition"] = "Allowed"
            doc["disposition_id"] = 1
            doc["dst_endpoint"] = {
                "ip": e.data["DestinationIp"],
                "port": int(e.data["DestinationPort"]),
            }
            doc["src_endpoint"] = {"ip": e.data["SourceIp"], "port": int(e.data["SourcePort"])}
    return _drop_none(doc)


def render_ocsf(events: Iterable[Event]) -> list[str]:
    """JSON lines, one per rendered event, in the events' order (UTF-8 as is)."""
    docs = (render_event(e) for e in events)
    return [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in docs if d]
