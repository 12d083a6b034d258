"""Sysmon for Linux event XML: the field tables and two extractors that must agree.

One ``<Event>...</Event>`` slice becomes a raw record: System fields under the names in
``SYSTEM_FIELDS`` plus every ``<Data Name="X">`` as ``X``. Two extractors produce it:

* :func:`extract_reference` parses with ``xml.etree.ElementTree`` (expat): slow, obviously right;
* ``sysmon_fast.FastExtractor`` uses one precompiled pattern per EventID for the fixed layout
  Sysmon writes, falling back to :func:`extract_generic` (element regexes, any layout); no DOM.
  Tests hold them equal on every fixture and on generated events.

Values are the text exactly as written, XML escapes kept (``&gt;`` stays ``&gt;``, ``&#13;``
stays ``&#13;``): what Splunk's add-on extracts with its regex transforms, and what ESCU searches
are written against (docs/semantics.md, "Field values keep the XML escapes"). The references are
still checked: an undefined entity, a stray ``&`` or a reference to a character XML forbids makes
the event malformed. Both refuse ``<!`` (DOCTYPE, ENTITY, comments, CDATA) and ``<?`` so no DTD or
external entity is ever resolved, and both keep raw control characters (Sysmon writes them
unescaped, which strict XML forbids; linux-telemetry.md 1.3).

>>> xml = ('<Event><System><EventID>5</EventID><TimeCreated SystemTime="2021-10-24T17:05:46.927191000Z"/>'
...        '<Computer>h</Computer></System><EventData><Data Name="Image">a&amp;b</Data></EventData></Event>')
>>> extract_reference(xml)["Image"], extract_generic(xml)["Image"]
('a&amp;b', 'a&amp;b')
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# EventData field order per EventID: manifest.xml schema 4.81 as listed in
# ../shared/reference/linux-telemetry.md section 1.5 (SysmonForLinux a861b4c).
EVENT_FIELDS: dict[int, tuple[str, ...]] = {
    1: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
        "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
        "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
        "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser"),
    3: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "Protocol",
        "Initiated", "SourceIsIpv6", "SourceIp", "SourceHostname", "SourcePort", "SourcePortName",
        "DestinationIsIpv6", "DestinationIp", "DestinationHostname", "DestinationPort",
        "DestinationPortName"),
    4: ("UtcTime", "State", "Version", "SchemaVersion"),
    5: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User"),
    9: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Device", "User"),
    10: ("RuleName", "UtcTime", "SourceProcessGUID", "SourceProcessId", "SourceThreadId",
         "SourceImage", "TargetProcessGUID", "TargetProcessId", "TargetImage", "GrantedAccess",
         "CallTrace", "SourceUser", "TargetUser"),
    11: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename",
         "CreationUtcTime", "User"),
    16: ("UtcTime", "Configuration", "ConfigurationFileHash"),
    23: ("RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
         "Hashes", "IsExecutable", "Archived"),
    255: ("UtcTime", "ID", "Description"),
}  # fmt: skip

# (System element, attribute or None for its text) -> raw field name. Names follow the Splunk TA
# field list (data_sources/sysmon_for_linux_eventid_1.yml) where they do not collide with a Data
# name once case is folded (SQL is case-insensitive): Execution/@ProcessID would collide with
# ProcessId, System/Version with EventID 4's Data Version, so those get a prefix.
SYSTEM_FIELDS: dict[tuple[str, str | None], str] = {
    ("Provider", "Name"): "ProviderName",
    ("Provider", "Guid"): "ProviderGuid",
    ("EventID", None): "EventID",
    ("Version", None): "EventVersion",
    ("Level", None): "Level",
    ("Task", None): "Task",
    ("Opcode", None): "Opcode",
    ("Keywords", None): "Keywords",
    ("TimeCreated", "SystemTime"): "SystemTime",
    ("EventRecordID", None): "EventRecordID",
    ("Execution", "ProcessID"): "ExecutionProcessID",
    ("Execution", "ThreadID"): "ExecutionThreadID",
    ("Channel", None): "Channel",
    ("Computer", None): "Computer",
    ("Security", "UserId"): "SecurityUserId",
}

# Every raw field, System first then Data names in first-seen order: the columns of the raw dataset.
ALL_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys([*SYSTEM_FIELDS.values(), *(f for fs in EVENT_FIELDS.values() for f in fs)])
)

# TimeCreated/@SystemTime as Sysmon writes it: 9 fractional digits and Z (linux-telemetry.md 1.1).
SYSTEM_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z"
_SYSTEM_TIME_RE = re.compile(SYSTEM_TIME)


class MalformedEvent(ValueError):
    """The ``<Event>`` slice is not a well-formed Sysmon event; the message is the reason."""


# --- entity and character references (XML 1.0 section 4.6 predefined entities, section 4.1) ---

_REF_RE = re.compile(r"&(?:(?:amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));|&")


def _xml_char(code: int) -> None:
    # XML 1.0 production [2] Char; expat refuses a reference to anything else.
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
        return
    if 0x10000 <= code <= 0x10FFFF:
        return
    raise MalformedEvent(f"reference to invalid character number {code}")


def check_references(text: str) -> None:
    """Refuse what expat refuses: a stray ``&``, an undefined entity, a reference to a character
    XML forbids. The text itself is kept as written (values keep their escapes).

    >>> check_references("a &amp; b &lt;c&gt; &quot;d&quot; &#13;&#x41;")
    >>> check_references("a & b")
    Traceback (most recent call last):
    ...
    escudo.sources.sysmon_xml.MalformedEvent: undefined entity or stray '&'
    """
    if "&" not in text:
        return
    for m in _REF_RE.finditer(text):
        dec, hexa = m.groups()
        if dec:
            _xml_char(int(dec))
        elif hexa:
            _xml_char(int(hexa, 16))
        elif not m.group().endswith(";"):
            raise MalformedEvent("undefined entity or stray '&'")


# --- reference path -----------------------------------------------------------------------------

# Characters XML forbids raw (C0 controls but TAB/LF, U+FFFE, U+FFFF) and raw CR (which expat would
# fold into LF) travel through the parser as plane-16 private-use characters and come back after.
# (A value already holding U+10FF00..U+10FFFF would be altered: accepted, it is private use.)
_PUA = 0x10FF00
_RAW = [*range(0x00, 0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20)]
_HIDE = {c: _PUA + c for c in _RAW} | {0xFFFE: _PUA + 0xFE, 0xFFFF: _PUA + 0xFF}
_SHOW = {v: k for k, v in _HIDE.items()}


def _refuse_markup(xml: str) -> None:
    if "<!" in xml or "<?" in xml:
        raise MalformedEvent(
            "markup declaration, comment, CDATA or processing instruction in event"
        )
    if "]]>" in xml:  # XML 1.0 section 2.4: not allowed in character data
        raise MalformedEvent("']]>' in character data")


def _validate(record: dict[str, str]) -> dict[str, str]:
    if not record.get("EventID", "").isdigit():
        raise MalformedEvent("missing or non-numeric EventID")
    if not _SYSTEM_TIME_RE.fullmatch(record.get("SystemTime", "")):
        raise MalformedEvent("missing or invalid TimeCreated SystemTime")
    return record


def extract_reference(xml: str) -> dict[str, str]:
    """Parse one ``<Event>...</Event>`` with expat into a raw record (the reference path).

    >>> extract_reference("<Event><System><EventID>4</EventID></System></Event>")
    Traceback (most recent call last):
    ...
    escudo.sources.sysmon_xml.MalformedEvent: missing or invalid TimeCreated SystemTime
    """
    _refuse_markup(xml)
    hidden = xml.translate(_HIDE)
    try:
        ET.fromstring(hidden)  # well-formed, every reference defined and allowed
        # Parsed again with each '&' spelled '&amp;', expat gives every text and attribute value
        # exactly as written, escapes kept (the add-on's regex extraction, not an XML decoder).
        root = ET.fromstring(hidden.replace("&", "&amp;"))
    except ET.ParseError as exc:
        raise MalformedEvent(f"XML: {exc}") from None
    record: dict[str, str] = {}
    for part in root:
        for el in part:
            if len(el):
                raise MalformedEvent(f"unexpected child element in <{el.tag}>")
            if part.tag == "System":
                for (tag, attr), name in SYSTEM_FIELDS.items():
                    if tag == el.tag:
                        value = el.text if attr is None else el.get(attr)
                        if value is not None or attr is None:
                            record[name] = (value or "").translate(_SHOW)
            elif part.tag == "EventData" and el.tag == "Data":
                data_name = el.get("Name")
                if data_name is None:
                    raise MalformedEvent("<Data> without Name")
                record[data_name.translate(_SHOW)] = (el.text or "").translate(_SHOW)
    return _validate(record)


# --- generic regex path (any layout, no DOM): the fast path's fallback ---------------------

_ELEMENT_RE = re.compile(
    r"<(\w+)((?:\s+\w+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(?:/>|>([^<]*)</\1\s*>)"
)
_ATTR_RE = re.compile(r"(\w+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SECTION_RE = re.compile(r"<(System|EventData)\s*>(.*?)</\1\s*>|<(System|EventData)\s*/>", re.S)


def extract_generic(xml: str) -> dict[str, str]:
    """Regex extraction for any element layout (the fast path's fallback); same result as the
    reference."""
    _refuse_markup(xml)
    if xml.count("<Event>") != 1:  # expat: "junk after document element"
        raise MalformedEvent("more than one <Event> in the record")
    check_references(xml)
    record: dict[str, str] = {}
    for sec in _SECTION_RE.finditer(xml):
        part, body = sec.group(1), sec.group(2) or ""
        matched = 0
        for tag, attrs, text in _ELEMENT_RE.findall(body):
            matched += 1
            attr_map = {k: v1 or v2 for k, v1, v2 in _ATTR_RE.findall(attrs)}
            if part == "System":
                for (stag, attr), name in SYSTEM_FIELDS.items():
                    if stag == tag:
                        if attr is None:
                            record[name] = text
                        elif attr in attr_map:
                            record[name] = attr_map[attr]
            elif tag == "Data":
                if "Name" not in attr_map:
                    raise MalformedEvent("<Data> without Name")
                record[attr_map["Name"]] = text
        if matched != body.count("<") - body.count("</"):
            raise MalformedEvent(f"unexpected markup in <{part}>")
    return _validate(record)
