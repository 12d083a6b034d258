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
    COUNT(*) AS `count`
  FROM `s0`
  GROUP BY
    `dest`
), s2 AS (
  SELECT
    `Processes.dest`,
    `count`
  FROM `s1`
  ORDER BY
    `count` DESC,
    CAST(`Processes.dest` AS DOUBLE) IS NULL ASC NULLS LAST,
    CAST(`Processes.dest` AS DOUBLE) ASC NULLS LAST,
    `Processes.dest` ASC NULLS LAST
  LIMIT 10000
)
SELECT
  `Processes.dest`,
  `count`
FROM `s2`
ORDER BY
  `count` DESC,
  CAST(`Processes.dest` AS DOUBLE) IS NULL ASC NULLS LAST,
  CAST(`Processes.dest` AS DOUBLE) ASC NULLS LAST,
  `Processes.dest` ASC NULLS LAST
