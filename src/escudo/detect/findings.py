"""Findings (ES notables): one per TTP result row, and the risk incident rules over risk events.

The two default Risk Incident Rules of Enterprise Security are defined as sqlglot trees over
``Risk.All_Risk`` (:func:`rule_query`, every threshold and window a literal of the tree);
:func:`risk_incidents` has any engine read the risk events and walks the windows and the throttle
between their candidates here, in time linear in the events.
Windows slide: a rule is evaluated at each risk event's time ``t`` over ``[t - window, t]`` (what an ES
rule scheduled after every event would see), and a rule that fired for an entity stays quiet for that
entity for one window length (ES throttles these rules on ``normalized_risk_object``), so three seed
results within 24 h on one host raise one finding for that host, not one per extra event. The answer
depends on the set of risk events only (ties and sums included), so a store can replace its risk
incident findings with it after every write (``store.replace_risk_findings``).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlglot import exp

from escudo.compile.dialects import dialect_for
from escudo.detect.result import DetectionResult
from escudo.detect.risk import (
    RISK_DATASET,
    RISK_INCIDENT,
    attack_annotations,
    event_time,
    render_message,
    stable_id,
)
from escudo.engines import DEFAULT_ENGINE, Engine, new_engine

# contentctl v4.4.7 severity buckets of a detection's risk score (escu-semantics.md section 1c),
# as (lowest score, severity), highest first.
DETECTION_SEVERITY: tuple[tuple[int, str], ...] = (
    (81, "critical"),
    (61, "high"),
    (41, "medium"),
    (21, "low"),
    (0, "informational"),
)
# ES 7.0 doc for the 24 h risk incident rule: medium [100, 250), high [250, 500), critical >= 500
# (escu-semantics.md section 6). Below 100 (only the 7-day tactic rule gets there) is escudo's "low".
RISK_SEVERITY: tuple[tuple[float, str], ...] = ((500, "critical"), (250, "high"), (100, "medium"))
RISK_SEVERITY_DEFAULT = "low"

# Detection types whose results raise findings directly (contentctl deployments: notable for TTP and
# Correlation, escu-semantics.md 5.2), with ``nes_fields = user,dest``.
FINDING_TYPES = frozenset({"TTP", "Correlation"})
# contentctl's ``rule_title`` is ``%name%``, prefixed "RBA: " for Correlation (escu-semantics.md 5.2).
TITLE_PREFIX: dict[str, str] = {"Correlation": "RBA: "}
NES_FIELDS: tuple[str, ...] = ("user", "dest")


def detection_severity(score: int) -> str:
    """contentctl's severity for a risk score.

    >>> detection_severity(50), detection_severity(20), detection_severity(81)
    ('medium', 'informational', 'critical')
    """
    return next(name for low, name in DETECTION_SEVERITY if score >= low)


def risk_severity(total: float) -> str:
    """ES's severity for a summed risk score.

    >>> risk_severity(150), risk_severity(250), risk_severity(500)
    ('medium', 'high', 'critical')
    """
    return next((name for low, name in RISK_SEVERITY if total >= low), RISK_SEVERITY_DEFAULT)


def detection_findings(result: DetectionResult) -> list[dict[str, Any]]:
    """One finding per result row of a TTP (or Correlation) detection; none for other types.

    >>> import pyarrow as pa
    >>> from escudo.content.model import Detection
    >>> d = Detection(name="D", id="1", search="", type="TTP", risk_score=72)
    >>> [f["severity"] for f in detection_findings(DetectionResult(d, None, pa.table({"user": ["a"]})))]
    ['high']
    """
    detection = result.detection
    if detection.type not in FINDING_TYPES:
        return []
    scores = [o.score for o in detection.risk_objects]
    score = detection.risk_score if detection.risk_score is not None else max(scores, default=0)
    annotations = attack_annotations(detection)
    findings: list[dict[str, Any]] = []
    for row in result.records():
        title = (
            render_message(detection.finding.title, row)
            if detection.finding
            else TITLE_PREFIX.get(detection.type, "") + detection.name
        )
        finding: dict[str, Any] = dict(row)
        finding.update(
            {
                "finding_id": stable_id("finding", detection.id, row),
                "_time": event_time(row, result.info_max_time),
                "rule": detection.name,
                "finding_type": "detection",
                "search_name": detection.search_name,
                "source": detection.search_name,
                "title": title,
                "description": detection.description,
                "severity": detection_severity(score),
                "risk_score": score,
                "nes_fields": list(NES_FIELDS),
                **{name: row.get(name) for name in NES_FIELDS},
                "analyticstories": list(detection.analytic_story),
                **annotations,
            }
        )
        findings.append(finding)
    return findings


# A rule's condition: (aggregate, comparison, threshold), all of them must hold.
Threshold = tuple[str, str, float]
_COMPARISONS: dict[str, type[exp.Binary]] = {">": exp.GT, ">=": exp.GTE}
_PYTHON_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class RiskRule:
    """A risk incident rule: a sliding window, thresholds on the window's aggregates, a title."""

    name: str
    search_name: str
    window_seconds: int
    # Aggregates: risk_score, risk_event_count, tactic_count, source_count (see rule_query).
    thresholds: tuple[Threshold, ...]
    title: str  # template over the finding's fields


