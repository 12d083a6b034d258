"""Elastic Common Schema NDJSON (sourcetype ``ecs:json``): Elastic Defend, Elastic Agent, Auditbeat.

One ECS document per line (what Elastic Defend's ``logs-endpoint.events.*`` data streams, Elastic
Agent and Auditbeat write to a file output or an export). Raw fields are the documents' dotted
paths (``process.parent.name``, see ``jsonsource``); the time is ``@timestamp``, the host
``host.name``. Record types are ``<event.category>:<event.type>`` pairs (ECS categorization
fields, both arrays): ``process:start``, ``file:creation``, ``network:start``...; Elastic Defend's
``fork`` events (a process start that runs its parent's image, ``event.action`` ``fork``) are
``process:fork`` instead of ``process:start``. The raw field ``record_type`` (computed, not an ECS
field) holds the event's type among those read. Mappings: ``datamodels/mappings.py`` (ECS section).

An input is ECS when its first JSON object has ``@timestamp`` and ``ecs.version`` or
``event.category`` (ECS field reference: ``@timestamp`` and ``ecs.version`` are required core
fields; ``event.category`` is what a categorized event carries).

>>> EcsSource().sniff(b'{"@timestamp": "2026-10-14T09:55:00Z", "ecs": {"version": "8.10.0"}}\\n')
True
>>> sorted(EcsSource.types_of({"event.category": "process", "event.type": "start"}))
['process:start']
"""

from __future__ import annotations

from typing import Any

from escudo.sources.jsonsource import JsonSource, iso_text

SOURCETYPE = "ecs:json"
SOURCE = "ecs"

# The raw fields of the ``raw`` pseudo data set: what the mappings read, and the categorization.
ALL_FIELDS: tuple[str, ...] = (
    "record_type", "@timestamp", "ecs.version", "agent.type", "event.module", "event.dataset", "event.kind",
    "event.category", "event.type", "event.action", "event.outcome", "host.name",
    "host.hostname", "host.os.name", "host.os.type", "user.name", "user.id",
    "process.pid", "process.entity_id", "process.name", "process.executable",
    "process.command_line", "process.args", "process.working_directory", "process.hash.sha256",
    "process.pe.original_file_name", "process.parent.pid", "process.parent.entity_id",
    "process.parent.name", "process.parent.executable", "process.parent.command_line",
    "process.parent.user.name", "file.path", "file.name", "file.hash.sha256",
    "source.ip", "source.port", "source.domain", "destination.ip", "destination.port",
    "destination.domain", "network.transport", "network.direction", "message",
    "SystemTime", "Computer",
)  # fmt: skip


class EcsSource(JsonSource):
    """ECS NDJSON as a :class:`escudo.sources.base.Source`."""

    name = SOURCETYPE
    source = SOURCE
    all_fields: tuple[str, ...] = ALL_FIELDS
    type_fields = ("event.category", "event.type", "event.action")
    host_field = "host.name"
    time_field = "@timestamp"
    record_field = "record_type"  # computed: not an ECS field

    @staticmethod
    def time_text(text: str) -> str | None:
        return iso_text(text)

    @staticmethod
    def types_of(flat: dict[str, str]) -> frozenset[str]:
        """``category:type`` for every pair of the two arrays (multivalues: one per line)."""
        categories = flat.get("event.category", "").split("\n")
        types = flat.get("event.type", "").split("\n")
        fork = flat.get("event.action") == "fork"
        return frozenset(
            f"{c}:fork" if fork and c == "process" and t == "start" else f"{c}:{t}"
            for c in categories
            for t in types
        )

    @staticmethod
    def is_event(obj: dict[str, Any]) -> bool:
        return "@timestamp" in obj

    def is_ours(self, obj: dict[str, Any]) -> bool:
        if "@timestamp" not in obj:
            return False
        ecs, event = obj.get("ecs"), obj.get("event")
        return (
            "ecs.version" in obj
            or "event.category" in obj
            or (isinstance(ecs, dict) and "version" in ecs)
            or (isinstance(event, dict) and "category" in event)
        )
