"""MITRE ATT&CK context offline: technique id -> name, tactics (ids, shortnames, names).

A small table ships in ``escudo/data/attack/enterprise-attack.json`` (every technique the ESCU Linux
content names, plus parents of sub-techniques; its README gives the ATT&CK version and how to
regenerate it with ``scripts/gen_attack_table.py``). A user with a full ``enterprise-attack.json``
(MITRE's STIX 2 bundle) can select it with :func:`use_stix` (the CLI's ``--attack-stix FILE``); every
lookup then reads that bundle instead.

STIX facts used (``mitre-attack/attack-stix-data`` USAGE.md): a technique is an ``attack-pattern``
whose ``external_references`` entry with ``source_name == "mitre-attack"`` carries the id
(``T1572``, ``T1059.004``); its tactics are the ``kill_chain_phases`` with ``kill_chain_name ==
"mitre-attack"``, whose ``phase_name`` is an ``x-mitre-tactic``'s ``x_mitre_shortname``; objects with
``revoked`` or ``x_mitre_deprecated`` are not current; the ``x-mitre-collection`` object's
``x_mitre_version`` is the ATT&CK release.

>>> t = lookup_technique("T1572")
>>> t.name, [(tactic.id, tactic.name) for tactic in t.tactics]
('Protocol Tunneling', [('TA0011', 'Command and Control')])
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from escudo.errors import InputError

TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
BUNDLED_NAME = "enterprise-attack.json"


@dataclass(frozen=True)
class Tactic:
    """An ATT&CK tactic, e.g. ``Tactic("TA0011", "command-and-control", "Command and Control")``.

    Iterating gives ``(id, name)``, so ``for tactic_id, tactic_name in technique.tactics`` works.
    """

    id: str
    shortname: str
    name: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.id, self.name))


@dataclass(frozen=True)
class Technique:
    """An ATT&CK technique or sub-technique and the tactics it belongs to (in STIX order)."""

    id: str
    name: str
    tactics: tuple[Tactic, ...] = ()

    @property
    def parent_id(self) -> str | None:
        """``T1059`` for ``T1059.004``; ``None`` for a technique."""
        return self.id.split(".")[0] if "." in self.id else None


@dataclass(frozen=True)
class AttackTable:
    """Techniques and tactics of one ATT&CK release (or the part of it escudo ships)."""

    version: str
    source: str
    techniques: Mapping[str, Technique]
    tactics: Mapping[str, Tactic]  # by shortname
    missing: tuple[str, ...] = field(default=())  # ids content names that the release lacks

    def lookup(self, technique_id: str) -> Technique | None:
        """The technique, or ``None`` when the id is unknown to this table."""
        return self.techniques.get(normalize_id(technique_id))

    def display_name(self, technique_id: str) -> str:
        """``Command and Scripting Interpreter: Unix Shell`` for a sub-technique, as ATT&CK's site
        titles it; the bare name for a technique; ``""`` when unknown."""
        technique = self.lookup(technique_id)
        if technique is None:
            return ""
        parent = self.lookup(technique.parent_id) if technique.parent_id else None
        return f"{parent.name}: {technique.name}" if parent else technique.name


def normalize_id(technique_id: str) -> str:
    """Upper-case, trimmed: ESCU YAML sometimes writes ``t1059.004``.

    >>> normalize_id(" t1059.004 ")
    'T1059.004'
    """
    return technique_id.strip().upper()


def _mitre_id(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("external_references") or ():
        if isinstance(ref, Mapping) and ref.get("source_name") == "mitre-attack":
            ext = ref.get("external_id")
            return str(ext) if ext else None
    return None


def table_from_stix(bundle: Mapping[str, Any], *, source: str = "STIX bundle") -> AttackTable:
    """Build a table from a parsed ATT&CK STIX bundle (``{"type": "bundle", "objects": [...]}``).

    >>> tactic = {"type": "x-mitre-tactic", "name": "Execution", "x_mitre_shortname": "execution",
    ...           "external_references": [{"source_name": "mitre-attack", "external_id": "TA0002"}]}
    >>> tech = {"type": "attack-pattern", "name": "Unix Shell",
    ...         "external_references": [{"source_name": "mitre-attack", "external_id": "T1059.004"}],
    ...         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}]}
    >>> table_from_stix({"type": "bundle", "objects": [tactic, tech]}).lookup("T1059.004").tactics
    (Tactic(id='TA0002', shortname='execution', name='Execution'),)
    """
    objects = bundle.get("objects")
    if not isinstance(objects, list):
        raise ValueError("not a STIX bundle: no 'objects' list")
    current = [
        o
        for o in objects
        if isinstance(o, Mapping) and not o.get("revoked") and not o.get("x_mitre_deprecated")
    ]
    version = ""
    tactics: dict[str, Tactic] = {}
    for obj in current:
        if obj.get("type") == "x-mitre-collection":
            version = str(obj.get("x_mitre_version") or version)
        elif obj.get("type") == "x-mitre-tactic":
            tactic_id = _mitre_id(obj)
            shortname = obj.get("x_mitre_shortname")
            if tactic_id and shortname:
                tactics[str(shortname)] = Tactic(
                    tactic_id, str(shortname), str(obj.get("name", ""))
                )
    techniques: dict[str, Technique] = {}
    for obj in current:
        if obj.get("type") != "attack-pattern":
            continue
        technique_id = _mitre_id(obj)
        if not technique_id or not TECHNIQUE_ID.match(technique_id):
            continue
        phases = [
            str(p.get("phase_name"))
            for p in obj.get("kill_chain_phases") or ()
            if isinstance(p, Mapping) and p.get("kill_chain_name") == "mitre-attack"
        ]
        found = tuple(tactics[p] for p in phases if p in tactics)
        techniques[technique_id] = Technique(technique_id, str(obj.get("name", "")), found)
    return AttackTable(version or "unknown", source, techniques, tactics)


def load_stix(path: str | Path) -> AttackTable:
    """Read a full ``enterprise-attack.json`` (MITRE's STIX 2.0/2.1 bundle).

    Raises :class:`InputError` naming the file when it is missing, not JSON, or not a bundle.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            bundle = json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read ATT&CK STIX file: {exc.strerror}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    if not isinstance(bundle, Mapping):
        raise InputError("not a STIX bundle: the top level is not an object", path=str(path))
    try:
        table = table_from_stix(bundle, source=str(path))
    except ValueError as exc:
        raise InputError(str(exc), path=str(path)) from exc
    if not table.techniques:
        raise InputError(
            "no ATT&CK techniques (attack-pattern objects) in the bundle", path=str(path)
        )
    return table


def load_table(text: str, *, source: str) -> AttackTable:
    """Parse the bundled table format (see :func:`dump_table`)."""
    doc = json.loads(text)
    tactics = {t["shortname"]: Tactic(t["id"], t["shortname"], t["name"]) for t in doc["tactics"]}
    techniques = {
        t["id"]: Technique(t["id"], t["name"], tuple(tactics[s] for s in t["tactics"]))
        for t in doc["techniques"]
    }
    return AttackTable(
        str(doc["attack_version"]), source, techniques, tactics, tuple(doc.get("missing", ()))
    )


def dump_table(table: AttackTable, ids: Iterable[str] | None = None) -> str:
    """The bundled table format: JSON, one technique per line so diffs stay readable.

    ``ids`` keeps only those techniques plus the parents of sub-techniques among them; ids the
    table lacks are listed under ``"missing"``.
    """
    wanted: list[str] = (
        sorted(table.techniques) if ids is None else sorted(set(map(normalize_id, ids)))
    )
    keep = set(wanted) | {w.split(".")[0] for w in wanted if "." in w}
    found = sorted(i for i in keep if i in table.techniques)
    missing = sorted(i for i in wanted if i not in table.techniques)
    tactic_rows = [
        json.dumps({"id": t.id, "shortname": t.shortname, "name": t.name}, ensure_ascii=False)
        for t in sorted(table.tactics.values(), key=lambda t: t.id)
    ]
    technique_rows = [
        json.dumps(
            {
                "id": i,
                "name": table.techniques[i].name,
                "tactics": [t.shortname for t in table.techniques[i].tactics],
            },
            ensure_ascii=False,
        )
        for i in found
    ]
    head = {"attack_version": table.version, "domain": "enterprise-attack", "source": table.source}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append('  "tactics": [\n    ' + ",\n    ".join(tactic_rows) + "\n  ],")
    lines.append('  "techniques": [\n    ' + ",\n    ".join(technique_rows) + "\n  ],")
    lines.append(f'  "missing": {json.dumps(missing)}')
    return "{\n" + "\n".join(lines) + "\n}\n"


_bundled: AttackTable | None = None
_active: AttackTable | None = None


def bundled() -> AttackTable:
    """The table shipped with escudo (read once)."""
    global _bundled
    if _bundled is None:
        resource = resources.files("escudo") / "data" / "attack" / BUNDLED_NAME
        _bundled = load_table(
            resource.read_text(encoding="utf-8"), source=f"bundled {BUNDLED_NAME}"
        )
    return _bundled


def use_stix(path: str | Path | None) -> AttackTable:
    """Make every later lookup use the full bundle at ``path`` (``None`` goes back to the bundled
    table). Returns the table now in use."""
    global _active
    _active = None if path is None else load_stix(path)
    return active()


@contextmanager
def stix_in_use(path: str | Path | None) -> Iterator[AttackTable]:
    """:func:`use_stix` for the ``with`` block only (``None``: the table already in use); the CLI
    uses it so one command's ``--attack-stix`` does not outlive the command.

    >>> with stix_in_use(None) as table:
    ...     table.lookup("T1572").name
    'Protocol Tunneling'
    """
    global _active
    previous = _active
    try:
        yield use_stix(path) if path is not None else active()
    finally:
        _active = previous


def active() -> AttackTable:
    """The table lookups use: the one :func:`use_stix` selected, else the bundled one."""
    return _active if _active is not None else bundled()


def lookup_technique(tid: str) -> Technique | None:
    """Name and tactics of an ATT&CK technique id, or ``None`` when the active table lacks it.

    >>> lookup_technique("t1090").name
    'Proxy'
    >>> lookup_technique("T9999") is None
    True
    """
    return active().lookup(tid)
