"""Raw source fields -> CIM fields, declared as data: one table per (sourcetype, dataset).

A derivation says how one CIM field is computed from a raw record: ``Raw`` copies a field,
``Basename`` keeps the text after the last ``/``, ``Lower`` lower-cases, ``Const`` is a constant,
``Lookup`` translates values through a table. The dataset's own calculated fields (the "unknown"
fills) are in ``CALCULATED`` and apply to every sourcetype. ``normalize.py`` evaluates all of it
vectorised with pyarrow compute.

Sources: CIM 6.4.0 ``Endpoint.json`` / ``Network_Traffic.json`` (aplura/splunk-sa-cim 254c447b,
337e5bba) via ../shared/reference/cim-endpoint.md; raw -> CIM pairs from security_content
``data_sources/sysmon_for_linux_eventid_1.yml`` ``field_mappings`` and linux-telemetry.md section 2.

>>> m = get_mapping("sysmon:linux", "Endpoint.Processes")
>>> sorted(m.record_types), dict(m.fields)["process_name"]
(['1'], Basename(field='Image'))
"""

from __future__ import annotations

from dataclasses import dataclass

from escudo.errors import UnsupportedSplError


@dataclass(frozen=True)
class Raw:
    field: str


@dataclass(frozen=True)
class Basename:
    field: str


@dataclass(frozen=True)
class Lower:
    field: str


@dataclass(frozen=True)
class Const:
    value: str


@dataclass(frozen=True)
class Lookup:
    field: str
    table: tuple[tuple[str, str], ...]


Derivation = Raw | Basename | Lower | Const | Lookup


@dataclass(frozen=True)
class Mapping:
    """How one sourcetype fills one CIM dataset: which records, and each CIM field's derivation."""

    sourcetype: str
    dataset: str
    record_types: frozenset[str] | None  # e.g. Sysmon EventIDs "1"; None = every record
    fields: tuple[tuple[str, Derivation], ...]
    host: str = "Computer"  # raw field used when the line carried no syslog host
    time: str = "SystemTime"  # raw field holding the event time (ISO 8601 UTC text)

    @property
    def raw_fields(self) -> tuple[str, ...]:
        """The raw fields the mapping reads, in first-use order (what the extractor must fetch)."""
        names = [self.host, self.time]
        names += [d.field for _, d in self.fields if not isinstance(d, Const)]
        return tuple(dict.fromkeys(names))


SYSMON = "sysmon:linux"

# Fields shared by every Sysmon dataset (the subject process). CIM's vendor_product calculation
# falls back to the sourcetype when an event has no vendor/product fields (Endpoint.json
# "vendor_product" case(); the Sysmon for Linux TA's own props are not public).
_SYSMON_COMMON: tuple[tuple[str, Derivation], ...] = (
    ("dest", Raw("Computer")),
    ("user", Raw("User")),
    ("process_path", Raw("Image")),
    ("process_name", Basename("Image")),
    ("process_exec", Basename("Image")),
    ("process_id", Raw("ProcessId")),
    ("process_guid", Raw("ProcessGuid")),
    ("vendor_product", Const(SYSMON)),
)

_PROCESSES = (
    *_SYSMON_COMMON,
    # OCSF->CIM add-on, class 1007 Process Activity: a launch maps to action="allowed".
    ("action", Const("allowed")),
    ("os", Const("Linux")),
    ("process", Raw("CommandLine")),
    ("process_current_directory", Raw("CurrentDirectory")),
    ("process_hash", Raw("Hashes")),
    # Endpoint.Processes baseSearch: eval process_integrity_level=lower(process_integrity_level)
    ("process_integrity_level", Lower("IntegrityLevel")),
    ("original_file_name", Raw("OriginalFileName")),
    ("parent_process", Raw("ParentCommandLine")),
    ("parent_process_name", Basename("ParentImage")),
    ("parent_process_path", Raw("ParentImage")),
    ("parent_process_exec", Basename("ParentImage")),
    ("parent_process_id", Raw("ParentProcessId")),
    ("parent_process_guid", Raw("ParentProcessGuid")),
    ("parent_user", Raw("ParentUser")),
    # user_id stays NULL: Sysmon for Linux logs LogonId = the audit login uid (auid), not the uid of
    # User (linux-telemetry.md 1.5: sudo shows User=root, LogonId=1000), so it is not "where known".
)

