WITH s0 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `risk_object`,
    `risk_object_type`,
    `risk_score`,
    `calculated_risk_score`,
    `normalized_risk_object`,
    `risk_message`,
    `search_name`,
    `orig_sid`,
    `analyticstories`,
    `annotations.mitre_attack`,
    `annotations.mitre_attack.mitre_technique_id`,
    `annotations.mitre_attack.mitre_technique`,
    `annotations.mitre_attack.mitre_tactic`,
    `annotations.mitre_attack.mitre_tactic_id`,
    `annotations._all`,
    `threat_object`,
    `threat_object_type`,
    `risk_event_id`,
    `user`,
    `dest`
  FROM `dm_risk_all_risk`
), s1 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `risk_object`,
    `risk_object_type`,
    `risk_score`,
    `calculated_risk_score`,
    `normalized_risk_object`,
    `risk_message`,
    `search_name`,
    `orig_sid`,
    `analyticstories`,
    `annotations.mitre_attack`,
    `annotations.mitre_attack.mitre_technique_id`,
    `annotations.mitre_attack.mitre_technique`,
    `annotations.mitre_attack.mitre_tactic`,
    `annotations.mitre_attack.mitre_tactic_id`,
    `annotations._all`,
    `threat_object`,
    `threat_object_type`,
    `risk_event_id`,
    `user`,
    `dest`
  FROM `s0`
  WHERE
    (
      LOWER(TRANSLATE(`normalized_risk_object`, 'İΣ', 'iσ')) = 'ubuntu'
      OR LOWER(TRANSLATE(`normalized_risk_object`, 'İΣ', 'iσ')) = 'ar-linux'
    )
    AND `_time` >= CAST('2024-04-26T15:30:00+00:00' AS TIMESTAMP)
), s2 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `risk_object`,
    `risk_object_type`,
    `risk_score`,
    `calculated_risk_score`,
    `normalized_risk_object`,
    `risk_message`,
    `search_name`,
    `orig_sid`,
    `analyticstories`,
    `annotations.mitre_attack`,
    `annotations.mitre_attack.mitre_technique_id`,
    `annotations.mitre_attack.mitre_technique`,
    `annotations.mitre_attack.mitre_tactic`,
    `annotations.mitre_attack.mitre_tactic_id`,
    `annotations._all`,
    `threat_object`,
    `threat_object_type`,
    `risk_event_id`,
    `user`,
    `dest`
  FROM `s1`
  WHERE
    NOT `normalized_risk_object` IS NULL
), s3 AS (
  SELECT
    `normalized_risk_object` AS `normalized_risk_object`,
    COUNT(*) AS `count`,
    MIN(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `firstTime`,
    MAX(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `lastTime`,
    ARRAY_SORT(
      ARRAY_DISTINCT(COLLECT_LIST(`search_name`) FILTER(WHERE
        NOT `search_name` IS NULL))
    ) AS `Search Name`,
    ARRAY_SORT(
      ARRAY_DISTINCT(COLLECT_LIST(`risk_message`) FILTER(WHERE
        NOT `risk_message` IS NULL))
    ) AS `Risk Message`,
    ARRAY_SORT(
      ARRAY_DISTINCT(
        FLATTEN(COLLECT_LIST(`analyticstories`) FILTER(WHERE
          NOT `analyticstories` IS NULL))
      )
    ) AS `Analytic Stories`,
    ARRAY_SORT(
      ARRAY_DISTINCT(
        FLATTEN(COLLECT_LIST(`annotations._all`) FILTER(WHERE
          NOT `annotations._all` IS NULL))
      )
    ) AS `Annotations`,
    ARRAY_SORT(
      ARRAY_DISTINCT(
        FLATTEN(
          COLLECT_LIST(`annotations.mitre_attack.mitre_tactic`) FILTER(WHERE
            NOT `annotations.mitre_attack.mitre_tactic` IS NULL)
        )
      )
    ) AS `ATT&CK Tactics`
  FROM `s2`
  GROUP BY
    `normalized_risk_object`
), s4 AS (
  SELECT
    `normalized_risk_object`,
    `count`,
    DATE_FORMAT(TIMESTAMP_MICROS(CAST(CAST(`firstTime` AS DOUBLE) * 1e6 AS BIGINT)), 'yyyy-MM-dd') || 'T' || DATE_FORMAT(TIMESTAMP_MICROS(CAST(CAST(`firstTime` AS DOUBLE) * 1e6 AS BIGINT)), 'HH:mm:ss') AS `firstTime`,
    `lastTime`,
    `Search Name`,
    `Risk Message`,
    `Analytic Stories`,
    `Annotations`,
    `ATT&CK Tactics`
  FROM `s3`
), s5 AS (
  SELECT
    `normalized_risk_object`,
    `count`,
    `firstTime`,
    DATE_FORMAT(TIMESTAMP_MICROS(CAST(CAST(`lastTime` AS DOUBLE) * 1e6 AS BIGINT)), 'yyyy-MM-dd') || 'T' || DATE_FORMAT(TIMESTAMP_MICROS(CAST(CAST(`lastTime` AS DOUBLE) * 1e6 AS BIGINT)), 'HH:mm:ss') AS `lastTime`,
    `Search Name`,
    `Risk Message`,
    `Analytic Stories`,
    `Annotations`,
    `ATT&CK Tactics`
  FROM `s4`
)
SELECT
  `normalized_risk_object`,
  `count`,
  `firstTime`,
  `lastTime`,
  `Search Name`,
  `Risk Message`,
  `Analytic Stories`,
  `Annotations`,
  `ATT&CK Tactics`
FROM `s5`
ORDER BY
  `normalized_risk_object` ASC NULLS LAST