# ES's default RIRs (escu-semantics.md section 6; ES 7.0/7.3 docs). Every number reaches SQL as a
# sqlglot literal, never pasted into text.
RISK_RULES: tuple[RiskRule, ...] = (
    RiskRule(
        name="Risk Threshold Exceeded For Object Over 24 Hour Period",
        search_name="Risk - 24 Hour Risk Threshold Exceeded - Rule",
        window_seconds=24 * 3600,
        thresholds=(("risk_score", ">", 100),),
        title="24 hour risk threshold exceeded for $risk_object_type$=$normalized_risk_object$",
    ),
    RiskRule(
        name="ATT&CK Tactic Threshold Exceeded For Object Over Previous 7 Days",
        search_name="Risk - 7 Day ATT&CK Tactic Threshold Exceeded - Rule",
        window_seconds=7 * 24 * 3600,
        thresholds=(("tactic_count", ">=", 3), ("source_count", ">=", 4)),
        title="ATT&CK tactic threshold exceeded over previous 7 days for "
        "$risk_object_type$=$normalized_risk_object$",
    ),
)

# Risk.All_Risk multivalue fields the rules read, as (field, name inside the query).
_LIST_FIELDS = (
    ("annotations.mitre_attack.mitre_tactic_id", "tactic_ids"),
    ("annotations.mitre_attack.mitre_tactic", "tactics"),
    ("annotations.mitre_attack.mitre_technique_id", "technique_ids"),
)
_TRIGGER = ("obj", "typ", "trigger_time", "trigger_id")
# The query's columns -> the finding's fields (trigger_id only orders the throttle).
_OUTPUT = (
    ("obj", "normalized_risk_object"), ("typ", "risk_object_type"), ("trigger_time", "_time"),
    ("first_time", "firstTime"), ("risk_score", "risk_score"),
    ("risk_event_count", "risk_event_count"), ("risk_object", "risk_object"),
    ("all_risk_objects", "all_risk_objects"),
    ("tactic_ids", "annotations.mitre_attack.mitre_tactic_id"),
    ("tactics", "annotations.mitre_attack.mitre_tactic"),
    ("technique_ids", "annotations.mitre_attack.mitre_technique_id"), ("sources", "source"),
    ("tactic_count", "mitre_tactic_id_count"), ("source_count", "source_count"),
    ("risk_event_ids", "risk_event_ids"), ("trigger_id", "trigger_id"),
)  # fmt: skip


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=not name.isidentifier()), table=table)


def _sorted_set(values: exp.Expr) -> exp.Expr:
    return exp.ArraySort(this=exp.ArrayDistinct(this=values))


def _condition(rule: RiskRule) -> exp.Expr:
    tests = [
        _COMPARISONS[op](this=_col(name), expression=exp.Literal.number(value))
        for name, op, value in rule.thresholds
    ]
    return exp.and_(*tests)


@dataclass(frozen=True)
class RuleQuery:
    """One rule's candidate windows as a query an engine runs (``Engine.run``, like a compiled
    search): ``expression`` a sqlglot tree, ``datasets`` what it reads, ``output_fields`` its columns.
    """

    rule: RiskRule
    expression: exp.Query
    datasets: tuple[str, ...] = (RISK_DATASET,)
    output_fields: list[str] | None = None

    def sql(self, dialect: str = "duckdb", pretty: bool = False) -> str:
        """The query written by escudo's dialect ``dialect`` (``duckdb`` or ``spark``)."""
        return self.expression.sql(dialect=dialect_for(dialect), pretty=pretty)