_FILESYSTEM = (
    *_SYSMON_COMMON,
    # EventID 11 FileCreate, 23 FileDelete: Endpoint.Filesystem expected actions created/deleted.
    ("action", Lookup("EventID", (("11", "created"), ("23", "deleted")))),
    ("file_path", Raw("TargetFilename")),
    ("file_name", Basename("TargetFilename")),
    ("file_create_time", Raw("CreationUtcTime")),
    ("file_hash", Raw("Hashes")),
)

_NETWORK = (
    *(item for item in _SYSMON_COMMON if item[0] not in ("dest", "process_exec")),
    # A logged connection happened: CIM Network_Traffic action "allowed" (expected allowed|blocked|teardown).
    ("action", Const("allowed")),
    ("src", Raw("SourceIp")),
    ("src_ip", Raw("SourceIp")),
    ("src_port", Raw("SourcePort")),
    ("src_host", Raw("SourceHostname")),
    ("dest", Raw("DestinationIp")),
    ("dest_ip", Raw("DestinationIp")),
    ("dest_port", Raw("DestinationPort")),
    ("dest_host", Raw("DestinationHostname")),
    ("transport", Lower("Protocol")),
    # Initiated=true: this host opened the connection (Sysmon schema "Initiated").
    ("direction", Lookup("Initiated", (("true", "outbound"), ("false", "inbound")))),
)

MAPPINGS: dict[tuple[str, str], Mapping] = {
    (m.sourcetype, m.dataset): m
    for m in (
        Mapping(SYSMON, "Endpoint.Processes", frozenset({"1"}), _PROCESSES),
        Mapping(SYSMON, "Endpoint.Filesystem", frozenset({"11", "23"}), _FILESYSTEM),
        Mapping(SYSMON, "Network_Traffic.All_Traffic", frozenset({"3"}), _NETWORK),
    )
}

# CIM calculated fields per dataset: missing or "" becomes "unknown" (if(isnull(f) OR f="","unknown",f)).
# Endpoint.json Processes and Filesystem, Network_Traffic.json All_Traffic (fillnull_* calculations).
FILL_UNKNOWN: dict[str, tuple[str, ...]] = {
    "Endpoint.Processes": (
        "dest", "original_file_name", "parent_process", "parent_process_name", "parent_user",
        "process", "process_name", "user",
    ),
    "Endpoint.Filesystem": (
        "action", "dest", "file_acl", "file_hash", "file_name", "file_path", "parent_process",
        "parent_process_name", "process", "process_name", "user",
    ),
    "Network_Traffic.All_Traffic": ("action", "dest", "src", "transport", "user"),
}  # fmt: skip

# Network_Traffic.json: if(isnum(dest_port),dest_port,0), same for src_port.
FILL_ZERO_IF_NOT_NUMBER: dict[str, tuple[str, ...]] = {
    "Network_Traffic.All_Traffic": ("dest_port", "src_port"),
}

# Endpoint.json: process_name / parent_process_name fall back to the first word of the command
# line (process / parent_process) when empty; the regexes are CIM's, lookahead rewritten for RE2.
NAME_FROM_COMMAND: dict[str, tuple[tuple[str, str], ...]] = {
    "Endpoint.Processes": (("process_name", "process"), ("parent_process_name", "parent_process")),
    "Endpoint.Filesystem": (("process_name", "process"), ("parent_process_name", "parent_process")),
}


def get_mapping(sourcetype: str, dataset: str) -> Mapping:
    """The mapping of a sourcetype into a dataset (dataset name compared case-insensitively)."""
    for (st, ds), mapping in MAPPINGS.items():
        if st == sourcetype and ds.lower() == dataset.lower():
            return mapping
    raise UnsupportedSplError(f"no mapping from sourcetype {sourcetype!r} to data set {dataset!r}")
