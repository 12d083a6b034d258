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
    NOT `dest` IS NULL
), s1 AS (
  SELECT
    `dest` AS `Processes.dest`,
    MIN(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `firstTime`,
    MAX(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `lastTime`
  FROM `s0`
  GROUP BY
    `dest`
), s2 AS (
  SELECT
    `Processes.dest`,
    DATE_FORMAT(
      TIMESTAMP_MICROS(CAST(CAST(`firstTime` AS DOUBLE) * 1e6 AS BIGINT)),
      'yyyy-MM-dd HH:mm:ss'
    ) AS `firstTime`,
    `lastTime`
  FROM `s1`
), s3 AS (
  SELECT
    `Processes.dest`,
    `firstTime`,
    `lastTime`,
    DATE_FORMAT(
      TIMESTAMP_MICROS(CAST(CAST(`lastTime` AS DOUBLE) * 1e6 AS BIGINT)),
      'yyyy-MM-dd HH:mm:ss'
    ) AS `lastSeen`
  FROM `s2`
)
SELECT
  `Processes.dest`,
  `firstTime`,
  `lastTime`,
  `lastSeen`
FROM `s3`
ORDER BY
  `Processes.dest` ASC NULLS LAST