def _events() -> exp.Select:
    """Each risk event as the rules read it: its entity (``obj``, ``typ``), time, id, risk object,
    source, score (an exact decimal, NULL when no number) and tactic and technique lists."""
    from escudo.datamodels.cim import relation_name

    empty = exp.cast(exp.Array(expressions=[]), exp.DataType.build("ARRAY<TEXT>"))
    return (
        exp.select(
            exp.alias_(_col("normalized_risk_object"), "obj"),
            exp.alias_(_col("risk_object_type"), "typ"),
            _col("_time"),
            _col("risk_event_id"),
            _col("risk_object"),
            _col("source"),
            # exact decimals: a sum of doubles would depend on the order it adds them in; a score
            # that is no number is NULL on every engine (safe: Spark's TRY_CAST, not an ANSI CAST)
            exp.alias_(
                exp.TryCast(
                    this=exp.func("coalesce", _col("calculated_risk_score"), _col("risk_score")),
                    to=exp.DataType.build("DECIMAL(38, 6)"),
                    safe=True,
                ),
                "score",
            ),
            *(
                exp.alias_(exp.func("coalesce", _col(field), empty), name)
                for field, name in _LIST_FIELDS
            ),
        )
        .from_(exp.to_table(relation_name(RISK_DATASET)))
        .where(
            exp.and_(
                _col("normalized_risk_object").is_(exp.null()).not_(),
                _col("_time").is_(exp.null()).not_(),
            )
        )
    )


def rule_query(rule: RiskRule) -> RuleQuery:
    """The sqlglot query of ``rule``'s candidates: one row per risk event time ``t`` of an entity
    whose window ``[t - window, t]`` meets the rule's thresholds, with the window's aggregates.

    Portable SQL (plain joins, aggregates, one window function; no QUALIFY, no recursion, no
    DuckDB list functions): the throttle between candidates runs after, in :func:`risk_incidents`.

    >>> "risk_score > 100" in rule_query(RISK_RULES[0]).sql("spark")
    True
    """
    ev = _events()
    window = exp.Interval(this=exp.Literal.string(str(rule.window_seconds)), unit=exp.var("SECOND"))
    pairs = (
        exp.select(
            _col("obj", "a"),
            _col("typ", "a"),
            exp.alias_(_col("_time", "a"), "trigger_time"),
            exp.alias_(_col("risk_event_id", "a"), "trigger_id"),
            *(
                _col(name, "b")
                for name in ("_time", "risk_event_id", "risk_object", "source", "score")
            ),
            *(_col(name, "b") for _, name in _LIST_FIELDS),
        )
        .from_(exp.alias_(exp.to_table("ev"), "a", table=True))
        .join(
            exp.alias_(exp.to_table("ev"), "b", table=True),
            on=exp.and_(
                exp.EQ(this=_col("obj", "a"), expression=_col("obj", "b")),
                exp.EQ(this=_col("typ", "a"), expression=_col("typ", "b")),
                exp.LTE(this=_col("_time", "b"), expression=_col("_time", "a")),
                exp.GTE(
                    this=_col("_time", "b"),
                    expression=exp.Sub(this=_col("_time", "a"), expression=window),
                ),
            ),
        )
    )
    lists = [
        exp.alias_(
            _sorted_set(exp.Flatten(this=exp.ArrayAgg(this=_col(n)))),
            n,
        )
        for _, n in _LIST_FIELDS
    ]
    windows = (
        exp.select(
            *(_col(k) for k in _TRIGGER),
            exp.alias_(exp.Min(this=_col("_time")), "first_time"),
            exp.alias_(
                exp.func("coalesce", exp.Sum(this=_col("score")), exp.Literal.number(0)),
                "risk_score",
            ),
            exp.alias_(exp.Count(this=exp.Star()), "risk_event_count"),
            exp.alias_(_sorted_set(exp.ArrayAgg(this=_col("risk_object"))), "all_risk_objects"),
            *lists,
            exp.alias_(_sorted_set(exp.ArrayAgg(this=_col("source"))), "sources"),
            exp.alias_(
                exp.ArraySort(this=exp.ArrayAgg(this=_col("risk_event_id"))), "risk_event_ids"
            ),
        )
        .from_("pairs")
        .group_by(*(_col(k) for k in _TRIGGER))
    )
    counted = exp.select(
        exp.Star(),
        exp.alias_(exp.ArraySize(this=_col("tactic_ids")), "tactic_count"),
        exp.alias_(exp.ArraySize(this=_col("sources")), "source_count"),
    ).from_("windows")
    candidates = exp.select(exp.Star()).from_(counted.subquery("w")).where(_condition(rule))
    # mode(risk_object) portably: count per value, the most frequent first, then the smallest.
    per_object = (
        exp.select(
            *(_col(k) for k in _TRIGGER),
            _col("risk_object"),
            exp.alias_(exp.Count(this=exp.Star()), "n"),
        )
        .from_("pairs")
        .where(_col("risk_object").is_(exp.null()).not_())
        .group_by(*(_col(k) for k in _TRIGGER), _col("risk_object"))
    )
    ranked = exp.select(
        exp.Star(),
        exp.alias_(
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[_col(k) for k in _TRIGGER],
                order=exp.Order(
                    expressions=[
                        exp.Ordered(this=_col("n"), desc=True),
                        exp.Ordered(this=_col("risk_object"), desc=False),
                    ]
                ),
            ),
            "object_rank",
        ),
    ).from_("per_object")
    columns = [
        _col("risk_object", "m") if name == "risk_object" else _col(name, "c")
        for name, _ in _OUTPUT
    ]
    joined = exp.and_(
        *(exp.EQ(this=_col(k, "m"), expression=_col(k, "c")) for k in _TRIGGER),
        exp.EQ(this=_col("object_rank", "m"), expression=exp.Literal.number(1)),
    )
    query = (
        exp.select(*columns)
        .from_(exp.alias_(exp.to_table("candidates"), "c", table=True))
        .join(exp.alias_(exp.to_table("modes"), "m", table=True), on=joined, join_type="left")
        .with_("ev", ev)
        .with_("pairs", pairs)
        .with_("windows", windows)
        .with_("candidates", candidates)
        .with_("per_object", per_object)
        .with_("modes", ranked)
    )
    return RuleQuery(rule, query, output_fields=[name for name, _ in _OUTPUT])


