"""CIM datasets escudo knows, with their fields.

Source: Splunk_SA_CIM 6.4.0 ``default/data/models/Endpoint.json`` (public mirror aplura/splunk-sa-cim,
commit 254c447b), summarised in ``../shared/reference/cim-endpoint.md``. Every dataset inherits
``_time, host, source, sourcetype`` from BaseSearch. All fields are strings except ``_time``
(a UTC timestamp), as in Splunk, where every extracted value is text until compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from escudo.errors import UnsupportedSplError
from escudo.sources.base import RAW_EVENTS

BASE_FIELDS = ("_time", "host", "source", "sourcetype")

_PROCESS_FIELDS = (
    "action", "cpu_load_percent", "dest", "mem_used", "original_file_name", "os",
    "parent_process", "parent_process_exec", "parent_process_guid", "parent_process_hash",
    "parent_process_id", "parent_process_name", "parent_process_path", "parent_user",
    "process", "process_current_directory", "process_exec", "process_guid", "process_hash",
    "process_id", "process_integrity_level", "process_name", "process_path",
    "user", "user_id", "vendor_product",
)  # fmt: skip

_FILESYSTEM_FIELDS = (
    "action", "dest", "file_access_time", "file_acl", "file_create_time", "file_hash",
    "file_modify_time", "file_name", "file_path", "file_size", "parent_process",
    "parent_process_exec", "parent_process_guid", "parent_process_id", "parent_process_name",
    "parent_process_path", "process", "process_exec", "process_guid", "process_id",
    "process_name", "process_path", "user", "vendor_product",
)  # fmt: skip

# CIM Network_Traffic.All_Traffic (Network_Traffic.json), the fields Sysmon EventID 3 can fill.
_NETWORK_FIELDS = (
    "action", "app", "dest", "dest_ip", "dest_port", "direction", "protocol", "src", "src_ip",
    "src_port", "transport", "user", "vendor_product", "process_id", "process_guid",
    "process_name", "process_path", "dest_host", "src_host",
)  # fmt: skip

# Risk.All_Risk as ES writes it (escu-semantics.md section 6).
_RISK_FIELDS = (
    "risk_object", "risk_object_type", "risk_score", "calculated_risk_score",
    "normalized_risk_object", "risk_message", "search_name", "orig_sid", "analyticstories",
    "annotations.mitre_attack", "annotations.mitre_attack.mitre_technique_id",
    "annotations.mitre_attack.mitre_technique", "annotations.mitre_attack.mitre_tactic",
    "annotations.mitre_attack.mitre_tactic_id", "annotations._all", "threat_object",
    "threat_object_type", "risk_event_id", "user", "dest",
)  # fmt: skip
# The Risk fields ES writes as multivalue (escu-semantics.md section 6: threat objects ride along as
# multivalue, annotations are lists); SQL VARCHAR[].
_RISK_MULTIVALUE = frozenset({
    "threat_object", "threat_object_type", "analyticstories", "annotations.mitre_attack",
    "annotations.mitre_attack.mitre_technique_id", "annotations.mitre_attack.mitre_technique",
    "annotations.mitre_attack.mitre_tactic", "annotations.mitre_attack.mitre_tactic_id",
    "annotations._all",
})  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """A CIM dataset, addressed in SPL as ``<model>.<object>`` (``Endpoint.Processes``)."""

    model: str
    object_name: str
    fields: tuple[str, ...]
    multivalue: frozenset[str] = frozenset()  # fields held as lists (VARCHAR[])

    @property
    def name(self) -> str:
        return f"{self.model}.{self.object_name}"

    @property
    def all_fields(self) -> tuple[str, ...]:
        return BASE_FIELDS + self.fields

    @property
    def relation(self) -> str:
        return relation_name(self.name)


def relation_name(dataset: str) -> str:
    """The SQL relation (table or view) that holds a dataset's rows.

    >>> relation_name("Endpoint.Processes")
    'dm_endpoint_processes'
    """
    return "dm_" + dataset.replace(".", "_").lower()


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("Endpoint", "Processes", _PROCESS_FIELDS),
        Dataset("Endpoint", "Filesystem", _FILESYSTEM_FIELDS),
        Dataset("Network_Traffic", "All_Traffic", _NETWORK_FIELDS),
        Dataset("Risk", "All_Risk", _RISK_FIELDS, _RISK_MULTIVALUE),
    )
}


@dataclass(frozen=True)
class RawEventsDataset(Dataset):
    """The raw events (``escudo.sources.base.RAW_EVENTS``) as a data set engines register like a
    CIM one: ``_time``, ``host``, ``source``, ``sourcetype``, then ``_raw`` and ``index``; every
    other field is extracted from ``_raw`` at search time (``escudo.sources.searchtime``)."""

    @property
    def name(self) -> str:
        return RAW_EVENTS

    @property
    def relation(self) -> str:
        return RAW_EVENTS


RAW_EVENTS_DATASET = RawEventsDataset("raw", "events", ("_raw", "index"))


def get_dataset(name: str) -> Dataset:
    """Look a dataset up by ``Model.Object`` name, case-insensitively as Splunk does
    (``raw_events``: the raw events, :data:`RAW_EVENTS_DATASET`)."""
    if name == RAW_EVENTS:
        return RAW_EVENTS_DATASET
    for key, dataset in DATASETS.items():
        if key.lower() == name.lower():
            return dataset
    raise UnsupportedSplError(f"unknown data model dataset {name!r}")
