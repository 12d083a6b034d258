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
    record_type: str = "EventID"  # raw field holding the record type (what record_types select)

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


# -- JSON EDR sources: Elastic Common Schema and OCSF ---------------------------------------------
# One table per (sourcetype, dataset), registered below; docs/semantics.md "JSON EDR sources" gives
# each field with its source: the ECS field reference (elastic.co/guide/en/ecs, 8.x), the OCSF 1.1
# schema (schema.ocsf.io), and the OCSF-CIM Add-on for Splunk's mappings for classes 1007 and 4001
# (splunk.github.io/ocsf_cim_addon_for_splunk/mappings/). Values are plain JSON text.

ECS = "ecs:json"

# The subject process of every ECS event (ECS Process fields; user.* is the process's user).
_ECS_SUBJECT: tuple[tuple[str, Derivation], ...] = (
    ("user", Raw("user.name")),
    ("process_path", Raw("process.executable")),
    ("process_name", Raw("process.name")),
    ("process_exec", Basename("process.executable")),
    ("process_id", Raw("process.pid")),
    ("process_guid", Raw("process.entity_id")),
    # CIM vendor_product falls back to the sourcetype (as for Sysmon): ECS has no vendor/product
    # pair for an endpoint agent (observer.* describes network devices).
    ("vendor_product", Const(ECS)),
)

_ECS_PROCESSES = (
    ("dest", Raw("host.name")),
    *_ECS_SUBJECT,
    ("action", Const("allowed")),  # a process start, as for Sysmon EventID 1 (OCSF-CIM add-on)
    ("os", Raw("host.os.name")),
    ("process", Raw("process.command_line")),
    ("process_current_directory", Raw("process.working_directory")),
    ("process_hash", Raw("process.hash.sha256")),
    ("original_file_name", Raw("process.pe.original_file_name")),  # PE only: unknown on Linux
    ("parent_process", Raw("process.parent.command_line")),
    ("parent_process_name", Raw("process.parent.name")),
    ("parent_process_path", Raw("process.parent.executable")),
    ("parent_process_exec", Basename("process.parent.executable")),
    ("parent_process_id", Raw("process.parent.pid")),
    ("parent_process_guid", Raw("process.parent.entity_id")),
    ("parent_user", Raw("process.parent.user.name")),
    ("user_id", Raw("user.id")),
)

_ECS_FILESYSTEM = (
    ("dest", Raw("host.name")),
    *_ECS_SUBJECT,
    # ECS event.type -> CIM Filesystem action (expected: acl_modified|created|deleted|modified|read).
    (
        "action",
        Lookup(
            "event.type",
            (("creation", "created"), ("deletion", "deleted"), ("change", "modified")),
        ),
    ),
    ("file_path", Raw("file.path")),
    ("file_name", Raw("file.name")),
    ("file_hash", Raw("file.hash.sha256")),
)

_ECS_NETWORK = (
    *(item for item in _ECS_SUBJECT if item[0] != "process_exec"),  # not an All_Traffic field
    ("action", Const("allowed")),  # a connection the agent saw, as for Sysmon EventID 3
    ("src", Raw("source.ip")),
    ("src_ip", Raw("source.ip")),
    ("src_port", Raw("source.port")),
    ("src_host", Raw("source.domain")),
    ("dest", Raw("destination.ip")),
    ("dest_ip", Raw("destination.ip")),
    ("dest_port", Raw("destination.port")),
    ("dest_host", Raw("destination.domain")),
    ("transport", Lower("network.transport")),
    # ECS network.direction: egress/ingress seen from the host (also inbound/outbound).
    (
        "direction",
        Lookup(
            "network.direction",
            (
                ("egress", "outbound"),
                ("outbound", "outbound"),
                ("ingress", "inbound"),
                ("inbound", "inbound"),
            ),
        ),
    ),
)

OCSF = "ocsf:json"

