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
    NOT "dest" IS NULL AND NOT "user" IS NULL
), s1 AS (
  SELECT
    "dest" AS "Processes.dest",
    "user" AS "Processes.user",
    COUNT(*) AS "count"
  FROM "s0"
  GROUP BY
    "dest",
    "user"
), s2 AS (
  SELECT
    "Processes.dest" AS "dest",
    "Processes.user" AS "user",
    "count"
  FROM "s1"
), s3 AS (
  SELECT
    "dest",
    "user",
    "count" AS "Event Count"
  FROM "s2"
), s4 AS (
  SELECT
    "dest",
    "user" AS "account",
    "Event Count"
  FROM "s3"
)
SELECT
  "dest",
  "account",
  "Event Count"
FROM "s4"
ORDER BY
  "dest" ASC,
  "account" ASC
