"""What ``escudo hunt --emit results|risk|findings [--store PATH]`` prints and keeps.

Printing picks one kind; storing always keeps all three (results, risk events, findings), and the risk
incident rules then run over every risk event in the store, so risk accumulates across runs as it does in
an ES risk index; their answer replaces the stored risk incident findings, so these depend on the set of
stored risk events only, not on the runs that brought them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from escudo.detect.findings import detection_findings, risk_incidents_of
from escudo.detect.identity import IdentityResolver
from escudo.detect.result import EMIT_KINDS, DetectionResult, EmitKind
from escudo.detect.risk import risk_events
from escudo.detect.store import Store, results_rows, risk_rows, risk_schema, unique_rows


def result_rows(results: Sequence[DetectionResult]) -> list[dict[str, Any]]:
    """``{"detection": name, **row}`` for every result row."""
    return [{"detection": r.detection.name, **row} for r in results for row in r.records()]


def all_risk_events(
    results: Sequence[DetectionResult], identities: IdentityResolver | None = None
) -> list[dict[str, Any]]:
    """Every result's risk events, in result order."""
    return [event for r in results for event in risk_events(r, identities=identities)]


def emit_all(
    results: list[DetectionResult],
    *,
    store_path: Path | None = None,
    identities: IdentityResolver | None = None,
) -> dict[EmitKind, list[dict[str, Any]]]:
    """Results, risk events and findings of a run; with ``store_path``, also stored.

    Findings are the TTP findings of these results plus every risk incident finding that one of this
    run's risk events contributes to (with a store, the rules see earlier runs' risk too).

    >>> emit_all([])
    {'results': [], 'risk': [], 'findings': []}
    """
    events = all_risk_events(results, identities)
    direct = [f for r in results for f in detection_findings(r)]
    risk = risk_rows(events)
    if store_path is not None:
        # One commit: results, risk, direct findings, then the rules over all stored risk, whose
        # answer replaces the stored risk incident findings.
        _, incidents = Store(store_path).write_tables(
            results_rows(results), risk, direct, rerun=True
        )
    else:
        unique = unique_rows(risk.select(risk_schema().names), "risk_event_id", set())
        ordered = unique.sort_by([("_time", "ascending"), ("risk_event_id", "ascending")])
        incidents = risk_incidents_of(ordered)
    ours = {e["risk_event_id"] for e in events}
    relevant = [f for f in incidents if ours.intersection(f["risk_event_ids"])]
    return {"results": result_rows(results), "risk": events, "findings": direct + relevant}


def emit(
    results: list[DetectionResult],
    kind: EmitKind,
    *,
    store_path: Path | None = None,
    identities: IdentityResolver | None = None,
) -> list[dict[str, Any]]:
    """The rows to print for ``kind`` (see :func:`emit_all`).

    >>> emit([], "results")
    []
    """
    if kind not in EMIT_KINDS:
        raise ValueError(f"unknown emit kind {kind!r}")
    return emit_all(results, store_path=store_path, identities=identities)[kind]