# The actor process of OCSF File System and Network Activity (the process that acted).
_OCSF_ACTOR: tuple[tuple[str, Derivation], ...] = (
    ("user", Raw("actor.user.name")),  # OCSF-CIM add-on 4001: user = actor.user.name
    ("process_id", Raw("actor.process.pid")),  # add-on 4001: process_id = actor.process.pid
    ("process_guid", Raw("actor.process.uid")),
    ("process_name", Raw("actor.process.name")),
    ("process_path", Raw("actor.process.file.path")),
    ("vendor_product", Raw("metadata.product.name")),  # add-on: every class
)

_OCSF_PROCESSES = (
    # OCSF-CIM add-on, class 1007 -> Endpoint.Processes, field for field; process.user.uid and
    # process.parent_process.cmd_line where the add-on names process.user.id / .cmdline, which
    # OCSF's Process and User objects do not define (uid, cmd_line).
    ("dest", Raw("device.hostname")),
    ("action", Const("allowed")),
    ("os", Raw("device.os.name")),
    ("original_file_name", Raw("process.file.name")),
    ("parent_process", Raw("process.parent_process.cmd_line")),
    ("parent_process_guid", Raw("process.parent_process.uid")),
    ("parent_process_name", Raw("process.parent_process.name")),
    ("parent_process_path", Raw("process.parent_process.file.path")),
    ("process", Raw("process.cmd_line")),
    ("process_exec", Raw("process.file.name")),
    ("process_name", Raw("process.name")),
    ("process_path", Raw("process.file.path")),
    ("process_id", Raw("process.pid")),
    ("user", Raw("process.user.name")),
    ("user_id", Raw("process.user.uid")),
    ("vendor_product", Raw("metadata.product.name")),
    # Not in the add-on; the OCSF Process object has them.
    ("process_guid", Raw("process.uid")),
    ("parent_process_id", Raw("process.parent_process.pid")),
    ("parent_process_exec", Raw("process.parent_process.file.name")),
    ("parent_user", Raw("process.parent_process.user.name")),
)

_OCSF_FILESYSTEM = (
    ("dest", Raw("device.hostname")),
    *_OCSF_ACTOR,
    ("process", Raw("actor.process.cmd_line")),
    ("process_exec", Raw("actor.process.file.name")),
    # OCSF 1001 activity_id -> CIM Filesystem action (the add-on's case() for its Change mapping,
    # with CIM's expected values: Update -> modified, Rename -> modified, Set Security -> acl_modified).
    (
        "action",
        Lookup(
            "activity_id",
            (
                ("1", "created"),
                ("2", "read"),
                ("3", "modified"),
                ("4", "deleted"),
                ("5", "modified"),
                ("7", "acl_modified"),
            ),
        ),
    ),
    ("file_path", Raw("file.path")),
    ("file_name", Raw("file.name")),
)

_OCSF_NETWORK = (
    *_OCSF_ACTOR,
    # OCSF-CIM add-on 4001: action = replace(lower(disposition), "\s", "_") (one-word captions).
    ("action", Lower("disposition")),
    ("src", Raw("src_endpoint.ip")),
    ("src_ip", Raw("src_endpoint.ip")),
    ("src_port", Raw("src_endpoint.port")),
    ("src_host", Raw("src_endpoint.hostname")),
    ("dest", Raw("dst_endpoint.ip")),
    ("dest_ip", Raw("dst_endpoint.ip")),
    ("dest_port", Raw("dst_endpoint.port")),
    ("dest_host", Raw("dst_endpoint.hostname")),
    ("protocol", Raw("connection_info.protocol_name")),
    # add-on: transport = case(protocol_num==1,"icmp",==6,"tcp",==17,"udp",true(),"other")
    (
        "transport",
        Lookup("connection_info.protocol_num", (("1", "icmp"), ("6", "tcp"), ("17", "udp"))),
    ),
    # add-on: direction = case(direction_id==1,"inbound",==2,"outbound",==3,"lateral",==99,"other")
    (
        "direction",
        Lookup(
            "connection_info.direction_id",
            (("1", "inbound"), ("2", "outbound"), ("3", "lateral"), ("99", "other")),
        ),
    ),
)

