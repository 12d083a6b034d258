"""``escudo validate``: check detection YAML of all three ESCU schemas, one problem per line.

The rules are contentctl's build-time checks that matter for running a detection (contentctl v5.6.0
``detection_abstract.py`` and the v4 models; ``../shared/reference/escu-semantics.md`` sections 1, 1c,
5.2), kept as tables below. Each problem names ``path:line`` of the offending key (YAML node marks).

>>> from escudo.content.loader import BUILTIN_DIR, load_content
>>> seed = BUILTIN_DIR / "detections/endpoint/linux_ngrok_reverse_proxy_usage.yml"
>>> validate_file(seed, macros=load_content().macros)
[]
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from escudo.content.model import Detection, Macro
from escudo.content.schemas import detection_from_doc, schema_of
from escudo.content.yamlfile import LineDict, LineList, load_yaml_file
from escudo.errors import ContentError, EscudoError

# contentctl enums: DetectionStatus and AnalyticsType (+ Baseline, a separate object there).
STATUSES = ("production", "experimental", "deprecated", "validation", "removed")
TYPES = ("TTP", "Anomaly", "Hunting", "Correlation", "Baseline")
ATTACK_ID = re.compile(r"T\d{4}(\.\d{3})?")
TOKEN = re.compile(r"\$([^$\s]+)\$")
MACRO_CALL = re.compile(r"`([^`]*)`")
# Not content macros: the filter macro contentctl creates, and the CIM app's drop_dm_object_name
# (contentctl ``MACROS_TO_IGNORE``).
IGNORED_MACROS = frozenset({"drop_dm_object_name"})
DRILLDOWN_SEARCH_MARKER = "%original_detection_search%"

# Expected shape of a key: a checker returning True when the value is fine, and its description.
_Check = tuple[Callable[[Any], bool], str]
_TEXT: _Check = (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
_INT: _Check = (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_DATE: _Check = (lambda v: isinstance(v, date) or (isinstance(v, str) and bool(v)), "a date")
_STRINGS: _Check = (
    lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "a list of strings",
)
_MAP: _Check = (lambda v: isinstance(v, dict), "a mapping")
_LIST: _Check = (lambda v: isinstance(v, list), "a list")

# Top-level keys every detection must have, then per schema (escu-semantics.md 1c).
REQUIRED_TOP: dict[str, _Check] = {
    "name": _TEXT, "id": _TEXT, "version": _INT, "author": _TEXT, "status": _TEXT, "type": _TEXT,
    "description": _TEXT, "data_source": _STRINGS, "search": _TEXT, "how_to_implement": _TEXT,
    "known_false_positives": _TEXT,
}  # fmt: skip
REQUIRED_BY_SCHEMA: dict[str, dict[str, _Check]] = {
    "tags": {"date": _DATE, "tags": _MAP},
    "rba": {"date": _DATE, "tags": _MAP},
    "findings": {"creation_date": _DATE, "modification_date": _DATE},
}
# Keys of the tags block (A, B) or of the top level (C) every detection needs.
REQUIRED_TAGS: dict[str, _Check] = {
    "analytic_story": _STRINGS, "asset_type": _TEXT, "product": _STRINGS, "security_domain": _TEXT,
}  # fmt: skip
# Schema A risk keys, needed where ES writes risk (TTP, Anomaly): contentctl v4 DetectionTags.
REQUIRED_TAGS_RISK: dict[str, _Check] = {
    "confidence": _INT, "impact": _INT, "message": _TEXT, "observable": _LIST,
}  # fmt: skip
OPTIONAL: dict[str, _Check] = {
    "references": _STRINGS, "drilldown_searches": _LIST, "tests": _LIST, "mitre_attack_id": _STRINGS,
}  # fmt: skip
RISK_TYPES = ("TTP", "Anomaly")
# Keys of each entry of the risk/threat object lists: contentctl v4 Observable (name, type, role),
# v5 rba objects, schema C entities and top-level threat objects (escu-semantics.md 1c). ("", key)
# is a top-level list.
REQUIRED_ENTRIES: dict[tuple[str, str], dict[str, _Check]] = {
    ("tags", "observable"): {"name": _TEXT, "type": _TEXT, "role": _STRINGS},
    ("rba", "risk_objects"): {"field": _TEXT, "type": _TEXT, "score": _INT},
    ("rba", "threat_objects"): {"field": _TEXT, "type": _TEXT},
    ("intermediate_findings", "entities"): {"field": _TEXT, "type": _TEXT, "score": _INT},
    ("", "threat_objects"): {"field": _TEXT, "type": _TEXT},
}


@dataclass(frozen=True, order=True)
class Problem:
    """One validation problem, printed as ``path:line: message``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class _Collector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, max(line, 1), message))


