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
    NOT `process` IS NULL
), s1 AS (
  SELECT
    `process` AS `Processes.process`,
    COUNT(*) AS `count`
  FROM `s0`
  GROUP BY
    `process`
), s2 AS (
  SELECT
    `Processes.process`,
    `count`,
    CASE
      WHEN `Processes.process` RLIKE '(?du)--dport (3269|636|8443)'
      THEN REGEXP_EXTRACT(`Processes.process`, '(?du)--dport (3269|636|8443)')
      ELSE CAST(NULL AS STRING)
    END AS `port`
  FROM `s1`
), s3 AS (
  SELECT
    ARRAY_SORT(ARRAY_DISTINCT(COLLECT_LIST(`port`) FILTER(WHERE
      NOT `port` IS NULL))) AS `ports`,
    COUNT(DISTINCT `port`) AS `port_count`
  FROM `s2`
)
SELECT
  `ports`,
  `port_count`
FROM `s3`
