WITH s0 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`
  FROM `raw_events`
), s1 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(type)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(type)[\'"]?>([^<]*)<', 2), '')
    END AS `type`
  FROM `s0`
), s2 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`
  FROM `s1`
  WHERE
    LOWER(TRANSLATE(`sourcetype`, 'İΣ', 'iσ')) = 'linux:audit'
    AND LOWER(TRANSLATE(`type`, 'İΣ', 'iσ')) = 'execve'
), s3 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(relevant_fields)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(relevant_fields)[\'"]?>([^<]*)<', 2),
        ''
      )
    END AS `relevant_fields`
  FROM `s2`
), s4 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    IF(`type` = 'EXECVE', '', `relevant_fields`) AS `relevant_fields`
  FROM `s3`
), s5 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `relevant_fields`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN REGEXP_EXTRACT_ALL(`_raw`, '(?du)(?:^|[\\s\'\\x1d])((?:a[A-Za-z0-9_]*))=("[^"]*"|[^\\s\'"\\x1d]*)')
      WHEN `sourcetype` = 'sysmon:linux'
      THEN REGEXP_EXTRACT_ALL(`_raw`, '(?du)<(?:Data Name=[\'"])?((?:a[A-Za-z0-9_]*))[\'"]?>([^<]*)<')
      ELSE CAST(ARRAY() AS ARRAY<STRING>)
    END AS `__escudo_foreach_keys`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRANSFORM(
        REGEXP_EXTRACT_ALL(`_raw`, '(?du)(?:^|[\\s\'\\x1d])((?:a[A-Za-z0-9_]*))=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        __v -> TRIM('"' FROM __v)
      )
      WHEN `sourcetype` = 'sysmon:linux'
      THEN REGEXP_EXTRACT_ALL(`_raw`, '(?du)<(?:Data Name=[\'"])?((?:a[A-Za-z0-9_]*))[\'"]?>([^<]*)<', 2)
      ELSE CAST(ARRAY() AS ARRAY<STRING>)
    END AS `__escudo_foreach_values`
  FROM `s4`
), s6 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    AGGREGATE(
      IF(SIZE(`__escudo_foreach_keys`) = 0, CAST(ARRAY() AS ARRAY<INT>), ARRAY_SORT(SEQUENCE(1, SIZE(`__escudo_foreach_keys`)), (__l, __r) -> CASE WHEN ELEMENT_AT(`__escudo_foreach_keys`, __l) < ELEMENT_AT(`__escudo_foreach_keys`, __r) THEN -1 WHEN ELEMENT_AT(`__escudo_foreach_keys`, __l) > ELEMENT_AT(`__escudo_foreach_keys`, __r) THEN 1 ELSE __l - __r END)),
      CASE WHEN `relevant_fields` IS NULL THEN NULL ELSE ARRAY(`relevant_fields`) END,
      (__acc, __i) -> IF(
        ELEMENT_AT(`__escudo_foreach_values`, __i) = ''
        OR ARRAY_POSITION(`__escudo_foreach_keys`, ELEMENT_AT(`__escudo_foreach_keys`, __i)) < __i,
        __acc,
        IF(
          `type` = 'EXECVE',
          CASE
            WHEN SIZE(
              FILTER(
                CONCAT(
                  COALESCE(__acc, CAST(ARRAY() AS ARRAY<STRING>)),
                  ARRAY(ELEMENT_AT(`__escudo_foreach_values`, __i))
                ),
                _mv -> NOT _mv IS NULL
              )
            ) = 0
            THEN NULL
            ELSE FILTER(
              CONCAT(
                COALESCE(__acc, CAST(ARRAY() AS ARRAY<STRING>)),
                ARRAY(ELEMENT_AT(`__escudo_foreach_values`, __i))
              ),
              _mv -> NOT _mv IS NULL
            )
          END,
          __acc
        )
      )
    ) AS `relevant_fields`
  FROM `s5`
), s7 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `relevant_fields`,
    TRIM(' \t' FROM ARRAY_JOIN(`relevant_fields`, ' ')) AS `process_exec`
  FROM `s6`
), s8 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `relevant_fields`,
    `process_exec`
  FROM `s7`
  WHERE
    `process_exec` LIKE '%base64%' ESCAPE '\\'
), s9 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `relevant_fields`,
    `process_exec`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(argc)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(argc)[\'"]?>([^<]*)<', 2), '')
    END AS `argc`
  FROM `s8`
), s10 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `relevant_fields`,
    `process_exec`,
    `argc`
  FROM `s9`
  WHERE
    NOT `argc` IS NULL AND NOT `process_exec` IS NULL AND NOT `host` IS NULL
), s11 AS (
  SELECT
    `argc` AS `argc`,
    `process_exec` AS `process_exec`,
    `host` AS `host`,
    COUNT(*) AS `count`
  FROM `s10`
  GROUP BY
    `argc`,
    `process_exec`,
    `host`
)
SELECT
  `argc`,
  `process_exec`,
  `host`,
  `count`
FROM `s11`
ORDER BY
  `argc` ASC NULLS LAST,
  `process_exec` ASC NULLS LAST,
  `host` ASC NULLS LAST
