WITH s0 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `action`,
    `dest`,
    `file_access_time`,
    `file_acl`,
    `file_create_time`,
    `file_hash`,
    `file_modify_time`,
    `file_name`,
    `file_path`,
    `file_size`,
    `parent_process`,
    `parent_process_exec`,
    `parent_process_guid`,
    `parent_process_id`,
    `parent_process_name`,
    `parent_process_path`,
    `process`,
    `process_exec`,
    `process_guid`,
    `process_id`,
    `process_name`,
    `process_path`,
    `user`,
    `vendor_product`
  FROM `dm_endpoint_filesystem`
  WHERE
    (
      LOWER(TRANSLATE(`action`, 'İΣ', 'iσ')) = 'deleted'
      AND (
        LOWER(TRANSLATE(`file_path`, 'İΣ', 'iσ')) LIKE '/etc/ssh/%'
        OR LOWER(TRANSLATE(`file_path`, 'İΣ', 'iσ')) LIKE '~/.ssh/%'
      )
    )
    AND NOT `file_name` IS NULL
    AND NOT `dest` IS NULL
), s1 AS (
  SELECT
    `file_name` AS `Filesystem.file_name`,
    `dest` AS `Filesystem.dest`,
    COUNT(*) AS `count`,
    MIN(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `firstTime`
  FROM `s0`
  GROUP BY
    `file_name`,
    `dest`
)
SELECT
  `Filesystem.file_name`,
  `Filesystem.dest`,
  `count`,
  `firstTime`
FROM `s1`
ORDER BY
  `Filesystem.file_name` ASC NULLS LAST,
  `Filesystem.dest` ASC NULLS LAST
