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
      (
        LOWER("process_name") = 'curl' OR LOWER("process_name") = 'wget'
      )
      AND NOT COALESCE(LOWER("user") = 'root', FALSE)
      AND COALESCE(TRY_CAST("process_id" AS DOUBLE) > 10, LOWER("process_id") > '10')
      AND COALESCE(TRY_CAST("process_id" AS DOUBLE) <= 99999, LOWER("process_id") <= '99999')
      AND COALESCE(TRY_CAST("parent_process_id" AS DOUBLE) >= 1, LOWER("parent_process_id") >= '1')
      AND COALESCE(
        TRY_CAST("parent_process_id" AS DOUBLE) < 5000,
        LOWER("parent_process_id") < '5000'
      )
      AND (
        NOT "dest" IS NULL AND NOT "dest" ILIKE '%.internal'
      )
    )
    AND NOT "dest" IS NULL
), s1 AS (
  SELECT
    "dest" AS "Processes.dest",
    COUNT(*) AS "count",
    COUNT("process") AS "count(Processes.process)",
    COUNT(DISTINCT "user") AS "users",
    LIST_SORT(
      LIST_DISTINCT(ARRAY_AGG("process_name") FILTER(WHERE
        NOT "process_name" IS NULL))
    ) AS "names",
    COALESCE(
      CASE
        WHEN TRY_CAST(MIN(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) = FLOOR(TRY_CAST(MIN(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE))
        AND ABS(TRY_CAST(MIN(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE)) < 1e15
        THEN CAST(CAST(TRY_CAST(MIN(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) AS BIGINT) AS TEXT)
        ELSE CAST(TRY_CAST(MIN(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) AS TEXT)
      END,
      MIN("process_id")
    ) AS "min(Processes.process_id)",
    COALESCE(
      CASE
        WHEN TRY_CAST(MAX(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) = FLOOR(TRY_CAST(MAX(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE))
        AND ABS(TRY_CAST(MAX(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE)) < 1e15
        THEN CAST(CAST(TRY_CAST(MAX(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) AS BIGINT) AS TEXT)
        ELSE CAST(TRY_CAST(MAX(TRY_CAST("process_id" AS DOUBLE)) AS DOUBLE) AS TEXT)
      END,
      MAX("process_id")
    ) AS "max(Processes.process_id)",
    SUM(TRY_CAST("process_id" AS DOUBLE)) AS "total",
    AVG(TRY_CAST("process_id" AS DOUBLE)) AS "mean",
    ARG_MIN("process", "_time") FILTER(WHERE
      NOT "process" IS NULL) AS "first",
    ARG_MAX("process", "_time") FILTER(WHERE
      NOT "process" IS NULL) AS "last"
  FROM "s0"
  GROUP BY
    "dest"
)
SELECT
  "Processes.dest",
  "count",
  "count(Processes.process)",
  "users",
  "names",
  "min(Processes.process_id)",
  "max(Processes.process_id)",
  "total",
  "mean",
  "first",
  "last"
FROM "s1"
ORDER BY
  "Processes.dest" ASC
