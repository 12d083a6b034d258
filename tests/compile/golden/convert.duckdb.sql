WITH s0 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "action",
    "cpu_load_percent",
    "dest",
    "mem_used",
    "original_file_name",
    "os",
    "parent_process",
    "parent_process_exec",
    "parent_process_guid",
    "parent_process_hash",
    "parent_process_id",
    "parent_process_name",
    "parent_process_path",
    "parent_user",
    "process",
    "process_current_directory",
    "process_exec",
    "process_guid",
    "process_hash",
    "process_id",
    "process_integrity_level",
    "process_name",
    "process_path",
    "user",
    "user_id",
    "vendor_product"
  FROM "dm_endpoint_processes"
  WHERE
    NOT "dest" IS NULL
), s1 AS (
  SELECT
    "dest" AS "Processes.dest",
    MIN(EPOCH("_time")) AS "firstTime",
    MAX(EPOCH("_time")) AS "lastTime"
  FROM "s0"
  GROUP BY
    "dest"
), s2 AS (
  SELECT
    "Processes.dest",
    STRFTIME(
      MAKE_TIMESTAMP(CAST(CAST("firstTime" AS DOUBLE) * 1e6 AS BIGINT)),
      '%Y-%m-%d %H:%M:%S'
    ) AS "firstTime",
    "lastTime"
  FROM "s1"
), s3 AS (
  SELECT
    "Processes.dest",
    "firstTime",
    "lastTime",
    STRFTIME(
      MAKE_TIMESTAMP(CAST(CAST("lastTime" AS DOUBLE) * 1e6 AS BIGINT)),
      '%Y-%m-%d %H:%M:%S'
    ) AS "lastSeen"
  FROM "s2"
)
SELECT
  "Processes.dest",
  "firstTime",
  "lastTime",
  "lastSeen"
FROM "s3"
ORDER BY
  "Processes.dest" ASC
