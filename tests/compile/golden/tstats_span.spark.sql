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
      LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'arp'
      OR LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'ip'
      OR LOWER(TRANSLATE(`process_name`, 'İΣ', 'iσ')) = 'ss'
    )
    AND NOT `dest` IS NULL
    AND NOT `user` IS NULL
), s1 AS (
  SELECT
    CAST(FROM_UNIXTIME(
      FLOOR(
        (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000) / 1800
      ) * 1800
    ) AS TIMESTAMP) AS `_time`,
    `dest` AS `Processes.dest`,
    `user` AS `Processes.user`,
    COUNT(*) AS `count`,
    ARRAY_SORT(
      ARRAY_DISTINCT(COLLECT_LIST(`process_name`) FILTER(WHERE
        NOT `process_name` IS NULL))
    ) AS `process_name_list`,
    COUNT(DISTINCT `process_name`) AS `process_name_count`
  FROM `s0`
  GROUP BY
    CAST(FROM_UNIXTIME(
      FLOOR(
        (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000) / 1800
      ) * 1800
    ) AS TIMESTAMP),
    `dest`,
    `user`
), s2 AS (
  SELECT
    `_time`,
    `Processes.dest`,
    `Processes.user`,
    `count`,
    `process_name_list`,
    `process_name_count`
  FROM `s1`
  WHERE
    `process_name_count` >= 2
)
SELECT
  `_time`,
  `Processes.dest`,
  `Processes.user`,
  `count`,
  `process_name_list`,
  `process_name_count`
FROM `s2`
ORDER BY
  `_time` ASC NULLS LAST,
  `Processes.dest` ASC NULLS LAST,
  `Processes.user` ASC NULLS LAST