def risk_incidents(
    engine: Engine, rules: tuple[RiskRule, ...] = RISK_RULES
) -> list[dict[str, Any]]:
    """Run the risk incident rules on ``engine`` over its ``Risk.All_Risk``; one finding per firing.

    The engine reads the risk events (:func:`_events`, one query whatever the rules); each rule's
    windows then slide over each entity's events in time order (:func:`_firings`), which gives the
    candidates and aggregates :func:`rule_query` defines, in time linear in the events (the query's
    join of every event with every other in its window grows with their square: a busy host's 10k
    risk events a day made it run out of memory). Per entity the first candidate fires and each next
    firing is the first candidate at least one window after the previous one (ES's throttle).
    Findings come ordered by time, then entity.

    >>> from escudo.engines import new_engine
    >>> with new_engine() as engine:
    ...     risk_incidents(engine)
    []
    """
    events = engine.run(_EventsQuery()).to_pylist()
    entities: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events:
        if event["typ"] is not None:  # the query's join on typ = typ never pairs a NULL
            entities.setdefault((event["obj"], event["typ"]), []).append(event)
    for group in entities.values():
        group.sort(key=lambda e: (e["_time"], e["risk_event_id"]))
    findings: list[dict[str, Any]] = []
    for rule in rules:
        fired = [row for group in entities.values() for row in _firings(rule, group)]
        fired.sort(key=lambda r: (r["trigger_time"], r["obj"], r["typ"]))
        for row in fired:
            found = {field: row[name] for name, field in _OUTPUT if name != "trigger_id"}
            findings.append(_rule_finding(rule, found))
    return findings


@dataclass(frozen=True)
class _EventsQuery:
    """:func:`_events` as a runnable query (``Engine.run``)."""

    datasets: tuple[str, ...] = (RISK_DATASET,)
    output_fields: list[str] | None = None

    @property
    def expression(self) -> exp.Query:
        return _events()


