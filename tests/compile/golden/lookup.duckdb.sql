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
    NOT "process_name" IS NULL
), s1 AS (
  SELECT
    "process_name" AS "Processes.process_name",
    COUNT(*) AS "count"
  FROM "s0"
  GROUP BY
    "process_name"
), s2 AS (
  SELECT
    "Processes.process_name" AS "process_name",
    "count"
  FROM "s1"
), s3 AS (
  SELECT
    "e"."process_name",
    "e"."count",
    "lk"."v0" AS "tool_category",
    "lk"."v1" AS "risk"
  FROM "s2" AS "e"
  LEFT JOIN (VALUES
    ('ngrok', ['tunnel', 'duplicate'], ['high', 'low']),
    ('socat', ['relay'], ['medium'])) AS lk(k0, v0, v1)
    ON "e"."process_name" = "lk"."k0"
)
SELECT
  "process_name",
  "count",
  "tool_category",
  "risk"
FROM "s3"
ORDER BY
  "process_name" ASC
