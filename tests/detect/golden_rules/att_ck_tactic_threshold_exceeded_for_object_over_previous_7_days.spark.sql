WITH ev AS (
  SELECT
    normalized_risk_object AS obj,
    risk_object_type AS typ,
    _time,
    risk_event_id,
    risk_object,
    source,
    TRY_CAST(COALESCE(calculated_risk_score, risk_score) AS DECIMAL(38, 6)) AS score,
    COALESCE(`annotations.mitre_attack.mitre_tactic_id`, CAST(ARRAY() AS ARRAY<STRING>)) AS tactic_ids,
    COALESCE(`annotations.mitre_attack.mitre_tactic`, CAST(ARRAY() AS ARRAY<STRING>)) AS tactics,
    COALESCE(`annotations.mitre_attack.mitre_technique_id`, CAST(ARRAY() AS ARRAY<STRING>)) AS technique_ids
  FROM dm_risk_all_risk
  WHERE
    NOT normalized_risk_object IS NULL AND NOT _time IS NULL
), pairs AS (
  SELECT
    a.obj,
    a.typ,
    a._time AS trigger_time,
    a.risk_event_id AS trigger_id,
    b._time,
    b.risk_event_id,
    b.risk_object,
    b.source,
    b.score,
    b.tactic_ids,
    b.tactics,
    b.technique_ids
  FROM ev AS a
  JOIN ev AS b
    ON a.obj = b.obj
    AND a.typ = b.typ
    AND b._time <= a._time
    AND b._time >= a._time - INTERVAL '604800' SECOND
), windows AS (
  SELECT
    obj,
    typ,
    trigger_time,
    trigger_id,
    MIN(_time) AS first_time,
    COALESCE(SUM(score), 0) AS risk_score,
    COUNT(*) AS risk_event_count,
    ARRAY_SORT(ARRAY_DISTINCT(COLLECT_LIST(risk_object))) AS all_risk_objects,
    ARRAY_SORT(ARRAY_DISTINCT(FLATTEN(COLLECT_LIST(tactic_ids)))) AS tactic_ids,
    ARRAY_SORT(ARRAY_DISTINCT(FLATTEN(COLLECT_LIST(tactics)))) AS tactics,
    ARRAY_SORT(ARRAY_DISTINCT(FLATTEN(COLLECT_LIST(technique_ids)))) AS technique_ids,
    ARRAY_SORT(ARRAY_DISTINCT(COLLECT_LIST(source))) AS sources,
    ARRAY_SORT(COLLECT_LIST(risk_event_id)) AS risk_event_ids
  FROM pairs
  GROUP BY
    obj,
    typ,
    trigger_time,
    trigger_id
), candidates AS (
  SELECT
    *
  FROM (
    SELECT
      *,
      SIZE(tactic_ids) AS tactic_count,
      SIZE(sources) AS source_count
    FROM windows
  ) AS w
  WHERE
    tactic_count >= 3 AND source_count >= 4
), per_object AS (
  SELECT
    obj,
    typ,
    trigger_time,
    trigger_id,
    risk_object,
    COUNT(*) AS n
  FROM pairs
  WHERE
    NOT risk_object IS NULL
  GROUP BY
    obj,
    typ,
    trigger_time,
    trigger_id,
    risk_object
), modes AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY obj, typ, trigger_time, trigger_id
      ORDER BY n DESC, risk_object ASC NULLS LAST
    ) AS object_rank
  FROM per_object
)
SELECT
  c.obj,
  c.typ,
  c.trigger_time,
  c.first_time,
  c.risk_score,
  c.risk_event_count,
  m.risk_object,
  c.all_risk_objects,
  c.tactic_ids,
  c.tactics,
  c.technique_ids,
  c.sources,
  c.tactic_count,
  c.source_count,
  c.risk_event_ids,
  c.trigger_id
FROM candidates AS c
LEFT JOIN modes AS m
  ON m.obj = c.obj
  AND m.typ = c.typ
  AND m.trigger_time = c.trigger_time
  AND m.trigger_id = c.trigger_id
  AND m.object_rank = 1
