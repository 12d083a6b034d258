WITH s0 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "action",
    "dest",
    "file_access_time",
    "file_acl",
    "file_create_time",
    "file_hash",
    "file_modify_time",
    "file_name",
    "file_path",
    "file_size",
    "parent_process",
    "parent_process_exec",
    "parent_process_guid",
    "parent_process_id",
    "parent_process_name",
    "parent_process_path",
    "process",
    "process_exec",
    "process_guid",
    "process_id",
    "process_name",
    "process_path",
    "user",
    "vendor_product"
  FROM "dm_endpoint_filesystem"
  WHERE
    (
      LOWER("action") = 'deleted'
      AND (
        "file_path" ILIKE '/etc/ssh/%' OR "file_path" ILIKE '~/.ssh/%'
      )
    )
    AND NOT "file_name" IS NULL
    AND NOT "dest" IS NULL
), s1 AS (
  SELECT
    "file_name" AS "Filesystem.file_name",
    "dest" AS "Filesystem.dest",
    COUNT(*) AS "count",
    MIN(EPOCH("_time")) AS "firstTime"
  FROM "s0"
  GROUP BY
    "file_name",
    "dest"
)
SELECT
  "Filesystem.file_name",
  "Filesystem.dest",
  "count",
  "firstTime"
FROM "s1"
ORDER BY
  "Filesystem.file_name" ASC,
  "Filesystem.dest" ASC
