"""One model for ESCU detections, whatever YAML schema they were written in.

The three schemas (``../shared/reference/escu-semantics.md`` section 1c) all load into :class:`Detection`:

* A. contentctl <= 4 ``tags:`` (message/observable/confidence/impact under ``tags``),
* B. contentctl 5 ``rba:`` (``rba.message``, ``rba.risk_objects``, ``rba.threat_objects``),
* C. 2026 ``intermediate_findings:`` / ``finding:`` (tags flattened to the top level).

The loader (``escudo.content.loader``) fills these; every other stage reads only this model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RiskObjectType = Literal["user", "system", "other"]


@dataclass(frozen=True)
class RiskObject:
    """A result field whose value receives risk (``rba.risk_objects[]`` and equivalents)."""

    field: str
    type: RiskObjectType
    score: int
    message: str | None = None  # schema C gives each entity its own message


@dataclass(frozen=True)
class ThreatObject:
    """A result field that names the threat (``rba.threat_objects[]`` and equivalents)."""

    field: str
    type: str


@dataclass(frozen=True)
class Drilldown:
    """One entry of ``drilldown_searches``."""

    name: str
    search: str
    earliest_offset: str = ""
    latest_offset: str = ""


@dataclass(frozen=True)
class AttackData:
    """One ``tests[].attack_data[]`` entry."""

    data: str
    source: str | None = None
    sourcetype: str | None = None
    update_timestamp: bool = False
    custom_index: str | None = None
    host: str | None = None
    line: int | None = field(default=None, compare=False)  # of ``data:`` in the detection file


@dataclass(frozen=True)
class DetectionTest:
    """One ``tests[]`` entry. ``expect`` is escudo's extension: ``results`` (default) or ``none``."""

    name: str
    attack_data: tuple[AttackData, ...] = ()
    test_type: str = "unit"
    expect: Literal["results", "none"] = "results"


@dataclass(frozen=True)
class Finding:
    """Schema C's ``finding:`` block of a TTP (title template, entity)."""

    title: str
    entity: RiskObject | None = None


@dataclass
class Detection:
    """A detection, schema-independent.

    >>> d = Detection(name="Linux Ngrok Reverse Proxy Usage", id="bc84...", search="| tstats count ...")
    >>> d.filter_macro
    'linux_ngrok_reverse_proxy_usage_filter'
    """

    name: str
    id: str
    search: str
    version: int = 1
    date: str = ""
    author: str = ""
    status: str = "production"
    type: str = "TTP"  # TTP | Anomaly | Hunting | Correlation | Baseline
    description: str = ""
    data_source: tuple[str, ...] = ()
    how_to_implement: str = ""
    known_false_positives: str = ""
    references: tuple[str, ...] = ()
    drilldown_searches: tuple[Drilldown, ...] = ()
    analytic_story: tuple[str, ...] = ()
    asset_type: str = ""
    mitre_attack_id: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    security_domain: str = ""
    cve: tuple[str, ...] = ()
    required_fields: tuple[str, ...] = ()
    # Risk: normalized across schemas. ``risk_message`` is the template with $field$ tokens.
    risk_message: str = ""
    risk_objects: tuple[RiskObject, ...] = ()
    threat_objects: tuple[ThreatObject, ...] = ()
    finding: Finding | None = None
    # Schema A keeps these; B and C do not have them.
    confidence: int | None = None
    impact: int | None = None
    risk_score: int | None = None
    manual_test: str | None = None
    tests: tuple[DetectionTest, ...] = ()
    schema: Literal["tags", "rba", "findings"] = "tags"
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def filter_macro(self) -> str:
        """The ``<name>_filter`` macro contentctl creates (``detection_abstract.py``)."""
        stem = self.name
        for ch in " -./":
            stem = stem.replace(ch, "_")
        return stem.lower() + "_filter"

    @property
    def search_name(self) -> str:
        """The saved-search name ES puts on risk events and findings."""
        return f"ESCU - {self.name} - Rule"


@dataclass(frozen=True)
class Macro:
    """A search macro; ``arguments`` non-empty means it is called as ``name(a,b)``."""

    name: str
    definition: str
    arguments: tuple[str, ...] = ()
    description: str = ""
    path: Path | None = None

    @property
    def key(self) -> str:
        """Splunk's macro key: ``name`` or ``name(N)`` for N arguments."""
        return f"{self.name}({len(self.arguments)})" if self.arguments else self.name


@dataclass(frozen=True)
class Story:
    name: str
    id: str = ""
    description: str = ""
    narrative: str = ""
    path: Path | None = None


@dataclass
class ContentSet:
    """Everything loaded from the built-in content plus user ``--content`` folders (later ones win)."""

    detections: dict[str, Detection] = field(default_factory=dict)  # by name
    macros: dict[str, Macro] = field(default_factory=dict)  # by Macro.key
    stories: dict[str, Story] = field(default_factory=dict)
    lookups: dict[str, Path] = field(default_factory=dict)  # lookup name -> CSV path