def _check_keys(
    out: _Collector, doc: LineDict, rules: Mapping[str, _Check], *, where: str = "", line: int = 0
) -> None:
    """Missing keys are reported at ``line`` (the enclosing key), else at the mapping's first line."""
    for key, (ok, what) in rules.items():
        if key not in doc or doc[key] is None:
            out.add(line or doc.line, f"missing required key {where}{key!r}")
        elif not ok(doc[key]):
            out.add(doc.line_of(key), f"{where}{key!r} must be {what}")


def _check_optional(out: _Collector, doc: LineDict, where: str = "") -> None:
    for key, (ok, what) in OPTIONAL.items():
        if doc.get(key) is not None and not ok(doc[key]):
            out.add(doc.line_of(key), f"{where}{key!r} must be {what}")


def _check_entries(out: _Collector, doc: LineDict) -> None:
    """Each risk/threat object entry has its keys (``REQUIRED_ENTRIES``); other shapes the loader
    reports."""
    for (outer, key), rules in REQUIRED_ENTRIES.items():
        block = doc.get(outer) if outer else doc
        items = block.get(key) if isinstance(block, LineDict) else None
        if not isinstance(items, LineList):
            continue
        for index, item in enumerate(items):
            if isinstance(item, LineDict):
                where = f"{outer + '.' if outer else ''}{key}[{index}]."
                _check_keys(out, item, rules, where=where)


def macro_keys(search: str) -> list[tuple[str, str]]:
    """``(name, key)`` of every backtick macro call in ``search`` (key is ``name(N)`` with arguments).

    >>> macro_keys('| `security_content_ctime(firstTime)` | `x_filter` | `m("a,b", c)`')
    [('security_content_ctime', 'security_content_ctime(1)'), ('x_filter', 'x_filter'), ('m', 'm(2)')]
    """
    out = []
    for match in MACRO_CALL.finditer(search):
        call = match.group(1).strip()
        name, paren, rest = call.partition("(")
        name = name.strip()
        if not paren:
            out.append((name, name))
            continue
        args = rest.rsplit(")", 1)[0]
        count, quoted, depth = (1 if args.strip() else 0), False, 0
        for ch in args:
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch in "([":
                depth += 1
            elif not quoted and ch in ")]":
                depth -= 1
            elif not quoted and depth == 0 and ch == ",":
                count += 1
        out.append((name, f"{name}({count})"))
    return out


def output_fields(detection: Detection, macros: Mapping[str, Macro]) -> tuple[str, ...] | None:
    """The search's result columns when the compiler can tell, else ``None``."""
    try:
        from escudo.compile import compile_search
        from escudo.content.loader import macros_for
        from escudo.content.model import ContentSet

        all_macros = macros_for(ContentSet(macros=dict(macros)), detection)
        compiled = compile_search(detection.search, macros=all_macros, origin=detection.name)
    except (EscudoError, ImportError):
        return None
    fields = getattr(compiled, "output_fields", None)
    return tuple(fields) if fields else None


def _mentions(search: str, field: str) -> bool:
    """Textual fallback: ``field`` appears in the search as a whole name (``Processes.user`` counts)."""
    return re.search(rf"(?<![\w]){re.escape(field)}(?![\w])", search) is not None


def _check_fields(
    out: _Collector, doc: LineDict, d: Detection, fields: tuple[str, ...] | None
) -> None:
    """``$field$`` tokens of messages and risk/threat object fields must be search outputs."""
    has = (lambda f: f in fields) if fields is not None else (lambda f: _mentions(d.search, f))
    how = "an output field of the search" if fields is not None else "a field named in the search"
    line = _message_line(doc)
    messages = [d.risk_message] + [o.message or "" for o in d.risk_objects]
    if d.finding is not None:
        messages.append(d.finding.title)
    seen: set[str] = set()
    for message in messages:
        for token in TOKEN.findall(message):
            if token not in seen and not has(token):
                seen.add(token)
                out.add(line, f"message token ${token}$ is not {how}")
    for name in [o.field for o in d.risk_objects] + [o.field for o in d.threat_objects]:
        if name not in seen and not has(name):
            seen.add(name)
            out.add(line, f"risk/threat object field {name!r} is not {how}")


def _message_line(doc: LineDict) -> int:
    """The line of the risk message block, whichever schema holds it."""
    for outer, inner in (
        ("tags", "message"),
        ("rba", "message"),
        ("intermediate_findings", "entities"),
        ("finding", "title"),
    ):
        block = doc.get(outer)
        if isinstance(block, LineDict) and inner in block:
            return block.line_of(inner)
    return doc.line_of("search")


