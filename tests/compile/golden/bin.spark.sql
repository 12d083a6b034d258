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
    `vendor_product`,
    ROW_NUMBER() OVER (ORDER BY `_time` DESC) AS `__escudo_order`
  FROM `s0`
), s2 AS (
  SELECT
    CAST(FROM_UNIXTIME(
      FLOOR(
        (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000) / 900
      ) * 900
    ) AS TIMESTAMP) AS `_time`,
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
    `vendor_product`,
    `__escudo_order`
  FROM `s1`
), s3 AS (
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
    `vendor_product`,
    `__escudo_order`
  FROM `s2`
  WHERE
    NOT `_time` IS NULL AND NOT `dest` IS NULL
), s4 AS (
  SELECT
    `_time` AS `_time`,
    `dest` AS `dest`,
    COUNT(*) AS `count`
  FROM `s3`
  GROUP BY
    `_time`,
    `dest`
), s5 AS (
  SELECT
    `_time`,
    `dest`,
    `count`,
    CAST(FROM_UNIXTIME(
      FLOOR(
        (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000) / 3600
      ) * 3600
    ) AS TIMESTAMP) AS `hour`
  FROM `s4`
)
SELECT
  `_time`,
  `dest`,
  `count`,
  `hour`
FROM `s5`
ORDER BY
  `_time` ASC NULLS LAST,
  `dest` ASC NULLS LAST
