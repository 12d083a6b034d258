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
    (
      LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'ngrok'
      OR LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'curl'
    )
    AND NOT COALESCE(LOWER(TRANSLATE(`user`, 'İΣ', 'iσ')) = 'root', FALSE)
    AND `_time` >= CAST('2024-05-02T15:00:00+00:00' AS TIMESTAMP)
    AND `_time` < CAST('2024-05-03T15:30:00+00:00' AS TIMESTAMP)
    AND `_time` >= CAST('2024-05-01T15:30:00+00:00' AS TIMESTAMP)
    AND `_time` < CAST('2024-05-03T14:30:00+00:00' AS TIMESTAMP)
)
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
FROM `s1`
ORDER BY
  `_time` DESC
