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
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(EventID)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(EventID)[''"]?>([^<]*)<', 2), '')
    END AS "EventID"
  FROM "s0"
), s2 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "EventID"
  FROM "s1"
  WHERE
    LOWER("sourcetype") = 'sysmon:linux'
    AND LOWER("EventID") = '1'
    AND "_raw" ILIKE '%ngrok%%'
    AND "_raw" ILIKE '%tcp%'
), s3 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "EventID",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(Image)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(Image)[''"]?>([^<]*)<', 2), '')
    END AS "Image",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(
          REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(CommandLine)=("[^"]*"|[^\s''"\x1d]*)', 2),
          ''
        ),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(CommandLine)[''"]?>([^<]*)<', 2), '')
    END AS "CommandLine"
  FROM "s2"
), s4 AS (
  SELECT
    "_time",
    "host",
    "Image",
    "CommandLine"
  FROM "s3"
)
SELECT
  "_time",
  "host",
  "Image",
  "CommandLine"
FROM "s4"
ORDER BY
  "_time" DESC