# record_type: the raw field the source fills with each event's record type (sources/ecs.py,
# sources/ocsf.py).
_ECS = {"host": "host.name", "time": "@timestamp", "record_type": "record_type"}
_OCSF = {"host": "device.hostname", "time": "time", "record_type": "type_uid"}
for _m in (
    # ECS categorization (event.category:event.type): process starts, file changes, connections.
    Mapping(ECS, "Endpoint.Processes", frozenset({"process:start"}), _ECS_PROCESSES, **_ECS),
    Mapping(
        ECS, "Endpoint.Filesystem", frozenset({"file:creation", "file:deletion", "file:change"}),
        _ECS_FILESYSTEM, **_ECS,
    ),
    Mapping(ECS, "Network_Traffic.All_Traffic", frozenset({"network:start"}), _ECS_NETWORK, **_ECS),
    # OCSF type_uid: 1007 Launch; 1001 Create/Read/Update/Delete/Rename/Set Security; 4001 Open.
    Mapping(OCSF, "Endpoint.Processes", frozenset({"100701"}), _OCSF_PROCESSES, **_OCSF),
    Mapping(
        OCSF, "Endpoint.Filesystem",
        frozenset({"100101", "100102", "100103", "100104", "100105", "100107"}),
        _OCSF_FILESYSTEM, **_OCSF,
    ),
    Mapping(OCSF, "Network_Traffic.All_Traffic", frozenset({"400101"}), _OCSF_NETWORK, **_OCSF),
):  # fmt: skip
    MAPPINGS[(_m.sourcetype, _m.dataset)] = _m

# -- Linux audit (auditd) ---------------------------------------------------------------------------
# Raw fields are those of an assembled event (escudo.sources.auditd.EVENT_FIELDS: the records of one
# audit(time:serial) joined, values decoded). docs/semantics.md "Linux audit (auditd) to CIM" gives
# each choice with its source: linux-telemetry.md 3.2 (auditd -> process fields), CIM Endpoint.json.

AUDITD = "linux:audit"

_AUDITD_SUBJECT: tuple[tuple[str, Derivation], ...] = (
    ("dest", Raw("dest")),  # the transport's host, else the record's node= (name_format)
    ("user", Raw("user")),  # ENRICHED UID="name", else the uid number (raw logs hold no names)
    ("process_path", Raw("exe")),  # SYSCALL exe: the executable, decoded
    ("process_name", Basename("exe")),  # as for Sysmon (basename of Image); comm is cut at 15
    ("process_exec", Basename("exe")),
    ("process_id", Raw("pid")),
    ("process", Raw("command_line")),  # EXECVE a0..aN decoded, joined by spaces; else PROCTITLE
    ("parent_process_id", Raw("ppid")),
    # The parent's own exec event earlier in the data (auditd names no parent): its exe.
    ("parent_process_name", Raw("parent_name")),
    ("parent_process_path", Raw("parent_exe")),
    ("vendor_product", Const(AUDITD)),  # CIM's fallback to the sourcetype, as for Sysmon
)

_AUDITD_PROCESSES = (
    *_AUDITD_SUBJECT,
    ("action", Const("allowed")),  # a process start, as Sysmon EventID 1
    ("os", Const("Linux")),
    ("process_current_directory", Raw("cwd")),  # CWD record
    ("parent_process_exec", Raw("parent_name")),
    ("user_id", Raw("uid")),  # SYSCALL uid: the real uid of the process
)

_AUDITD_FILESYSTEM = (
    *_AUDITD_SUBJECT,
    # PATH nametype=CREATE / DELETE of a successful syscall: CIM Filesystem created / deleted.
    ("action", Raw("file_action")),
    ("file_path", Raw("file_path")),  # PATH name, made absolute with the CWD record
    ("file_name", Basename("file_path")),
)

_AUDITD = {"host": "dest", "time": "time", "record_type": "record_type"}
for _m in (
    Mapping(AUDITD, "Endpoint.Processes", frozenset({"execve"}), _AUDITD_PROCESSES, **_AUDITD),
    Mapping(
        AUDITD, "Endpoint.Filesystem", frozenset({"file_create", "file_delete"}),
        _AUDITD_FILESYSTEM, **_AUDITD,
    ),
):  # fmt: skip
    MAPPINGS[(_m.sourcetype, _m.dataset)] = _m
