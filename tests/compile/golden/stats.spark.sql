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
), s1 AS (
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
  FROM `s0`
  WHERE
    NOT `dest` IS NULL AND NOT `user` IS NULL
), s2 AS (
  SELECT
    `dest` AS `dest`,
    `user` AS `user`,
    COUNT(*) AS `count`,
    ARRAY_SORT(ARRAY_DISTINCT(COLLECT_LIST(`process`) FILTER(WHERE
      NOT `process` IS NULL))) AS `processes`,
    COUNT(DISTINCT `process_name`) AS `names`,
    MIN(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `firstTime`
  FROM `s1`
  GROUP BY
    `dest`,
    `user`
)
SELECT
  `dest`,
  `user`,
  `count`,
  `processes`,
  `names`,
  `firstTime`
FROM `s2`
ORDER BY
  `dest` ASC NULLS LAST,
  `user` ASC NULLS LAST