def _check_semantics(
    out: _Collector, doc: LineDict, d: Detection, macros: Mapping[str, Macro]
) -> None:
    search_line = doc.line_of("search")
    if d.status not in STATUSES:
        out.add(
            doc.line_of("status"), f"status must be one of {', '.join(STATUSES)}, not {d.status!r}"
        )
    if d.type not in TYPES:
        out.add(doc.line_of("type"), f"type must be one of {', '.join(TYPES)}, not {d.type!r}")
    try:
        uuid.UUID(d.id)
    except ValueError:
        out.add(doc.line_of("id"), f"id must be a UUID, not {d.id!r}")
    if f"`{d.filter_macro}`" not in d.search:
        out.add(search_line, f"search must call the filter macro `{d.filter_macro}`")
    for name, key in macro_keys(d.search):
        if name in IGNORED_MACROS or name.endswith("_filter"):
            continue
        if key not in macros:
            out.add(search_line, f"macro `{key}` is not defined in the loaded content")
    tags = doc.get("tags") if isinstance(doc.get("tags"), LineDict) else doc
    ids = tags.get("mitre_attack_id") if isinstance(tags, LineDict) else None
    if isinstance(ids, LineList):
        for index, value in enumerate(ids):
            if not ATTACK_ID.fullmatch(str(value)):
                out.add(
                    ids.line_of(index), f"ATT&CK id {value!r} must look like T1234 or T1234.001"
                )
    if d.status == "production" and d.type not in ("Hunting", "Baseline"):
        drilldowns = d.drilldown_searches
        if len(drilldowns) < 2:
            out.add(
                doc.line_of("drilldown_searches"),
                f"a production {d.type} detection needs at least 2 drilldown_searches, found {len(drilldowns)}",
            )
        elif not any(DRILLDOWN_SEARCH_MARKER in dd.search for dd in drilldowns):
            out.add(
                doc.line_of("drilldown_searches"),
                f"one drilldown search must contain {DRILLDOWN_SEARCH_MARKER}",
            )
    if d.schema == "rba" and d.type in ("Hunting", "Correlation") and "rba" in doc:
        out.add(doc.line_of("rba"), f"a {d.type} detection must not have an rba block")
    if (
        d.schema == "rba"
        and d.type in RISK_TYPES
        and d.status == "production"
        and not d.risk_objects
    ):
        out.add(doc.line_of("rba"), f"a production {d.type} detection needs rba.risk_objects")
    if d.type in RISK_TYPES or d.risk_message:
        _check_fields(out, doc, d, output_fields(d, macros))


def validate_doc(doc: LineDict, path: str, *, macros: Mapping[str, Macro]) -> list[Problem]:
    """Problems of one parsed detection document."""
    out = _Collector(path)
    schema = schema_of(doc)
    _check_keys(out, doc, {**REQUIRED_TOP, **REQUIRED_BY_SCHEMA[schema]})
    _check_optional(out, doc)
    tags = doc.get("tags") if schema != "findings" else doc
    if isinstance(tags, LineDict):
        where, line = ("tags.", doc.line_of("tags")) if schema != "findings" else ("", 0)
        _check_keys(out, tags, REQUIRED_TAGS, where=where, line=line)
        if schema == "tags" and doc.get("type") in RISK_TYPES:
            _check_keys(out, tags, REQUIRED_TAGS_RISK, where=where, line=line)
        if schema != "findings":
            _check_optional(out, tags, where)
    _check_entries(out, doc)
    if out.problems:  # the model cannot be trusted on a broken shape
        return sorted(out.problems)
    try:
        detection = detection_from_doc(doc, path, Path(path))
    except ContentError as exc:
        out.add(exc.line or doc.line, exc.message)
        return sorted(out.problems)
    _check_semantics(out, doc, detection, macros)
    return sorted(out.problems)


def validate_file(path: Path, *, macros: Mapping[str, Macro]) -> list[Problem]:
    """Problems of one detection YAML file (an unreadable file is one problem)."""
    try:
        doc = load_yaml_file(path)
    except ContentError as exc:
        return [Problem(str(path), exc.line or 1, exc.message)]
    return validate_doc(doc, str(path), macros=macros)


def detection_files(paths: Iterable[Path]) -> list[Path]:
    """YAML files under ``paths``: a file as is; a folder's ``detections/`` tree when it has one."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            root = path / "detections" if (path / "detections").is_dir() else path
            files += sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml"))
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def load_macros(
    dirs: Sequence[Path], *, builtin: bool = True
) -> tuple[dict[str, Macro], list[Problem]]:
    """Macros of the built-in content and of each folder's ``macros/``; broken macro files are problems."""
    from escudo.content.loader import BUILTIN_DIR, load_macro

    macros: dict[str, Macro] = {}
    problems: list[Problem] = []
    for folder in ([BUILTIN_DIR] if builtin else []) + list(dirs):
        for path in sorted((folder / "macros").glob("*.yml")):
            try:
                macro = load_macro(path)
            except ContentError as exc:
                problems.append(Problem(str(path), exc.line or 1, exc.message))
                continue
            macros[macro.key] = macro
    return macros, problems


__all__ = [
    "Problem",
    "detection_files",
    "load_macros",
    "macro_keys",
    "validate_doc",
    "validate_file",
]
