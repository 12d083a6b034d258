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
    END AS "type"
  FROM "s0"
), s2 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type"
  FROM "s1"
  WHERE
    LOWER("sourcetype") = 'linux:audit' AND LOWER("type") = 'execve'
), s3 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(
          REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(relevant_fields)=("[^"]*"|[^\s''"\x1d]*)', 2),
          ''
        ),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(
        REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(relevant_fields)[''"]?>([^<]*)<', 2),
        ''
      )
    END AS "relevant_fields"
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
    CASE WHEN "type" = 'EXECVE' THEN '' ELSE "relevant_fields" END AS "relevant_fields"
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
    "relevant_fields",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN REGEXP_EXTRACT_ALL("_raw", '(?:^|[\s''\x1d])((?:a[A-Za-z0-9_]*))=("[^"]*"|[^\s''"\x1d]*)', 1)
      WHEN "sourcetype" = 'sysmon:linux'
      THEN REGEXP_EXTRACT_ALL("_raw", '<(?:Data Name=[''"])?((?:a[A-Za-z0-9_]*))[''"]?>([^<]*)<', 1)
      ELSE CAST([] AS TEXT[])
    END AS "__escudo_foreach_keys",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN LIST_TRANSFORM(
        REGEXP_EXTRACT_ALL("_raw", '(?:^|[\s''\x1d])((?:a[A-Za-z0-9_]*))=("[^"]*"|[^\s''"\x1d]*)', 2),
        LAMBDA __v : TRIM(__v, '"')
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN REGEXP_EXTRACT_ALL("_raw", '<(?:Data Name=[''"])?((?:a[A-Za-z0-9_]*))[''"]?>([^<]*)<', 2)
      ELSE CAST([] AS TEXT[])
    END AS "__escudo_foreach_values"
  FROM "s4"
), s6 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    LIST_REDUCE(
      LIST_GRADE_UP("__escudo_foreach_keys"),
      LAMBDA __acc, __i : CASE
        WHEN "__escudo_foreach_values"[__i] = ''
        OR LIST_POSITION("__escudo_foreach_keys", "__escudo_foreach_keys"[__i]) < __i
        THEN __acc
        ELSE CASE
          WHEN "type" = 'EXECVE'
          THEN CASE
            WHEN ARRAY_LENGTH(
              LIST_FILTER(
                LIST_CONCAT(COALESCE(__acc, CAST([] AS TEXT[])), ["__escudo_foreach_values"[__i]]),
                LAMBDA _mv : NOT _mv IS NULL
              )
            ) = 0
            THEN NULL
            ELSE LIST_FILTER(
              LIST_CONCAT(COALESCE(__acc, CAST([] AS TEXT[])), ["__escudo_foreach_values"[__i]]),
              LAMBDA _mv : NOT _mv IS NULL
            )
          END
          ELSE __acc
        END
      END,
      CASE WHEN "relevant_fields" IS NULL THEN NULL ELSE ["relevant_fields"] END
    ) AS "relevant_fields"
  FROM "s5"
), s7 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "relevant_fields",
    TRIM(ARRAY_TO_STRING("relevant_fields", ' '), ' 	') AS "process_exec"
  FROM "s6"
), s8 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "relevant_fields",
    "process_exec"
  FROM "s7"
  WHERE
    "process_exec" LIKE '%base64%' ESCAPE '\'
), s9 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "relevant_fields",
    "process_exec",
    CASE
      WHEN "sourcetype" = 'linux:audit'
      THEN TRIM(
        NULLIF(REGEXP_EXTRACT("_raw", '(?:^|[\s''\x1d])(argc)=("[^"]*"|[^\s''"\x1d]*)', 2), ''),
        '"'
      )
      WHEN "sourcetype" = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT("_raw", '<(?:Data Name=[''"])?(argc)[''"]?>([^<]*)<', 2), '')
    END AS "argc"
  FROM "s8"
), s10 AS (
  SELECT
    "_time",
    "host",
    "source",
    "sourcetype",
    "_raw",
    "index",
    "type",
    "relevant_fields",
    "process_exec",
    "argc"
  FROM "s9"
  WHERE
    NOT "argc" IS NULL AND NOT "process_exec" IS NULL AND NOT "host" IS NULL
), s11 AS (
  SELECT
    "argc" AS "argc",
    "process_exec" AS "process_exec",
    "host" AS "host",
    COUNT(*) AS "count"
  FROM "s10"
  GROUP BY
    "argc",
    "process_exec",
    "host"
)
SELECT
  "argc",
  "process_exec",
  "host",
  "count"
FROM "s11"
ORDER BY
  "argc" ASC,
  "process_exec" ASC,
  "host" ASC
