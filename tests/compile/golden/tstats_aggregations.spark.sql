WITH s0 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `action`,
    `cpu_load_percent`,
    `dest`,
    `mem_used`,
    `original_file_name`,
    `os`,
    `parent_process`,
    `parent_process_exec`,
    `parent_process_guid`,
    `parent_process_hash`,
    `parent_process_id`,
    `parent_process_name`,
    `parent_process_path`,
    `parent_user`,
    `process`,
    `process_current_directory`,
    `process_exec`,
    `process_guid`,
    `process_hash`,
    `process_id`,
    `process_integrity_level`,
    `process_name`,
    `process_path`,
    `user`,
    `user_id`,
    `vendor_product`
  FROM `dm_endpoint_processes`
  WHERE
    (
      (
        LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'curl'
        OR LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'wget'
      )
      AND NOT COALESCE(LOWER(TRANSLATE(`user`, 'İΣ', 'iσ')) = 'root', FALSE)
      AND COALESCE(
        TRY_CAST(`process_id` AS DOUBLE) > 10,
        LOWER(TRANSLATE(`process_id`, 'İΣ', 'iσ')) > '10'
      )
      AND COALESCE(
        TRY_CAST(`process_id` AS DOUBLE) <= 99999,
        LOWER(TRANSLATE(`process_id`, 'İΣ', 'iσ')) <= '99999'
      )
      AND COALESCE(
        TRY_CAST(`parent_process_id` AS DOUBLE) >= 1,
        LOWER(TRANSLATE(`parent_process_id`, 'İΣ', 'iσ')) >= '1'
      )
      AND COALESCE(
        TRY_CAST(`parent_process_id` AS DOUBLE) < 5000,
        LOWER(TRANSLATE(`parent_process_id`, 'İΣ', 'iσ')) < '5000'
      )
      AND (
        NOT `dest` IS NULL AND NOT LOWER(TRANSLATE(`dest`, 'İΣ', 'iσ')) LIKE '%.internal'
      )
    )
    AND NOT `dest` IS NULL
), s1 AS (
  SELECT
    `dest` AS `Processes.dest`,
    COUNT(*) AS `count`,
    COUNT(`process`) AS `count(Processes.process)`,
    COUNT(DISTINCT `user`) AS `users`,
    ARRAY_SORT(
      ARRAY_DISTINCT(COLLECT_LIST(`process_name`) FILTER(WHERE
        NOT `process_name` IS NULL))
    ) AS `names`,
    COALESCE(
      IF(
        TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) = FLOOR(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE))
        AND ABS(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) < 1e15,
        CAST(CAST(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS BIGINT) AS STRING),
        CASE WHEN ABS(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) >= 0.0001 AND ABS(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) < 1e16 THEN REGEXP_REPLACE(REGEXP_REPLACE(CAST(CAST(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS DECIMAL(38, 18)) AS STRING), '0+$', ''), '[.]$', '.0') ELSE CAST(TRY_CAST(MIN(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS STRING) END
      ),
      MIN(`process_id`)
    ) AS `min(Processes.process_id)`,
    COALESCE(
      IF(
        TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) = FLOOR(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE))
        AND ABS(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) < 1e15,
        CAST(CAST(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS BIGINT) AS STRING),
        CASE WHEN ABS(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) >= 0.0001 AND ABS(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE)) < 1e16 THEN REGEXP_REPLACE(REGEXP_REPLACE(CAST(CAST(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS DECIMAL(38, 18)) AS STRING), '0+$', ''), '[.]$', '.0') ELSE CAST(TRY_CAST(MAX(TRY_CAST(`process_id` AS DOUBLE)) AS DOUBLE) AS STRING) END
      ),
      MAX(`process_id`)
    ) AS `max(Processes.process_id)`,
    SUM(TRY_CAST(`process_id` AS DOUBLE)) AS `total`,
    AVG(TRY_CAST(`process_id` AS DOUBLE)) AS `mean`,
    MIN_BY(`process`, `_time`) FILTER(WHERE
      NOT `process` IS NULL) AS `first`,
    MAX_BY(`process`, `_time`) FILTER(WHERE
      NOT `process` IS NULL) AS `last`
  FROM `s0`
  GROUP BY
    `dest`
)
SELECT
  `Processes.dest`,
  `count`,
  `count(Processes.process)`,
  `users`,
  `names`,
  `min(Processes.process_id)`,
  `max(Processes.process_id)`,
  `total`,
  `mean`,
  `first`,
  `last`
FROM `s1`
ORDER BY
  `Processes.dest` ASC NULLS LAST
