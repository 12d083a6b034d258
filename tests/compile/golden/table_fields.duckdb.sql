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
), s1 AS (
  SELECT
    "_time",
    "dest",
    "process",
    "process_current_directory",
    "process_exec",
    "process_guid",
    "process_hash",
    "process_id",
    "process_integrity_level",
    "process_name",
    "process_path",
    CAST(NULL AS TEXT) AS "missing_field"
  FROM "s0"
), s2 AS (
  SELECT
    "_time",
    "dest",
    "process",
    "process_current_directory",
    "process_exec",
    "process_guid",
    "process_id",
    "process_integrity_level",
    "process_name",
    "process_path",
    "missing_field"
  FROM "s1"
), s3 AS (
  SELECT
    "dest",
    "process",
    "_time"
  FROM "s2"
)
SELECT
  "dest",
  "process",
  "_time"
FROM "s3"
ORDER BY
  "_time" DESC
