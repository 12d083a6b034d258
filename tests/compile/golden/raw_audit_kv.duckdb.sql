WITH s0 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index"
  FROM "raw_events"
), s1 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(type)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(type)[''"]?>([^<]*)<', 2), '')
    END AS "type",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(comm)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(comm)[''"]?>([^<]*)<', 2), '')
    END AS "comm",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(exe)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(exe)[''"]?>([^<]*)<', 2), '')
    END AS "exe",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(UID)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(UID)[''"]?>([^<]*)<', 2), '')
    END AS "UID"
  FROM "s0"
), s2 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "comm",
    "exe",
    "UID"
  FROM "s1"
  WHERE
    TRUE
    AND LOWER("sourcetype") = 'linux:audit'
    AND LOWER("type") = 'syscall'
    AND (
      (
        LOWER("comm") = 'at' OR LOWER("comm") = 'atd'
      ) OR "exe" ILIKE '%/at'
    )
    AND NOT COALESCE(LOWER("UID") = 'daemon', FALSE)
), s3 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "comm",
    "exe",
    "UID",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(
          REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(hostname)=("[^"]*"|[^\s''"\x1d]*)', 2),
          ''
        ),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(hostname)[''"]?>([^<]*)<', 2), '')
    END AS "hostname"
  FROM "s2"
), s4 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "comm",
    "exe",
    "UID",
    "hostname" AS "dest"
  FROM "s3"
), s5 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "comm",
    "exe",
    "UID",
    "dest"
  FROM "s4"
  WHERE
    NOT "comm" IS NULL
    AND NOT "exe" IS NULL
    AND NOT "UID" IS NULL
    AND NOT "dest" IS NULL
), s6 AS (
  SELECT
    "comm" AS "comm",
    "exe" AS "exe",
    "UID" AS "UID",
    "dest" AS "dest",
    COUNT(*) AS "count",
    MIN(EPOCH("_time")) AS "firstTime"
  FROM "s5"
  GROUP BY
    "comm",
    "exe",
    "UID",
    "dest"
)
SELECT
  "comm",
  "exe",
  "UID",
  "dest",
  "count",
  "firstTime"
FROM "s6"
ORDER BY
  "comm" ASC,
  "exe" ASC,
  "UID" ASC,
  "dest" ASC