class _Window:
    """The aggregates of the events in a sliding window, kept as events enter and leave it."""

    def __init__(self) -> None:
        self.score = Decimal(0)
        self.sets: dict[str, Counter[str]] = {name: Counter() for name in _SET_COLUMNS}

    def add(self, event: dict[str, Any], step: int) -> None:
        if event["score"] is not None:
            self.score += step * event["score"]
        for name, counter in self.sets.items():
            values = event[name] if name in _LIST_COLUMNS else [event[name]]
            for value in values or ():
                if value is not None:
                    counter[value] += step
                    if not counter[value]:
                        del counter[value]


# The windows' sets of distinct values: multivalue columns of the events, then single ones.
_LIST_COLUMNS = tuple(name for _, name in _LIST_FIELDS)
_SET_COLUMNS = (*_LIST_COLUMNS, "source", "risk_object")


def _firings(rule: RiskRule, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`rule_query` that fire for one entity (``events`` sorted by time and id):
    at each event's time ``t`` the window holds the events in ``[t - window, t]``, ties included."""
    span = timedelta(seconds=rule.window_seconds)
    window = _Window()
    fired: list[dict[str, Any]] = []
    low = high = 0
    quiet_until: datetime | None = None
    for trigger in events:
        now = trigger["_time"]
        while high < len(events) and events[high]["_time"] <= now:
            window.add(events[high], 1)
            high += 1
        while events[low]["_time"] < now - span:
            window.add(events[low], -1)
            low += 1
        if quiet_until is not None and now < quiet_until:
            continue
        measures = {
            "risk_score": window.score,
            "risk_event_count": high - low,
            "tactic_count": len(window.sets["tactic_ids"]),
            "source_count": len(window.sets["source"]),
        }
        if all(
            _PYTHON_COMPARISONS[op](measures[name], value) for name, op, value in rule.thresholds
        ):
            fired.append(_window_row(trigger, events[low:high], window, measures))
            quiet_until = now + span
    return fired


def _window_row(
    trigger: dict[str, Any],
    inside: list[dict[str, Any]],
    window: _Window,
    measures: dict[str, Any],
) -> dict[str, Any]:
    """A candidate's row as :func:`rule_query` gives it."""
    objects = window.sets["risk_object"]
    # mode(risk_object): the most frequent, the smallest among ties; NULL when none is set
    mode = min(objects, key=lambda o: (-objects[o], o)) if objects else None
    return {
        "obj": trigger["obj"],
        "typ": trigger["typ"],
        "trigger_time": trigger["_time"],
        "trigger_id": trigger["risk_event_id"],
        "first_time": inside[0]["_time"],
        **measures,
        "risk_object": mode,
        "all_risk_objects": sorted(objects),
        **{name: sorted(window.sets[name]) for name in _LIST_COLUMNS},
        "sources": sorted(window.sets["source"]),
        "risk_event_ids": sorted(e["risk_event_id"] for e in inside),
    }


def risk_incidents_of(risk: pa.Table, engine: str = DEFAULT_ENGINE) -> list[dict[str, Any]]:
    """The risk incident findings over the risk events ``risk`` (``Risk.All_Risk`` columns), run on
    a new engine named ``engine``.

    >>> risk_incidents_of(pa.table({"risk_event_id": pa.array([], pa.string())}))
    []
    """
    with new_engine(engine) as running:
        running.register_arrow(RISK_DATASET, risk)
        return risk_incidents(running)


def _rule_finding(rule: RiskRule, found: dict[str, Any]) -> dict[str, Any]:
    trigger: datetime = found["_time"]
    score = float(found["risk_score"])
    found["risk_score"] = int(score) if score.is_integer() else score
    found["annotations.mitre_attack"] = found["annotations.mitre_attack.mitre_technique_id"]
    found["mitre_technique_id_count"] = len(found["annotations.mitre_attack"])
    return {
        "finding_id": stable_id(
            rule.name, found["normalized_risk_object"], found["risk_object_type"], trigger
        ),
        "rule": rule.name,
        "finding_type": RISK_INCIDENT,
        "search_name": rule.search_name,
        "title": render_message(rule.title, found),
        "severity": risk_severity(score),
        "info_min_time": trigger - timedelta(seconds=rule.window_seconds),
        "info_max_time": trigger,
        "lastTime": trigger,
        **found,
    }
