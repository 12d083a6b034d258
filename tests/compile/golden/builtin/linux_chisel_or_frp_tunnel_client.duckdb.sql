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
    (
      LOWER("process_name") = 'chisel'
      AND (
        "process" ILIKE '% client %'
        OR "process" ILIKE '%--reverse%'
        OR "process" ILIKE '%socks%'
      )
    )
    OR (
      LOWER("process_name") = 'frpc'
      AND (
        "process" ILIKE '% -c %'
        OR "process" ILIKE '%--config%'
        OR "process" ILIKE '% tcp %'
        OR "process" ILIKE '% http %'
        OR "process" ILIKE '% stcp %'
      )
    )
), s1 AS (
  SELECT
    COALESCE("dest", 'null') AS "Processes.dest",
    COALESCE("user", 'null') AS "Processes.user",
    COALESCE("parent_process_name", 'null') AS "Processes.parent_process_name",
    COALESCE("process_name", 'null') AS "Processes.process_name",
    COALESCE("original_file_name", 'null') AS "Processes.original_file_name",
    COALESCE("process", 'null') AS "Processes.process",
    COALESCE("process_id", 'null') AS "Processes.process_id",
    COALESCE("parent_process_id", 'null') AS "Processes.parent_process_id",
    COUNT(*) AS "count",
    MIN(EPOCH("_time")) AS "firstTime",
    MAX(EPOCH("_time")) AS "lastTime"
  FROM "s0"
  GROUP BY
    COALESCE("dest", 'null'),
    COALESCE("user", 'null'),
    COALESCE("parent_process_name", 'null'),
    COALESCE("process_name", 'null'),
    COALESCE("original_file_name", 'null'),
    COALESCE("process", 'null'),
    COALESCE("process_id", 'null'),
    COALESCE("parent_process_id", 'null')
), s2 AS (
  SELECT
    "Processes.dest" AS "dest",
    "Processes.user" AS "user",
    "Processes.parent_process_name" AS "parent_process_name",
    "Processes.process_name" AS "process_name",
    "Processes.original_file_name" AS "original_file_name",
    "Processes.process" AS "process",
    "Processes.process_id" AS "process_id",
    "Processes.parent_process_id" AS "parent_process_id",
    "count",
    "firstTime",
    "lastTime"
  FROM "s1"
), s3 AS (
  SELECT
    "dest",
    "user",
    "parent_process_name",
    "process_name",
    "original_file_name",
    "process",
    "process_id",
    "parent_process_id",
    "count",
    STRFTIME(MAKE_TIMESTAMP(CAST(CAST("firstTime" AS DOUBLE) * 1e6 AS BIGINT)), '%Y-%m-%d') || 'T' || STRFTIME(MAKE_TIMESTAMP(CAST(CAST("firstTime" AS DOUBLE) * 1e6 AS BIGINT)), '%H:%M:%S') AS "firstTime",
    "lastTime"
  FROM "s2"
), s4 AS (
  SELECT
    "dest",
    "user",
    "parent_process_name",
    "process_name",
    "original_file_name",
    "process",
    "process_id",
    "parent_process_id",
    "count",
    "firstTime",
    STRFTIME(MAKE_TIMESTAMP(CAST(CAST("lastTime" AS DOUBLE) * 1e6 AS BIGINT)), '%Y-%m-%d') || 'T' || STRFTIME(MAKE_TIMESTAMP(CAST(CAST("lastTime" AS DOUBLE) * 1e6 AS BIGINT)), '%H:%M:%S') AS "lastTime"
  FROM "s3"
)
SELECT
  "dest",
  "user",
  "parent_process_name",
  "process_name",
  "original_file_name",
  "process",
  "process_id",
  "parent_process_id",
  "count",
  "firstTime",
  "lastTime"
FROM "s4"
ORDER BY
  "dest" ASC,
  "user" ASC,
  "parent_process_name" ASC,
  "process_name" ASC,
  "original_file_name" ASC,
  "process" ASC,
  "process_id" ASC,
  "parent_process_id" ASC
