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

import duckdb

from escudo.detect.findings import detection_findings
from escudo.detect.identity import IdentityResolver
from escudo.detect.result import EMIT_KINDS, DetectionResult, EmitKind
from escudo.detect.risk import risk_events
from escudo.detect.store import (
    Store,
    create_schema,
    insert_findings,
    insert_results,
    insert_risk,
    replace_risk_findings,
    stored_risk_incidents,
)
from escudo.engines.duckdb import connect


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
    if store_path is not None:
        with Store(store_path).transaction() as con:
            incidents = _store_all(con, results, events, direct)
    else:
        con = connect(utc=True)
        try:
            create_schema(con)
            insert_risk(con, events)
            incidents = stored_risk_incidents(con)
        finally:
            con.close()
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


def _store_all(
    con: duckdb.DuckDBPyConnection,
    results: Sequence[DetectionResult],
    events: Sequence[dict[str, Any]],
    direct: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    # One transaction: results, risk, direct findings, then the rules over all stored risk, whose
    # answer replaces the stored risk incident findings.
    insert_results(con, results)
    insert_risk(con, events)
    insert_findings(con, direct)
    return replace_risk_findings(con)[0]
