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
    "count",
    ROW_NUMBER() OVER (ORDER BY "dest" ASC, "user" ASC) AS "__escudo_order"
  FROM "s2"
), s4 AS (
  SELECT
    "dest",
    COALESCE("user", 'N/A') AS "user",
    "count",
    "__escudo_order"
  FROM "s3"
), s5 AS (
  SELECT
    "dest",
    "user",
    "count",
    COALESCE(CAST(NULL AS TEXT), 'N/A') AS "other",
    "__escudo_order"
  FROM "s4"
), s6 AS (
  SELECT
    COALESCE("dest", '0') AS "dest",
    "user",
    "count",
    "other",
    "__escudo_order"
  FROM "s5"
), s7 AS (
  SELECT
    "dest",
    COALESCE("user", '0') AS "user",
    "count",
    "other",
    "__escudo_order"
  FROM "s6"
), s8 AS (
  SELECT
    "dest",
    "user",
    COALESCE("count", 0) AS "count",
    "other",
    "__escudo_order"
  FROM "s7"
), s9 AS (
  SELECT
    "dest",
    "user",
    "count",
    COALESCE("other", '0') AS "other",
    "__escudo_order"
  FROM "s8"
)
SELECT
  "dest",
  "user",
  "count",
  "other"
FROM "s9"
ORDER BY
  "__escudo_order" ASC
