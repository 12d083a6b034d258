"""OCSF 1.x JSON lines (sourcetype ``ocsf:json``): one OCSF event object per line.

Raw fields are the events' dotted attribute paths (``process.parent_process.cmd_line``, see
``jsonsource``); the time is ``time`` (OCSF ``timestamp_t``: milliseconds since the epoch, read
into ISO 8601 UTC text), the host ``device.hostname``. The record type is ``type_uid``
(``class_uid`` * 100 + ``activity_id``, OCSF base event; computed when an event leaves it out):
``100701`` Process Activity: Launch, ``100101`` File System Activity: Create, ``400101`` Network
Activity: Open... Mappings: ``datamodels/mappings.py`` (OCSF section).

An input is OCSF when its first JSON object has ``class_uid`` and ``metadata.version`` (both
required by every OCSF class: base event ``class_uid``, Metadata object ``version``).

>>> OcsfSource().sniff(b'{"class_uid": 1007, "metadata": {"version": "1.1.0"}, "time": 1}\\n')
True
>>> sorted(OcsfSource.types_of({"class_uid": "1007", "activity_id": "1"}))
['100701']
"""

from __future__ import annotations

from typing import Any

from escudo.sources.jsonsource import JsonSource, epoch_ms_text

SOURCETYPE = "ocsf:json"
SOURCE = "ocsf"

# The raw fields of the ``raw`` pseudo data set: what the mappings read, and the classification.
ALL_FIELDS: tuple[str, ...] = (
    "time", "class_uid", "activity_id", "type_uid", "category_uid", "metadata.version",
    "metadata.product.name", "metadata.product.vendor_name", "device.hostname", "device.os.name",
    "process.pid", "process.uid", "process.name", "process.cmd_line", "process.file.path",
    "process.file.name", "process.user.name", "process.user.uid", "process.parent_process.pid",
    "process.parent_process.uid", "process.parent_process.name",
    "process.parent_process.cmd_line", "process.parent_process.file.path",
    "process.parent_process.file.name", "process.parent_process.user.name",
    "actor.process.pid", "actor.process.uid", "actor.process.name", "actor.process.cmd_line",
    "actor.process.file.path", "actor.process.file.name", "actor.user.name", "actor.user.uid",
    "file.path", "file.name", "src_endpoint.ip", "src_endpoint.port", "src_endpoint.hostname",
    "dst_endpoint.ip", "dst_endpoint.port", "dst_endpoint.hostname",
    "connection_info.protocol_name", "connection_info.protocol_num",
    "connection_info.direction_id", "disposition", "disposition_id", "message",
    "SystemTime", "Computer",
)  # fmt: skip


class OcsfSource(JsonSource):
    """OCSF JSON lines as a :class:`escudo.sources.base.Source`."""

    name = SOURCETYPE
    source = SOURCE
    all_fields: tuple[str, ...] = ALL_FIELDS
    type_fields = ("type_uid", "class_uid", "activity_id")
    host_field = "device.hostname"
    time_field = "time"
    record_field = "type_uid"  # filled from class_uid and activity_id when an event has none

    @staticmethod
    def time_text(text: str) -> str | None:
        return epoch_ms_text(text)

    @staticmethod
    def types_of(flat: dict[str, str]) -> frozenset[str]:
        type_uid = flat.get("type_uid")
        if type_uid is None:
            class_uid, activity_id = flat.get("class_uid", ""), flat.get("activity_id", "")
            if not (class_uid.isdigit() and activity_id.isdigit()):
                return frozenset()
            type_uid = str(int(class_uid) * 100 + int(activity_id))
        return frozenset((type_uid,))

    @staticmethod
    def is_event(obj: dict[str, Any]) -> bool:
        return "class_uid" in obj

    def is_ours(self, obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata")
        return "class_uid" in obj and (
            "metadata.version" in obj or (isinstance(metadata, dict) and "version" in metadata)
        )
